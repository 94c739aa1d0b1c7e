"""Load a scheme's workflow from its rule files (``rules/<scheme>/*.toml``).

A workflow is data. Each file describes one step of a mentoring relationship (the
introduction now; the agreement, check-ins, review and ending next) in the same
format, and the files of a folder are merged into one :class:`Workflow`:

``[workflow]``
    ``name`` and ``description`` of the step.
``[states.NAME]``
    A state a pair can be in: ``description``, and ``final = true`` when nothing
    follows. State names are unique across the folder.
``[start]``
    What ``mailflow pair`` does: the first ``state`` and the emails to ``send``.
    Exactly one file of a folder has it.
``[replies.CONTEXT]``
    A reply context: what a reply to one of our emails may say. ``from`` lists the
    roles that may answer; ``commands.NAME`` lists the words that mean that
    command *in this context*; ``form`` names a form the reply may fill in.
``[[on]]``
    What a reply does: for ``reply`` (a context), ``command`` (or
    ``form = "complete"``), in ``state`` (one or a list), ``goto`` a state and
    ``send`` emails. The first matching ``[[on]]`` wins.
``[[timers]]``
    Reminders: ``after_days`` in ``state``, ``send`` emails (and optionally
    ``goto``). Set when the pair enters the state, cancelled when it leaves.
``[forms.NAME]``
    ``[[forms.NAME.fields]]`` with ``name``, ``label``, ``kind``, ``synonyms``,
    ``required``, ``choices``, ``help``.

A ``send`` entry is ``{ template = "dir/name", to = "mentor" | "mentee" |
"coordinators" | "sender" | "partner", expects = "CONTEXT" }``.

Every problem is reported as ``file:line: what is wrong`` by :func:`load_workflow`
(which raises on the first) and :func:`check_workflow` (which lists them all).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RuleError
from ..parse.result import FieldSpec

AUDIENCES = ("mentor", "mentee", "coordinators", "sender", "partner")
ROLES = ("mentor", "mentee")
FIELD_KINDS = ("text", "date", "list", "number", "choice")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Where:
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SendSpec:
    template: str
    to: str
    expects: str | None
    where: Where


@dataclass(frozen=True)
class StateSpec:
    name: str
    description: str
    final: bool
    where: Where


@dataclass(frozen=True)
class ReplySpec:
    name: str
    roles: tuple[str, ...]
    commands: dict[str, tuple[str, ...]]
    form: str | None
    where: Where


@dataclass(frozen=True)
class OnRule:
    reply: str
    command: str | None  # None with form_complete
    form_complete: bool
    states: tuple[str, ...]
    goto: str | None
    send: tuple[SendSpec, ...]
    record: str
    where: Where
    keys: dict[str, Where] = field(default_factory=dict)  # where each key is written

    def at(self, key: str) -> Where:
        return self.keys.get(key, self.where)

    @property
    def name(self) -> str:
        what = self.command or "form-complete"
        return f"{self.reply}:{what}@{'|'.join(self.states)}"


@dataclass(frozen=True)
class TimerSpec:
    name: str
    state: str
    after: dt.timedelta
    send: tuple[SendSpec, ...]
    goto: str | None
    where: Where
    keys: dict[str, Where] = field(default_factory=dict)

    def at(self, key: str) -> Where:
        return self.keys.get(key, self.where)


@dataclass(frozen=True)
class StartSpec:
    state: str
    send: tuple[SendSpec, ...]
    where: Where


@dataclass(frozen=True)
class Workflow:
    folder: Path
    files: tuple[Path, ...]
    states: dict[str, StateSpec]
    start: StartSpec
    replies: dict[str, ReplySpec]
    rules: tuple[OnRule, ...]
    timers: tuple[TimerSpec, ...]
    forms: dict[str, tuple[FieldSpec, ...]]
    steps: tuple[str, ...] = field(default=())

    def templates(self) -> list[tuple[str, Where]]:
        """Every template the workflow can send, with where it is named."""
        out = [(s.template, s.where) for s in self.start.send]
        for r in self.rules:
            out += [(s.template, s.where) for s in r.send]
        for t in self.timers:
            out += [(s.template, s.where) for s in t.send]
        return out


# --------------------------------------------------------------------------- locating


class _Locator:
    """Finds the line of a table or key in a TOML file (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def header(self, header: str, index: int = 0, default: int = 1) -> int:
        """Line (1-based) of the index-th ``[header]`` or ``[[header]]`` (else ``default``)."""
        pat = re.compile(r"^\s*\[\[?\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") + r"\s*\]\]?\s*(#.*)?$")
        seen = 0
        for i, line in enumerate(self.lines, 1):
            if pat.match(line):
                if seen == index:
                    return i
                seen += 1
        return default

    def find(self, start: int, needle: str) -> int:
        """First line at or after ``start`` (before the next header) containing ``needle``."""
        for i in range(start, len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > start and re.match(r"^\s*\[", line):
                break
            if needle in line:
                return i
        return start

    def where(self, line: int) -> Where:
        return Where(self.path, line)


# --------------------------------------------------------------------------- loading


class _Problems(list):
    def add(self, where: Where, message: str) -> None:
        self.append(f"{where}: {message}")


def rules_folder(spec: str, base: Path | None = None) -> Path:
    """The folder for ``[scheme] rules``: a shipped scheme name, or a path."""
    from ..resources import shipped

    candidate = Path(spec).expanduser()
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if candidate.is_dir():
        return candidate
    shipped_dir = shipped("rules") / spec
    if shipped_dir.is_dir():
        return shipped_dir
    available = sorted(p.name for p in shipped("rules").iterdir() if p.is_dir())
    raise RuleError(
        f"rules {spec!r}: no such folder, and no shipped scheme of that name. "
        f"Shipped schemes: {', '.join(available)}; or give a path to your own folder."
    )


def load_workflow(folder: Path) -> Workflow:
    """Load and validate a folder of rule files; raise :class:`RuleError` on the first problem."""
    workflow, problems = _load(folder)
    if problems:
        more = f" (and {len(problems) - 1} more; run `mailflow check`)" if len(problems) > 1 else ""
        raise RuleError(problems[0] + more)
    assert workflow is not None
    return workflow


def check_workflow(folder: Path) -> tuple[Workflow | None, list[str]]:
    """Load a folder of rule files and return every problem found, as ``file:line: ...``."""
    return _load(folder)


def _load(folder: Path) -> tuple[Workflow | None, list[str]]:
    problems = _Problems()
    files = sorted(folder.glob("*.toml"))
    if not files:
        return None, [f"{folder}: no rule files (*.toml) in this folder"]
    states: dict[str, StateSpec] = {}
    replies: dict[str, ReplySpec] = {}
    rules: list[OnRule] = []
    timers: list[TimerSpec] = []
    forms: dict[str, tuple[FieldSpec, ...]] = {}
    starts: list[StartSpec] = []
    steps: list[str] = []

    for path in files:
        text = path.read_text(encoding="utf-8")
        loc = _Locator(path, text)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            problems.add(loc.where(int(m.group(1)) if m else 1), f"not valid TOML: {exc}")
            continue
        _read_file(path, data, loc, problems, states, replies, rules, timers, forms, starts, steps)

    if not starts:
        problems.append(f"{folder}: no file has a [start] table (what `mailflow pair` does)")
    elif len(starts) > 1:
        problems.add(starts[1].where, f"a second [start] table; the first is at {starts[0].where}")
    if problems and not starts:
        return None, list(problems)
    start = starts[0]
    wf = Workflow(
        folder=folder,
        files=tuple(files),
        states=states,
        start=start,
        replies=replies,
        rules=tuple(rules),
        timers=tuple(timers),
        forms=forms,
        steps=tuple(steps),
    )
    _cross_check(wf, problems)
    return (wf if not problems else None), list(problems)


def _sends(raw: Any, where: Where, loc: _Locator, start_line: int, problems: _Problems) -> tuple[SendSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(where, "send must be a list of { template = ..., to = ... } tables")
        return ()
    out = []
    for item in raw:
        if not isinstance(item, dict) or "template" not in item or "to" not in item:
            problems.add(where, f"each send entry needs template and to; got {item!r}")
            continue
        line = loc.find(start_line, str(item["template"]))
        w = loc.where(line)
        unknown = set(item) - {"template", "to", "expects"}
        if unknown:
            problems.add(w, f"unknown key(s) in send entry: {', '.join(sorted(unknown))} (allowed: template, to, expects)")
        if item["to"] not in AUDIENCES:
            problems.add(w, f"to = {item['to']!r}; allowed: {', '.join(AUDIENCES)}")
        out.append(SendSpec(str(item["template"]), str(item["to"]), item.get("expects"), w))
    return tuple(out)


def _states_of(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        return tuple(str(s) for s in raw)
    return ()


def _read_file(path, data, loc, problems, states, replies, rules, timers, forms, starts, steps) -> None:
    allowed = {"workflow", "states", "start", "replies", "on", "timers", "forms"}
    for key in data:
        if key not in allowed:
            problems.add(loc.where(loc.header(key)), f"unknown table [{key}]; allowed: {', '.join(sorted(allowed))}")
    wf = data.get("workflow", {})
    if not isinstance(wf, dict) or not wf.get("name"):
        problems.add(loc.where(loc.header("workflow")), "needs a [workflow] table with a name")
    else:
        steps.append(str(wf["name"]))

    for name, body in (data.get("states") or {}).items():
        w = loc.where(loc.header(f"states.{name}"))
        if not _NAME.match(name):
            problems.add(w, f"state name {name!r} must be lower-case letters, digits, - or _")
        if name in states:
            problems.add(w, f"state {name!r} is already defined at {states[name].where}")
            continue
        body = body if isinstance(body, dict) else {}
        states[name] = StateSpec(name, str(body.get("description", "")), bool(body.get("final", False)), w)

    if "start" in data:
        body = data["start"]
        line = loc.header("start")
        starts.append(
            StartSpec(str(body.get("state", "")), _sends(body.get("send"), loc.where(line), loc, line, problems), loc.where(line))
        )

    for name, body in (data.get("replies") or {}).items():
        line = loc.header(f"replies.{name}")
        w = loc.where(line)
        if name in replies:
            problems.add(w, f"reply context {name!r} is already defined at {replies[name].where}")
            continue
        roles = tuple(body.get("from", ()))
        for role in roles:
            if role not in ROLES:
                problems.add(loc.where(loc.find(line, "from")), f"from: {role!r} is not a role; allowed: {', '.join(ROLES)}")
        commands: dict[str, tuple[str, ...]] = {}
        cmd_block = loc.header(f"replies.{name}.commands", default=line)
        cmd_lines: dict[str, int] = {}
        for cname, words in (body.get("commands") or {}).items():
            cmd_lines[cname] = loc.find(cmd_block, cname)
            if not isinstance(words, list) or not all(isinstance(x, str) and x.strip() for x in words) or not words:
                problems.add(loc.where(cmd_lines[cname]), f"commands.{cname} must be a non-empty list of words or phrases")
                continue
            commands[cname] = tuple(x.strip().lower() for x in words)
        seen: dict[str, str] = {}
        for cname, words in commands.items():
            for word in words:
                if word in seen and seen[word] != cname:
                    problems.add(
                        loc.where(loc.find(cmd_lines[cname], f'"{word}"')),
                        f"{word!r} means both {seen[word]!r} and {cname!r} in reply context {name!r}",
                    )
                seen[word] = cname
        replies[name] = ReplySpec(name, roles, commands, body.get("form"), w)

    for i, body in enumerate(data.get("on") or ()):
        line = loc.header("on", i)
        w = loc.where(line)
        unknown = set(body) - {"reply", "command", "form", "state", "goto", "send", "record"}
        if unknown:
            problems.add(w, f"unknown key(s) in [[on]]: {', '.join(sorted(unknown))}")
        form_complete = body.get("form") == "complete"
        if "form" in body and not form_complete:
            problems.add(loc.where(loc.find(line, "form")), 'form must be "complete" (the rule fires when the form is complete)')
        if not body.get("command") and not form_complete:
            problems.add(w, 'an [[on]] rule needs a command, or form = "complete"')
        rules.append(
            OnRule(
                reply=str(body.get("reply", "")),
                command=body.get("command"),
                form_complete=form_complete,
                states=_states_of(body.get("state")),
                goto=body.get("goto"),
                send=_sends(body.get("send"), w, loc, line, problems),
                record=str(body.get("record", "")),
                where=w,
                keys=_keys(loc, line, body),
            )
        )

    for i, body in enumerate(data.get("timers") or ()):
        line = loc.header("timers", i)
        w = loc.where(line)
        days = body.get("after_days")
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
            problems.add(loc.where(loc.find(line, "after_days")), "after_days must be a positive number of days")
            days = 1
        timers.append(
            TimerSpec(
                name=str(body.get("name", f"timer-{i + 1}")),
                state=str(body.get("state", "")),
                after=dt.timedelta(days=days),
                send=_sends(body.get("send"), w, loc, line, problems),
                goto=body.get("goto"),
                where=w,
                keys=_keys(loc, line, body),
            )
        )

    for fname, body in (data.get("forms") or {}).items():
        line = loc.header(f"forms.{fname}")
        specs = []
        for j, f in enumerate(body.get("fields") or ()):
            fl = loc.header(f"forms.{fname}.fields", j)
            fw = loc.where(fl)
            if not f.get("name") or not f.get("label"):
                problems.add(fw, "each form field needs a name and a label")
                continue
            kind = f.get("kind", "text")
            if kind not in FIELD_KINDS:
                problems.add(loc.where(loc.find(fl, "kind")), f"kind = {kind!r}; allowed: {', '.join(FIELD_KINDS)}")
                kind = "text"
            specs.append(
                FieldSpec(
                    name=str(f["name"]),
                    label=str(f["label"]),
                    kind=kind,
                    synonyms=tuple(f.get("synonyms", ())),
                    required=bool(f.get("required", True)),
                    choices=tuple(f.get("choices", ())),
                    help=str(f.get("help", "")),
                    future=bool(f.get("future", True)),
                )
            )
        if fname in forms:
            problems.add(loc.where(line), f"form {fname!r} is defined twice")
        forms[fname] = tuple(specs)


def _keys(loc: _Locator, line: int, body: dict) -> dict[str, Where]:
    """Where each key of a table is written, for pointing at the right line."""
    return {key: loc.where(loc.find(line, key)) for key in body}


def _cross_check(wf: Workflow, problems: _Problems) -> None:
    """References between the parts: states, contexts, commands, forms."""

    def state(name: str | None, where: Where, what: str) -> None:
        if name is not None and name not in wf.states:
            from difflib import get_close_matches

            close = get_close_matches(name, list(wf.states), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.add(where, f"{what} {name!r} is not a state defined in [states]{hint}")

    def sends(specs: tuple[SendSpec, ...]) -> None:
        for s in specs:
            if s.expects is not None and s.expects not in wf.replies:
                problems.add(s.where, f"expects = {s.expects!r} is not a reply context defined in [replies]")

    state(wf.start.state, wf.start.where, "start state")
    sends(wf.start.send)
    for r in wf.replies.values():
        if r.form is not None and r.form not in wf.forms:
            problems.add(r.where, f"form {r.form!r} is not defined in [forms]")
        if not r.commands and r.form is None:
            problems.add(r.where, f"reply context {r.name!r} has neither commands nor a form")
    for rule in wf.rules:
        if rule.reply not in wf.replies:
            problems.add(rule.at("reply"), f"reply = {rule.reply!r} is not a reply context defined in [replies]")
        elif rule.command and rule.command not in wf.replies[rule.reply].commands:
            problems.add(rule.at("command"), f"command {rule.command!r} is not a command of reply context "
                                             f"{rule.reply!r} (it has: {', '.join(wf.replies[rule.reply].commands)})")
        elif rule.form_complete and wf.replies[rule.reply].form is None:
            problems.add(rule.at("form"), f"reply context {rule.reply!r} has no form")
        if not rule.states:
            problems.add(rule.where, "an [[on]] rule needs state = the state(s) it applies in")
        for s in rule.states:
            state(s, rule.at("state"), "state")
        state(rule.goto, rule.at("goto"), "goto")
        sends(rule.send)
    for t in wf.timers:
        state(t.state, t.at("state"), "timer state")
        state(t.goto, t.at("goto"), "timer goto")
        sends(t.send)
