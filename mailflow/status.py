"""``mailflow status``: pairs, states and the mail queues, as data or as text.

Only status, dates and counts: never the content of anyone's email. For each pair:
its state, the agreement's version and who confirmed it (the names of its fields,
never their words), the review date, the next meeting, meetings and minutes, the
last check-in and the flags (silent, cancellations, below the agreed frequency,
concern raised). Pulse scores, reasons, check-in notes, feedback text and agendas
appear nowhere here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .clock import parse_iso


def pair_view(service, p: dict[str, Any], now: dt.datetime, *, agreements: list[dict] | None = None,
              timers: list[dict] | None = None) -> dict[str, Any]:
    """One pair as coordinators see it: states, dates, counts and flags.

    ``agreements`` (the pair's versions, oldest first) and ``timers`` (its pending
    timers, soonest first) may be given, read for many pairs at once
    (:func:`gather`); otherwise they are read here."""
    store = service.store
    state = service.workflow.states.get(p["state"])
    facts = json.loads(p.get("facts") or "{}")
    if agreements is None:
        agreements = store.all('SELECT version, "values", confirmed, active_at FROM agreements WHERE pair_id = ? '
                               "ORDER BY version", (p["id"],))
    if timers is None:
        # Sorted here: ORDER BY due_at led SQLite to read every pending timer (timers_due).
        timers = sorted(store.all("SELECT name, due_at, id FROM timers WHERE pair_id = ? AND status = 'pending'",
                                  (p["id"],)), key=lambda t: (t["due_at"], t["id"]))
    agreement = None
    if agreements:
        row = agreements[-1]
        agreement = {
            "version": row["version"],
            "in_force": max((a["version"] for a in agreements if a["active_at"] is not None), default=0),
            "confirmed_by": sorted(json.loads(row["confirmed"])),
            "fields": sorted(k for k, v in json.loads(row["values"]).items() if v not in (None, "", [])),
        }
    return {
        "id": p["id"],
        "mentee": {"name": p["mentee_name"], "email": p["mentee_email"]},
        "mentor": {"name": p["mentor_name"], "email": p["mentor_email"]},
        "state": p["state"],
        "state_description": state.description if state else "",
        "final": bool(state and state.final),
        "state_since": p["state_since"],
        "paired_at": p["created_at"],
        "agreement": agreement,
        "review_date": facts.get("review_date"),
        "proposed_review_date": facts.get("proposed_review_date"),
        "next_meeting": facts.get("next_meeting"),
        "meetings": int(facts.get("meetings", 0)),
        "minutes": int(facts.get("minutes", 0)),
        "last_checkin": facts.get("last_checkin"),
        "cancellations": int(facts.get("cancellations", 0)),
        "paused_until": facts.get("paused_until"),
        "ended_at": facts.get("ended_at"),
        "ended_by": facts.get("ended_by"),
        "flags": _flags(facts, p, now),
        "timers": [{"name": t["name"], "due_at": t["due_at"]} for t in timers],
    }


def _flags(facts: dict[str, Any], p: dict[str, Any], now: dt.datetime) -> list[str]:
    flags = list(facts.get("flags") or [])
    if _below_frequency(facts, p, now) and "below-frequency" not in flags:
        flags.append("below-frequency")
    if facts.get("late_cancellations"):
        flags.append(f"late-cancellations:{facts['late_cancellations']}")
    return flags


def _below_frequency(facts: dict[str, Any], p: dict[str, Any], now: dt.datetime) -> bool:
    """Fewer meetings than the agreed frequency allows for, with one meeting's grace."""
    interval = facts.get("interval_days")
    since = facts.get("agreed_at")
    if not interval or p["state"] not in ("active", "checkin-due"):
        return False
    start = parse_iso(since) if since else parse_iso(p["created_at"])
    expected = (now - start).days // int(interval)
    return int(facts.get("meetings", 0)) < expected - 1


def _by_pair(store, sql: str, ids: list[int] | None) -> dict[int, list[dict[str, Any]]]:
    """Rows of ``sql`` (which selects ``pair_id`` first) grouped by pair: for every pair
    when ``ids`` is None (one pass), else for those pairs (by their index)."""
    out: dict[int, list[dict[str, Any]]] = {}
    if ids is None:
        batches: list[list[int] | None] = [None]
    else:
        batches = [ids[i:i + 500] for i in range(0, len(ids), 500)]
    for batch in batches:
        where = "" if batch is None else f"pair_id IN ({','.join('?' * len(batch))}) AND "
        for row in store.conn.execute(sql.format(where=where), batch or ()):
            out.setdefault(row[0], []).append(dict(row))
    return out


PAGE_SIZE = 50
WAITING = {"inbound": ("received", "quarantined"), "outbox": ("pending", "sending", "retrying", "failed")}


def gather(service, email: str | None = None, *, page: int | None = None, pairs: bool = True) -> dict[str, Any]:
    """What ``mailflow status`` shows, as data.

    ``service`` is anything with ``store``, ``workflow``, ``clock`` and ``config``
    (a :class:`~mailflow.service.Service`, or the CLI's lighter view). Every query
    reads only what it shows (issue 12): for EMAIL, that person's pairs by index
    and the queues (mail waiting, quarantined or failed) by index, not the history;
    for everyone, the pairs in one pass with their agreements and pending timers
    read together, not pair by pair. ``page`` (from 1) gives :data:`PAGE_SIZE` pairs;
    ``pairs=False`` gives none (the summary and what needs attention only).
    """
    store = service.store
    if email and store.participant_by_email(email) is None:
        from .errors import MailflowError

        raise MailflowError(f"{email} is not enrolled; see `mailflow status` for everyone.")
    now = service.clock.now()
    rows: list[dict[str, Any]] = []
    if email:
        rows = store.pairs(email)
    elif pairs:
        rows = store.pairs(page=page, per_page=PAGE_SIZE) if page else store.pairs()
    whole = not email and pairs and not page
    ids = None if whole else [p["id"] for p in rows]
    agreements = _by_pair(store, 'SELECT pair_id, version, "values", confirmed, active_at FROM agreements '
                                 "WHERE {where}1 ORDER BY pair_id, version", ids) if rows else {}
    # Sorted here, not by ORDER BY: to save a sort, SQLite read every pending timer
    # through timers_due (0.15-0.35 s at 50,000 pairs) instead of the pairs' own.
    timers = _by_pair(store, "SELECT pair_id, name, due_at, id FROM timers WHERE {where}status = 'pending'",
                      ids) if rows else {}
    for found in timers.values():
        found.sort(key=lambda t: (t["due_at"], t["id"]))
    views = [pair_view(service, p, now, agreements=agreements.get(p["id"], []), timers=timers.get(p["id"], []))
             for p in rows]
    cols = ("email, name, role, status, away_until, available, capacity, timezone, language, state, state_since, "
            "consent, consented_at, restricted_at, restricted_reason")
    if email:
        people = store.all(f"SELECT {cols} FROM participants WHERE email = ?", (email.lower(),))
    elif pairs and not page:
        people = store.all(f"SELECT {cols} FROM participants ORDER BY role, email")
    else:  # the summary: only those who need attention
        people = store.all(f"SELECT {cols} FROM participants WHERE status != 'active' OR away_until IS NOT NULL "
                           "OR restricted_at IS NOT NULL ORDER BY role, email")
    for person in people:
        person["available"] = bool(person["available"])
        # Their own state (the welcome: waiting for YES, taking part, withdrawn) and whether
        # they may be introduced or listed yet.
        spec = service.workflow.states.get(person["state"] or "")
        person["state_description"] = spec.description if spec else ""
        person["pairable"] = service.workflow.pairable(person["state"]) and person["status"] != "withdrawn"
    data = {
        "scheme": service.config.scheme.name,
        "pairs": views,
        "participants": people,
        "inbound": _counts(store, "inbound", whole_table=not email),
        "outbox": _counts(store, "outbox", whole_table=not email),
        "quarantined": store.all(
            "SELECT id, received_at, attempts, reason FROM inbound WHERE status = 'quarantined' ORDER BY id"),
        "failed_deliveries": store.all(
            "SELECT id, to_addr, template, last_error, created_at FROM outbox WHERE status = 'failed' ORDER BY id"),
    }
    if not email:
        data["summary"] = summary(service, now)
    if page:
        data["page"] = {"page": page, "per_page": PAGE_SIZE, "pairs": data["summary"]["pairs"]}
    return data


def _counts(store, table: str, whole_table: bool) -> dict[str, int]:
    """Messages by status: every status for the whole scheme, or (``whole_table``
    False) only those still waiting or needing a person, read by index."""
    if whole_table:
        sql = f"SELECT status, count(*) AS n FROM {table} GROUP BY status"
        return {r["status"]: r["n"] for r in store.all(sql)}
    out = {}
    for status in WAITING[table]:
        n = store.scalar(f"SELECT count(*) FROM {table} WHERE status = ?", (status,))
        if n:
            out[status] = n
    return out


def summary(service, now: dt.datetime) -> dict[str, Any]:
    """Counts by state and role, and the pairs that need attention (flags), in one
    pass over the pairs' states and facts."""
    store = service.store
    by_state = {r["state"]: r["n"] for r in store.all("SELECT state, count(*) AS n FROM pairs GROUP BY state")}
    roles = {r["role"]: r["n"] for r in store.all("SELECT role, count(*) AS n FROM participants GROUP BY role")}
    mentors = store.one("SELECT coalesce(sum(available = 0), 0) AS unavailable, "
                        "coalesce(sum(capacity IS NOT NULL), 0) AS capped FROM participants WHERE role = 'mentor'")
    live = [s for s, spec in service.workflow.states.items() if not spec.final]
    flagged = []
    marks = ",".join("?" * len(live)) or "''"
    for p in store.conn.execute(f"SELECT id, state, created_at, facts FROM pairs WHERE state IN ({marks}) "
                                "AND facts != '{{}}' ORDER BY id", live):
        facts = json.loads(p["facts"] or "{}")
        flags = _flags(facts, p, now)
        if flags:
            flagged.append({"id": p["id"], "state": p["state"], "flags": flags})
    return {"pairs": sum(by_state.values()), "by_state": dict(sorted(by_state.items())), "participants": roles,
            "mentors_unavailable": mentors["unavailable"], "mentors_with_capacity": mentors["capped"],
            "flagged": flagged}


def format_text(data: dict[str, Any]) -> str:
    lines = [f"{data['scheme']}"]
    summary = data.get("summary")
    if summary is not None:
        states = ", ".join(f"{n} {s}" for s, n in summary["by_state"].items()) or "none"
        people = ", ".join(f"{n} {r}s" for r, n in sorted(summary["participants"].items())) or "nobody"
        lines.append(f"  {summary['pairs']} pairs: {states}")
        lines.append(f"  {people} enrolled; {summary['mentors_unavailable']} mentors unavailable")
        for f in summary["flagged"][:20]:
            lines.append(f"  ! pair {f['id']} ({f['state']}) flags: {', '.join(f['flags'])}")
        if len(summary["flagged"]) > 20:
            lines.append(f"  ! {len(summary['flagged']) - 20} more pairs flagged (mailflow status --all)")
        shown = len(data["pairs"])
        if "page" in data:
            pages = max(1, -(-summary["pairs"] // data["page"]["per_page"]))
            lines.append(f"  page {data['page']['page']} of {pages} (mailflow status --page N, or --all)")
        elif shown < summary["pairs"]:
            lines.append("  each pair: mailflow status --all, or --page N, or mailflow status EMAIL")
    elif not data["pairs"]:
        lines.append("  no pairs yet")
    if summary is not None and not summary["pairs"]:
        lines.append("  no pairs yet")
    for p in data["pairs"]:
        lines.append(
            f"  pair {p['id']}: {p['mentee']['name']} <{p['mentee']['email']}> with "
            f"{p['mentor']['name']} <{p['mentor']['email']}>: {p['state']} since {p['state_since'][:10]}"
        )
        facts = []
        if p["agreement"]:
            a = p["agreement"]
            facts.append(f"agreement v{a['version']}" + (" in force" if a["in_force"] == a["version"] else
                                                          f" (confirmed by {', '.join(a['confirmed_by'])}; "
                                                          f"v{a['in_force']} in force)" if a["in_force"] else
                                                          f" (confirmed by {', '.join(a['confirmed_by'])})"))
        if p["review_date"]:
            facts.append(f"review {p['review_date']}")
        if p["next_meeting"]:
            facts.append(f"next meeting {p['next_meeting'][:16].replace('T', ' ')}")
        if p["meetings"]:
            facts.append(f"{p['meetings']} meetings, {p['minutes']} minutes")
        if p["last_checkin"]:
            facts.append(f"last check-in {p['last_checkin'][:10]}")
        if facts:
            lines.append("      " + "; ".join(facts))
        if p["flags"]:
            lines.append("      ! flags: " + ", ".join(p["flags"]))
        for t in p["timers"]:
            lines.append(f"      next: {t['name']} due {t['due_at'][:16].replace('T', ' ')} UTC")
    for p in data["participants"]:
        if p["status"] != "active":
            lines.append(f"  ! {p['email']} is {p['status']}")
    waiting = [p for p in data["participants"] if p["role"] != "coordinator" and not p.get("pairable", True)
               and p["status"] != "withdrawn"]
    for p in waiting:
        lines.append(f"  {p['email']}: {p.get('state')} since {(p.get('state_since') or '')[:10]} "
                     "(not yet taking part: cannot be paired)")
    consented = [p for p in data["participants"] if p.get("consented_at")]
    if consented:
        lines.append(f"  consent: {len(consented)} taking part (" +
                     ", ".join(f"{n} {how}" for how, n in sorted(
                         {h: sum(p['consent'] == h for p in consented) for h in {p['consent'] for p in consented}}.items()))
                     + ")")
    for p in data["participants"]:
        if p.get("restricted_at"):
            lines.append(f"  ! {p['email']} is restricted since {p['restricted_at'][:10]} "
                         f"({p.get('restricted_reason') or 'no reason recorded'}): not listed, cannot be paired")
    states: dict[str, dict[str, int]] = {}
    for p in data["participants"]:
        if p.get("state") and p["role"] != "coordinator":
            by_role = states.setdefault(p["role"], {})
            by_role[p["state"]] = by_role.get(p["state"], 0) + 1
    for role, counts in sorted(states.items()):
        lines.append(f"  {role}s: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for p in data["participants"]:
        if p.get("away_until"):
            lines.append(f"  {p['email']} is away until {p['away_until']}")
        if p["role"] == "mentor" and (not p["available"] or p["capacity"] is not None):
            cap = f"capacity {p['capacity']}" if p["capacity"] is not None else ""
            lines.append(f"  {p['email']}: {'unavailable' if not p['available'] else 'available'}"
                         f"{'; ' + cap if cap else ''}")
    fmt = lambda d: ", ".join(f"{n} {s}" for s, n in sorted(d.items())) or "none"  # noqa: E731
    lines.append(f"  inbound: {fmt(data['inbound'])}")
    lines.append(f"  outbox: {fmt(data['outbox'])}")
    for q in data["quarantined"]:
        lines.append(f"  ! inbound #{q['id']} quarantined ({q['reason']}); after fixing: mailflow replay {q['id']}")
    for f in data["failed_deliveries"]:
        lines.append(f"  ! outbox #{f['id']} to {f['to_addr']} failed: {f['last_error']}")
    return "\n".join(lines)
