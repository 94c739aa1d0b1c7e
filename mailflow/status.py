"""``mailflow status``: pairs, states and the mail queues, as data or as text.

Only status, dates and counts: never the content of anyone's email.
"""

from __future__ import annotations

from typing import Any


def gather(service, email: str | None = None) -> dict[str, Any]:
    store = service.store
    if email and store.participant_by_email(email) is None:
        from .errors import MailflowError

        raise MailflowError(f"{email} is not enrolled; see `mailflow status` for everyone.")
    pairs = []
    for p in store.pairs(email):
        state = service.workflow.states.get(p["state"])
        pairs.append({
            "id": p["id"],
            "mentee": {"name": p["mentee_name"], "email": p["mentee_email"]},
            "mentor": {"name": p["mentor_name"], "email": p["mentor_email"]},
            "state": p["state"],
            "state_description": state.description if state else "",
            "final": bool(state and state.final),
            "state_since": p["state_since"],
            "paired_at": p["created_at"],
            "timers": [dict(t) for t in store.all(
                "SELECT name, due_at FROM timers WHERE pair_id = ? AND status = 'pending' ORDER BY due_at", (p["id"],))],
        })
    people = store.all("SELECT email, name, role, status, away_until FROM participants ORDER BY role, email"
                       if not email else
                       "SELECT email, name, role, status, away_until FROM participants WHERE email = ?",
                       () if not email else (email.lower(),))
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
        for t in p["timers"]:
            lines.append(f"      next: {t['name']} due {t['due_at'][:16].replace('T', ' ')} UTC")
    bouncing = [p for p in data["participants"] if p["status"] != "active"]
    for p in bouncing:
        lines.append(f"  ! {p['email']} is {p['status']}")
    for p in data["participants"]:
        if p.get("away_until"):
            lines.append(f"  {p['email']} is away until {p['away_until']}")
    fmt = lambda d: ", ".join(f"{n} {s}" for s, n in sorted(d.items())) or "none"  # noqa: E731
    lines.append(f"  inbound: {fmt(data['inbound'])}")
    lines.append(f"  outbox: {fmt(data['outbox'])}")
    for q in data["quarantined"]:
        lines.append(f"  ! inbound #{q['id']} quarantined ({q['reason']}); after fixing: mailflow replay {q['id']}")
    for f in data["failed_deliveries"]:
        lines.append(f"  ! outbox #{f['id']} to {f['to_addr']} failed: {f['last_error']}")
    return "\n".join(lines)
