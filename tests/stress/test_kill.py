"""kill: a backlog of replies through ``serve`` and ``run-once``, SIGKILLed at random
moments and restarted, against the real Dovecot and a real SMTP server.

Afterwards every reply has one final status, no state change was applied twice,
nothing queued was lost, and every duplicate send carries the Message-ID of its
first copy and is counted against the kills (at most two emails are in flight in
``serve``: its cycle and its scheduler).

CI: ``--kills 10 --replies 1000``. The long run: ``scripts/stress kill``
(``--kills 100``). The figures are printed at the end of the run.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from clients import outlook_reply
from harness import Installation, set_keys, write_config
from mailflow.config import load
from mailflow.service import Service
from servers import SmtpSink

from figures import report


def people(n: int) -> str:
    rows = ["role,name,email", "coordinator,Jo Coordinator,coordinator@scheme.test"]
    for i in range(n):
        rows += [f"mentor,Mentor {i},mentor{i}@hospital.test", f"mentee,Mentee {i},mentee{i}@university.test"]
    return "\n".join(rows) + "\n"


def backlog(mf: Installation, n: int) -> int:
    """Pair n mentees with n mentors (in-process: setting up, not under test), and put
    each mentor's "Accept" to the introduction in the mailbox. Returns the number of
    outbox rows the setup made (they are marked sent: not part of the test)."""
    service = Service(load(mf.config))
    for i in range(n):
        service.pair(f"mentee{i}@university.test", f"mentor{i}@hospital.test")
    intros = service.store.all("SELECT to_addr, raw FROM outbox WHERE template = 'introduction/to-mentor' ORDER BY id")
    with service.store.transaction():
        service.store.conn.execute("UPDATE outbox SET status = 'sent'")
    setup_rows = service.store.scalar("SELECT max(id) FROM outbox")
    service.close()
    replies = [outlook_reply(r["raw"], "Accept", f"Mentor <{r['to_addr']}>") for r in intros]
    for start in range(0, len(replies), 250):
        mf.account.append_many(replies[start:start + 250])
    return setup_rows


def remaining(directory, n: int) -> int:
    """Replies not yet processed plus emails not yet sent (the mailbox counts as unread)."""
    with sqlite3.connect(directory / "mailflow.db") as db:
        stored, waiting, unsent = db.execute(
            "SELECT (SELECT count(*) FROM inbound), (SELECT count(*) FROM inbound WHERE status = 'received'), "
            "(SELECT count(*) FROM outbox WHERE status != 'sent')").fetchone()
    return (n - stored) + waiting + unsent


def lock_holder(mf: Installation) -> str:
    try:
        return (mf.directory / "mailflow.db.lock").read_text().strip()
    except OSError:
        return ""


def test_kill(tmp_path, imap_account, request):
    kills = request.config.getoption("--kills")
    n = request.config.getoption("--replies")
    seed = request.config.getoption("--seed") or random.randrange(1 << 30)
    rng = random.Random(seed)
    with SmtpSink() as sink:
        config = write_config(tmp_path, imap_account, sink, poll_seconds=1)
        set_keys(config, "smtp", timeout_seconds=5)
        mf = Installation(tmp_path, config, imap_account, sink)
        mf.enrol(people(n))
        setup_rows = backlog(mf, n)

        exe = [sys.executable, "-m", "mailflow.cli", "--config", str(config)]
        env = {**os.environ, **mf.env}
        killed, busy, runs, started = 0, 0, 0, time.monotonic()
        log = open(tmp_path / "runs.log", "w")
        while killed < kills:
            command = "serve" if runs % 2 == 0 else "run-once"
            proc = subprocess.Popen([*exe, command], env=env, stdout=log, stderr=subprocess.STDOUT)
            runs += 1
            # Kill at a random moment once it is at work (it holds the consumer lock).
            deadline = time.monotonic() + 30
            while lock_holder(mf) != str(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                proc.wait(timeout=rng.uniform(0.0, 1.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                busy += remaining(tmp_path, n) > 0
        # Then run to the end without kills.
        for _ in range(30):
            subprocess.run([*exe, "run-once"], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
            if remaining(tmp_path, n) == 0:
                break
        log.close()
        elapsed = time.monotonic() - started

        db = sqlite3.connect(tmp_path / "mailflow.db")
        statuses = collections.Counter(s for (s,) in db.execute("SELECT status FROM inbound"))
        twice = db.execute("""SELECT pair_id, count(*) FROM events WHERE kind = 'state'
                              AND json_extract(data, '$.state_to') = 'getting-to-know'
                              GROUP BY pair_id HAVING count(*) > 1""").fetchall()
        accepted = db.execute("SELECT count(*) FROM pairs WHERE state = 'getting-to-know'").fetchone()[0]
        rows = db.execute("SELECT message_id, status FROM outbox WHERE id > ?", (setup_rows,)).fetchall()
        db.close()
        copies = collections.Counter(m.message["Message-ID"].strip("<>") for m in sink.messages)
        queued = {mid for mid, _ in rows}
        lost = [mid for mid, status in rows if status != "sent" or mid not in copies]
        duplicates = sum(c - 1 for c in copies.values())
        strangers = [mid for mid in copies if mid not in queued]

        report(request, f"kill: {n} replies, {runs} runs, {killed} SIGKILLs ({busy} with work left; seed {seed}), {elapsed:.0f} s; "
                        f"outcomes {dict(statuses)}; pairs accepted {accepted}; applied twice {len(twice)}; "
                        f"emails queued {len(rows)}, lost {len(lost)}, duplicate sends {duplicates}")
        assert sum(statuses.values()) == n, f"every reply stored once: {dict(statuses)}"
        assert statuses.get("received", 0) == 0, "every reply has a final status"
        assert twice == [], f"state changes applied twice: {twice[:5]}"
        assert accepted == statuses["processed"], "each processed reply accepted its pair, exactly once"
        assert lost == [], f"{len(lost)} emails lost or not sent"
        assert strangers == [], "every email sent was one queued (a duplicate has the same Message-ID)"
        assert duplicates <= 2 * killed, f"{duplicates} duplicate sends for {killed} kills"
