"""SQLite state, through sqlite-utils, in WAL mode, with named migrations.

Every write goes through :meth:`Store.transaction` (``BEGIN IMMEDIATE``): one
transaction per inbound message, holding its state change, its event log entries and
the outbox rows it causes. Nothing here sends mail or touches IMAP; those side
effects happen after the commit, in :mod:`mailflow.outbox` and :mod:`mailflow.inbound`.

Tables (see :data:`MIGRATIONS` for the exact columns):

- ``participants``: mentors, mentees and coordinators, by address (a mentor may be
  restricted: ``restricted_at``, ``restricted_reason``).
- ``pairs``: a mentee and a mentor, and the pair's workflow state.
- ``tokens``: the reply tokens carried by our emails, each bound to one participant,
  one pair and the kind of email it came with (the reply context).
- ``inbound``: every message received, raw bytes included, with its IMAP identity
  (mailbox, UIDVALIDITY, UID), Message-ID and how it ended.
- ``outbox``: every email we send, rendered, with its Message-ID, before it is sent.
- ``events``: an append-only log of what happened and why.
- ``timers``: reminders due at a time, for a pair in a state.
- ``checkpoints``: the IMAP (UIDVALIDITY, last UID) per mailbox.
- ``agreements``: each version of a pair's mentoring agreement, who confirmed it.
- ``meetings``: meetings a pair logged (day and minutes).
- ``private``: what only its author may see again (pulse scores, reasons for ending).
- ``feedback``: feedback to the scheme (ratings, and text shown only in groups).
- ``pending``: commands in new emails waiting for "which relationship?".
- ``service_state``: small JSON values the service keeps between cycles (the SMTP
  relay's backoff after it could not be reached).
- ``summaries``: each coordinators' summary queued (the week's, or one asked for).
- ``coordinator_commands``: each line of a coordinator's email, applied once.
- ``jobs``: when a periodic job (the raw-mail purge) last ran.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import iso
from .errors import MailflowError

if TYPE_CHECKING:
    import sqlite_utils


class _Migrations:
    """The named migrations, registered like sqlite-utils' ``Migrations`` (``@MIGRATIONS(name=...)``)
    and applied by it, under the same set name and table (``_sqlite_migrations``).

    sqlite-utils is imported only when one is pending (issue 12: importing it took
    a third of the start-up of commands like ``mailflow status``)."""

    name = "mailflow"

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def __call__(self, *, name: str):
        def register(fn):
            if any(n == name for n, _ in self.steps):
                raise ValueError(f"Migration {name!r} is already registered in set {self.name!r}")
            self.steps.append((name, fn))
            return fn
        return register

    def pending(self, conn: sqlite3.Connection) -> bool:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'") \
                .fetchone():
            return True
        done = {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                           (self.name,))}
        return any(n not in done for n, _ in self.steps)

    def apply(self, db: sqlite_utils.Database) -> None:
        from sqlite_utils.migrations import Migrations

        migrations = Migrations(self.name)
        for name, fn in self.steps:
            migrations(name=name)(fn)
        migrations.apply(db)


MIGRATIONS = _Migrations()


@MIGRATIONS(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE participants (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,          -- lower-cased addr-spec
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('mentor', 'mentee', 'coordinator')),
            status TEXT NOT NULL DEFAULT 'active', -- active | bouncing
            away_until TEXT,                     -- from an out-of-office reply
            extra TEXT NOT NULL DEFAULT '{}',    -- other CSV columns, JSON
            created_at TEXT NOT NULL
        );
        CREATE TABLE pairs (
            id INTEGER PRIMARY KEY,
            mentee_id INTEGER NOT NULL REFERENCES participants(id),
            mentor_id INTEGER NOT NULL REFERENCES participants(id),
            state TEXT NOT NULL,
            state_since TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX pairs_mentee ON pairs(mentee_id);
        CREATE INDEX pairs_mentor ON pairs(mentor_id);
        CREATE TABLE tokens (
            token TEXT PRIMARY KEY,
            participant_id INTEGER NOT NULL REFERENCES participants(id),
            pair_id INTEGER REFERENCES pairs(id),
            context TEXT,                        -- the reply context, e.g. 'introduction'
            outbox_id INTEGER,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE inbound (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,                -- imap | smtp | lmtp
            mailbox TEXT,
            uidvalidity INTEGER,
            uid INTEGER,
            message_id TEXT NOT NULL,
            dedup_key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            raw BLOB NOT NULL,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'received', -- received | processed | ignored | quarantined
            reason TEXT NOT NULL DEFAULT '',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            participant_id INTEGER,
            pair_id INTEGER,
            rule_hits TEXT NOT NULL DEFAULT '[]',
            processed_at TEXT,
            imap_done INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX inbound_imap ON inbound(mailbox, uidvalidity, uid);
        CREATE INDEX inbound_dedup ON inbound(dedup_key);
        CREATE INDEX inbound_status ON inbound(status);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,            -- idempotency key
            message_id TEXT NOT NULL UNIQUE,
            to_addr TEXT NOT NULL,
            template TEXT NOT NULL,
            subject TEXT NOT NULL,
            pair_id INTEGER,
            participant_id INTEGER,
            inbound_id INTEGER,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', -- pending | sending | sent | retrying | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_until TEXT,
            last_error TEXT NOT NULL DEFAULT '',
            exempt INTEGER NOT NULL DEFAULT 0,   -- exempt from the daily cap
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_to ON outbox(to_addr, created_at);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            pair_id INTEGER,
            participant_id INTEGER,
            inbound_id INTEGER,
            outbox_id INTEGER,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_pair ON events(pair_id);
        CREATE TABLE timers (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            pair_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            state TEXT NOT NULL,                 -- the pair state the timer belongs to
            due_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' -- pending | fired | cancelled
        );
        CREATE INDEX timers_due ON timers(status, due_at);
        CREATE TABLE drafts (
            pair_id INTEGER NOT NULL,
            form TEXT NOT NULL,
            "values" TEXT NOT NULL,              -- JSON; the pair's own content, never shown to coordinators
            updated_at TEXT NOT NULL,
            PRIMARY KEY (pair_id, form)
        );
        CREATE TABLE checkpoints (
            mailbox TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- The event log is append-only.
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        """
    )


@MIGRATIONS(name="0002_lifecycle")
def _lifecycle(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE pairs ADD COLUMN facts TEXT NOT NULL DEFAULT '{}';  -- dates, counters, flags (actions.py)
        ALTER TABLE participants ADD COLUMN available INTEGER NOT NULL DEFAULT 1;  -- mentors: AVAILABLE/UNAVAILABLE
        ALTER TABLE participants ADD COLUMN capacity INTEGER;        -- mentors: most live pairs (NULL: no limit)
        ALTER TABLE participants ADD COLUMN timezone TEXT;           -- IANA zone from the CSV (NULL: the scheme's)
        ALTER TABLE timers ADD COLUMN participant_id INTEGER;        -- a timer started for one person
        ALTER TABLE tokens ADD COLUMN ref TEXT NOT NULL DEFAULT '';  -- what the email was about, e.g. a version
        CREATE INDEX timers_pair ON timers(pair_id, status);
        CREATE INDEX tokens_outbox ON tokens(outbox_id);
        CREATE TABLE agreements (
            id INTEGER PRIMARY KEY,
            pair_id INTEGER NOT NULL REFERENCES pairs(id),
            version INTEGER NOT NULL,
            "values" TEXT NOT NULL,              -- JSON; the pair's own content, never shown to coordinators
            proposed_by TEXT NOT NULL,           -- mentor | mentee
            proposed_at TEXT NOT NULL,
            confirmed TEXT NOT NULL DEFAULT '{}', -- role -> when
            active_at TEXT,                      -- when both had confirmed it
            UNIQUE (pair_id, version)
        );
        CREATE TABLE meetings (
            id INTEGER PRIMARY KEY,
            pair_id INTEGER NOT NULL REFERENCES pairs(id),
            day TEXT NOT NULL,
            minutes INTEGER,
            logged_by INTEGER,                   -- participant
            inbound_id INTEGER,
            at TEXT NOT NULL
        );
        CREATE INDEX meetings_pair ON meetings(pair_id);
        -- What only its author may see again: pulse scores, reasons for ending, notes.
        CREATE TABLE private (
            id INTEGER PRIMARY KEY,
            participant_id INTEGER NOT NULL,
            pair_id INTEGER,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX private_participant ON private(participant_id);
        -- Feedback to the scheme: coordinators see counts, and text only in anonymous groups of three or more.
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            participant_id INTEGER,
            pair_id INTEGER,
            kind TEXT NOT NULL,                  -- exit | scheme
            rating INTEGER,
            text TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        );
        -- A command in a new email from someone with several pairs, waiting for "which one?".
        CREATE TABLE pending (
            id INTEGER PRIMARY KEY,
            participant_id INTEGER NOT NULL,
            inbound_id INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'waiting' -- waiting | done
        );
        """
    )


@MIGRATIONS(name="0002_hardening")
def _hardening(db: sqlite_utils.Database) -> None:
    """Issue 11: service state (the relay's backoff), the size of a message kept as
    its headers only, and which outbox rows went to strangers (capped per scheme)."""
    db.executescript(
        """
        CREATE TABLE service_state (
            key TEXT PRIMARY KEY,                -- e.g. 'relay'
            value TEXT NOT NULL,                 -- JSON
            updated_at TEXT NOT NULL
        );
        ALTER TABLE inbound ADD COLUMN original_size INTEGER;  -- set when only the headers were kept
        ALTER TABLE outbox ADD COLUMN stranger INTEGER NOT NULL DEFAULT 0;  -- to an address not enrolled
        CREATE INDEX outbox_stranger ON outbox(stranger, created_at);
        """
    )


@MIGRATIONS(name="0003_participant_states")
def _participant_states(db: sqlite_utils.Database) -> None:
    """A participant's own place in the workflow (a welcome, looking for a mentor), and
    timers that belong to a person rather than a pair."""
    db.executescript(
        """
        ALTER TABLE participants ADD COLUMN state TEXT;              -- a participant-scope state, or NULL
        ALTER TABLE participants ADD COLUMN state_since TEXT;
        ALTER TABLE participants ADD COLUMN facts TEXT NOT NULL DEFAULT '{}';
        """
    )
    db["timers"].transform(not_null={"pair_id": False})
    db.executescript("CREATE INDEX IF NOT EXISTS timers_participant ON timers(participant_id, status);")


@MIGRATIONS(name="0004_eligibility")
def _eligibility(db: sqlite_utils.Database) -> None:
    """A mentor made ineligible by a coordinator (``mailflow restrict``), and why: not
    listed in the directory and not pairable until ``mailflow restore``."""
    db.executescript(
        """
        ALTER TABLE participants ADD COLUMN restricted_at TEXT;      -- when restricted (NULL: eligible)
        ALTER TABLE participants ADD COLUMN restricted_reason TEXT;  -- the coordinators' reason
        """
    )


@MIGRATIONS(name="0004_language_consent")
def _language_consent(db: sqlite_utils.Database) -> None:
    """A participant's own language, and their consent to take part (when, and how)."""
    db.executescript(
        """
        ALTER TABLE participants ADD COLUMN language TEXT;           -- BCP 47 tag from the CSV (NULL: the scheme's)
        ALTER TABLE participants ADD COLUMN consented_at TEXT;       -- when they said YES (or were enrolled, if implied)
        ALTER TABLE participants ADD COLUMN consent TEXT;            -- reply | implied (NULL: not given)
        """
    )


@MIGRATIONS(name="0003_coordinators")
def _coordinators(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The coordinators' summaries: one row per week (key 'week:YYYY-MM-DD', the local
        -- day it was due), and one per summary asked for; the row is written in the
        -- transaction that queues the emails, so a week's summary is queued once.
        CREATE TABLE summaries (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,                  -- weekly | start | asked
            week TEXT NOT NULL,                  -- the local day the week's summary was due
            at TEXT NOT NULL,
            recipients INTEGER NOT NULL DEFAULT 0,
            feedback_until TEXT                  -- free-text feedback up to here has been shown
        );
        -- Each line of a coordinator's email, applied once however often the email is read.
        CREATE TABLE coordinator_commands (
            id INTEGER PRIMARY KEY,
            message_key TEXT NOT NULL,           -- the Message-ID, or the raw bytes' sha256
            line_no INTEGER NOT NULL,
            command TEXT NOT NULL,
            outcome TEXT NOT NULL,               -- done | refused | not-understood
            detail TEXT NOT NULL DEFAULT '',
            inbound_id INTEGER,
            at TEXT NOT NULL,
            UNIQUE (message_key, line_no)
        );
        CREATE TABLE jobs (
            name TEXT PRIMARY KEY,
            last_run TEXT NOT NULL
        );
        """
    )


@MIGRATIONS(name="0004_speed")
def _speed(db: sqlite_utils.Database) -> None:
    """Issue 12: every query on a hot path reads only the rows it is about.

    - ``outbox_waiting``: the rows still to send, in id order (the outbox claim);
      partial, so it holds only the queue, never the history.
    - ``outbox_pair``: a pair's emails (``mailflow pair``/``close`` count them).
    - ``inbound_unsettled``: messages whose mailbox copy is not yet flagged or
      moved (settling), partial: it shrinks back as they are settled.
    - ``pending_participant``: a person's command waiting for "which relationship?".
    - ``pairs_state``: counts by state (``mailflow status``).

    And ``inbound.batched``: the message's first attempt was part of a batch (see
    ``Service.process_pending``), so a batch cut short does not count against it.
    """
    db.executescript(
        """
        ALTER TABLE inbound ADD COLUMN batched INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox(id) WHERE status IN ('pending', 'retrying', 'sending');
        CREATE INDEX IF NOT EXISTS outbox_pair ON outbox(pair_id, status);
        CREATE INDEX IF NOT EXISTS inbound_unsettled ON inbound(mailbox, uidvalidity, uid) WHERE imap_done = 0;
        CREATE INDEX IF NOT EXISTS pending_participant ON pending(participant_id, status);
        CREATE INDEX IF NOT EXISTS pairs_state ON pairs(state);
        """
    )


_SAVEPOINTS = itertools.count(1)


class StoreError(MailflowError):
    """The database cannot be used (disk full, read-only, unreadable). Nothing half-done
    was kept: the transaction in hand was rolled back."""


# SQLite's primary result codes that mean "the database or its disk", not "a bug".
_DB_PROBLEMS = {
    3: "permission denied",  # SQLITE_PERM
    5: "it is locked by another process (busy for over 30 s)",  # SQLITE_BUSY
    6: "it is locked",  # SQLITE_LOCKED
    8: "it is read-only: check the file's and its folder's permissions, and that the disk is not mounted read-only",
    10: "a disk error (the disk may be full, a file size limit reached, or the disk failing)",  # SQLITE_IOERR
    11: "the file is damaged: restore it from a backup",  # SQLITE_CORRUPT
    13: "the disk is full: free some space",  # SQLITE_FULL
    14: "it cannot be opened: check the path, the folder and their permissions",  # SQLITE_CANTOPEN
    26: "it is not a mailflow (SQLite) database",  # SQLITE_NOTADB
}


def store_error(exc: BaseException, path: Path | str) -> StoreError | None:
    """A :class:`StoreError` naming the database and the cause, for a database or disk
    problem; None for anything else (a bug should stay a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.DatabaseError) or code is None or (code & 0xFF) not in _DB_PROBLEMS:
        return None
    return StoreError(f"database {path}: {_DB_PROBLEMS[code & 0xFF]} (SQLite: {exc}). "
                      "What was being done was rolled back; nothing is lost, and it is retried once this is fixed.")


def _dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


class Store:
    """The database. One per thread: SQLite connections are not shared."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._open(path)
        except (sqlite3.DatabaseError, OSError) as exc:
            problem = store_error(exc, path)
            if problem is None and isinstance(exc, OSError):
                problem = StoreError(f"database {path}: cannot create its folder ({exc.strerror}).")
            if problem is None:
                raise
            raise problem from exc

    def _open(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30)
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self._db = None
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 30000")
        if str(path) != ":memory:" and self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode = wal")
        self.conn.execute("PRAGMA synchronous = FULL")
        if MIGRATIONS.pending(self.conn):
            MIGRATIONS.apply(self.db)

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection as a sqlite-utils ``Database`` (imported on first use)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception.

        Immediate, so two processes (``serve`` and a CLI command) never deadlock on
        a read lock upgrade; the second simply waits for the first.
        """
        if self.conn.in_transaction:  # nested: a savepoint
            name = f"mailflow_{next(_SAVEPOINTS)}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:  # an I/O error may have ended the whole transaction
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self.conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise (store_error(exc, self.path) or exc) from exc
        try:
            yield self
        except BaseException as exc:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.DatabaseError:
                    pass  # SQLite rolled back by itself (a full disk, an I/O error)
            problem = store_error(exc, self.path)
            if problem is not None:
                raise problem from exc
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass
                raise (store_error(exc, self.path) or exc) from exc

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        return _dict(self.conn.execute(sql, params).fetchone())

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        cur = self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        return int(cur.lastrowid)

    def update(self, table: str, row_id: int, **values: Any) -> None:
        sets = ", ".join(f'"{k}" = ?' for k in values)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id])

    # ------------------------------------------------------------------ participants

    def participant(self, pid: int) -> dict[str, Any] | None:
        return self.one("SELECT * FROM participants WHERE id = ?", (pid,))

    def participant_by_email(self, email: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM participants WHERE email = ?", (email.strip().lower(),))

    def add_participant(self, *, email: str, name: str, role: str, extra: dict, now: dt.datetime) -> int:
        return self.insert(
            "participants",
            {
                "email": email.strip().lower(),
                "name": name.strip(),
                "role": role,
                "extra": json.dumps(extra, sort_keys=True),
                "created_at": iso(now),
            },
        )

    # ------------------------------------------------------------------ pairs

    def pair(self, pair_id: int) -> dict[str, Any] | None:
        return self.one(
            """SELECT p.*, me.email AS mentee_email, me.name AS mentee_name,
                      mo.email AS mentor_email, mo.name AS mentor_name,
                      me.timezone AS mentee_tz, mo.timezone AS mentor_tz,
                      me.language AS mentee_lang, mo.language AS mentor_lang,
                      json_extract(me.extra, '$.greeting') AS mentee_greeting,
                      json_extract(mo.extra, '$.greeting') AS mentor_greeting
               FROM pairs p JOIN participants me ON me.id = p.mentee_id
                            JOIN participants mo ON mo.id = p.mentor_id
               WHERE p.id = ?""",
            (pair_id,),
        )

    def pairs(self, email: str | None = None, *, page: int | None = None, per_page: int = 50) -> list[dict[str, Any]]:
        sql = """SELECT p.*, me.email AS mentee_email, me.name AS mentee_name,
                        mo.email AS mentor_email, mo.name AS mentor_name,
                        me.timezone AS mentee_tz, mo.timezone AS mentor_tz,
                        me.language AS mentee_lang, mo.language AS mentor_lang,
                        json_extract(me.extra, '$.greeting') AS mentee_greeting,
                        json_extract(mo.extra, '$.greeting') AS mentor_greeting
                 FROM pairs p JOIN participants me ON me.id = p.mentee_id
                              JOIN participants mo ON mo.id = p.mentor_id"""
        if email:
            # By the participant's id (indexed on both sides), not by a join on the
            # address, which read every pair (issue 12).
            person = self.scalar("SELECT id FROM participants WHERE email = ?", (email.strip().lower(),))
            if person is None:
                return []
            return self.all(sql + " WHERE p.mentee_id = ? OR p.mentor_id = ? ORDER BY p.id", (person, person))
        if page is not None:  # one page of pairs, by number, from 1
            return self.all(sql + " WHERE p.id IN (SELECT id FROM pairs ORDER BY id LIMIT ? OFFSET ?) ORDER BY p.id",
                            (per_page, (max(page, 1) - 1) * per_page))
        return self.all(sql + " ORDER BY p.id")

    def facts(self, pair_id: int) -> dict[str, Any]:
        return json.loads(self.scalar("SELECT facts FROM pairs WHERE id = ?", (pair_id,)) or "{}")

    def live_pairs(self, participant_id: int, final_states: tuple[str, ...]) -> list[dict[str, Any]]:
        """The pairs a participant is in that have not ended, oldest first."""
        marks = ",".join("?" for _ in final_states) or "''"
        ids = self.all(f"SELECT id FROM pairs WHERE (mentee_id = ? OR mentor_id = ?) AND state NOT IN ({marks}) "
                       "ORDER BY id", (participant_id, participant_id, *final_states))
        return [p for p in (self.pair(r["id"]) for r in ids) if p is not None]

    # ------------------------------------------------------------------ events

    def log(self, kind: str, now: dt.datetime, *, pair_id=None, participant_id=None,
            inbound_id=None, outbox_id=None, **data: Any) -> int:
        """Append one event. ``data`` holds status, dates and counts, never reply text."""
        return self.insert(
            "events",
            {
                "at": iso(now),
                "kind": kind,
                "pair_id": pair_id,
                "participant_id": participant_id,
                "inbound_id": inbound_id,
                "outbox_id": outbox_id,
                "data": json.dumps(data, sort_keys=True, default=str),
            },
        )

    # ------------------------------------------------------------------ service state

    def state(self, key: str) -> dict[str, Any] | None:
        row = self.one("SELECT value FROM service_state WHERE key = ?", (key,))
        return json.loads(row["value"]) if row else None

    def set_state(self, key: str, value: dict[str, Any] | None, now: dt.datetime) -> None:
        if value is None:
            self.conn.execute("DELETE FROM service_state WHERE key = ?", (key,))
            return
        self.conn.execute(
            """INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at""",
            (key, json.dumps(value, sort_keys=True), iso(now)),
        )

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, mailbox: str) -> tuple[int, int] | None:
        row = self.one("SELECT uidvalidity, last_uid FROM checkpoints WHERE mailbox = ?", (mailbox,))
        return (row["uidvalidity"], row["last_uid"]) if row else None

    def set_checkpoint(self, mailbox: str, uidvalidity: int, last_uid: int, now: dt.datetime) -> None:
        self.conn.execute(
            """INSERT INTO checkpoints (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                   last_uid = excluded.last_uid, updated_at = excluded.updated_at""",
            (mailbox, uidvalidity, last_uid, iso(now)),
        )
