"""Reminders: set when a pair enters a state, fired by the clock through the same
engine and outbox, cancelled when the pair moves on. Time is moved, never slept."""

from __future__ import annotations

from clients import outlook_reply
from harness import MENTEE, MENTOR, body, make_service


def test_reminder_fires_once_after_a_week_and_can_be_answered(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair(MENTEE, MENTOR)
    service.deliver()
    smtp_sink.wait_for(2)
    smtp_sink.clear()

    service.clock.advance(days=6, hours=23)
    assert service.fire_timers() == 0
    service.clock.advance(hours=2)
    assert service.fire_timers() == 1
    assert service.fire_timers() == 0, "a timer fires once"
    service.deliver()
    [reminder] = smtp_sink.wait_for(1)
    assert reminder.rcpt_tos == [MENTOR] and "Reminder: could you mentor Sam Lee?" in str(reminder.message["Subject"])

    # ACCEPT in reply to the reminder works like a reply to the introduction.
    inbound = service.receive(outlook_reply(reminder.raw, "Accept", f"Ada <{MENTOR}>"), source="smtp")
    assert service.process(inbound) == "processed"
    assert service.store.pair(1)["state"] == "getting-to-know"
    timers = service.store.all("SELECT name, status FROM timers ORDER BY id")
    assert timers == [{"name": "introduction-reminder", "status": "fired"},
                      {"name": "introduction-last-reminder", "status": "cancelled"},
                      {"name": "introduction-expired", "status": "cancelled"},
                      {"name": "decision-ask", "status": "pending"}]


def test_leaving_the_state_cancels_the_reminder(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair(MENTEE, MENTOR)
    service.deliver()
    [intro] = [m for m in smtp_sink.wait_for(2) if MENTOR in m.rcpt_tos]
    inbound = service.receive(outlook_reply(intro.raw, "Decline", f"Ada <{MENTOR}>"), source="smtp")
    service.process(inbound)
    service.clock.advance(days=30)
    assert service.fire_timers() == 0
    assert service.store.all("SELECT DISTINCT status FROM timers") == [{"status": "cancelled"}]
    smtp_sink.clear()
    service.deliver()
    assert all("Reminder" not in body(m) for m in smtp_sink.wait_for(3))
