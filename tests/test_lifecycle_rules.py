"""The default scheme's lifecycle as pure decisions: replies written as people write
them are read (mailflow.parse) and decided (mailflow.workflow.engine) with no
database, no servers and a fixed clock. Every command is tried at a wrong moment and
by the wrong person."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from mailflow import parse
from mailflow.workflow import engine
from mailflow.workflow.decisions import (ConfirmAgreement, GiveFeedback, KeepPrivate, LogMeeting, ProposeAgreement,
                                         Send, SetFacts, SetParticipant, StartTimer, Transition)
from mailflow.workflow.engine import AgreementView
from mailflow.workflow.loader import ANYTIME, load_workflow, rules_folder

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.timezone.utc)  # a Tuesday


@pytest.fixture(scope="module")
def wf():
    return load_workflow(rules_folder("default"))


def say(wf, text: str, context: str | None, role: str | None, state: str | None, *, facts=None, agreement=None,
        ref: str = "", draft=None, now: dt.datetime = NOW):
    raw = (f"From: someone@example.test\r\nTo: scheme@example.test\r\nSubject: Re: x\r\n"
           f"Date: {format_datetime(now)}\r\nMessage-ID: <m1@example.test>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()
    mail = parse.read(raw, tz="Europe/London")
    reply = parse.understand(mail, engine.expectation(wf, context, draft), now=now, tz="Europe/London",
                             date_order="DMY")
    ctx = engine.ReplyContext(context, role, state, draft=draft or {}, facts=facts or {}, ref=ref,
                              agreement=agreement or AgreementView(), now=now, tz="Europe/London")
    return engine.on_reply(wf, reply, ctx)


def of(out, kind):
    return [d for d in out.decisions if isinstance(d, kind)]


def sends(out) -> list[tuple[str, str]]:
    return [(d.template, d.to) for d in of(out, Send)]


def facts(out) -> dict:
    merged: dict = {}
    for d in of(out, SetFacts):
        merged.update(d.values)
    return merged


def goto(out) -> str | None:
    moves = of(out, Transition)
    return moves[-1].to if moves else None


# --------------------------------------------------------------------------- reading commands


@pytest.mark.parametrize("text, command", [
    ("Happy to help!", "accept"),                 # "help" is HELP only when nothing of the email's own is there
    ("Yes, happy to help", "accept"),
    ("Sorry, I can't help at the moment", "decline"),
    ("HELP", "help"),
    ("Please pause until 1 June, I'm on leave", "pause"),
    ("At the end of the day I think yes", "accept"),
])
def test_an_emails_own_commands_come_before_the_anytime_ones(wf, text, command):
    out = say(wf, text, "introduction", "mentor", "introduced")
    assert out.rule_hits and out.rule_hits[0].split(":")[1].startswith(command), (out.reason, out.rule_hits)


@pytest.mark.parametrize("text", [
    "At the end of our meeting we agreed to look at my CV",
    "Sorry for the late reply",
    "I had to cancel plans last week, but all good",
])
def test_an_anytime_word_inside_a_sentence_is_not_a_command(wf, text):
    out = say(wf, text, "checkin", "mentee", "checkin-due")
    assert goto(out) is None and not facts(out)
    assert sends(out) == [("notes/clarify", "sender")]


def test_a_form_wins_over_an_anytime_word_in_a_label(wf):
    out = say(wf, "End: after twelve months\nLocation: Teams", "agreement", "mentee", "agreeing")
    assert not any(t.startswith("ending/") for t, _ in sends(out))
    assert sends(out)[0] == ("notes/form-incomplete", "sender")


# --------------------------------------------------------------------------- the introduction


def test_introduction_lapses_with_three_notices(wf):
    timer = wf.timer("introduction-expired")
    out = engine.on_timer(wf, timer, "introduced", {}, NOW)
    assert goto(out) == "expired" and facts(out)["end_kind"] == "expired"
    assert sends(out) == [("introduction/expired-mentee", "mentee"), ("introduction/expired-mentor", "mentor"),
                          ("introduction/expired-coordinator", "coordinators")]
    assert engine.on_timer(wf, timer, "getting-to-know", {}, NOW).status == "ignored"


# --------------------------------------------------------------------------- getting to know each other


def test_met_after_accepting_asks_both_whether_to_go_on(wf):
    out = say(wf, "MET yesterday", None, "mentee", "getting-to-know")
    assert goto(out) == "deciding" and facts(out)["first_meeting"] == "2026-03-09"
    assert sends(out) == [("getting-to-know/decide", "both")]


def test_both_yes_leads_to_the_agreement(wf):
    first = say(wf, "Yes, I'd like to continue", "decision", "mentee", "deciding")
    assert goto(first) is None and facts(first)["votes"] == {"decision:yes": {"mentee": "yes"}}
    assert sends(first) == [("getting-to-know/yes-waiting", "sender")]
    again = say(wf, "YES", "decision", "mentee", "deciding", facts=facts(first))
    assert goto(again) is None, "the same person twice is still one answer"
    second = say(wf, "yes", "decision", "mentor", "deciding", facts=facts(first))
    assert goto(second) == "agreeing"
    assert sends(second) == [("agreement/start-mentee", "mentee"), ("agreement/start-mentor", "mentor")]


def test_no_is_not_a_good_fit_and_nobody_hears_why(wf):
    out = say(wf, "No - I don't think our areas overlap enough", "decision", "mentor", "deciding")
    assert goto(out) == "not-a-good-fit"
    assert sends(out) == [("getting-to-know/no-sender", "sender"), ("getting-to-know/no-partner", "partner"),
                          ("getting-to-know/ended-early-coordinator", "coordinators")]
    assert "overlap" not in repr(out.decisions)


def test_not_yet_asks_that_person_again_later(wf):
    out = say(wf, "Not sure yet", "decision", "mentee", "deciding")
    assert goto(out) is None and of(out, StartTimer) == [StartTimer("decision-ask-again")]
    timer = wf.timer("decision-ask-again")
    assert timer.manual
    assert engine.on_timer(wf, timer, "deciding", {}, NOW, "mentee").status == "processed"
    voted = {"votes": {"decision:yes": {"mentee": "yes"}}}
    assert engine.on_timer(wf, timer, "deciding", voted, NOW, "mentee").status == "ignored", \
        "someone who answered YES since is not asked again"


def test_the_decision_reminder_goes_only_to_who_has_not_answered(wf):
    out = engine.on_timer(wf, wf.timer("decision-reminder"), "deciding", {}, NOW)
    assert sends(out) == [("getting-to-know/decide-reminder", "unvoted")]


# --------------------------------------------------------------------------- the agreement

FORM = ("Location: Teams, or the library when on site\nFrequency: every six weeks\nMeeting length: 45 minutes\n"
        "Duration: 12 months\nCancellations: at least 24 hours notice by email\n"
        "Objectives:\n1. Submit a grant application\n2. Present at the regional meeting\n"
        "Review date: 3 September 2026")


def test_the_mentees_complete_form_is_version_1_confirmed_by_them(wf):
    out = say(wf, FORM, "agreement", "mentee", "agreeing")
    [proposal] = of(out, ProposeAgreement)
    assert proposal.version == 1 and proposal.by == "mentee"
    assert proposal.values["frequency"] == "every six weeks"
    assert sends(out) == [("agreement/proposed", "partner"), ("agreement/sent", "sender")]
    assert [d.ref for d in of(out, Send)] == ["1", "1"], "the emails carry the version they show"
    assert goto(out) is None


def test_agree_by_the_other_puts_the_version_in_force(wf):
    values = dict(say(wf, FORM, "agreement", "mentee", "agreeing").decisions[1].values)
    pending = AgreementView(latest_version=1, latest=values, latest_by="mentee", confirmed=("mentee",))
    out = say(wf, "Agreed, looks good", "agreement-confirm", "mentor", "agreeing", agreement=pending, ref="1")
    assert of(out, ConfirmAgreement) == [ConfirmAgreement(1, "mentor", activate=True)]
    f = facts(out)
    assert f["review_date"] == "2026-09-03" and f["interval_days"] == 42 and f["notice_hours"] == 24
    assert f["meeting_minutes"] == 45
    assert goto(out) == "active"
    assert ("agreement/agreed", "both") in sends(out) and ("agreement/agreed-coordinator", "coordinators") in sends(out)
    [agreed] = [d for d in of(out, Send) if d.template == "agreement/agreed"]
    assert agreed.invite == "review"


def test_agree_to_an_old_version_or_by_the_proposer_changes_nothing(wf):
    pending = AgreementView(active_version=1, active={"frequency": "monthly"}, latest_version=2,
                            latest={"frequency": "weekly"}, latest_by="mentor", confirmed=("mentor",))
    stale = say(wf, "AGREE", "agreement-confirm", "mentee", "active", agreement=pending, ref="1")
    assert not of(stale, ConfirmAgreement) and sends(stale) == [("agreement/stale", "sender")]
    own = say(wf, "AGREE", "agreement-confirm", "mentor", "active", agreement=pending, ref="2")
    assert not of(own, ConfirmAgreement) and sends(own) == [("agreement/waiting", "sender")]


def test_a_change_later_is_a_new_version_showing_what_changed(wf):
    values = dict(say(wf, FORM, "agreement", "mentee", "agreeing").decisions[1].values)
    in_force = AgreementView(active_version=1, active=values, latest_version=1, latest=values, latest_by="mentee",
                             confirmed=("mentee", "mentor"))
    changed = FORM.replace("every six weeks", "monthly")
    out = say(wf, changed, "agreement-confirm", "mentor", "active", agreement=in_force, ref="1")
    [proposal] = of(out, ProposeAgreement)
    assert proposal.version == 2 and proposal.by == "mentor"
    [to_partner] = [d for d in of(out, Send) if d.to == "partner"]
    assert to_partner.vars["diff"] == [{"label": "Frequency", "before": "every six weeks", "after": "monthly"}]
    assert to_partner.vars["in_force"] == 1
    assert goto(out) is None, "version 1 stays in force until both confirm version 2"


def test_an_unreadable_frequency_is_asked_again(wf):
    out = say(wf, FORM.replace("every six weeks", "whenever suits"), "agreement", "mentee", "agreeing")
    assert not of(out, ProposeAgreement)
    [note] = of(out, Send)
    assert note.template == "notes/form-incomplete"
    assert [i["label"] for i in note.vars["invalid"]] == ["Frequency"]


def test_more_than_three_objectives_are_asked_again(wf):
    out = say(wf, FORM.replace("2. Present", "2. A\n3. B\n4. C\n5. Present"), "agreement", "mentee", "agreeing")
    [note] = of(out, Send)
    assert note.template == "notes/form-incomplete" and note.vars["invalid"][0]["label"] == "Objectives"


# --------------------------------------------------------------------------- meetings and check-ins

RUNNING = {"interval_days": 30, "notice_hours": 24, "meeting_minutes": 45, "review_date": "2026-09-03"}


def test_met_with_a_date_and_minutes_and_the_checkin_form(wf):
    text = "MET 3 March 50\nNext meeting: 7 April 14:00\nPulse: 4\nObjective 1: 3\n2: 5"
    out = say(wf, text, "checkin", "mentee", "checkin-due", facts=RUNNING)
    assert of(out, LogMeeting) == [LogMeeting(dt.date(2026, 3, 3), 50)]
    f = facts(out)
    assert f["meetings"] == 1 and f["minutes"] == 50 and f["last_meeting"] == "2026-03-03"
    assert f["progress"] == {"1": 3, "2": 5}
    assert f["next_meeting"] == "2026-04-07T13:00:00+00:00", "14:00 in London in April is 13:00 UTC"
    assert of(out, KeepPrivate) == [KeepPrivate("pulse", {"score": 4})]
    assert goto(out) == "active"
    assert "Pulse" not in repr([d.vars for d in of(out, Send)])


def test_met_without_minutes_counts_the_agreed_length(wf):
    out = say(wf, "We met today", "checkin", "mentee", "checkin-due", facts=RUNNING)
    assert of(out, LogMeeting) == [LogMeeting(dt.date(2026, 3, 10), 45)]


def test_a_pulse_out_of_range_is_asked_again(wf):
    out = say(wf, "Pulse: 9", "checkin", "mentee", "checkin-due", facts=RUNNING)
    [note] = of(out, Send)
    assert note.template == "notes/form-incomplete" and note.vars["invalid"][0]["label"] == "Pulse"


def test_met_with_a_date_that_has_not_come_gets_a_clear_answer(wf):
    out = say(wf, "MET 20 March", "checkin", "mentee", "checkin-due", facts=RUNNING)
    assert not of(out, LogMeeting)
    [note] = of(out, Send)
    assert note.template == "notes/bad-arguments" and "has not happened yet" in note.vars["problems"][0]


def test_next_meeting_then_a_late_cancellation_is_counted_and_repeated_ones_flagged(wf):
    out = say(wf, "NEXT 11 March 10:00", None, "mentor", "active", facts=RUNNING)
    f = {**RUNNING, **facts(out)}
    assert f["next_meeting"] == "2026-03-11T10:00:00+00:00" and f["meeting_n"] == 1 and f["meeting_seq"] == 0
    assert [(d.template, d.to, d.invite) for d in of(out, Send)] == [
        ("meetings/arranged", "partner", "meeting"), ("meetings/arranged-sender", "sender", "meeting")]
    moved = say(wf, "MOVE 11 March 15:30", None, "mentee", "active", facts=f)
    f = {**f, **facts(moved)}
    assert f["meeting_n"] == 1 and f["meeting_seq"] == 1, "a move is the same event, one sequence later"
    late = say(wf, "Cancel - so sorry", None, "mentee", "active", facts=f,
               now=dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.timezone.utc))
    f2 = facts(late)
    assert f2["late_cancellations"] == 1 and "next_meeting" not in {k for k, v in f2.items() if v}
    assert [(d.template, d.invite) for d in of(late, Send)][:2] == [
        ("meetings/cancelled", "meeting-cancel"), ("meetings/cancelled-sender", "meeting-cancel")]
    f = {**f, **f2, "next_meeting": "2026-03-20T10:00:00+00:00"}
    again = say(wf, "CANCEL", None, "mentor", "active", facts=f,
                now=dt.datetime(2026, 3, 20, 8, 0, tzinfo=dt.timezone.utc))
    assert "repeated-cancellations" in facts(again)["flags"]
    assert ("lifecycle/flag-coordinators", "coordinators") in sends(again)


def test_late_tells_the_partner_at_once(wf):
    out = say(wf, "Running late, 10 minutes", "checkin", "mentee", "active", facts=RUNNING)
    assert sends(out) == [("meetings/late", "partner"), ("meetings/late-sender", "sender")]
    assert of(out, Send)[0].vars["late_minutes"] == 10


def test_the_agenda_goes_to_the_mentor_only(wf):
    out = say(wf, "1. My grant application\n2. Finding a fellowship", "agenda", "mentee", "active", facts=RUNNING)
    assert sends(out) == [("meetings/agenda-to-mentor", "mentor"), ("meetings/agenda-thanks", "sender")]
    assert "fellowship" in of(out, Send)[0].vars["agenda"]


def test_the_silence_ladder(wf):
    names = ["checkin-reminder", "still-meeting", "silent"]
    outs = [engine.on_timer(wf, wf.timer(n), "checkin-due", RUNNING, NOW) for n in names]
    assert [sends(o) for o in outs] == [[("meetings/checkin-reminder", "mentee")],
                                        [("meetings/still-meeting", "both")],
                                        [("lifecycle/flag-coordinators", "coordinators")]]
    assert facts(outs[2])["flags"] == ["silent"]
    back = say(wf, "Yes we are", "still-meeting", "mentor", "checkin-due", facts={**RUNNING, "flags": ["silent"]})
    assert goto(back) == "active" and facts(back)["flags"] == []


# --------------------------------------------------------------------------- the review


def test_moving_the_review_needs_the_other_to_confirm(wf):
    out = say(wf, "MOVE 17 September", "review-notice", "mentee", "active", facts=RUNNING)
    f = {**RUNNING, **facts(out)}
    assert f["proposed_review_date"] == "2026-09-17" and f["review_date"] == "2026-09-03"
    assert sends(out) == [("review/move-proposed", "partner"), ("review/move-sent", "sender")]
    own = say(wf, "CONFIRM", "review-move", "mentee", "active", facts=f)
    assert "review_date" not in facts(own) and sends(own) == [("review/waiting-for-partner", "sender")]
    counter = say(wf, "24 September", "review-move", "mentor", "active", facts=f)
    assert facts(counter)["proposed_review_date"] == "2026-09-24", "a bare date is another proposal"
    yes = say(wf, "Confirm", "review-move", "mentor", "active", facts=f)
    assert facts(yes)["review_date"] == "2026-09-17" and facts(yes)["proposed_review_date"] is None
    [(template, to)] = sends(yes)
    assert (template, to) == ("review/move-confirmed", "both") and of(yes, Send)[0].invite == "review"


def test_at_the_review_both_continue_then_renew(wf):
    due = engine.on_timer(wf, wf.timer("review-due"), "active", RUNNING, NOW)
    assert goto(due) == "reviewing" and sends(due) == [("review/now", "both")]
    first = say(wf, "Continue", "review", "mentor", "reviewing", facts=RUNNING)
    assert goto(first) is None
    second = say(wf, "Yes - let's carry on", "review", "mentee", "reviewing", facts={**RUNNING, **facts(first)})
    assert goto(second) == "renewing"
    end = say(wf, "END", "review", "mentee", "reviewing", facts=RUNNING)
    assert goto(end) == "ended"


# --------------------------------------------------------------------------- at any time


def test_end_keeps_the_reason_for_its_writer_alone(wf):
    out = say(wf, "END - my new job leaves no time, and honestly we never clicked", "checkin", "mentee", "active",
              facts=RUNNING)
    assert goto(out) == "ended" and facts(out)["ended_by"] == "mentee"
    assert of(out, KeepPrivate) == [KeepPrivate("end-reason", {"text": "my new job leaves no time, and honestly we "
                                                                      "never clicked"})]
    assert sends(out) == [("ending/you-ended", "sender"), ("ending/partner-ended", "partner"),
                          ("ending/ended-coordinator", "coordinators"), ("ending/record", "both")]
    assert "clicked" not in repr([d.vars for d in of(out, Send)])


def test_pause_until_a_date_and_resume(wf):
    out = say(wf, "Please pause until 1 June", "checkin", "mentee", "checkin-due", facts=RUNNING)
    assert goto(out) == "paused"
    f = {**RUNNING, **facts(out)}
    assert f["resume_state"] == "checkin-due" and f["paused_until"] == "2026-06-01"
    back = say(wf, "Resume", None, "mentor", "paused", facts=f)
    assert goto(back) == "checkin-due"
    timed = engine.on_timer(wf, wf.timer("resume"), "paused", f, NOW)
    assert goto(timed) == "checkin-due" and sends(timed) == [("lifecycle/resumed", "both")]


def test_concern_goes_to_the_coordinators_only_and_says_so(wf):
    out = say(wf, "CONCERN my mentor keeps asking to meet in a bar", "checkin", "mentee", "active", facts=RUNNING)
    assert sends(out) == [("anytime/concern-coordinator", "coordinators"), ("anytime/concern-received", "sender")]
    assert of(out, Send)[0].vars["concern_text"] == "my mentor keeps asking to meet in a bar"
    assert "concern" in facts(out)["flags"]
    assert all(d.to != "partner" for d in of(out, Send))


def test_feedback_help_availability_and_capacity(wf):
    fb = say(wf, "FEEDBACK the reminders are very helpful", None, "mentee", None)
    assert of(fb, GiveFeedback) == [GiveFeedback("scheme", None, "the reminders are very helpful")]
    assert sends(say(wf, "help", None, "mentee", None)) == [("anytime/help", "sender")]
    cap = say(wf, "CAPACITY 2", None, "mentor", None)
    assert of(cap, SetParticipant) == [SetParticipant({"capacity": 2, "available": 1})]
    off = say(wf, "Unavailable", None, "mentor", "ended")
    assert of(off, SetParticipant) == [SetParticipant({"available": 0})]


# --------------------------------------------------------------------------- wrong moment, wrong person


def _commands(wf):
    for name, spec in wf.replies.items():
        if name == "coordinator":
            continue
        for command in spec.commands:
            yield name, command


EXAMPLES = {"met": "MET yesterday", "next": "NEXT 20 March 10:00", "move": "MOVE 20 March",
            "cancel": "CANCEL", "late": "LATE 5", "pause": "PAUSE", "end": "END", "concern": "CONCERN text",
            "feedback": "FEEDBACK text", "capacity": "CAPACITY 2", "not-yet": "not yet", "items": "AGENDA my CV"}


@pytest.mark.parametrize("context, command", list(_commands(load_workflow(rules_folder("default")))))
def test_every_command_at_a_wrong_moment_changes_nothing(wf, context, command):
    rules = [r for r in wf.rules if r.command == command and (context in r.reply or ANYTIME in r.reply)]
    states = set(wf.states) | {"unpaired"}
    allowed = {s for r in rules for s in r.states}
    if "unpaired" in allowed:  # a rule for no pair also applies in a person's own states (the welcome)
        allowed |= {s for s, spec in wf.states.items() if spec.scope == "participant"}
    wrong = sorted(states - allowed)
    if not wrong:
        pytest.fail(f"{context}:{command} applies in every state; no wrong moment to test") \
            if command not in ("help", "concern", "feedback", "available", "unavailable", "capacity",
                               "items", "none", "stop", "export") else None
        return
    state = wrong[0]
    role = next(iter(r for rule in rules for r in (rule.roles or ("mentee", "mentor"))), "mentee")
    if role not in wf.replies[context].roles:
        role = wf.replies[context].roles[0]
    text = EXAMPLES.get(command, wf.replies[context].commands[command][0])
    out = say(wf, text, None if context == ANYTIME else context, role, None if state == "unpaired" else state,
              facts=RUNNING)
    assert out.status == "ignored", (state, out.reason)
    assert not of(out, Transition) and not of(out, SetFacts) and not of(out, ProposeAgreement)
    assert [d.to for d in of(out, Send)] == ["sender"], out.decisions


@pytest.mark.parametrize("context, command, state, role", [
    ("introduction", "accept", "introduced", "mentee"),
    ("introduction", "decline", "introduced", "mentee"),
    ("anytime", "available", "active", "mentee"),
    ("anytime", "unavailable", "active", "mentee"),
    ("anytime", "capacity", "active", "mentee"),
    ("agenda", "items", "active", "mentor"),
    ("agenda", "none", "active", "mentor"),
    ("after-end", "available", "ended", "mentee"),
    ("after-end", "unavailable", "ended", "mentee"),
])
def test_a_command_from_the_wrong_person_changes_nothing(wf, context, command, state, role):
    text = EXAMPLES.get(command, wf.replies[context].commands[command][0])
    out = say(wf, text, None if context == ANYTIME else context, role, state, facts=RUNNING)
    assert out.status == "ignored" and "wrong-role" in out.reason
    assert sends(out) == [("notes/not-yours", "sender")]
    assert not of(out, Transition) and not of(out, SetFacts) and not of(out, SetParticipant)
