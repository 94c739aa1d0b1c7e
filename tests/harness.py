"""A mailflow installation for a test: a config pointing at the test's Dovecot account
and SMTP sink, and helpers to drive it through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import clients
from click.testing import CliRunner

from mailflow.cli import main
from mailflow.clock import CountingTokens, FixedClock
from mailflow.config import load
from mailflow.enrol import parse_csv
from mailflow.service import Service
from servers import Account, ReceivedMail, SmtpSink

MENTOR = "ada@hospital.test"
MENTEE = "sam@university.test"
COORDINATOR = "coordinator@scheme.test"

PEOPLE = """\
role,name,email,department
coordinator,Jo Coordinator,coordinator@scheme.test,Research Office
mentor,Dr Ada Byron,ada@hospital.test,Clinical Pharmacy
mentee,Sam Lee,sam@university.test,Pharmacy Practice
mentor,Grace Hopper,grace@hospital.test,Oncology
"""


# Tests of other things count the emails each cycle sends: no weekly summary among them.
SUMMARY_OFF = "\n[summary]\nenabled = false\n"


def write_config(directory: Path, account: Account, sink: SmtpSink, *, scheme_address: str | None = None,
                 imap_port: int | None = None, poll_seconds: int = 1, extra: str = "", scheme: str = "",
                 password_env: str = "MF_TEST_IMAP_PASSWORD", name: str = "mailflow.toml",
                 summary: bool = False, consent: str = "implied") -> Path:
    """A mailflow.toml for the test's servers. The IMAP password goes in an env var.
    ``scheme`` holds more [scheme] lines (rules = "NAME", pair_list_to = [...]). The
    coordinators' weekly summary is off unless ``summary`` (tests of other things
    count the emails each cycle sends). ``consent`` is "implied" (people take part at
    once, as the tests written before the welcome expect) unless a test is about the
    welcome's YES."""
    path = directory / name
    path.write_text(textwrap.dedent(f"""\
        [scheme]
        name = "Test Mentoring Scheme"
        address = "{scheme_address or account.username}"
        coordinators = ["coordinator@scheme.test"]
        timezone = "Europe/London"
        date_order = "DMY"
        consent = "{consent}"
        """) + scheme + textwrap.dedent(f"""
        [database]
        path = "mailflow.db"

        [imap]
        host = "{account.host}"
        port = {imap_port or account.port}
        username = "{account.username}"
        password_env = "{password_env}"
        tls = "none"
        folder = "INBOX"
        processed_folder = "Processed"
        idle = true
        poll_seconds = {poll_seconds}
        timeout_seconds = 10

        [smtp]
        host = "{sink.host}"
        port = {sink.port}
        username = ""
        tls = "none"
        timeout_seconds = 10

        [outbox]
        transport = "smtp"
        retry_first_seconds = 60
        """) + SUMMARY_OFF * (not summary) + extra, encoding="utf-8")
    return path


def wait_until(predicate, timeout: float, what: str, every: float = 0.1):
    """``predicate()``'s first true value, asked every ``every`` seconds; fails the test
    after ``timeout`` seconds, naming ``what`` it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def own_example_hosts(path: Path) -> None:
    """Replace the example config's placeholder hosts and addresses with a scheme's own."""
    text = path.read_text()
    for old, new in (("imap.example.org", "imap.riverside.test"), ("smtp.example.org", "smtp.riverside.test"),
                     ("example.org", "riverside.test")):
        text = text.replace(old, new)
    path.write_text(text)


def set_keys(path: Path, section: str, **values) -> None:
    """Set (or add) keys in one [section] of a config file; a value of None removes the key."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"[{section}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    body = [l for l in lines[start + 1:end] if l.split("=")[0].strip() not in values]
    for key, value in values.items():
        if value is not None:
            body.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines[:start + 1] + body + lines[end:]) + "\n", encoding="utf-8")


@dataclass
class Installation:
    directory: Path
    config: Path
    account: Account
    sink: SmtpSink

    @property
    def env(self) -> dict[str, str]:
        return {"MF_TEST_IMAP_PASSWORD": self.account.password}

    def cli(self, *args: str, expect: int = 0) -> str:
        """Run ``mailflow --config ... ARGS`` in-process; assert the exit status."""
        result = CliRunner().invoke(main, ["--config", str(self.config), *args], env=self.env,
                                    catch_exceptions=False)
        assert result.exit_code == expect, f"mailflow {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return result.output

    def cli_process(self, *args: str, expect: int | None = 0, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the installed ``mailflow`` console script in a child process (``expect=None``:
        any exit status)."""
        exe = Path(sys.executable).with_name("mailflow")
        proc = subprocess.run([str(exe), "--config", str(self.config), *args], capture_output=True, text=True,
                              env={**os.environ, **self.env}, timeout=timeout)
        assert expect is None or proc.returncode == expect, (
            f"mailflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    @contextmanager
    def serving(self, log: Path) -> Iterator[subprocess.Popen]:
        """``mailflow serve`` in a child process, its output going to ``log``; killed on
        leaving the block if the test did not stop it."""
        exe = Path(sys.executable).with_name("mailflow")
        with log.open("w") as out:
            proc = subprocess.Popen([str(exe), "--config", str(self.config), "serve"], stdout=out,
                                    stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def enrol(self, people: str = PEOPLE, *, keep_welcome: bool = False) -> str:
        """Enrol from a CSV text. The welcome emails enrolling queues are sent (a real
        run-once) and, unless ``keep_welcome``, set aside, so that tests about what
        comes later see only that."""
        csv = self.directory / "people.csv"
        csv.write_text(people, encoding="utf-8")
        before = self._welcomes()
        out = self.cli("enrol", "--csv", str(csv))
        queued = self._welcomes() - before
        if queued and not keep_welcome:
            self.cli("run-once")
            _wait_welcomes(self.sink, queued)
        return out

    def _welcomes(self) -> int:
        import sqlite3

        path = self.directory / "mailflow.db"
        if not path.exists():
            return 0
        with sqlite3.connect(path) as conn:
            try:
                return conn.execute("SELECT count(*) FROM outbox WHERE template LIKE 'welcome/%'").fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    def status(self, email: str | None = None) -> dict:
        return json.loads(self.cli("status", "--json", *([email] if email else [])))

    def sent_to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.sink.messages if address in m.rcpt_tos]

    def db(self):
        import sqlite3

        conn = sqlite3.connect(self.directory / "mailflow.db")
        conn.row_factory = sqlite3.Row
        return conn


def _wait_welcomes(sink, n: int) -> None:
    """Wait until ``n`` welcome emails reached ``sink``, then set them aside."""
    import time

    deadline = time.monotonic() + 10
    got = 0
    while got < n and time.monotonic() < deadline:
        got += len(sink.drop("welcome/welcome"))
        if got < n:
            time.sleep(0.02)
    assert got == n, f"expected {n} welcome email(s), got {got}"


def body(mail: ReceivedMail) -> str:
    """The plain-text part, with runs of whitespace (line wrapping) folded to one space."""
    return " ".join(mail.message.get_body(("plain",)).get_content().split())


def make_service(tmp_path: Path, sink, extra: str = "", summary: bool = False) -> Service:
    """A Service (no IMAP) on a fixed clock and counting tokens, sending to ``sink``,
    with the people of :data:`PEOPLE` enrolled."""
    path = tmp_path / "mailflow.toml"
    path.write_text(f"""
[scheme]
name = "Test Scheme"
address = "scheme@scheme.test"
coordinators = ["coordinator@scheme.test"]
consent = "implied"
[smtp]
host = "{sink.host}"
port = {sink.port}
tls = "none"
timeout_seconds = 5
[outbox]
retry_first_seconds = 60
retry_max_seconds = 600
give_up_after_hours = 2
{SUMMARY_OFF * (not summary)}
{extra}
""")
    service = Service(load(path), clock=FixedClock(), tokens=CountingTokens())
    counts = service.enrol(parse_csv(PEOPLE))
    assert counts["added"]
    # The welcome emails enrolling queued are not what these tests are about (their
    # relays may be broken on purpose, their caps counted): they are taken out unsent.
    with service.store.transaction():
        service.store.conn.execute("DELETE FROM tokens WHERE outbox_id IN "
                                   "(SELECT id FROM outbox WHERE template LIKE 'welcome/%')")
        service.store.conn.execute("DELETE FROM outbox WHERE template LIKE 'welcome/%'")
    return service


def to_agreement(mf: Installation) -> bytes:
    """Pair, accept, meet, both decide to go on; return the raw email that brought the
    mentee the agreement form."""
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    mf.account.append(clients.outlook_reply(intro.raw, "ACCEPT", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [to_mentee] = mf.sent_to(MENTEE)
    mf.sink.clear()
    mf.account.append(clients.gmail_reply(to_mentee.raw, "MET today", f"Sam Lee <{MENTEE}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [ask_mentee], [ask_mentor] = mf.sent_to(MENTEE), mf.sent_to(MENTOR)
    mf.sink.clear()
    mf.account.append(clients.gmail_reply(ask_mentee.raw, "Yes", f"Sam Lee <{MENTEE}>"))
    mf.account.append(clients.outlook_reply(ask_mentor.raw, "Yes", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(3)
    [form_email] = [m for m in mf.sent_to(MENTEE) if "Location:" in body(m)]
    assert "Review date:" in body(form_email)
    assert [p["state"] for p in mf.status()["pairs"]] == ["agreeing"]
    mf.sink.clear()
    return form_email.raw
