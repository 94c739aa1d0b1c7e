"""``mailflow demo``: a short scheme played on this machine, with no mail server.

It uses the embedded defaults: SQLite for state, the embedded aiosmtpd endpoint
(:mod:`mailflow.inbound.listener`) to receive replies, and a local Maildir for
outgoing mail. Nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import shutil
import smtplib
import socket
import sys
import tempfile
import textwrap
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from .config import load
from .enrol import parse_csv
from .inbound.listener import Listener
from .runner import run_once
from .service import Service

CONFIG = """\
# Written by `mailflow demo`: embedded defaults, no mail server.
[scheme]
name = "Riverside Research Mentoring"
address = "mentoring@riverside.example"
coordinators = ["coordinator@riverside.example"]
timezone = "Europe/London"
date_order = "DMY"

[database]
path = "mailflow.db"

[imap]
host = ""                      # no IMAP: replies arrive through the listener below

[outbox]
transport = "maildir"          # outgoing mail is written here instead of sent
maildir = "outgoing-mail"

[listener]
enabled = true
protocol = "smtp"
host = "127.0.0.1"
port = {port}
"""

PEOPLE = """\
role,name,email,department
coordinator,Jo Coordinator,coordinator@riverside.example,Research Office
mentor,Dr Ada Byron,ada.byron@hospital.example,Clinical Pharmacy
mentee,Sam Lee,sam.lee@university.example,Pharmacy Practice
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _show(echo: Callable[[str], None], raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(("plain",))
    text = body.get_content().replace("\r\n", "\n") if body is not None else ""
    text = text.split("\n-- \n")[0].rstrip()  # the footer is the same on every email
    echo(f"  To: {msg['To']}")
    echo(f"  Subject: {msg['Subject']}")
    echo(f"  Reply-To: {msg['Reply-To']}")
    echo(textwrap.indent(text, "  | ", lambda line: True))
    echo("")


def _mentor_reply(intro: bytes, text: str = "Accept\n\nHappy to help - I'll email Sam this week to find a time."
                  "\n\nAda", sender: str = "Ada Byron <ada.byron@hospital.example>") -> EmailMessage:
    """An answer built the way Outlook builds one: answer on top, original below."""
    original = email.message_from_bytes(intro, policy=email.policy.default)
    quoted = original.get_body(("plain",)).get_content()
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = original["Reply-To"]
    reply["Subject"] = "RE: " + original["Subject"]
    reply["Date"] = format_datetime(original["Date"].datetime)
    reply["Message-ID"] = make_msgid(domain="hospital.example")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    reply.set_content(
        f"{text}\n\n"
        "________________________________\n"
        f"From: {original['From']}\nSent: {original['Date']}\nTo: {original['To']}\n"
        f"Subject: {original['Subject']}\n\n{quoted}"
    )
    return reply


def run_demo(directory: Path | None, echo: Callable[[str], None] = print) -> int:
    directory = Path(directory or tempfile.mkdtemp(prefix="mailflow-demo-")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config_path = directory / "mailflow.toml"
    config_path.write_text(CONFIG.replace("{port}", str(port)), encoding="utf-8")
    (directory / "people.csv").write_text(PEOPLE, encoding="utf-8")
    config = load(config_path)
    service = Service(config)
    listener = Listener(config, service.clock)
    listener.start()
    outgoing = mailbox.Maildir(str(config.outbox.maildir), create=True)
    seen: set[str] = set()

    def new_mail() -> list[bytes]:
        out = []
        for key in sorted(outgoing.keys()):  # Maildir names start with the time written
            if key not in seen:
                seen.add(key)
                out.append(outgoing.get_bytes(key))
        return out

    try:
        echo(f"mailflow demo in {directory}\n")
        counts = service.enrol(parse_csv(PEOPLE, "people.csv"))
        echo(f"1. Enrolled {counts['added']} people from people.csv (a coordinator, a mentor, a mentee).")
        report = run_once(service, None)
        echo(f"2. Ran one cycle: {report.line()}. Each participant is welcomed, and asked whether they want "
             "to take part; nobody is introduced before saying YES. The mentor's welcome:\n")
        welcomes = new_mail()
        to_ada = next(r for r in welcomes if b"ada.byron@hospital.example" in r.split(b"\r\n\r\n")[0])
        to_sam = next(r for r in welcomes if b"sam.lee@university.example" in r.split(b"\r\n\r\n")[0])
        _show(echo, to_ada)
        yes_ada = _mentor_reply(to_ada, "Yes\n\nExpertise: clinical trials, pharmacy practice research\nCapacity: 2\n\nAda")
        yes_sam = _mentor_reply(to_sam, "Yes please!\n\nSam", "Sam Lee <sam.lee@university.example>")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(yes_ada)
            smtp.send_message(yes_sam)
        echo("3. Ada replied YES, with her expertise and how many mentees she can take; Sam replied "
             "\"Yes please!\". Their consent is recorded with its date.")
        report = run_once(service, None)
        echo(f"   Ran one cycle: {report.line()} (a thank-you to each).\n")
        new_mail()
        pair_id = service.pair("sam.lee@university.example", "ada.byron@hospital.example")
        echo(f"4. Paired Sam Lee (mentee) with Dr Ada Byron (mentor): pair {pair_id}.")
        report = run_once(service, None)
        echo(f"5. Ran one cycle: {report.line()}. The introductions:\n")
        intros = new_mail()
        for raw in intros:
            _show(echo, raw)
        to_mentor = next(r for r in intros if b"ada.byron@hospital.example" in r.split(b"\r\n\r\n")[0])
        reply = _mentor_reply(to_mentor)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(reply)
        echo(f"6. Ada replied from her mail client, top-posted above the quoted introduction, to {reply['To']}:")
        echo(textwrap.indent(reply.get_content().split("________________________________")[0].rstrip(), "  | ",
                         lambda line: True))
        echo("   (It went by SMTP to the embedded endpoint on 127.0.0.1:%d, which stored it before answering.)\n" % port)
        report = run_once(service, None)
        echo(f"7. Ran one cycle: {report.line()}. The confirmations:\n")
        for raw in new_mail():
            _show(echo, raw)
        p = service.store.pair(pair_id)
        report = run_once(service, None)
        echo(f"8. Ran one more cycle: {report.line()} (nothing is sent twice).")
        echo(f"   Pair {pair_id} is now '{p['state']}'.\n")
        echo("Where things are:")
        echo(f"  config:        {config_path}")
        echo(f"  database:      {config.database_path}")
        echo(f"  outgoing mail: {config.outbox.maildir} (a Maildir: open it with any mail client, or `ls new/`)")
        command = "mailflow" if shutil.which("mailflow") else sys.argv[0]
        echo(f"  try:           {command} --config {config_path} status")
        return 0
    finally:
        listener.stop()
        service.close()
