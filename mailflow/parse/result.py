"""The values the parser hands to the rest of mailflow.

These are plain, immutable data. Nothing here does I/O. The parser fills them in;
the matcher and the workflow engine read them.

Two stages:

1. :class:`Mail` is what can be known from the message alone: headers, the body as
   text, the new text its author wrote, attachments, and whether a machine sent it.
2. :class:`Reply` is what the message means *in reply to one of our emails*: the
   command, the form fields and any warnings. It needs an :class:`Expectation` (which
   commands and fields the email being answered asks for), which only the matcher
   can supply, because the same word means different things in reply to different
   emails.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from .sender import SenderCheck

# --------------------------------------------------------------------------- stage 1


@dataclass(frozen=True)
class Attachment:
    """A non-text part, kept for later use (coordinators will email CSV files)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MachineMail:
    """A message written by a machine, not a person: it is never answered.

    ``kind`` is ``"auto-reply"`` (out-of-office, vacation, RFC 3834) or ``"bounce"``
    (a delivery status notification or other non-delivery report).
    """

    kind: Literal["auto-reply", "bounce"]
    reason: str  # what gave it away, e.g. "Auto-Submitted: auto-replied"
    away_until: dt.date | None = None  # an out-of-office "back on ..." date, when given
    bounced: tuple[str, ...] = ()  # addresses that failed permanently (bounces only)
    delayed: tuple[str, ...] = ()  # addresses that failed temporarily (bounces only)


@dataclass(frozen=True)
class Mail:
    """One inbound message, read defensively. Building it never raises."""

    message_id: str  # normalised, without angle brackets; "" when absent
    from_addr: str  # lower-cased addr-spec of From, "" when unparseable
    from_name: str
    to_addrs: tuple[str, ...]  # To, Cc, Delivered-To and X-Original-To addr-specs, lower-cased
    subject: str
    date: dt.datetime | None  # the Date header, timezone-aware, None if missing or bad
    in_reply_to: tuple[str, ...]  # Message-IDs, without angle brackets
    references: tuple[str, ...]
    body_text: str  # the whole body as plain text, quoting kept as "> " lines
    # What the author wrote: quoted history, signature block, device footers and
    # disclaimers removed; inline answers keep their quoted context (the quoted lines
    # and their reply header); ends with the closing ("Best regards,\nAnn"), if any.
    new_text: str
    attachments: tuple[Attachment, ...] = ()
    # Only the author's own lines: like new_text, but without the quoted lines that
    # interleaved (inline) answers keep for context. Commands are read from this, so a
    # word in our own quoted email can never be taken for the person's answer.
    own_text: str = ""
    machine: MachineMail | None = None
    defects: tuple[str, ...] = ()  # problems met while reading (bad charset, ...)
    # The author's text split in three (see mailflow.parse.extract, rule 4). Text that
    # mailflow passes on or aggregates uses ``body``: it never carries the sender's
    # name or signature.
    body: str = ""  # the author's own words: no quoted lines, closing, signature, footer
    closing: str = ""  # the valediction and the name under it, or a signed name alone
    signature: str = ""  # the signature block (after "-- ", or name/title/org/phone lines)
    # From read strictly, and the Authentication-Results headers (see parse/sender.py).
    sender: SenderCheck = field(default_factory=SenderCheck)


# --------------------------------------------------------------------------- stage 2


FieldKind = Literal["text", "date", "list", "number", "choice"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form that one of our emails carries as ``Label: value`` lines."""

    name: str  # machine name, e.g. "review_date"
    label: str  # the label printed in the email, e.g. "Review date"
    kind: FieldKind = "text"
    synonyms: tuple[str, ...] = ()  # other labels people use, e.g. ("review",)
    required: bool = True
    choices: tuple[str, ...] = ()  # for kind == "choice"
    help: str = ""  # one line printed under the label, e.g. "a date, e.g. 3 March"
    future: bool = True  # dates only: must be after the message's date


@dataclass(frozen=True)
class Expectation:
    """What the email being answered asks for: its commands and its form.

    ``commands`` maps a command name to the words and phrases that mean it, e.g.
    ``{"accept": ("accept", "yes", "happy to"), "decline": ("decline", "no")}``.
    """

    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fields: tuple[FieldSpec, ...] = ()
    sent_values: dict[str, str] = field(default_factory=dict)  # values pre-filled in the form we sent
    # What each command carries after its word, e.g. {"met": ("past-date?", "minutes?")}
    # (see mailflow.parse.args), and the command a reply with no command word is read
    # as when its first line holds that command's arguments (a bare date).
    arguments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default: str | None = None
    # The commands of the email itself; the others (those that work in reply to any
    # email) count only when no own command is found and they lead the line.
    # None: every command is the email's own.
    own: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FieldResult:
    """One form field as understood from a reply."""

    name: str
    status: Literal["ok", "missing", "invalid"]
    value: object = None  # str, tuple[str, ...] (lists), dt.date, int; None unless ok
    raw: str = ""  # what the person wrote, verbatim
    reason: str = ""  # why it is missing or invalid, in words for the person
    display: str = ""  # the value echoed back unambiguously, e.g. "Tuesday 3 March 2026"


@dataclass(frozen=True)
class CommandResult:
    """The command a reply carries, if any."""

    name: str | None  # the command, or None when there is none or it is ambiguous
    line: str = ""  # the line it was read from
    rest: str = ""  # the text after the command word(s), e.g. a reason
    candidates: tuple[str, ...] = ()  # when ambiguous: the commands it could be


@dataclass(frozen=True)
class DateResult:
    """A date read from free text."""

    status: Literal["ok", "missing", "invalid", "ambiguous", "past"]
    value: dt.date | None = None
    raw: str = ""
    reason: str = ""  # in words for the person, e.g. "03/04 could be 3 April or 4 March"
    display: str = ""  # e.g. "Tuesday 3 March 2026"
    alternatives: tuple[dt.date, ...] = ()  # for ambiguous dates


@dataclass(frozen=True)
class Reply:
    """What a reply means in reply to one of our emails. The workflow engine reads it."""

    mail: Mail
    command: CommandResult
    fields: dict[str, FieldResult] = field(default_factory=dict)
    unknown_labels: tuple[str, ...] = ()  # "Label:" lines that match no declared field
    warnings: tuple[str, ...] = ()  # things the person should hear about
    args: dict[str, object] = field(default_factory=dict)  # the command's arguments, by kind
    arg_problems: tuple[str, ...] = ()  # why an argument could not be read, for the person
    # Like Mail.body/closing/signature, read again with the enrolled name as evidence
    # (a bare first name or initials on the last line is then known to be a sign-off).
    body: str = ""
    closing: str = ""
    signature: str = ""

    @property
    def text(self) -> str:
        return self.mail.new_text
