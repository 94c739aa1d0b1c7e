"""The agreement by reply, as a whole conversation: a half-understood form gets one
email back with what was understood and what is still needed, pre-filled; the
completed agreement goes to the partner to confirm; coordinators see only the date.
Also machine mail (out-of-office, bounces) in the middle of a conversation."""

from __future__ import annotations


from clients import gmail_reply, inline_reply, outlook_reply
from harness import COORDINATOR, Installation, MENTEE, MENTOR, body, to_agreement


def accepted(mf: Installation) -> bytes:
    return to_agreement(mf)


def states(mf: Installation) -> list[str]:
    return [p["state"] for p in mf.status()["pairs"]]


def test_agreement_half_understood_then_completed_then_confirmed(mf):
    form_email = accepted(mf)

    # 1. Sam fills in part of the form on top of a Gmail reply, with a typo and a past date.
    answer = (
        "Hi, here is what we agreed:\n\n"
        "Location: Video call (Teams), or the hospital library when I'm on site\n"
        "Frequncy: Monthly\n"
        "Objectives:\n1. Submit my first grant application by June\n2. Present at the regional meeting\n"
        "Review date: 3 January 2020\n"
        "Favourite colour: blue\n\n"
        "Thanks, Sam"
    )
    mf.account.append(gmail_reply(form_email, answer, f"Sam Lee <{MENTEE}>"))
    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    text = body(note)
    assert note.rcpt_tos == [MENTEE] and note.message["In-Reply-To"]
    # What was understood is echoed back; nothing needs typing again.
    assert "Location: Video call (Teams), or the hospital library when I'm on site" in text
    assert "Frequency: Monthly" in text
    assert "Submit my first grant application by June" in text
    # What is missing or unclear, and why.
    assert "Duration: no value was given" in text and "Meeting length: no value was given" in text
    assert "you wrote \"3 January 2020\"" in text and "in the past" in text
    assert "We did not recognise Favourite colour" in text
    assert "Frequncy" in text and "Please check" in text, "a label read despite a typo is pointed out"
    assert states(mf) == ["agreeing"]

    # 2. Sam answers the note inline, under the quoted (pre-filled) form.
    mf.sink.clear()
    mf.account.append(inline_reply(note.raw, {
        "Duration:": "12 months",
        "Meeting length:": "45 minutes",
        "Review date:": "3rd June",
    }, f"Sam Lee <{MENTEE}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [proposed] = mf.sent_to(MENTOR)
    [receipt] = mf.sent_to(MENTEE)
    assert states(mf) == ["agreeing"]
    for mail in (proposed, receipt):
        t = body(mail)
        assert "Location: Video call (Teams)" in t and "Frequency: Monthly" in t
        assert "Duration: 12 months" in t and "Meeting length: 45 minutes" in t
        assert "1. Submit my first grant application by June 2. Present at the regional meeting" in t
        assert "Review date: " in t and " 3 June 20" in t  # echoed with weekday, day, month and year
    assert "AGREE" in body(proposed)

    # 3. Ada confirms; both get the record; the coordinators get only the date.
    mf.sink.clear()
    mf.account.append(outlook_reply(proposed.raw, "Agreed - looks good.", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(3)
    assert states(mf) == ["active"]
    [to_coord] = mf.sent_to(COORDINATOR)
    for secret in ("grant application", "Video call", "Teams", "45 minutes"):
        assert secret not in to_coord.raw.decode("utf-8", "replace"), f"{secret!r} reached the coordinators"
    assert "confirmed their mentoring agreement" in body(to_coord)
    assert all("grant application" in body(m) for m in mf.sent_to(MENTEE) + mf.sent_to(MENTOR))


def test_changes_proposed_by_the_partner_go_back_for_confirmation(mf):
    form_email = accepted(mf)
    full = ("Location: Library\nFrequency: Monthly\nDuration: 6 months\nMeeting length: 1 hour\n"
            "Objectives:\n1. Write a protocol\nReview date: 1 March")
    mf.account.append(gmail_reply(form_email, full + "\nParking: staff car park", f"Sam <{MENTEE}>"))
    mf.cli("run-once")
    [proposed] = mf.sent_to(MENTOR)
    [receipt] = mf.sent_to(MENTEE)
    assert "We did not recognise Parking" in body(receipt), "an unknown label is reported, not dropped"
    assert "Parking" not in body(proposed)
    mf.sink.clear()
    mf.account.append(outlook_reply(proposed.raw, full.replace("Monthly", "Every two weeks"), f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [back] = mf.sent_to(MENTEE)
    assert "Frequency: Every two weeks" in body(back) and "AGREE" in body(back)
    assert states(mf) == ["agreeing"]
    mf.sink.clear()
    mf.account.append(gmail_reply(back.raw, "Agree", f"Sam <{MENTEE}>"))
    mf.cli("run-once")
    mf.sink.wait_for(3)
    assert states(mf) == ["active"]


def test_a_reply_with_no_form_answers_changes_nothing(mf):
    form_email = accepted(mf)
    mf.account.append(gmail_reply(form_email, "Thank you so much, I'm really pleased!", f"Sam <{MENTEE}>"))
    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    assert "did not find any answers to the form" in body(note) and "Location:" in body(note)
    assert states(mf) == ["agreeing"]


# --------------------------------------------------------------------------- machine mail


def out_of_office(to: str, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Automatic reply: Introducing you to Sam Lee\r\n"
        "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n"
        "Message-ID: <oof-1@hospital.test>\r\nDate: Mon, 2 Mar 2026 09:05:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "I am out of the office until Monday 16 March 2026 with limited access to email.\r\n"
    ).encode()


def test_out_of_office_changes_nothing_and_is_never_answered(mf):
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    mf.account.append(out_of_office(intro.message["Reply-To"].addresses[0].addr_spec, f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    assert mf.sink.messages == [], "machine mail is never answered"
    assert states(mf) == ["introduced"]
    status = mf.status(MENTOR)
    assert status["participants"][0]["away_until"] == "2026-03-16"
    assert "away until 2026-03-16" in mf.cli("status")


def test_bounce_marks_the_address_and_is_never_answered(mf):
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    mf.sink.wait_for(2)
    mf.sink.clear()
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.university.test>\r\n"
        f"To: {mf.account.username}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.university.test>\r\nAuto-Submitted: auto-replied\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\nMIME-Version: 1.0\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.university.test\r\n\r\n"
        f"Final-Recipient: rfc822; {MENTEE}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--B--\r\n"
    ).encode()
    mf.account.append(dsn)
    mf.account.append(dsn.replace(b"<dsn-1@", b"<dsn-2@"))  # a second report for the same address
    mf.cli("run-once")
    [notice] = mf.sink.wait_for(1)
    assert notice.rcpt_tos == [COORDINATOR], "never answered; the coordinators are told, once"
    assert f"Email to {MENTEE} is bouncing" in str(notice.message["Subject"])
    [p] = mf.status(MENTEE)["participants"]
    assert p["status"] == "bouncing"
    assert f"{MENTEE} is bouncing" in mf.cli("status")
    assert "1 updated" in mf.enrol(), "enrolling the address again clears the bounce"
    assert mf.status(MENTEE)["participants"][0]["status"] == "active"
