"""Understanding what people write back.

Two stages, both pure (no I/O):

- :func:`read` takes the raw bytes of a message and returns a :class:`Mail`: the
  decoded headers, the body as text, the new text its author wrote (quoted history,
  reply headers, signatures and disclaimers removed; see :mod:`.extract`), its
  attachments, and whether a machine sent it (:mod:`.machine`).
- :func:`understand` reads a :class:`Mail` against an :class:`Expectation` (the
  commands and the form of the email being answered) and returns a :class:`Reply`:
  the command (:mod:`.commands`), each form field with its status (:mod:`.forms`,
  :mod:`.dates`) and any warnings.

``mailflow.parse:extract_reply`` (raw bytes -> the new text) is the entry point the
reply corpus scorer uses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from . import mime, sender
from .commands import find_command
from .extract import extract_new_text, extract_reply
from .forms import read_form
from .machine import classify
from .result import CommandResult, Expectation, Mail, Reply

__all__ = ["read", "understand", "extract_reply", "Mail", "Reply", "Expectation"]


def read(raw: bytes, *, tz: str = "UTC") -> Mail:
    """Stage 1: everything that can be known from the message alone. Never raises."""
    msg = mime.load(raw)
    mail = replace(mime.read_mail(raw, msg), sender=sender.check(msg))
    own = extract_new_text(mail.body_text, keep_quotes=False) if ">" in mail.new_text else mail.new_text
    try:
        machine = classify(msg, base=mail.date, tz=tz)
    except Exception as exc:  # a classifier bug must not lose the message
        return replace(mail, own_text=own, defects=(*mail.defects, f"machine-mail check failed: {exc!r}"))
    return replace(mail, machine=machine, own_text=own)


def understand(mail: Mail, expectation: Expectation, *, now: dt.datetime, tz: str, date_order: str) -> Reply:
    """Stage 2: what the reply means in reply to an email that expects ``expectation``.

    Relative dates count from the message's Date header, or from ``now`` when the
    header is missing or in the future (a sender's clock can be wrong).
    """
    base = mail.date if mail.date is not None and mail.date <= now + dt.timedelta(hours=1) else now
    command = find_command(mail.own_text or mail.new_text, expectation.commands) if expectation.commands else CommandResult(None)
    if not expectation.fields:
        return Reply(mail=mail, command=command)
    fields, unknown, warnings = read_form(
        mail.body_text,
        mail.new_text,
        expectation.fields,
        sent_values=expectation.sent_values,
        base=base,
        tz=tz,
        date_order=date_order,
    )
    return Reply(mail=mail, command=command, fields=fields, unknown_labels=unknown, warnings=warnings)
