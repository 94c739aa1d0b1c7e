"""A whole mentoring relationship by reply, through a real Dovecot and aiosmtpd.

Sam (mentee) and Ada (mentor) go from the introduction to the end: ACCEPT, a first
meeting, both YES, the agreement with one correction (version 2), check-ins, a late
cancellation, the review moved and confirmed, CONTINUE and a renewed agreement
(version 3), then END with a reason, exit feedback and the CPD record. Replies are
built the way Outlook, Gmail, Thunderbird (inline) and mutt build them. The clock is
moved, never slept. The test asserts who got which email, in order, and that the
words of a reason, a check-in note and feedback reach nobody else.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

from mailflow.status import gather

from clients import gmail_reply, inline_reply, mutt_reply, new_email, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, body
from journey import UTC, Journey

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"
REASON = "REASONCANARY my new post leaves no time"
NOTE = "NOTECANARY I felt stuck on the methods section"
FEEDBACK = "FEEDBACKCANARY the reminders were well timed"
AGENDA = "AGENDACANARY my fellowship application"

FORM = """Here is what we agreed:

Location: Teams, or the hospital library when I'm on site
Frequency: Monthly
Meeting length: 45 minutes
Duration: 12 months
Cancellations: at least 24 hours notice by email
Objectives:
1. Submit my first grant application by June
2. Present at the regional meeting
Review date: 20 May 2026

Thanks, Sam"""


def when(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_a_whole_relationship_by_reply(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink)
    try:
        _play(j)
    finally:
        j.close()


def _play(j: Journey) -> None:  # noqa: C901 - one story, told in order
    # 0. Pairing: the introductions. The mentor is not given the mentee's address yet.
    j.service.pair(MENTEE, MENTOR)
    assert j.cycle() == [("introduction/to-mentor", MENTOR), ("introduction/to-mentee", MENTEE)]
    assert MENTEE not in body(j.email("introduction/to-mentor", MENTOR))

    # 1. Ada accepts from Outlook; both are asked to have a first conversation.
    out = j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept - happy to help.", ADA)
    assert out == [("introduction/accepted-mentor", MENTOR), ("introduction/accepted-mentee", MENTEE)]
    assert j.pair_state() == "getting-to-know"
    assert MENTOR in body(j.email("introduction/accepted-mentee", MENTEE))
    assert "30 minutes" in body(j.email("introduction/accepted-mentee", MENTEE))

    # 2. They meet; Sam says so from Gmail. Both are asked, each privately, whether to go on.
    j.clock.advance(days=3)
    out = j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "MET yesterday\n\nThanks, Sam", SAM)
    assert out == [("getting-to-know/decide", MENTEE), ("getting-to-know/decide", MENTOR)]
    assert j.pair_state() == "deciding"

    # 3. Both YES: the mentee gets the agreement form.
    out = j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes, I'd like to continue", SAM)
    assert out == [("getting-to-know/yes-waiting", MENTEE)]
    out = j.reply("getting-to-know/decide", MENTOR, outlook_reply, "YES", ADA)
    assert out == [("agreement/start-mentee", MENTEE), ("agreement/start-mentor", MENTOR)]
    assert j.pair_state() == "agreeing"
    assert "Review date:" in body(j.email("agreement/start-mentee", MENTEE))

    # 4. The agreement: Sam's form is version 1; Ada corrects the frequency inline
    #    (Thunderbird), which makes version 2; Sam agrees to version 2.
    out = j.reply("agreement/start-mentee", MENTEE, gmail_reply, FORM, SAM)
    assert out == [("agreement/proposed", MENTOR), ("agreement/sent", MENTEE)]
    v1 = body(j.email("agreement/proposed", MENTOR))
    assert "version 1" in v1.lower() and "Submit my first grant application by June" in v1
    out = j.reply("agreement/proposed", MENTOR, inline_reply, {"Frequency:": "Every three weeks"}, ADA)
    assert out == [("agreement/proposed", MENTEE), ("agreement/sent", MENTOR)]
    v2 = body(j.email("agreement/proposed", MENTEE))
    assert "version 2" in v2.lower() and "Every three weeks" in v2 and "Monthly" in v2, "what changed is shown"
    stale = j.reply("agreement/sent", MENTEE, gmail_reply, "Agree", SAM)  # replying to version 1's receipt
    assert stale == [("agreement/stale", MENTEE)]
    out = j.reply("agreement/proposed", MENTEE, gmail_reply, "Agree", SAM)
    assert out == [("agreement/agreed", MENTEE), ("agreement/agreed", MENTOR),
                   ("agreement/agreed-coordinator", COORDINATOR)]
    assert j.pair_state() == "active"
    agreed = j.email("agreement/agreed", MENTEE)
    [invite] = [p for p in agreed.message.walk() if p.get_content_type() == "text/calendar"]
    assert "METHOD:REQUEST" in invite.get_content() and "pair-1-review@" in invite.get_content()
    coordinator_view = j.email("agreement/agreed-coordinator", COORDINATOR).raw.decode("utf-8", "replace")
    assert "grant application" not in coordinator_view and "Teams" not in coordinator_view

    # 5. The first check-in, three weeks on: Sam logs a meeting, a private pulse and note.
    out = j.until(when(2026, 3, 27, 10))
    assert out == [("meetings/checkin", MENTEE)]
    assert j.pair_state() == "checkin-due"
    out = j.reply("meetings/checkin", MENTEE, gmail_reply,
                  f"MET 25 March 50\nPulse: 4\nObjective 1: 3\nNotes: {NOTE}", SAM)
    assert out == [("meetings/logged", MENTEE)]
    assert j.pair_state() == "active"

    # 6. Ada arranges the next meeting in a new email (no reply token); both get invites.
    out = j.write(new_email(j.config.scheme.address, "NEXT 14 April 10:00\n\nAda", ADA, date=j.now))
    assert out == [("meetings/arranged", MENTEE), ("meetings/arranged-sender", MENTOR)]
    arranged = j.email("meetings/arranged", MENTEE)
    [ics] = [p for p in arranged.message.walk() if p.get_content_type() == "text/calendar"]
    assert "pair-1-meeting-1@" in ics.get_content() and "SEQUENCE:0" in ics.get_content()

    # 7. The day before, Sam is asked for agenda items, which go to Ada alone.
    out = j.until(when(2026, 4, 13, 10, 30))
    assert out == [("meetings/agenda-request", MENTEE)]
    out = j.reply("meetings/agenda-request", MENTEE, gmail_reply, f"1. {AGENDA}\n2. Time management", SAM)
    assert out == [("meetings/agenda-to-mentor", MENTOR), ("meetings/agenda-thanks", MENTEE)]
    assert AGENDA in body(j.email("meetings/agenda-to-mentor", MENTOR))

    # 8. Sam cancels three hours before: less notice than agreed, so it is counted.
    j.clock.set(when(2026, 4, 14, 7))
    out = j.reply("meetings/agenda-thanks", MENTEE, gmail_reply, "CANCEL - sorry, the clinic overran", SAM)
    assert out == [("meetings/cancelled", MENTOR), ("meetings/cancelled-sender", MENTEE)]
    cancel = j.email("meetings/cancelled", MENTOR)
    [ics] = [p for p in cancel.message.walk() if p.get_content_type() == "text/calendar"]
    assert "METHOD:CANCEL" in ics.get_content() and "SEQUENCE:1" in ics.get_content()
    assert "clinic" not in body(cancel)
    assert j.service.store.facts(1)["late_cancellations"] == 1

    # 9. The second check-in (three weeks after the first answer).
    out = j.until(when(2026, 4, 17, 10))
    assert out == [("meetings/checkin", MENTEE)]
    out = j.reply("meetings/checkin", MENTEE, mutt_reply, "MET 16 April 45\nPulse: 5\nObjective 2: 4", SAM)
    assert out == [("meetings/logged", MENTEE)]

    # 10. Two weeks before the review both are reminded; Sam proposes another date
    #     (mutt, below the quote); Ada confirms; the invite is updated.
    out = j.until(when(2026, 5, 6, 9, 30))
    assert out == [("review/reminder", MENTEE), ("review/reminder", MENTOR)]
    out = j.until(when(2026, 5, 8, 10))
    assert out == [("meetings/checkin", MENTEE)]
    out = j.reply("review/reminder", MENTEE, mutt_reply, "MOVE 27 May", SAM)
    assert out == [("review/move-proposed", MENTOR), ("review/move-sent", MENTEE)]
    assert j.service.store.facts(1)["review_date"] == "2026-05-20", "until confirmed, the old date stands"
    out = j.reply("review/move-proposed", MENTOR, outlook_reply, "Confirm", ADA)
    assert out == [("review/move-confirmed", MENTEE), ("review/move-confirmed", MENTOR)]
    moved = j.email("review/move-confirmed", MENTOR)
    [ics] = [p for p in moved.message.walk() if p.get_content_type() == "text/calendar"]
    assert "SEQUENCE:1" in ics.get_content() and "20260527" in ics.get_content()

    # 11. The reminders follow the new date (two weeks before 27 May); the third check-in
    #     is answered after its reminder; then the review.
    out = j.until(when(2026, 5, 13, 9, 30))
    assert out == [("review/reminder", MENTEE), ("review/reminder", MENTOR)]
    out = j.until(when(2026, 5, 15, 10))
    assert out == [("meetings/checkin-reminder", MENTEE)]
    out = j.reply("meetings/checkin-reminder", MENTEE, gmail_reply, "MET 14 May", SAM)
    assert out == [("meetings/logged", MENTEE)]
    out = j.until(when(2026, 5, 25, 9, 30))
    assert out == [("review/reminder", MENTEE), ("review/reminder", MENTOR)]
    out = j.until(when(2026, 5, 27, 9, 30))
    assert out == [("review/now", MENTEE), ("review/now", MENTOR)]
    assert j.pair_state() == "reviewing"

    # 12. Both CONTINUE; Sam sends revised terms with the next review date (version 3).
    out = j.reply("review/now", MENTOR, outlook_reply, "Continue", ADA)
    assert out == [("review/continue-waiting", MENTOR)]
    out = j.reply("review/now", MENTEE, gmail_reply, "Continue!", SAM)
    assert out == [("review/renew-mentee", MENTEE), ("review/renew-mentor", MENTOR)]
    assert j.pair_state() == "renewing"
    revised = FORM.replace("Monthly", "Every six weeks").replace("20 May 2026", "25 November 2026")
    out = j.reply("review/renew-mentee", MENTEE, gmail_reply, revised, SAM)
    assert out == [("agreement/proposed", MENTOR), ("agreement/sent", MENTEE)]
    assert "version 3" in body(j.email("agreement/proposed", MENTOR)).lower()
    out = j.reply("agreement/proposed", MENTOR, outlook_reply, "Agreed", ADA)
    assert out == [("agreement/agreed", MENTEE), ("agreement/agreed", MENTOR),
                   ("review/renewed-coordinator", COORDINATOR)]
    assert j.pair_state() == "active"
    assert j.service.store.facts(1)["review_date"] == "2026-11-25"

    # 13. In July Sam ends it, with a reason that is kept for Sam alone.
    j.clock.set(when(2026, 7, 1, 12))
    out = j.reply("agreement/agreed", MENTEE, gmail_reply, f"END - {REASON}", SAM)
    assert out == [("ending/you-ended", MENTEE), ("ending/partner-ended", MENTOR),
                   ("ending/ended-coordinator", COORDINATOR), ("ending/record", MENTEE), ("ending/record", MENTOR)]
    assert j.pair_state() == "ended"

    # 14. Exit feedback from Sam; Ada says she is unavailable for now.
    out = j.reply("ending/you-ended", MENTEE, gmail_reply, f"Rating: 4\nComments: {FEEDBACK}", SAM)
    assert out == [("ending/feedback-thanks", MENTEE)]
    out = j.reply("ending/partner-ended", MENTOR, outlook_reply, "Unavailable for now, thank you", ADA)
    assert out == [("anytime/availability", MENTOR)]
    assert not j.service.store.participant_by_email(MENTOR)["available"]

    # 15. The CPD record: dates met and minutes, the objectives and their last ratings, the reviews.
    record = body(j.email("ending/record", MENTEE))
    for fact in ("Wednesday 25 March 2026", "50", "Thursday 16 April 2026", "45",
                 "Submit my first grant application by June", "Present at the regional meeting"):
        assert fact in record, fact

    # 16. Confidentiality: the reason, the note and the feedback reach nobody; the agenda
    #     only the mentor; the coordinators see no content at all.
    rows = j.service.store.all("SELECT to_addr, template, raw FROM outbox")
    for row in rows:
        text = _all_text(row["raw"])
        for canary in (REASON.split()[0], NOTE.split()[0], FEEDBACK.split()[0]):
            assert canary not in text, f"{canary} reached {row['to_addr']} in {row['template']}"
        if AGENDA.split()[0] in text:
            assert row["to_addr"] == MENTOR and row["template"] == "meetings/agenda-to-mentor", row["template"]
        if row["to_addr"] == COORDINATOR:
            for content in ("grant application", "Teams", "clinic", "Time management"):
                assert content not in text, f"{content!r} reached the coordinators in {row['template']}"
    status = json.dumps(gather(j.service))
    for canary in (REASON, NOTE, FEEDBACK, AGENDA, "grant application"):
        assert canary.split()[0] not in status

    # 17. What the coordinators and the CLI see of the pair.
    pair = json.loads(status)["pairs"][0]
    assert pair["state"] == "ended" and pair["final"] is True
    assert pair["agreement"]["version"] == 3 and pair["agreement"]["in_force"] == 3
    assert pair["agreement"]["confirmed_by"] == ["mentee", "mentor"]
    assert "objectives" in pair["agreement"]["fields"] and "review_date" in pair["agreement"]["fields"]
    assert pair["meetings"] == 3 and pair["minutes"] == 50 + 45 + 45
    assert pair["review_date"] == "2026-11-25" and pair["cancellations"] == 1
    assert "late-cancellations:1" in pair["flags"]
    _show(j, pair)


def _all_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(msg["Subject"])]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def _show(j: Journey, pair: dict) -> None:
    """What the closing note quotes: every email in order, and the pair's status."""
    out = j.config_path.parent / "journey.txt"
    lines = [f"{d}  {template:<34} {to:<24} {subject}" for d, template, to, subject in j.log]
    out.write_text("\n".join(lines) + "\n\n" + json.dumps(pair, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
