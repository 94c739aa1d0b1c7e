"""A participant's own workflow: an enrolment step, states of a person, replies about
the person rather than a pair, timers of a person, and a pair rule moving its mentee.
Played on a small scheme that extends the default one (a preset is such a folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients import gmail_reply, outlook_reply
from harness import MENTEE, MENTOR
from journey import Journey
from mailflow.workflow.loader import check_workflow

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"

RULES = """\
[workflow]
name = "welcome"
extends = "default"

[states.invited]
scope = "participant"
description = "Enrolled; asked whether they want to take part."

[states.looking]
scope = "participant"
description = "Taking part; looking for a mentor."

[states.matched]
scope = "participant"
description = "Has a mentor."

[enrol.mentee]
state = "invited"
send = [{ template = "welcome/hello", to = "sender", expects = "welcome" }]

[replies.welcome]
scope = "participant"
from = ["mentee"]

[replies.welcome.commands]
yes = ["yes", "i agree"]

[[on]]
reply = "welcome"
command = "yes"
state = "invited"
goto = "looking"
send = [{ template = "welcome/thanks", to = "sender" }]

[[timers]]
name = "welcome-reminder"
state = "invited"
after = "3d"
send = [{ template = "welcome/hello", to = "sender", expects = "welcome" }]

[[timers]]
name = "still-looking"
state = "looking"
after = "30d"
send = [{ template = "welcome/still-looking", to = "coordinators" }]
"""


@pytest.fixture
def scheme(tmp_path) -> tuple[Path, Path]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "welcome.toml").write_text(RULES, encoding="utf-8")
    # When both say YES the mentee has a mentor: a pair rule moves the mentee's own state.
    intro = (Path(__file__).parents[1] / "rules/default/getting-to-know.toml").read_text(encoding="utf-8")
    (rules / "getting-to-know.toml").write_text(intro.replace(
        'need = "both"\n', 'need = "both"\ndo = "participant:mentee=matched"\n', 1), encoding="utf-8")
    templates = tmp_path / "templates" / "welcome"
    templates.mkdir(parents=True)
    for name, text in {"hello": "Subject: Welcome\n\nDear {{ recipient.greeting }},\n\nReply YES to take part.\n",
                       "thanks": "Subject: {{ reply_subject }}\n\nThank you, {{ recipient.greeting }}.\n",
                       "still-looking": "Subject: Still looking\n\n{{ sender.name }} has no mentor yet.\n"}.items():
        (templates / f"{name}.txt").write_text(text, encoding="utf-8")
    return rules, templates.parent


def test_the_folder_extends_the_default_scheme(scheme):
    wf, problems = check_workflow(scheme[0])
    assert problems == []
    assert {"invited", "looking", "introduced", "active"} <= set(wf.states)
    assert wf.enrol["mentee"].state == "invited" and "mentor" not in wf.enrol
    assert wf.states["invited"].scope == "participant" and wf.states["active"].scope == "pair"


def test_a_participant_is_welcomed_reminded_and_moved_on(tmp_path, smtp_sink, scheme):
    rules, templates = scheme
    j = Journey(tmp_path, None, smtp_sink, scheme=f'rules = "{rules}"\ntemplates = "{templates}"\n',
                keep_welcome=True)
    try:
        assert j.cycle() == [("welcome/hello", MENTEE)], "enrolling the mentee sent the welcome; the mentor has none"
        assert j.service.store.participant_by_email(MENTEE)["state"] == "invited"
        assert j.advance(days=3, hours=1) == [("welcome/hello", MENTEE)], "a person's own timer"
        assert j.reply("welcome/hello", MENTEE, gmail_reply, "Yes", SAM) == [("welcome/thanks", MENTEE)]
        assert j.service.store.participant_by_email(MENTEE)["state"] == "looking"
        assert j.advance(days=3) == [], "leaving the state cancelled its timers"

        # Paired, accepted, met, both YES: the pair rule moves the mentee to "matched",
        # which cancels the "still looking" timer of "looking".
        j.service.pair(MENTEE, MENTOR)
        j.cycle()
        j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept", ADA)
        j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "MET today", SAM)
        j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes", SAM)
        assert j.service.store.participant_by_email(MENTEE)["state"] == "looking", "one YES is not both"
        j.reply("getting-to-know/decide", MENTOR, outlook_reply, "Yes", ADA)
        assert j.service.store.participant_by_email(MENTEE)["state"] == "matched"
        assert ("welcome/still-looking", "coordinator@scheme.test") not in j.advance(days=40)
        statuses = {r["name"]: r["status"] for r in j.service.store.all(
            "SELECT name, status FROM timers WHERE pair_id IS NULL")}
        assert statuses == {"welcome-reminder": "fired", "still-looking": "cancelled"}
    finally:
        j.close()


def test_a_participant_rule_needs_participant_states(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "welcome.toml").write_text(RULES.replace('[enrol.mentee]\nstate = "invited"',
                                                      '[enrol.mentee]\nstate = "introduced"'), encoding="utf-8")
    _wf, problems = check_workflow(rules)
    assert any("must have scope = \"participant\"" in p and "welcome.toml:" in p for p in problems), problems
