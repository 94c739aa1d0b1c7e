"""Load a scheme's workflow from its rule files (``rules/<scheme>/*.toml``).

A workflow is data. Each file describes one step of a mentoring relationship (the
introduction, getting to know each other, the agreement, meetings, the review,
ending) in the same format, and the files of a folder are merged into one
:class:`Workflow`. A scheme preset is only a folder of these files and templates.

Tables and keys
---------------

``[workflow]``
    ``name`` and ``description`` of the step. In one file of a folder,
    ``extends = "default"`` (a shipped scheme or a folder path) loads that folder
    first: this folder's files then add states, rules and timers, and may replace
    ``[settings]`` values, ``[groups]``, ``[enrol.ROLE]`` and whole ``[forms.NAME]``
    tables (a file of the same name replaces the base's file entirely). A folder's
    own ``[[on]]`` rules are tried before the base's, so one rule of its own (``END``
    with ``need = "confirm"``) overrides the base's rule for the same command and
    state. A ``[replies.CONTEXT]`` the base defines is extended: the folder's commands
    are added to it (a command of the same name gets the folder's words), and
    ``from``, ``form``, ``default`` and ``scope``, when given, replace the base's.
    A folder's ``templates/`` subfolder holds its own templates: they are found
    before those of the folder it extends and the shipped ones (and after the
    scheme's own ``[scheme] templates``).
``[settings]``
    The scheme's numbers and words: ``introduction_window_days = 14``,
    ``first_meeting_minutes = 30``. Templates see them as ``settings.NAME``; timer
    expressions may use a number setting as a number of days.
``[states.NAME]``
    A state a pair can be in: ``description``, and ``final = true`` when nothing
    follows. State names are unique across the folder. A participant's state with
    ``pairable = false`` keeps the person out of pairs and directories (waiting for
    consent, withdrawn): ``mailflow pair`` refuses them, saying why.
``[groups]``
    Named sets of states: ``live = ["active", "checkin-due"]``. Wherever a state is
    expected (``state`` of a rule or timer) a group name, a list, ``"*"`` (every
    state that is not final) or ``"any"`` (every state, and ``"unpaired"``: a new
    email from a participant, about no pair) may be given. A rule for ``"unpaired"``
    also applies to a person in one of their own (participant) states.
``[start]``
    What ``mailflow pair`` does: the first ``state`` and the emails to ``send``.
    Exactly one file of a folder has it.
``[enrol.mentee]``, ``[enrol.mentor]``
    What enrolling a participant does: the participant's first ``state``, the
    emails to ``send`` (``to = "sender"`` is the one enrolled) and actions to ``do``
    (``consent`` records consent). Optional. A sub-table ``[enrol.ROLE.implied]``
    (the same keys) is what enrolling does instead when the scheme has consent
    already (``[scheme] consent = "implied"``).

Scopes: a state is a pair's (the default) or, with ``scope = "participant"``, a
person's (a welcome waiting for consent, a mentee looking for a mentor). A reply
context with ``scope = "participant"`` is about the person, not a pair: its rules use
participant states. A timer in participant states belongs to the person (it counts
from when they entered the state). A pair rule moves its members' own states with the
action ``participant:mentee=STATE`` (or ``mentor``).
``[replies.CONTEXT]``
    A reply context: what a reply to one of our emails may say. ``from`` lists the
    roles that may answer; ``form`` names a form the reply may fill in;
    ``commands.NAME`` lists the words that mean that command *in this context*,
    either as a list of words or as a table ``{ words = [...], args = [...] }``.
    ``args`` are what the command carries after its word, in order: ``date`` (today
    or later), ``past-date`` (today or earlier), ``time``, ``minutes``, ``number``,
    ``text`` (the rest); a trailing ``?`` makes one optional (``args =
    ["past-date?", "minutes?"]`` for ``MET 3 March 45``; see :mod:`mailflow.parse.args`). ``default = "NAME"``
    reads a reply with no command word as that command when its first line holds
    that command's arguments (a bare date in reply to "which date?").

    The context named ``anytime`` is special: its commands (PAUSE, END, HELP, ...)
    may be used in reply to any email of the pair, and in a new email to the
    scheme's address. A context's own command of the same name replaces the
    ``anytime`` one there (``MOVE`` moves the review in reply to a review email, and
    the next meeting elsewhere).
``[[on]]``
    What a reply does: for ``reply`` (a context, or a list), ``command`` (or
    ``form = "complete"``), in ``state``, ``goto`` a state and ``send`` emails. The
    first matching rule wins. Optional keys:

    - ``from = ["mentor"]``: only these roles; anyone else gets a clear answer.
    - ``need = "both"``: the rule fires only when both have said it in this state
      (their answers are kept until the state changes; with a version, as for
      ``AGREE``, both must answer the same version). Until then the ``waiting``
      emails are sent instead. ``need = "confirm"``: the rule fires when the same
      person says it twice (``END``, then "have you told your partner? reply END
      again"); the first time, ``waiting`` is sent.
    - ``do``: named actions (:mod:`.actions`), e.g. ``"log-meeting"`` or
      ``"flag:concern"`` (an action with a parameter). An action may decide that
      the rule does not apply after all (a stale agreement version, an unreadable
      frequency); it then answers the sender itself, and ``goto``/``send`` are
      skipped.
    - ``start_timer``: timers (by name) to start now, for the person who wrote.
    - ``goto = "@resume"``: back to the state the pair was paused in.
    - ``record``: the event's name in the log.
``[[timers]]``
    Reminders and deadlines. ``state`` (a state, group, list or ``"*"``): the timer
    is set when the pair enters those states and cancelled when it leaves them.
    When it is due: ``after_days = 14`` or ``after = "14d"`` (also ``"2h"``,
    ``"30m"``, a number setting such as ``"decision_window_days"``, or the pair's
    agreed ``"interval"``) after entering; or ``at = "review_date - 14d"``, relative
    to a date the pair holds (``review_date``, ``next_meeting``, ``paused_until``),
    moved whenever that date changes. ``every = "interval"`` makes it recur. It
    ``send``\\s emails, and may ``goto`` a state and ``do`` actions. ``start =
    "manual"`` timers are only started by a rule's ``start_timer`` (for one person).
    Timers live in the database: each fires once, late after downtime, never twice.
    ``scope = "scheme"`` makes a timer the scheme's, not a pair's or a person's: it has
    no ``state``, is first due ``after`` the service first runs with it, recurs
    ``every`` so long, and sends only to ``coordinators`` (the registrations to
    re-check, say).
``[forms.NAME]``
    ``[[forms.NAME.fields]]`` with ``name``, ``label``, ``kind`` (``text``, ``date``,
    ``list``, ``number``, ``choice``, ``interval`` such as "monthly", ``duration``
    such as "24 hours"), ``synonyms``, ``required``, ``choices``, ``help``,
    ``min``/``max`` for numbers, ``future`` for dates.

A ``send`` entry is ``{ template = "dir/name", to = AUDIENCE, expects = "CONTEXT" }``
with ``to`` one of ``mentor``, ``mentee``, ``both``, ``coordinators``, ``sender``,
``partner`` and ``unvoted`` (those of the pair who have not yet answered a ``need``
rule), and optionally ``invite = "meeting"``, ``"meeting-cancel"`` or ``"review"``
(an iCalendar invite attached), and ``attach = "export"`` (to ``sender`` only: a zip
of everything the scheme holds about them).

Translations (``lang/<lang>.toml`` beside the rule files)
-------------------------------------------------------
The command words and form labels of one language, for participants whose language
it is (a BCP 47 tag: ``fr``, ``pt-BR``; a region's file adds to its language's)::

    [commands.introduction]              # a reply context
    accept = ["accepter", "j'accepte", "oui", "avec plaisir"]

    [forms.agreement.location]           # a form field
    label = "Lieu"
    synonyms = ["où", "endroit"]
    help = "où ou comment vous vous rencontrerez"

The English words keep working for everyone: a French speaker's reply is read
against both. The first word of a command is the one the emails show ("ACCEPTER").
A folder that ``extends`` another adds to (or, command by command, replaces) the
base folder's translations. ``mailflow check`` lists what each language is missing.

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

AUDIENCES = ("mentor", "mentee", "both", "coordinators", "sender", "partner", "unvoted")
ROLES = ("mentor", "mentee", "coordinator")
FIELD_KINDS = ("text", "date", "list", "number", "choice", "interval", "duration")
ARG_KINDS = ("date", "past-date", "time", "minutes", "number", "text")
INVITES = ("meeting", "meeting-cancel", "review")
# Files an email can carry (see mailflow/export.py): the sender's own data.
ATTACHMENTS = ("export",)
# The dates a pair holds that timers can be set relative to (see apply.py).
DATE_FACTS = ("review_date", "next_meeting", "paused_until", "trial_end")
# Durations a pair holds (days), usable in after/every.
DURATION_FACTS = ("interval",)
ANYTIME = "anytime"
NEEDS = ("both", "confirm")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*([dhm])$")


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
    invite: str | None = None
    attach: str | None = None


@dataclass(frozen=True)
class StateSpec:
    name: str
    description: str
    final: bool
    where: Where
    scope: str = "pair"  # pair | participant
    pairable: bool = True  # False: the person is kept out of pairs and directories


@dataclass(frozen=True)
class CommandSpec:
    name: str
    words: tuple[str, ...]
    args: tuple[str, ...] = ()  # "date", "minutes?", ...

    @property
    def required_args(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if not a.endswith("?"))


@dataclass(frozen=True)
class ReplySpec:
    name: str
    roles: tuple[str, ...]
    commands: dict[str, tuple[str, ...]]  # name -> words (this context's own)
    form: str | None
    where: Where
    args: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> arg kinds
    default: str | None = None
    scope: str = "pair"  # pair: about the pair the email was about; participant: about the person


@dataclass(frozen=True)
class Amount:
    """A length of time: a fixed one, a number setting (days) or a pair's duration fact."""

    sign: int
    delta: dt.timedelta | None = None
    setting: str | None = None
    fact: str | None = None


@dataclass(frozen=True)
class When:
    """When a timer is due: ``base`` ("entered" or a date fact) plus ``amounts``."""

    base: str
    amounts: tuple[Amount, ...] = ()

    @property
    def facts(self) -> tuple[str, ...]:
        return tuple(x for x in (self.base, *(a.fact for a in self.amounts)) if x and x != "entered")


@dataclass(frozen=True)
class OnRule:
    reply: tuple[str, ...]
    command: str | None  # None with form_complete
    form_complete: bool
    states: tuple[str, ...]
    goto: str | None
    send: tuple[SendSpec, ...]
    record: str
    where: Where
    keys: dict[str, Where] = field(default_factory=dict)  # where each key is written
    roles: tuple[str, ...] = ()  # empty: anyone the context allows
    need: str | None = None
    waiting: tuple[SendSpec, ...] = ()
    do: tuple[str, ...] = ()
    start_timers: tuple[str, ...] = ()

    def at(self, key: str) -> Where:
        return self.keys.get(key, self.where)

    @property
    def name(self) -> str:
        what = self.command or "form-complete"
        return f"{'|'.join(self.reply)}:{what}@{'|'.join(self.states) if len(self.states) < 4 else '...'}"

    @property
    def vote_key(self) -> str:
        return f"{self.reply[0]}:{self.command or 'form'}"


@dataclass(frozen=True)
class TimerSpec:
    name: str
    states: tuple[str, ...]
    when: When
    send: tuple[SendSpec, ...]
    goto: str | None
    where: Where
    keys: dict[str, Where] = field(default_factory=dict)
    every: Amount | None = None
    do: tuple[str, ...] = ()
    manual: bool = False
    scheme: bool = False  # scope = "scheme": the scheme's own timer (no pair, no person)

    def at(self, key: str) -> Where:
        return self.keys.get(key, self.where)

    @property
    def state(self) -> str:  # the first state, for messages
        return self.states[0] if self.states else ""

    @property
    def after(self) -> dt.timedelta:  # kept for callers of the old format
        a = self.when.amounts[0] if self.when.amounts else None
        return a.delta if a is not None and a.delta is not None else dt.timedelta(0)


@dataclass(frozen=True)
class StartSpec:
    state: str
    send: tuple[SendSpec, ...]
    where: Where
    do: tuple[str, ...] = ()


@dataclass(frozen=True)
class Translation:
    """One language's command words and form labels (``lang/<lang>.toml``)."""

    language: str
    commands: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # context -> command -> words
    fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # form -> field -> label/synonyms/help
    files: tuple[Path, ...] = ()


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
    settings: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    limits: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)  # (form, field) -> (min, max)
    enrol: dict[str, StartSpec] = field(default_factory=dict)  # role -> what enrolling does
    # The templates/ folders of this folder and the folders it extends, nearest first.
    template_folders: tuple[Path, ...] = ()
    enrol_implied: dict[str, StartSpec] = field(default_factory=dict)  # the same, when consent is implied
    translations: dict[str, Translation] = field(default_factory=dict)  # language -> its words and labels
    # Speed (issue 12): commands and form fields by (context or form, languages), worked
    # out once; every email's context and every reply asks for them. Not an init field,
    # so each replace() starts with an empty one.
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def pairable(self, state: str | None) -> bool:
        """Whether a person in their own ``state`` may be paired or listed (no state: yes)."""
        spec = self.states.get(state or "")
        return spec is None or spec.pairable

    def _translated(self, languages: tuple[str, ...] | str | None) -> list[Translation]:
        if isinstance(languages, str):
            languages = (languages,)
        return [self.translations[lang] for lang in (languages or ()) if lang in self.translations]

    def own_commands(self, context: str | None, languages: tuple[str, ...] | str | None = None
                     ) -> dict[str, tuple[str, ...]]:
        """A context's own commands: for each, the words of ``languages`` (most specific
        first), then the English ones."""
        spec = self.replies.get(context or "")
        if spec is None:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for name, words in spec.commands.items():
            extra: list[str] = []
            for t in self._translated(languages):
                extra += [w for w in t.commands.get(spec.name, {}).get(name, ()) if w not in extra]
            out[name] = tuple(dict.fromkeys((*extra, *words)))
        return out

    def form_fields(self, form: str | None, languages: tuple[str, ...] | str | None = None
                    ) -> tuple[FieldSpec, ...]:
        """A form's fields with the label and help of the first of ``languages`` that
        translates them; the English label and synonyms stay readable."""
        key = ("fields", form, tuple(languages) if isinstance(languages, list) else languages)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._form_fields(form, languages)
        return found

    def _form_fields(self, form: str | None, languages: tuple[str, ...] | str | None) -> tuple[FieldSpec, ...]:
        from dataclasses import replace as _replace

        fields = self.forms.get(form or "", ())
        done = self._translated(languages)
        if not done:
            return fields
        out = []
        for f in fields:
            t = next((t.fields[form][f.name] for t in done if f.name in t.fields.get(form or "", {})), None)
            if t is None:
                out.append(f)
                continue
            synonyms = [*t.get("synonyms", ()), f.label, *f.synonyms]
            out.append(_replace(f, label=t.get("label", f.label), help=t.get("help", f.help),
                                synonyms=tuple(dict.fromkeys(s for s in synonyms if s != t.get("label")))))
        return tuple(out)

    def scope_of(self, state: str | None) -> str:
        spec = self.states.get(state or "")
        return spec.scope if spec is not None else "pair"

    def templates(self) -> list[tuple[str, Where]]:
        """Every template the workflow can send, with where it is named."""
        out = [(s.template, s.where) for s in self.start.send]
        for e in (*self.enrol.values(), *self.enrol_implied.values()):
            out += [(s.template, s.where) for s in e.send]
        for r in self.rules:
            out += [(s.template, s.where) for s in (*r.send, *r.waiting)]
        for t in self.timers:
            out += [(s.template, s.where) for s in t.send]
        return out

    def commands(self, context: str | None, languages: tuple[str, ...] | str | None = None
                 ) -> dict[str, tuple[str, ...]]:
        """The words of every command a reply in ``context`` may carry: the context's
        own, then the ``anytime`` commands it does not replace; with ``languages``
        (a person's, most specific first), their words come before the English ones."""
        key = ("commands", context, tuple(languages) if isinstance(languages, list) else languages)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._commands(context, languages)
        return dict(found)  # the caller's own copy (the words are tuples)

    def _commands(self, context: str | None, languages: tuple[str, ...] | str | None
                  ) -> dict[str, tuple[str, ...]]:
        own = self.replies.get(context or "")
        anytime = self.replies.get(ANYTIME)
        out: dict[str, tuple[str, ...]] = self.own_commands(context, languages) if own else {}
        if anytime is not None and (own is None or own.name != ANYTIME):
            taken = {w for words in out.values() for w in words}
            for name, words in self.own_commands(ANYTIME, languages).items():
                if name not in out:
                    out[name] = tuple(w for w in words if w not in taken)
        return out

    def args(self, context: str | None) -> dict[str, tuple[str, ...]]:
        """The arguments of each command in ``context`` (own commands first)."""
        out: dict[str, tuple[str, ...]] = {}
        for spec in (self.replies.get(ANYTIME), self.replies.get(context or "")):
            if spec is not None:
                for name in spec.commands:
                    out[name] = spec.args.get(name, ())
        return out

    def is_own_command(self, context: str | None, command: str) -> bool:
        spec = self.replies.get(context or "")
        return spec is not None and command in spec.commands

    def live_states(self, scope: str | None = None) -> tuple[str, ...]:
        return tuple(s for s, spec in self.states.items() if not spec.final and (scope is None or spec.scope == scope))

    def timer(self, name: str) -> TimerSpec | None:
        for t in self.timers:
            if t.name == name:
                return t
        return None

    @property
    def scheme_timers(self) -> tuple[TimerSpec, ...]:
        return tuple(t for t in self.timers if t.scheme)


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

    def key(self, start: int, key: str) -> int:
        """The line at or after ``start`` (before the next header) that sets ``key =``."""
        pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(start, len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > start and re.match(r"^\s*\[", line):
                break
            if pat.match(line):
                return i
        return start

    def where(self, line: int) -> Where:
        return Where(self.path, line)


# --------------------------------------------------------------------------- loading


def _read_toml(path: Path, problems) -> tuple[dict, str, _Locator] | None:
    """A rule file's data, its text and locator; or None, with the problem reported
    at the line the TOML parser names."""
    text = path.read_text(encoding="utf-8")
    loc = _Locator(path, text)
    try:
        return tomllib.loads(text), text, loc
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        problems.add(loc.where(int(m.group(1)) if m else 1), f"not valid TOML: {exc}")
        return None


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


class _Acc:
    """What the files of a folder (and the folder it extends) add up to."""

    def __init__(self) -> None:
        self.states: dict[str, StateSpec] = {}
        self.replies: dict[str, ReplySpec] = {}
        self.rules: list[OnRule] = []
        self.timers: list[TimerSpec] = []
        self.forms: dict[str, tuple[FieldSpec, ...]] = {}
        self.starts: list[StartSpec] = []
        self.steps: list[str] = []
        self.settings: dict[str, Any] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.group_where: dict[str, Where] = {}
        self.limits: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.pending_times: list[tuple[int, dict, dict[str, Where], str | None]] = []
        self.enrol: dict[str, StartSpec] = {}
        self.enrol_implied: dict[str, StartSpec] = {}
        self.files: list[Path] = []
        self.extended: dict[tuple[str, str], Where] = {}  # (context, command) a folder adds to a base's


def _files(folder: Path, problems: _Problems, seen: tuple[Path, ...] = (),
           chain: list[Path] | None = None) -> list[tuple[Path, str, dict, _Locator]]:
    """The parsed files of ``folder``, after those of the folder it extends. ``chain``
    collects the folders, nearest first."""
    if chain is not None:
        chain.append(folder)
    out: list[tuple[Path, str, dict, _Locator]] = []
    base_files: list[tuple[Path, str, dict, _Locator]] = []
    for path in sorted(folder.glob("*.toml")):
        read = _read_toml(path, problems)
        if read is None:
            continue
        data, text, loc = read
        extends = (data.get("workflow") or {}).get("extends") if isinstance(data.get("workflow"), dict) else None
        if extends:
            w = loc.where(loc.find(loc.header("workflow"), "extends"))
            try:
                base = rules_folder(str(extends), folder)
            except RuleError as exc:
                problems.add(w, str(exc))
            else:
                if base.resolve() in seen or base.resolve() == folder.resolve():
                    problems.add(w, f"extends = {extends!r} makes a loop")
                else:
                    base_files = _files(base, problems, (*seen, folder.resolve()), chain)
        out.append((path, text, data, loc))
    own_names = {p.name for p, *_ in out}
    return [f for f in base_files if f[0].name not in own_names] + out


def _load(folder: Path) -> tuple[Workflow | None, list[str]]:
    problems = _Problems()
    if not any(folder.glob("*.toml")):
        return None, [f"{folder}: no rule files (*.toml) in this folder"]
    acc = _Acc()
    chain: list[Path] = []
    parsed = _files(folder, problems, chain=chain)
    base_names = set()
    for path, _text, data, loc in parsed:
        override = path.parent.resolve() == folder.resolve()
        _read_file(path, data, loc, problems, acc, may_override=override and bool(base_names))
        acc.files.append(path)
        if not override:
            base_names.add(path.name)

    if not acc.starts:
        problems.append(f"{folder}: no file has a [start] table (what `mailflow pair` does)")
    elif len(acc.starts) > 1:
        problems.add(acc.starts[1].where, f"a second [start] table; the first is at {acc.starts[0].where}")
    if problems and not acc.starts:
        return None, list(problems)
    _resolve_times(acc, problems)
    # The folder's own rules are tried first: a rule of its own overrides the base's.
    own = [r for r in acc.rules if r.where.file.parent.resolve() == folder.resolve()]
    rules = own + [r for r in acc.rules if r not in own]
    wf = Workflow(
        folder=folder,
        files=tuple(acc.files),
        states=acc.states,
        start=acc.starts[0],
        replies=acc.replies,
        rules=tuple(rules),
        timers=tuple(acc.timers),
        forms=acc.forms,
        steps=tuple(acc.steps),
        settings=acc.settings,
        groups=acc.groups,
        limits=acc.limits,
        enrol=acc.enrol,
        template_folders=tuple(f / "templates" for f in chain if (f / "templates").is_dir()),
        enrol_implied=acc.enrol_implied,
    )
    wf = _expand_states(wf, acc, problems)
    _cross_check(wf, problems)
    from dataclasses import replace as _replace

    wf = _replace(wf, translations=_read_translations(folder, wf, problems))
    _check_translated_words(wf, problems)
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
        unknown = set(item) - {"template", "to", "expects", "invite", "attach"}
        if unknown:
            problems.add(w, f"unknown key(s) in send entry: {', '.join(sorted(unknown))} "
                            "(allowed: template, to, expects, invite, attach)")
        if item["to"] not in AUDIENCES:
            problems.add(w, f"to = {item['to']!r}; allowed: {', '.join(AUDIENCES)}")
        if item.get("invite") is not None and item["invite"] not in INVITES:
            problems.add(w, f"invite = {item['invite']!r}; allowed: {', '.join(INVITES)}")
        if item.get("attach") is not None:
            if item["attach"] not in ATTACHMENTS:
                problems.add(w, f"attach = {item['attach']!r}; allowed: {', '.join(ATTACHMENTS)}")
            elif item["to"] != "sender":
                problems.add(w, f"attach = {item['attach']!r} sends someone their own data: only to = \"sender\"")
        out.append(SendSpec(str(item["template"]), str(item["to"]), item.get("expects"), w, item.get("invite"),
                            item.get("attach")))
    return tuple(out)


def _names(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        return tuple(str(s) for s in raw)
    return ()


def _amount(text: str, sign: int, settings: dict[str, Any]) -> Amount | str:
    """One term of a timer expression, or a message saying what is wrong."""
    text = text.strip()
    m = _AMOUNT.match(text)
    if m:
        n, unit = float(m.group(1)), m.group(2)
        return Amount(sign, dt.timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: n}))
    if text in DURATION_FACTS:
        return Amount(sign, fact=text)
    if text in settings:
        if not isinstance(settings[text], (int, float)) or isinstance(settings[text], bool):
            return f"setting {text!r} is not a number of days"
        return Amount(sign, setting=text)
    return (f"{text!r} is not a time: write 14d, 2h or 30m, a number setting of [settings], "
            f"or one of {', '.join(DURATION_FACTS)}")


def parse_when(text: str, settings: dict[str, Any], *, relative: bool) -> When | str:
    """``"review_date - 14d"`` (relative=False) or ``"14d"`` / ``"interval"`` (relative=True)."""
    parts = re.split(r"\s*([+-])\s*", text.strip())
    if relative:
        parts = ["entered", "+", *parts] if parts and parts[0] else ["entered", *parts[1:]]
    base = parts[0]
    if not relative and base not in DATE_FACTS:
        return f"at = {text!r}: it must start with a date the pair holds ({', '.join(DATE_FACTS)})"
    amounts = []
    for i in range(1, len(parts) - 1, 2):
        a = _amount(parts[i + 1], -1 if parts[i] == "-" else 1, settings)
        if isinstance(a, str):
            return a
        amounts.append(a)
    return When(base, tuple(amounts))


def _read_file(path, data, loc: _Locator, problems: _Problems, acc: _Acc, *, may_override: bool) -> None:
    allowed = {"workflow", "settings", "states", "groups", "start", "enrol", "replies", "on", "timers", "forms"}
    for key in data:
        if key not in allowed:
            problems.add(loc.where(loc.header(key)), f"unknown table [{key}]; allowed: {', '.join(sorted(allowed))}")
    wf = data.get("workflow", {})
    if not isinstance(wf, dict) or not wf.get("name"):
        problems.add(loc.where(loc.header("workflow")), "needs a [workflow] table with a name")
    else:
        acc.steps.append(str(wf["name"]))
        unknown = set(wf) - {"name", "description", "extends"}
        if unknown:
            problems.add(loc.where(loc.header("workflow")), f"unknown key(s) in [workflow]: {', '.join(sorted(unknown))}")

    settings_line = loc.header("settings")
    for name, value in (data.get("settings") or {}).items():
        w = loc.where(loc.find(settings_line, name))
        if not isinstance(value, (int, float, str, bool, list)) or isinstance(value, list) and not all(
                isinstance(v, str) for v in value):
            problems.add(w, f"setting {name!r} must be a number, a string, true/false or a list of strings")
            continue
        if name in acc.settings and not may_override:
            problems.add(w, f"setting {name!r} is set twice")
        acc.settings[name] = value

    for name, body in (data.get("states") or {}).items():
        w = loc.where(loc.header(f"states.{name}"))
        if not _NAME.match(name):
            problems.add(w, f"state name {name!r} must be lower-case letters, digits, - or _")
        if name in acc.states:
            problems.add(w, f"state {name!r} is already defined at {acc.states[name].where}")
            continue
        body = body if isinstance(body, dict) else {}
        scope = str(body.get("scope", "pair"))
        if scope not in ("pair", "participant"):
            problems.add(w, f"scope = {scope!r}; allowed: pair (the default), participant")
        unknown = set(body) - {"description", "final", "scope", "pairable"}
        if unknown:
            problems.add(w, f"unknown key(s) in [states.{name}]: {', '.join(sorted(unknown))} "
                            "(allowed: description, final, scope, pairable)")
        pairable = body.get("pairable", True)
        if not isinstance(pairable, bool) or not pairable and scope != "participant":
            problems.add(w, "pairable = false is for a participant's state (scope = \"participant\")")
            pairable = True
        acc.states[name] = StateSpec(name, str(body.get("description", "")), bool(body.get("final", False)), w,
                                     scope, bool(pairable))

    groups_line = loc.header("groups")
    for name, members in (data.get("groups") or {}).items():
        w = loc.where(loc.find(groups_line, name))
        if not isinstance(members, list) or not members:
            problems.add(w, f"group {name!r} must be a non-empty list of states")
            continue
        if name in acc.groups and not may_override:
            problems.add(w, f"group {name!r} is defined twice")
        acc.groups[name] = tuple(str(m) for m in members)
        acc.group_where[name] = w

    for role, body in (data.get("enrol") or {}).items():
        line = loc.header(f"enrol.{role}")
        if role not in ("mentor", "mentee") or not isinstance(body, dict):
            problems.add(loc.where(line), f"[enrol.{role}]: enrol tables are [enrol.mentor] and [enrol.mentee]")
            continue
        if role in acc.enrol and not may_override:
            problems.add(loc.where(line), f"[enrol.{role}] is defined twice")
        unknown = set(body) - {"state", "send", "do", "implied"}
        if unknown:
            problems.add(loc.where(line), f"unknown key(s) in [enrol.{role}]: {', '.join(sorted(unknown))} "
                                          "(allowed: state, send, do, implied)")
        if set(body) - {"implied"}:  # [enrol.ROLE] itself (a preset may give only its .implied variant)
            acc.enrol[role] = StartSpec(str(body.get("state", "")),
                                        _sends(body.get("send"), loc.where(line), loc, line, problems),
                                        loc.where(line), _names(body.get("do")))
            acc.enrol_implied.pop(role, None)
        implied = body.get("implied")
        if isinstance(implied, dict):
            iline = loc.header(f"enrol.{role}.implied", default=line)
            unknown = set(implied) - {"state", "send", "do"}
            if unknown:
                problems.add(loc.where(iline), f"unknown key(s) in [enrol.{role}.implied]: "
                                               f"{', '.join(sorted(unknown))} (allowed: state, send, do)")
            acc.enrol_implied[role] = StartSpec(str(implied.get("state", "")),
                                                _sends(implied.get("send"), loc.where(iline), loc, iline, problems),
                                                loc.where(iline), _names(implied.get("do")))

    if "start" in data:
        body = data["start"]
        line = loc.header("start")
        acc.starts.append(
            StartSpec(str(body.get("state", "")), _sends(body.get("send"), loc.where(line), loc, line, problems), loc.where(line))
        )

    for name, body in (data.get("replies") or {}).items():
        _read_reply(name, body, loc, problems, acc, may_extend=may_override)

    for i, body in enumerate(data.get("on") or ()):
        _read_on(i, body, loc, problems, acc)

    for i, body in enumerate(data.get("timers") or ()):
        _read_timer(i, body, loc, problems, acc)

    for fname, body in (data.get("forms") or {}).items():
        line = loc.header(f"forms.{fname}")
        specs = []
        for j, f in enumerate(body.get("fields") or ()):
            fl = loc.header(f"forms.{fname}.fields", j)
            fw = loc.where(fl)
            if not f.get("name") or not f.get("label"):
                problems.add(fw, "each form field needs a name and a label")
                continue
            unknown = set(f) - {"name", "label", "kind", "synonyms", "required", "choices", "help", "future",
                                "min", "max"}
            if unknown:
                problems.add(fw, f"unknown key(s) in a form field: {', '.join(sorted(unknown))}")
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
            if "min" in f or "max" in f:
                if kind not in ("number", "list"):
                    problems.add(fw, "min and max apply to number fields (the value) and list fields "
                                     "(how many items) only")
                acc.limits[(fname, str(f["name"]))] = (f.get("min"), f.get("max"))
        if fname in acc.forms and not may_override:
            problems.add(loc.where(line), f"form {fname!r} is defined twice")
        acc.forms[fname] = tuple(specs)


def _read_reply(name: str, body: dict, loc: _Locator, problems: _Problems, acc: _Acc,
                may_extend: bool = False) -> None:
    line = loc.header(f"replies.{name}")
    w = loc.where(line)
    base = acc.replies.get(name)
    if base is not None and not (may_extend and base.where.file.parent.resolve() != loc.path.parent.resolve()):
        problems.add(w, f"reply context {name!r} is already defined at {base.where}")
        return
    unknown = set(body) - {"from", "form", "commands", "default", "scope"}
    if unknown:
        problems.add(w, f"unknown key(s) in [replies.{name}]: {', '.join(sorted(unknown))}")
    roles = tuple(body.get("from", base.roles if base else ROLES if name == ANYTIME else ()))
    for role in roles:
        if role not in ROLES:
            problems.add(loc.where(loc.find(line, "from")), f"from: {role!r} is not a role; allowed: {', '.join(ROLES)}")
    # Extending a base's context: its commands first; a command of the same name is replaced.
    commands: dict[str, tuple[str, ...]] = dict(base.commands) if base else {}
    args: dict[str, tuple[str, ...]] = dict(base.args) if base else {}
    cmd_block = loc.header(f"replies.{name}.commands", default=line)
    cmd_lines: dict[str, int] = {}
    for cname, value in (body.get("commands") or {}).items():
        header = loc.header(f"replies.{name}.commands.{cname}", default=0)
        cmd_lines[cname] = header or loc.find(cmd_block, cname)
        cw = loc.where(cmd_lines[cname])
        if isinstance(value, dict):
            extra = set(value) - {"words", "args"}
            if extra:
                problems.add(cw, f"commands.{cname}: unknown key(s) {', '.join(sorted(extra))} (allowed: words, args)")
            words, kinds = value.get("words"), value.get("args", [])
        else:
            words, kinds = value, []
        if not isinstance(words, list) or not words or not all(isinstance(x, str) and x.strip() for x in words):
            problems.add(cw, f"commands.{cname} must be a non-empty list of words or phrases")
            continue
        if not isinstance(kinds, list) or any(str(k).rstrip("?") not in ARG_KINDS for k in kinds):
            problems.add(cw, f"commands.{cname}: args must be a list of {', '.join(ARG_KINDS)} "
                             "(a trailing ? makes one optional)")
            kinds = []
        if kinds and "text" in [str(k).rstrip("?") for k in kinds[:-1]]:
            problems.add(cw, f"commands.{cname}: a text argument takes the rest of the line, so it must come last")
        if base is not None:  # extending a base's context: each command added by one file of the folder
            if (name, cname) in acc.extended:
                problems.add(cw, f"command {cname!r} is already added to reply context {name!r} at "
                                 f"{acc.extended[(name, cname)]}")
            acc.extended[(name, cname)] = cw
        commands[cname] = tuple(x.strip().lower() for x in words)
        args[cname] = tuple(str(k) for k in kinds)
    seen: dict[str, str] = {}
    for cname, words in commands.items():
        for word in words:
            if word in seen and seen[word] != cname:
                at = cmd_lines.get(cname) or cmd_lines.get(seen[word]) or line
                problems.add(
                    loc.where(loc.find(at, f'"{word}"')),
                    f"{word!r} means both {seen[word]!r} and {cname!r} in reply context {name!r}",
                )
            seen[word] = cname
    default = body.get("default", base.default if base else None)
    if default is not None and default not in commands:
        problems.add(loc.where(loc.find(line, "default")), f"default = {default!r} is not a command of this context")
    scope = str(body.get("scope", base.scope if base else "pair"))
    if scope not in ("pair", "participant"):
        problems.add(w, f"scope = {scope!r}; allowed: pair (the default), participant")
    form = body.get("form", base.form if base else None)
    acc.replies[name] = ReplySpec(name, roles, commands, form, base.where if base else w, args, default, scope)


def _read_on(i: int, body: dict, loc: _Locator, problems: _Problems, acc: _Acc) -> None:
    line = loc.header("on", i)
    w = loc.where(line)
    unknown = set(body) - {"reply", "command", "form", "state", "goto", "send", "record", "from", "need",
                           "waiting", "do", "start_timer"}
    if unknown:
        problems.add(w, f"unknown key(s) in [[on]]: {', '.join(sorted(unknown))}")
    form_complete = body.get("form") == "complete"
    if "form" in body and not form_complete:
        problems.add(loc.where(loc.find(line, "form")), 'form must be "complete" (the rule fires when the form is complete)')
    if not body.get("command") and not form_complete:
        problems.add(w, 'an [[on]] rule needs a command, or form = "complete"')
    keys = _keys(loc, line, body)
    roles = _names(body.get("from"))
    for role in roles:
        if role not in ROLES:
            problems.add(keys.get("from", w), f"from: {role!r} is not a role; allowed: {', '.join(ROLES)}")
    need = body.get("need")
    if need is not None and need not in NEEDS:
        problems.add(keys.get("need", w), f"need = {need!r}; allowed: {', '.join(NEEDS)}")
    acc.rules.append(
        OnRule(
            reply=_names(body.get("reply")),
            command=body.get("command"),
            form_complete=form_complete,
            states=_names(body.get("state")),
            goto=body.get("goto"),
            send=_sends(body.get("send"), w, loc, line, problems),
            record=str(body.get("record", "")),
            where=w,
            keys=keys,
            roles=roles,
            need=need,
            waiting=_sends(body.get("waiting"), w, loc, loc.find(line, "waiting"), problems),
            do=_names(body.get("do")),
            start_timers=_names(body.get("start_timer")),
        )
    )


def _read_timer(i: int, body: dict, loc: _Locator, problems: _Problems, acc: _Acc) -> None:
    line = loc.header("timers", i)
    w = loc.where(line)
    keys = _keys(loc, line, body)
    unknown = set(body) - {"name", "state", "after_days", "after", "at", "every", "send", "goto", "do", "start",
                           "scope"}
    if unknown:
        problems.add(w, f"unknown key(s) in [[timers]]: {', '.join(sorted(unknown))}")
    given = [k for k in ("after_days", "after", "at") if k in body]
    if len(given) != 1:
        problems.add(w, "a timer needs exactly one of after_days, after or at")
    scope = body.get("scope")
    if scope not in (None, "scheme"):
        problems.add(keys.get("scope", w), 'scope must be "scheme" (or left out: the timer of a pair or a person)')
    if scope == "scheme":
        extra = [k for k in ("state", "at", "goto", "do", "start") if k in body]
        if extra:
            problems.add(keys.get(extra[0], w), f"a scheme's timer has no {', '.join(extra)}: it belongs to no pair "
                                                "or person; give after (and every) and what to send")
    # after/at/every may name settings of any file of the folder: read once all are loaded.
    acc.pending_times.append((len(acc.timers), body, keys, given[0] if len(given) == 1 else None))
    start = body.get("start")
    if start not in (None, "manual"):
        problems.add(keys.get("start", w), 'start must be "manual" (or left out: set on entering the state)')
    name = str(body.get("name", f"timer-{len(acc.timers) + 1}"))
    if any(t.name == name for t in acc.timers):
        problems.add(w, f"timer name {name!r} is used twice")
    acc.timers.append(
        TimerSpec(
            name=name,
            states=_names(body.get("state")),
            when=When("entered"),
            send=_sends(body.get("send"), w, loc, line, problems),
            goto=body.get("goto"),
            where=w,
            keys=keys,
            every=None,
            do=_names(body.get("do")),
            manual=start == "manual",
            scheme=scope == "scheme",
        )
    )


def _resolve_times(acc: _Acc, problems: _Problems) -> None:
    """Read each timer's after/at/every, now that every [settings] table is known."""
    from dataclasses import replace

    for index, body, keys, given in acc.pending_times:
        timer = acc.timers[index]
        when: When | str = When("entered", (Amount(1, dt.timedelta(days=1)),))
        if given == "after_days":
            days = body["after_days"]
            if isinstance(days, (int, float)) and not isinstance(days, bool) and days > 0:
                when = When("entered", (Amount(1, dt.timedelta(days=days)),))
            else:
                problems.add(keys["after_days"], "after_days must be a positive number of days")
        elif given is not None:
            parsed = parse_when(str(body[given]), acc.settings, relative=given == "after")
            if isinstance(parsed, str):
                problems.add(keys[given], parsed)
            else:
                when = parsed
        every = None
        if "every" in body:
            e = _amount(str(body["every"]), 1, acc.settings)
            if isinstance(e, str):
                problems.add(keys["every"], e)
            else:
                every = e
        acc.timers[index] = replace(timer, when=when if isinstance(when, When) else When("entered"), every=every)


def _keys(loc: _Locator, line: int, body: dict) -> dict[str, Where]:
    """Where each key of a table is written, for pointing at the right line."""
    return {key: loc.where(loc.key(line, key)) for key in body}


def _expand_states(wf: Workflow, acc: _Acc, problems: _Problems) -> Workflow:
    """Replace group names, "*" (every state that is not final) and "any" (every state,
    and a reply about no pair: ``unpaired``) by the states they stand for."""
    from dataclasses import replace

    groups = dict(wf.groups)
    for name, members in groups.items():
        if name in wf.states:
            problems.add(acc.group_where[name], f"group {name!r} has the name of a state")
        for m in members:
            if m not in wf.states:
                problems.add(acc.group_where[name], f"group {name!r}: {m!r} is not a state defined in [states]")

    def expand(names: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for n in names:
            if n == "any":
                items = (*wf.states, "unpaired")
            else:
                items = wf.live_states("pair") if n == "*" else groups.get(n, (n,))
            out += [s for s in items if s not in out]
        return tuple(out)

    rules = tuple(replace(r, states=expand(r.states)) for r in wf.rules)
    timers = tuple(replace(t, states=expand(t.states)) for t in wf.timers)
    return replace(wf, rules=rules, timers=timers)


def _read_translations(folder: Path, wf: Workflow, problems: _Problems) -> dict[str, Translation]:
    """The ``lang/*.toml`` files of the folder and of the folders it extends (theirs
    first): each language's command words and form labels, checked against the rules."""
    from difflib import get_close_matches

    from ..i18n import normalise

    out: dict[str, Translation] = {}
    folders = list(dict.fromkeys(p.parent for p in wf.files))
    if folder not in folders:
        folders.append(folder)
    for base in folders:
        # A base folder's words for contexts, commands or forms that this folder replaced
        # are left out quietly; the folder's own files must fit its rules exactly.
        own = base.resolve() == folder.resolve()
        report = problems if own else _Problems()
        for path in sorted((base / "lang").glob("*.toml")):
            read = _read_toml(path, report)
            if read is None:
                continue
            data, text, loc = read
            try:
                tag = normalise(path.stem)
            except ValueError:
                report.add(loc.where(1), f"{path.name}: the file's name must be a language tag such as fr.toml, "
                                           "es.toml or pt-BR.toml")
                continue
            for key in data:
                if key not in ("commands", "forms", "language"):
                    report.add(loc.where(loc.header(key)), f"unknown table [{key}]; allowed: commands, forms")
            t = out.setdefault(tag, Translation(tag))
            object.__setattr__(t, "files", (*t.files, path))
            for ctx, cmds in (data.get("commands") or {}).items():
                line = loc.header(f"commands.{ctx}")
                spec = wf.replies.get(ctx)
                if spec is None:
                    close = get_close_matches(ctx, list(wf.replies), n=1)
                    report.add(loc.where(line), f"[commands.{ctx}]: {ctx!r} is not a reply context of the rules"
                                                  + (f"; did you mean {close[0]!r}?" if close else ""))
                    continue
                for cname, words in (cmds or {}).items():
                    w = loc.where(loc.key(line, cname) if loc.key(line, cname) != line else loc.find(line, cname))
                    if cname not in spec.commands:
                        report.add(w, f"{cname!r} is not a command of reply context {ctx!r} (it has: "
                                        f"{', '.join(spec.commands)})")
                        continue
                    if not isinstance(words, list) or not words or not all(isinstance(x, str) and x.strip()
                                                                           for x in words):
                        report.add(w, f"commands.{ctx}.{cname} must be a non-empty list of words or phrases")
                        continue
                    t.commands.setdefault(ctx, {})[cname] = _with_plain(x.strip().lower() for x in words)
            for form, flds in (data.get("forms") or {}).items():
                if form not in wf.forms:
                    report.add(loc.where(loc.header(f"forms.{form}", default=1)),
                                 f"[forms.{form}]: there is no form {form!r} in the rules")
                    continue
                names = {f.name for f in wf.forms[form]}
                for fname, body in (flds or {}).items():
                    w = loc.where(loc.header(f"forms.{form}.{fname}", default=1))
                    if fname not in names:
                        report.add(w, f"[forms.{form}.{fname}]: form {form!r} has no field {fname!r} "
                                        f"(it has: {', '.join(sorted(names))})")
                        continue
                    if not isinstance(body, dict) or set(body) - {"label", "synonyms", "help"} or \
                            not isinstance(body.get("label", ""), str) or \
                            not all(isinstance(x, str) for x in body.get("synonyms", [])):
                        report.add(w, f"[forms.{form}.{fname}] takes label (text), synonyms (a list) and help "
                                        "(text)")
                        continue
                    body = dict(body)
                    body["synonyms"] = list(_with_plain([*body.get("synonyms", ()), body.get("label", "")]))
                    t.fields.setdefault(form, {})[fname] = body
    return out


def _with_plain(words) -> tuple[str, ...]:
    """Words, each followed by its spelling without accents when that differs and the
    word is long enough not to become another word ("déplacer" and "deplacer"; but
    Spanish "sí" does not become "si", which means "if")."""
    import unicodedata

    out: list[str] = []
    for w in words:
        if not w:
            continue
        out.append(w)
        plain = "".join(c for c in unicodedata.normalize("NFD", w) if not unicodedata.combining(c))
        if plain != w and len(plain.replace(" ", "")) >= 4:
            out.append(plain)
    return tuple(dict.fromkeys(out))


def _check_translated_words(wf: Workflow, problems: _Problems) -> None:
    """A word may mean one command only, in English and in a language together."""
    for tag, t in wf.translations.items():
        chain = tuple(x for x in wf.translations if tag == x or tag.startswith(x + "-"))
        for ctx in t.commands:
            seen: dict[str, str] = {}
            for cname, words in wf.own_commands(ctx, tuple(sorted(chain, key=len, reverse=True))).items():
                for word in words:
                    if word in seen and seen[word] != cname:
                        where = next((str(f) for f in t.files), tag)
                        problems.append(f"{where}: {word!r} means both {seen[word]!r} and {cname!r} in reply "
                                        f"context {ctx!r} for language {tag}")
                    seen[word] = cname


def _cross_check(wf: Workflow, problems: _Problems) -> None:
    """References between the parts: states, contexts, commands, forms, actions."""
    from .actions import ACTIONS

    def state(name: str | None, where: Where, what: str) -> None:
        if name is not None and name not in wf.states and name not in ("@resume", "unpaired"):
            from difflib import get_close_matches

            close = get_close_matches(name, list(wf.states), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.add(where, f"{what} {name!r} is not a state defined in [states]{hint}")

    def sends(specs: tuple[SendSpec, ...]) -> None:
        for s in specs:
            if s.expects is not None and s.expects not in wf.replies:
                problems.add(s.where, f"expects = {s.expects!r} is not a reply context defined in [replies]")

    def actions(names: tuple[str, ...], where: Where) -> None:
        for a in names:
            if a.split(":", 1)[0] not in ACTIONS:
                problems.add(where, f"do = {a!r} is not a known action; known: {', '.join(sorted(ACTIONS))}")
            elif a.startswith("participant:"):
                role, _, target = a.split(":", 1)[1].partition("=")
                if role not in ("mentor", "mentee") or wf.scope_of(target) != "participant" or target not in wf.states:
                    problems.add(where, f"do = {a!r}: write participant:mentee=STATE or participant:mentor=STATE, "
                                        "with a state that has scope = \"participant\"")

    state(wf.start.state, wf.start.where, "start state")
    sends(wf.start.send)
    if wf.scope_of(wf.start.state) != "pair":
        problems.add(wf.start.where, f"start state {wf.start.state!r} is a participant's state, not a pair's")
    for role, e in [*wf.enrol.items(), *((f"{r}.implied", e) for r, e in wf.enrol_implied.items())]:
        state(e.state, e.where, f"[enrol.{role}] state")
        sends(e.send)
        actions(e.do, e.where)
        if e.state in wf.states and wf.scope_of(e.state) != "participant":
            problems.add(e.where, f"[enrol.{role}] state {e.state!r} must have scope = \"participant\"")
        for s in e.send:
            if s.to not in ("sender", "coordinators"):
                problems.add(s.where, f"to = {s.to!r} on enrolment: the one enrolled is the sender (or coordinators)")
    for r in wf.replies.values():
        if r.form is not None and r.form not in wf.forms:
            problems.add(r.where, f"form {r.form!r} is not defined in [forms]")
        if not r.commands and r.form is None:
            problems.add(r.where, f"reply context {r.name!r} has neither commands nor a form")
    for rule in wf.rules:
        if not rule.reply:
            problems.add(rule.where, "an [[on]] rule needs reply = the reply context(s) it answers")
        for ctx in rule.reply:
            if ctx not in wf.replies:
                problems.add(rule.at("reply"), f"reply = {ctx!r} is not a reply context defined in [replies]")
            elif rule.command and rule.command not in wf.commands(ctx):
                problems.add(rule.at("command"), f"command {rule.command!r} is not a command of reply context "
                                                 f"{ctx!r} (it has: {', '.join(wf.commands(ctx))})")
            elif rule.form_complete and wf.replies[ctx].form is None:
                problems.add(rule.at("form"), f"reply context {ctx!r} has no form")
        if not rule.states:
            problems.add(rule.where, "an [[on]] rule needs state = the state(s) it applies in")
        for s in rule.states:
            state(s, rule.at("state"), "state")
        state(rule.goto, rule.at("goto"), "goto")
        sends(rule.send)
        sends(rule.waiting)
        if rule.need and not rule.waiting:
            problems.add(rule.at("need"), f"need = {rule.need!r} needs waiting = [...]: what to send until then")
        actions(rule.do, rule.at("do"))
        for t in rule.start_timers:
            if wf.timer(t) is None:
                problems.add(rule.at("start_timer"), f"start_timer = {t!r} is not a timer defined in [[timers]]")
    for t in wf.timers:
        if t.scheme:
            sends(t.send)
            for s in t.send:
                if s.to != "coordinators":
                    problems.add(s.where, f"to = {s.to!r} in a scheme's timer: it can only write to coordinators")
            continue
        if not t.states:
            problems.add(t.where, "a timer needs state = the state(s) it belongs to")
        scopes = {wf.scope_of(s) for s in t.states if s in wf.states}
        if len(scopes) > 1:
            problems.add(t.at("state"), "a timer's states must all be a pair's or all a participant's")
        if scopes == {"participant"}:
            for s in t.send:
                if s.to not in ("sender", "coordinators"):
                    problems.add(s.where, f"to = {s.to!r} in a participant's timer: use sender (the participant) "
                                          "or coordinators")
        for s in t.states:
            state(s, t.at("state"), "timer state")
        state(t.goto, t.at("goto"), "timer goto")
        sends(t.send)
        actions(t.do, t.at("do"))
        for s in t.send:
            if s.to in ("sender", "partner") and not t.manual and scopes != {"participant"}:
                problems.add(s.where, f"to = {s.to!r} in a timer: a timer has no sender; "
                                      "use mentor, mentee, both, unvoted or coordinators")
