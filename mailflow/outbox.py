"""The persistent outbox: emails are queued in a transaction, sent after it commits.

:func:`enqueue` renders the email, assigns its Message-ID and reply token, and writes
the row, inside the caller's transaction (the one that changed the state). It is
idempotent: each row has a business key, and queueing the same key twice does nothing.

:func:`deliver` sends what is due, outside any transaction. Each row is claimed
with a lease first (status ``sending``), so two processes never send it twice, and a
crash mid-send leaves a row that is sent again, with the same Message-ID, once the
lease runs out: at least once, never lost.

SMTP results: 2xx -> ``sent``; 4xx, 552 and connection errors -> ``retrying`` with a
growing delay, until ``give_up_after_hours``; other 5xx -> ``failed``. Failures are
returned to the caller, which tells the coordinators.
"""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .clock import Clock, TokenSource, iso, parse_iso
from .config import Config, OutboxConfig, SmtpConfig
from .errors import ConnectionFailed
from .render import Renderer, build_message, mailto, scheme_list_id
from .store import Store

LEASE = dt.timedelta(minutes=10)


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
) -> int | None:
    """Render and queue one email. Returns the outbox id, or None if not queued.

    Not queued when the key was queued before (idempotent), or when the recipient
    has had ``daily_cap_per_recipient`` automatic emails in the last 24 hours and
    this one is not exempt (an event records it).
    """
    if store.scalar("SELECT 1 FROM outbox WHERE key = ?", (key,)):
        return None
    if not exempt:
        sent_today = store.scalar(
            "SELECT count(*) FROM outbox WHERE to_addr = ? AND created_at > ? AND exempt = 0",
            (recipient.email, iso(now - dt.timedelta(days=1))),
        )
        if sent_today >= config.outbox.daily_cap_per_recipient:
            store.log("outbox-capped", now, pair_id=pair_id, participant_id=recipient.participant_id,
                      inbound_id=inbound_id, template=template, to=recipient.email)
            return None
    token = tokens.token()
    message_id = f"{tokens.token()}.mailflow@{config.scheme.domain}"
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
    msg = build_message(
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
        list_id=scheme_list_id(config.scheme.name, config.scheme.address),
        unsubscribe=stop,
    )
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
            "raw": msg.as_bytes(),
            "status": "pending",
            "next_attempt_at": iso(now),
            "exempt": int(exempt),
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


class PermanentFailure(Exception):
    """Do not try again (5xx other than 552)."""


class Transport(Protocol):
    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None: ...

    def close(self) -> None: ...


def smtp_connect(cfg: SmtpConfig) -> smtplib.SMTP:
    """Open and log in to the relay. TLS is verified; STARTTLS is required when asked for."""
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
        if cfg.username:
            conn.login(cfg.username, cfg.password.value())
        return conn
    except smtplib.SMTPAuthenticationError as exc:
        raise ConnectionFailed(f"{where} refused the login for {cfg.username!r}: {exc.smtp_code} "
                               f"{exc.smtp_error.decode(errors='replace')}. Check [smtp] username and the password.") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ConnectionFailed(f"{where}: cannot connect ({exc}). Check [smtp] host, port and tls.") from None


class SmtpTransport:
    """Sends over one SMTP connection, opened on first use, reopened after errors."""

    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg
        self.conn: smtplib.SMTP | None = None

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        try:
            if self.conn is None:
                self.conn = smtp_connect(self.cfg)
            refused = self.conn.sendmail(from_addr, [to_addr], raw)
        except ConnectionFailed as exc:
            self.conn = None
            raise TemporaryFailure(str(exc)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(to_addr, (550, b"refused"))
            self._raise(code, text)
        except smtplib.SMTPResponseException as exc:
            self.close()
            self._raise(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TemporaryFailure(f"SMTP {self.cfg.host}:{self.cfg.port}: {exc}") from None
        else:
            if to_addr in refused:
                self._raise(*refused[to_addr])

    @staticmethod
    def _raise(code: int, text: bytes | str) -> None:
        message = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        if code >= 500 and code != 552:
            raise PermanentFailure(message)
        raise TemporaryFailure(message)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class MaildirTransport:
    """Writes each email into a Maildir instead of sending it (the demo, trials)."""

    def __init__(self, path: Path):
        self.path = path
        self.box = mailbox.Maildir(str(path), create=True)

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        self.box.add(b"X-Envelope-To: " + to_addr.encode() + b"\r\n" + raw)

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


def claim(store: Store, now: dt.datetime, limit: int | None = None) -> list[dict]:
    """Take due rows (and rows whose sending lease ran out) for sending."""
    with store.transaction():
        rows = store.all(
            """SELECT * FROM outbox
               WHERE (status IN ('pending', 'retrying') AND next_attempt_at <= ?)
                  OR (status = 'sending' AND lease_until < ?)
               ORDER BY id LIMIT ?""",
            (iso(now), iso(now), limit if limit is not None else -1),
        )
        for r in rows:
            store.update("outbox", r["id"], status="sending", lease_until=iso(now + LEASE))
    return rows


def deliver(store: Store, config: Config, transport: Transport, clock: Clock, limit: int | None = None) -> list[Delivery]:
    """Send every due email. Returns what happened to each, failures included."""
    results: list[Delivery] = []
    try:
        for row in claim(store, clock.now(), limit):
            results.append(_deliver_one(store, config, transport, clock, row))
    finally:
        transport.close()
    return results


def _deliver_one(store: Store, config: Config, transport: Transport, clock: Clock, row: dict) -> Delivery:
    attempts = row["attempts"] + 1
    try:
        transport.send(config.scheme.address, row["to_addr"], row["raw"])
    except TemporaryFailure as exc:
        now = clock.now()
        give_up = parse_iso(row["created_at"]) + dt.timedelta(hours=config.outbox.give_up_after_hours)
        if now >= give_up:
            return _failed(store, row, attempts, f"gave up after {attempts} attempts; last: {exc}", now)
        with store.transaction():
            store.update("outbox", row["id"], status="retrying", attempts=attempts, last_error=str(exc)[:500],
                         next_attempt_at=iso(_retry_at(config.outbox, attempts, now)), lease_until=None)
        return Delivery(row["id"], row["to_addr"], "retrying", str(exc))
    except PermanentFailure as exc:
        return _failed(store, row, attempts, str(exc), clock.now())
    now = clock.now()
    with store.transaction():
        store.update("outbox", row["id"], status="sent", attempts=attempts, sent_at=iso(now), lease_until=None,
                     last_error="")
    return Delivery(row["id"], row["to_addr"], "sent")


def _failed(store: Store, row: dict, attempts: int, detail: str, now: dt.datetime) -> Delivery:
    with store.transaction():
        store.update("outbox", row["id"], status="failed", attempts=attempts, last_error=detail[:500], lease_until=None)
        store.log("delivery-failed", now, pair_id=row["pair_id"], participant_id=row["participant_id"],
                  outbox_id=row["id"], to=row["to_addr"], template=row["template"], detail=detail[:200])
    return Delivery(row["id"], row["to_addr"], "failed", detail)

