"""No email names a partner's address or words before the mentor has accepted, or
after a decline or an ending: every note a participant can provoke in those states
is checked."""

from __future__ import annotations

import pytest

from clients import gmail_reply, new_email, outlook_reply
from harness import MENTEE, MENTOR, body
from journey import Journey

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"

# Replies that provoke the notes: no action needed, not now, unclear, bad arguments,
# not yours, help, and a new email with no command.
PROVOKE = ["Hello? Is anyone there?", "MET yesterday", "NEXT 3 April 10:00", "CANCEL", "MET 31 February",
           "Maybe", "HELP", "ACCEPT"]


@pytest.fixture
def j(tmp_path, smtp_sink):
    journey = Journey(tmp_path, None, smtp_sink)
    yield journey
    journey.close()


def check_notes(j: Journey, template: str, to: str, builder, sender: str, partner: str) -> None:
    for text in PROVOKE:
        out = j.reply(template, to, builder, text, sender)
        assert out and all(rcpt == to for _, rcpt in out), (text, out)
        for t, rcpt in out:
            mail = j.email(t, rcpt)
            assert partner not in mail.raw.decode("utf-8", "replace"), f"{t} after {text!r} names {partner}"
    out = j.write(new_email(j.config.scheme.address, "Just checking in", sender, date=j.now))
    for t, rcpt in out:
        assert partner not in j.email(t, rcpt).raw.decode("utf-8", "replace"), t


def test_before_the_mentor_accepts(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    assert MENTEE not in body(j.email("introduction/to-mentor", MENTOR))
    assert MENTOR not in body(j.email("introduction/to-mentee", MENTEE))
    check_notes(j, "introduction/to-mentee", MENTEE, gmail_reply, SAM, MENTOR)
    assert j.pair_state() == "introduced"


def test_after_a_decline(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Decline", ADA)
    assert j.pair_state() == "declined"
    assert MENTOR not in body(j.email("introduction/declined-mentee", MENTEE))
    check_notes(j, "introduction/declined-mentee", MENTEE, gmail_reply, SAM, MENTOR)
    check_notes(j, "introduction/declined-mentor", MENTOR, outlook_reply, ADA, MENTEE)


def test_after_an_ending(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept", ADA)
    assert MENTOR in body(j.email("introduction/accepted-mentee", MENTEE)), "after ACCEPT they have each other's"
    j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "END", SAM)
    assert j.pair_state() == "ended"
    for template, to in (("ending/partner-ended", MENTOR), ("ending/you-ended", MENTEE)):
        other = MENTEE if to == MENTOR else MENTOR
        assert other not in j.email(template, to).raw.decode(), template
    check_notes(j, "introduction/accepted-mentee", MENTEE, gmail_reply, SAM, MENTOR)
    check_notes(j, "ending/partner-ended", MENTOR, outlook_reply, ADA, MENTEE)
