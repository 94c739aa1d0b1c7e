"""Understanding what people write back.

Two stages, both pure (no I/O):

- :func:`read` takes the raw bytes of a message and returns a :class:`Mail`: the
  decoded headers, the body as text, the new text its author wrote (quoted history,
  reply headers, signatures and disclaimers removed; see :mod:`.extract`) split into
  ``body``, ``closing`` and ``signature``, its attachments, and whether a machine
  sent it (:mod:`.machine`).
- :func:`understand` reads a :class:`Mail` against an :class:`Expectation` (the
  commands and the form of the email being answered) and returns a :class:`Reply`:
  the command (:mod:`.commands`), each form field with its status (:mod:`.forms`,
  :mod:`.dates`, in the scheme's languages) and any warnings, and the body, closing
  and signature read again with the participant's enrolled name as evidence.

``mailflow.parse:extract_reply`` (raw bytes -> the body the author wrote) is the
entry point the reply corpus scorer uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from . import mime
from .commands import find_command
from .extract import extract_parts, extract_reply
from .forms import read_form
from .machine import classify
from .result import CommandResult, Expectation, Mail, Reply

__all__ = ["read", "understand", "extract_parts", "extract_reply", "Mail", "Reply", "Expectation"]


def read(raw: bytes, *, tz: str = "UTC") -> Mail:
    """Stage 1: everything that can be known from the message alone. Never raises."""
    msg = mime.load(raw)
    mail = mime.read_mail(raw, msg)
    try:
        machine = classify(msg, base=mail.date, tz=tz)
    except Exception as exc:  # a classifier bug must not lose the message
        return replace(mail, defects=(*mail.defects, f"machine-mail check failed: {exc!r}"))
    return replace(mail, machine=machine)


def understand(mail: Mail, expectation: Expectation, *, now: dt.datetime, tz: str, date_order: str,
               languages: Sequence[str] = ("en",), names: Sequence[str] = ()) -> Reply:
    """Stage 2: what the reply means in reply to an email that expects ``expectation``.

    Relative dates count from the message's Date header, or from ``now`` when the
    header is missing or in the future (a sender's clock can be wrong). Dates are
    read in ``languages`` (the scheme's ``[scheme] languages``). ``names`` are the
    participant's enrolled names: with the From display name, the evidence that a
    bare first name or initials on the last line is a sign-off.
    """
    base = mail.date if mail.date is not None and mail.date <= now + dt.timedelta(hours=1) else now
    body, closing, signature, text = mail.body, mail.closing, mail.signature, mail.new_text
    own = mail.own_text or mail.new_text
    if any(n and n.strip() for n in names):
        parts = extract_parts(mail.body_text, names=(mail.from_name, *names))
        body, closing, signature, text, own = parts.body, parts.closing, parts.signature, parts.text, parts.own
    command = find_command(own, expectation.commands) if expectation.commands else CommandResult(None)
    split = {"body": body, "closing": closing, "signature": signature}
    if not expectation.fields:
        return Reply(mail=mail, command=command, **split)
    if closing and text.endswith(closing):  # the form is read without the sign-off
        text = text[: len(text) - len(closing)].rstrip()
    fields, unknown, warnings = read_form(
        mail.body_text,
        text,
        expectation.fields,
        sent_values=expectation.sent_values,
        base=base,
        tz=tz,
        date_order=date_order,
        languages=tuple(languages) or ("en",),
    )
    return Reply(mail=mail, command=command, fields=fields, unknown_labels=unknown, warnings=warnings, **split)
