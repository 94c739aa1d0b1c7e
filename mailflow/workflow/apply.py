"""Carry out decisions, inside the caller's transaction.

This is the one place where workflow decisions become database rows: pair states,
facts, timers, drafts, agreement versions, meetings, private notes, feedback,
participant settings, the event log and outbox rows. It never sends mail or touches
IMAP: those happen after the transaction commits.

Timers: when a pair enters a set of states, the timers of that set are written
(``after`` counts from then); a timer relative to a date the pair holds
(``at = "review_date - 14d"``) is written when the date is set and moved when it
changes; a recurring one (``every``) is written again when it fires. Leaving the
states cancels them. Each timer row fires once (see :meth:`Service.fire_timers`).

Confidentiality is enforced here as well as in the templates: an email to the
coordinators never receives the template variables that carry what a participant
wrote (form values, reply text, agenda items, the agreement), nor the pair's
content in its context.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from dataclasses import dataclass
from typing import Any

from .. import matching
from ..clock import TokenSource, iso
from ..config import Config
from ..outbox import Recipient, enqueue, greeting_of
from ..parse import forms as formlib
from ..i18n import Day, chain, localize
from ..render import Renderer
from ..store import Store
from .actions import when_text
from .decisions import (ConfirmAgreement, Decision, GiveFeedback, KeepPrivate, LogMeeting, MarkBouncing,
                        MoveParticipant, ProposeAgreement, Record, RequestMentor, SaveDraft, SaveProfile, Send,
                        SetAway, SetFacts, SetParticipant, StartTimer, Transition, Withdraw)
from .engine import AgreementView, on_start
from .loader import Amount, TimerSpec, When, Workflow

# Template variables that may carry a participant's own words: never sent to coordinators.
CONFIDENTIAL_VARS = frozenset({"understood", "invalid", "unknown_labels", "line", "text", "form", "forms",
                               "warnings", "agenda", "diff", "agreement", "progress_given", "record"})
_DATE_TIME_OF_DAY = dt.time(9, 0)

# What actions may add to an email's variables (see actions.py), as they read when an
# action did not set them: templates can use each without checking it is defined.
ACTION_VARS: dict[str, Any] = {
    "met_on": "", "met_minutes": "", "version": 0, "ref": "", "in_force": 0, "shown": 0, "pending": False,
    "diff": [], "meeting_at": "", "moved_from": "", "moved": False, "meeting": "", "cancelled": "",
    "cancelled_at": "", "late": False, "late_minutes": "", "agenda": "", "proposed": "", "current": "",
    "review": "", "paused_until": "", "reason_given": False, "concern_text": "", "capacity": "", "flag": "",
    "count": 0, "progress_given": {}, "next_problem": "", "problem": "", "problems": [], "usage": "",
    "choices": [], "command": "", "options": [], "available": None, "candidates": [], "line": "", "form_name": "",
    "understood": [], "missing": [], "invalid": [], "unknown_labels": [], "warnings": [],
    # Choosing a mentor (RequestMentor, below) and eligibility (Service.restrict).
    "choice": "", "requested": "", "reason": "", "affected": [], "restricted": {},
    "consented_on": "", "profile_given": False, "taking_part": True,
}  # when a timer due "on" a day fires, in the scheme's zone


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
        self._depth = 0  # apply() calls itself (a mentee's REQUEST starts a pair)
        self._pairs_changed = False

    # ------------------------------------------------------------------ entry point

    def apply(self, decisions: tuple[Decision, ...] | list[Decision], subject: Subject, now: dt.datetime) -> list[int]:
        """Apply every decision in order. Returns the ids of the outbox rows queued.

        When pairs began, changed stage or ended, the addresses of ``[scheme]
        pair_list_to`` get the list of current pairs, once, at the end."""
        self._depth += 1
        try:
            queued = self._apply(decisions, subject, now)
            if self._depth == 1 and self._pairs_changed:
                self._pairs_changed = False
                queued += self.send_pair_list(now)
            return queued
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._pairs_changed = False

    def _apply(self, decisions: tuple[Decision, ...] | list[Decision], subject: Subject,
               now: dt.datetime) -> list[int]:
        queued: list[int] = []
        for d in decisions:
            if isinstance(d, Transition):
                if self.workflow.scope_of(d.to) == "participant":
                    assert subject.sender is not None and subject.sender.participant_id is not None, \
                        "a participant's transition needs the participant"
                    self.move_participant(subject.sender.participant_id, d.to, now, subject.inbound_id)
                else:
                    self._transition(subject, d.to, now)
            elif isinstance(d, MoveParticipant):
                assert subject.pair is not None, "moving a member of a pair needs the pair"
                self.move_participant(subject.pair[f"{d.role}_id"], d.state, now, subject.inbound_id)
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
            elif isinstance(d, SetFacts):
                self._set_facts(subject, d.values, now)
            elif isinstance(d, SetParticipant):
                self._set_participant(subject, d.values, now)
            elif isinstance(d, ProposeAgreement):
                self._propose(subject, d, now)
            elif isinstance(d, ConfirmAgreement):
                self._confirm(subject, d, now)
            elif isinstance(d, LogMeeting):
                assert subject.pair is not None
                self.store.insert("meetings", {"pair_id": subject.pair["id"], "day": d.date.isoformat(),
                                               "minutes": d.minutes, "inbound_id": subject.inbound_id,
                                               "logged_by": subject.sender.participant_id if subject.sender else None,
                                               "at": iso(now)})
            elif isinstance(d, KeepPrivate):
                if subject.sender is not None and subject.sender.participant_id is not None:
                    self.store.insert("private", {"participant_id": subject.sender.participant_id,
                                                  "pair_id": subject.pair["id"] if subject.pair else None,
                                                  "kind": d.kind, "data": json.dumps(d.data, default=str),
                                                  "at": iso(now)})
            elif isinstance(d, GiveFeedback):
                self.store.insert("feedback", {"participant_id": subject.sender.participant_id if subject.sender else None,
                                               "pair_id": subject.pair["id"] if subject.pair else None,
                                               "kind": d.kind, "rating": d.rating, "text": d.text, "at": iso(now)})
                self.store.log("feedback", now, pair_id=subject.pair["id"] if subject.pair else None,
                               feedback=d.kind, rated=d.rating is not None)
            elif isinstance(d, StartTimer):
                self._start_timer(subject, d.name, now)
            elif isinstance(d, RequestMentor):
                queued += self._request(subject, d, now)
            elif isinstance(d, SaveProfile):
                self._save_profile(subject, d.values, now)
            elif isinstance(d, Withdraw):
                self._withdraw(subject, now)
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

    # ------------------------------------------------------------------ state and facts

    def _transition(self, subject: Subject, to: str, now: dt.datetime) -> None:
        pair = subject.pair
        assert pair is not None, "a state transition needs a pair"
        old = pair.get("state")
        facts = self._facts(pair)
        facts.pop("votes", None)  # answers to "need" rules belong to the state they were given in
        if old == facts.get("paused_state_name", "paused"):
            facts.pop("resume_state", None)
        self._write_facts(pair, facts)
        self.store.update("pairs", pair["id"], state=to, state_since=iso(now))
        self._pairs_changed = True
        for row in self.store.all("SELECT id, name FROM timers WHERE pair_id = ? AND status = 'pending'", (pair["id"],)):
            spec = self.workflow.timer(row["name"])
            if spec is None or to not in spec.states:
                self.store.update("timers", row["id"], status="cancelled")
        pair.update(state=to, state_since=iso(now))
        for timer in self.workflow.timers:
            if to in timer.states and old not in timer.states and not timer.manual:
                self._schedule(pair, timer, facts, now)
        self.store.log("state", now, pair_id=pair["id"], inbound_id=subject.inbound_id, state_from=old, state_to=to)

    def move_participant(self, participant_id: int, to: str, now: dt.datetime, inbound_id: int | None = None) -> None:
        """A participant enters one of their own states: the timers of the states they
        leave are cancelled, those of the states they enter are set."""
        row = self.store.participant(participant_id)
        assert row is not None
        old = row.get("state")
        if old == to:
            return
        self.store.update("participants", participant_id, state=to, state_since=iso(now))
        for t in self.store.all("SELECT id, name FROM timers WHERE participant_id = ? AND pair_id IS NULL "
                                "AND status = 'pending'", (participant_id,)):
            spec = self.workflow.timer(t["name"])
            if spec is None or to not in spec.states:
                self.store.update("timers", t["id"], status="cancelled")
        facts = json.loads(row.get("facts") or "{}")
        for timer in self.workflow.timers:
            if to in timer.states and old not in timer.states and not timer.manual:
                due = self.due(timer.when, facts, now)
                if due is not None:
                    self.store.conn.execute(
                        "INSERT OR IGNORE INTO timers (key, pair_id, name, state, due_at, participant_id) "
                        "VALUES (?, NULL, ?, ?, ?, ?)",
                        (f"p{participant_id}:{timer.name}:{iso(now)}:{iso(due)}", timer.name, to, iso(due),
                         participant_id))
        self.store.log("participant-state", now, participant_id=participant_id, inbound_id=inbound_id,
                       state_from=old, state_to=to)

    def _facts(self, pair: dict[str, Any]) -> dict[str, Any]:
        if "_facts" not in pair:
            pair["_facts"] = self.store.facts(pair["id"]) if pair.get("id") else {}
        return pair["_facts"]

    def _write_facts(self, pair: dict[str, Any], facts: dict[str, Any]) -> None:
        pair["_facts"] = facts
        self.store.update("pairs", pair["id"], facts=json.dumps(facts, sort_keys=True, default=str))

    def _set_facts(self, subject: Subject, values: dict[str, Any], now: dt.datetime) -> None:
        pair = subject.pair
        if pair is None:  # a person's own facts (participant scope)
            assert subject.sender is not None and subject.sender.participant_id is not None, "facts need an owner"
            row = self.store.participant(subject.sender.participant_id)
            facts = {**json.loads(row["facts"] or "{}"), **values}
            facts = {k: v for k, v in facts.items() if v is not None}
            self.store.update("participants", row["id"], facts=json.dumps(facts, sort_keys=True, default=str))
            return
        facts = dict(self._facts(pair))
        changed = {k for k, v in values.items() if facts.get(k) != v}
        for k, v in values.items():
            if v is None:
                facts.pop(k, None)
            else:
                facts[k] = v
        self._write_facts(pair, facts)
        if not changed:
            return
        for timer in self.workflow.timers:
            if timer.manual or pair["state"] not in timer.states or not changed & set(timer.when.facts):
                continue
            self.store.conn.execute("UPDATE timers SET status = 'cancelled' WHERE pair_id = ? AND name = ? "
                                    "AND status = 'pending'", (pair["id"], timer.name))
            self._schedule(pair, timer, facts, now)

    def _set_participant(self, subject: Subject, values: dict[str, Any], now: dt.datetime) -> None:
        sender = subject.sender
        if sender is None or sender.participant_id is None:
            return
        allowed = {k: v for k, v in values.items()
                   if k in ("available", "capacity", "status", "consented_at", "consent")}
        self.store.update("participants", sender.participant_id, **allowed)
        self.store.log("participant-settings", now, participant_id=sender.participant_id, **allowed)

    def profile(self, participant: dict[str, Any]) -> dict[str, Any]:
        """A person's profile: the enrolment CSV's columns, then what they told us
        themselves (which wins)."""
        extra = json.loads(participant.get("extra") or "{}")
        facts = json.loads(participant.get("facts") or "{}")
        return {**extra, **(facts.get("profile") or {})}

    def _save_profile(self, subject: Subject, values: dict[str, Any], now: dt.datetime) -> None:
        sender = subject.sender
        if sender is None or sender.participant_id is None:
            return
        row = self.store.participant(sender.participant_id)
        facts = json.loads(row["facts"] or "{}")
        facts["profile"] = {**(facts.get("profile") or {}),
                            **{k: _jsonable(v) for k, v in values.items() if v is not None}}
        changes: dict[str, Any] = {"facts": json.dumps(facts, sort_keys=True, default=str)}
        if isinstance(values.get("capacity"), int):
            changes.update(capacity=values["capacity"], available=1 if values["capacity"] > 0 else 0)
        self.store.update("participants", row["id"], **changes)
        # The log says which fields were given, never what they say.
        self.store.log("profile", now, participant_id=row["id"], inbound_id=subject.inbound_id,
                       fields=sorted(values))

    def _withdraw(self, subject: Subject, now: dt.datetime) -> None:
        sender = subject.sender
        if sender is None or sender.participant_id is None:
            return
        self.store.update("participants", sender.participant_id, status="withdrawn", extra="{}", facts="{}",
                          timezone=None, capacity=None, available=0, away_until=None, consented_at=None,
                          consent=None)
        self.store.log("withdrawn", now, participant_id=sender.participant_id, inbound_id=subject.inbound_id)

    # ------------------------------------------------------------------ timers

    def due(self, when: When | Amount, facts: dict[str, Any], start: dt.datetime) -> dt.datetime | None:
        """When a timer expression falls due, or None when the date it counts from is unknown."""
        if isinstance(when, Amount):
            when = When("entered", (when,))
        if when.base == "entered":
            moment = start
        else:
            value = facts.get(when.base)
            if not value:
                return None
            moment = (dt.datetime.fromisoformat(value) if "T" in str(value) else
                      dt.datetime.combine(dt.date.fromisoformat(str(value)), _DATE_TIME_OF_DAY, self.tz))
        for a in when.amounts:
            if a.delta is not None:
                delta = a.delta
            elif a.setting is not None:
                delta = dt.timedelta(days=float(self.workflow.settings[a.setting]))
            else:
                days = facts.get(f"{a.fact}_days")
                if not days:
                    return None
                delta = dt.timedelta(days=float(days))
            moment = moment + a.sign * delta
        return moment

    def _schedule(self, pair: dict[str, Any], timer: TimerSpec, facts: dict[str, Any], now: dt.datetime,
                  participant_id: int | None = None, after: dt.datetime | None = None) -> None:
        due = self.due(timer.when, facts, after or now)
        if due is None:
            return
        self.store.conn.execute(
            "INSERT OR IGNORE INTO timers (key, pair_id, name, state, due_at, participant_id) VALUES (?, ?, ?, ?, ?, ?)",
            (f"{pair['id']}:{timer.name}:{participant_id or ''}:{iso(now)}:{iso(due)}", pair["id"], timer.name,
             pair["state"], iso(due), participant_id),
        )

    def reschedule(self, pair: dict[str, Any], timer: TimerSpec, fired_due: dt.datetime, now: dt.datetime) -> None:
        """After a recurring timer fired: the next one, ``every`` later (once, after downtime)."""
        assert timer.every is not None
        facts = self._facts(pair)
        nxt = self.due(timer.every, facts, fired_due)
        if nxt is None:
            return
        step = nxt - fired_due
        if step <= dt.timedelta(0):
            return
        while nxt <= now:
            nxt += step
        self.store.conn.execute(
            "INSERT OR IGNORE INTO timers (key, pair_id, name, state, due_at) VALUES (?, ?, ?, ?, ?)",
            (f"{pair['id']}:{timer.name}::every:{iso(nxt)}", pair["id"], timer.name, pair["state"], iso(nxt)),
        )

    def _start_timer(self, subject: Subject, name: str, now: dt.datetime) -> None:
        timer = self.workflow.timer(name)
        if timer is None or subject.pair is None:
            return
        pid = subject.sender.participant_id if subject.sender else None
        self.store.conn.execute("UPDATE timers SET status = 'cancelled' WHERE pair_id = ? AND name = ? AND "
                                "participant_id IS ? AND status = 'pending'", (subject.pair["id"], name, pid))
        self._schedule(subject.pair, timer, self._facts(subject.pair), now, participant_id=pid)

    # ------------------------------------------------------------------ agreements

    def agreement(self, pair_id: int) -> AgreementView:
        rows = self.store.all('SELECT version, "values", proposed_by, confirmed, active_at FROM agreements '
                              "WHERE pair_id = ? ORDER BY version", (pair_id,))
        if not rows:
            return AgreementView()
        latest = rows[-1]
        active = [r for r in rows if r["active_at"]]
        return AgreementView(
            active_version=active[-1]["version"] if active else 0,
            active=self._typed(json.loads(active[-1]["values"])) if active else {},
            latest_version=latest["version"],
            latest=self._typed(json.loads(latest["values"])),
            latest_by=latest["proposed_by"],
            confirmed=tuple(sorted(json.loads(latest["confirmed"]))),
        )

    def _propose(self, subject: Subject, d: ProposeAgreement, now: dt.datetime) -> None:
        assert subject.pair is not None
        values = json.dumps({k: _jsonable(v) for k, v in d.values.items()}, sort_keys=True)
        self.store.insert("agreements", {"pair_id": subject.pair["id"], "version": d.version, "values": values,
                                         "proposed_by": d.by, "proposed_at": iso(now),
                                         "confirmed": json.dumps({d.by: iso(now)})})
        self.store.log("agreement-proposed", now, pair_id=subject.pair["id"], version=d.version, by=d.by)

    def _confirm(self, subject: Subject, d: ConfirmAgreement, now: dt.datetime) -> None:
        assert subject.pair is not None
        row = self.store.one("SELECT id, confirmed FROM agreements WHERE pair_id = ? AND version = ?",
                             (subject.pair["id"], d.version))
        assert row is not None, f"agreement version {d.version} of pair {subject.pair['id']} is missing"
        confirmed = {**json.loads(row["confirmed"]), d.role: iso(now)}
        self.store.update("agreements", row["id"], confirmed=json.dumps(confirmed, sort_keys=True),
                          active_at=iso(now) if d.activate else None)
        self.store.log("agreement-confirmed", now, pair_id=subject.pair["id"], version=d.version, by=d.role,
                       in_force=d.activate)

    def _typed(self, values: dict[str, Any], form: str = "agreement") -> dict[str, Any]:
        kinds = {f.name: f.kind for f in self.workflow.forms.get(form, ())}
        out = {}
        for name, value in values.items():
            if kinds.get(name) == "date" and isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    pass
            elif isinstance(value, list):
                value = tuple(value)
            out[name] = value
        return out

    # ------------------------------------------------------------------ drafts

    def _save_draft(self, subject: Subject, d: SaveDraft, now: dt.datetime) -> None:
        if subject.pair is None:  # a person's own form (the profile): its action keeps what counts
            return
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
        return self._typed(json.loads(row["values"]), form)

    # ------------------------------------------------------------------ email

    def _recipient(self, pair: dict[str, Any], role: str) -> Recipient:
        return Recipient(pair[f"{role}_email"], pair[f"{role}_name"], role, pair[f"{role}_id"],
                         pair.get(f"{role}_greeting") or "", tz=pair.get(f"{role}_tz") or None,
                         language=pair.get(f"{role}_lang") or None)

    def languages(self, recipient: Recipient | None) -> tuple[str, ...]:
        """A reader's language chain: theirs, the scheme's, English."""
        return chain(recipient.language if recipient is not None else None, self.config.scheme.language)

    def recipients(self, subject: Subject, audience: str) -> list[Recipient]:
        pair = subject.pair
        if audience == "coordinators":
            out = []
            for addr in self.config.scheme.coordinators:
                row = self.store.participant_by_email(addr)
                out.append(Recipient(addr, row["name"] if row else "Coordinator", "coordinator",
                                     row["id"] if row else None, greeting_of(row["extra"]) if row else "",
                                     language=(row.get("language") or None) if row else None))
            return out
        if audience == "sender":
            return [subject.sender] if subject.sender else []
        if pair is None:
            return []
        mentor, mentee = self._recipient(pair, "mentor"), self._recipient(pair, "mentee")
        if audience == "mentor":
            return [mentor]
        if audience == "mentee":
            return [mentee]
        if audience == "both":
            return [mentee, mentor]
        if audience == "partner" and subject.sender is not None:
            return [mentee if subject.sender.participant_id == pair["mentor_id"] else mentor]
        if audience == "unvoted":
            voted = {role for v in (self._facts(pair).get("votes") or {}).values() for role in v}
            return [r for r in (mentee, mentor) if r.role not in voted]
        return []

    def context(self, subject: Subject, now: dt.datetime, expects: str | None,
                for_coordinators: bool = False, recipient: Recipient | None = None) -> dict[str, Any]:
        pair = subject.pair
        langs = self.languages(recipient)
        zone = zoneinfo.ZoneInfo(recipient.tz) if recipient is not None and recipient.tz else self.tz
        local_now = now.astimezone(zone)
        ctx: dict[str, Any] = {
            "now": local_now,
            "today": Day(local_now.date()),
            "coordinators": ", ".join(self.config.scheme.coordinators),
            "sender": subject.sender,
            "reply_subject": _re(subject.their_subject, self.config.scheme.name),
            "settings": dict(self.workflow.settings),
            "support": self.config.scheme.support,
            "partner_visible": False,
            "when": lambda value, _tz=(recipient.tz if recipient is not None and recipient.tz else
                                       self.config.scheme.timezone), _lang=langs[0]: localize(when_text(value, _tz),
                                                                                              _lang),
        }
        if pair is not None:
            state = self.workflow.states.get(pair["state"])
            facts = self._facts(pair)
            ctx["pair"] = {"id": pair["id"], "state": pair["state"],
                           "state_description": state.description if state else "",
                           "final": bool(state and state.final),
                           "requested": bool(facts.get("requested"))}  # the mentee chose the mentor
            ctx["mentor"] = self._recipient(pair, "mentor")
            ctx["mentee"] = self._recipient(pair, "mentee")
            # A partner's address and words are shown only once the mentor has accepted,
            # and never after the pair ended (declined, expired, not a good fit, ended).
            ctx["partner_visible"] = pair["state"] not in self.workflow.settings.get(
                "private_states", ("introduced",)) and not (state and state.final)
            tz = recipient.tz if recipient is not None and recipient.tz else self.config.scheme.timezone
            ctx["dates"] = {
                "review": _day(facts.get("review_date")),
                "proposed_review": _day(facts.get("proposed_review_date")),
                "next_meeting": when_text(facts.get("next_meeting"), tz),
                "cancelled_meeting": when_text(facts.get("cancelled_meeting"), tz),
                "first_meeting": _day(facts.get("first_meeting")),
                "paused_until": _day(facts.get("paused_until")),
                "last_meeting": _day(facts.get("last_meeting")),
                "ended": _day((facts.get("ended_at") or "")[:10]),
            }
            ctx["counts"] = {"meetings": facts.get("meetings", 0), "minutes": facts.get("minutes", 0),
                             "interval_days": facts.get("interval_days"), "notice_hours": facts.get("notice_hours")}
        # Read only when a template uses them: the mentors a mentee may ask, and the
        # scheme's pairs and registrations (for coordinators and [scheme] pair_list_to).
        ctx["directory"] = matching.Directory(self.store, self.workflow,
                                              recipient.participant_id if recipient is not None else None)
        ctx["roster"] = matching.SchemeView(self.store, self.workflow)
        spec = self.workflow.replies.get(expects or "")
        ctx["lang"] = langs[0]
        ctx["commands"] = {name: list(words) for name, words in self.workflow.commands(expects, langs).items()}
        ctx["anytime"] = {name: list(words) for name, words in self.workflow.commands(None, langs).items()}
        ctx["expects_reply"] = spec is not None  # the footer invites a reply only then
        # The pair's own content (forms as filled in so far, the agreement): never for coordinators.
        ctx["form"] = ""
        ctx["forms"] = {}
        ctx["agreement"] = {"version": 0, "text": "", "in_force": 0}
        lang = langs[0]
        if pair is not None and not for_coordinators:
            for name in self.workflow.forms:
                fields = self.workflow.form_fields(name, langs)
                values = self.draft(pair["id"], name)
                if name == "agreement" and not values:
                    values = self.agreement(pair["id"]).latest
                ctx["forms"][name] = formlib.render_form(fields, values, lang)
            if spec is not None and spec.form:
                ctx["form"] = ctx["forms"][spec.form]
            ag = self.agreement(pair["id"])
            fields = self.workflow.form_fields("agreement", langs)
            ctx["agreement"] = {
                "version": ag.latest_version, "in_force": ag.active_version,
                "text": formlib.render_form(fields, ag.latest, lang) if ag.latest_version else "",
                "in_force_text": formlib.render_form(fields, ag.active, lang) if ag.active_version else "",
                "objectives": list(ag.active.get("objectives") or ag.latest.get("objectives") or ()),
                # Each field of the agreement in force (else the newest), as text: a notice
                # can remind the pair what they agreed ("if one of us is running late").
                "terms": {f.name: _shown_value((ag.active or ag.latest).get(f.name)) for f in fields},
            }
            ctx["record"] = _History(self.store, pair["id"], self._facts(pair), lang)
        elif pair is None and recipient is not None and recipient.participant_id is not None and not for_coordinators:
            # A person's own forms (the welcome's profile), filled in with what we know of them.
            row = self.store.participant(recipient.participant_id)
            profile = self.profile(row) if row else {}
            for name in self.workflow.forms:
                fields = self.workflow.form_fields(name, langs)
                ctx["forms"][name] = formlib.render_form(fields, {f.name: profile.get(f.name) for f in fields}, lang)
            if spec is not None and spec.form:
                ctx["form"] = ctx["forms"][spec.form]
        elif pair is not None:
            ag = self.agreement(pair["id"])
            ctx["agreement"] = {"version": ag.latest_version, "in_force": ag.active_version, "text": ""}
        return ctx

    def _send(self, subject: Subject, d: Send, now: dt.datetime) -> list[int]:
        queued = []
        for r in self.recipients(subject, d.to):
            variables = dict(d.vars)
            coordinator = r.role == "coordinator"
            if coordinator:
                variables = {k: v for k, v in variables.items() if k not in CONFIDENTIAL_VARS}
            ctx = {**ACTION_VARS, **self.context(subject, now, d.expects, for_coordinators=coordinator, recipient=r),
                   **variables}
            lang = ctx.get("lang")
            ctx = {k: (localize(v, lang) if k not in ("record", "sender", "recipient") else v) for k, v in ctx.items()}
            day = now.astimezone(self.tz).date().isoformat()
            key = subject.key or f"note:{day}"
            calendar = self._invite(subject, d.invite, r, now) if d.invite and not coordinator else None
            attachments = self._attachments(d.attach, r, subject, now) if d.attach else ()
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
                ref=d.ref,
                calendar=calendar,
                attachments=attachments,
            )
            if oid is not None:
                queued.append(oid)
        return queued

    def _attachments(self, kind: str, r: Recipient, subject: Subject, now: dt.datetime) -> tuple:
        """The files an email carries (:mod:`mailflow.export` makes them, and says who may get which)."""
        from ..export import attachments_for

        return attachments_for(self, kind, r, subject, now)

    def _invite(self, subject: Subject, kind: str, r: Recipient, now: dt.datetime) -> tuple[bytes, str] | None:
        """The iCalendar invite an email carries: (bytes, method), or None when there is no event."""
        from ..calendar import invite as make_invite  # icalendar: only for an email with an invite

        pair = subject.pair
        if pair is None:
            return None
        facts = self._facts(pair)
        scheme = self.config.scheme
        mentor, mentee = self._recipient(pair, "mentor"), self._recipient(pair, "mentee")
        attendees = [(mentee.email, mentee.name), (mentor.email, mentor.name)]
        other = mentor if r.role == "mentee" else mentee
        common = dict(organizer=(scheme.address, scheme.name), attendees=attendees, now=now,
                      reader_tz=r.tz or scheme.timezone)
        if kind in ("meeting", "meeting-cancel"):
            start = facts.get("next_meeting") if kind == "meeting" else facts.get("cancelled_meeting")
            if not start:
                return None
            method = "REQUEST" if kind == "meeting" else "CANCEL"
            body = make_invite(uid=f"pair-{pair['id']}-meeting-{facts.get('meeting_n', 1)}@{scheme.domain}",
                               sequence=int(facts.get("meeting_seq", 0)), method=method,
                               summary=f"Mentoring: {mentee.name} and {mentor.name}",
                               description=f"Your mentoring meeting with {other.name} ({scheme.name}).",
                               start=start, minutes=facts.get("meeting_minutes"), **common)
            return body, method
        if kind == "review":
            day = facts.get("review_date")
            if not day:
                return None
            body = make_invite(uid=f"pair-{pair['id']}-review@{scheme.domain}",
                               sequence=int(facts.get("review_seq", 0)), method="REQUEST",
                               summary=f"Mentoring review: {mentee.name} and {mentor.name}",
                               description=(f"The review date you agreed with {other.name}: how is the mentoring "
                                            f"going, and do you want to continue? ({scheme.name})"),
                               start=day, minutes=None, **common)
            return body, "REQUEST"
        return None


    # ------------------------------------------------------------------ pairs: started by a coordinator or a mentee

    def start_pair(self, mentee_id: int, mentor_id: int, now: dt.datetime, *, inbound_id: int | None = None,
                   facts: dict[str, Any] | None = None) -> int:
        """Create a pair and carry out the rules' ``[start]`` (the introductions)."""
        pair_id = self.store.insert("pairs", {"mentee_id": mentee_id, "mentor_id": mentor_id, "state": "new",
                                              "state_since": iso(now), "created_at": iso(now),
                                              "facts": json.dumps(facts or {}, sort_keys=True)})
        pair = self.store.pair(pair_id)
        self.apply(on_start(self.workflow), Subject(pair=pair, inbound_id=inbound_id, key=f"pair:{pair_id}:start"),
                   now)
        return pair_id

    def _request(self, subject: Subject, d: RequestMentor, now: dt.datetime) -> list[int]:
        """REQUEST <number or name>: find the mentor, make the pairing checks, and start
        the pair; or tell the mentee neutrally (a conflict's reason goes to the
        coordinators only)."""
        sender = subject.sender
        assert sender is not None and sender.participant_id is not None, "a request needs the mentee"
        mentee = self.store.participant(sender.participant_id)
        mentor, candidates = matching.resolve(self.store, self.workflow, mentee, d.choice)
        note = Subject(sender=sender, inbound_id=subject.inbound_id, in_reply_to=subject.in_reply_to,
                       references=subject.references, their_subject=subject.their_subject, key=subject.key)
        if mentor is None:
            self.store.log("request-unresolved", now, participant_id=mentee["id"], inbound_id=subject.inbound_id,
                           candidates=len(candidates))
            return self._apply([Send("directory/not-found", "sender", expects="directory", exempt=True,
                                     vars={"choice": d.choice, "candidates": candidates})], note, now)
        problem = matching.pairing_problem(self.store, self.workflow, mentee, mentor)
        if problem is not None:
            self.store.log("request-refused", now, participant_id=mentee["id"], inbound_id=subject.inbound_id,
                           mentor_id=mentor["id"], problem=problem.kind)
            if problem.side == "mentee":
                sends = [Send("directory/mentee-limit", "sender", expects="anytime", exempt=True,
                              vars={"requested": mentor["name"], "problem": problem.kind})]
            else:
                sends = [Send("directory/not-available", "sender", expects="directory", exempt=True,
                              vars={"requested": mentor["name"]})]
            if problem.kind == "conflict":
                sends.append(Send("directory/conflict-coordinator", "coordinators",
                                  vars={"requested": mentor["name"], "reason": problem.reason,
                                        "problem": problem.message}))
            return self._apply(sends, note, now)
        pair_id = self.start_pair(mentee["id"], mentor["id"], now, inbound_id=subject.inbound_id,
                                  facts={"requested": True})
        self.store.log("requested", now, pair_id=pair_id, participant_id=mentee["id"],
                       inbound_id=subject.inbound_id)
        return []

    def send_pair_list(self, now: dt.datetime) -> list[int]:
        """The list of current pairs to each address of ``[scheme] pair_list_to``, when it
        differs from the list they were last sent. Names, stage and since when: nothing else."""
        to = getattr(self.config.scheme, "pair_list_to", ())
        if not to:
            return []
        pairs = matching.current_pairs(self.store, self.workflow)
        digest = hashlib.sha256(json.dumps(pairs, sort_keys=True).encode()).hexdigest()[:16]
        last = self.store.scalar("SELECT data FROM events WHERE kind = 'pair-list' ORDER BY id DESC LIMIT 1")
        if last and json.loads(last).get("digest") == digest:
            return []
        event = self.store.log("pair-list", now, digest=digest, pairs=len(pairs), to=len(to))
        return self.queue_pair_list(to, pairs, now, key=f"pair-list:{event}")

    def queue_pair_list(self, to, pairs: list[dict[str, Any]], now: dt.datetime, *, key: str) -> list[int]:
        """Queue ``pairs/list`` to each address: people outside the scheme (observers),
        who get this list and nothing else."""
        queued = []
        for addr in to:
            r = Recipient(addr, addr, "observer", None)
            ctx = {**ACTION_VARS, **self.context(Subject(), now, None, for_coordinators=True, recipient=r),
                   "current_pairs": pairs}
            oid = enqueue(self.store, self.config, self.renderer, self.tokens, key=f"{key}:{addr}",
                          template="pairs/list", recipient=r, context=ctx, now=now)
            if oid is not None:
                queued.append(oid)
        return queued


class _History:
    """A pair's record for its members (the CPD record): read only when a template asks."""

    def __init__(self, store: Store, pair_id: int, facts: dict[str, Any], lang: str | None = None):
        self._store = store
        self._pair_id = pair_id
        self._facts = facts
        self._lang = lang

    @property
    def meetings(self) -> list[dict[str, Any]]:
        rows = self._store.all("SELECT day, minutes FROM meetings WHERE pair_id = ? ORDER BY day, id", (self._pair_id,))
        return localize([{"day": _day(r["day"]), "minutes": r["minutes"]} for r in rows], self._lang)

    @property
    def total_minutes(self) -> int:
        return int(self._store.scalar("SELECT coalesce(sum(minutes), 0) FROM meetings WHERE pair_id = ?",
                                      (self._pair_id,)))

    @property
    def progress(self) -> dict[str, Any]:
        return dict(self._facts.get("progress") or {})

    @property
    def reviews(self) -> list[dict[str, Any]]:
        rows = self._store.all("SELECT at, kind, data FROM events WHERE pair_id = ? AND kind IN "
                               "('review-held', 'review-date-confirmed') ORDER BY id", (self._pair_id,))
        return localize([{"day": _day(r["at"][:10]), "kind": r["kind"]} for r in rows], self._lang)

    @property
    def started(self) -> str:
        return localize(_day(self._store.scalar("SELECT created_at FROM pairs WHERE id = ?", (self._pair_id,))[:10]),
                        self._lang)


def _day(value: str | None) -> str:
    if not value:
        return ""
    try:
        return Day(dt.date.fromisoformat(str(value)[:10]))
    except ValueError:
        return str(value)


def _re(subject: str, scheme: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return f"Your email to {scheme}"
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


def _shown_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return str(Day(value))
    return "" if value is None else " ".join(str(value).split())


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple):
        return list(v)
    return v

