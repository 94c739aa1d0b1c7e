"""The workflow engine: pure functions from (reply or timer, pair state, now) to decisions.

Nothing here reads the database, the clock or the network. What the engine knows
about the pair (its state, the facts it holds, its agreement) comes in a
:class:`ReplyContext`; :mod:`.apply` carries out what these functions decide, inside
one transaction.

How a reply is decided (:func:`on_reply`):

1. The reply context comes from the token of the email being answered; a new email
   from a participant is read in the ``anytime`` context. The commands a reply may
   carry are the context's own and the ``anytime`` ones (PAUSE, END, HELP, ...).
2. A clear command is looked up in the ``[[on]]`` rules for that context and the
   pair's state; the first match wins. Only the roles the context (or the rule)
   allows may use it: anyone else gets a clear answer and nothing changes. A command
   that fits the context but not the state ("ACCEPT" after a decline) changes
   nothing and gets an "already" note. A command whose arguments cannot be read
   ("MET 31 February") gets a note saying what was wrong, and changes nothing.
3. ``need = "both"`` rules wait for both of the pair (the answers are kept as the
   pair's ``votes``); ``need = "confirm"`` rules wait for the same person twice.
4. A rule's actions (:mod:`.actions`) run first; they may add decisions, make the
   rule wait, or stop it (answering the sender themselves).
5. An ambiguous reply, or one with no command and no form, gets a clarification
   that lists what the email accepts. Nothing is guessed.
6. A form reply is merged with what was understood before (a half-filled form is
   kept as a draft); when complete and valid, the ``form = "complete"`` rule fires,
   otherwise the person gets one email saying what was understood and what is still
   needed, with the form pre-filled. When a form reply also holds an ``anytime``
   command word, the form wins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from ..i18n import Day
from ..parse.intervals import read_interval, read_notice
from ..parse.result import CommandResult, Expectation, FieldResult, Reply
from .decisions import Decision, Outcome, Record, SaveDraft, Send, SetFacts, StartTimer, Transition
from .loader import ANYTIME, OnRule, SendSpec, TimerSpec, Workflow

UNPAIRED = "unpaired"  # the state of a participant's reply that concerns no pair
COORDINATOR = "coordinator"  # the reply context of coordinators' commands


@dataclass(frozen=True)
class AgreementView:
    """The pair's agreement as the engine needs it."""

    active_version: int = 0
    active: dict[str, Any] = field(default_factory=dict)  # the values in force
    latest_version: int = 0  # the newest version, active or not
    latest: dict[str, Any] = field(default_factory=dict)
    latest_by: str = ""  # the role that proposed the newest version
    confirmed: tuple[str, ...] = ()  # roles that confirmed the newest version


@dataclass(frozen=True)
class ReplyContext:
    """What the engine knows about the reply besides its text."""

    context: str | None  # the reply context of the email being answered
    role: str | None  # the sender's role in the pair: mentor | mentee (None: no pair)
    state: str | None  # the pair's state (None: no pair)
    draft: dict[str, object] = field(default_factory=dict)  # form values understood earlier
    facts: dict[str, Any] = field(default_factory=dict)  # what the pair holds: dates, counters, flags
    ref: str = ""  # what the email answered was about, e.g. agreement version "2"
    agreement: AgreementView = field(default_factory=AgreementView)
    participant: dict[str, Any] = field(default_factory=dict)  # the sender's own settings
    now: dt.datetime | None = None
    tz: str = "UTC"  # the sender's time zone
    languages: tuple[str, ...] = ()  # the sender's language chain ("pt-BR", "pt", ...); English words always count

    @property
    def where(self) -> str:
        return self.state or UNPAIRED


def expectation(wf: Workflow, context: str | None, draft: dict[str, object] | None = None,
                languages: tuple[str, ...] = ()) -> Expectation:
    """The commands, arguments and form a reply in ``context`` is read against: the
    English words and those of the sender's ``languages``."""
    spec = wf.replies.get(context or "")
    fields = wf.form_fields(spec.form, languages) if spec and spec.form else ()
    sent = {k: _as_text(v) for k, v in (draft or {}).items()}
    commands = wf.commands(context, languages)
    own = tuple(spec.commands) if spec is not None and spec.name != ANYTIME else ()
    return Expectation(commands=commands, fields=fields, sent_values=sent, arguments=wf.args(context),
                       default=spec.default if spec else None, own=own)


def on_enrol(wf: Workflow, role: str, consent: str = "required", now: dt.datetime | None = None
             ) -> tuple[Decision, ...]:
    """What enrolling a mentor or mentee does (``[enrol.ROLE]``, or
    ``[enrol.ROLE.implied]`` when the scheme has consent already); nothing when the
    rules give no enrolment step."""
    spec = (wf.enrol_implied.get(role) if consent == "implied" else None) or wf.enrol.get(role)
    if spec is None:
        return ()
    from .actions import run

    ax = run(spec.do, wf, None, ReplyContext(None, role, None, now=now), {})
    return (*ax.decisions, Transition(spec.state), *_sends(spec.send, ax.vars),
            Record("enrolment", {"state": spec.state, "role": role, "consent": consent}))


def on_start(wf: Workflow) -> tuple[Decision, ...]:
    """What pairing a mentee with a mentor does."""
    return (
        Transition(wf.start.state),
        *_sends(wf.start.send),
        Record("paired", {"state": wf.start.state}),
    )


def on_close(wf: Workflow, state: str, facts: dict[str, Any], now: dt.datetime, reason: str = "") -> Outcome:
    """A coordinator ends a pair (``mailflow close``): the ``close`` command of the
    ``coordinator`` reply context, in the pair's state."""
    if wf.states[state].final:
        return Outcome("ignored", f"it has already ended (state {state})")
    rule = next((r for r in wf.rules if COORDINATOR in r.reply and r.command == "close" and state in r.states), None)
    if rule is None:
        return Outcome("ignored", f"the rules have no close command for state {state}")
    ctx = ReplyContext(COORDINATOR, None, state, facts=facts, now=now)
    data = {"from_role": "coordinator", "state_from": state, "command": "close", "reason": reason[:300]}
    return _fire(wf, rule, None, ctx, data)


def needs_pair(wf: Workflow, command: str) -> bool:
    """Whether an ``anytime`` command is about a pair (PAUSE) or only the sender (HELP)."""
    rules = [r for r in wf.rules if ANYTIME in r.reply and r.command == command]
    return not any(UNPAIRED in r.states for r in rules)


def on_timer(wf: Workflow, timer: TimerSpec, state: str, facts: dict[str, Any] | None = None,
             now: dt.datetime | None = None, role: str | None = None) -> Outcome:
    """A timer fell due. It acts only if the pair is still in one of the timer's states
    (and, for a timer started for one person, only if they have not answered since)."""
    facts = facts or {}
    if state not in timer.states:
        return Outcome("ignored", f"timer {timer.name}: pair is no longer {'/'.join(timer.states[:3])}")
    if timer.manual and role and any(role in v for v in (facts.get("votes") or {}).values()):
        return Outcome("ignored", f"timer {timer.name}: the {role} has answered since")
    from .actions import run

    ctx = ReplyContext(None, role, state, facts=facts, now=now)
    ax = run(timer.do, wf, None, ctx, {})
    if ax.status == "stop":
        return Outcome("ignored", f"timer {timer.name}: {ax.reason}", tuple(ax.decisions))
    decisions: list[Decision] = list(ax.decisions)
    goto = _goto(timer.goto, facts)
    if goto and goto != state:
        decisions.append(Transition(goto))
    decisions += _sends(timer.send, ax.vars)
    decisions.append(Record(f"timer:{timer.name}", {"state": state, "goto": goto or state}))
    return Outcome("processed", f"timer {timer.name}", tuple(decisions), (f"timer:{timer.name}",))


def on_scheme_timer(wf: Workflow, timer: TimerSpec) -> Outcome:
    """A scheme's own timer fell due (``scope = "scheme"``): its emails, to the coordinators."""
    return Outcome("processed", f"timer {timer.name}",
                   (*_sends(timer.send), Record(f"timer:{timer.name}", {"scope": "scheme"})), (f"timer:{timer.name}",))


def on_reply(wf: Workflow, reply: Reply, ctx: ReplyContext) -> Outcome:
    """Decide what one understood reply does. See the module docstring."""
    spec = wf.replies.get(ctx.context or "")
    commands = wf.commands(ctx.context, ctx.languages)
    cmd = reply.command
    has_form_answers = bool(spec and spec.form and any(f.status in ("ok", "invalid") for f in reply.fields.values()))

    if cmd.candidates:
        return _clarify(wf, spec, ctx, f"unclear: could be {' or '.join(cmd.candidates)}", cmd,
                        list(cmd.candidates), "ambiguous")

    if cmd.name and not (has_form_answers and not wf.is_own_command(ctx.context, cmd.name)):
        return _command(wf, reply, ctx, spec, cmd)

    if spec is not None and spec.form:
        if ctx.role not in spec.roles:
            return _wrong_role(spec.name, ctx, "form")
        outcome = _form(wf, reply, ctx, spec.name, spec.form)
        if outcome is not None:
            return outcome
        if not commands or not spec.commands:
            return Outcome(
                "ignored", "unclear: no form answers found",
                (Send("notes/form-empty", "sender", expects=spec.name, exempt=True, vars={"form_name": spec.form}),),
                (f"{spec.name}:form-empty",),
            )
    if spec is None:
        # An email that asked for nothing, and no command we know: say so, pass nothing on.
        return Outcome("ignored", "no-reply-expected",
                       (Send("notes/no-action", "sender", expects=ANYTIME, exempt=True,
                             vars={"options": _options(commands, ctx.languages)}),))
    if ctx.role not in spec.roles and spec.name != ANYTIME:
        return _wrong_role(spec.name, ctx, "reply")
    return _clarify(wf, spec, ctx, "unclear: no command found", cmd, [], "no-command")


# --------------------------------------------------------------------------- commands


def _command(wf: Workflow, reply: Reply, ctx: ReplyContext, spec, cmd: CommandResult) -> Outcome:
    own = wf.is_own_command(ctx.context, cmd.name)
    where_from = spec.name if own and spec is not None else ANYTIME
    context_roles = wf.replies[where_from].roles if where_from in wf.replies else ()
    if ctx.role is not None and ctx.role not in context_roles:
        return _wrong_role(where_from, ctx, cmd.name)
    problems = reply.arg_problems
    if problems:
        return Outcome(
            "ignored", f"bad arguments for {cmd.name}: {'; '.join(problems)[:120]}",
            (Send("notes/bad-arguments", "sender", expects=ctx.context, exempt=True,
                  vars={"command": cmd.name, "line": cmd.line, "problems": list(problems),
                        "usage": _usage(cmd.name, wf.args(ctx.context).get(cmd.name, ()))}),),
            (f"{where_from}:{cmd.name}:bad-arguments",),
        )
    candidates = [r for r in wf.rules
                  if r.command == cmd.name and (where_from in r.reply or (not own and ANYTIME in r.reply))]
    # "unpaired" (a reply about no pair) covers a person's own states too: a mentee
    # still looking for a mentor can STOP or ask for HELP like anyone without a pair.
    own_state = ctx.state is not None and wf.scope_of(ctx.state) == "participant"
    in_state = [r for r in candidates if ctx.where in r.states or (own_state and UNPAIRED in r.states)]
    rule = next((r for r in in_state if not r.roles or ctx.role in r.roles), None)
    if rule is None and in_state:
        return _wrong_role(where_from, ctx, cmd.name)
    if rule is None:
        return _stale(wf, where_from, cmd.name, ctx)
    data = {"from_role": ctx.role, "state_from": ctx.state, "command": cmd.name,
            "reason_given": bool(cmd.rest.strip())}
    return _fire(wf, rule, reply, ctx, data)


def _fire(wf: Workflow, rule: OnRule, reply: Reply | None, ctx: ReplyContext, data: dict,
          form: tuple[str, dict] | None = None, notes: dict | None = None) -> Outcome:
    """The decisions of a matching rule: its actions, its ``need``, then ``goto`` and
    ``send``. ``notes`` (unknown labels, typo warnings) go to the emails for the
    sender, so nothing they wrote is silently dropped."""
    from .actions import run

    decisions: list[Decision] = []
    if form is not None:
        decisions.append(SaveDraft(form[0], form[1]))
    args = dict(reply.args) if reply is not None else {}
    if rule.need and ctx.role:
        # The answer is kept first; the rule's actions run only when it is satisfied.
        status, votes = _vote(rule, ctx)
        decisions.append(SetFacts({"votes": votes}))
        if status == "wait":
            decisions += _sends(rule.waiting, {}, notes)
            decisions.append(Record(f"reply:{rule.vote_key}", {**data, "waiting": True}))
            return Outcome("processed", f"{rule.name}: waiting", tuple(decisions), (rule.name,))
    ax = run(rule.do, wf, reply, ctx, args, form_values=form[1] if form else None)
    decisions += ax.decisions
    sender_vars = {**(notes or {}), **ax.vars}
    if ax.status == "stop":
        record = Record(rule.record or f"reply:{rule.vote_key}", {**data, "stopped": ax.reason[:100]})
        return Outcome("ignored" if not ax.decisions else "processed", f"{rule.name}: {ax.reason}",
                       (*decisions, record), (rule.name,))
    if ax.status == "wait":
        decisions += _sends(rule.waiting, ax.vars, sender_vars)
        decisions.append(Record(f"reply:{rule.vote_key}", {**data, "waiting": True}))
        return Outcome("processed", f"{rule.name}: waiting", tuple(decisions), (rule.name,))
    goto = _goto(rule.goto, ctx.facts)
    if goto and goto != ctx.state and ctx.state is not None:
        decisions.append(Transition(goto))  # after the actions' facts, so new timers see them
    decisions += _sends(rule.send, ax.vars, sender_vars)
    decisions += [StartTimer(t) for t in rule.start_timers]
    decisions.append(Record(rule.record or f"reply:{rule.vote_key}", {**data, "state_to": goto or ctx.state}))
    return Outcome("processed", rule.name, tuple(decisions), (rule.name,))


def _vote(rule: OnRule, ctx: ReplyContext) -> tuple[str, dict]:
    """Record this person's answer to a ``need`` rule; "go" when the rule is satisfied."""
    votes = {k: dict(v) for k, v in (ctx.facts.get("votes") or {}).items()}
    mine = votes.setdefault(rule.vote_key, {})
    ref = ctx.ref or "yes"
    if rule.need == "confirm":
        # The same person, twice, whichever of our emails each answers.
        ref = "yes"
        if mine.get(ctx.role) == ref:
            votes.pop(rule.vote_key)
            return "go", votes
        mine[ctx.role] = ref
        return "wait", votes
    mine[ctx.role] = ref
    if all(mine.get(r) == ref for r in ("mentor", "mentee")):
        votes.pop(rule.vote_key)
        return "go", votes
    return "wait", votes


def _goto(goto: str | None, facts: dict[str, Any]) -> str | None:
    if goto == "@resume":
        return facts.get("resume_state") or None
    return goto


# --------------------------------------------------------------------------- forms


def _form(wf: Workflow, reply: Reply, ctx: ReplyContext, context: str, form: str) -> Outcome | None:
    """A reply to a form: complete (the rule fires), partial (one email asks for the
    rest), or None when it holds no form answers at all."""
    fields = wf.form_fields(form, ctx.languages)
    checked = {k: _validate(wf, form, f) for k, f in reply.fields.items()}
    merged = _merge(checked, ctx.draft)
    new_values = {k: f for k, f in checked.items() if f.status == "ok"}
    problems = {k: f for k, f in checked.items() if f.status == "invalid"}
    if not new_values and not problems:
        return None
    if all(merged.get(f.name) is not None or not f.required for f in fields) and not problems:
        rules = [r for r in wf.rules if context in r.reply and r.form_complete and ctx.where in r.states]
        rule = next((r for r in rules if not r.roles or ctx.role in r.roles), None)
        if rule is None and rules:
            return _wrong_role(context, ctx, "form")
        if rule is None:
            return _stale(wf, context, "form", ctx)
        data = {"from_role": ctx.role, "state_from": ctx.state, "form": form, "fields": len(merged)}
        notes = {"unknown_labels": list(reply.unknown_labels), "warnings": list(reply.warnings)}
        return _fire(wf, rule, reply, ctx, data, form=(form, merged), notes=notes)
    understood = [_shown(fields, checked[k]) for k in checked if checked[k].status == "ok"]
    kept = [{"name": k, "label": _label(fields, k), "display": _as_text(v)}
            for k, v in ctx.draft.items() if k not in new_values and v is not None]
    missing = [{"name": f.name, "label": f.label, "reason": checked[f.name].reason
                if f.name in checked else "no value was given"}
               for f in fields if f.required and merged.get(f.name) is None and f.name not in problems]
    invalid = [{"name": k, "label": _label(fields, k), "raw": f.raw, "reason": f.reason}
               for k, f in problems.items()]
    return Outcome(
        "processed", "form incomplete: asked for the rest",
        (
            SaveDraft(form, merged),
            Send("notes/form-incomplete", "sender", expects=context, exempt=True,
                 vars={"form_name": form, "understood": understood + kept, "missing": missing,
                       "invalid": invalid, "unknown_labels": list(reply.unknown_labels),
                       "warnings": list(reply.warnings)}),
            Record("form-partial", {"form": form, "ok": len(merged), "missing": len(missing),
                                    "invalid": len(invalid)}),
        ),
        (f"{context}:form-partial",),
    )


def _validate(wf: Workflow, form: str, f: FieldResult) -> FieldResult:
    """The checks the rules add to what the form reader did: an agreed frequency and
    notice must be readable, and numbers within their range."""
    if f.status != "ok":
        return f
    spec = next((s for s in wf.forms[form] if s.name == f.name), None)
    if spec is None:
        return f
    if spec.kind == "interval" and read_interval(str(f.value)) is None:
        return replace(f, status="invalid", value=None,
                       reason="we could not tell how often that is; please write it like “monthly”, "
                              "“every six weeks” or “twice a year”")
    if spec.kind == "duration" and read_notice(str(f.value)) is None:
        return replace(f, status="invalid", value=None,
                       reason="we could not tell how long that is; please write it like “24 hours” or “2 days”")
    low, high = wf.limits.get((form, f.name), (None, None))
    if isinstance(f.value, (list, tuple)) and high is not None and len(f.value) > high:
        return replace(f, status="invalid", value=None, reason=f"please give at most {high}")
    if isinstance(f.value, (int, float)) and (low is not None and f.value < low or high is not None and f.value > high):
        return replace(f, status="invalid", value=None, reason=f"please give a number from {low} to {high}")
    return f


# --------------------------------------------------------------------------- notes


def _clarify(wf: Workflow, spec, ctx: ReplyContext, reason: str, cmd: CommandResult, candidates: list,
             hit: str) -> Outcome:
    name = spec.name if spec else ANYTIME
    offered = wf.own_commands(spec.name, ctx.languages) if spec and spec.commands else \
        wf.commands(ctx.context, ctx.languages)
    # Only what this person may say here: a mentee is not offered AVAILABLE.
    offered = {c: w for c, w in offered.items()
               if any(r.command == c and (not r.roles or ctx.role in r.roles) for r in wf.rules)}
    return Outcome(
        "ignored", reason,
        (Send("notes/clarify", "sender", expects=ctx.context, exempt=True,
              vars={"options": _options(offered, ctx.languages),
                    "candidates": candidates, "line": cmd.line,
                    "form_name": spec.form if spec and spec.form else ""}),),
        (f"{name}:{hit}",),
    )


def _wrong_role(context: str, ctx: ReplyContext, command: str) -> Outcome:
    return Outcome(
        "ignored", f"wrong-role: the {ctx.role or 'sender'} cannot {command} in reply to {context}",
        (Send("notes/not-yours", "sender", exempt=True, vars={"command": command}),),
        (f"{context}:{command}:wrong-role",),
    )


def _stale(wf: Workflow, context: str, command: str, ctx: ReplyContext) -> Outcome:
    st = wf.states.get(ctx.state or "")
    return Outcome(
        "ignored", f"stale: {command} does not apply in state {ctx.where}",
        (Send("notes/already", "sender", exempt=True,
              vars={"command": command, "state": ctx.where, "state_description": st.description if st else ""}),),
        (f"{context}:{command}:stale",),
    )


def _usage(command: str, kinds: tuple[str, ...]) -> str:
    shown = {"date": "<date>", "past-date": "<date>", "time": "<time>", "minutes": "<minutes>",
             "number": "<number>", "text": "<text>"}
    parts = [command.upper()]
    for k in kinds:
        word = shown[k.rstrip("?")]
        parts.append(f"[{word}]" if k.endswith("?") else word)
    return " ".join(parts)


def _sends(specs: tuple[SendSpec, ...], extra: dict | None = None, sender_extra: dict | None = None) -> tuple[Send, ...]:
    out = []
    for s in specs:
        variables = dict(extra or {})
        if s.to == "sender":
            variables.update(sender_extra or {})
        out.append(Send(s.template, s.to, s.expects, variables, invite=s.invite, attach=s.attach,
                        ref=str(variables.get("ref", "")) if s.expects else ""))
    return tuple(out)


def _options(commands: dict[str, tuple[str, ...]], languages: tuple[str, ...] = ()) -> list[dict]:
    """Commands as a note lists them: the word to write (the name in English, the first
    word of the person's own language otherwise), and the other words that work."""
    out = []
    english = not languages or languages[0].split("-")[0] == "en"
    for name, words in commands.items():
        shown = name.upper() if english or not words else " ".join(words[0].upper().split())
        out.append({"command": shown, "words": list(words)})
    return out


def _merge(fields: dict[str, FieldResult], draft: dict[str, object]) -> dict[str, object]:
    merged = {k: v for k, v in draft.items() if v is not None}
    for name, f in fields.items():
        if f.status == "ok":
            merged[name] = f.value
    return merged


def _shown(fields, f: FieldResult) -> dict:
    shown = Day(f.value) if isinstance(f.value, dt.date) else (f.display or _as_text(f.value))
    return {"name": f.name, "display": shown, "label": _label(fields, f.name)}


def _label(fields, name: str) -> str:
    for f in fields:
        if f.name == name:
            return f.label
    return name


def _as_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "\n".join(f"{i}. {v}" for i, v in enumerate(value, 1))
    if isinstance(value, dt.date):
        return Day(value)
    return "" if value is None else str(value)
