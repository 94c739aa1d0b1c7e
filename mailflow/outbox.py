"""The persistent outbox: emails are queued in a transaction, sent after it commits.

:func:`enqueue` renders the email, assigns its Message-ID and reply token, and writes
the row, inside the caller's transaction (the one that changed the state). It is
idempotent: each row has a business key, and queueing the same key twice does nothing.

:func:`deliver` sends what is due, outside any transaction. Each row is claimed
with a lease of its own just before it is sent (status ``sending``), so two
processes never send it twice, however slow the relay, and a crash mid-send leaves
a row that is sent again, with the same Message-ID, once the lease runs out: at
least once, never lost.

SMTP results: 2xx -> ``sent``; 4xx and 552 -> ``retrying`` with a growing delay,
until ``give_up_after_hours``; other 5xx -> ``failed``. A relay that cannot be
reached (or a connection that drops or times out) stops sending for the cycle and
pauses the relay for a growing time (one log line). Any other error with one row
fails that row, never the cycle. Failures are returned to the caller, which tells
the coordinators.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
# smtplib, ssl and mailbox are imported where mail is sent: enrol, pair and status
# never need them, and ssl alone took 80 ms to import (issue 12).
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .clock import Clock, TokenSource, iso, parse_iso
from .config import Config, OutboxConfig, SmtpConfig
from .errors import ConnectionFailed
from .headers import AddressError, envelope_address
from .fastmime import build_bytes
from .render import Attachment, Renderer, mailto, scheme_list_id
from .store import Store

LEASE = dt.timedelta(minutes=10)
log = logging.getLogger("mailflow.outbox")


@dataclass(frozen=True)
class Recipient:
    """Who an email goes to (or is about).

    ``greeting`` is what to call them: the enrolment CSV's optional ``greeting`` column
    ("Hans", "Dr Park"), or else their whole name. A name is never cut into a guessed
    first name: "Prof. Dr. med. Hans Müller" has no safe fragment.
    """

    email: str
    name: str
    role: str  # mentor | mentee | coordinator | stranger
    participant_id: int | None = None
    greeting: str = ""
    tz: str | None = None  # their own IANA time zone (None: the scheme's)
    language: str | None = None  # their own language, a BCP 47 tag (None: the scheme's)

    def __post_init__(self) -> None:
        greeting = " ".join((self.greeting or "").split())
        object.__setattr__(self, "greeting", greeting or " ".join(self.name.split()) or self.email)

    @property
    def first_name(self) -> str:
        """Templates written before ``greeting`` existed: the same as :attr:`greeting`."""
        return self.greeting

    @classmethod
    def of(cls, row: dict) -> Recipient:
        """The recipient for a ``participants`` row (its ``extra`` JSON holds the CSV's other columns)."""
        return cls(row["email"], row["name"], row["role"], row["id"], greeting_of(row.get("extra")),
                   tz=row.get("timezone") or None, language=row.get("language") or None)


def greeting_of(extra: str | dict | None) -> str:
    """The ``greeting`` column of a participant's extra CSV columns ("" when absent)."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return ""
    value = extra.get("greeting") if isinstance(extra, dict) else None
    return value.strip() if isinstance(value, str) else ""


def enqueue(
    store: Store,
    config: Config,
    renderer: Renderer,
    tokens: TokenSource,
    *,
    key: str,
    template: str,
    recipient: Recipient,
    context: dict,
    now: dt.datetime,
    pair_id: int | None = None,
    inbound_id: int | None = None,
    expects: str | None = None,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    exempt: bool = False,
    ref: str = "",
    calendar: tuple[bytes, str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> int | None:
    """Render and queue one email. Returns the outbox id, or None if not queued.

    Not queued (an event records why) when the key was queued before (idempotent);
    when the recipient has had ``daily_cap_per_recipient`` automatic emails in the
    last 24 hours and this one is not exempt; when the recipient has had
    ``daily_hard_cap_per_recipient`` emails of any kind (exempt ones too: a robot
    must not loop on confirmations); or, for an address that is not enrolled, when
    ``stranger_notes_per_day`` notes went to such addresses in the last 24 hours.
    """
    if store.scalar("SELECT 1 FROM outbox WHERE key = ?", (key,)):
        return None
    day_ago = iso(now - dt.timedelta(days=1))
    stranger = recipient.participant_id is None and recipient.email not in config.scheme.coordinators
    capped = ""
    counts = store.one("SELECT count(*) AS every, coalesce(sum(exempt = 0), 0) AS automatic FROM outbox "
                       "WHERE to_addr = ? AND created_at > ?", (recipient.email, day_ago))
    if not exempt and counts["automatic"] >= config.outbox.daily_cap_per_recipient:
        capped = "daily_cap_per_recipient"
    elif counts["every"] >= config.outbox.daily_hard_cap_per_recipient:
        capped = "daily_hard_cap_per_recipient"
    elif stranger and store.scalar("SELECT count(*) FROM outbox WHERE stranger = 1 AND created_at > ?",
                                   (day_ago,)) >= config.outbox.stranger_notes_per_day:
        capped = "stranger_notes_per_day"
    if capped:
        store.log("outbox-capped", now, pair_id=pair_id, participant_id=recipient.participant_id,
                  inbound_id=inbound_id, template=template, to=recipient.email, cap=capped)
        return None
    token = tokens.token()
    message_token = tokens.token()
    message_id = f"{message_token}.mailflow@{config.scheme.domain}"
    ctx = {
        **context,
        "recipient": recipient,
        "scheme": config.scheme,
        "reply_address": config.scheme.reply_address(token),
    }
    rendered = renderer.render(template, ctx)
    # "Stop emailing me" (List-Unsubscribe): a reply with STOP, on the participant's own
    # token, so that the workflow can act on it like any other reply.
    stop = (mailto(ctx["reply_address"], "STOP", "STOP")
            if recipient.role in ("mentor", "mentee") and recipient.participant_id is not None else "")
    try:
        # Speed (issue 12): the bytes build_message would give, built without the
        # email package's object model (mailflow/fastmime.py).
        raw = build_bytes(
            rendered,
            from_name=config.scheme.name,
            from_addr=config.scheme.address,
            to_name=recipient.name,
            to_addr=recipient.email,
            reply_to=config.scheme.reply_address(token),
            message_id=message_id,
            date=now,
            in_reply_to=in_reply_to,
            references=references,
            template=template,
            calendar=calendar,
            attachments=attachments,
            list_id=scheme_list_id(config.scheme.name, config.scheme.address),
            unsubscribe=stop,
            token=token,
            message_token=message_token,
        )
    except AddressError as exc:
        # An address no email can be written to (a stranger's broken From): this
        # one email is not queued; whatever else the message caused still is.
        store.log("outbox-unaddressable", now, pair_id=pair_id, participant_id=recipient.participant_id,
                  inbound_id=inbound_id, template=template, detail=str(exc)[:200])
        return None
    outbox_id = store.insert(
        "outbox",
        {
            "key": key,
            "message_id": message_id,
            "to_addr": recipient.email,
            "template": template,
            "subject": rendered.subject,
            "pair_id": pair_id,
            "participant_id": recipient.participant_id,
            "inbound_id": inbound_id,
            "raw": raw,
            "status": "pending",
            "next_attempt_at": iso(now),
            "exempt": int(exempt),
            "stranger": int(stranger),
            "created_at": iso(now),
        },
    )
    if recipient.participant_id is not None:
        store.insert(
            "tokens",
            {
                "token": token,
                "participant_id": recipient.participant_id,
                "pair_id": pair_id,
                "context": expects,
                "ref": ref,
                "outbox_id": outbox_id,
                "created_at": iso(now),
                "expires_at": iso(now + dt.timedelta(days=config.token_valid_days)),
            },
        )
    return outbox_id


# --------------------------------------------------------------------------- transports


class TemporaryFailure(Exception):
    """Try again later (4xx, 552, the server could not be reached)."""


class RelayDown(TemporaryFailure):
    """The relay could not be reached, or the connection failed or timed out: no
    other email will get through this cycle either."""


class PermanentFailure(Exception):
    """Do not try again (5xx other than 552)."""


class Transport(Protocol):
    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None: ...

    def close(self) -> None: ...


def smtp_connect(cfg: SmtpConfig) -> smtplib.SMTP:
    """Open and log in to the relay. TLS is verified; STARTTLS is required when asked for."""
    import smtplib
    import ssl

    context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    where = f"SMTP {cfg.host}:{cfg.port}"
    try:
        if cfg.tls == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds, context=context)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
        conn.ehlo()
        if cfg.tls == "starttls":
            if not conn.has_extn("starttls"):
                conn.close()
                raise ConnectionFailed(f"{where} does not offer STARTTLS, and [smtp] tls = \"starttls\" requires it; "
                                       "not logging in without encryption.")
            conn.starttls(context=context)
            conn.ehlo()
        if cfg.auth != "password":
            token = cfg.oauth2_token.value()
            if cfg.auth == "xoauth2":
                initial = f"user={cfg.username}\x01auth=Bearer {token}\x01\x01"
            else:
                initial = f"n,a={cfg.username},\x01auth=Bearer {token}\x01\x01"
            # On failure the server sends a JSON error as a challenge; the answer is empty.
            conn.auth(cfg.auth.upper(), lambda challenge=None: "" if challenge else initial)
        elif cfg.username:
            conn.login(cfg.username, cfg.password.value())
        return conn
    except smtplib.SMTPAuthenticationError as exc:
        what = "Check [smtp] username and the password." if cfg.auth == "password" else (
            "The access token from [smtp] oauth2_token_command / oauth2_token_file may have expired, be for "
            "another user, or lack the SMTP scope.")
        raise ConnectionFailed(f"{where} refused the {'login' if cfg.auth == 'password' else cfg.auth.upper() + ' sign-in'}"
                               f" for {cfg.username!r}: {exc.smtp_code} "
                               f"{exc.smtp_error.decode(errors='replace')}. {what}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ConnectionFailed(f"{where}: cannot connect ({exc}). Check [smtp] host, port and tls.") from None


class SmtpTransport:
    """Sends over one SMTP connection, opened on first use, reopened after errors."""

    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg
        self.conn: smtplib.SMTP | None = None

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        import smtplib

        try:
            sender, sender_utf8 = envelope_address(from_addr)
            rcpt, rcpt_utf8 = envelope_address(to_addr)
        except AddressError as exc:
            raise PermanentFailure(f"cannot send to this address: {exc}") from None
        utf8 = sender_utf8 or rcpt_utf8
        try:
            if self.conn is None:
                self.conn = smtp_connect(self.cfg)
            options: list[str] = []
            if utf8:
                if not self.conn.has_extn("smtputf8"):
                    raise PermanentFailure(
                        f"{to_addr} has non-ASCII characters before the @, and the relay "
                        f"{self.cfg.host}:{self.cfg.port} does not offer SMTPUTF8, which sending to it needs. "
                        "Ask the participant for another address, or use a relay that offers SMTPUTF8.")
                options = ["SMTPUTF8", "BODY=8BITMIME"]
            refused = self.conn.sendmail(sender, [rcpt], raw, mail_options=options)
        except ConnectionFailed as exc:
            self.conn = None
            raise RelayDown(str(exc)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (550, b"refused"))
            self._raise(code, text)
        except smtplib.SMTPResponseException as exc:
            self.close()
            self._raise(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:  # a timeout, a dropped connection
            self.close()
            raise RelayDown(f"SMTP {self.cfg.host}:{self.cfg.port}: {exc or type(exc).__name__}") from None
        except smtplib.SMTPException as exc:
            self.close()
            raise TemporaryFailure(f"SMTP {self.cfg.host}:{self.cfg.port}: {exc}") from None
        else:
            if rcpt in refused:
                self._raise(*refused[rcpt])

    @staticmethod
    def _raise(code: int, text: bytes | str) -> None:
        message = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        if code >= 500 and code != 552:
            raise PermanentFailure(message)
        raise TemporaryFailure(message)

    def close(self) -> None:
        import smtplib

        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class MaildirTransport:
    """Writes each email into a Maildir instead of sending it (the demo, trials)."""

    _count = 0

    def __init__(self, path: Path):
        import mailbox
        import socket

        self.path = path
        self.box = mailbox.Maildir(str(path), create=True)  # makes tmp/, new/ and cur/
        self._host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        import os
        import time

        try:
            envelope_address(to_addr)
        except AddressError as exc:
            raise PermanentFailure(str(exc)) from None
        # As mailbox.Maildir.add writes a message (a unique name, written and synced in
        # tmp/, then moved into new/), with one open and a rename instead of its stat,
        # two opens, link and remove (issue 12: creating files is the slow part).
        now = time.time()
        MaildirTransport._count += 1
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{MaildirTransport._count}.{self._host}"
        tmp = os.path.join(self.path, "tmp", name)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        try:
            data = memoryview(b"X-Envelope-To: " + to_addr.encode() + b"\r\n" + raw)
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.remove(tmp)
            raise
        os.close(fd)
        os.rename(tmp, os.path.join(self.path, "new", name))

    def close(self) -> None:
        pass


def transport_for(config: Config) -> Transport:
    if config.outbox.transport == "maildir":
        assert config.outbox.maildir is not None
        return MaildirTransport(config.outbox.maildir)
    return SmtpTransport(config.smtp)


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    to_addr: str
    status: str  # sent | retrying | failed
    detail: str = ""


def _retry_at(cfg: OutboxConfig, attempts: int, now: dt.datetime) -> dt.datetime:
    delay = min(cfg.retry_first_seconds * 2 ** max(attempts - 1, 0), cfg.retry_max_seconds)
    return now + dt.timedelta(seconds=delay)


def claim(store: Store, now: dt.datetime, limit: int | None = None, lease: dt.timedelta = LEASE) -> list[dict]:
    """Take due rows (and rows whose sending lease ran out) for sending."""
    with store.transaction():
        rows = store.all(f"SELECT * FROM outbox WHERE {_WAITING} ORDER BY id LIMIT ?",
                         (iso(now), iso(now), limit if limit is not None else -1))
        for r in rows:
            store.update("outbox", r["id"], status="sending", lease_until=iso(now + lease))
    return rows


_WAITING = """status IN ('pending', 'retrying', 'sending')
               AND ((status IN ('pending', 'retrying') AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until < ?))"""
# The first line repeats the partial index outbox_waiting's condition, and the claim
# names that index (INDEXED BY): it walks the queue in id order and never the history,
# whatever the planner would guess; with a long queue it otherwise chose to sort the
# whole queue for every row claimed (issue 12).


def _claim_one(store: Store, now: dt.datetime, after: int, lease: dt.timedelta,
               sent: tuple[dict, int, dt.datetime] | None = None) -> dict | None:
    """Take the next due row above ``after``, leased just for its own send.

    ``sent`` is the row sent just before (with its attempts and when): it is marked
    ``sent`` in the same transaction, one commit per email instead of two (issue 12).
    It is the same moment as before: right after its send, before the next one."""
    with store.transaction():
        if sent is not None:
            _mark_sent(store, *sent)
        row = store.one(f"SELECT * FROM outbox INDEXED BY outbox_waiting WHERE id > ? AND {_WAITING} "
                        "ORDER BY id LIMIT 1", (after, iso(now), iso(now)))
        if row is not None:
            store.update("outbox", row["id"], status="sending", lease_until=iso(now + lease))
    return row


def _mark_sent(store: Store, row: dict, attempts: int, now: dt.datetime) -> None:
    store.update("outbox", row["id"], status="sent", attempts=attempts, sent_at=iso(now), lease_until=None,
                 last_error="")


def recover(store: Store, now: dt.datetime) -> int:
    """Release every row left ``sending``: called by a consumer that has just taken the
    database's lock (:mod:`mailflow.lock`), when no other process can be sending, so
    those rows belong to a process that died mid-send. They are sent again at once,
    with the same Message-ID (at least once), instead of after their lease."""
    with store.transaction():
        cur = store.conn.execute("UPDATE outbox SET status = 'retrying', next_attempt_at = ?, lease_until = NULL "
                                 "WHERE status = 'sending'", (iso(now),))
    if cur.rowcount:
        log.warning("%d email(s) were being sent when a previous run stopped; sending them again", cur.rowcount)
    return cur.rowcount


def _lease(config: Config) -> dt.timedelta:
    # One send is a connect, a login and a few commands, each bounded by the timeout.
    return max(LEASE, dt.timedelta(seconds=8 * config.smtp.timeout_seconds))


def deliver(store: Store, config: Config, transport: Transport, clock: Clock, limit: int | None = None) -> list[Delivery]:
    """Send every due email. Returns what happened to each, failures included.

    Rows are claimed one at a time, each with a lease of its own, so a slow relay
    never outlives a lease and no row is sent twice by two senders.

    When the relay cannot be reached, or a connection fails or times out, no other
    email would get through: sending stops for this cycle, the relay is left alone
    for a growing pause (``retry_first_seconds``, doubling up to
    ``retry_max_seconds``; shared by every process through the database), and one
    line is logged. Emails past ``give_up_after_hours`` are failed meanwhile.

    Whatever else goes wrong while sending one row (a bug, an address the library
    cannot encode) fails that row, never the cycle: it counts an attempt and is
    retried, and after :data:`MAX_ERRORS` such errors it is marked ``failed``.
    """
    results: list[Delivery] = []
    now = clock.now()
    relay = store.state("relay")
    if relay and iso(now) < relay["until"]:
        return _give_up_waiting(store, config, now)
    lease = _lease(config)
    last_id = 0
    sent: tuple[dict, int, dt.datetime] | None = None  # sent, to be marked with the next claim
    # Speed (issue 12): the claims and marks below commit without waiting for the
    # disk (WAL, synchronous=NORMAL: safe against a crash of the process; only a
    # power cut can undo the last of them). Nothing can be lost that way: the rows
    # were written, durably, by the transaction that queued them; an undone mark
    # only means the email is sent again (at least once, as after any crash mid-send).
    relaxed = not store.conn.in_transaction  # (the level cannot change inside one)
    if relaxed:
        store.conn.execute("PRAGMA synchronous = NORMAL")
    try:
        while limit is None or len(results) < limit:
            row = _claim_one(store, clock.now(), last_id, lease, sent)
            sent = None
            if row is None:
                break
            last_id = row["id"]
            try:
                delivery = _deliver_one(store, config, transport, clock, row)
                if delivery.status == "sent":
                    sent = (row, row["attempts"] + 1, clock.now())
                results.append(delivery)
            except RelayDown as exc:
                results.append(_temporary(store, config, row, exc, clock.now()))
                results += _relay_down(store, config, clock.now(), exc, relay)
                return results
            except Exception as exc:  # one poison row must never stop the outbox
                transport.close()
                results.append(_error(store, config, row, exc, clock.now()))
        if relay and any(d.status == "sent" for d in results):
            with store.transaction():
                store.set_state("relay", None, clock.now())
            log.info("SMTP relay reachable again")
    finally:
        try:
            if sent is not None:  # the last one sent (a limit reached, or an error after it)
                with store.transaction():
                    _mark_sent(store, *sent)
        finally:
            if relaxed and not store.conn.in_transaction:
                store.conn.execute("PRAGMA synchronous = FULL")
            transport.close()
    return results


def _relay_down(store: Store, config: Config, now: dt.datetime, exc: Exception, before: dict | None) -> list[Delivery]:
    failures = (before or {}).get("failures", 0) + 1
    pause = min(config.outbox.retry_first_seconds * 2 ** (failures - 1), config.outbox.retry_max_seconds)
    until = now + dt.timedelta(seconds=pause)
    with store.transaction():
        store.set_state("relay", {"until": iso(until), "failures": failures, "error": str(exc)[:300]}, now)
        waiting = store.scalar("SELECT count(*) FROM outbox WHERE status IN ('pending', 'retrying', 'sending')")
    log.warning("SMTP relay unreachable (%s); not sending for this cycle: %d email(s) wait; next try in %d s",
                exc, waiting, pause)
    return _give_up_waiting(store, config, now)


def _give_up_waiting(store: Store, config: Config, now: dt.datetime) -> list[Delivery]:
    """While the relay is down: fail the emails that are past ``give_up_after_hours``."""
    cutoff = iso(now - dt.timedelta(hours=config.outbox.give_up_after_hours))
    rows = store.all("""SELECT * FROM outbox WHERE status IN ('pending', 'retrying') AND created_at <= ?
                        ORDER BY id""", (cutoff,))
    relay = store.state("relay") or {}
    return [_failed(store, r, r["attempts"], f"gave up after {r['attempts']} attempts; the relay could not be "
                    f"reached: {relay.get('error', '')}", now) for r in rows]


MAX_ERRORS = 3


def _error(store: Store, config: Config, row: dict, exc: Exception, now: dt.datetime) -> Delivery:
    attempts = row["attempts"] + 1
    detail = f"could not send ({type(exc).__name__}: {exc})"
    log.error("outbox #%d to %s: %s", row["id"], row["to_addr"], detail)
    if attempts >= MAX_ERRORS:
        return _failed(store, row, attempts, f"{detail}; gave up after {attempts} attempts", now)
    with store.transaction():
        store.update("outbox", row["id"], status="retrying", attempts=attempts, last_error=detail[:500],
                     next_attempt_at=iso(_retry_at(config.outbox, attempts, now)), lease_until=None)
    return Delivery(row["id"], row["to_addr"], "retrying", detail)


def _temporary(store: Store, config: Config, row: dict, exc: Exception, now: dt.datetime) -> Delivery:
    attempts = row["attempts"] + 1
    give_up = parse_iso(row["created_at"]) + dt.timedelta(hours=config.outbox.give_up_after_hours)
    if now >= give_up:
        return _failed(store, row, attempts, f"gave up after {attempts} attempts; last: {exc}", now)
    with store.transaction():
        store.update("outbox", row["id"], status="retrying", attempts=attempts, last_error=str(exc)[:500],
                     next_attempt_at=iso(_retry_at(config.outbox, attempts, now)), lease_until=None)
    return Delivery(row["id"], row["to_addr"], "retrying", str(exc))


def _deliver_one(store: Store, config: Config, transport: Transport, clock: Clock, row: dict) -> Delivery:
    attempts = row["attempts"] + 1
    try:
        transport.send(config.scheme.address, row["to_addr"], row["raw"])
    except RelayDown:
        raise
    except TemporaryFailure as exc:
        return _temporary(store, config, row, exc, clock.now())
    except PermanentFailure as exc:
        return _failed(store, row, attempts, str(exc), clock.now())
    # Marked sent by the caller, in the transaction that claims the next row.
    return Delivery(row["id"], row["to_addr"], "sent")


def _failed(store: Store, row: dict, attempts: int, detail: str, now: dt.datetime) -> Delivery:
    with store.transaction():
        store.update("outbox", row["id"], status="failed", attempts=attempts, last_error=detail[:500], lease_until=None)
        store.log("delivery-failed", now, pair_id=row["pair_id"], participant_id=row["participant_id"],
                  outbox_id=row["id"], to=row["to_addr"], template=row["template"], detail=detail[:200])
    return Delivery(row["id"], row["to_addr"], "failed", detail)

