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

from .result import CommandResult, Expectation, Mail, Reply

__all__ = ["read", "understand", "extract_parts", "extract_reply", "Mail", "Reply", "Expectation"]

# The readers are imported on first use (issue 12): ``mailflow.parse.result`` is read
# by the rules' loader, and commands that read no mail (status, enrol, --help) should
# not pay for dateparser and the extractor's patterns.
_LAZY = {"mime": ".mime", "sender": ".sender", "read_args": ".args", "find_command": ".commands",
         "words": ".commands", "extract_parts": ".extract", "extract_reply": ".extract", "read_form": ".forms",
         "classify": ".machine"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name], __name__)
    value = module if module.__name__.rsplit(".", 1)[1] == name else getattr(module, name)
    globals()[name] = value
    return value


def read(raw: bytes, *, tz: str = "UTC") -> Mail:
    """Stage 1: everything that can be known from the message alone. Never raises."""
    from . import mime, sender
    from .machine import classify

    msg = mime.load(raw)
    mail = replace(mime.read_mail(raw, msg), sender=sender.check(msg))
    try:
        machine = classify(msg, base=mail.date, tz=tz)
    except Exception as exc:  # a classifier bug must not lose the message
        return replace(mail, defects=(*mail.defects, f"machine-mail check failed: {exc!r}"))
    return replace(mail, machine=machine)


# Words that may come before a command at the start of a line: "Please END", "I'd like to pause".
_LEAD_INS = (("please",), ("sorry",), ("hi",), ("ok",), ("so",), ("id", "like", "to"), ("i", "would", "like", "to"),
             ("wed", "like", "to"), ("we", "would", "like", "to"), ("i", "want", "to"), ("we", "want", "to"),
             ("i", "need", "to"), ("we", "need", "to"), ("can", "we"), ("could", "we"), ("i", "have", "to"),
             ("we", "have", "to"), ("i", "must"), ("we", "must"), ("i", "will"), ("ill",), ("we", "will"), ("well",),
             ("just",), ("i", "am"), ("im",), ("we", "are"), ("were",), ("i",), ("we",), ("to",))


def _leads(line: str, phrases: tuple[str, ...]) -> bool:
    """Whether ``line`` starts with one of ``phrases``, after at most two lead-ins."""
    from .commands import words

    toks = words(line)
    for _ in range(3):
        if any(toks[: len(p.split())] == words(p) for p in phrases):
            return True
        lead = next((l for l in _LEAD_INS if tuple(toks[: len(l)]) == l), None)
        if lead is None:
            return False
        toks = toks[len(lead):]
    return False


def _command(text: str, expectation: Expectation, *, base: dt.datetime, tz: str, date_order: str,
             languages: Sequence[str] = ("en",)) -> tuple[CommandResult, dict, tuple[str, ...]]:
    """The command, its arguments and what was wrong with them.

    The email's own commands are read first. Only if the first meaningful line holds
    none of them are the commands that work in reply to any email (``anytime``) read,
    and one counts only when it leads the line ("END", "Please pause until June") and
    its arguments can be read: "at the end of our meeting" or "sorry for the late
    reply" are not commands."""
    from .args import read_args
    from .commands import find_command

    if not expectation.commands:
        return CommandResult(None), {}, ()
    mine = expectation.commands.keys() if expectation.own is None else expectation.own
    own = {k: v for k, v in expectation.commands.items() if k in mine}
    other = {k: v for k, v in expectation.commands.items() if k not in mine}
    command = find_command(text, own) if own else CommandResult(None)

    def read(cmd: CommandResult):
        kinds = expectation.arguments.get(cmd.name or "", ())
        return read_args(kinds, cmd.rest, base=base, tz=tz, date_order=date_order,
                         languages=tuple(languages) or ("en",)) if kinds else None

    if command.name and other and not _leads(command.line, own[command.name]):
        # "END - my new job leaves no time": a command that leads the line beats one of
        # the email's own words later in it.
        first = find_command(text, other)
        if first.name and first.line == command.line and _leads(first.line, other[first.name]):
            got = read(first)
            if got is None or got.ok:
                return first, (got.values if got else {}), ()
    if command.name:
        got = read(command)
        return command, (got.values if got else {}), (got.problems if got else ())
    if not command.candidates and other:
        maybe = find_command(text, other)
        if maybe.candidates and all(_leads(maybe.line, other[c]) for c in maybe.candidates):
            return maybe, {}, ()
        if maybe.name and _leads(maybe.line, other[maybe.name]):
            got = read(maybe)
            if got is None or got.ok:
                return maybe, (got.values if got else {}), ()
        command = CommandResult(None, line=command.line or maybe.line)
    if command.name is None and not command.candidates and expectation.default:
        # No command word: the first line may hold the default command's arguments
        # (a bare date in reply to "which date?").
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        got = read_args(expectation.arguments.get(expectation.default, ()), first, base=base, tz=tz,
                        date_order=date_order, languages=tuple(languages) or ("en",))
        if first and got.ok and got.values:
            if "text" in got.values:  # a reply that is all text (agenda items): the whole of it
                got = read_args(("text",), text, base=base, tz=tz, date_order=date_order,
                                languages=tuple(languages) or ("en",))
            return CommandResult(expectation.default, line=first, rest=first), got.values, ()
    return command, {}, ()


def understand(mail: Mail, expectation: Expectation, *, now: dt.datetime, tz: str, date_order: str,
               languages: Sequence[str] = ("en",), names: Sequence[str] = ()) -> Reply:
    """Stage 2: what the reply means in reply to an email that expects ``expectation``.

    Relative dates count from the message's Date header, or from ``now`` when the
    header is missing or in the future (a sender's clock can be wrong). Dates are
    read in ``languages`` (the scheme's ``[scheme] languages``). ``names`` are the
    participant's enrolled names: with the From display name, the evidence that a
    bare first name or initials on the last line is a sign-off.
    """
    from .extract import extract_parts
    from .forms import read_form

    base = mail.date if mail.date is not None and mail.date <= now + dt.timedelta(hours=1) else now
    body, closing, signature, text = mail.body, mail.closing, mail.signature, mail.new_text
    own = mail.own_text or mail.new_text
    if any(n and n.strip() for n in names) and mail.body_text.strip():
        parts = extract_parts(mail.body_text, names=(mail.from_name, *names))
        body, closing, signature, text, own = parts.body, parts.closing, parts.signature, parts.text, parts.own
    command, args, problems = _command(own, expectation, base=base, tz=tz, date_order=date_order,
                                       languages=languages)
    if isinstance(args.get("text"), str) and closing:
        # A reason, a concern or feedback is passed on without the sign-off.
        kept = args["text"].rstrip()
        if kept.endswith(closing.strip()):
            args = {**args, "text": kept[: len(kept) - len(closing.strip())].rstrip()}
    split = {"body": body, "closing": closing, "signature": signature, "args": args, "arg_problems": problems}
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
