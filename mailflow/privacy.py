"""Forgetting: a participant erased on request, and raw mail purged after a time.

``mailflow erase EMAIL`` (:func:`erase`) removes a participant and everything about
them: their raw mail and every stored email to, from or about them (the raw copy
blanked, the subject replaced), their reply tokens, private notes, drafts, the words
of their feedback, their pairs' agreements, and their address and name wherever
the event log or a coordinator's command mentions them. Their pairs stay, with
their states and dates, as anonymous counts; the participant row stays as a
tombstone (``erased-N@erased.invalid``) so that the pairs still add up, and the
inbound rows keep their Message-ID key, so a copy of an old message that arrives
again is still recognised as a duplicate and brings nothing back. SQLite's
``secure_delete`` zeroes what is deleted, then ``VACUUM`` rewrites the file and
the write-ahead log is checkpointed and truncated, so neither the database file
nor its WAL holds their address or words afterwards. Someone in a pair that is
under way cannot be erased: close the pair first.

``[retention] raw_mail_days`` (:func:`purge_raw_mail`, once a day from the
scheduler and ``run-once``) blanks the raw copy of every email handled more than
that many days ago, keeping what was read from it. Quarantined and unprocessed
messages keep theirs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from .clock import iso, parse_iso
from .errors import StateError

log = logging.getLogger("mailflow")

ERASED = "(erased)"


def erase(service, email_addr: str) -> dict[str, Any]:
    """Erase one participant (see the module docstring). Returns what was done, as counts."""
    store, wf = service.store, service.workflow
    now = service.clock.now()
    p = store.participant_by_email(email_addr)
    if p is None:
        raise StateError(f"{email_addr} is not enrolled (or was erased already); `mailflow status` lists everyone.")
    if email_addr.strip().lower() in service.config.scheme.coordinators:
        raise StateError(f"{email_addr} is a coordinator in the config; remove it from [scheme] coordinators first.")
    final = tuple(s for s, spec in wf.states.items() if spec.final)
    live = store.live_pairs(p["id"], final)
    if live:
        numbers = ", ".join(str(x["id"]) for x in live)
        raise StateError(f"{email_addr} is in pairs under way ({numbers}); close them first "
                         f"(mailflow close {live[0]['id']}), then erase.")
    pid = p["id"]
    tombstone = f"erased-{pid}@erased.invalid"
    terms = [p["email"]] + ([p["name"].lower()] if len(p["name"].strip()) >= 4 else [])
    pairs = [x["id"] for x in store.pairs(p["email"])]
    in_pairs = f"({','.join(str(i) for i in pairs) or 'NULL'})"
    mentions = " OR ".join("instr(lower(CAST(raw AS TEXT)), ?) > 0" for _ in terms)
    mentions_subject = " OR ".join("instr(lower(subject), ?) > 0" for _ in terms)
    counts: dict[str, Any] = {}
    store.conn.execute("PRAGMA secure_delete = ON")
    with store.transaction():
        c = store.conn.execute
        counts["raw mail received"] = c(
            f"UPDATE inbound SET raw = x'', reason = '', last_error = '' WHERE length(raw) > 0 AND "
            f"(participant_id = ? OR pair_id IN {in_pairs} OR {mentions})", (pid, *terms)).rowcount
        counts["emails sent"] = c(
            f"UPDATE outbox SET raw = x'', subject = ?, last_error = '', "
            f"status = CASE WHEN status IN ('pending', 'retrying', 'sending') THEN 'erased' ELSE status END, "
            f"to_addr = CASE WHEN to_addr = ? THEN ? ELSE to_addr END, key = replace(key, ?, ?) "
            f"WHERE participant_id = ? OR to_addr = ? OR pair_id IN {in_pairs} OR {mentions} OR {mentions_subject}",
            (ERASED, p["email"], tombstone, p["email"], tombstone, pid, p["email"], *terms, *terms)).rowcount
        counts["reply tokens"] = c("DELETE FROM tokens WHERE participant_id = ?", (pid,)).rowcount
        counts["private notes"] = c("DELETE FROM private WHERE participant_id = ?", (pid,)).rowcount
        counts["feedback"] = c("UPDATE feedback SET text = '', participant_id = NULL WHERE participant_id = ?",
                               (pid,)).rowcount
        counts["drafts"] = c(f"DELETE FROM drafts WHERE pair_id IN {in_pairs}").rowcount
        counts["agreements"] = c(f"""UPDATE agreements SET "values" = '{{}}' WHERE pair_id IN {in_pairs}""").rowcount
        c("UPDATE meetings SET logged_by = NULL WHERE logged_by = ?", (pid,))
        c("DELETE FROM pending WHERE participant_id = ?", (pid,))
        c("DELETE FROM timers WHERE participant_id = ?", (pid,))
        for row in store.all("SELECT id, detail FROM coordinator_commands"):
            if any(t in row["detail"].lower() for t in terms):
                c("UPDATE coordinator_commands SET detail = ? WHERE id = ?", (ERASED, row["id"]))
        counts["events"] = _scrub_events(store, pid, pairs, terms)
        c("UPDATE participants SET email = ?, name = ?, extra = '{}', status = 'erased', timezone = NULL, "
          "away_until = NULL, capacity = NULL, available = 0 WHERE id = ?",
          (tombstone, ERASED, pid))
        store.log("participant-erased", now, participant_id=pid, pairs=len(pairs))
    store.conn.execute("VACUUM")
    busy, _frames, _done = store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    counts["wal_emptied"] = not busy
    if busy:
        log.warning("erase: another process has the database open, so its write-ahead log could not be emptied yet; "
                    "it is emptied at the next checkpoint (to be sure, erase while `mailflow serve` is stopped)")
    return counts


def _scrub_events(store, pid: int, pairs: list[int], terms: list[str]) -> int:
    """The event log is append-only; erasure is the one exception. Strings that name
    them, and any reason given about them or their pairs, become "(erased)"."""
    triggers = store.all("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")
    for t in triggers:
        store.conn.execute(f'DROP TRIGGER "{t["name"]}"')
    changed = 0
    in_pairs = f"({','.join(str(i) for i in pairs) or 'NULL'})"
    likes = " OR ".join("instr(lower(data), ?) > 0" for _ in terms)
    for row in store.all(f"SELECT id, pair_id, participant_id, data FROM events WHERE participant_id = ? "
                         f"OR pair_id IN {in_pairs} OR {likes}", (pid, *terms)):
        data = json.loads(row["data"])
        clean = _scrub(data, terms, about_them=row["pair_id"] in pairs or row["participant_id"] == pid)
        if clean != data:
            store.conn.execute("UPDATE events SET data = ? WHERE id = ?", (json.dumps(clean, sort_keys=True), row["id"]))
            changed += 1
    for t in triggers:
        store.conn.execute(t["sql"])
    return changed


def _scrub(value: Any, terms: list[str], about_them: bool, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, terms, about_them, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, terms, about_them, key) for v in value]
    if isinstance(value, str) and value and (any(t in value.lower() for t in terms) or (about_them and key == "reason")):
        return ERASED
    return value


def purge_raw_mail(service) -> int:
    """Blank the raw copies of mail handled more than ``[retention] raw_mail_days`` ago
    (at most once a day). Returns how many were blanked."""
    days = service.config.retention.raw_mail_days
    if not days:
        return 0
    store = service.store
    now = service.clock.now()
    last = store.scalar("SELECT last_run FROM jobs WHERE name = 'purge-raw-mail'")
    if last and parse_iso(last) > now - dt.timedelta(days=1):
        return 0
    cutoff = iso(now - dt.timedelta(days=days))
    store.conn.execute("PRAGMA secure_delete = ON")
    with store.transaction():
        received = store.conn.execute(
            "UPDATE inbound SET raw = x'' WHERE length(raw) > 0 AND status IN ('processed', 'ignored') "
            "AND coalesce(processed_at, received_at) < ?", (cutoff,)).rowcount
        sent = store.conn.execute(
            "UPDATE outbox SET raw = x'' WHERE length(raw) > 0 AND status IN ('sent', 'failed', 'erased') "
            "AND coalesce(sent_at, created_at) < ?", (cutoff,)).rowcount
        store.conn.execute("INSERT INTO jobs (name, last_run) VALUES ('purge-raw-mail', ?) "
                           "ON CONFLICT(name) DO UPDATE SET last_run = excluded.last_run", (iso(now),))
        if received or sent:
            store.log("raw-mail-purged", now, received=received, sent=sent, older_than_days=days)
    return received + sent
