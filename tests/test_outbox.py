"""The outbox against a real aiosmtpd server: retries, permanent failures, idempotence."""

from __future__ import annotations

import socket


from harness import make_service
from mailflow.service import Service


def outbox(service: Service) -> list[dict]:
    """The outbox rows after the welcomes (which make_service has sent)."""
    return service.store.all("SELECT id, to_addr, status, attempts, next_attempt_at, last_error FROM outbox "
                             "WHERE template NOT LIKE 'welcome/%' ORDER BY id")


def test_temporary_failures_are_retried_with_growing_gaps(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair("sam@university.test", "ada@hospital.test")
    smtp_sink.fail_next(451, times=3)  # the first three DATA commands fail (two emails, then one retry)
    first = service.deliver()
    assert [d.status for d in first] == ["retrying", "retrying"]
    rows = outbox(service)
    assert all(r["attempts"] == 1 and "451" in r["last_error"] for r in rows)
    assert service.deliver() == [], "nothing is due before the backoff has passed"

    service.clock.advance(seconds=61)
    second = service.deliver()
    assert [d.status for d in second] == ["retrying", "sent"]
    retry_at = outbox(service)[0]["next_attempt_at"]
    service.clock.advance(seconds=61)
    assert service.deliver() == [], f"the second gap is longer (due {retry_at})"
    service.clock.advance(seconds=60)
    assert [d.status for d in service.deliver()] == ["sent"]
    assert [r["attempts"] for r in outbox(service)] == [3, 2]
    assert len(smtp_sink.messages) == 2
    ids = [m.message["Message-ID"] for m in smtp_sink.messages]
    assert len(set(ids)) == 2


def test_permanent_failure_is_recorded_and_reported(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    smtp_sink.refuse_recipient("ada@hospital.test", 550)
    service.pair("sam@university.test", "ada@hospital.test")
    results = service.deliver()
    assert sorted(d.status for d in results) == ["failed", "sent"]
    [failed] = [r for r in outbox(service) if r["status"] == "failed"]
    assert failed["to_addr"] == "ada@hospital.test" and failed["attempts"] == 1 and "550" in failed["last_error"]
    assert service.store.participant_by_email("ada@hospital.test")["status"] == "bouncing"
    # The coordinators are told, in the next delivery.
    smtp_sink.clear()
    service.deliver()
    [notice] = smtp_sink.wait_for(1)
    assert notice.rcpt_tos == ["coordinator@scheme.test"]
    assert "could not be delivered" in str(notice.message["Subject"])


def test_552_is_temporary(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair("sam@university.test", "ada@hospital.test")
    smtp_sink.fail_next(552, times=1)
    assert sorted(d.status for d in service.deliver()) == ["retrying", "sent"]


def test_unreachable_relay_keeps_mail_queued_then_gives_up(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    nowhere = type("Sink", (), {"host": "127.0.0.1", "port": port})()
    service = make_service(tmp_path, nowhere)
    service.pair("sam@university.test", "ada@hospital.test")
    # One connection attempt, then sending stops for this cycle (issue 11, hole 5).
    [first] = service.deliver()
    assert first.status == "retrying" and "cannot connect" in first.detail
    assert [r["status"] for r in outbox(service)] == ["retrying", "pending"]
    service.clock.advance(hours=3)
    results = service.deliver()
    assert {d.status for d in results} == {"failed"} and len(results) == 2
    assert all("gave up after" in r["last_error"] for r in outbox(service) if r["to_addr"] != "coordinator@scheme.test")


def test_queueing_is_idempotent(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    pair_id = service.pair("sam@university.test", "ada@hospital.test")
    from mailflow.workflow import engine
    from mailflow.workflow.apply import Subject

    with service.store.transaction():
        again = service.applier.apply(engine.on_start(service.workflow)[1:3],
                                      Subject(pair=service.store.pair(pair_id), key=f"pair:{pair_id}:start"),
                                      service.clock.now())
    assert again == []
    assert len(outbox(service)) == 2


def test_a_crash_mid_send_resends_with_the_same_message_id(tmp_path, smtp_sink):
    """A row left 'sending' by a crash is sent again once its lease runs out."""
    service = make_service(tmp_path, smtp_sink)
    service.pair("sam@university.test", "ada@hospital.test")
    from mailflow.outbox import claim

    claimed = claim(service.store, service.clock.now())  # then the process "dies"
    assert len(claimed) == 2
    assert service.deliver() == [], "a live lease is respected"
    service.clock.advance(minutes=11)
    assert [d.status for d in service.deliver()] == ["sent", "sent"]
    sent_ids = {m.message["Message-ID"].strip("<>") for m in smtp_sink.messages}
    assert sent_ids == {r["message_id"] for r in service.store.all(
        "SELECT message_id FROM outbox WHERE template NOT LIKE 'welcome/%'")}
