"""The workflow engine: pure functions from (reply or timer, pair state, now) to decisions.

Nothing here reads the database, the clock or the network. :mod:`.apply` carries out
what these functions decide, inside one transaction.

How a reply is decided (:func:`on_reply`):

1. The reply context comes from the token of the email being answered. An email
   that asks for nothing gets a short "no action needed" note.
2. Only the roles named in the context's ``from`` may answer it.
3. A clear command is looked up in the ``[[on]]`` rules for that context and the
   pair's state; the first match wins. A command that fits the context but not the
   state ("ACCEPT" after a decline) changes nothing and gets an "already" note.
4. An ambiguous reply, or one with no command and no form, gets a clarification
   that lists what the email accepts. Nothing is guessed.
5. A form reply is merged with what was understood before (a half-filled form is
   kept as a draft); when complete, the ``form = "complete"`` rule fires, otherwise
   the person gets one email saying what was understood and what is still needed,
   with the form pre-filled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..parse.dates import display as display_date
from ..parse.result import Expectation, FieldResult, Reply
from .decisions import Decision, Outcome, Record, SaveDraft, Send, Transition
from .loader import OnRule, SendSpec, TimerSpec, Workflow


@dataclass(frozen=True)
class ReplyContext:
    """What the engine knows about the reply besides its text."""

    context: str | None  # the reply context of the email being answered
    role: str  # the sender's role in the pair: mentor | mentee
    state: str  # the pair's state
    draft: dict[str, object] = field(default_factory=dict)  # form values understood earlier


def expectation(wf: Workflow, context: str | None, draft: dict[str, object] | None = None) -> Expectation:
    """The commands and form a reply in ``context`` is read against."""
    spec = wf.replies.get(context or "")
    if spec is None:
        return Expectation()
    fields = wf.forms.get(spec.form, ()) if spec.form else ()
    sent = {k: _as_text(v) for k, v in (draft or {}).items()}
    return Expectation(commands=dict(spec.commands), fields=fields, sent_values=sent)


def on_start(wf: Workflow) -> tuple[Decision, ...]:
    """What pairing a mentee with a mentor does."""
    return (
        Transition(wf.start.state),
        *_sends(wf.start.send),
        Record("paired", {"state": wf.start.state}),
    )


def on_timer(wf: Workflow, timer: TimerSpec, state: str) -> Outcome:
    """A timer fell due. It acts only if the pair is still in the timer's state."""
    if state != timer.state:
        return Outcome("ignored", f"timer {timer.name}: pair is no longer {timer.state}")
    decisions: list[Decision] = list(_sends(timer.send))
    if timer.goto and timer.goto != state:
        decisions.insert(0, Transition(timer.goto))
    decisions.append(Record(f"timer:{timer.name}", {"state": state, "goto": timer.goto or state}))
    return Outcome("processed", f"timer {timer.name}", tuple(decisions), (f"timer:{timer.name}",))


def on_reply(wf: Workflow, reply: Reply, ctx: ReplyContext) -> Outcome:
    """Decide what one understood reply does. See the module docstring."""
    spec = wf.replies.get(ctx.context or "")
    if spec is None:
        return Outcome("ignored", "no-reply-expected", (Send("notes/no-action", "sender", exempt=True),))
    if ctx.role not in spec.roles:
        return Outcome(
            "ignored", f"wrong-role: {ctx.role} cannot answer {spec.name}",
            (Send("notes/no-action", "sender", exempt=True),),
        )
    options = _options(spec.commands)
    cmd = reply.command

    if cmd.candidates:
        return Outcome(
            "ignored", f"unclear: could be {' or '.join(cmd.candidates)}",
            (Send("notes/clarify", "sender", expects=spec.name, exempt=True,
                  vars={"options": options, "candidates": list(cmd.candidates), "line": cmd.line,
                        "form_name": spec.form or ""}),),
            (f"{spec.name}:ambiguous",),
        )

    if cmd.name:
        rule = _rule(wf, spec.name, cmd.name, ctx.state, form=False)
        if rule is None:
            return _stale(wf, spec.name, cmd.name, ctx.state)
        data = {"from_role": ctx.role, "state_from": ctx.state, "state_to": rule.goto or ctx.state,
                "command": cmd.name, "reason_given": bool(cmd.rest.strip())}
        return _fire(rule, ctx, data)

    if spec.form:
        merged = _merge(reply.fields, ctx.draft)
        new_values = {k: f for k, f in reply.fields.items() if f.status == "ok"}
        problems = {k: f for k, f in reply.fields.items() if f.status == "invalid"}
        if new_values or problems:
            fields = wf.forms[spec.form]
            if all(merged.get(f.name) is not None or not f.required for f in fields) and not problems:
                rule = _rule(wf, spec.name, None, ctx.state, form=True)
                if rule is None:
                    return _stale(wf, spec.name, "form", ctx.state)
                data = {"from_role": ctx.role, "state_from": ctx.state, "state_to": rule.goto or ctx.state,
                        "form": spec.form, "fields": len(merged)}
                notes = {"unknown_labels": list(reply.unknown_labels), "warnings": list(reply.warnings)}
                return _fire(rule, ctx, data, form=(spec.form, merged), notes=notes)
            understood = [_shown(fields, reply.fields[k]) for k in reply.fields if reply.fields[k].status == "ok"]
            kept = [{"name": k, "label": _label(fields, k), "display": _as_text(v)}
                    for k, v in ctx.draft.items() if k not in new_values and v is not None]
            missing = [{"name": f.name, "label": f.label, "reason": reply.fields[f.name].reason
                        if f.name in reply.fields else "no value was given"}
                       for f in fields if f.required and merged.get(f.name) is None and f.name not in problems]
            invalid = [{"name": k, "label": _label(fields, k), "raw": f.raw, "reason": f.reason}
                       for k, f in problems.items()]
            return Outcome(
                "processed", "form incomplete: asked for the rest",
                (
                    SaveDraft(spec.form, merged),
                    Send("notes/form-incomplete", "sender", expects=spec.name, exempt=True,
                         vars={"form_name": spec.form, "understood": understood + kept, "missing": missing,
                               "invalid": invalid, "unknown_labels": list(reply.unknown_labels),
                               "warnings": list(reply.warnings)}),
                    Record("form-partial", {"form": spec.form, "ok": len(merged), "missing": len(missing),
                                            "invalid": len(invalid)}),
                ),
                (f"{spec.name}:form-partial",),
            )

    if spec.form and not spec.commands:
        return Outcome(
            "ignored", "unclear: no form answers found",
            (Send("notes/form-empty", "sender", expects=spec.name, exempt=True, vars={"form_name": spec.form}),),
            (f"{spec.name}:form-empty",),
        )
    return Outcome(
        "ignored", "unclear: no command found",
        (Send("notes/clarify", "sender", expects=spec.name, exempt=True,
              vars={"options": options, "candidates": [], "line": "", "form_name": spec.form or ""}),),
        (f"{spec.name}:no-command",),
    )


# --------------------------------------------------------------------------- helpers


def _fire(rule: OnRule, ctx: ReplyContext, data: dict, form: tuple[str, dict] | None = None,
          notes: dict | None = None) -> Outcome:
    """The decisions of a matching rule. ``notes`` (unknown labels, typo warnings) go to
    the emails for the sender, so nothing they wrote is silently dropped."""
    decisions: list[Decision] = []
    if rule.goto and rule.goto != ctx.state:
        decisions.append(Transition(rule.goto))
    if form is not None:
        decisions.append(SaveDraft(form[0], form[1]))
    decisions += [Send(s.template, s.to, s.expects, dict(notes or {}) if s.to == "sender" else {})
                  for s in rule.send]
    decisions.append(Record(rule.record or f"reply:{rule.reply}:{rule.command or 'form'}", data))
    return Outcome("processed", rule.name, tuple(decisions), (rule.name,))


def _rule(wf: Workflow, context: str, command: str | None, state: str, *, form: bool) -> OnRule | None:
    for rule in wf.rules:
        if rule.reply != context or state not in rule.states:
            continue
        if form and rule.form_complete or not form and rule.command == command:
            return rule
    return None


def _stale(wf: Workflow, context: str, command: str, state: str) -> Outcome:
    st = wf.states.get(state)
    return Outcome(
        "ignored", f"stale: {command} does not apply in state {state}",
        (Send("notes/already", "sender", exempt=True,
              vars={"command": command, "state": state, "state_description": st.description if st else ""}),),
        (f"{context}:{command}:stale",),
    )


def _sends(specs: tuple[SendSpec, ...]) -> tuple[Send, ...]:
    return tuple(Send(s.template, s.to, s.expects) for s in specs)


def _options(commands: dict[str, tuple[str, ...]]) -> list[dict]:
    return [{"command": name.upper(), "words": list(words)} for name, words in commands.items()]


def _merge(fields: dict[str, FieldResult], draft: dict[str, object]) -> dict[str, object]:
    merged = {k: v for k, v in draft.items() if v is not None}
    for name, f in fields.items():
        if f.status == "ok":
            merged[name] = f.value
    return merged


def _shown(fields, f: FieldResult) -> dict:
    return {"name": f.name, "display": f.display or _as_text(f.value), "label": _label(fields, f.name)}


def _label(fields, name: str) -> str:
    for f in fields:
        if f.name == name:
            return f.label
    return name


def _as_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "\n".join(f"{i}. {v}" for i, v in enumerate(value, 1))
    if isinstance(value, dt.date):
        return display_date(value)
    return "" if value is None else str(value)
