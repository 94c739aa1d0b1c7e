#!/usr/bin/env python3
"""mailflow's speed, measured: one command, one table (issue 12).

    scripts/bench                  # the full run (about 10 minutes on 2 cores)
    scripts/bench --small          # the CI size: every figure, on small data (~1 minute)

Each row is a figure, its target, the ratio where the target is relative, and
whether it is met. It builds its own data: a database of any size
(:mod:`benchmarks.gen`), a backlog of realistic replies in a real Dovecot (the
introductions answered by ACCEPT and its synonyms, 80 % multipart with HTML, the
answer over the quoted email, as tests/clients.py writes them), and a real SMTP
server in a process of its own. The baselines run in the same run, on the same
messages:

- **raw limit**: bulk ``UID FETCH`` in mailflow's batch sizes, and the standard
  library's parsing of each message (``email.message_from_bytes`` with the default
  policy, the text and HTML bodies read);
- **naive poller**: fetch one message, parse it, look its token up, change the pair's
  state, build two answers with the email package, commit, send both.

Then ``mailflow run-once`` works through the same backlog from the command line.
The suite never fails for being slow: it prints what it measured. ``--json FILE``
also writes the rows as JSON (the CI test reads them).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

import clients  # noqa: E402
from gen import generate  # noqa: E402
from harness import write_config  # noqa: E402
from servers import Dovecot  # noqa: E402

EXE = Path(sys.executable).with_name("mailflow")
ANSWERS = ["ACCEPT", "Accept", "Yes, happy to.", "Happy to help!", "accept - looking forward to meeting them",
           "I'd be happy to", "Accepted, thanks", "Sure"]
BUILDERS = [clients.outlook_reply, clients.gmail_reply, clients.outlook_reply, clients.gmail_reply, clients.mutt_reply]


@dataclass
class Row:
    name: str
    value: float | None
    unit: str
    target: str = ""
    ok: bool | None = None
    ratio: str = ""
    note: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    machine: dict = field(default_factory=dict)

    def add(self, *args, **kw) -> Row:
        row = Row(*args, **kw)
        self.rows.append(row)
        print(f"  .. {row.name}: {fmt(row.value)} {row.unit} {row.note}", flush=True)
        return row


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if v < 10 else f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"
    return f"{v:,}"


# --------------------------------------------------------------------------- helpers


class Sink:
    """benchmarks/sink.py in a process of its own."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "sink.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])
        self.host = "127.0.0.1"

    def count(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


_rss_samples: list[int] = []
_hwm: list[int] = []


def _sample_rss(proc: subprocess.Popen) -> None:
    """Every 50 ms, the child's (and its children's) RSS in MB, into _rss_samples, and
    its high-water mark (VmHWM) into _hwm.

    The peak is VmHWM, not the ``ru_maxrss`` that ``wait4`` reports: Linux carries
    ``ru_maxrss`` over ``execve``, so a child's figure includes the RSS of this process
    (the parent it was forked from, which holds the backlog while building it)."""
    import threading

    def loop():
        while proc.poll() is None:
            total = hwm = 0
            for pid in [proc.pid, *_children(proc.pid)]:
                try:
                    for line in open(f"/proc/{pid}/status"):
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) // 1024
                        elif line.startswith("VmHWM:"):
                            hwm += int(line.split()[1]) // 1024
                except OSError:
                    pass
            if total:
                _rss_samples.append(total)
                _hwm.append(hwm)
            time.sleep(float(os.environ.get("MF_BENCH_RSS_INTERVAL", "0.05")))

    threading.Thread(target=loop, daemon=True).start()


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def run(args: list[str], env: dict, timeout: float = 3600) -> tuple[float, int, str]:
    """Run a command; (wall seconds, peak RSS in MB of the child, output)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _rss_samples.clear()
    _hwm.clear()
    _sample_rss(proc)
    out, _ = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - start
    rss = max(_hwm, default=0) or _child_rss.pop(proc.pid, 0)  # see _sample_rss
    _child_rss.pop(proc.pid, None)
    last_cpu[0] = _child_cpu.pop(proc.pid, 0.0)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{out[-3000:]}")
    return wall, rss, out


_child_rss: dict[int, int] = {}
_child_cpu: dict[int, float] = {}  # its CPU seconds (user + system): steadier than wall time on a shared machine
last_cpu = [0.0]  # the CPU seconds of the last command run()


def _wait_with_rusage(pid, options):  # subprocess waits with os.waitpid; keep each child's peak RSS
    got, status, usage = os.wait4(pid, options)
    if got:
        _child_rss[got] = usage.ru_maxrss // 1024
        _child_cpu[got] = usage.ru_utime + usage.ru_stime
    return got, status


os.waitpid = _wait_with_rusage


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "load_before": os.getloadavg()}


def rate_row(table: Table, name: str, n: int, seconds: float, note: str = "") -> float:
    rate = n / seconds if seconds else 0.0
    table.add(name, rate, "replies/s", note=note or f"{n} in {seconds:.1f} s")
    return rate


# --------------------------------------------------------------------------- the backlog


def backlog(table: Table, work: Path, dovecot: Dovecot, n: int) -> None:
    from mailflow.config import load
    from mailflow.service import Service

    print(f"backlog: {n} replies", flush=True)
    account = dovecot.add_user()
    sink = Sink()
    try:
        env = {**os.environ, "MF_TEST_IMAP_PASSWORD": account.password}
        os.environ["MF_TEST_IMAP_PASSWORD"] = account.password
        # One real introduction, rendered by mailflow, to quote in every reply.
        scratch = work / "scratch"
        scratch.mkdir()
        config = write_config(scratch, account, sink)
        service = Service(load(config))
        from mailflow.enrol import parse_csv

        service.enrol(parse_csv("role,name,email\ncoordinator,Jo Coordinator,coordinator@scheme.test\n"
                                "mentor,Scratch Mentor,scratch-mentor@hospital.test\n"
                                "mentee,Scratch Mentee,scratch-mentee@university.test\n"))
        service.pair("scratch-mentee@university.test", "scratch-mentor@hospital.test")
        intro = service.store.one("SELECT o.raw, t.token FROM outbox o JOIN tokens t ON t.outbox_id = o.id "
                                  "WHERE o.template = 'introduction/to-mentor'")
        service.close()
        # The scheme: n pairs waiting for the mentor's answer.
        db_dir = work / "backlog"
        db_dir.mkdir()
        config = write_config(db_dir, account, sink, poll_seconds=1)
        got = generate(db_dir / "mailflow.db", 2 * n + 1, 0, introduced=n, scheme_address=account.username)
        rnd = random.Random(7)
        replies = []
        for i, (_pid, mentor, token) in enumerate(got["introduced"]):
            number = mentor.split("@")[0].removeprefix("mentor")
            raw = (intro["raw"].replace(intro["token"].encode(), token.encode())
                   .replace(b"scratch-mentor@hospital.test", mentor.encode())
                   .replace(b"Scratch Mentor", f"Mentor Number {number}".encode())
                   .replace(b"Scratch Mentee", f"Mentee Number {number}".encode()))
            build = BUILDERS[i % len(BUILDERS)]
            replies.append(build(raw, rnd.choice(ANSWERS), f"Mentor Number {number} <{mentor}>"))
        multipart = sum(b"multipart/alternative" in r[:4000] for r in replies) / len(replies)
        for start in range(0, len(replies), 500):
            account.append_many(replies[start:start + 500])
        del replies
        print(f"  backlog in Dovecot ({multipart:.0%} multipart with HTML)", flush=True)

        raw_rate = max(raw_limit(account, n) for _ in range(2))  # the warm figure: the stricter target
        table.add("raw limit: bulk UID FETCH + email parsing", raw_rate, "replies/s", note="(baseline, warm)")
        shutil.copy(db_dir / "mailflow.db", work / "naive.db")
        naive_rate = naive_poller(account, work / "naive.db", sink, n)
        table.add("naive poller: fetch one, parse, apply, commit, send two", naive_rate, "replies/s",
                  note="(baseline)")

        before = sink.count()
        command = [str(EXE), "--config", str(config), "run-once"]
        if os.environ.get("MF_BENCH_PYSPY"):  # profile it: py-spy's collapsed stacks to this file
            command = ["py-spy", "record", "--idle", "-r", "250", "-f", "raw", "-o", os.environ["MF_BENCH_PYSPY"], "--", *command]
        wall, rss, out = run(command, env)
        cpu = last_cpu[0]
        sent = sink.count() - before
        with sqlite3.connect(db_dir / "mailflow.db") as db:
            statuses = dict(db.execute("SELECT status, count(*) FROM inbound GROUP BY status").fetchall())
        ok_work = statuses.get("processed", 0) == n and sent == 2 * n
        rate = n / wall
        table.add("backlog: mailflow run-once", rate, "replies/s", target=">= 0.5x raw limit",
                  ok=rate >= 0.5 * raw_rate, ratio=f"{rate / raw_rate:.2f}x raw, {rate / naive_rate:.1f}x naive",
                  note=f"{n} replies in {wall:.1f} s (CPU {cpu:.1f} s, {cpu / n * 1000:.1f} ms a reply); "
                       f"processed {statuses.get('processed', 0)}, sent {sent}"
                       + ("" if ok_work else "  <-- NOT ALL DONE"))
        samples = list(_rss_samples)
        quarters = [samples[min(len(samples) - 1, len(samples) * k // 4)] for k in (1, 2, 3)] + samples[-1:] \
            if samples else []
        table.add("peak RSS of that run-once", rss, "MB", target="< 200 MB", ok=rss < 200,
                  note="its high-water mark (VmHWM); RSS at 1/4, 1/2, 3/4 and the end of the run: "
                       + ", ".join(f"{q} MB" for q in quarters))
    finally:
        sink.stop()


def raw_limit(account, n: int) -> float:
    """Bulk UID FETCH in mailflow's batches, and the standard library's parsing."""
    from imapclient import IMAPClient

    from mailflow.inbound.imap import FETCH_BATCH, FETCH_BATCH_BYTES

    start = time.perf_counter()
    client = IMAPClient(account.host, account.port, ssl=False, timeout=60)
    client.login(account.username, account.password)
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    sizes = {u: v[b"RFC822.SIZE"] for u, v in client.fetch(uids, ["RFC822.SIZE"]).items()}
    batch, total, parsed = [], 0, 0

    def fetch(batch):
        count = 0
        for _uid, item in client.fetch(batch, ["BODY.PEEK[]"]).items():
            msg = email.message_from_bytes(item[b"BODY[]"], policy=email.policy.default)
            for part in ("plain", "html"):
                body = msg.get_body((part,))
                if body is not None:
                    body.get_content()
            count += 1
        return count

    for uid in uids:
        if batch and (total + sizes[uid] > FETCH_BATCH_BYTES or len(batch) >= FETCH_BATCH):
            parsed += fetch(batch)
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        parsed += fetch(batch)
    client.logout()
    assert parsed == n, f"raw limit read {parsed} of {n}"
    return n / (time.perf_counter() - start)


def naive_poller(account, db_path: Path, sink: Sink, n: int) -> float:
    """Fetch one, parse, look up, apply, commit, send two: the obvious program."""
    import smtplib

    from imapclient import IMAPClient

    start = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    client = IMAPClient(account.host, account.port, ssl=False, timeout=60)
    client.login(account.username, account.password)
    client.select_folder("INBOX", readonly=True)
    smtp = smtplib.SMTP(sink.host, sink.port)
    done = 0
    for uid in sorted(client.search(["ALL"])):
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = " ".join(msg.get_body(("plain", "html")).get_content().split())
        token = re.search(r"\+([a-z0-9]+)@", str(msg["To"])).group(1)
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT t.pair_id, me.email, mo.email FROM tokens t JOIN pairs p ON p.id = t.pair_id "
                         "JOIN participants me ON me.id = p.mentee_id JOIN participants mo ON mo.id = p.mentor_id "
                         "WHERE t.token = ?", (token,)).fetchone()
        answers = []
        if row and text.strip().lower().startswith(("accept", "yes", "happy", "i'd", "sure")):
            db.execute("UPDATE pairs SET state = 'getting-to-know' WHERE id = ?", (row[0],))
            for to in (row[1], row[2]):
                answer = EmailMessage(policy=email.policy.SMTP)
                answer["From"] = account.username
                answer["To"] = to
                answer["Subject"] = "Your mentoring introduction was accepted"
                answer.set_content(f"Hello,\n\nThe introduction was accepted.\n\n{text[:200]}\n")
                answer.add_alternative(f"<p>The introduction was accepted.</p><p>{text[:200]}</p>", subtype="html")
                raw_answer = answer.as_bytes()
                db.execute("INSERT INTO outbox (key, message_id, to_addr, template, subject, raw, next_attempt_at, "
                           "created_at) VALUES (?, ?, ?, 'naive', 's', ?, '', '')",
                           (f"naive:{uid}:{to}", f"naive{uid}{to}", to, raw_answer))
                answers.append((to, raw_answer))
        db.execute("COMMIT")
        for to, raw_answer in answers:
            smtp.sendmail(account.username, [to], raw_answer)
        done += 1
    smtp.quit()
    client.logout()
    db.close()
    assert done == n
    return n / (time.perf_counter() - start)


# --------------------------------------------------------------------------- scale


HOT_QUERIES = [
    # (what, sql, params): each hot path's queries, with realistic parameters.
    ("tick: due timers", "SELECT * FROM timers WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id",
     ("2026-03-02T09:00:00+00:00",)),
    ("tick/lifecycle: a pair's pending timers (cancel on leaving a state)",
     "SELECT id, name FROM timers WHERE pair_id = ? AND status = 'pending'", (7,)),
    ("lifecycle: cancel one timer of a pair (facts changed, timer restarted)",
     "UPDATE timers SET status = 'cancelled' WHERE pair_id = ? AND name = ? AND status = 'pending'",
     (7, "checkin")),
    ("lifecycle: a person's own pending timers",
     "SELECT id, name FROM timers WHERE participant_id = ? AND pair_id IS NULL AND status = 'pending'", (7,)),
    ("lifecycle: a pair and its members (facts, names)", None, None),
    ("lifecycle: a pair's facts", "SELECT facts FROM pairs WHERE id = ?", (7,)),
    ("lifecycle: a pair's agreement versions",
     'SELECT version, "values", proposed_by, confirmed, active_at FROM agreements WHERE pair_id = ? ORDER BY version',
     (7,)),
    ("pair: a participant by address", "SELECT * FROM participants WHERE email = ?", ("mentor3@hospital.test",)),
    ("pair: a participant's live pairs",
     "SELECT id FROM pairs WHERE (mentee_id = ? OR mentor_id = ?) AND state NOT IN ('ended', 'declined') ORDER BY id",
     (5, 5)),
    ("pair: emails queued for the pair", "SELECT count(*) FROM outbox WHERE pair_id = ? AND status = 'pending'", (7,)),
    ("status EMAIL: the person's pairs", None, None),
    ("status EMAIL: the pairs' pending timers",
     "SELECT pair_id, name, due_at, id FROM timers WHERE pair_id IN (?) AND status = 'pending'", (6,)),
    ("status EMAIL: the pairs' agreements", 'SELECT pair_id, version, "values", confirmed, active_at FROM agreements '
     "WHERE pair_id IN (?, ?) AND 1 ORDER BY pair_id, version", (6, 7)),
    ("status EMAIL: outbox waiting", "SELECT count(*) FROM outbox WHERE status = ?", ("retrying",)),
    ("status EMAIL: failed deliveries",
     "SELECT id, to_addr, template, last_error, created_at FROM outbox WHERE status = 'failed' ORDER BY id", ()),
    ("status EMAIL: quarantined",
     "SELECT id, received_at, attempts, reason FROM inbound WHERE status = 'quarantined' ORDER BY id", ()),
    ("match: a token", "SELECT * FROM tokens WHERE token = ?", ("g00000000000000000000001",)),
    ("match: a token by Message-ID",
     "SELECT t.* FROM tokens t JOIN outbox o ON o.id = t.outbox_id WHERE o.message_id = ?", ("x@y",)),
    ("enqueue: already queued?", "SELECT 1 FROM outbox WHERE key = ?", ("in:1:x:y",)),
    ("enqueue: daily cap", "SELECT count(*) AS every, coalesce(sum(exempt = 0), 0) AS automatic FROM outbox "
                           "WHERE to_addr = ? AND created_at > ?", ("mentor3@hospital.test", "2026-03-01")),
    ("enqueue: strangers' cap", "SELECT count(*) FROM outbox WHERE stranger = 1 AND created_at > ?", ("2026-03-01",)),
    ("process: waiting messages", "SELECT id, attempts FROM inbound WHERE status = 'received' ORDER BY id", ()),
    ("receive: duplicate?", "SELECT id FROM inbound WHERE dedup_key = ? ORDER BY id LIMIT 1", ("mid:x|",)),
    ("settle: messages to flag or move", "SELECT id, uid, status FROM inbound WHERE imap_done = 0 AND mailbox = ? "
     "AND uidvalidity = ? AND status IN ('processed', 'ignored', 'quarantined') ORDER BY uid", ("imap://x", 1)),
    ("outbox claim: next row to send", None, None),
]


def plans(table: Table, db_path: Path) -> None:
    from mailflow.outbox import _WAITING

    conn = sqlite3.connect(db_path)
    pair_sql = ("SELECT p.*, me.email AS mentee_email FROM pairs p JOIN participants me ON me.id = p.mentee_id "
                "JOIN participants mo ON mo.id = p.mentor_id WHERE p.id = ?")
    person_pairs = ("SELECT p.*, me.email AS mentee_email FROM pairs p JOIN participants me ON me.id = p.mentee_id "
                    "JOIN participants mo ON mo.id = p.mentor_id WHERE p.mentee_id = ? OR p.mentor_id = ? ORDER BY p.id")
    extra = {"lifecycle: a pair and its members (facts, names)": (pair_sql, (7,)),
             "status EMAIL: the person's pairs": (person_pairs, (5, 5)),
             "outbox claim: next row to send": (f"SELECT * FROM outbox INDEXED BY outbox_waiting WHERE id > ? "
                                                f"AND {_WAITING} ORDER BY id LIMIT 1",
                                                (0, "2026-03-02", "2026-03-02"))}
    scans = 0
    for what, sql, params in HOT_QUERIES:
        if sql is None:
            sql, params = extra[what]
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        table.plans.append((what, plan))
        scans += any(line.startswith("SCAN ") for line in plan)
    conn.close()
    table.add("hot-path queries with a full scan", scans, "of " + str(len(HOT_QUERIES)), target="0", ok=scans == 0)


def scale(table: Table, work: Path, participants: int, pairs: int, enrol_rows: int, due: int) -> None:
    from mailflow.config import load
    from mailflow.service import Service
    from mailflow.status import gather

    print(f"scale: {participants} participants, {pairs} pairs", flush=True)
    base = work / "scale"
    base.mkdir()
    got = generate(base / "base.db", participants, pairs, due_now=0)
    print(f"  generated in {got['seconds']:.1f} s: {got['timers']} timers, {got['outbox']} outbox rows, "
          f"{got['events']} events", flush=True)
    table.add(f"generator: {participants:,} participants, {pairs:,} pairs", got["seconds"], "s")
    plans(table, base / "base.db")
    env = {**os.environ}

    def fresh(name: str) -> Path:
        d = work / name
        d.mkdir()
        shutil.copy(base / "base.db", d / "mailflow.db")
        (d / "mailflow.toml").write_text(
            '[scheme]\nname = "Bench Scheme"\naddress = "scheme@scheme.test"\n'
            'coordinators = ["coordinator@scheme.test"]\ntimezone = "Europe/London"\n\n'
            '[database]\npath = "mailflow.db"\n\n[outbox]\ntransport = "maildir"\nmaildir = "sent"\n')
        return d / "mailflow.toml"

    def best(args, config, times=3):
        return min(run([str(EXE), "--config", str(config), *args], env)[0] for _ in range(times))

    config = fresh("idle")
    wall = best(["run-once"], config)
    table.add("run-once, nothing due", wall, "s", target="< 0.5 s", ok=wall < 0.5)
    # The tick: 1,000 pending timers due now (their reminders queued, then written to a Maildir).
    config = fresh("tick")
    with sqlite3.connect(config.parent / "mailflow.db") as db:
        ids = [r[0] for r in db.execute("SELECT id FROM timers WHERE status = 'pending' AND pair_id IS NOT NULL "
                                        "ORDER BY id")]
        chosen = random.Random(3).sample(ids, min(due, len(ids)))
        db.executemany("UPDATE timers SET due_at = '2020-01-01T00:00:00+00:00' WHERE id = ?", [(i,) for i in chosen])
    wall, _rss, out = run([str(EXE), "--config", str(config), "run-once"], env)
    cpu = last_cpu[0]
    fired = re.search(r"timers fired (\d+)", out)
    table.add(f"tick: run-once with {len(chosen):,} due timers", wall, "s", target="< 1 s", ok=wall < 1,
              note=f"{fired.group(1) if fired else '?'} fired and sent (Maildir); CPU {cpu:.2f} s")
    config = fresh("status")
    email_ = "mentor5@hospital.test"
    wall = best(["status", email_, "--json"], config)
    view = Service(load(config))
    start = time.perf_counter()
    for _ in range(5):
        gather(view, email_)
    work_s = (time.perf_counter() - start) / 5
    table.add("status EMAIL --json", wall, "s", target="< 0.3 s", ok=wall < 0.3)
    table.add("status EMAIL: work (in-process)", work_s * 1000, "ms", target="< 50 ms", ok=work_s < 0.05)
    wall = best(["status"], config)
    table.add("status, everyone (counts, attention)", wall, "s", target="< 2 s", ok=wall < 2)
    table.add("status --all (every pair)", best(["status", "--all"], config, 1), "s")
    # pair: the command, and its work in-process.
    mentees = participants - participants // 2 - 1
    free = [(f"mentee{i}@university.test", f"mentor{i}@hospital.test") for i in range(mentees)]
    with sqlite3.connect(config.parent / "mailflow.db") as db:
        busy = {r[0] for r in db.execute("SELECT me.email FROM pairs p JOIN participants me ON me.id = p.mentee_id "
                                         "WHERE p.state NOT IN ('ended', 'declined', 'expired', 'not-a-good-fit')")}
        unavailable = {r[0] for r in db.execute("SELECT email FROM participants WHERE available = 0 OR "
                                                "status != 'active' OR capacity IS NOT NULL")}
    free = [(a, b) for a, b in free if a not in busy and b not in unavailable][:1100]
    wall = run([str(EXE), "--config", str(config), "pair", *free[0]], env)[0]
    table.add("pair (command)", wall, "s")
    times = []
    for a, b in free[1:21]:
        start = time.perf_counter()
        view.pair(a, b)
        times.append(time.perf_counter() - start)
    work_ms = statistics.median(times) * 1000
    table.add("pair: work (in-process, median of 20)", work_ms, "ms", target="< 5 ms", ok=work_ms < 5)
    view.close()
    csv = config.parent / "pairs.csv"
    rows = free[21:21 + min(1000, len(free) - 21)]
    csv.write_text("mentee,mentor\n" + "".join(f"{a},{b}\n" for a, b in rows))
    wall = run([str(EXE), "--config", str(config), "pair", "--csv", str(csv)], env)[0]
    table.add(f"pair --csv, {len(rows):,} pairs (all or nothing)", wall, "s", note=f"{len(rows) / wall:.0f} pairs/s")
    csv = config.parent / "people.csv"
    csv.write_text("role,name,email\n" + "".join(
        f"{'mentor' if i % 2 else 'mentee'},New Person {i},new{i}@example.org\n" for i in range(enrol_rows)))
    wall = run([str(EXE), "--config", str(config), "enrol", "--csv", str(csv)], env)[0]
    table.add(f"enrol --csv, {enrol_rows:,} rows", wall, "s", target="< 5 s", ok=wall < 5)


def startup(table: Table) -> None:
    wall = min(run([str(EXE), "--help"], dict(os.environ))[0] for _ in range(5))
    table.add("mailflow --help", wall, "s", target="< 0.3 s", ok=wall < 0.3)
    heavy = ("mailflow.service", "ssl", "dateparser", "jinja2", "icalendar", "imapclient", "apscheduler", "css_inline")
    code = ("import sys, runpy; sys.argv = ['mailflow', '--help']\n"
            "try:\n    runpy.run_module('mailflow.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    loaded = out.rsplit("LOADED", 1)[-1].strip()
    table.add("--help imports none of the mail machinery", None, "", target="none loaded",
              ok=loaded == "[]", note=f"loaded: {loaded}")


# --------------------------------------------------------------------------- IDLE latency


def idle(table: Table, work: Path, dovecot: Dovecot, burst: int, probes: int) -> None:
    """``mailflow serve`` on IDLE: a burst of replies arriving at once (each one's time
    from the APPEND to being stored: noticed and safely kept), then single replies
    one at a time (each one's time from the APPEND to its outcome committed)."""
    print(f"IDLE: a burst of {burst}, then {probes} single replies", flush=True)
    account = dovecot.add_user()
    sink = Sink()
    proc = None
    try:
        env = {**os.environ, "MF_TEST_IMAP_PASSWORD": account.password}
        d = work / "idle-serve"
        d.mkdir()
        config = write_config(d, account, sink, poll_seconds=300)
        got = generate(d / "mailflow.db", 2 * (burst + probes) + 1, 0, introduced=burst + probes,
                       scheme_address=account.username)

        def reply(i: int, pair) -> bytes:
            _pid, mentor, token = pair
            msg = EmailMessage()
            msg["From"] = f"Mentor <{mentor}>"
            msg["To"] = account.username.replace("@", f"+{token}@")
            msg["Subject"] = "Re: An introduction"
            msg["Message-ID"] = f"<idle{i}@hospital.test>"
            msg.set_content("Accept\n\nOn Mon, 2 Mar 2026, Scheme wrote:\n> Would you mentor Sam?\n")
            msg.add_alternative("<p>Accept</p><blockquote>Would you mentor Sam?</blockquote>", subtype="html")
            return msg.as_bytes()

        pairs_ = got["introduced"]
        log = open(d / "serve.log", "w")
        proc = subprocess.Popen([str(EXE), "--config", str(config), "serve"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        db = sqlite3.connect(d / "mailflow.db", timeout=30)

        def count(sql: str) -> int:
            return db.execute(sql).fetchone()[0]

        deadline = time.monotonic() + 30
        while not (d / "mailflow.db.lock").exists() or not (d / "mailflow.db.lock").read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not start")
            time.sleep(float(os.environ.get("MF_BENCH_RSS_INTERVAL", "0.05")))
        time.sleep(1.5)  # in IDLE by now
        raws = [reply(i, p) for i, p in enumerate(pairs_[:burst])]
        t0 = time.perf_counter()
        account.append_many(raws)
        appended = time.perf_counter()
        stored_at = []
        deadline = time.monotonic() + 120
        while len(stored_at) < burst and time.monotonic() < deadline:
            n = count("SELECT count(*) FROM inbound")
            now = time.perf_counter()
            stored_at += [now] * (n - len(stored_at))
            time.sleep(0.01)
        lat = sorted(t - appended for t in stored_at)
        while (count("SELECT count(*) FROM inbound WHERE status = 'received'")
               or count("SELECT count(*) FROM outbox WHERE status != 'sent'")) and time.monotonic() < deadline + 120:
            time.sleep(0.1)  # the burst worked through: processed, and its answers sent
        done = time.perf_counter() - t0
        p50, p99 = _pct(lat, 50), _pct(lat, 99)
        table.add(f"IDLE: burst of {burst}, APPEND -> stored, p50", p50, "s", target="<= 0.6 s", ok=p50 <= 0.6)
        table.add(f"IDLE: burst of {burst}, APPEND -> stored, p99", p99, "s", target="< 1.5 s", ok=p99 < 1.5,
                  note=f"all {burst} processed and answered {done:.1f} s after the APPEND")
        singles = []
        for i, p in enumerate(pairs_[burst:burst + probes]):
            time.sleep(0.3)
            before = count("SELECT count(*) FROM inbound WHERE status != 'received'")
            start = time.perf_counter()
            account.append(reply(burst + i, p))
            while count("SELECT count(*) FROM inbound WHERE status != 'received'") <= before:
                if time.perf_counter() - start > 30:
                    break
                time.sleep(0.005)
            singles.append(time.perf_counter() - start)
        singles.sort()
        p50, p99 = _pct(singles, 50), _pct(singles, 99)
        table.add(f"IDLE: single replies after it, APPEND -> outcome, p50 ({probes})", p50, "s", target="<= 0.6 s",
                  ok=p50 <= 0.6)
        table.add(f"IDLE: single replies after it, APPEND -> outcome, p99 ({probes})", p99, "s", target="< 1.5 s",
                  ok=p99 < 1.5)
        db.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        sink.stop()
        if os.environ.get("MF_BENCH_DEBUG"):  # the serve log, to see what a slow reply waited for
            print((work / "idle-serve" / "serve.log").read_text()[-5000:])


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return sorted(values)[k]


# --------------------------------------------------------------------------- reading replies


def reading(table: Table) -> None:
    """Every message of both reply corpora and the generated pathological ones
    (benchmarks/bench_extract.py) through ``parse.read`` and ``parse.understand``:
    the slowest one."""
    import datetime as dt

    import bench_extract

    from mailflow import parse
    from mailflow.parse.result import Expectation

    messages = bench_extract.corpus_messages() + bench_extract.generated()
    expect = Expectation(commands={"accept": ("accept", "yes", "happy to"), "decline": ("decline", "no")})
    now = dt.datetime(2026, 3, 3, 12, tzinfo=dt.timezone.utc)
    parse.understand(parse.read(messages[0][1]), expect, now=now, tz="Europe/London", date_order="DMY")  # warm up
    slowest = (0.0, "")
    for name, raw in messages:
        start = time.perf_counter()
        mail = parse.read(raw, tz="Europe/London")
        parse.understand(mail, expect, now=now, tz="Europe/London", date_order="DMY")
        took = time.perf_counter() - start
        slowest = max(slowest, (took, f"{name} ({len(raw) / 1000:,.0f} kB)"))
    table.add(f"slowest reply read ({len(messages)} messages)", slowest[0] * 1000, "ms", target="< 50 ms",
              ok=slowest[0] < 0.05, note=slowest[1])


# --------------------------------------------------------------------------- the table


def render(table: Table, args) -> str:
    m = table.machine
    lines = [f"mailflow benchmarks ({'small' if args.small else 'full'}), {time.strftime('%Y-%m-%d %H:%M')}",
             f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, SQLite {m['sqlite']}; "
             f"load average {m['load_before'][0]:.2f} before, {m['load_after'][0]:.2f} after",
             "", "| figure | value | unit | target | ratio | met | note |", "|---|---:|---|---|---|---|---|"]
    for r in table.rows:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.name} | {fmt(r.value)} | {r.unit} | {r.target} | {r.ratio} | {met} | {r.note} |")
    lines += ["", "Query plans (EXPLAIN QUERY PLAN) of the hot paths:", ""]
    for what, plan in table.plans:
        lines.append(f"- {what}: " + "; ".join(plan))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="mailflow's speed: one table (see benchmarks/README.md)")
    ap.add_argument("--small", action="store_true", help="small data: every figure, quickly (CI)")
    ap.add_argument("--replies", type=int, help="the backlog's size (full: 10,000; small: 200)")
    ap.add_argument("--participants", type=int, help="scale: participants (full: 100,000)")
    ap.add_argument("--pairs", type=int, help="scale: pairs (full: 50,000)")
    ap.add_argument("--json", type=Path, help="also write the rows here, as JSON")
    ap.add_argument("--only", default="backlog,scale,startup,idle,reading",
                    help="which parts, comma-separated (default: all)")
    args = ap.parse_args(argv)
    replies = args.replies or (200 if args.small else 10_000)
    participants = args.participants or (4_000 if args.small else 100_000)
    pairs = args.pairs or (participants // 2)
    parts = set(args.only.split(","))
    table = Table(machine=machine())
    work = Path(tempfile.mkdtemp(prefix="mf-bench-"))
    try:
        with Dovecot() as dovecot:
            if "backlog" in parts:
                backlog(table, work, dovecot, replies)
            if "idle" in parts:
                idle(table, work, dovecot, 100 if args.small else 1000, 5 if args.small else 20)
        if "scale" in parts:
            scale(table, work, participants, pairs, 1_000 if args.small else 10_000, 100 if args.small else 1000)
        if "startup" in parts:
            startup(table)
        if "reading" in parts:
            reading(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table.machine["load_after"] = os.getloadavg()
    text = render(table, args)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"machine": table.machine, "plans": table.plans,
                                         "rows": [r.__dict__ for r in table.rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
