"""Issue 11, "Hardening": one test (or a few) per hole, each failing before its fix.

The stress proofs (kill, fuzz, faults) are in ``tests/stress/``.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from harness import COORDINATOR, MENTEE, MENTOR, make_service, wait_until
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
    service.deliver()
    assert len(smtp_sink.messages) == 2, "the coordinators are not told about a stranger's address"

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


# --------------------------------------------------------------------------- 2. header injection

EVIL_WORD = "=?utf-8?q?Eve=0D=0ABcc:_x@evil.example=0D=0A=0D=0AForged_body?="
# The same, encoded once more: a mail client decodes the outer word, and the inner
# one reaches our note's Subject as text the email package decodes again.
EVIL_SUBJECT = "=?utf-8?q?=3D=3Futf-8=3Fq=3Fa=3D0D=3D0ABcc=3A=5Fx=40evil.example=3F=3D?="
EXPECTED = ["auto-submitted", "content-type", "date", "from", "message-id", "mime-version", "reply-to",
            "subject", "to", "x-auto-response-suppress", "x-mailflow-template"]


def built(name: str, subject: str):
    import datetime as dt

    from mailflow.render import Rendered, build_message

    msg = build_message(Rendered(subject, "Hello\n", "<p>Hello</p>"), from_name="Scheme", from_addr="s@scheme.test",
                        to_name=name, to_addr="eve@example.org", reply_to="s+tok@scheme.test",
                        message_id="m1@scheme.test", date=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc))
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


@pytest.mark.parametrize("evil", [
    EVIL_WORD,
    "=?utf-8?b?" + __import__("base64").b64encode(b"Eve\r\nBcc: x@evil.example").decode() + "?=",
    "Eve\u2028Bcc: x@evil.example", "Eve\u0085Bcc: x@evil.example", "Eve\x0bBcc: x@evil.example",
    "Eve\x0cBcc: x@evil.example", "Eve\x00Bcc: x@evil.example", "Eve\r\nBcc: x@evil.example",
])
def test_2_no_name_or_subject_adds_a_header_or_a_body(evil):
    parsed = built(evil, f"Re: {evil}")
    assert sorted(k.lower() for k in parsed.keys()) == EXPECTED
    assert "evil.example" not in str(parsed["To"].addresses[0].addr_spec)
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello"
    for header in ("To", "Subject"):
        assert not any(c in str(parsed[header]) for c in "\r\n\x00\x0b\x0c\x85\u2028\u2029")


def test_2_hypothesis_any_unicode_name_or_subject_keeps_the_header_set():
    from hypothesis import given, settings, strategies as st

    words = st.sampled_from(["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x00", "Bcc: x@evil",
                             "=?utf-8?q?", "?=", "=0D=0A", ":", "\"", "<", ">", "@", " "])
    text = st.lists(st.one_of(st.text(max_size=8), words), max_size=12).map("".join)

    @settings(max_examples=300, deadline=None)
    @given(text, text)
    def check(name, subject):
        parsed = built(name, subject or "x")
        assert sorted(k.lower() for k in parsed.keys()) == EXPECTED
        assert parsed["To"].addresses[0].addr_spec == "eve@example.org"

    check()


def test_2_a_strangers_subject_is_never_copied_into_our_note(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    service.receive(stranger_mail("Mallory <victim@example.org>", subject=EVIL_SUBJECT), source="test")
    service.process_pending()
    assert [d.status for d in service.deliver()] == ["sent"]
    [note] = smtp_sink.messages
    parsed = email.message_from_bytes(note.raw, policy=email.policy.default)
    assert "bcc" not in [k.lower() for k in parsed.keys()]
    assert str(parsed["Subject"]) == "Your email to Test Scheme"


@pytest.mark.parametrize("name, shown", [
    ("Eve\u2028Smith", "U+2028"), ("Eve\u2029Smith", "U+2029"), ("Eve\x85Smith", "U+0085"),
    ("Eve\x0bSmith", "U+000B"), ("Eve\x0cSmith", "U+000C"), ("Eve\x00Smith", "U+0000"),
    (EVIL_WORD, "U+000A"), ("=?utf-8?q?Eve_Smith?=", "encoded word"),
])
def test_2_enrolment_refuses_names_that_could_break_a_header_with_the_line(name, shown):
    from mailflow.enrol import parse_csv
    from mailflow.errors import CsvError

    text = f"role,name,email\nmentor,Ada,ada@example.org\nmentee,\"{name}\",eve@example.org\n"
    with pytest.raises(CsvError) as caught:
        parse_csv(text, "people.csv")
    assert "people.csv:3:" in str(caught.value) and shown in str(caught.value)



# --------------------------------------------------------------------------- 10. a message that kills the process


def _wait(predicate, timeout: float, what: str):
    return wait_until(predicate, timeout, what, every=0.05)


def test_10_a_message_that_kills_the_process_ends_quarantined_after_three(tmp_path, imap_account, smtp_sink):
    """A reply whose processing never ends (here: a coordinator's template that loops
    for ever) is killed by a watchdog each time; the fourth run quarantines it."""
    import subprocess
    import sys

    from clients import outlook_reply
    from harness import Installation, body, set_keys, write_config

    templates = tmp_path / "my-templates" / "introduction"
    templates.mkdir(parents=True)
    config = write_config(tmp_path, imap_account, smtp_sink)
    set_keys(config, "scheme", templates="my-templates")
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in smtp_sink.wait_for(2) if m.rcpt_tos == [MENTOR]]
    smtp_sink.clear()
    (templates / "accepted-mentee.txt").write_text(
        "Subject: x\n\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n")
    mf.account.append(outlook_reply(intro.raw, "Accept", f"Ada <{MENTOR}>"))

    def attempts() -> int:
        with mf.db() as db:
            row = db.execute("SELECT attempts FROM inbound").fetchone()
        return row[0] if row else 0

    exe = [sys.executable, "-m", "mailflow.cli", "--config", str(config), "run-once"]
    env = {**__import__("os").environ, **mf.env}
    for kill in (1, 2, 3):
        proc = subprocess.Popen(exe, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: attempts() == kill, 20, f"attempt {kill} to be counted")
        finally:
            proc.kill()
            proc.wait()
    mf.cli("run-once")
    with mf.db() as db:
        [row] = db.execute("SELECT id, status, attempts, reason FROM inbound").fetchall()
    assert row["status"] == "quarantined" and row["attempts"] == 3
    assert "never finished" in row["reason"]
    [notice] = smtp_sink.wait_for(1)
    assert notice.rcpt_tos == [COORDINATOR] and f"mailflow replay {row['id']}" in body(notice)
    assert [p["state"] for p in mf.status()["pairs"]] == ["introduced"]


# --------------------------------------------------------------------------- 3. one consumer per database


def test_3_a_second_run_once_waits_briefly_then_exits_with_a_clear_message(mf):
    import time

    from harness import set_keys
    from mailflow.lock import ConsumerLock

    set_keys(mf.config, "database", lock_wait_seconds=1)
    mf.cli("pair", MENTEE, MENTOR)
    with ConsumerLock(mf.directory / "mailflow.db") as held:  # as a running `serve` holds it
        held.acquire(0)
        started = time.monotonic()
        proc = mf.cli_process("run-once", expect=1)
        assert 1 <= time.monotonic() - started < 15
        assert "another mailflow" in proc.stderr and "mailflow.db" in proc.stderr and "changed nothing" in proc.stderr
        assert mf.sink.messages == [], "the second consumer sent nothing"
    mf.cli_process("run-once")  # once the first has finished, the next one runs
    mf.sink.wait_for(2)


def test_3_serve_and_run_once_never_both_consume(tmp_path, mf):
    from harness import set_keys

    set_keys(mf.config, "database", lock_wait_seconds=1)
    mf.cli("pair", MENTEE, MENTOR)
    with mf.serving(tmp_path / "serve.log") as proc:
        mf.sink.wait_for(2, timeout=20)
        second = mf.cli_process("run-once", expect=1)
        assert "another mailflow (process " in second.stderr
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_3_process_rechecks_that_the_message_is_still_waiting(tmp_path, smtp_sink):
    """Two consumers with the same list of waiting messages: the second finds each
    one done and changes nothing."""
    from mailflow.clock import CountingTokens
    from mailflow.service import Service

    first = make_service(tmp_path, smtp_sink)
    second = Service(first.config, clock=first.clock, tokens=CountingTokens())
    ids = [first.receive(stranger_mail(f"Someone {i} <someone{i}@example.org>", subject=f"s{i}"), source="test")
           for i in range(3)]
    stale = second.pending()
    assert stale == ids
    assert first.process_pending() == {"ignored": 3}
    queued = first.store.scalar("SELECT count(*) FROM outbox")
    events = first.store.scalar("SELECT count(*) FROM events")
    assert [second.process(i) for i in stale] == ["ignored"] * 3
    assert first.store.scalar("SELECT count(*) FROM outbox") == queued
    assert first.store.scalar("SELECT count(*) FROM events") == events


# --------------------------------------------------------------------------- 4. the send lease and a slow relay


def queue_notes(service, n: int) -> None:
    for i in range(n):
        service.receive(stranger_mail(f"Someone {i} <someone{i}@example.org>", subject=f"s{i}"), source="test")
    assert service.process_pending() == {"ignored": n}


def test_4_a_slow_healthy_relay_never_outlives_a_send_lease(tmp_path, smtp_sink):
    import sqlite3

    from mailflow.clock import iso

    service = make_service(tmp_path, smtp_sink)
    queue_notes(service, 8)
    claimable = []

    def slow(envelope):  # each email takes two minutes to go through
        service.clock.advance(minutes=2)
        with sqlite3.connect(tmp_path / "mailflow.db") as db:
            claimable.extend(db.execute("SELECT id FROM outbox WHERE status = 'sending' AND lease_until < ?",
                                        (iso(service.clock.now()),)).fetchall())

    smtp_sink.on_data(slow)
    results = service.deliver()
    assert [d.status for d in results] == ["sent"] * 8
    assert claimable == [], "rows another sender could have claimed (and sent twice) while this one was busy"
    assert len({m.message["Message-ID"] for m in smtp_sink.messages}) == 8


# --------------------------------------------------------------------------- 5. a black-holed relay


def test_5_a_black_holed_relay_stops_sending_for_the_cycle_backs_off_and_says_so_once(tmp_path, caplog):
    import logging
    import time

    from harness import set_keys
    from mailflow.clock import CountingTokens
    from mailflow.config import load
    from mailflow.service import Service
    from servers import BlackHole

    with BlackHole() as hole:
        first = make_service(tmp_path, hole)
        set_keys(tmp_path / "mailflow.toml", "smtp", timeout_seconds=1)
        service = Service(load(tmp_path / "mailflow.toml"), clock=first.clock, tokens=CountingTokens())
        service.pair(MENTEE, MENTOR)
        queue_notes(service, 3)
        caplog.set_level(logging.WARNING, logger="mailflow")
        started = time.monotonic()
        results = service.deliver()
        assert time.monotonic() - started < 3, "one timeout, not one per queued email"
        assert [d.status for d in results] == ["retrying"]
        assert hole.accepted == 1
        lines = [r.getMessage() for r in caplog.records if "relay" in r.getMessage()]
        assert len(lines) == 1 and "not sending for this cycle: 5 email(s) wait; next try in 60 s" in lines[0]

        assert service.deliver() == [] and hole.accepted == 1, "the relay is left alone while backing off"
        service.clock.advance(seconds=61)
        assert [d.status for d in service.deliver()] == ["retrying"] and hole.accepted == 2
        assert service.store.state("relay")["failures"] == 2  # the pause doubles
        service.clock.advance(seconds=61)
        assert service.deliver() == [] and hole.accepted == 2


# --------------------------------------------------------------------------- 7. database errors


def test_7_a_full_database_stops_the_cycle_with_a_clear_message_and_loses_nothing(tmp_path, smtp_sink):
    from mailflow.store import StoreError

    service = make_service(tmp_path, smtp_sink)
    queue_notes(service, 1)
    inbound_id = service.receive(stranger_mail("Late <late@example.org>"), source="test")
    service.store.conn.execute("VACUUM")  # no free pages left for the writes below to reuse
    pages = service.store.scalar("PRAGMA page_count")
    service.store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    service.store.conn.execute("INSERT INTO events (at, kind) SELECT at, kind FROM events")  # fill the last page
    with pytest.raises(StoreError) as caught:
        service.process_pending()
    message = str(caught.value)
    assert "mailflow.db" in message and "disk is full" in message and "nothing is lost" in message
    row = service.store.one("SELECT status, attempts FROM inbound WHERE id = ?", (inbound_id,))
    assert row == {"status": "received", "attempts": 0}, "a database error is not the message's fault"

    service.store.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert service.process_pending() == {"ignored": 1}
    assert service.store.one("SELECT attempts FROM inbound WHERE id = ?", (inbound_id,))["attempts"] == 1


def _limited(limit_bytes: int):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))

    return limit


def test_7_run_once_exits_non_zero_naming_the_cause_and_serve_retries(tmp_path, mf):
    import os
    import signal
    import subprocess
    import sys

    from harness import set_keys

    for i in range(30):
        mf.account.append(stranger_mail(f"S{i} <s{i}@example.org>", subject="x" * 50, body="y" * 20000))
    db = mf.directory / "mailflow.db"
    wal = tmp_path / "mailflow.db-wal"  # absent when the last connection checkpointed it away
    size = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    exe = [sys.executable, "-m", "mailflow.cli", "--config", str(mf.config)]
    env = {**os.environ, **mf.env}
    proc = subprocess.run([*exe, "run-once"], env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=_limited(size + 64 * 1024))
    assert proc.returncode == 1, proc.stderr
    assert f"database {db}" in proc.stderr and "disk" in proc.stderr and "Traceback" not in proc.stderr

    set_keys(mf.config, "imap", poll_seconds=1)
    with open(tmp_path / "serve.log", "w") as log:
        serve = subprocess.Popen([*exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                 preexec_fn=_limited(size + 64 * 1024))
        try:
            _wait(lambda: (tmp_path / "serve.log").read_text().count("database problem") >= 2, 30,
                  "serve to retry after a database error")
            assert serve.poll() is None, "serve keeps running"
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=20) == 0
    text = (tmp_path / "serve.log").read_text()
    assert "Retrying in 1 s" in text and "Retrying in 2 s" in text and "Traceback" not in text


# --------------------------------------------------------------------------- 8. loops and caps


def test_8_a_robot_answering_everything_gets_no_more_than_the_hard_cap(tmp_path, smtp_sink):
    """A participant's address is a robot that answers every email (and does not say
    it is a robot). Our answers to it are exempt from the daily cap (replies about
    no pair); the hard cap still stops the loop."""
    service = make_service(tmp_path, smtp_sink)
    service.receive(stranger_mail(f"Ada <{MENTOR}>", subject="Hello"), source="test")  # no token: a note
    for round in range(45):
        service.process_pending()
        service.deliver()
        to_robot = [m for m in smtp_sink.messages if m.rcpt_tos == [MENTOR]]
        if len(to_robot) <= round:
            break  # the loop stopped
        last = to_robot[-1].message
        reply = (f"From: Ada <{MENTOR}>\r\nTo: {last['Reply-To'].addresses[0].addr_spec}\r\n"
                 f"Subject: Re: {last['Subject']}\r\nMessage-ID: <robot{round}@hospital.test>\r\n"
                 f"In-Reply-To: {last['Message-ID']}\r\n\r\nThank you for your email.\r\n").encode()
        service.receive(reply, source="test")
    to_robot = [m for m in smtp_sink.messages if m.rcpt_tos == [MENTOR]]
    assert len(to_robot) == 30  # daily_hard_cap_per_recipient
    capped = service.store.all("SELECT data FROM events WHERE kind = 'outbox-capped'")
    assert capped and all("daily_hard_cap_per_recipient" in c["data"] for c in capped)


def test_8_forged_senders_get_a_few_notes_a_day_in_total_not_one_each(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    for i in range(30):
        service.receive(stranger_mail(f"Forged <forged{i}@victims.example>", subject=f"spam {i}"), source="test")
    assert service.process_pending() == {"ignored": 30}
    service.deliver()
    assert len(smtp_sink.messages) == 10  # stranger_notes_per_day
    service.clock.advance(days=1, minutes=1)
    service.receive(stranger_mail("Forged <forged99@victims.example>", subject="next day"), source="test")
    service.process_pending()
    service.deliver()
    assert len(smtp_sink.messages) == 11, "a new day, a new allowance"


# --------------------------------------------------------------------------- 9. who sent it


def mentor_reply(service, smtp_sink, from_header: str, extra_headers: str = "") -> bytes:
    """The mentor's "Accept" to the introduction, with the given From header."""
    from clients import outlook_reply

    raw = outlook_reply(service.intro, "Accept", f"Ada <{MENTOR}>")
    head, sep, body = raw.partition(b"\n\n")
    lines = [l for l in head.split(b"\n") if not l.startswith(b"From:")]
    return (extra_headers.encode() + f"From: {from_header}\n".encode() + b"\n".join(lines) + sep + body)


def introduced(tmp_path, smtp_sink, extra: str = ""):
    service = make_service(tmp_path, smtp_sink, extra=extra)
    service.pair(MENTEE, MENTOR)
    service.deliver()
    [service.intro] = [m.raw for m in smtp_sink.wait_for(2) if m.rcpt_tos == [MENTOR]]
    return service


@pytest.mark.parametrize("from_header", [
    f"Ada <{MENTOR}>, Mallory <mallory@evil.example>",  # two mailboxes
    f"{MENTOR} <mallory@evil.example>",  # parsers disagree
    f"mallory@evil.example)<{MENTOR}>",  # CVE-2023-27043's shape
    f"<{MENTOR}>mallory@evil.example",
    f'"{MENTOR}" <mallory@evil.example>',  # the participant's address as a display name
    f'"mallory@evil.example" <{MENTOR}>',  # another address in the display name
    f'"mallory@evil.example"@{MENTOR.split("@")[1]}',  # a quoted local part
])
def test_9_an_ambiguous_from_does_not_count_as_the_participant(tmp_path, smtp_sink, from_header):
    service = introduced(tmp_path, smtp_sink)
    smtp_sink.clear()
    inbound_id = service.receive(mentor_reply(service, smtp_sink, from_header), source="test")
    assert service.process(inbound_id) == "ignored"
    reason = service.store.scalar("SELECT reason FROM inbound WHERE id = ?", (inbound_id,))
    assert reason.startswith("unverified-sender:")
    assert [p["state"] for p in service.store.pairs()] == ["introduced"]
    service.deliver()
    assert smtp_sink.messages == [], "nothing is sent to an address we cannot trust"


def test_9_two_from_headers_do_not_count(tmp_path, smtp_sink):
    service = introduced(tmp_path, smtp_sink)
    raw = mentor_reply(service, smtp_sink, f"Ada <{MENTOR}>", extra_headers="From: mallory@evil.example\n")
    assert service.process(service.receive(raw, source="test")) == "ignored"
    assert [p["state"] for p in service.store.pairs()] == ["introduced"]


@pytest.mark.parametrize("headers, acts", [
    ("", True),  # no verdict: the token and the From decide, as before
    ("Authentication-Results: mx.scheme.test; dkim=pass header.d=hospital.test; dmarc=pass header.from=hospital.test\n", True),
    ("Authentication-Results: mx.scheme.test; spf=fail smtp.mailfrom=hospital.test; dmarc=fail header.from=hospital.test\n", False),
    # Our server's verdict is on top; a forged "pass" below it, under the same name, is ignored.
    ("Authentication-Results: mx.scheme.test; dmarc=fail header.from=hospital.test\n"
     "Authentication-Results: mx.scheme.test; dmarc=pass header.from=hospital.test\n", False),
    # Another server's verdict means nothing.
    ("Authentication-Results: other.example; dmarc=fail header.from=hospital.test\n", True),
    ("Authentication-Results: mx.scheme.test; dkim=fail header.d=hospital.test\n", False),  # aligned DKIM fail
    ("Authentication-Results: mx.scheme.test; dkim=fail header.d=mailinglist.example\n", True),  # not aligned
    ("Authentication-Results: mx.scheme.test; dkim=fail header.d=hospital.test; dkim=pass header.d=hospital.test\n", True),
])
def test_9_a_trusted_dmarc_or_aligned_dkim_fail_stops_a_reply_from_acting(tmp_path, smtp_sink, headers, acts):
    service = introduced(tmp_path, smtp_sink, extra='[imap]\ntrusted_authserv_id = "mx.scheme.test"\n')
    inbound_id = service.receive(mentor_reply(service, smtp_sink, f"Ada <{MENTOR}>", extra_headers=headers),
                                 source="test")
    status = service.process(inbound_id)
    state = service.store.pairs()[0]["state"]
    if acts:
        assert (status, state) == ("processed", "getting-to-know")
    else:
        assert (status, state) == ("ignored", "introduced")
        assert "unverified-sender" in service.store.scalar("SELECT reason FROM inbound WHERE id = ?", (inbound_id,))


@pytest.mark.parametrize("from_header", [
    f"Ada <{MENTOR}>", f'"Byron, Ada (Dr)" <{MENTOR}>', f"=?utf-8?q?Ada_Byron?= <{MENTOR}>", MENTOR,
    f'"Ada Byron ({MENTOR})" <{MENTOR}>', f"Ada <{MENTOR.upper()}>",
])
def test_9_ordinary_from_headers_still_count(tmp_path, smtp_sink, from_header):
    service = introduced(tmp_path, smtp_sink)
    assert service.process(service.receive(mentor_reply(service, smtp_sink, from_header), source="test")) == "processed"
    assert service.store.pairs()[0]["state"] == "getting-to-know"


# --------------------------------------------------------------------------- 6. large mail


def big_mail(sender: str, megabytes: float, subject: str = "My CV", n: int = 0) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "scheme@example.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<big{n}.{megabytes}@example.test>"
    msg.set_content("Please see the attached file.\n")
    msg.add_attachment(__import__("os").urandom(int(megabytes * 1024 * 1024 * 3 / 4)), maintype="application",
                       subtype="octet-stream", filename="cv.bin")
    return msg.as_bytes()


def test_6_a_message_over_max_message_mb_is_kept_as_headers_quarantined_and_the_sender_told(tmp_path, imap_account,
                                                                                            smtp_sink):
    from harness import Installation, body, set_keys, write_config

    config = write_config(tmp_path, imap_account, smtp_sink)
    set_keys(config, "imap", max_message_mb=1)
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    big_uid = mf.account.append(big_mail(f"Ada <{MENTOR}>", 3))
    mf.account.append(big_mail(f"Ada <{MENTOR}>", 0.5, subject="small", n=1))
    mf.cli("run-once")
    with mf.db() as db:
        rows = [dict(r) for r in db.execute("SELECT status, reason, size, original_size FROM inbound ORDER BY id")]
    assert rows[0]["status"] == "quarantined" and "over [imap] max_message_mb = 1" in rows[0]["reason"]
    assert rows[0]["original_size"] > 3_000_000 and rows[0]["size"] < 20_000, "only the headers were kept"
    assert rows[1]["status"] != "quarantined" and rows[1]["original_size"] is None
    notes = [m for m in smtp_sink.wait_for(2) if m.rcpt_tos == [MENTOR]]
    assert any("was too large" in str(m.message["Subject"]) and "more than the 1 MB" in body(m) for m in notes)
    assert "\\Flagged" in mf.account.flags(big_uid), "left in the mailbox for a person"


def test_6_fetching_in_batches_by_bytes_makes_progress_over_a_link_that_breaks(tmp_path, imap_account, smtp_sink):
    """A link that resets every connection after 1.5 MB: a FETCH of everything at
    once never completes; batches of about 1 MB, each stored, get through."""
    from harness import Installation, write_config
    from proxy import Proxy

    with Proxy(imap_account.host, imap_account.port) as proxy:
        config = write_config(tmp_path, imap_account, smtp_sink, imap_port=proxy.port)
        mf = Installation(tmp_path, config, imap_account, smtp_sink)
        mf.enrol()
        mf.account.append_many([big_mail(f"S{i} <s{i}@example.org>", 0.06, subject=f"m{i}", n=i) for i in range(40)])
        proxy.cut_after = 1_500_000
        for run in range(8):
            mf.cli_process("run-once", expect=None)
            with mf.db() as db:
                stored = db.execute("SELECT count(*) FROM inbound").fetchone()[0]
            if stored == 40:
                break
        assert stored == 40, f"only {stored} of 40 messages stored after {run + 1} runs"
        assert run >= 1, "the link did break"


MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, proc.returncode)
sys.stderr.write(proc.stderr)
"""


def peak_rss_mb(mf, *args: str) -> tuple[int, int, str]:
    """Run ``mailflow ARGS`` in a child process: its peak resident memory in MB, its
    exit status and its stderr."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "mailflow.cli", "--config",
                           str(mf.config), *args], capture_output=True, text=True, env={**os.environ, **mf.env},
                          timeout=300)
    peak, status = proc.stdout.split()
    return int(peak), int(status), proc.stderr


def test_6_peak_memory_stays_under_200_mb_whatever_arrives(mf):
    """A 9.5 MB message (under the default 10 MB limit) and a 60 MB one (over it)."""
    mf.account.append(big_mail(f"Ada <{MENTOR}>", 9.5, n=1))
    mf.account.append(big_mail(f"Ada <{MENTOR}>", 60, n=2))
    peak, status, err = peak_rss_mb(mf, "run-once")
    assert status == 0, err
    with mf.db() as db:
        rows = [tuple(r) for r in db.execute("SELECT status, original_size IS NULL FROM inbound ORDER BY id")]
    assert rows[0][1] == 1 and rows[1] == ("quarantined", 0)
    print(f"peak memory of run-once: {peak} MB")
    assert peak < 200, f"peak memory {peak} MB"


# --------------------------------------------------------------------------- 11. sign-in


@pytest.fixture(scope="module")
def oauth_dovecot():
    """A Dovecot whose users can also sign in with OAuth2 tokens, checked by its oauth2
    passdb against a local RFC 7662 introspection endpoint."""
    from servers import Dovecot, Introspection

    with Introspection() as introspection, Dovecot(oauth2_introspection_url=introspection.url) as server:
        server.introspection = introspection
        yield server


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_11_oauth2_sign_in_to_imap_and_smtp_with_a_token_command(tmp_path, oauth_dovecot, mechanism):
    import stat

    from clients import outlook_reply
    from harness import Installation, set_keys, write_config

    account = oauth_dovecot.add_user()
    token = f"token-{mechanism}-{account.username}"
    oauth_dovecot.introspection.tokens[token] = account.username
    with SmtpSink(oauth2_tokens={token: "relay-user"}) as sink:
        helper = tmp_path / "get-token"
        helper.write_text(f"#!/bin/sh\necho {token}\n")
        helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
        config = write_config(tmp_path, account, sink)
        set_keys(config, "imap", auth=mechanism, oauth2_token_command=str(helper), password_env=None)
        set_keys(config, "smtp", auth=mechanism, oauth2_token_command=f"{helper} --for smtp", username="relay-user")
        mf = Installation(tmp_path, config, account, sink)
        mf.enrol()
        checked = mf.cli_process("check", expect=None)
        assert "FAIL" not in checked.stdout, checked.stdout + oauth_dovecot.log_text(40)
        mf.cli("pair", MENTEE, MENTOR)
        out = mf.cli_process("run-once", expect=None)
        assert out.returncode == 0, out.stderr + "\n" + oauth_dovecot.log_text(30)
        [intro] = [m for m in sink.wait_for(2) if m.rcpt_tos == [MENTOR]]
        assert intro.auth_login == "relay-user"
        account.append(outlook_reply(intro.raw, "Accept", f"Ada <{MENTOR}>"))
        mf.cli("run-once")
        assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]
        assert token in oauth_dovecot.introspection.asked

        # An expired (unknown) token: a clear message, not a traceback.
        helper.write_text("#!/bin/sh\necho expired-token\n")
        out = mf.cli("run-once", expect=1)
        assert f"refused the {mechanism.upper()} sign-in" in out and "may have expired" in out


def test_11_a_token_file_and_a_failing_token_command(tmp_path, oauth_dovecot):
    from harness import Installation, set_keys, write_config

    account = oauth_dovecot.add_user()
    oauth_dovecot.introspection.tokens["file-token"] = account.username
    (tmp_path / "token").write_text("file-token\n")
    (tmp_path / "token").chmod(0o600)
    with SmtpSink() as sink:
        config = write_config(tmp_path, account, sink)
        set_keys(config, "imap", auth="xoauth2", oauth2_token_file="token", password_env=None)
        mf = Installation(tmp_path, config, account, sink)
        out = mf.cli("check")
        assert f"IMAP login as {account.username}" in out and "FAIL" not in out
        set_keys(config, "imap", oauth2_token_file=None, oauth2_token_command="/bin/false")
        out = mf.cli("check", expect=1)
        assert "oauth2_token_command exited 1" in out


@pytest.mark.parametrize("host, allowed, refused", [
    ("imap.example.org", False, True), ("imap.example.org", True, False), ("192.0.2.7", False, True),
    ("127.0.0.1", False, False), ("localhost", False, False), ("::1", False, False),
])
def test_11_tls_none_is_refused_for_a_host_that_is_not_this_machine(tmp_path, host, allowed, refused):
    from mailflow.config import parse
    from mailflow.errors import ConfigError

    text = (f'[scheme]\nname = "S"\naddress = "s@example.org"\ncoordinators = ["c@example.org"]\n'
            f'[imap]\nhost = "{host}"\nusername = "u"\ntls = "none"\nallow_plaintext = {str(allowed).lower()}\n'
            f'[outbox]\ntransport = "maildir"\nmaildir = "out"\n')
    if refused:
        with pytest.raises(ConfigError) as caught:
            parse(text, tmp_path / "mailflow.toml")
        assert "[imap] tls" in str(caught.value) and "allow_plaintext = true" in str(caught.value)
    else:
        assert parse(text, tmp_path / "mailflow.toml").imap.tls == "none"


def test_11_a_password_file_readable_by_others_is_warned_about(tmp_path, mf, caplog):
    import logging

    from harness import set_keys

    secret = tmp_path / "imap-password"
    secret.write_text(mf.account.password + "\n")
    secret.chmod(0o644)
    set_keys(mf.config, "imap", password_env=None, password_file=str(secret))
    out = mf.cli("check")
    assert f"warn  config: [imap] password_file {secret} is readable by other users" in out
    assert f"chmod 600 {secret}" in out
    caplog.set_level(logging.WARNING, logger="mailflow")
    mf.cli("run-once")
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
    secret.chmod(0o600)
    assert "readable by other users" not in mf.cli("check")


def test_4_rows_left_sending_by_a_dead_process_are_sent_again_by_the_next_consumer(mf):
    """The consumer lock means no one else is sending: rows left 'sending' by a process
    that died mid-send go out again at once, with the same Message-ID, not after the lease."""
    from mailflow.clock import SystemClock
    from mailflow.config import load
    from mailflow.outbox import claim
    from mailflow.service import Service

    mf.cli("pair", MENTEE, MENTOR)
    service = Service(load(mf.config), clock=SystemClock())
    claimed = claim(service.store, service.clock.now())  # ... and then the process is killed
    service.close()
    assert len(claimed) == 2
    mf.cli("run-once")
    ids = sorted(m.message["Message-ID"].strip("<>") for m in mf.sink.wait_for(2))
    assert ids == sorted(r["message_id"] for r in claimed)
