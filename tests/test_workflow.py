"""The workflow as data: loading rule files, reporting problems as file:line, and the
engine's pure decisions from (reply, state) for every transition in the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailflow.errors import RuleError
from mailflow.parse.result import CommandResult, Mail, Reply
from mailflow.workflow import engine
from mailflow.workflow.decisions import Record, Send, Transition
from mailflow.workflow.loader import check_workflow, load_workflow, rules_folder

DEFAULT = rules_folder("default")


@pytest.fixture(scope="module")
def wf():
    return load_workflow(DEFAULT)


def reply(command: str | None = None, candidates: tuple[str, ...] = (), rest: str = "") -> Reply:
    mail = Mail(message_id="m", from_addr="a@x.test", from_name="", to_addrs=(), subject="Re: x", date=None,
                in_reply_to=(), references=(), body_text="", new_text="")
    return Reply(mail=mail, command=CommandResult(command, rest=rest, candidates=candidates))


def test_default_rules_load(wf):
    assert {"introduced", "getting-to-know", "declined", "expired", "deciding", "agreeing", "active", "ended"} \
        <= set(wf.states)
    assert wf.start.state == "introduced"
    assert wf.states["declined"].final
    assert wf.replies["introduction"].roles == ("mentor",)


@pytest.mark.parametrize("command, state, goto, templates", [
    ("accept", "introduced", "getting-to-know", ["introduction/accepted-mentor", "introduction/accepted-mentee"]),
    ("decline", "introduced", "declined",
     ["introduction/declined-mentor", "introduction/declined-mentee", "introduction/declined-coordinator"]),
])
def test_commands_move_the_pair(wf, command, state, goto, templates):
    out = engine.on_reply(wf, reply(command), engine.ReplyContext("introduction", "mentor", state))
    assert out.status == "processed"
    assert [d for d in out.decisions if isinstance(d, Transition)] == [Transition(goto)]
    assert [d.template for d in out.decisions if isinstance(d, Send)] == templates
    [record] = [d for d in out.decisions if isinstance(d, Record)]
    assert record.data["state_from"] == state and record.data["state_to"] == goto


@pytest.mark.parametrize("state", ["getting-to-know", "declined"])
def test_command_in_the_wrong_state_changes_nothing(wf, state):
    out = engine.on_reply(wf, reply("accept"), engine.ReplyContext("introduction", "mentor", state))
    assert out.status == "ignored" and out.reason.startswith("stale")
    assert not any(isinstance(d, Transition) for d in out.decisions)
    assert [d.template for d in out.decisions if isinstance(d, Send)] == ["notes/already"]


def test_ambiguous_and_missing_commands_ask_not_guess(wf):
    ctx = engine.ReplyContext("introduction", "mentor", "introduced")
    for r, why in ((reply(candidates=("accept", "decline")), "unclear: could be"), (reply(), "unclear: no command")):
        out = engine.on_reply(wf, r, ctx)
        assert out.status == "ignored" and out.reason.startswith(why)
        [send] = out.decisions
        assert send.template == "notes/clarify" and send.to == "sender" and send.expects == "introduction"
        # The email's own commands are offered; the anytime ones (HELP, PAUSE, ...) are not listed.
        assert [o["command"] for o in send.vars["options"]] == ["ACCEPT", "DECLINE"]


def test_only_the_named_role_may_answer(wf):
    out = engine.on_reply(wf, reply("accept"), engine.ReplyContext("introduction", "mentee", "introduced"))
    assert out.status == "ignored" and "wrong-role" in out.reason


def test_reply_to_an_email_that_asks_nothing(wf):
    out = engine.on_reply(wf, reply(), engine.ReplyContext(None, "mentee", "introduced"))
    assert out.status == "ignored" and [d.template for d in out.decisions] == ["notes/no-action"]


def test_decline_reason_is_recorded_only_as_a_flag(wf):
    out = engine.on_reply(wf, reply("decline", rest="private reason"), engine.ReplyContext("introduction", "mentor",
                                                                                           "introduced"))
    [record] = [d for d in out.decisions if isinstance(d, Record)]
    assert record.data["reason_given"] is True
    assert "private reason" not in repr(out)


def test_timer_fires_only_in_its_state(wf):
    [timer] = [t for t in wf.timers if t.name == "introduction-reminder"]
    fired = engine.on_timer(wf, timer, "introduced")
    assert fired.status == "processed"
    assert [d.template for d in fired.decisions if isinstance(d, Send)] == ["introduction/reminder"]
    assert engine.on_timer(wf, timer, "getting-to-know").status == "ignored"


# --------------------------------------------------------------------------- broken files


def broken(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(DEFAULT, folder)
    path = folder / "introduction.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


def line_of(folder: Path, needle: str) -> int:
    lines = (folder / "introduction.toml").read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if needle in l)


@pytest.mark.parametrize("old, new, needle, says", [
    ('goto = "getting-to-know"', 'goto = "getting-to-kno"', 'goto = "getting-to-kno"',
     "did you mean 'getting-to-know'"),
    ('command = "decline"', 'command = "refuse"', 'command = "refuse"', "not a command"),
    ('to = "coordinators"', 'to = "coordinator"', 'declined-coordinator', "allowed: mentor"),
    ('after = "introduction_reminder_days"', "after_days = -1", "after_days", "positive"),
    ('after = "introduction_window_days"', 'after = "introduction_windw_days"', "introduction_windw_days",
     "is not a time"),
    ('do = "expire"', 'do = "expired"', 'do = "expired"', "not a known action"),
    ('to = "mentor", expects = "anytime" },\n  { template = "introduction/expired-coordinator"',
     'to = "sender" },\n  { template = "introduction/expired-coordinator"', "introduction/expired-mentor",
     "a timer has no sender"),
    ('expects = "introduction" }', 'expects = "intro" }', 'introduction/to-mentor', "not a reply context"),
    ('"pass",', '"pass", "yes",', '"pass", "yes"', "means both"),
    ("[states.declined]", "[states.declined", "[states.declined", "not valid TOML"),
])
def test_broken_rule_file_is_reported_as_file_and_line(tmp_path, old, new, needle, says):
    folder = broken(tmp_path, old, new)
    _wf, problems = check_workflow(folder)
    assert problems, "the problem was not found"
    where = f"{folder / 'introduction.toml'}:"
    hit = [p for p in problems if says in p]
    assert hit, problems
    assert hit[0].startswith(where)
    line = int(hit[0][len(where):].split(":")[0])
    assert line == line_of(folder, needle), hit[0]
    with pytest.raises(RuleError, match=says.split("'")[0]):
        load_workflow(folder)


def test_unknown_rules_name_lists_the_shipped_ones():
    with pytest.raises(RuleError, match="Shipped schemes: clinical-training, default, global-health-trials, "
                                        "professional-society, research-e-mentoring;"):
        rules_folder("nonesuch")
