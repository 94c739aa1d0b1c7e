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


def pair_view(service, p: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """One pair as coordinators see it: states, dates, counts and flags."""
    store = service.store
    state = service.workflow.states.get(p["state"])
    facts = json.loads(p.get("facts") or "{}")
    agreement = None
    row = store.one('SELECT version, "values", confirmed, active_at FROM agreements WHERE pair_id = ? '
                    "ORDER BY version DESC LIMIT 1", (p["id"],))
    if row is not None:
        in_force = store.scalar("SELECT max(version) FROM agreements WHERE pair_id = ? AND active_at IS NOT NULL",
                                (p["id"],))
        agreement = {
            "version": row["version"],
            "in_force": in_force or 0,
            "confirmed_by": sorted(json.loads(row["confirmed"])),
            "fields": sorted(k for k, v in json.loads(row["values"]).items() if v not in (None, "", [])),
        }
    flags = list(facts.get("flags") or [])
    if _below_frequency(facts, p, now) and "below-frequency" not in flags:
        flags.append("below-frequency")
    if facts.get("late_cancellations"):
        flags.append(f"late-cancellations:{facts['late_cancellations']}")
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
        "flags": flags,
        "timers": [dict(t) for t in store.all(
            "SELECT name, due_at FROM timers WHERE pair_id = ? AND status = 'pending' ORDER BY due_at", (p["id"],))],
    }


def _below_frequency(facts: dict[str, Any], p: dict[str, Any], now: dt.datetime) -> bool:
    """Fewer meetings than the agreed frequency allows for, with one meeting's grace."""
    interval = facts.get("interval_days")
    since = facts.get("agreed_at")
    if not interval or p["state"] not in ("active", "checkin-due"):
        return False
    start = parse_iso(since) if since else parse_iso(p["created_at"])
    expected = (now - start).days // int(interval)
    return int(facts.get("meetings", 0)) < expected - 1


def gather(service, email: str | None = None) -> dict[str, Any]:
    store = service.store
    if email and store.participant_by_email(email) is None:
        from .errors import MailflowError

        raise MailflowError(f"{email} is not enrolled; see `mailflow status` for everyone.")
    now = service.clock.now()
    pairs = [pair_view(service, p, now) for p in store.pairs(email)]
    columns = ("email, name, role, status, away_until, available, capacity, timezone, language, state, state_since, "
               "consent, consented_at, restricted_at, restricted_reason")
    people = store.all(f"SELECT {columns} FROM participants ORDER BY role, email" if not email else
                       f"SELECT {columns} FROM participants WHERE email = ?",
                       () if not email else (email.lower(),))
    for person in people:
        person["available"] = bool(person["available"])
        # Their own state (the welcome: waiting for YES, taking part, withdrawn) and whether
        # they may be introduced or listed yet.
        spec = service.workflow.states.get(person["state"] or "")
        person["state_description"] = spec.description if spec else ""
        person["pairable"] = service.workflow.pairable(person["state"]) and person["status"] != "withdrawn"
    inbound = {r["status"]: r["n"] for r in store.all("SELECT status, count(*) AS n FROM inbound GROUP BY status")}
    outbox = {r["status"]: r["n"] for r in store.all("SELECT status, count(*) AS n FROM outbox GROUP BY status")}
    quarantined = store.all(
        "SELECT id, received_at, attempts, reason FROM inbound WHERE status = 'quarantined' ORDER BY id")
    failed = store.all("SELECT id, to_addr, template, last_error, created_at FROM outbox WHERE status = 'failed' ORDER BY id")
    return {
        "scheme": service.config.scheme.name,
        "pairs": pairs,
        "participants": people,
        "inbound": inbound,
        "outbox": outbox,
        "quarantined": quarantined,
        "failed_deliveries": failed,
    }


def format_text(data: dict[str, Any]) -> str:
    lines = [f"{data['scheme']}"]
    if not data["pairs"]:
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
