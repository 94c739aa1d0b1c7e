"""A realistic mailflow database of any size, written quickly (issue 12).

    .venv/bin/python benchmarks/gen.py DB --participants 100000 --pairs 50000

The schema is mailflow's own (the database is opened with :class:`mailflow.store.Store`,
so every migration runs); the rows are written in bulk with ``executemany`` in one
transaction. What a scheme that has run for a while holds:

- participants: one coordinator, mentors and mentees (half each), some with a
  ``greeting`` or a ``timezone``, a few bouncing or away;
- pairs in every state of the default rules, weighted as a running scheme has them
  (most active, a fifth ended one way or another), with the facts the lifecycle keeps
  (review date, meetings and minutes, the agreed interval);
- the pending timers of each live pair's state (names from the rules, due over the
  next weeks), and fired or cancelled ones from its history;
- reply tokens, sent outbox rows, processed inbound messages and the event log
  (several per pair), agreement versions and meetings for pairs past the agreement.

Raw message bodies are short stand-ins (the queries under test never read them).
``due_now`` makes that many pending timers due already (the tick's work);
``introduced`` puts that many extra pairs in ``introduced`` with introduction
tokens, for a backlog of replies (see ``backlog.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow.clock import iso  # noqa: E402
from mailflow.store import Store  # noqa: E402
from mailflow.workflow.loader import load_workflow, rules_folder  # noqa: E402

# A running scheme's pairs, by state (weights).
STATES = {
    "introduced": 6, "getting-to-know": 6, "deciding": 4, "agreeing": 5, "active": 45, "checkin-due": 6,
    "reviewing": 3, "renewing": 1, "paused": 3, "ended": 12, "declined": 4, "expired": 3, "not-a-good-fit": 2,
}
STUB = b"From: someone@example.org\r\nSubject: stand-in\r\n\r\n" + b"x" * 400 + b"\r\n"


def generate(path: Path, participants: int, pairs: int, *, seed: int = 1, due_now: int = 0,
             introduced: int = 0, scheme_address: str = "scheme@scheme.test", now: dt.datetime | None = None,
             coordinator: str = "coordinator@scheme.test") -> dict:
    """Write the database at ``path`` (a new file). Returns what it wrote: counts and
    the ``introduced`` pairs as (pair id, mentor email, token)."""
    rnd = random.Random(seed)
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # timers due from now on
    workflow = load_workflow(rules_folder("default", REPO))
    states = [s for s in STATES if s in workflow.states]
    weights = [STATES[s] for s in states]
    store = Store(path)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    local, _, domain = scheme_address.partition("@")
    started = time.perf_counter()
    mentors = max(participants // 2, 1)
    mentees = max(participants - mentors - 1, 1)
    rows = [(1, coordinator, "Jo Coordinator", "coordinator", "active", None, "{}", iso(now), 1, None, None)]
    for i in range(mentors):
        extra = json.dumps({"department": rnd.choice(["Pharmacy", "Oncology", "Research", "Surgery"]),
                            **({"greeting": f"Dr M{i}"} if i % 3 == 0 else {})}, sort_keys=True)
        rows.append((len(rows) + 1, f"mentor{i}@hospital.test", f"Mentor Number {i}", "mentor",
                     "bouncing" if i % 997 == 0 else "active", "2026-03-20" if i % 211 == 0 else None, extra,
                     iso(now - dt.timedelta(days=400)), 0 if i % 50 == 0 else 1, 3 if i % 7 == 0 else None,
                     "America/New_York" if i % 13 == 0 else None))
    for i in range(mentees):
        rows.append((len(rows) + 1, f"mentee{i}@university.test", f"Mentee Number {i}", "mentee", "active", None,
                     '{"department": "Research"}', iso(now - dt.timedelta(days=400)), 1, None, None))
    mentor_ids = range(2, 2 + mentors)
    mentee_ids = range(2 + mentors, 2 + mentors + mentees)
    pair_rows, timer_rows, token_rows, outbox_rows, inbound_rows, event_rows = [], [], [], [], [], []
    agreement_rows, meeting_rows = [], []
    intro_pairs = []
    state_timers = {s: [t for t in workflow.timers if s in t.states and not t.manual] for s in workflow.states}
    counter = 0

    def token() -> str:
        nonlocal counter
        counter += 1
        return f"g{counter:023d}"

    total = pairs + introduced
    for n in range(total):
        pid = n + 1
        state = "introduced" if n >= pairs else rnd.choices(states, weights)[0]
        mentor = mentor_ids[n % mentors]
        mentee = mentee_ids[n % mentees]
        created = now - dt.timedelta(days=rnd.randint(1, 360)) if n < pairs else now - dt.timedelta(days=1)
        since = min(created + dt.timedelta(days=rnd.randint(0, 30)), now)
        facts: dict = {}
        if state in ("active", "checkin-due", "reviewing", "renewing", "paused", "ended"):
            facts = {"review_date": (now + dt.timedelta(days=rnd.randint(-10, 200))).date().isoformat(),
                     "interval_days": rnd.choice([14, 30, 42]), "meetings": rnd.randint(0, 12),
                     "minutes": rnd.randint(0, 600), "agreed_at": iso(since), "meeting_length_minutes": 60,
                     "last_checkin": iso(since)}
            agreement_rows.append((pid, 1, json.dumps({"location": "the library", "frequency": "monthly"}),
                                   "mentee", iso(since), json.dumps({"mentee": iso(since), "mentor": iso(since)}),
                                   iso(since)))
            for m in range(rnd.randint(0, 3)):
                meeting_rows.append((pid, (since + dt.timedelta(days=14 * m)).date().isoformat(), 45, mentee, None,
                                     iso(since)))
        if state == "paused":
            facts["paused_state_name"] = "paused"
            facts["resume_state"] = "active"
        if state == "ended":
            facts["ended_at"] = iso(since)
            facts["ended_by"] = "mentee"
        pair_rows.append((pid, mentee, mentor, state, iso(since), iso(created), json.dumps(facts, sort_keys=True)))
        # Timers: this state's, pending; and some history.
        if not workflow.states[state].final:
            for t in state_timers.get(state, ()):
                due = now + dt.timedelta(days=rnd.randint(1, 40), minutes=rnd.randint(0, 600))
                timer_rows.append((f"{pid}:{t.name}::{iso(since)}", pid, t.name, state, iso(due), "pending", None))
        for h in range(3):
            timer_rows.append((f"{pid}:hist{h}", pid, "introduction-reminder", "introduced",
                               iso(created + dt.timedelta(days=7 * (h + 1))), rnd.choice(["fired", "cancelled"]), None))
        # Tokens, sent emails, processed replies and the event log.
        for k in range(6 if n < pairs else 2):
            oid = len(outbox_rows) + 1
            to_mentor = k % 2 == 0
            who, addr = (mentor, f"mentor{(n % mentors)}@hospital.test") if to_mentor else \
                (mentee, f"mentee{(n % mentees)}@university.test")
            tok = token()
            context = "introduction" if (k == 0 or n >= pairs) and to_mentor else "anytime"
            sent_at = created + dt.timedelta(days=k)
            outbox_rows.append((oid, f"pair:{pid}:{k}", f"{tok}m.mailflow@{domain}", addr,
                                "introduction/to-mentor" if k == 0 else "meetings/checkin", "A subject", pid, who, None,
                                STUB, "sent", 1, iso(sent_at), None, "", 0, iso(sent_at), iso(sent_at), 0))
            token_rows.append((tok, who, pid, context, oid, iso(sent_at), iso(sent_at + dt.timedelta(days=365)), ""))
            if n >= pairs and to_mentor:
                intro_pairs.append((pid, addr, tok))
        for k in range(2 if n < pairs else 0):
            iid = len(inbound_rows) + 1
            inbound_rows.append((iid, "imap", f"imap://{scheme_address}@127.0.0.1:143/INBOX", 1, iid,
                                 f"gen{iid}@example.org", f"mid:gen{iid}@example.org|", f"{iid:064x}", len(STUB), STUB,
                                 iso(created + dt.timedelta(days=k)), "processed", "", 1, "", mentor, pid, "[]",
                                 iso(created + dt.timedelta(days=k)), 1))
        for k in range(8 if n < pairs else 2):
            event_rows.append((iso(created + dt.timedelta(days=k)), "state" if k % 2 else "inbound-processed", pid,
                               mentor, None, None, '{"state_from": "introduced", "state_to": "getting-to-know"}'))
    # The tick's work: some pending timers due already.
    pending = [i for i, t in enumerate(timer_rows) if t[5] == "pending"]
    for i in rnd.sample(pending, min(due_now, len(pending))):
        t = timer_rows[i]
        timer_rows[i] = (*t[:4], iso(now - dt.timedelta(minutes=rnd.randint(1, 600))), *t[5:])
    with store.transaction():
        conn.executemany("INSERT INTO participants (id, email, name, role, status, away_until, extra, created_at, "
                         "available, capacity, timezone) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO pairs (id, mentee_id, mentor_id, state, state_since, created_at, facts) "
                         "VALUES (?,?,?,?,?,?,?)", pair_rows)
        conn.executemany("INSERT INTO timers (key, pair_id, name, state, due_at, status, participant_id) "
                         "VALUES (?,?,?,?,?,?,?)", timer_rows)
        conn.executemany("INSERT INTO outbox (id, key, message_id, to_addr, template, subject, pair_id, participant_id, "
                         "inbound_id, raw, status, attempts, next_attempt_at, lease_until, last_error, exempt, "
                         "created_at, sent_at, stranger) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", outbox_rows)
        conn.executemany("INSERT INTO tokens (token, participant_id, pair_id, context, outbox_id, created_at, "
                         "expires_at, ref) VALUES (?,?,?,?,?,?,?,?)", token_rows)
        conn.executemany("INSERT INTO inbound (id, source, mailbox, uidvalidity, uid, message_id, dedup_key, sha256, "
                         "size, raw, received_at, status, reason, attempts, last_error, participant_id, pair_id, "
                         "rule_hits, processed_at, imap_done) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         inbound_rows)
        conn.executemany("INSERT INTO events (at, kind, pair_id, participant_id, inbound_id, outbox_id, data) "
                         "VALUES (?,?,?,?,?,?,?)", event_rows)
        conn.executemany('INSERT INTO agreements (pair_id, version, "values", proposed_by, proposed_at, confirmed, '
                         "active_at) VALUES (?,?,?,?,?,?,?)", agreement_rows)
        conn.executemany("INSERT INTO meetings (pair_id, day, minutes, logged_by, inbound_id, at) VALUES (?,?,?,?,?,?)",
                         meeting_rows)
    # No ANALYZE: mailflow never runs it, so the planner sees what it sees in a real
    # scheme's database (statistics from these generated rows would mislead it).
    store.close()
    return {"participants": len(rows), "pairs": len(pair_rows), "timers": len(timer_rows),
            "due_now": min(due_now, len(pending)), "tokens": len(token_rows), "outbox": len(outbox_rows),
            "inbound": len(inbound_rows), "events": len(event_rows), "seconds": time.perf_counter() - started,
            "introduced": intro_pairs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("--participants", type=int, default=100_000)
    ap.add_argument("--pairs", type=int, default=50_000)
    ap.add_argument("--due-now", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.db.exists():
        sys.exit(f"{args.db} exists; give a new path")
    got = generate(args.db, args.participants, args.pairs, seed=args.seed, due_now=args.due_now)
    got.pop("introduced")
    print(", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in got.items()))


if __name__ == "__main__":
    main()
