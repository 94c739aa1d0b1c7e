"""The lifecycle's timers with the fixed clock: reminders, the introduction's window,
the decision window, the silence ladder, out-of-office deferral, and a restart after
downtime that fires each timer once. Time is moved, never slept; replies are handed
to the service as the SMTP listener would hand them."""

from __future__ import annotations

import datetime as dt

import pytest

from clients import gmail_reply, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, body
from journey import UTC, Journey

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"
FORM = ("Location: Teams\nFrequency: every two weeks\nMeeting length: 45 minutes\nDuration: 6 months\n"
        "Objectives:\n1. Write the protocol\nReview date: 1 June 2026")


@pytest.fixture
def j(tmp_path, smtp_sink):
    journey = Journey(tmp_path, None, smtp_sink)
    yield journey
    journey.close()


def accepted(j: Journey) -> None:
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept", ADA)


def active(j: Journey) -> None:
    accepted(j)
    j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "MET today", SAM)
    j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes", SAM)
    j.reply("getting-to-know/decide", MENTOR, outlook_reply, "Yes", ADA)
    j.reply("agreement/start-mentee", MENTEE, gmail_reply, FORM, SAM)
    j.reply("agreement/proposed", MENTOR, outlook_reply, "Agree", ADA)
    assert j.pair_state() == "active"


def test_the_introduction_is_reminded_twice_then_lapses(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    assert j.advance(days=6, hours=23) == []
    assert j.advance(hours=2) == [("introduction/reminder", MENTOR)]
    assert j.cycle() == [], "a timer fires once, however often the tick runs"
    assert j.advance(days=5) == [("introduction/last-reminder", MENTOR)]
    assert j.advance(days=2) == [("introduction/expired-mentee", MENTEE), ("introduction/expired-mentor", MENTOR),
                                 ("introduction/expired-coordinator", COORDINATOR)]
    assert j.pair_state() == "expired"
    # A late ACCEPT changes nothing and says so.
    out = j.reply("introduction/reminder", MENTOR, outlook_reply, "Accept", ADA)
    assert out == [("notes/already", MENTOR)] and j.pair_state() == "expired"


def test_the_decision_window_reminds_who_has_not_answered_then_tells_the_coordinators(j):
    accepted(j)
    assert j.advance(days=7, hours=1) == [("getting-to-know/decide", MENTEE), ("getting-to-know/decide", MENTOR)]
    assert j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes", SAM) == [("getting-to-know/yes-waiting",
                                                                                    MENTEE)]
    assert j.advance(days=10) == [("getting-to-know/decide-reminder", MENTOR)], "only the one who has not answered"
    assert j.advance(days=4) == [("lifecycle/flag-coordinators", COORDINATOR)]
    assert "decision-overdue" in j.service.store.facts(1)["flags"]
    out = j.reply("getting-to-know/decide-reminder", MENTOR, outlook_reply, "Yes", ADA)
    assert out == [("agreement/start-mentee", MENTEE), ("agreement/start-mentor", MENTOR)]


def test_not_yet_is_asked_again_and_not_if_they_answered_meanwhile(j):
    accepted(j)
    j.advance(days=7, hours=1)
    assert j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Not yet", SAM) == [
        ("getting-to-know/not-yet", MENTEE)]
    assert j.advance(days=7) == [("getting-to-know/decide", MENTEE)]
    j.reply("getting-to-know/decide", MENTOR, outlook_reply, "Not sure yet", ADA)
    j.reply("getting-to-know/decide", MENTOR, outlook_reply, "Yes", ADA)
    assert j.advance(days=7) == [("getting-to-know/decide-reminder", MENTEE),
                                 ("lifecycle/flag-coordinators", COORDINATOR)], \
        "Ada answered YES since her NOT YET: she is not asked again; Sam still has not answered"


def test_the_silence_ladder(j):
    active(j)
    assert j.advance(days=14, hours=1) == [("meetings/checkin", MENTEE)]
    assert j.advance(days=7) == [("meetings/checkin-reminder", MENTEE)]
    assert j.advance(days=7) == [("meetings/still-meeting", MENTEE), ("meetings/still-meeting", MENTOR)]
    assert j.advance(days=7) == [("lifecycle/flag-coordinators", COORDINATOR)]
    assert "silent" in j.service.store.facts(1)["flags"]
    out = j.reply("meetings/still-meeting", MENTOR, outlook_reply, "Yes we are", ADA)
    assert out == [("meetings/still-meeting-thanks", MENTOR)]
    assert "silent" not in j.service.store.facts(1)["flags"] and j.pair_state() == "active"
    assert j.advance(days=14, hours=1) == [("meetings/checkin", MENTEE)], "check-ins go on from the answer"


def test_an_out_of_office_defers_that_persons_reminders(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    ooo = (f"From: {ADA}\r\nTo: {j.config.scheme.address}\r\nSubject: Automatic reply: Introducing you\r\n"
           "Auto-Submitted: auto-replied\r\nMessage-ID: <oof@hospital.test>\r\n"
           "Date: Mon, 2 Mar 2026 09:05:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "I am out of the office until Friday 13 March 2026.\r\n").encode()
    assert j.write(ooo) == [], "an auto-reply is never answered"
    assert j.advance(days=7, hours=1) == [], "the reminder waits while Ada is away"
    # Back on the 14th: the reminder waited, and meets the last reminder due that day;
    # only the last word is sent.
    assert j.until(dt.datetime(2026, 3, 14, 9, 30, tzinfo=UTC)) == [("introduction/last-reminder", MENTOR)]
    [row] = j.service.store.all("SELECT data FROM events WHERE kind = 'timer-deferred'")
    assert "2026-03-14" in row["data"]


def test_a_restart_after_downtime_fires_each_timer_once(j):
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    j.restart()
    j.clock.advance(days=30)
    out = j.cycle()
    assert out == [("introduction/expired-mentee", MENTEE), ("introduction/expired-mentor", MENTOR),
                   ("introduction/expired-coordinator", COORDINATOR)], \
        "the reminders whose deadline has also passed are skipped; the deadline fires once"
    assert j.cycle() == []
    j.restart()
    assert j.advance(days=30) == []
    statuses = {r["name"]: r["status"] for r in j.service.store.all("SELECT name, status FROM timers")}
    assert statuses == {"introduction-reminder": "cancelled", "introduction-last-reminder": "cancelled",
                        "introduction-expired": "fired"}


def test_review_reminders_follow_the_review_date_when_it_moves(j):
    active(j)
    # Review on 1 June: the reminder is due 18 May. Move it to 15 June before then.
    j.until(dt.datetime(2026, 4, 1, 9, tzinfo=UTC))
    j.write(_new(j, "PAUSE until 3 April"))
    j.write(_new(j, "RESUME"))
    pending = {r["name"]: r["due_at"] for r in j.service.store.all(
        "SELECT name, due_at FROM timers WHERE status = 'pending'")}
    assert pending["review-reminder"].startswith("2026-05-18"), pending
    j.write(_new(j, "MOVE 20 May 11:00"))  # the next meeting, not the review
    assert j.service.store.facts(1)["review_date"] == "2026-06-01"


def _new(j: Journey, text: str) -> bytes:
    from clients import new_email

    return new_email(j.config.scheme.address, text, SAM, date=j.now)


# --------------------------------------------------------------------------- new emails, several pairs, time zones

MORE_PEOPLE = """\
role,name,email,timezone
coordinator,Jo Coordinator,coordinator@scheme.test,
mentor,Dr Ada Byron,ada@hospital.test,America/New_York
mentee,Sam Lee,sam@university.test,
mentee,Kim Park,kim@university.test,Asia/Seoul
"""
KIM = "kim@university.test"


@pytest.fixture
def j2(tmp_path, smtp_sink):
    journey = Journey(tmp_path, None, smtp_sink, people=MORE_PEOPLE)
    yield journey
    journey.close()


def test_a_command_in_a_new_email_asks_which_relationship_when_there_are_several(j2):
    from clients import new_email

    j2.service.pair(MENTEE, MENTOR)
    j2.service.pair(KIM, MENTOR)
    j2.cycle()
    # Ada accepts both introductions, each from its own email.
    intros = [m for m in j2.sink.messages if m.message["X-Mailflow-Template"] == "introduction/to-mentor"]
    for intro in intros:
        j2.write(outlook_reply(intro.raw, "Accept", ADA, date=j2.now))
    assert [j2.pair_state(1), j2.pair_state(2)] == ["getting-to-know", "getting-to-know"]

    out = j2.write(new_email(j2.config.scheme.address, "Please pause until 1 June", ADA, date=j2.now))
    assert out == [("notes/which-pair", MENTOR)]
    text = body(j2.email("notes/which-pair", MENTOR))
    assert "Sam Lee" in text and "Kim Park" in text
    out = j2.reply("notes/which-pair", MENTOR, outlook_reply, "2", ADA)
    assert out == [("lifecycle/paused", MENTOR), ("lifecycle/partner-paused", KIM)]
    assert [j2.pair_state(1), j2.pair_state(2)] == ["getting-to-know", "paused"]

    # Sam has one relationship: no question; and someone with none is told so.
    out = j2.write(new_email(j2.config.scheme.address, "MET yesterday", SAM, date=j2.now))
    assert out == [("getting-to-know/decide", MENTEE), ("getting-to-know/decide", MENTOR)]


def test_dates_and_invites_are_in_each_readers_own_time_zone(j2):
    from clients import new_email

    j2.service.pair(KIM, MENTOR)
    j2.cycle()
    j2.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept", ADA)
    # Kim, in Seoul, arranges 9 April at 09:00 her time (00:00 UTC, 20:00 the day before in New York).
    out = j2.write(new_email(j2.config.scheme.address, "NEXT 9 April 09:00", f"Kim Park <{KIM}>", date=j2.now))
    assert out == [("meetings/arranged", MENTOR), ("meetings/arranged-sender", KIM)]
    assert j2.service.store.facts(1)["next_meeting"] == "2026-04-09T00:00:00+00:00"
    to_ada, to_kim = j2.email("meetings/arranged", MENTOR), j2.email("meetings/arranged-sender", KIM)
    assert "Wednesday 8 April 2026 at 20:00" in body(to_ada)
    assert "Thursday 9 April 2026 at 09:00" in body(to_kim)
    [ics] = [p for p in to_ada.message.walk() if p.get_content_type() == "text/calendar"]
    assert "DTSTART;TZID=America/New_York:20260408T200000" in ics.get_content()
