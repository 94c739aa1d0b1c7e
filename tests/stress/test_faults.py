"""faults: the bad days, scripted, against real servers.

- SMTP, through a scripted aiosmtpd server: 451 then success, 550, 552, the
  connection dropped in the middle of DATA, and a black hole (accepts, never answers).
- IMAP, through a TCP proxy in front of Dovecot: the connection cut in the middle of
  a FETCH, and an IDLE that goes silent without a FIN.
- The disk under the database fills up while ``serve`` runs, then is freed.
- Two consumers at once: ``serve`` and a loop of ``run-once`` on one database.

Each ends with nothing lost and nothing done twice. ``scripts/stress faults`` runs
them alone; CI runs them with the rest.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from clients import outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, Installation, make_service, set_keys, wait_until, write_config
from proxy import Proxy
from servers import BlackHole


# --------------------------------------------------------------------------- SMTP


@pytest.mark.parametrize("fault, first, then", [
    ("451 then success", "retrying", "sent"),
    ("552 then success", "retrying", "sent"),
    ("550", "failed", None),
    ("dropped mid-DATA", "retrying", "sent"),
])
def test_smtp_fault(tmp_path, smtp_sink, fault, first, then):
    service = make_service(tmp_path, smtp_sink)
    if fault.startswith("451"):
        smtp_sink.fail_next(451)
    elif fault.startswith("552"):
        smtp_sink.fail_next(552)
    elif fault == "550":
        smtp_sink.refuse_recipient(MENTOR, 550)
    else:
        smtp_sink.drop_next()
    service.pair(MENTEE, MENTOR)  # the introduction to the mentor is queued first
    results = {d.to_addr: d.status for d in service.deliver()}
    assert results[MENTOR] == first
    service.clock.advance(minutes=5)
    later = {d.to_addr: d.status for d in service.deliver()}
    if then:
        assert later[MENTOR] == then
        copies = [m for m in smtp_sink.messages if m.rcpt_tos == [MENTOR]]
        assert len(copies) == 1, "delivered once"
    else:
        assert service.store.participant_by_email(MENTOR)["status"] == "bouncing"
        assert any(m.rcpt_tos == [COORDINATOR] and "could not be delivered" in str(m.message["Subject"])
                   for m in smtp_sink.messages)
    rows = service.store.all("SELECT status FROM outbox")
    assert all(r["status"] in ("sent", "failed") for r in rows), rows


def test_smtp_black_hole_does_not_hold_up_inbound_mail(tmp_path):
    from mailflow.config import load
    from mailflow.runner import run_once
    from mailflow.service import Service

    with BlackHole() as hole:
        make_service(tmp_path, hole).close()
        set_keys(tmp_path / "mailflow.toml", "smtp", timeout_seconds=1)
        service = Service(load(tmp_path / "mailflow.toml"))  # fresh tokens: the first service used some
        service.pair(MENTEE, MENTOR)
        for i in range(20):
            service.receive(f"From: s{i}@example.org\r\nSubject: x\r\nMessage-ID: <{i}@x>\r\n\r\nhi\r\n".encode(),
                            source="test")
        started = time.monotonic()
        report = run_once(service, None)
        took = time.monotonic() - started
        assert report.processed == {"ignored": 20}, "inbound mail is processed"
        assert took < 5, f"one timeout, not one per email ({took:.1f} s)"
        assert hole.accepted == 1
        assert run_once(service, None).deliveries == [], "the relay is left alone for a while"


# --------------------------------------------------------------------------- IMAP


def introduce(mf: Installation) -> bytes:
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in mf.sink.wait_for(2) if m.rcpt_tos == [MENTOR]]
    return intro.raw


def test_imap_idle_that_goes_silent_is_noticed_and_mail_still_arrives(tmp_path, imap_account, smtp_sink):
    with Proxy(imap_account.host, imap_account.port) as proxy:
        config = write_config(tmp_path, imap_account, smtp_sink, imap_port=proxy.port, poll_seconds=2)
        set_keys(config, "imap", timeout_seconds=3)
        mf = Installation(tmp_path, config, imap_account, smtp_sink)
        mf.enrol()
        intro = introduce(mf)
        with mf.serving(tmp_path / "serve.log") as proc:
            wait_until(lambda: proxy.connections >= 1, 15, "serve to connect")
            time.sleep(1.5)  # into IDLE
            assert proxy.stall() >= 1
            connections = proxy.connections
            started = time.monotonic()
            mf.account.append(outlook_reply(intro, "Accept", f"Ada <{MENTOR}>"))
            wait_until(lambda: len(mf.sink.messages) >= 4, 30, "the reply to be processed")
            took = time.monotonic() - started
            assert proxy.connections > connections, "it reconnected"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        assert took < 20
        assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


def test_imap_connection_cut_mid_fetch_under_serve(tmp_path, imap_account, smtp_sink):
    with Proxy(imap_account.host, imap_account.port) as proxy:
        config = write_config(tmp_path, imap_account, smtp_sink, imap_port=proxy.port, poll_seconds=1)
        mf = Installation(tmp_path, config, imap_account, smtp_sink)
        mf.enrol()
        raws = [(f"From: S{i} <s{i}@example.org>\r\nTo: x@y\r\nSubject: {i}\r\nMessage-ID: <cut{i}@x>\r\n\r\n"
                 + "word " * 12000 + "\r\n").encode() for i in range(40)]
        mf.account.append_many(raws)
        proxy.cut_after = 1_200_000
        with mf.serving(tmp_path / "serve.log") as proc:
            wait_until(lambda: _count(tmp_path, "SELECT count(*) FROM inbound WHERE status != 'received'") == 40,
                       60, "all 40 messages to be fetched and processed")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        assert _count(tmp_path, "SELECT count(*) FROM inbound") == 40, "each stored once"
        assert "connection problem" in (tmp_path / "serve.log").read_text()


def _count(directory: Path, sql: str) -> int:
    with sqlite3.connect(directory / "mailflow.db" if directory.is_dir() else directory) as db:
        return db.execute(sql).fetchone()[0]


# --------------------------------------------------------------------------- the disk


@pytest.fixture
def small_disk():
    """A 16 MB tmpfs for the database (root only: CI runs as root)."""
    where = Path(tempfile.mkdtemp(prefix="mf-disk-", dir="/tmp"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"cannot mount a tmpfs for the disk-full test (run as root): {proc.stderr}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def fill(where: Path) -> Path:
    filler = where / "filler"
    # Unbuffered: a write that fills the disk half way leaves nothing in a buffer for
    # close() to fail on.
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_disk_full_under_serve_then_freed(tmp_path, imap_account, smtp_sink, small_disk):
    config = write_config(tmp_path, imap_account, smtp_sink, poll_seconds=1)
    config.write_text(config.read_text().replace('path = "mailflow.db"', f'path = "{small_disk / "mailflow.db"}"'))
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    mf.cli("pair", MENTEE, MENTOR)
    log = tmp_path / "serve.log"
    with mf.serving(log) as proc:
        # The welcomes of enrolment go in the same cycle: wait for the two introductions themselves.
        introductions = lambda: [m for m in smtp_sink.messages  # noqa: E731
                                 if str(m.message["X-Mailflow-Template"]).startswith("introduction/")]
        wait_until(lambda: len(introductions()) >= 2, 20, "the introductions")
        [intro] = [m for m in introductions() if m.rcpt_tos == [MENTOR]
                   and m.message["X-Mailflow-Template"] == "introduction/to-mentor"]
        filler = fill(small_disk)
        for i in range(5):  # a reply, and enough other mail to need new pages
            mf.account.append((f"From: s{i}@example.org\r\nSubject: x\r\nMessage-ID: <full{i}@x>\r\n\r\n"
                               + "z" * 200000 + "\r\n").encode())
        mf.account.append(outlook_reply(intro.raw, "Accept", f"Ada <{MENTOR}>"))
        wait_until(lambda: "database problem" in log.read_text(), 30, "serve to meet the full disk")
        assert proc.poll() is None, "serve keeps running"
        filler.unlink()
        wait_until(lambda: any(m.message["X-Mailflow-Template"] == "introduction/accepted-mentor"
                               for m in smtp_sink.messages), 60, "the reply to be processed once the disk has room")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    text = log.read_text()
    assert "disk" in text and "Traceback" not in text
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


# --------------------------------------------------------------------------- two consumers


def test_two_consumers_at_once_never_act_twice(tmp_path, imap_account, smtp_sink):
    config = write_config(tmp_path, imap_account, smtp_sink, poll_seconds=1)
    set_keys(config, "database", lock_wait_seconds=1)
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    n = 60
    mf.enrol("role,name,email\ncoordinator,Jo,coordinator@scheme.test\n" + "".join(
        f"mentor,M{i},m{i}@hospital.test\nmentee,E{i},e{i}@university.test\n" for i in range(n)))
    for i in range(n):
        mf.cli("pair", f"e{i}@university.test", f"m{i}@hospital.test")
    mf.cli("run-once")
    intros = [m for m in smtp_sink.wait_for(2 * n) if m.rcpt_tos[0].startswith("m")]
    smtp_sink.clear()
    exe = [sys.executable, "-m", "mailflow.cli", "--config", str(config), "run-once"]
    env = {**os.environ, **mf.env}
    with mf.serving(tmp_path / "serve.log") as proc:
        mf.account.append_many([outlook_reply(m.raw, "Accept", f"M <{m.rcpt_tos[0]}>") for m in intros])
        busy = 0
        for _ in range(6):  # a cron job that overlaps serve
            busy += subprocess.run(exe, env=env, capture_output=True, text=True, timeout=60).returncode == 1
        wait_until(lambda: _count(tmp_path, "SELECT count(*) FROM pairs WHERE state = 'getting-to-know'") == n, 60,
                   "every reply to be processed")
        wait_until(lambda: len(smtp_sink.messages) >= 2 * n, 60, "the confirmations")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert busy == 6, "each run-once found serve at work and changed nothing"
    twice = _count(tmp_path, """SELECT count(*) FROM (SELECT pair_id FROM events WHERE kind = 'state'
                                GROUP BY pair_id, json_extract(data, '$.state_to') HAVING count(*) > 1)""")
    assert twice == 0
    ids = [m.message["Message-ID"] for m in smtp_sink.messages]
    assert len(ids) == len(set(ids)) == 2 * n
