"""Running the scheme by reply: coordinators' commands, one per line.

A coordinator replies to the weekly summary (or to any email, or writes a new one
to the scheme's address) with one command per line, in any order, above the quote::

    NUDGE 3
    CLOSE 4 they moved to another trust
    PAIR #12 #4
    STATUS sam@university.example

and attaches a CSV file to enrol people (read before the lines, so a line can pair
someone the file enrols). Only the addresses in ``[scheme]
coordinators`` may do this, writing from that address (an email whose
``Authentication-Results`` say DMARC failed is refused). Anyone else who answers
a coordinators' email changes nothing and gets a refusal that says nothing more.

Every coordinator email gets one answer listing each line and what became of it:
done, refused and why, or not understood. Each line runs on its own (a savepoint):
a bad line never stops the others. Each line is recorded in
``coordinator_commands`` by the email's Message-ID and its line number, so the same
email read twice applies once (the second reading reports "already done").

The ``mailflow`` command line calls the same functions (:func:`nudge`,
:func:`set_available`, :func:`status_text`, ``Service.close_pair``,
``Service.pair``, ``Service.restrict``, :func:`mailflow.summary.queue`).

People are named by address or by their number (``#12``, as the summary shows
them); pairs by their number (``3``, as ``mailflow status`` and the summary show
them).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from .clock import iso
from .enrol import parse_csv
from .errors import MailflowError, StateError
from .outbox import Recipient, greeting_of
from .parse.dates import display as display_date
from .parse.result import Mail
from .workflow.apply import Subject
from .workflow.decisions import Outcome, Record, Send, SetParticipant
from .workflow.loader import ANYTIME

log = logging.getLogger("mailflow")

CONTEXT = "coordinator"


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    does: str


COMMANDS = (
    Command("nudge", "NUDGE <pair>", "remind a pair of what we are waiting for from them"),
    Command("close", "CLOSE <pair> <reason>", "end a pair: both are told neutrally; the reason (optional) stays "
                                              "with the coordinators"),
    Command("pair", "PAIR <mentee> <mentor>", "introduce a mentee to a mentor (addresses or #numbers)"),
    Command("pause", "PAUSE <mentor>", "no new mentees for this mentor for now (their pairs go on)"),
    Command("available", "AVAILABLE <mentor>", "the mentor can be given new mentees again"),
    Command("restrict", "RESTRICT <person> <reason>", "stop pairing this person (their pairs are not ended)"),
    Command("restore", "RESTORE <person>", "lift a restriction"),
    Command("status", "STATUS <pair or person>", "where they stand: states, dates and counts"),
    Command("export", "EXPORT", "the CSV of all pairs, attached to the answer"),
    Command("summary", "SUMMARY", "a summary now, to you alone"),
    Command("help", "HELP", "this list"),
)
BY_NAME = {c.name: c for c in COMMANDS}
WORDS = {"nudge": "nudge", "close": "close", "end": "close", "pair": "pair", "pause": "pause",
         "unavailable": "pause", "available": "available", "restrict": "restrict", "restore": "restore",
         "unrestrict": "restore", "status": "status", "export": "export", "csv": "export", "summary": "summary",
         "help": "help", "commands": "help"}
_GREETING = re.compile(r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|morning|thanks|thank you)\b", re.I)
_BULLET = re.compile(r"^\s*(?:[-*\u2022>]+|\d{1,2}[.)])\s*")


@dataclass
class Result:
    line: str
    outcome: str  # done | refused | not-understood | already
    detail: str = ""
    block: str = ""  # lines shown under it (STATUS)
    title: str = ""  # the block's heading
    attach: bool = False  # EXPORT: the CSV goes with the answer
    help: bool = False

    def as_dict(self) -> dict[str, Any]:
        labels = {"done": "done", "refused": "refused", "not-understood": "not understood",
                  "already": "already done"}
        detail = self.detail.strip().rstrip(".")
        return {"command": self.line, "outcome": self.outcome, "label": labels[self.outcome],
                "detail": detail, "block": self.block, "title": self.title}


def commands_var() -> dict[str, list[str]]:
    """The ``commands`` template variable of coordinators' emails (their buttons)."""
    return {c.name: [c.name] for c in COMMANDS}


def command_list() -> list[dict[str, str]]:
    return [{"usage": c.usage, "does": c.does} for c in COMMANDS]


# --------------------------------------------------------------------------- routing


def route(service, mail: Mail, m, raw: bytes, inbound_id: int, now: dt.datetime) -> tuple[Outcome, Subject] | None:
    """Called by ``Service._decide`` for mail that is not ours or a machine's: the
    coordinators' commands, a refusal for anyone else answering a coordinators'
    email, or None (the usual participant path)."""
    config = service.config
    owner = m.participant if m.token is not None else None
    coordinators_token = m.token is not None and ((owner or {}).get("role") == "coordinator"
                                                  or m.token.get("context") == CONTEXT)
    if mail.from_addr in config.scheme.coordinators:
        if m.token is not None and not coordinators_token:
            return None  # a coordinator who is also a participant, answering as one
        if _dmarc_failed(raw):
            return _refuse(service, mail, m, inbound_id, now, "coordinator address, but DMARC failed")
        return handle(service, mail, raw, inbound_id, now)
    if coordinators_token or _answers_coordinators(service, mail):
        return _refuse(service, mail, m, inbound_id, now, "commands to coordinators from someone else")
    return None


def _dmarc_failed(raw: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    msg = email.message_from_bytes(head + b"\n\n", policy=email.policy.compat32)
    return any(re.search(r"\bdmarc\s*=\s*fail\b", str(v), re.I) for v in msg.get_all("Authentication-Results") or ())


def _answers_coordinators(service, mail: Mail) -> bool:
    ids = [*mail.in_reply_to, *mail.references]
    coordinators = service.config.scheme.coordinators
    if not ids or not coordinators:
        return False
    return bool(service.store.scalar(
        f"SELECT 1 FROM outbox WHERE message_id IN ({','.join('?' * len(ids))}) "
        f"AND to_addr IN ({','.join('?' * len(coordinators))}) LIMIT 1", (*ids, *coordinators)))


def _refuse(service, mail: Mail, m, inbound_id: int, now: dt.datetime, reason: str) -> tuple[Outcome, Subject]:
    if m.sender is not None:
        sender = Recipient.of(m.sender)
    elif mail.from_addr:
        sender = Recipient(mail.from_addr, mail.from_name or mail.from_addr, "stranger", None)
    else:
        sender = None
    subject = Subject(sender=sender, inbound_id=inbound_id, in_reply_to=mail.message_id, references=mail.references,
                      their_subject=mail.subject, key=f"note:{mail.from_addr}:{now.date().isoformat()}")
    sends = (Send("coordinators/refused", "sender"),) if sender is not None else ()
    return Outcome("ignored", f"not-coordinator: {reason}", (*sends, Record("coordinator-refused", {})),
                   ("coordinator:refused",)), subject


# --------------------------------------------------------------------------- one email


def message_key(mail: Mail, raw: bytes) -> str:
    return f"mid:{mail.message_id}" if mail.message_id else f"sha:{hashlib.sha256(raw).hexdigest()}"


def lines_of(mail: Mail) -> list[tuple[int, str]]:
    """The lines a coordinator wrote (not the quote, closing or signature), numbered."""
    text = mail.own_text or mail.new_text or ""
    closing = (mail.closing or "").strip()
    if closing and text.rstrip().endswith(closing):
        text = text.rstrip()[: len(text.rstrip()) - len(closing)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = _BULLET.sub("", line).strip().rstrip(".;")
        if line and not (_GREETING.match(line) and len(line.split()) <= 5 and not _word(line)):
            out.append((n, line))
    return out


def _word(line: str) -> str | None:
    first = re.sub(r"[^a-z]", "", line.split()[0].lower()) if line.split() else ""
    return WORDS.get(first)


def handle(service, mail: Mail, raw: bytes, inbound_id: int | None, now: dt.datetime) -> tuple[Outcome, Subject]:
    """Run a coordinator's email, line by line, and answer it."""
    row = service.store.participant_by_email(mail.from_addr)
    coordinator = (Recipient(mail.from_addr, row["name"], "coordinator", row["id"], greeting_of(row.get("extra")))
                   if row is not None else Recipient(mail.from_addr, mail.from_name or "Coordinator", "coordinator"))
    key = message_key(mail, raw)
    subject = Subject(sender=coordinator, inbound_id=inbound_id, in_reply_to=mail.message_id,
                      references=mail.references, their_subject=mail.subject, key=f"coord:{key}")
    # Attached CSV files first, so that the lines can pair the people they enrol.
    results = [_enrol(service, key, -(i + 1), att, inbound_id, now)
               for i, att in enumerate(a for a in mail.attachments if _is_csv(a))]
    results += [run_line(service, coordinator, key, n, line, inbound_id, now, mail) for n, line in lines_of(mail)]
    if not results:
        results.append(Result("(no commands)", "not-understood", "the email had no lines to read", help=True))
    counts = {o: sum(r.outcome == o for r in results) for o in ("done", "refused", "not-understood", "already")}
    answer = Send("coordinators/answer", "sender", CONTEXT, exempt=True,
                  attach="pairs-csv" if any(r.attach for r in results) else None,
                  vars={"results": [r.as_dict() for r in results], "tally": counts,
                        "show_help": any(r.help for r in results) or counts["not-understood"] > 0,
                        "command_list": command_list(), "commands": commands_var(), "expects_reply": True,
                        "csv_attached": any(r.attach for r in results)})
    status = "processed" if counts["done"] else "ignored"
    reason = (f"coordinator: {len(results)} lines: {counts['done']} done, {counts['refused']} refused, "
              f"{counts['not-understood']} not understood, {counts['already']} already done")
    return Outcome(status, reason, (answer, Record("coordinator-email", counts)), ("coordinator:commands",)), subject


def _is_csv(att) -> bool:
    return att.filename.lower().endswith(".csv") or att.content_type in ("text/csv", "application/csv")


def run_line(service, coordinator: Recipient, key: str, n: int, line: str, inbound_id: int | None,
             now: dt.datetime, mail: Mail | None = None) -> Result:
    """One line: run it in a savepoint and record it, or report it as already done."""
    store = service.store
    prior = store.one("SELECT outcome, detail FROM coordinator_commands WHERE message_key = ? AND line_no = ?",
                      (key, n))
    if prior is not None:
        if prior["outcome"] == "done":
            return Result(line, "already", f"this email was read before, and this line was done then: {prior['detail']}")
        return Result(line, prior["outcome"], prior["detail"])
    name = _word(line)
    if name is None:
        result = Result(line, "not-understood", "not a command; HELP lists them", help=True)
    else:
        args = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
        try:
            with store.transaction():
                result = _run(service, coordinator, name, args, line, f"coord:{key}:{n}", now, mail)
                _record(store, key, n, name, result, inbound_id, now)
            return result
        except MailflowError as exc:
            result = Result(line, "refused", str(exc))
        except Exception as exc:  # a bug must not stop the other lines; it is logged
            log.exception("coordinator command %s (line %d of %s) failed", name.upper(), n, key)
            result = Result(line, "refused", f"it failed ({type(exc).__name__}); the error is in mailflow's log, "
                                             "and nothing from this line was applied")
    with store.transaction():
        _record(store, key, n, name or "?", result, inbound_id, now)
    return result


def _record(store, key: str, n: int, name: str, result: Result, inbound_id: int | None, now: dt.datetime) -> None:
    store.insert("coordinator_commands", {"message_key": key, "line_no": n, "command": name,
                                          "outcome": result.outcome, "detail": result.detail[:500],
                                          "inbound_id": inbound_id, "at": iso(now)})


def _run(service, coordinator: Recipient, name: str, args: str, line: str, key: str, now: dt.datetime,
         mail: Mail | None) -> Result:
    if name == "help":
        return Result(line, "done", "the commands are listed below", help=True)
    if name == "nudge":
        return Result(line, "done", nudge(service, _pair_number(args, "NUDGE"), key=key))
    if name == "close":
        m = re.match(r"((?:pair\s*)?#?\d+)\s*(.*)$", args, re.I | re.S)
        pair_id = _pair_number(m.group(1) if m else args, "CLOSE")
        state = service.close_pair(pair_id, m.group(2).strip() if m else "")
        p = service.store.pair(pair_id)
        return Result(line, "done", f"pair {pair_id} ({p['mentee_name']} with {p['mentor_name']}) is now {state}; "
                                    "both have been told")
    if name == "pair":
        people = args.replace(",", " ").split()
        if len(people) != 2:
            raise StateError("PAIR needs a mentee and a mentor, by address or #number, e.g. PAIR #12 #4")
        a, b = (person(service, x) for x in people)
        if a["role"] == "mentor" and b["role"] == "mentee":
            a, b = b, a
        pair_id = service.pair(a["email"], b["email"])
        return Result(line, "done", f"pair {pair_id}: {a['name']} with {b['name']}; the introductions are on "
                                    "their way")
    if name in ("pause", "available"):
        return Result(line, "done", set_available(service, args, name == "available", key=key))
    if name == "restrict":
        who, _, reason = args.partition(" ")
        row = person(service, who)
        service.restrict(row["email"], reason.strip() or "restricted by a coordinator's email")
        return Result(line, "done", f"{row['name']} ({row['email']}) is restricted: they will not be paired; any "
                                    "pairs under way go on (CLOSE ends one)")
    if name == "restore":
        row = person(service, args)
        service.restore(row["email"])
        return Result(line, "done", f"{row['name']} ({row['email']}) can be paired again")
    if name == "status":
        title, block = status_text(service, args)
        return Result(line, "done", "below", block=block, title=title)
    if name == "export":
        if args:
            raise StateError("EXPORT sends the CSV of all pairs, and takes nothing after it. A participant's own "
                             "data goes only to them: they reply EXPORT, or you run mailflow export EMAIL --out PATH")
        return Result(line, "done", "the CSV of all pairs is attached", attach=True)
    if name == "summary":
        from .summary import queue, scheduled

        day, _ = scheduled(service.config, now)
        queue(service, "sender", key=f"asked:{key}", kind="asked", week=day, now=now,
              subject=Subject(sender=coordinator, in_reply_to=mail.message_id if mail else ""))
        return Result(line, "done", "a summary is on its way to you, in its own email")
    raise StateError(f"{name.upper()} is not a command")  # pragma: no cover - WORDS names only commands


def _enrol(service, key: str, n: int, att, inbound_id: int | None, now: dt.datetime) -> Result:
    label = f"the attached {att.filename or 'CSV file'}"
    prior = service.store.one("SELECT outcome, detail FROM coordinator_commands WHERE message_key = ? "
                              "AND line_no = ?", (key, n))
    if prior is not None:
        outcome = "already" if prior["outcome"] == "done" else prior["outcome"]
        return Result(label, outcome, prior["detail"])
    try:
        try:
            text = att.data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise StateError("it is not UTF-8 text; save the spreadsheet as 'CSV UTF-8' and send it again "
                             "(nothing from it was applied)") from None
        with service.store.transaction():
            counts = service.enrol(parse_csv(text, att.filename or "CSV"))
            result = Result(label, "done", f"enrolled: {counts['added']} added, {counts['updated']} updated, "
                                           f"{counts['unchanged']} unchanged")
            _record(service.store, key, n, "enrol", result, inbound_id, now)
        return result
    except MailflowError as exc:
        result = Result(label, "refused", str(exc))
    with service.store.transaction():
        _record(service.store, key, n, "enrol", result, inbound_id, now)
    return result


# --------------------------------------------------------------------------- the commands themselves


def _pair_number(text: str, command: str) -> int:
    m = re.fullmatch(r"(?:pair\s*)?#?(\d+)", text.strip(), re.I)
    if not m:
        raise StateError(f"{command} needs a pair's number, e.g. {command} 3 (the summary and STATUS show them)")
    return int(m.group(1))


def person(service, text: str) -> dict[str, Any]:
    """A participant by address or ``#number``."""
    text = text.strip().strip("<>,")
    m = re.fullmatch(r"#?(\d+)", text)
    row = service.store.participant(int(m.group(1))) if m else service.store.participant_by_email(text)
    if row is None or row["status"] == "erased":
        what = f"#{m.group(1)}" if m else (text or "(nobody)")
        raise StateError(f"{what} is not enrolled; give an address, or a #number from the summary")
    return row


def nudge(service, pair_id: int, *, key: str) -> str:
    """Remind a pair of what we are waiting for: each of them who owes an answer gets
    the last question we asked them again (its commands, and its form as filled in so
    far), as a new email whose reply counts as the answer. Returns what was done."""
    store, wf = service.store, service.workflow
    now = service.clock.now()
    with store.transaction():
        pair = store.pair(pair_id)
        if pair is None:
            raise StateError(f"there is no pair {pair_id}; STATUS or `mailflow status` lists the pairs")
        state = wf.states.get(pair["state"])
        if state is not None and state.final:
            raise StateError(f"pair {pair_id} has already ended ({pair['state']}); there is nothing to nudge")
        facts = store.facts(pair_id)
        voted = {role for v in (facts.get("votes") or {}).values() for role in v}
        asks = []
        for role in ("mentee", "mentor"):
            if role in voted:
                continue
            tok = store.one("SELECT context, ref, outbox_id FROM tokens WHERE pair_id = ? AND participant_id = ? "
                            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (pair_id, pair[f"{role}_id"]))
            if tok and tok["context"] and tok["context"] != ANYTIME and tok["context"] in wf.replies:
                asks.append((role, tok["context"], tok["ref"], tok["outbox_id"]))
        if not asks:  # nothing asked of them: a general reminder to both
            asks = [(role, ANYTIME, "", None) for role in ("mentee", "mentor")]
        decisions: list = []
        for role, context, ref, outbox_id in asks:
            last = store.one("SELECT subject, created_at FROM outbox WHERE id = ?", (outbox_id,)) if outbox_id else None
            spec = wf.replies.get(context)
            own = [] if context == ANYTIME or spec is None else [
                {"word": name.upper().replace("-", " "),
                 "args": " ".join(f"<{a.rstrip('?')}>" for a in spec.args.get(name, ()) if not a.endswith("?"))}
                for name in spec.commands]
            decisions.append(Send("coordinators/nudge", role, context, ref=ref, vars={
                "asked_subject": last["subject"] if last else "",
                "asked_on": display_date(dt.date.fromisoformat(last["created_at"][:10])) if last else "",
                "own_commands": own, "has_form": bool(spec and spec.form)}))
        decisions.append(Record("nudged", {"by": "coordinator", "to": [a[0] for a in asks]}))
        service.applier.apply(decisions, Subject(pair=pair, key=key), now)
    names = " and ".join(pair[f"{role}_name"] for role, *_ in asks)
    return f"pair {pair_id}: {names} {'were' if len(asks) > 1 else 'was'} reminded"


def set_available(service, who: str, available: bool, *, key: str) -> str:
    """PAUSE (``available`` False) or AVAILABLE for a mentor; the mentor is told."""
    now = service.clock.now()
    with service.store.transaction():
        row = person(service, who)
        if row["role"] != "mentor":
            raise StateError(f"{row['name']} is a {row['role']}; PAUSE and AVAILABLE are for mentors (to pause a "
                             "relationship, either of the pair replies PAUSE; CLOSE ends one)")
        if bool(row["available"]) == available:
            return f"{row['name']} was already {'available' if available else 'paused (unavailable)'}; nothing changed"
        service.applier.apply([SetParticipant({"available": int(available)}),
                               Send("coordinators/availability", "sender", ANYTIME, vars={"available": available})],
                              Subject(sender=Recipient.of(row), key=key), now)
    return (f"{row['name']} can be given new mentees again" if available else
            f"{row['name']} will not be given new mentees for now (their pairs go on)") + "; they have been told"


def status_text(service, target: str) -> tuple[str, str]:
    """STATUS of a pair (its number) or a person (address or #number): a title and lines."""
    from .status import format_text, gather, pair_view

    target = target.strip()
    if not target:
        raise StateError("STATUS needs a pair's number (STATUS 3) or a person (STATUS #12, or their address)")
    m = re.fullmatch(r"(?:pair\s*)?(\d+)", target, re.I)
    if m:
        p = service.store.pair(int(m.group(1)))
        if p is None:
            raise StateError(f"there is no pair {m.group(1)}")
        data = {"scheme": "", "pairs": [pair_view(service, p, service.clock.now())], "participants": [],
                "inbound": {}, "outbox": {}, "quarantined": [], "failed_deliveries": []}
        title = f"Pair {p['id']}"
    else:
        row = person(service, target)
        data = gather(service, row["email"])
        data.update(inbound={}, outbox={}, quarantined=[], failed_deliveries=[])
        title = f"{row['name']} (#{row['id']}, {row['role']})"
    lines = [line[2:].rstrip() for line in format_text(data).splitlines()[1:]
             if not line.strip().startswith(("inbound:", "outbox:", "next:"))]
    return title, "\n".join(lines) or "no pairs"
