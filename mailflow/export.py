"""What leaves the database as files: the coordinators' CSV of pairs, and one
participant's own data.

* :func:`pairs_csv`: every pair, one row each: names, addresses, state, key dates,
  counts and flags (what ``mailflow status`` shows). Never what anyone wrote.
* :func:`participant_data` / :func:`write_export`: everything held about one
  participant, for them (``mailflow export EMAIL --out PATH``, or their reply
  ``EXPORT``): their enrolment, their pairs (states, dates, meetings, the agreement
  versions both of them confirmed), what only they may see (their pulse scores,
  notes and reasons), their feedback, the emails we sent them (dates and subjects),
  the events about them, and every email they sent us, raw, as ``.eml`` files. It
  holds nothing their partner kept private, and no flag about the pair (a flag can
  say that the partner raised a concern).

:func:`attachments_for` is the one place that decides which file may go to whom:
a participant's data only to that participant, the CSV only to coordinators.
"""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import email.utils
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .clock import iso
from .errors import MailflowError
from .render import Attachment
from .status import pair_view

# What a pair's facts hold that a member's export leaves out: the votes (the partner's
# too) and the flags (coordinators' notes about the pair, e.g. that a concern was raised).
_FACTS_LEFT_OUT = ("votes", "flags")

CSV_COLUMNS = ("pair", "state", "state_since", "paired_at", "mentee", "mentee_email", "mentor", "mentor_email",
               "agreement_version", "agreement_in_force", "review_date", "next_meeting", "meetings", "minutes",
               "last_checkin", "cancellations", "paused_until", "ended_at", "flags")

Progress = Callable[[Iterable, str, int], Iterable]


def _quiet(items: Iterable, _label: str, _length: int) -> Iterable:
    return items


# --------------------------------------------------------------------------- the pairs, for coordinators


def pairs_csv(source, now: dt.datetime) -> bytes:
    """Every pair as CSV (UTF-8 with a byte-order mark, so spreadsheets read names right).

    ``source`` is anything with ``.store`` and ``.workflow`` (the service, the applier)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in source.store.pairs():
        v = pair_view(source, p, now)
        ag = v["agreement"] or {}
        writer.writerow([
            v["id"], v["state"], v["state_since"], v["paired_at"], v["mentee"]["name"], v["mentee"]["email"],
            v["mentor"]["name"], v["mentor"]["email"], ag.get("version", ""), ag.get("in_force", ""),
            v["review_date"] or "", v["next_meeting"] or "", v["meetings"], v["minutes"], v["last_checkin"] or "",
            v["cancellations"], v["paused_until"] or "", v["ended_at"] or "", " ".join(v["flags"]),
        ])
    return out.getvalue().encode("utf-8-sig")


def csv_name(now: dt.datetime, tz) -> str:
    return f"pairs-{now.astimezone(tz).date().isoformat()}.csv"


# --------------------------------------------------------------------------- one participant's data


def _from_addr(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    msg = email.message_from_bytes(head + b"\n\n", policy=email.policy.compat32)
    return email.utils.parseaddr(str(msg.get("From", "") or ""))[1].lower()


def their_mail(store, participant: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored emails this participant sent: matched to them, or from their address.
    (A message someone else sent with their reply address is not theirs.)"""
    rows = store.all(
        "SELECT id, received_at, status, reason, raw FROM inbound WHERE participant_id = ? "
        "OR instr(lower(CAST(raw AS TEXT)), ?) > 0 ORDER BY id", (participant["id"], participant["email"]))
    return [r for r in rows if r["raw"] and _from_addr(r["raw"]) == participant["email"]]


def participant_data(store, email_addr: str, now: dt.datetime, scheme: str = "") -> tuple[dict, list[dict]]:
    """Everything held about one participant, as JSON-ready data, and their raw mail
    (each ``{"name": "mail/0001.eml", "raw": bytes, ...}``)."""
    p = store.participant_by_email(email_addr)
    if p is None:
        raise MailflowError(f"{email_addr} is not enrolled; `mailflow status` lists everyone.")
    pid = p["id"]
    pairs = []
    for pair in store.pairs(p["email"]):
        role = "mentee" if pair["mentee_id"] == pid else "mentor"
        other = "mentor" if role == "mentee" else "mentee"
        facts = {k: v for k, v in json.loads(pair["facts"] or "{}").items() if k not in _FACTS_LEFT_OUT}
        pairs.append({
            "pair": pair["id"], "your_role": role, "partner": pair[f"{other}_name"], "state": pair["state"],
            "state_since": pair["state_since"], "paired_at": pair["created_at"], "facts": facts,
            "meetings": store.all("SELECT day, minutes, at FROM meetings WHERE pair_id = ? ORDER BY day, id",
                                  (pair["id"],)),
            "agreements": [{**a, "values": json.loads(a["values"]), "confirmed": json.loads(a["confirmed"])}
                           for a in store.all('SELECT version, "values", proposed_by, proposed_at, confirmed, '
                                              "active_at FROM agreements WHERE pair_id = ? ORDER BY version",
                                              (pair["id"],))],
        })
    mail = []
    for n, row in enumerate(their_mail(store, p), 1):
        mail.append({"name": f"mail/{n:04d}.eml", "raw": row["raw"], "received_at": row["received_at"],
                     "status": row["status"], "reason": row["reason"]})
    profile = {k: p[k] for k in ("email", "name", "role", "status", "created_at", "available", "capacity",
                                 "timezone", "away_until") if k in p}
    profile["other_columns"] = json.loads(p.get("extra") or "{}")
    data = {
        "scheme": scheme,
        "exported_at": iso(now),
        "about": "Everything the mentoring scheme holds about you. Your emails to the scheme are in mail/.",
        "participant": profile,
        "pairs": pairs,
        "private": [{**r, "data": json.loads(r["data"])} for r in store.all(
            "SELECT pair_id, kind, data, at FROM private WHERE participant_id = ? ORDER BY id", (pid,))],
        "feedback": store.all("SELECT pair_id, kind, rating, text, at FROM feedback WHERE participant_id = ? "
                              "ORDER BY id", (pid,)),
        "emails_to_you": store.all("SELECT created_at, sent_at, status, template, subject FROM outbox "
                                   "WHERE participant_id = ? OR to_addr = ? ORDER BY id", (pid, p["email"])),
        "emails_from_you": [{k: m[k] for k in ("name", "received_at", "status", "reason")} for m in mail],
        "events": [{**e, "data": json.loads(e["data"])} for e in store.all(
            "SELECT at, kind, pair_id, data FROM events WHERE participant_id = ? ORDER BY id", (pid,))],
    }
    return data, mail


def export_zip(store, email_addr: str, now: dt.datetime, scheme: str = "",
               progress: Progress = _quiet) -> bytes:
    data, mail = participant_data(store, email_addr, now, scheme)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.json", json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        for m in progress(mail, "writing emails", len(mail)):
            z.writestr(m["name"], m["raw"])
    return buf.getvalue()


def write_export(store, email_addr: str, out: Path, now: dt.datetime, scheme: str = "",
                 progress: Progress = _quiet) -> Path:
    """Write one participant's data to ``out``: a zip when it ends in ``.zip``, else a
    folder (new, or empty) holding ``data.json`` and ``mail/*.eml``."""
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(export_zip(store, email_addr, now, scheme, progress))
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MailflowError(f"{out} exists and is not an empty folder; give a new folder, or a path ending in .zip.")
    data, mail = participant_data(store, email_addr, now, scheme)
    (out / "mail").mkdir(parents=True, exist_ok=True)
    (out / "data.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False),
                                   encoding="utf-8")
    for m in progress(mail, "writing emails", len(mail)):
        (out / m["name"]).write_bytes(m["raw"])
    return out


# --------------------------------------------------------------------------- who may get which file


def attachments_for(applier, kind: str, r, subject, now: dt.datetime) -> tuple[Attachment, ...]:
    """The file of ``kind`` for recipient ``r``. A participant's data goes only to that
    participant, in answer to their own message; the CSV of pairs only to coordinators.
    Anything else is a bug in the rules or the code, and stops the email."""
    if kind == "export":
        sender = subject.sender
        if (r.role not in ("mentor", "mentee") or r.participant_id is None or sender is None
                or sender.participant_id != r.participant_id):
            raise MailflowError(f"a participant's data may only be sent to that participant (not {r.role})")
        data = export_zip(applier.store, r.email, now, applier.config.scheme.name)
        day = now.astimezone(applier.tz).date().isoformat()
        return (Attachment(f"my-mentoring-data-{day}.zip", "application/zip", data),)
    if kind == "pairs-csv":
        if r.role != "coordinator":
            raise MailflowError(f"the CSV of pairs is for coordinators only (not {r.role})")
        return (Attachment(csv_name(now, applier.tz), "text/csv", pairs_csv(applier, now)),)
    raise MailflowError(f"no attachment called {kind!r}")
