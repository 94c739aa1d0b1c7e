"""Carry out decisions, inside the caller's transaction.

This is the one place where workflow decisions become database rows: pair states,
timers, drafts, participant flags, the event log and outbox rows. It never sends
mail or touches IMAP: those happen after the transaction commits.

Confidentiality is enforced here as well as in the templates: an email to the
coordinators never receives the template variables that carry what a participant
wrote (form values, reply text).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass
from typing import Any

from ..clock import TokenSource, iso
from ..config import Config
from ..outbox import Recipient, enqueue, greeting_of
from ..parse import forms as formlib
from ..parse.dates import display as display_date
from ..render import Renderer
from ..store import Store
from .decisions import Decision, MarkBouncing, Record, SaveDraft, Send, SetAway, Transition
from .loader import Workflow

# Template variables that may carry a participant's own words: never sent to coordinators.
CONFIDENTIAL_VARS = frozenset({"understood", "invalid", "unknown_labels", "line", "text", "form", "forms",
                               "warnings"})


@dataclass
class Subject:
    """What the decisions are about: the pair, who wrote, and the message answered."""

    pair: dict[str, Any] | None = None
    sender: Recipient | None = None
    inbound_id: int | None = None
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    their_subject: str = ""  # the subject of the message answered, for "Re: ..."
    key: str = ""  # idempotency prefix, e.g. "in:12", "pair:3:start", "timer:7"


class Applier:
    def __init__(self, store: Store, config: Config, workflow: Workflow, renderer: Renderer, tokens: TokenSource):
        self.store = store
        self.config = config
        self.workflow = workflow
        self.renderer = renderer
        self.tokens = tokens
        self.tz = zoneinfo.ZoneInfo(config.scheme.timezone)

    # ------------------------------------------------------------------ entry point

    def apply(self, decisions: tuple[Decision, ...] | list[Decision], subject: Subject, now: dt.datetime) -> list[int]:
        """Apply every decision in order. Returns the ids of the outbox rows queued."""
        queued: list[int] = []
        for d in decisions:
            if isinstance(d, Transition):
                self._transition(subject, d.to, now)
            elif isinstance(d, Send):
                queued += self._send(subject, d, now)
            elif isinstance(d, Record):
                self.store.log(
                    d.kind, now, pair_id=subject.pair["id"] if subject.pair else None,
                    participant_id=subject.sender.participant_id if subject.sender else None,
                    inbound_id=subject.inbound_id, **d.data,
                )
            elif isinstance(d, SaveDraft):
                self._save_draft(subject, d, now)
            elif isinstance(d, MarkBouncing):
                self.store.conn.execute(
                    "UPDATE participants SET status = 'bouncing' WHERE email = ?", (d.email.lower(),)
                )
                p = self.store.participant_by_email(d.email)
                self.store.log("address-bouncing", now, participant_id=p["id"] if p else None,
                               inbound_id=subject.inbound_id, status=d.status)
            elif isinstance(d, SetAway):
                self.store.conn.execute(
                    "UPDATE participants SET away_until = ? WHERE email = ?",
                    (d.until.isoformat() if d.until else None, d.email.lower()),
                )
            else:  # pragma: no cover - a new decision type without a handler is a bug
                raise TypeError(f"no handler for decision {d!r}")
        return queued

    # ------------------------------------------------------------------ state

    def _transition(self, subject: Subject, to: str, now: dt.datetime) -> None:
        pair = subject.pair
        assert pair is not None, "a state transition needs a pair"
        old = pair.get("state")
        self.store.update("pairs", pair["id"], state=to, state_since=iso(now))
        self.store.conn.execute(
            "UPDATE timers SET status = 'cancelled' WHERE pair_id = ? AND status = 'pending' AND state != ?",
            (pair["id"], to),
        )
        for timer in self.workflow.timers:
            if timer.state == to:
                self.store.conn.execute(
                    "INSERT OR IGNORE INTO timers (key, pair_id, name, state, due_at) VALUES (?, ?, ?, ?, ?)",
                    (f"{pair['id']}:{timer.name}:{iso(now)}", pair["id"], timer.name, to, iso(now + timer.after)),
                )
        self.store.log("state", now, pair_id=pair["id"], inbound_id=subject.inbound_id, state_from=old, state_to=to)
        pair.update(state=to, state_since=iso(now))

    def _save_draft(self, subject: Subject, d: SaveDraft, now: dt.datetime) -> None:
        assert subject.pair is not None
        values = json.dumps({k: _jsonable(v) for k, v in d.values.items()}, sort_keys=True)
        self.store.conn.execute(
            """INSERT INTO drafts (pair_id, form, "values", updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(pair_id, form) DO UPDATE SET "values" = excluded."values", updated_at = excluded.updated_at""",
            (subject.pair["id"], d.form, values, iso(now)),
        )

    def draft(self, pair_id: int, form: str) -> dict[str, Any]:
        """The form values understood so far, typed by field (dates as dates, lists as tuples)."""
        row = self.store.one('SELECT "values" FROM drafts WHERE pair_id = ? AND form = ?', (pair_id, form))
        if not row:
            return {}
        kinds = {f.name: f.kind for f in self.workflow.forms.get(form, ())}
        values = {}
        for name, value in json.loads(row["values"]).items():
            if kinds.get(name) == "date" and isinstance(value, str):
                value = dt.date.fromisoformat(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return values

    # ------------------------------------------------------------------ email

    def recipients(self, subject: Subject, audience: str) -> list[Recipient]:
        pair = subject.pair
        if audience == "coordinators":
            out = []
            for addr in self.config.scheme.coordinators:
                row = self.store.participant_by_email(addr)
                out.append(Recipient(addr, row["name"] if row else "Coordinator", "coordinator",
                                     row["id"] if row else None, greeting_of(row["extra"]) if row else ""))
            return out
        if audience == "sender":
            return [subject.sender] if subject.sender else []
        if pair is None:
            return []
        mentor = Recipient(pair["mentor_email"], pair["mentor_name"], "mentor", pair["mentor_id"],
                           pair.get("mentor_greeting") or "")
        mentee = Recipient(pair["mentee_email"], pair["mentee_name"], "mentee", pair["mentee_id"],
                           pair.get("mentee_greeting") or "")
        if audience == "mentor":
            return [mentor]
        if audience == "mentee":
            return [mentee]
        if audience == "partner" and subject.sender is not None:
            return [mentee if subject.sender.participant_id == pair["mentor_id"] else mentor]
        return []

    def context(self, subject: Subject, now: dt.datetime, expects: str | None,
                for_coordinators: bool = False) -> dict[str, Any]:
        pair = subject.pair
        local_now = now.astimezone(self.tz)
        ctx: dict[str, Any] = {
            "now": local_now,
            "today": display_date(local_now.date()),
            "coordinators": ", ".join(self.config.scheme.coordinators),
            "sender": subject.sender,
            "reply_subject": _re(subject.their_subject, self.config.scheme.name),
        }
        if pair is not None:
            state = self.workflow.states.get(pair["state"])
            ctx["pair"] = {"id": pair["id"], "state": pair["state"],
                           "state_description": state.description if state else ""}
            ctx["mentor"] = Recipient(pair["mentor_email"], pair["mentor_name"], "mentor", pair["mentor_id"],
                                      pair.get("mentor_greeting") or "")
            ctx["mentee"] = Recipient(pair["mentee_email"], pair["mentee_name"], "mentee", pair["mentee_id"],
                                      pair.get("mentee_greeting") or "")
        spec = self.workflow.replies.get(expects or "")
        ctx["commands"] = {name: list(words) for name, words in spec.commands.items()} if spec else {}
        ctx["expects_reply"] = spec is not None  # the footer invites a reply only then
        # The pair's own content (forms as filled in so far): never for coordinators.
        ctx["form"] = ""
        ctx["forms"] = {}
        if pair is not None and not for_coordinators:
            for name, fields in self.workflow.forms.items():
                ctx["forms"][name] = formlib.render_form(fields, self.draft(pair["id"], name))
            if spec is not None and spec.form:
                ctx["form"] = ctx["forms"][spec.form]
        return ctx

    def _send(self, subject: Subject, d: Send, now: dt.datetime) -> list[int]:
        queued = []
        for r in self.recipients(subject, d.to):
            variables = dict(d.vars)
            coordinator = r.role == "coordinator"
            if coordinator:
                variables = {k: v for k, v in variables.items() if k not in CONFIDENTIAL_VARS}
            ctx = {**self.context(subject, now, d.expects, for_coordinators=coordinator), **variables}
            day = now.astimezone(self.tz).date().isoformat()
            key = subject.key or f"note:{day}"
            oid = enqueue(
                self.store, self.config, self.renderer, self.tokens,
                key=f"{key}:{d.template}:{r.email}",
                template=d.template,
                recipient=r,
                context=ctx,
                now=now,
                pair_id=subject.pair["id"] if subject.pair else None,
                inbound_id=subject.inbound_id,
                expects=d.expects,
                in_reply_to=subject.in_reply_to if d.to == "sender" else "",
                references=subject.references if d.to == "sender" else (),
                exempt=d.exempt,
            )
            if oid is not None:
                queued.append(oid)
        return queued


def _re(subject: str, scheme: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return f"Your email to {scheme}"
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple):
        return list(v)
    return v
