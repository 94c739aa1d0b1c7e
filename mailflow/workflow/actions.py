"""The named actions that rules invoke with ``do = ["log-meeting", "flag:concern"]``.

Each action is a small pure function of what the engine knows (the reply and its
arguments, the pair's facts and agreement, the sender's role, now) that adds
decisions and template variables, or decides that its rule waits or stops. The
rules say *when* an action runs; the action says what it means. A rule file may
only name actions registered here (``mailflow check`` says which exist).

The facts a pair holds (``pairs.facts``), as actions set them:

=====================  =========================================================
``first_meeting``      the day of the getting-to-know conversation (ISO date)
``votes``              answers to ``need`` rules in this state, by rule and role
``review_date``        the agreed review date (ISO date); ``review_seq`` counts
                       its changes (the invite's SEQUENCE)
``proposed_review_*``  a new review date proposed, and by whom, until confirmed
``interval_days``      days between meetings, read from the agreed frequency
``notice_hours``       notice agreed for cancelling a meeting
``meeting_minutes``    the agreed length of a meeting
``next_meeting``       the next meeting: an ISO date, or an aware ISO time (UTC);
                       ``meeting_n`` numbers meetings (the invite UID) and
                       ``meeting_seq`` counts changes to the current one
``meetings``, ``minutes``, ``last_meeting``, ``last_checkin``
``cancellations``, ``late_cancellations``
``flags``              e.g. ``silent``, ``concern``, ``repeated-cancellations``,
                       ``below-commitment``, ``mentor-restricted``
``commitment_mark``    the meetings count at the last commitment check
``missed_meetings``    meetings a partner did not turn up to (``MISSED``)
``trial_end``          the end of an agreed trial period (ISO date)
``progress``           the latest rating (1-5) of each objective, by number
``resume_state``, ``paused_until``, ``paused_by``
``ended_at``, ``ended_by``, ``end_kind``
=====================  =========================================================

Nothing a participant wrote in words is kept in facts: reasons, pulse scores and
notes are :class:`~.decisions.KeepPrivate`; feedback is :class:`~.decisions.GiveFeedback`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import iso
from ..i18n import Day, Moment
from ..parse.args import read_args, read_minutes
from ..parse.intervals import read_interval, read_notice
from .loader import ANYTIME
from .decisions import (ConfirmAgreement, Decision, GiveFeedback, KeepPrivate, LogMeeting, MoveParticipant,
                        ProposeAgreement, RequestMentor, SaveProfile, Send, SetFacts, SetParticipant, Withdraw)

ACTIONS: dict[str, Callable[[Act], None]] = {}

# Late cancellations that make a pair "repeated-cancellations" (a [settings] value overrides).
REPEATED_CANCELLATIONS = 2


def action(name: str):
    def register(fn):
        if name in ACTIONS:
            raise RuntimeError(f"action {name!r} is registered twice")
        ACTIONS[name] = fn
        return fn
    return register


@dataclass
class Result:
    decisions: list[Decision] = field(default_factory=list)
    status: str = "go"  # go | wait | stop
    vars: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class Act:
    """One action's view of the world, and what it decides."""

    def __init__(self, wf, reply, ctx, args: dict, facts: dict, param: str | None, result: Result,
                 form_values: dict | None):
        self.wf = wf
        self.reply = reply
        self.ctx = ctx
        self.args = args
        self.facts = facts  # the running facts: earlier actions' changes included
        self.param = param
        self.result = result
        self.form_values = form_values or {}
        self.now = ctx.now or dt.datetime.now(dt.timezone.utc)

    # ------------------------------------------------------------ reading
    @property
    def role(self) -> str | None:
        return self.ctx.role

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.ctx.tz or "UTC")

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    @property
    def fields(self) -> dict[str, Any]:
        """The form answers of the reply that were understood."""
        if self.reply is None:
            return {}
        return {k: f.value for k, f in self.reply.fields.items() if f.status == "ok"}

    def setting(self, name: str, default: Any) -> Any:
        return self.wf.settings.get(name, default)

    # ------------------------------------------------------------ deciding
    def set(self, **values: Any) -> None:
        self.facts.update(values)
        for k in [k for k, v in self.facts.items() if v is None]:
            del self.facts[k]
        self.result.decisions.append(SetFacts(values))

    def flag(self, name: str) -> bool:
        """Set a flag; True if it was not set before."""
        flags = list(self.facts.get("flags") or [])
        if name in flags:
            return False
        self.set(flags=[*flags, name])
        return True

    def unflag(self, name: str) -> None:
        flags = list(self.facts.get("flags") or [])
        if name in flags:
            self.set(flags=[f for f in flags if f != name])

    def decide(self, d: Decision) -> None:
        self.result.decisions.append(d)

    def var(self, **values: Any) -> None:
        self.result.vars.update(values)

    def stop(self, reason: str, template: str | None = None, **variables: Any) -> None:
        """The rule does not apply after all; the sender is told why (when a template is given)."""
        self.result.status = "stop"
        self.result.reason = reason
        if template:
            self.decide(Send(template, "sender", expects=self.ctx.context or ANYTIME, exempt=True,
                             vars={**self.result.vars, **variables}, ref=self.ctx.ref))

    def wait(self) -> None:
        if self.result.status == "go":
            self.result.status = "wait"


def run(names: tuple[str, ...], wf, reply, ctx, args: dict, form_values: dict | None = None) -> Result:
    """Run the named actions in order; the first that stops ends the run."""
    result = Result()
    facts = dict(ctx.facts)
    for entry in names:
        name, _, param = entry.partition(":")
        ACTIONS[name](Act(wf, reply, ctx, args, facts, param or None, result, form_values))
        if result.status == "stop":
            break
    return result


# --------------------------------------------------------------------------- helpers


def when_text(value: str | None, tz: str = "UTC") -> str:
    """A stored meeting time or day, for people: "Tuesday 3 March 2026 at 14:00"."""
    if not value:
        return ""
    if "T" not in value:
        return Day(dt.date.fromisoformat(value))
    return Moment(dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(tz or "UTC")))


def meeting_day(value: str, tz: str = "UTC") -> dt.date:
    if "T" not in value:
        return dt.date.fromisoformat(value)
    return dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(tz or "UTC")).date()


def meeting_moment(value: str, tz: str) -> dt.datetime:
    """When a meeting starts (a day's meeting: the start of that day), aware."""
    if "T" in value:
        return dt.datetime.fromisoformat(value)
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0), zoneinfo.ZoneInfo(tz or "UTC"))


def agreement_facts(values: dict[str, Any]) -> dict[str, Any]:
    """What a pair's agreement sets for the engine: the review date, the interval
    between meetings, the notice for cancelling and the length of a meeting."""
    out: dict[str, Any] = {}
    review = values.get("review_date")
    if isinstance(review, dt.date):
        out["review_date"] = review.isoformat()
    elif isinstance(review, str) and review:
        out["review_date"] = review
    interval = read_interval(str(values.get("frequency") or ""))
    if interval:
        out["interval_days"] = interval
    notice = None
    for key in ("notice", "cancellations", "time_keeping"):
        if values.get(key):
            notice = read_notice(str(values[key]))
            if notice is not None:
                break
    if notice is not None:
        out["notice_hours"] = notice
    minutes, _ = read_minutes(str(values.get("meeting_length") or ""))
    if minutes:
        out["meeting_minutes"] = minutes
    trial = values.get("trial_end")  # an optional trial period, where the agreement has one
    if isinstance(trial, dt.date):
        out["trial_end"] = trial.isoformat()
    elif isinstance(trial, str) and trial:
        out["trial_end"] = trial
    return out


# --------------------------------------------------------------------------- getting to know each other


@action("first-meeting")
def _first_meeting(a: Act) -> None:
    """MET after the introduction: the getting-to-know conversation happened."""
    day = a.args.get("past-date") or a.today
    a.set(first_meeting=day.isoformat())
    a.var(met_on=Day(day))


@action("end-early")
def _end_early(a: Act) -> None:
    """NO after the first conversation: not a good fit, nobody's fault."""
    a.set(ended_at=iso(a.now), ended_by=a.role, end_kind="not-a-good-fit")


@action("expire")
def _expire(a: Act) -> None:
    """An introduction nobody answered in time."""
    a.set(ended_at=iso(a.now), end_kind="expired")


# --------------------------------------------------------------------------- the agreement


@action("propose-agreement")
def _propose_agreement(a: Act) -> None:
    """A complete agreement form: version N+1, confirmed by whoever sent it."""
    ag = a.ctx.agreement
    values = dict(a.form_values)
    base = ag.latest if ag.latest_version else {}
    diff = _diff(a.wf, values, base) if ag.latest_version else []
    if ag.latest_version and not diff:
        if ag.latest_version == ag.active_version:
            a.stop("no changes to the agreement in force", "agreement/unchanged", version=ag.active_version)
        else:
            a.stop("the same agreement again", "agreement/unchanged", version=ag.latest_version,
                   pending=True, ref=str(ag.latest_version))
        return
    version = ag.latest_version + 1
    a.decide(ProposeAgreement(version, values, a.role or ""))
    a.var(ref=str(version), version=version, diff=diff, in_force=ag.active_version)


@action("confirm-agreement")
def _confirm_agreement(a: Act) -> None:
    """AGREE to the version the email showed. Both confirmed: it is in force."""
    ag = a.ctx.agreement
    if not ag.latest_version:
        a.stop("no agreement to confirm yet", "agreement/nothing-to-confirm")
        return
    shown = int(a.ctx.ref) if (a.ctx.ref or "").isdigit() else ag.latest_version
    if shown != ag.latest_version:
        a.stop(f"AGREE to version {shown}, but version {ag.latest_version} is the newest", "agreement/stale",
               shown=shown, version=ag.latest_version)
        return
    a.var(version=ag.latest_version, ref=str(ag.latest_version), in_force=ag.active_version)
    if ag.latest_version == ag.active_version:
        a.stop(f"version {shown} is already in force", "agreement/already-in-force", version=shown)
        return
    if a.role in ag.confirmed:
        a.wait()
        return
    both = {a.role, *ag.confirmed} >= {"mentor", "mentee"}
    a.decide(ConfirmAgreement(ag.latest_version, a.role or "", activate=both))
    if not both:
        a.wait()
        return
    new = agreement_facts(ag.latest)
    if new.get("review_date") and new["review_date"] != a.facts.get("review_date"):
        new["review_seq"] = int(a.facts.get("review_seq", -1)) + 1
    if not a.facts.get("agreed_at"):
        new["agreed_at"] = iso(a.now)
    a.set(**new, proposed_review_date=None, proposed_review_by=None)


def _diff(wf, new: dict, old: dict) -> list[dict]:
    fields = wf.forms.get("agreement", ())
    out = []
    for f in fields:
        before, after = _shown(old.get(f.name)), _shown(new.get(f.name))
        if before != after:
            out.append({"label": f.label, "before": before or "(not given)", "after": after or "(not given)"})
    return out


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return Day(value)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        try:
            return Day(dt.date.fromisoformat(value))
        except ValueError:
            return value
    return "" if value is None else " ".join(str(value).split())


# --------------------------------------------------------------------------- meetings


def _moment(a: Act, day: dt.date, time: dt.time | None) -> str:
    if time is None:
        return day.isoformat()
    return iso(dt.datetime.combine(day, time, a.tz))


@action("set-next-meeting")
def _set_next_meeting(a: Act) -> None:
    """NEXT or MOVE <date> [<time>]: the next meeting, sent to both as an invite."""
    day, time = a.args.get("date"), a.args.get("time")
    existing = a.facts.get("next_meeting")
    if day is None and time is None:
        a.stop("no date or time given", "meetings/which-date")
        return
    if day is None:
        if not existing:
            a.stop("a time but no day, and no meeting known", "meetings/which-date")
            return
        day = meeting_day(existing, a.ctx.tz)
    when = _moment(a, day, time)
    if time is not None and dt.datetime.fromisoformat(when) < a.now:
        a.stop("that time has passed", "meetings/which-date", problem=f"{when_text(when, a.ctx.tz)} has passed")
        return
    if existing == when:
        a.stop("that meeting is already known", "meetings/already-known", meeting=when_text(when, a.ctx.tz))
        return
    n = int(a.facts.get("meeting_n", 0))
    if existing:
        seq = int(a.facts.get("meeting_seq", 0)) + 1
    else:
        n, seq = n + 1, 0
    a.set(next_meeting=when, meeting_n=n, meeting_seq=seq, cancelled_meeting=None)
    a.var(meeting_at=when, moved_from=existing or "", moved=bool(existing))


@action("log-meeting")
def _log_meeting(a: Act) -> None:
    """MET [<date>] [<minutes>]: a meeting happened."""
    day = a.args.get("past-date") or a.today
    minutes = a.args.get("minutes") or a.facts.get("meeting_minutes")
    a.decide(LogMeeting(day, minutes))
    a.set(meetings=int(a.facts.get("meetings", 0)) + 1, minutes=int(a.facts.get("minutes", 0)) + int(minutes or 0),
          last_meeting=day.isoformat(), last_checkin=iso(a.now))
    a.unflag("silent")
    planned = a.facts.get("next_meeting")
    if planned and meeting_day(planned, a.ctx.tz) <= day:
        a.set(next_meeting=None)
    a.var(met_on=Day(day), met_minutes=minutes or "")


@action("record-checkin")
def _record_checkin(a: Act) -> None:
    """The check-in form's answers: the next meeting, the private pulse, and how each
    objective is going."""
    fields = a.fields
    a.set(last_checkin=iso(a.now))
    a.unflag("silent")
    if fields.get("pulse") is not None:
        a.decide(KeepPrivate("pulse", {"score": fields["pulse"]}))
    if fields.get("notes"):
        a.decide(KeepPrivate("checkin-note", {"text": str(fields["notes"])}))
    progress = {k.rsplit("_", 1)[1]: v for k, v in fields.items() if k.startswith("progress_") and v is not None}
    if progress:
        a.set(progress={**(a.facts.get("progress") or {}), **progress})
        a.var(progress_given=progress)
    if fields.get("next_meeting"):
        got = read_args(("date", "time?"), str(fields["next_meeting"]), base=a.now, tz=a.ctx.tz)
        if got.ok and "date" in got.values:
            sub = Act(a.wf, None, a.ctx, got.values, a.facts, None, Result(), None)
            _set_next_meeting(sub)
            if sub.result.status == "go":
                a.result.decisions += sub.result.decisions
                a.var(**sub.result.vars)
                # The partner hears of the new meeting at once, with the invite.
                a.decide(Send("meetings/arranged", "partner", invite="meeting", vars=dict(sub.result.vars)))
        else:
            a.var(next_problem="; ".join(got.problems) or "we could not read the date")


@action("checkin-reply")
def _checkin_reply(a: Act) -> None:
    """An answer to a check-in that logs no meeting (NO, or YES still meeting)."""
    a.set(last_checkin=iso(a.now))
    a.unflag("silent")


@action("cancel-meeting")
def _cancel_meeting(a: Act) -> None:
    """CANCEL [<date>]: the partner is told; short notice is counted."""
    day = a.args.get("date")
    planned = a.facts.get("next_meeting")
    late = False
    if planned and (day is None or day == meeting_day(planned, a.ctx.tz)):
        start = meeting_moment(planned, a.ctx.tz)
        notice = a.facts.get("notice_hours", a.setting("default_notice_hours", 24))
        late = (start - a.now) < dt.timedelta(hours=float(notice))
        a.set(next_meeting=None, cancelled_meeting=planned, meeting_seq=int(a.facts.get("meeting_seq", 0)) + 1)
        a.var(cancelled=when_text(planned, a.ctx.tz), cancelled_at=planned)
    elif day is not None:
        a.var(cancelled=Day(day), cancelled_at=day.isoformat())
    else:
        a.var(cancelled="", cancelled_at="")
    a.set(cancellations=int(a.facts.get("cancellations", 0)) + 1)
    a.var(late=late)
    if late:
        count = int(a.facts.get("late_cancellations", 0)) + 1
        a.set(late_cancellations=count)
        if count >= int(a.setting("repeated_cancellations", REPEATED_CANCELLATIONS)) and a.flag("repeated-cancellations"):
            a.decide(Send("lifecycle/flag-coordinators", "coordinators", vars={"flag": "repeated-cancellations",
                                                                              "count": count}))


@action("late")
def _late(a: Act) -> None:
    a.var(late_minutes=a.args.get("minutes", ""))


@action("agenda")
def _agenda(a: Act) -> None:
    """The mentee's agenda items, passed to the mentor (the pair's own conversation)."""
    # The mentee's own words only: no quoted email, sign-off or signature.
    text = ((a.reply.body or a.reply.mail.new_text) if a.reply is not None else "").strip()
    if not text:
        a.stop("no agenda items", "meetings/agenda-empty")
        return
    a.var(agenda=text)


# --------------------------------------------------------------------------- the review


@action("propose-review-date")
def _propose_review(a: Act) -> None:
    day = a.args.get("date")
    if day is None:
        a.stop("no date given", "review/which-date")
        return
    if day.isoformat() == a.facts.get("review_date") and not a.facts.get("proposed_review_date"):
        a.stop("that is already the review date", "review/unchanged", review=Day(day))
        return
    a.set(proposed_review_date=day.isoformat(), proposed_review_by=a.role)
    a.var(proposed=Day(day), current=_shown(a.facts.get("review_date")))


@action("confirm-review-date")
def _confirm_review(a: Act) -> None:
    proposed, by = a.facts.get("proposed_review_date"), a.facts.get("proposed_review_by")
    if not proposed:
        a.stop("no new review date proposed", "review/nothing-to-confirm", current=_shown(a.facts.get("review_date")))
        return
    if by == a.role:
        a.stop("the proposer cannot confirm their own date", "review/waiting-for-partner", proposed=_shown(proposed))
        return
    a.set(review_date=proposed, review_seq=int(a.facts.get("review_seq", 0)) + 1,
          proposed_review_date=None, proposed_review_by=None)
    a.var(review=_shown(proposed))


# --------------------------------------------------------------------------- pauses and endings


@action("pause")
def _pause(a: Act) -> None:
    until = a.args.get("date")
    a.set(resume_state=a.ctx.state, paused_until=until.isoformat() if until else None, paused_by=a.role)
    a.var(paused_until=Day(until) if until else "")


@action("resume")
def _resume(a: Act) -> None:
    a.set(paused_until=None, paused_by=None)


@action("end")
def _end(a: Act) -> None:
    """END [<reason>]: the reason is kept for its writer alone."""
    by = a.param or a.role
    a.set(ended_at=iso(a.now), ended_by=by, end_kind="ended", next_meeting=None)
    text = a.args.get("text")
    if text:
        a.decide(KeepPrivate("end-reason", {"text": text}))
    a.var(reason_given=bool(text))


@action("end-reason")
def _end_reason(a: Act) -> None:
    text = ((a.reply.body or a.reply.mail.new_text) if a.reply is not None else "").strip()
    if not text:
        a.stop("nothing written", None)
        return
    a.decide(KeepPrivate("end-reason", {"text": text}))


@action("exit-feedback")
def _exit_feedback(a: Act) -> None:
    values = a.form_values or a.fields
    a.decide(GiveFeedback("exit", values.get("rating"), str(values.get("comments") or "")))
    if values.get("reason"):
        a.decide(KeepPrivate("end-reason", {"text": str(values["reason"])}))


# --------------------------------------------------------------------------- at any time


@action("feedback")
def _feedback(a: Act) -> None:
    text = a.args.get("text", "")
    if not text:
        a.stop("FEEDBACK with no text", "anytime/feedback-empty")
        return
    a.decide(GiveFeedback("scheme", None, text))


@action("concern")
def _concern(a: Act) -> None:
    """CONCERN <text>: to the coordinators only, deliberately; never to the partner.
    ``concern:NAME`` flags the pair NAME instead (``concern:confidentiality``)."""
    text = a.args.get("text", "")
    if not text:
        a.stop("CONCERN with no text", "anytime/concern-empty")
        return
    a.var(concern_text=text, flag=a.param or "concern")
    if a.ctx.state is not None:
        a.flag(a.param or "concern")


@action("available")
def _available(a: Act) -> None:
    a.decide(SetParticipant({"available": 1}))
    a.var(available=True, capacity=a.ctx.participant.get("capacity") or "")


@action("unavailable")
def _unavailable(a: Act) -> None:
    a.decide(SetParticipant({"available": 0}))
    a.var(available=False)


@action("capacity")
def _capacity(a: Act) -> None:
    n = a.args.get("number")
    if n is None or not 0 <= int(n) <= 50:
        a.stop("capacity out of range", "anytime/capacity-range")
        return
    a.decide(SetParticipant({"capacity": int(n), "available": 1 if int(n) > 0 else 0}))
    a.var(capacity=int(n), available=int(n) > 0)


@action("stop-emails")
def _stop_emails(a: Act) -> None:
    """STOP (the List-Unsubscribe address): the person is paused, and the coordinators see it."""
    a.decide(SetParticipant({"status": "stopped"}))
    if a.ctx.state is not None:
        a.set(resume_state=a.ctx.state, paused_by=a.role)


@action("flag")
def _flag(a: Act) -> None:
    a.flag(a.param or "flag")
    a.var(flag=a.param)


@action("unflag")
def _unflag(a: Act) -> None:
    a.unflag(a.param or "flag")


@action("count")
def _count(a: Act) -> None:
    name = a.param or "count"
    a.set(**{name: int(a.facts.get(name, 0)) + 1})


@action("meeting-ahead")
def _meeting_ahead(a: Act) -> None:
    """Go on only if the pair has a meeting still to come (for the agenda request)."""
    planned = a.facts.get("next_meeting")
    if not planned or meeting_moment(planned, a.ctx.tz) < a.now:
        a.stop("no meeting ahead")
        return
    a.var(meeting_at=planned)


@action("participant")
def _participant(a: Act) -> None:
    """``participant:mentee=looking``: move a member of the pair to one of their own states."""
    role, _, state = (a.param or "").partition("=")
    if role not in ("mentor", "mentee") or not state:
        raise ValueError(f"participant:{a.param}: write participant:mentee=STATE or participant:mentor=STATE")
    a.decide(MoveParticipant(role, state))


# --------------------------------------------------------------------------- choosing a mentor, commitments


@action("request-mentor")
def _request_mentor(a: Act) -> None:
    """REQUEST <number or name>: a mentee asks for a mentor from the directory. Which
    mentor, and whether they can be asked, is worked out against the scheme's data
    when the decision is applied (:mod:`mailflow.matching`)."""
    choice = str(a.args.get("text") or "").strip()
    if not choice:
        a.stop("REQUEST with no number or name", "directory/which")
        return
    a.decide(RequestMentor(choice[:120]))


@action("check-commitment")
def _check_commitment(a: Act) -> None:
    """Did the pair meet as often as the scheme asks (``commitment_meetings`` in each
    ``commitment_period_days``)? Below it: the pair is flagged and the rule goes on
    (its emails tell the coordinators); otherwise the flag is lifted and nothing is sent."""
    need = int(a.setting("commitment_meetings", 0))
    held = int(a.facts.get("meetings", 0))
    count = held - int(a.facts.get("commitment_mark", 0))
    a.set(commitment_mark=held)
    a.var(count=count, flag="below-commitment")
    if count >= need:
        a.unflag("below-commitment")
        a.stop(f"{count} meeting(s) this period: the commitment of {need} is met")
        return
    a.flag("below-commitment")


@action("missed")
def _missed(a: Act) -> None:
    """MISSED [<date>]: the partner did not turn up; they are reminded, gently, and it is counted."""
    day = a.args.get("past-date")
    planned = a.facts.get("next_meeting")
    if planned and meeting_day(planned, a.ctx.tz) <= a.today:
        day = day or meeting_day(planned, a.ctx.tz)
        a.set(next_meeting=None)  # it did not happen: the next one is arranged afresh
    count = int(a.facts.get("missed_meetings", 0)) + 1
    a.set(missed_meetings=count)
    a.var(met_on=Day(day) if day else "")
    limit = a.setting("repeated_missed", 0)
    if limit and count >= int(limit) and a.flag("missed-meetings"):
        a.decide(Send("lifecycle/flag-coordinators", "coordinators", vars={"flag": "missed-meetings", "count": count}))


# --------------------------------------------------------------------------- the welcome


@action("consent")
def _consent(a: Act) -> None:
    """YES to taking part: consent, recorded with its date (``consent:implied`` when the
    scheme has it already and enrolling records it). Profile fields sent with the YES
    are kept too."""
    how = a.param or "reply"
    a.decide(SetParticipant({"consented_at": iso(a.now), "consent": how, "status": "active"}))
    if a.fields:
        a.decide(SaveProfile(dict(a.fields)))
    a.var(consented_on=Day(a.today) if how == "reply" else "", profile_given=bool(a.fields))


@action("profile")
def _profile(a: Act) -> None:
    """The profile form (a mentor's expertise, capacity, availability; the scheme's own
    columns), for the person themselves and for matching."""
    values = dict(a.form_values or a.fields)
    if not values:
        a.stop("no profile fields", None)
        return
    a.decide(SaveProfile(values))
    a.var(profile_given=True, taking_part=a.wf.pairable(a.ctx.state))


@action("withdraw")
def _withdraw(a: Act) -> None:
    """NO to taking part: removed, keeping only what stops them being enrolled again.
    Someone already in a relationship is asked to end it first (END), so that nobody
    is left without a word."""
    if int(a.ctx.participant.get("live_pairs") or 0) > 0:
        a.stop("in a relationship: END it first", "welcome/in-a-pair")
        return
    a.decide(Withdraw())
