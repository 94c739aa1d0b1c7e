"""Whole conversations through the command line, against a real Dovecot and aiosmtpd.

A coordinator enrols and pairs; ``run-once`` sends the introductions to the SMTP
sink; a reply built the way Outlook or Gmail builds one is APPENDed to the Dovecot
mailbox; ``run-once`` reads it, decides, and sends the outcome.
"""

from __future__ import annotations


from clients import gmail_reply, outlook_reply
from harness import COORDINATOR, Installation, MENTEE, MENTOR, body


def introduce(mf: Installation) -> bytes:
    """Pair Sam with Ada, run a cycle, and return the raw introduction Ada received."""
    out = mf.cli("pair", MENTEE, MENTOR)
    assert "2 emails queued" in out
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [to_mentor] = mf.sent_to(MENTOR)
    [to_mentee] = mf.sent_to(MENTEE)
    assert "Introducing you to Sam Lee" in to_mentor.message["Subject"]
    assert "ACCEPT" in body(to_mentor) and "DECLINE" in body(to_mentor)
    assert "ACCEPT" not in body(to_mentee), "the mentee has nothing to decide"
    assert to_mentor.message["Reply-To"].addresses[0].addr_spec.startswith(mf.account.username.split("@")[0] + "+")
    assert to_mentor.message["Auto-Submitted"] == "auto-generated"
    assert to_mentor.message.get_body(("html",)) is not None, "introductions are multipart with an HTML part"
    return to_mentor.raw


def test_accept_by_outlook_reply(mf: Installation):
    intro = introduce(mf)
    mf.sink.clear()
    reply = outlook_reply(intro, "Accept\n\nHappy to help - I'll be in touch with Sam.\n\nAda", f"Ada Byron <{MENTOR}>")
    uid = mf.account.append(reply)

    out = mf.cli("run-once")
    assert "1 processed" in out, out
    mf.sink.wait_for(2)
    [to_mentor] = mf.sent_to(MENTOR)
    [to_mentee] = mf.sent_to(MENTEE)
    assert "you and Sam Lee can now get to know each other" in to_mentor.message["Subject"]
    assert "Dr Ada Byron would like to mentor you" in to_mentee.message["Subject"]
    assert MENTOR in body(to_mentee), "the mentee is given the mentor's address"
    assert "Happy to help" not in body(to_mentee), "nothing the mentor wrote is passed on"

    # The mailbox copy was moved to Processed only after the outcome was committed.
    assert mf.account.uids("INBOX") == []
    assert len(mf.account.uids("Processed")) == 1
    [(puid, _raw)] = mf.account.fetch_all("Processed").items()
    assert "\\Seen" in mf.account.flags(puid, "Processed")

    status = mf.status()
    assert [p["state"] for p in status["pairs"]] == ["getting-to-know"]
    assert status["inbound"] == {"processed": 1}

    # Nothing is sent twice.
    mf.sink.clear()
    out = mf.cli("run-once")
    assert "fetched 0" in out and "sent 0" in out
    assert mf.sink.messages == []
    assert uid  # the reply was really in the mailbox


def test_decline_by_gmail_reply_is_no_fault(mf: Installation):
    intro = introduce(mf)
    mf.sink.clear()
    reason = "I'm on leave until the spring and my clinic is very full - CANARY-REASON"
    mf.account.append(gmail_reply(intro, f"Decline\n\n{reason}\n\nAda", f"Ada Byron <{MENTOR}>"))

    mf.cli("run-once")
    mf.sink.wait_for(3)
    [to_mentor] = mf.sent_to(MENTOR)
    [to_mentee] = mf.sent_to(MENTEE)
    [to_coord] = mf.sent_to(COORDINATOR)
    assert "An update on finding your mentor" in to_mentee.message["Subject"]
    assert "says nothing about you" in body(to_mentee)
    for mail in (to_mentee, to_coord, to_mentor):
        assert "CANARY-REASON" not in mail.raw.decode("utf-8", "replace"), "the reason is never passed on"
    assert "mailflow pair sam@university.test" in body(to_coord)
    assert [p["state"] for p in mf.status()["pairs"]] == ["declined"]

    # The mentee can now be paired again.
    out = mf.cli("pair", MENTEE, "grace@hospital.test")
    assert "state introduced" in out


def test_reply_from_another_address_changes_nothing(mf: Installation):
    intro = introduce(mf)
    mf.sink.clear()
    mf.account.append(outlook_reply(intro, "ACCEPT", "Someone Else <intruder@elsewhere.test>"))

    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    assert note.rcpt_tos == ["intruder@elsewhere.test"]
    assert "nothing has been changed" in body(note)
    assert "ada@hospital.test" not in body(note), "the registered address is not revealed"
    assert [p["state"] for p in mf.status()["pairs"]] == ["introduced"]
    status = mf.status()
    assert status["inbound"] == {"ignored": 1}
    with mf.db() as db:
        row = db.execute("SELECT status, reason, length(raw) AS size FROM inbound").fetchone()
    assert row["reason"].startswith("wrong-sender") and row["size"] > 500, "kept, with its reason"
    assert len(mf.account.uids("Processed")) == 1


def test_unclear_reply_gets_a_question_not_a_guess(mf: Installation):
    intro = introduce(mf)
    mf.sink.clear()
    mf.account.append(gmail_reply(intro, "Yes... or actually no, let me think about it", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    assert note.rcpt_tos == [MENTOR]
    text = body(note)
    assert "ACCEPT" in text and "DECLINE" in text and "nothing has been changed" in text
    assert note.message["In-Reply-To"], "the note answers the person's message"
    assert note.message["Auto-Submitted"] == "auto-replied"
    assert [p["state"] for p in mf.status()["pairs"]] == ["introduced"]

    # Replying to the clarification works like replying to the introduction.
    mf.sink.clear()
    mf.account.append(gmail_reply(note.raw, "Accept", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


def test_console_script_runs_the_flow(mf: Installation):
    """The installed ``mailflow`` command, in a child process, end to end."""
    mf.cli_process("pair", MENTEE, MENTOR)
    proc = mf.cli_process("run-once")
    assert "sent 2" in proc.stdout
    [intro] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    mf.account.append(outlook_reply(intro.raw, "ACCEPT", f"Ada <{MENTOR}>"))
    proc = mf.cli_process("run-once")
    assert "1 processed" in proc.stdout and "sent 2" in proc.stdout
    proc = mf.cli_process("run-once")
    assert "sent 0" in proc.stdout
