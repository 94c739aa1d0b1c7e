"""Issue 11, "Hardening": one test (or a few) per hole, each failing before its fix.

The stress proofs (kill, fuzz, faults) are in ``tests/stress/``.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from harness import COORDINATOR, MENTEE, MENTOR, make_service
from servers import SmtpSink


def stranger_mail(sender: str, subject: str = "Hello", to: str = "scheme@scheme.test", body: str = "Hi there") -> bytes:
    """A raw message as an SMTPUTF8-capable client writes it (UTF-8 headers)."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{abs(hash(sender + subject))}@x.test>\r\n"
            f"Date: Mon, 2 Mar 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            ).encode("utf-8")


def outbox(service) -> list[dict]:
    return service.store.all("SELECT id, to_addr, template, status, attempts, last_error FROM outbox ORDER BY id")


# --------------------------------------------------------------------------- 1. poison email


def test_1_a_sender_with_a_non_ascii_domain_is_answered_and_the_outbox_goes_on(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair(MENTEE, MENTOR)  # two introductions queued
    service.receive(stranger_mail("Jörg <joerg@müller.example>"), source="test")
    assert service.process_pending() == {"ignored": 1}
    results = service.deliver()
    assert sorted(d.status for d in results) == ["sent", "sent", "sent"]
    rcpts = sorted(r for m in smtp_sink.messages for r in m.rcpt_tos)
    assert rcpts == sorted([MENTEE, MENTOR, "joerg@xn--mller-kva.example"])
    [note] = [m for m in smtp_sink.messages if m.rcpt_tos == ["joerg@xn--mller-kva.example"]]
    assert note.message["To"].addresses[0].addr_spec == "joerg@xn--mller-kva.example"


def test_1_a_non_ascii_local_part_needs_smtputf8_or_fails_that_row_alone(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.receive(stranger_mail("Jörg <jörg@example.org>"), source="test")
    service.pair(MENTEE, MENTOR)
    assert service.process_pending() == {"ignored": 1}
    results = {d.to_addr: d for d in service.deliver()}
    assert results["jörg@example.org"].status == "failed"
    assert "SMTPUTF8" in results["jörg@example.org"].detail
    assert {results[MENTEE].status, results[MENTOR].status} == {"sent"}
    assert len(smtp_sink.messages) == 2  # the coordinators are not told about a stranger's address

    with SmtpSink(smtputf8=True) as utf8_sink:
        (tmp_path / "b").mkdir()
        service = make_service(tmp_path / "b", utf8_sink)
        service.receive(stranger_mail("Jörg <jörg@example.org>"), source="test")
        service.process_pending()
        assert [d.status for d in service.deliver()] == ["sent"]
        [note] = utf8_sink.messages
        assert note.rcpt_tos == ["jörg@example.org"]
        assert "SMTPUTF8" in [o.upper() for o in note.mail_options]


def test_1_any_error_sending_one_row_fails_that_row_never_the_cycle(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.pair(MENTEE, MENTOR)
    [first, second] = [r["id"] for r in outbox(service)]
    # A row the library cannot send at all (text, not bytes, with a non-ASCII
    # character: smtplib raises UnicodeEncodeError).
    service.store.conn.execute("UPDATE outbox SET raw = 'Subject: \u00fc' WHERE id = ?", (first,))
    for attempt in (1, 2, 3):
        results = {d.outbox_id: d for d in service.deliver()}
        assert results[first].status == ("failed" if attempt == 3 else "retrying"), attempt
        assert "UnicodeEncodeError" in results[first].detail
        service.clock.advance(hours=1)
    rows = {r["id"]: r for r in outbox(service)}
    assert rows[first]["status"] == "failed" and rows[first]["attempts"] == 3
    assert rows[second]["status"] == "sent"
    assert all(r["status"] != "sending" for r in rows.values())
    # The coordinators are told, like any other failed delivery.
    service.deliver()
    assert any(m.rcpt_tos == [COORDINATOR] and "could not be delivered" in str(m.message["Subject"])
               for m in smtp_sink.messages)
