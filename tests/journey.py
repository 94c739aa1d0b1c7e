"""A mentoring relationship played through real servers on a fixed clock.

:class:`Journey` runs the service (``run_once``: fetch from Dovecot, process, fire
timers, send to the aiosmtpd sink) with a :class:`FixedClock` that the test moves
forward, so months of a relationship pass in seconds and every timer fires when the
rules say. Each cycle returns the emails that came out, as (template, recipient).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailflow.clock import FixedClock
from mailflow.config import load
from mailflow.enrol import parse_csv
from mailflow.inbound.imap import ImapInbox
from mailflow.runner import run_once
from mailflow.service import Service
from servers import Account, ReceivedMail, SmtpSink

from harness import PEOPLE, SUMMARY_OFF, write_config

UTC = dt.timezone.utc


class Journey:
    def __init__(self, directory: Path, account: Account | None, sink: SmtpSink, *, people: str = PEOPLE,
                 start: dt.datetime = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC), extra: str = "",
                 scheme: str = "", summary: bool = False, tokens=None, keep_welcome: bool = False,
                 consent: str = "implied"):
        """With ``account`` None there is no IMAP: replies are handed to the service as the
        SMTP listener would hand them (for tests about time, not transport). ``scheme``
        holds more [scheme] keys (rules, templates, pair_list_to) for that case. The welcome emails
        that enrolling queues are sent by a first cycle and kept in ``welcomed``, out of
        the log (``keep_welcome``: left for the test's own first cycle)."""
        import os

        if account is not None:
            os.environ["MF_TEST_IMAP_PASSWORD"] = account.password
            self.config_path = write_config(directory, account, sink, extra=extra, scheme=scheme,
                                            summary=summary, consent=consent)
        else:
            self.config_path = directory / "mailflow.toml"
            self.config_path.write_text(
                '[scheme]\nname = "Test Scheme"\naddress = "scheme@scheme.test"\n'
                'coordinators = ["coordinator@scheme.test"]\ntimezone = "Europe/London"\n'
                f'consent = "{consent}"\n' + scheme +
                f'\n[smtp]\nhost = "{sink.host}"\nport = {sink.port}\ntls = "none"\ntimeout_seconds = 5\n'
                + SUMMARY_OFF * (not summary) + extra,
                encoding="utf-8")
        self.config = load(self.config_path)
        self.account = account
        self.sink = sink
        self.clock = FixedClock(start)
        self.tokens = tokens
        self.service = Service(self.config, clock=self.clock, tokens=tokens)
        self.inbox = ImapInbox(self.config.imap, self.service) if account is not None else None
        self.service.enrol(parse_csv(people))
        self.seen = 0
        self.log: list[tuple[str, str, str, str]] = []  # (date, template, recipient, subject), in order
        self.last: dict[tuple[str, str], ReceivedMail] = {}  # (template, recipient) -> the latest such email
        self.welcomed: list[tuple[str, str]] = []
        self._carried: list[tuple[str, str]] = []  # sent with the welcomes, returned by the next cycle
        if not keep_welcome:
            first = self.cycle()
            self.welcomed = [x for x in first if x[0].startswith("welcome/")]
            self._carried = [x for x in first if not x[0].startswith("welcome/")]
            self.log = [e for e in self.log if not e[1].startswith("welcome/")]

    def close(self) -> None:
        if self.inbox is not None:
            self.inbox.close()
        self.service.close()

    def restart(self) -> None:
        """A new process on the same database (what a restart after downtime is)."""
        self.close()
        self.service = Service(self.config, clock=self.clock, tokens=self.tokens)
        self.inbox = ImapInbox(self.config.imap, self.service) if self.account is not None else None

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    def cycle(self) -> list[tuple[str, str]]:
        """One run-once cycle; the emails it sent, as (template, recipient)."""
        carried, self._carried = getattr(self, "_carried", []), []
        report = run_once(self.service, self.inbox)
        assert not report.imap_error, report.imap_error
        sent = sum(d.status == "sent" for d in report.deliveries)
        mails = self.sink.wait_for(self.seen + sent)[self.seen:] if sent else []
        assert len(mails) == sent
        self.seen += sent
        out = []
        for m in mails:
            template = str(m.message["X-Mailflow-Template"])
            for rcpt in m.rcpt_tos:
                self.log.append((self.now.date().isoformat(), template, rcpt, str(m.message["Subject"])))
                self.last[(template, rcpt)] = m
                out.append((template, rcpt))
        return carried + out

    def advance(self, **delta) -> list[tuple[str, str]]:
        """Move the clock on and run a cycle (timers that fell due fire)."""
        self.clock.advance(**delta)
        return self.cycle()

    def until(self, when: dt.datetime) -> list[tuple[str, str]]:
        self.clock.set(when)
        return self.cycle()

    def reply(self, template: str, to: str, builder, answer: str, sender: str) -> list[tuple[str, str]]:
        """``sender`` answers the latest ``template`` email sent to ``to``; then a cycle."""
        original = self.last[(template, to)]
        return self.write(builder(original.raw, answer, sender, date=self.now))

    def write(self, raw: bytes) -> list[tuple[str, str]]:
        if self.account is not None:
            self.account.append(raw)
        else:
            self.service.receive(raw, source="smtp")
        return self.cycle()

    def pair_state(self, pair_id: int = 1) -> str:
        return self.service.store.pair(pair_id)["state"]

    def email(self, template: str, to: str) -> ReceivedMail:
        return self.last[(template, to)]
