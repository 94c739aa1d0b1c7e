"""The service: where the stages meet.

One reply's path::

    receive()          store the raw bytes (deduplicated) -- before anything else
    process(id)        parse.read -> match -> parse.understand -> engine.on_reply
                       -> Applier.apply, all in ONE transaction, with the inbound
                       row's final status; an exception rolls it all back and
                       counts an attempt (three strikes: quarantined, replayable)
    settle (IMAP)      flag or move the mailbox message, after the commit
    deliver()          send the outbox rows the transaction queued

Timers (:meth:`Service.fire_timers`) feed decisions into the same Applier.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
from dataclasses import dataclass, field, replace

from . import coordinate, i18n, matching, parse
from .clock import Clock, SecretTokens, SystemClock, TokenSource, iso, parse_iso
from .config import Config
from .enrol import Person, check_for_scheme
from .errors import MailflowError, StateError
from .inbound import receive
from .match import Match, match
from .outbox import Delivery, Recipient, deliver, transport_for
from .parse.result import Expectation, Mail
from .render import Renderer
from .store import Store, StoreError, store_error
from .workflow import engine
from .workflow.apply import Applier, Subject
from .workflow.decisions import MarkBouncing, Outcome, Record, Send, SetAway, SetFacts
from .workflow.loader import ANYTIME, load_workflow, rules_folder

log = logging.getLogger("mailflow")

MAX_ATTEMPTS = 3
BATCH = 50  # new messages processed in one transaction (see Service.process_pending)
WHICH_PAIR = "which-pair"  # the reply context of "which relationship do you mean?"


@dataclass
class CycleReport:
    fetched: int = 0
    processed: dict[str, int] = field(default_factory=dict)  # status -> count
    timers: int = 0
    summaries: int = 0  # the coordinators' weekly summary queued this cycle
    deliveries: list[Delivery] = field(default_factory=list)
    settled: int = 0
    imap_error: str = ""  # the mailbox could not be read or settled this cycle

    def line(self) -> str:
        sent = sum(d.status == "sent" for d in self.deliveries)
        retry = sum(d.status == "retrying" for d in self.deliveries)
        failed = sum(d.status == "failed" for d in self.deliveries)
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.processed.items())) or "none"
        return (f"fetched {self.fetched}; messages: {done}; timers fired {self.timers}; "
                f"sent {sent}, retrying {retry}, failed {failed}")


class Service:
    """mailflow's operations on one database, with a clock and a token source passed in."""

    def __init__(self, config: Config, *, clock: Clock | None = None, tokens: TokenSource | None = None,
                 store: Store | None = None):
        self.config = config
        self.clock = clock or SystemClock()
        self.tokens = tokens or SecretTokens()
        self.store = store or Store(config.database_path)
        self.workflow = load_workflow(rules_folder(config.scheme.rules, config.path.parent))
        self.renderer = Renderer(config.scheme.templates, config.scheme.language, extra=self.workflow.template_folders)
        self.applier = Applier(self.store, config, self.workflow, self.renderer, self.tokens)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ participants

    def enrol(self, people: list[Person], progress=None) -> dict[str, int]:
        """Add or update participants, all in one transaction. Returns counts.
        ``progress(items, label, length)``, if given, wraps each long loop (the
        command line's progress bar)."""
        now = self.clock.now()
        people = list(people)
        show = progress or (lambda items, _label, _length: items)
        counts = {"added": 0, "updated": 0, "unchanged": 0, "withdrawn": 0}
        check_for_scheme(people, self.workflow.settings)  # a column the scheme requires: all or nothing
        new: list[tuple[int, Person]] = []
        with self.store.transaction():
            for p in show(people, "enrolling", len(people)):
                row = self.store.participant_by_email(p.email)
                if row is not None and row["status"] == "withdrawn":
                    # They said NO to taking part: a file that still lists them does not
                    # bring them back (they can reply YES to their welcome themselves).
                    counts["withdrawn"] += 1
                    continue
                if row is None:
                    pid = self.store.add_participant(email=p.email, name=p.name, role=p.role, extra=p.extra, now=now)
                    self.store.log("enrolled", now, participant_id=pid, role=p.role)
                    counts["added"] += 1
                    if p.role in ("mentor", "mentee"):
                        new.append((pid, p))
                elif row["status"] in ("bouncing", "stopped"):
                    # Enrolling an address again confirms it: mail to it is tried again.
                    self.store.update("participants", row["id"], name=p.name, role=p.role, status="active",
                                      extra=json.dumps(p.extra, sort_keys=True))
                    self.store.log("participant-reactivated", now, participant_id=row["id"])
                    counts["updated"] += 1
                elif (row["name"], row["role"], json.loads(row["extra"])) != (p.name, p.role, p.extra):
                    if row["role"] != p.role and self.store.pairs(p.email):
                        raise StateError(
                            f"line {p.line}: {p.email} is already a {row['role']} in a pair; "
                            f"their role cannot change to {p.role}. Nothing from the file was applied."
                        )
                    self.store.update("participants", row["id"], name=p.name, role=p.role,
                                      extra=json.dumps(p.extra, sort_keys=True))
                    self.store.log("participant-updated", now, participant_id=row["id"])
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
                self._settings_from_csv(p)
            # The rules' enrolment step (a welcome, the directory of mentors), once, for each
            # one added: after every row is in, so a directory lists the mentors of this file too.
            for pid, p in show(new, "welcoming", len(new)):
                person = _recipient(self.store.participant(pid))
                self.applier.apply(engine.on_enrol(self.workflow, p.role, self.config.scheme.consent, now),
                                   Subject(sender=person, key=f"enrol:{pid}"), now)
        return counts

    def _settings_from_csv(self, p: Person) -> None:
        """The optional columns mailflow itself reads: timezone, language, and a mentor's capacity."""
        values: dict = {"timezone": p.extra.get("timezone") or None, "language": p.extra.get("language") or None}
        if p.extra.get("capacity", "").strip():
            values["capacity"] = int(p.extra["capacity"])
        self.store.conn.execute(
            f"UPDATE participants SET {', '.join(f'{k} = ?' for k in values)} WHERE email = ?",
            (*values.values(), p.email),
        )

    def pair(self, mentee_email: str, mentor_email: str) -> int:
        """Pair a mentee with a mentor and queue the introductions. The checks are
        :func:`mailflow.matching.pairing_problem`, the same as for a mentee's REQUEST."""
        now = self.clock.now()
        with self.store.transaction():
            mentee = self.store.participant_by_email(mentee_email)
            mentor = self.store.participant_by_email(mentor_email)
            for who, row, role in ((mentee_email, mentee, "mentee"), (mentor_email, mentor, "mentor")):
                if row is None:
                    raise StateError(f"{who} is not enrolled. Enrol them first: mailflow enrol --csv FILE.")
                if row["role"] != role:
                    raise StateError(f"{who} is enrolled as a {row['role']}, not a {role}.")
            for row in (mentee, mentor):  # their own state first: the clearest message (consent)
                own = self.pairing_problem(row)
                if own:
                    raise StateError(own)
            problem = matching.pairing_problem(self.store, self.workflow, mentee, mentor)
            if problem is not None:
                self.store.log("pair-refused", now, participant_id=mentee["id"], mentor_id=mentor["id"],
                               problem=problem.kind)
                raise StateError(problem.message)
            return self.applier.start_pair(mentee["id"], mentor["id"], now)

    # ------------------------------------------------------------------ eligibility

    def restrict(self, email: str, reason: str) -> list[int]:
        """A mentor is no longer eligible (a restricted professional registration, say):
        not listed in the directory and not pairable until :meth:`restore`. Their live
        pairs are not ended: each is flagged ``mentor-restricted`` and the coordinators
        are told which, with the reason. Returns the flagged pairs' numbers."""
        now = self.clock.now()
        reason = " ".join(reason.split())
        if not reason:
            raise StateError("give the reason: mailflow restrict EMAIL --reason TEXT (kept for the coordinators).")
        with self.store.transaction():
            row = self._mentor(email)
            if row.get("restricted_at"):
                raise StateError(f"{row['email']} is already restricted since {row['restricted_at'][:10]} "
                                 f"({row['restricted_reason']}).")
            self.store.update("participants", row["id"], restricted_at=iso(now), restricted_reason=reason[:300])
            self.store.log("restricted", now, participant_id=row["id"])
            live = [p for p in self.store.live_pairs(row["id"], self._final_states()) if p["mentor_id"] == row["id"]]
            self._flag_pairs(live, "mentor-restricted", True, now)
            affected = [{"id": p["id"], "mentee": p["mentee_name"], "state": p["state"]} for p in live]
            self.applier.apply((Send("eligibility/restricted-coordinator", "coordinators",
                                     vars={"restricted": {"name": row["name"], "email": row["email"]},
                                           "reason": reason, "affected": affected}),),
                               Subject(key=f"restrict:{row['id']}:{iso(now)}"), now)
            return [p["id"] for p in live]

    def restore(self, email: str) -> list[int]:
        """Lift a restriction: the mentor is listed and pairable again; the flag comes
        off their pairs and the coordinators are told. Returns those pairs' numbers."""
        now = self.clock.now()
        with self.store.transaction():
            row = self._mentor(email)
            if not row.get("restricted_at"):
                raise StateError(f"{row['email']} is not restricted; nothing to restore.")
            self.store.update("participants", row["id"], restricted_at=None, restricted_reason=None)
            self.store.log("restored", now, participant_id=row["id"])
            live = [p for p in self.store.live_pairs(row["id"], self._final_states()) if p["mentor_id"] == row["id"]]
            self._flag_pairs(live, "mentor-restricted", False, now)
            self.applier.apply((Send("eligibility/restored-coordinator", "coordinators",
                                     vars={"restricted": {"name": row["name"], "email": row["email"]},
                                           "affected": [{"id": p["id"], "mentee": p["mentee_name"],
                                                         "state": p["state"]} for p in live]}),),
                               Subject(key=f"restore:{row['id']}:{iso(now)}"), now)
            return [p["id"] for p in live]

    def _mentor(self, email: str) -> dict:
        row = self.store.participant_by_email(email)
        if row is None:
            raise StateError(f"{email} is not enrolled; `mailflow status` lists everyone.")
        if row["role"] != "mentor":
            raise StateError(f"{email} is enrolled as a {row['role']}; only mentors are restricted and restored.")
        return row

    def _flag_pairs(self, pairs: list[dict], flag: str, on: bool, now: dt.datetime) -> None:
        for p in pairs:
            flags = [f for f in (self.store.facts(p["id"]).get("flags") or []) if f != flag]
            self.applier.apply((SetFacts({"flags": flags + [flag] if on else flags}),
                                Record(f"flag-{'set' if on else 'lifted'}", {"flag": flag})),
                               Subject(pair=p, key=f"flag:{p['id']}:{flag}:{iso(now)}"), now)

    def pairing_problem(self, row: dict) -> str | None:
        """Why a participant may not be introduced or listed in a directory yet (None:
        they may): their own state says so, e.g. no YES to the welcome yet, or NO."""
        state = row.get("state")
        if self.workflow.pairable(state):
            return None
        spec = self.workflow.states[state]
        since = (row.get("state_since") or "")[:10]
        if row.get("status") == "withdrawn":
            return (f"{row['email']} said NO to taking part{' on ' + since if since else ''} and was removed; "
                    "nobody is introduced to them. If they change their mind they can reply YES to their welcome.")
        hint = ""
        if self.config.scheme.consent == "required" and any(e.state == state for e in self.workflow.enrol.values()):
            hint = (" Nobody is introduced before saying YES: ask them to reply YES to their welcome email "
                    "(`mailflow status` shows who has), or, if the scheme has their consent already, set "
                    "[scheme] consent = \"implied\".")
        return (f"{row['email']} cannot be paired yet: {spec.description or state}"
                f"{' (since ' + since + ')' if since else ''}.{hint}")

    def pair_many(self, rows) -> list[int]:
        """Pair every row (``.line``, ``.mentee``, ``.mentor``) in one transaction, all or
        nothing: a row that cannot be paired is reported with its line, and nothing
        from the file is applied. Returns the new pairs' ids."""
        ids = []
        with self.store.transaction():
            for row in rows:
                try:
                    ids.append(self.pair(row.mentee, row.mentor))
                except StateError as exc:
                    raise StateError(f"line {row.line}: {exc} Nothing from the file was applied.") from None
        return ids

    # ------------------------------------------------------------------ inbound

    def receive(self, raw: bytes, *, source: str, mailbox: str | None = None, uidvalidity: int | None = None,
                uid: int | None = None, original_size: int | None = None) -> int:
        """Store one inbound message, raw, before anything acts on it (see :func:`inbound.receive`)."""
        return receive(self.store, self.config, self.clock.now(), raw, source=source, mailbox=mailbox,
                       uidvalidity=uidvalidity, uid=uid, original_size=original_size)

    def pending(self) -> list[int]:
        """Messages waiting to be processed, oldest first (including any whose
        attempts ran out without finishing: :meth:`process` quarantines those)."""
        rows = self.store.all("SELECT id FROM inbound WHERE status = 'received' ORDER BY id")
        return [r["id"] for r in rows]

    def process_pending(self) -> dict[str, int]:
        """Process every waiting message, oldest first.

        Speed (issue 12): new messages go in batches of up to :data:`BATCH`, each
        batch's attempts counted in one commit before any of its work, and its work
        committed once, each message in a savepoint of its own (one that fails rolls
        back alone and counts a failed attempt, as before). A message that has
        been attempted already (its batch was cut short: the process died, maybe
        because of it) is processed on its own by :meth:`process`, so the one that
        kills the process is still quarantined after three attempts and the others
        are not blamed for it. Messages are processed in the order they came."""
        counts: dict[str, int] = {}
        batch: list[int] = []

        def flush() -> None:
            for status in self._process_batch(batch):
                counts[status] = counts.get(status, 0) + 1
            batch.clear()

        after = 0
        while True:  # the waiting messages read a page at a time: memory stays flat whatever the backlog
            page = self.store.conn.execute("SELECT id, attempts FROM inbound WHERE status = 'received' AND id > ? "
                                           "ORDER BY id LIMIT 1000", (after,)).fetchall()
            if not page:
                break
            after = page[-1][0]
            for inbound_id, attempts in page:
                if attempts == 0:
                    batch.append(inbound_id)
                    if len(batch) >= BATCH:
                        flush()
                    continue
                flush()
                status = self.process(inbound_id)
                counts[status] = counts.get(status, 0) + 1
        flush()
        return counts

    def _process_batch(self, ids: list[int]) -> list[str]:
        """Process messages not attempted before, as one transaction (see
        :meth:`process_pending`). Returns each one's final status."""
        if not ids:
            return []
        now = self.clock.now()
        marks = ",".join("?" * len(ids))
        with self.store.transaction():  # the attempts, counted before any work
            fresh = [r["id"] for r in self.store.all(
                f"SELECT id FROM inbound WHERE id IN ({marks}) AND status = 'received' AND attempts = 0 ORDER BY id",
                ids)]
            # batched: if the batch is cut short (the process dies), this attempt is not
            # held against each message: any one of them may have been the cause.
            self.store.conn.execute(f"UPDATE inbound SET attempts = 1, batched = ? WHERE id IN ({marks}) "
                                    "AND status = 'received' AND attempts = 0", (int(len(fresh) > 1), *ids))
        statuses = []
        try:
            with self.store.transaction():  # the work, committed once for the batch
                for inbound_id in fresh:
                    try:
                        statuses.append(self._work(inbound_id, 1, now))
                    except Exception as exc:  # rolled back to its savepoint: this message alone
                        problem = exc if isinstance(exc, StoreError) else store_error(exc, self.store.path)
                        if problem is not None:
                            raise problem from exc
                        self.store.update("inbound", inbound_id, batched=0)  # this one did fail
                        statuses.append(self._failed(inbound_id, 1, exc, now))
        except StoreError:  # the database failed, not the messages: uncount, stop the cycle
            for inbound_id in fresh:
                self._give_back(inbound_id, 1)
            raise
        return statuses

    def process(self, inbound_id: int) -> str:
        """Process one stored message in one transaction. Returns its final status.

        The attempt is counted first, in a commit of its own, so a message that
        kills the process (a hang ended by SIGKILL, the OOM killer) is not retried
        forever: after :data:`MAX_ATTEMPTS` unfinished or failed attempts it is
        quarantined (``mailflow replay`` retries it). Any exception rolls the work
        back and counts as a failed attempt.
        """
        now = self.clock.now()
        with self.store.transaction():
            row = self.store.one("SELECT status, attempts, batched FROM inbound WHERE id = ?", (inbound_id,))
            if row is None:
                raise MailflowError(f"inbound message #{inbound_id} does not exist")
            if row["status"] != "received":
                return row["status"]  # done meanwhile (by another process)
            attempts = row["attempts"] + 1
            self.store.update("inbound", inbound_id, attempts=attempts)
        limit = MAX_ATTEMPTS + row["batched"]  # an unfinished batch's attempt is not held against it
        if attempts > limit:
            return self._failed(inbound_id, attempts - 1, None, now, limit)
        try:
            return self._work(inbound_id, attempts, now)
        except Exception as exc:  # one bad message must never stop the loop or be lost
            problem = exc if isinstance(exc, StoreError) else store_error(exc, self.store.path)
            if problem is not None:  # the database failed, not the message: stop the cycle, say why
                self._give_back(inbound_id, attempts)
                raise problem from exc
            return self._failed(inbound_id, attempts, exc, now, limit)

    def _work(self, inbound_id: int, attempts: int, now: dt.datetime) -> str:
        """Read, match, decide and apply one message whose attempt is counted, in a
        transaction (a savepoint inside a batch's). Raises what went wrong."""
        row = self.store.one("SELECT raw, original_size FROM inbound WHERE id = ?", (inbound_id,))
        mail = parse.read(row["raw"], tz=self.config.scheme.timezone)
        with self.store.transaction():
            current = self.store.one("SELECT status, attempts FROM inbound WHERE id = ?", (inbound_id,))
            if current["status"] != "received" or current["attempts"] != attempts:
                return current["status"]  # another consumer took it over: never act twice
            m = match(mail, self.store, self.config, now)
            if row["original_size"] is not None:  # only its headers were kept
                outcome, subject = self._too_large(mail, m, inbound_id, row["original_size"])
            elif m.kind == "unverified":  # a From we cannot trust: kept, acts on nothing, answered by no one
                outcome = Outcome("ignored", f"unverified-sender: {m.detail}",
                                  (Record("unverified-sender", {"why": m.detail[:120]}),))
                subject = Subject(inbound_id=inbound_id, key=f"in:{inbound_id}")
            else:
                outcome, subject = self._decide(mail, m, inbound_id, now, row["raw"])
            self.applier.apply(outcome.decisions, subject, now)
            self.store.update(
                "inbound", inbound_id, status=outcome.status, reason=outcome.reason[:300],
                processed_at=iso(now), last_error="",
                participant_id=(m.participant or {}).get("id"),
                pair_id=subject.pair["id"] if subject.pair else None,
                rule_hits=_json(list(outcome.rule_hits)),
            )
            self.store.log(f"inbound-{outcome.status}", now, inbound_id=inbound_id,
                           pair_id=subject.pair["id"] if subject.pair else None,
                           participant_id=(m.participant or {}).get("id"), match=m.kind, reason=outcome.reason[:120])
        return outcome.status

    def _too_large(self, mail: Mail, m: Match, inbound_id: int, size: int) -> tuple[Outcome, Subject]:
        """A message over ``[imap] max_message_mb``: quarantined (it is still in the
        mailbox, flagged), and the sender, if a person we may answer, told."""
        limit = self.config.imap.max_message_mb
        reason = f"too large: {size / 1048576:.1f} MB, over [imap] max_message_mb = {limit}; only its headers were kept"
        sender = None
        if m.kind not in ("own", "machine", "unverified"):
            sender = _recipient(m.sender) if m.sender else _stranger(mail)
        subject = Subject(sender=sender, inbound_id=inbound_id, in_reply_to=mail.message_id,
                          references=mail.references, key=f"too-large:{inbound_id}")
        decisions: tuple = (Record("too-large", {"size": size, "limit_mb": limit}),)
        if sender is not None:
            decisions += (Send("notes/too-large", "sender", exempt=True,
                               vars={"size_mb": f"{size / 1048576:.1f}", "limit_mb": limit}),)
        return Outcome("quarantined", reason, decisions), subject

    def _give_back(self, inbound_id: int, attempts: int) -> None:
        """Uncount an attempt that a database error (not the message) cut short."""
        try:
            with self.store.transaction():
                self.store.conn.execute("UPDATE inbound SET attempts = attempts - 1 WHERE id = ? AND attempts = ?",
                                        (inbound_id, attempts))
        except StoreError:
            pass  # the disk is still full: the attempt stays counted; `mailflow replay` undoes a quarantine

    def _failed(self, inbound_id: int, attempts: int, exc: Exception | None, now: dt.datetime,
                limit: int = MAX_ATTEMPTS) -> str:
        """Record a failed attempt (``exc``), or, with ``exc`` None, that the message's
        attempts all ended without finishing (the process died while on it)."""
        if exc is None:
            detail = f"processing it never finished in {attempts} attempts (the process stopped each time)"
            error = "process stopped"
        else:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
            error = type(exc).__name__
        log.error("inbound #%d failed (attempt %d): %s", inbound_id, attempts, detail)
        quarantine = attempts >= limit
        with self.store.transaction():
            self.store.update("inbound", inbound_id, attempts=attempts, last_error=detail,
                              status="quarantined" if quarantine else "received",
                              reason=f"failed {attempts} times; last error: {detail[:200]}" if quarantine else "")
            if quarantine:
                self.store.log("inbound-quarantined", now, inbound_id=inbound_id, attempts=attempts)
                self.applier.apply(
                    (Send("notes/quarantined", "coordinators", vars={"inbound_id": inbound_id, "error": error}),),
                    Subject(inbound_id=inbound_id, key=f"quarantine:{inbound_id}:{attempts}"), now,
                )
        return "quarantined" if quarantine else "failed"

    def replay(self, inbound_id: int) -> str:
        """Process a quarantined (or any unfinished) message again, from its stored bytes."""
        row = self.store.one("SELECT status FROM inbound WHERE id = ?", (inbound_id,))
        if row is None:
            raise MailflowError(f"inbound message #{inbound_id} does not exist; see `mailflow status --inbound`")
        if row["status"] in ("processed",):
            raise StateError(f"inbound message #{inbound_id} was already processed; replaying it would act twice")
        with self.store.transaction():
            self.store.update("inbound", inbound_id, status="received", attempts=0, batched=0, last_error="")
            self.store.log("inbound-replay", self.clock.now(), inbound_id=inbound_id, was=row["status"])
        return self.process(inbound_id)

    # ------------------------------------------------------------------ deciding

    def _decide(self, mail: Mail, m: Match, inbound_id: int, now: dt.datetime,
                raw: bytes = b"") -> tuple[Outcome, Subject]:
        """Turn a matched message into an outcome. Reads the store; writes only what a
        coordinator's commands do (:mod:`mailflow.coordinate`, each line in a savepoint of
        this transaction) and a "which relationship?" question's waiting command."""
        sender = _recipient(m.sender) if m.sender else _stranger(mail)
        day = now.date().isoformat()
        subject = Subject(sender=sender, inbound_id=inbound_id, in_reply_to=mail.message_id,
                          references=mail.references, their_subject=mail.subject, key=f"in:{inbound_id}")
        note_once_a_day = Subject(sender=sender, inbound_id=inbound_id, in_reply_to=mail.message_id,
                                  references=mail.references, their_subject=mail.subject,
                                  key=f"note:{mail.from_addr}:{day}")
        if m.kind == "own":
            return Outcome("ignored", "own-mail: our own email came back"), subject
        from .calendar import is_calendar_reply  # icalendar, imported only when mail is read

        if is_calendar_reply(raw):
            # Someone accepted or declined our invite in their calendar: nothing to answer.
            return Outcome("ignored", "calendar-reply: an answer to a calendar invite"), subject
        if m.kind == "machine":
            return self._machine(mail, m), subject
        routed = coordinate.route(self, mail, m, raw, inbound_id, now)  # coordinators' commands, by reply
        if routed is not None:
            return routed
        if m.kind == "coordinator":
            return Outcome("ignored", "from a coordinator, not a reply to one of our emails",
                           (Send("notes/coordinator-help", "sender", exempt=True),)), note_once_a_day
        if m.kind == "unknown":
            if sender is None:
                return Outcome("ignored", "unknown sender with no usable From address"), subject
            # Hardening (issue 11): never echo a stranger's Subject into our note (a
            # forged subject must not travel under the scheme's name).
            note_once_a_day.their_subject = ""
            return Outcome("ignored", "unknown-sender", (Send("notes/unknown-sender", "sender"),)), note_once_a_day
        if m.kind == "no-token":
            if m.sender is not None and m.sender["role"] in ("mentor", "mentee"):
                return self._new_email(mail, m, subject, note_once_a_day, now)
            return Outcome("ignored", "no-token: not a reply to one of our emails",
                           (Send("notes/no-token", "sender"),)), note_once_a_day
        if m.kind == "wrong-sender":
            return Outcome("ignored", f"wrong-sender: token belongs to participant #{m.token['participant_id']}",
                           (Send("notes/wrong-sender", "sender"), Record("wrong-sender", {"via": m.via}))), note_once_a_day
        if m.kind == "expired":
            return Outcome("ignored", "expired token", (Send("notes/expired", "sender"),)), note_once_a_day

        token = m.token
        assert token is not None and m.participant is not None
        if token["context"] == WHICH_PAIR:
            return self._which_pair(mail, m, subject, now)
        pair = self.store.pair(token["pair_id"]) if token["pair_id"] else None
        return self._reply(mail, m.participant, pair, token["context"], token.get("ref") or "", subject, now)

    def _reply(self, mail: Mail, participant: dict, pair: dict | None, context: str | None, ref: str,
               subject: Subject, now: dt.datetime) -> tuple[Outcome, Subject]:
        """Read a participant's reply in ``context`` (about ``pair``, or none) and decide."""
        subject.pair = pair
        if pair is not None:
            role = "mentor" if participant["id"] == pair["mentor_id"] else "mentee"
        else:
            role = participant["role"] if participant["role"] in ("mentor", "mentee") else None
        spec = self.workflow.replies.get(context or "")
        draft = self.applier.draft(pair["id"], spec.form) if pair and spec and spec.form else {}
        if pair is None and spec is not None and spec.form:  # a person's own form: what we know of them
            profile = self.applier.profile(participant)
            draft = {f.name: profile[f.name] for f in self.workflow.forms[spec.form] if profile.get(f.name)}
        langs = self._languages(participant)
        expectation = engine.expectation(self.workflow, context, draft, langs)
        tz = participant.get("timezone") or self.config.scheme.timezone
        reply = parse.understand(_subject_if_empty(mail), expectation, now=now, tz=tz,
                                 date_order=self.config.scheme.date_order, languages=self._date_languages(participant),
                                 names=(participant["name"] or "",))
        state = pair["state"] if pair else participant.get("state")  # a person's own state, with no pair
        facts = self.store.facts(pair["id"]) if pair else json.loads(participant.get("facts") or "{}")
        ctx = engine.ReplyContext(
            context=context, role=role, state=state, draft=draft, facts=facts, ref=ref,
            agreement=self.applier.agreement(pair["id"]) if pair else engine.AgreementView(),
            participant={**{k: participant.get(k) for k in ("available", "capacity", "status", "role")},
                         "live_pairs": len(self.store.live_pairs(participant["id"], self._final_states()))},
            now=now, tz=tz, languages=langs,
        )
        return engine.on_reply(self.workflow, reply, ctx), subject

    def _new_email(self, mail: Mail, m: Match, subject: Subject, note: Subject,
                   now: dt.datetime) -> tuple[Outcome, Subject]:
        """A new email (no reply token) from a mentor or mentee: read its first line as an
        ``anytime`` command (PAUSE, END, HELP, FEEDBACK, ...). A command about a pair
        needs the pair: theirs if they have one, or a "which one?" question."""
        participant = m.sender
        assert participant is not None
        expectation = engine.expectation(self.workflow, ANYTIME, languages=self._languages(participant))
        command = parse.understand(_subject_if_empty(mail), expectation, now=now,
                                   tz=participant.get("timezone") or self.config.scheme.timezone,
                                   date_order=self.config.scheme.date_order,
                                   languages=self._date_languages(participant),
                                   names=(participant["name"] or "",)).command
        if not command.name:
            return Outcome("ignored", "no-token: not a reply to one of our emails, and no command",
                           (Send("notes/no-token", "sender"),)), note
        if not engine.needs_pair(self.workflow, command.name):
            return self._reply(mail, participant, None, ANYTIME, "", subject, now)
        live = self.store.live_pairs(participant["id"], self._final_states())
        if not live:
            return Outcome("ignored", f"{command.name} needs a relationship, and there is none",
                           (Send("notes/no-pair", "sender", exempt=True, vars={"command": command.name}),)), subject
        if len(live) == 1:
            return self._reply(mail, participant, live[0], ANYTIME, "", subject, now)
        self.store.insert("pending", {"participant_id": participant["id"], "inbound_id": subject.inbound_id,
                                      "created_at": iso(now)})
        choices = [{"number": i, "partner": p["mentor_name"] if p["mentee_id"] == participant["id"] else p["mentee_name"],
                    "role": "mentor" if p["mentee_id"] == participant["id"] else "mentee", "pair": p["id"]}
                   for i, p in enumerate(live, 1)]
        return Outcome("processed", f"{command.name}: asked which relationship",
                       (Send("notes/which-pair", "sender", expects=WHICH_PAIR, exempt=True,
                             vars={"command": command.name, "choices": choices},
                             ref=",".join(str(p["id"]) for p in live)),
                        Record("which-pair-asked", {"command": command.name, "pairs": len(live)}))), subject

    def _which_pair(self, mail: Mail, m: Match, subject: Subject, now: dt.datetime) -> tuple[Outcome, Subject]:
        """The answer to "which relationship?": the number of one, then the waiting command."""
        participant = m.participant
        assert participant is not None and m.token is not None
        ids = [int(x) for x in (m.token.get("ref") or "").split(",") if x.isdigit()]
        waiting = self.store.one("SELECT id, inbound_id FROM pending WHERE participant_id = ? AND status = 'waiting' "
                                 "ORDER BY id DESC LIMIT 1", (participant["id"],))
        words = {str(i): (str(i),) for i in range(1, len(ids) + 1)}
        chosen = parse.understand(mail, Expectation(commands=words), now=now, tz=self.config.scheme.timezone,
                                  date_order=self.config.scheme.date_order).command.name
        if waiting is None or not chosen:
            return Outcome("ignored", "which-pair: no number, or nothing waiting",
                           (Send("notes/no-action", "sender", expects=ANYTIME, exempt=True),)), subject
        pair = self.store.pair(ids[int(chosen) - 1])
        if pair is None or self.workflow.states[pair["state"]].final:
            return Outcome("ignored", "which-pair: that relationship has ended",
                           (Send("notes/no-action", "sender", expects=ANYTIME, exempt=True),)), subject
        self.store.update("pending", waiting["id"], status="done")
        original = self.store.scalar("SELECT raw FROM inbound WHERE id = ?", (waiting["inbound_id"],))
        first = parse.read(original, tz=self.config.scheme.timezone)
        return self._reply(first, participant, pair, ANYTIME, "", subject, now)

    def _languages(self, participant: dict) -> tuple[str, ...]:
        """A participant's language chain (their own, the scheme's, English)."""
        return i18n.chain(participant.get("language"), self.config.scheme.language)

    def _date_languages(self, participant: dict) -> tuple[str, ...]:
        """The languages their dates are read in: theirs first, then the scheme's."""
        return i18n.date_languages(participant.get("language"), self.config.scheme.language,
                                   self.config.scheme.languages)

    def _final_states(self) -> tuple[str, ...]:
        return tuple(s for s, spec in self.workflow.states.items() if spec.final and spec.scope == "pair")

    def _machine(self, mail: Mail, m: Match) -> Outcome:
        machine = mail.machine
        assert machine is not None
        if machine.kind == "bounce":
            known = [p for p in map(self.store.participant_by_email, machine.bounced) if p is not None]
            decisions: list = [MarkBouncing(p["email"], "permanent failure reported") for p in known]
            # Tell the coordinators once per address (not again while it keeps bouncing).
            decisions += [Send("notes/bounced", "coordinators", vars={"failed_to": p["email"], "role": p["role"]})
                          for p in known if p["status"] != "bouncing" and p["role"] != "coordinator"]
            decisions.append(Record("bounce", {"bounced": len(machine.bounced), "delayed": len(machine.delayed),
                                               "known": len(known)}))
            status = "processed" if known else "ignored"
            return Outcome(status, f"bounce: {machine.reason}", tuple(decisions), ("bounce",))
        decisions = []
        if m.sender is not None:
            decisions.append(SetAway(m.sender["email"], machine.away_until))
        decisions.append(Record("auto-reply", {"away_until": machine.away_until.isoformat() if machine.away_until else None}))
        return Outcome("ignored", f"auto-reply: {machine.reason}", tuple(decisions), ("auto-reply",))

    # ------------------------------------------------------------------ timers and outbox

    def fire_timers(self) -> int:
        """Fire every timer that is due, each once (in batches: see below).

        A timer whose emails would reach someone who said they are away (an
        out-of-office reply with a return date) waits until the day after they are back.
        A recurring timer writes its next occurrence when it fires (once, however long
        the service was down)."""
        now = self.clock.now()
        self._schedule_scheme_timers(now)
        due = self.store.all("SELECT * FROM timers WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id",
                             (iso(now),))
        fired = 0
        by_pair: dict[int | None, list[dict]] = {}
        for t in due:
            by_pair.setdefault(t["pair_id"], []).append(t)
        # Speed (issue 12): up to BATCH timers in one transaction, each in a savepoint
        # of its own. A timer that raises rolls back alone; the ones before it are
        # committed and the error stops the tick, as when each had its own commit.
        for start in range(0, len(due), BATCH):
            error: Exception | None = None
            with self.store.transaction():
                for t in due[start:start + BATCH]:
                    try:
                        with self.store.transaction():
                            fired += self._fire_timer(t, by_pair.get(t["pair_id"], []), now)
                    except Exception as exc:  # rolled back to its savepoint; the others commit
                        error = exc
                        break
            if error is not None:
                raise error
        return fired

    def _fire_timer(self, t: dict, due: list[dict], now: dt.datetime) -> int:
        """Fire one due timer (``due``: the due timers of its pair, for
        :meth:`_superseded`). Returns 1 if it fired."""
        if self.store.scalar("SELECT status FROM timers WHERE id = ?", (t["id"],)) != "pending":
            return 0  # another process got there first
        spec = self.workflow.timer(t["name"])
        if t["pair_id"] is None and t["participant_id"] is None:
            return self._fire_scheme_timer(t, spec, now)
        if t["pair_id"] is None:
            return self._fire_participant_timer(t, spec, now)
        pair = self.store.pair(t["pair_id"])
        if pair is None or spec is None:
            self.store.update("timers", t["id"], status="cancelled")
            return 0
        if self._superseded(t, spec, due):
            # After downtime: a reminder whose deadline is also past says nothing useful.
            self.store.update("timers", t["id"], status="cancelled")
            self.store.log("timer-superseded", now, pair_id=pair["id"], timer=spec.name)
            return 0
        person = self.store.participant(t["participant_id"]) if t["participant_id"] else None
        back = self._away(pair, spec, person, now)
        if back is not None:
            self.store.update("timers", t["id"], due_at=iso(back))
            self.store.log("timer-deferred", now, pair_id=pair["id"], timer=spec.name, until=iso(back))
            return 0
        role = None
        if person is not None:
            role = "mentor" if person["id"] == pair["mentor_id"] else "mentee"
        outcome = engine.on_timer(self.workflow, spec, pair["state"], self.store.facts(pair["id"]), now, role)
        sender = _recipient(person) if person is not None else None
        self.applier.apply(outcome.decisions, Subject(pair=pair, sender=sender, key=f"timer:{t['id']}"), now)
        self.store.update("timers", t["id"], status="fired" if outcome.status == "processed" else "cancelled")
        # A recurring timer comes round again even when its actions found nothing to do this time.
        if spec.every is not None and pair["state"] in spec.states:
            self.applier.reschedule(pair, spec, parse_iso(t["due_at"]), now)
        return int(outcome.status == "processed")

    def _schedule_scheme_timers(self, now: dt.datetime) -> None:
        """Each of the scheme's own timers (``scope = "scheme"``) has its next row: the
        first ``after`` the service first ran with it, then ``every`` so long (once after
        downtime, never a backlog)."""
        for spec in self.workflow.scheme_timers:
            with self.store.transaction():
                last = self.store.one("SELECT status, due_at FROM timers WHERE name = ? AND pair_id IS NULL AND "
                                      "participant_id IS NULL ORDER BY id DESC LIMIT 1", (spec.name,))
                if last is not None and (last["status"] == "pending" or spec.every is None):
                    continue
                if last is None:
                    due = self.applier.due(spec.when, {}, now)
                else:
                    due = self.applier.due(spec.every, {}, parse_iso(last["due_at"]))
                    step = due - parse_iso(last["due_at"]) if due is not None else None
                    while due is not None and step and step > dt.timedelta(0) and due <= now:
                        due += step
                if due is None:
                    continue
                self.store.conn.execute(
                    "INSERT OR IGNORE INTO timers (key, pair_id, name, state, due_at, participant_id) "
                    "VALUES (?, NULL, ?, 'scheme', ?, NULL)", (f"scheme:{spec.name}:{iso(due)}", spec.name, iso(due)))

    def _fire_scheme_timer(self, t: dict, spec, now: dt.datetime) -> int:
        if spec is None or not spec.scheme:
            self.store.update("timers", t["id"], status="cancelled")
            return 0
        outcome = engine.on_scheme_timer(self.workflow, spec)
        self.applier.apply(outcome.decisions, Subject(key=f"timer:{t['id']}"), now)
        self.store.update("timers", t["id"], status="fired")
        return 1

    def _fire_participant_timer(self, t: dict, spec, now: dt.datetime) -> int:
        """A timer of a person (a welcome reminder, the end of a window to find a mentor)."""
        person = self.store.participant(t["participant_id"]) if t["participant_id"] else None
        if person is None or spec is None:
            self.store.update("timers", t["id"], status="cancelled")
            return 0
        back = person["away_until"]
        if back and back >= now.astimezone(self.applier.tz).date().isoformat() and \
                any(s.to == "sender" for s in spec.send):
            day = dt.date.fromisoformat(back) + dt.timedelta(days=1)
            self.store.update("timers", t["id"], due_at=iso(dt.datetime.combine(day, dt.time(9, 0), self.applier.tz)))
            return 0
        role = person["role"] if person["role"] in ("mentor", "mentee") else None
        outcome = engine.on_timer(self.workflow, spec, person["state"] or "", json.loads(person["facts"] or "{}"),
                                  now, role)
        self.applier.apply(outcome.decisions, Subject(sender=_recipient(person), key=f"timer:{t['id']}"), now)
        self.store.update("timers", t["id"], status="fired" if outcome.status == "processed" else "cancelled")
        return int(outcome.status == "processed")

    def _superseded(self, row: dict, spec, due: list[dict]) -> bool:
        """A reminder (no goto) that a later timer of the same pair, also due now, makes
        pointless: one that moves the pair on, or a later reminder to the same people
        (after downtime, or an out-of-office, only the last word is sent)."""
        if spec.goto:
            return False
        audience = {s.to for s in spec.send}
        for other in due:
            if other["pair_id"] != row["pair_id"] or (other["due_at"], other["id"]) <= (row["due_at"], row["id"]):
                continue
            later = self.workflow.timer(other["name"])
            if later is None or later.manual or not set(spec.states) & set(later.states):
                continue
            if later.goto or (audience and audience == {s.to for s in later.send}):
                return True
        return False

    def _away(self, pair: dict, spec, person: dict | None, now: dt.datetime) -> dt.datetime | None:
        """When to try again if someone this timer writes to is away; None to fire now."""
        roles: set[str] = set()
        for send in spec.send:
            if send.to in ("mentor", "mentee"):
                roles.add(send.to)
            elif send.to in ("both", "unvoted"):
                roles |= {"mentor", "mentee"}
        ids = {pair[f"{r}_id"] for r in roles}
        if person is not None and any(s.to == "sender" for s in spec.send):
            ids.add(person["id"])
        today = now.astimezone(self.applier.tz).date().isoformat()
        backs = [r["away_until"] for r in map(self.store.participant, ids)
                 if r is not None and r["away_until"] and r["away_until"] >= today]
        if not backs:
            return None
        day = dt.date.fromisoformat(max(backs)) + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(9, 0), self.applier.tz)

    def close_pair(self, pair_id: int, reason: str = "") -> str:
        """A coordinator ends a pair: the same notices as an ending by either of them,
        with the coordinator's reason kept for the coordinators. Returns the new state."""
        now = self.clock.now()
        with self.store.transaction():
            pair = self.store.pair(pair_id)
            if pair is None:
                raise StateError(f"there is no pair {pair_id}; `mailflow status` lists the pairs and their numbers.")
            outcome = engine.on_close(self.workflow, pair["state"], self.store.facts(pair_id), now, reason)
            if outcome.status != "processed":
                raise StateError(f"pair {pair_id} cannot be closed: {outcome.reason}.")
            self.applier.apply(outcome.decisions, Subject(pair=pair, key=f"close:{pair_id}"), now)
            return pair["state"]

    def deliver(self, limit: int | None = None) -> list[Delivery]:
        results = deliver(self.store, self.config, transport_for(self.config), self.clock, limit)
        for d in results:
            if d.status == "failed":
                self._report_failure(d)
        return results

    def _report_failure(self, d: Delivery) -> None:
        """Tell the coordinators an email could not be delivered (never about their own)."""
        row = self.store.one("SELECT template, pair_id, participant_id FROM outbox WHERE id = ?", (d.outbox_id,))
        now = self.clock.now()
        with self.store.transaction():
            if row["participant_id"]:
                self.store.conn.execute("UPDATE participants SET status = 'bouncing' WHERE id = ? AND role != 'coordinator'",
                                        (row["participant_id"],))
            if d.to_addr in self.config.scheme.coordinators or row["template"] == "notes/delivery-failed":
                return
            if row["participant_id"] is None:
                return  # a note to an address not enrolled (a stranger, a forged From): nothing to fix
            pair = self.store.pair(row["pair_id"]) if row["pair_id"] else None
            self.applier.apply(
                (Send("notes/delivery-failed", "coordinators",
                      vars={"failed_to": d.to_addr, "failed_template": row["template"], "detail": d.detail[:200]}),),
                Subject(pair=pair, key=f"failed:{d.outbox_id}"), now,
            )


def _subject_if_empty(mail: Mail) -> Mail:
    """A message with no text of its own is read from its subject: what a mail client
    sends for a mailto: link with only a subject (List-Unsubscribe's "STOP")."""
    if (mail.own_text or mail.new_text).strip():
        return mail
    subject = re.sub(r"^\s*(?:re|aw|sv|fw|fwd)\s*:\s*", "", mail.subject, flags=re.I)
    return replace(mail, new_text=subject, own_text=subject, body=subject, body_text=subject)


def _recipient(row: dict) -> Recipient:
    return Recipient.of(row)


def _stranger(mail: Mail) -> Recipient | None:
    if not mail.from_addr or mail.machine is not None:
        return None
    return Recipient(mail.from_addr, mail.from_name or mail.from_addr, "stranger", None)


def _json(value) -> str:
    return json.dumps(value)

