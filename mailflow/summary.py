"""The coordinators' weekly summary: one email, and they act by replying to it.

When: ``[summary] day`` and ``time`` in the scheme's time zone (default Monday
08:00). :func:`send_if_due` runs in every ``run-once`` cycle and every minute in
``serve`` (the scheduler's tick): the week's summary is queued once, in the same
transaction as a row in ``summaries`` keyed by the local day it was due, so
restarts, two processes, downtime (a late summary, never two) and daylight saving
(the local time is kept) all give one summary a week. The first time mailflow runs
it only notes the week; the first summary goes at the next scheduled time.

What (:func:`build`), from the same data as ``mailflow status`` (states, dates,
counts, flags) and nothing else:

* pairs by state, and the change since a week ago (replayed from the event log);
* what needs a coordinator now, each line with the command that acts on it:
  introductions unanswered, and every flag the rules set on a pair (decisions and
  agreements overdue, silent, below frequency, repeated cancellations, a concern,
  a review overdue; a flag the summary does not know is shown by its name), people
  whose email bounces, who asked us to stop, who are restricted but still paired
  (and any other status or participant flag), replies nobody could understand, and
  quarantined mail;
* reviews in the next 14 days, endings and new pairs this week;
* mentors' capacity: who has room, who is full, unavailable or cannot be paired,
  and mentees waiting for a mentor;
* feedback to the scheme: ratings as counts; comments only once at least three
  people have written some (sorted, without names), otherwise held back;
* the CSV of all pairs, attached (:func:`mailflow.export.pairs_csv`).

Never the words of a reply, a reason, a pulse, a note or an agenda: the data read
here holds none of them, and feedback text only in groups of three or more.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections import Counter
from typing import Any

from .clock import iso, parse_iso
from .parse.dates import display as display_date
from .render import mailto, reply_subject
from .status import pair_view
from .workflow.apply import Subject
from .workflow.decisions import Record, Send

WEEK = dt.timedelta(days=7)
REVIEW_DAYS = 14  # reviews due within this many days are listed
FEEDBACK_GROUP = 3  # comments are shown only once this many people have written some
# Lines shown in each list of the email: a long summary is cut by Gmail (from 102 kB of
# HTML) and read by nobody. The rest are counted, and the attached CSV lists every
# pair. With every list full the HTML stays under about 95 kB (bench_summary.py).
LIMITS = {"needs": 20, "reviews": 12, "changes": 12, "mentor_rows": 12, "waiting": 12}
TEMPLATE = "coordinators/summary"
CONTEXT = "coordinator"  # the reply context of coordinators' emails (see mailflow/coordinate.py)

# What a flag on a pair means, for the coordinators. {label} is "Pair 3 (Sam Lee with
# Dr Ada Byron)"; {days} the days since the pair entered its state. A flag not listed
# here is shown by its name: new rules' flags appear without changing this module.
FLAGS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "decision-overdue": ("{label}: asked {days} days ago whether to go on after getting to know each other, "
                         "and they have not both answered.", (("NUDGE", "remind them"), ("CLOSE", "end it"))),
    "agreement-overdue": ("{label}: decided to go on {days} days ago, and have not yet confirmed a mentoring "
                          "agreement.", (("NUDGE", "remind them"), ("CLOSE", "end it"))),
    "silent": ("{label}: the check-in sent {since} has not been answered by either of them{last}.",
               (("NUDGE", "ask them again"), ("STATUS", "see their dates"))),
    "below-frequency": ("{label}: meeting less often than they agreed: {meetings} meetings since "
                        "{agreed}, agreed every {interval} days.", (("NUDGE", "remind them"),)),
    "repeated-cancellations": ("{label}: {late} meetings cancelled at shorter notice than they agreed.",
                               (("NUDGE", "check in with them"), ("STATUS", "see their dates"))),
    "concern": ("{label}: a concern was raised{on}. What was written went to you in a separate email.",
                (("STATUS", "see their dates"), ("CLOSE", "end the pair, if you need to"))),
    "review-overdue": ("{label}: their review date{review} has passed and they have not yet both decided and "
                       "renewed.", (("NUDGE", "remind them"),)),
}
# Flags about a person (set by the participants' own workflow), and statuses.
PERSON_FLAGS = {
    "onboarding-overdue": "past the onboarding window, and not yet ready to be paired",
    "past-onboarding-window": "past the onboarding window, and not yet ready to be paired",
    "recheck-due": "registration due for a re-check",
    "registration-recheck": "registration due for a re-check",
}
SKIP_STATUSES = ("active", "erased")
# The order of "needs you now": the most serious first (a list too long for the email
# is cut at the end). Kinds not named here come after these, and introductions last.
PRIORITY = ("flag:concern", "concern", "restricted", "bounce", "quarantined", "flag:silent", "flag:review-overdue",
            "flag:agreement-overdue", "flag:decision-overdue", "flag:repeated-cancellations", "flag:below-frequency",
            "stopped", "unclear")


def _rank(item: dict) -> int:
    if item["kind"] in PRIORITY:
        return PRIORITY.index(item["kind"])
    return len(PRIORITY) + (item["kind"] == "introduction")
MENTOR_GROUPS = (("room", "Room"), ("full", "Full"), ("unavailable", "Unavailable"), ("cannot", "Cannot be paired"))


# --------------------------------------------------------------------------- when


def scheduled(config, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """The local day and the moment (aware) of the latest scheduled summary at or before ``now``."""
    tz = zoneinfo.ZoneInfo(config.scheme.timezone)
    cfg = config.summary
    local = now.astimezone(tz)
    day = local.date() - dt.timedelta(days=(local.weekday() - cfg.weekday) % 7)
    due = dt.datetime.combine(day, cfg.at, tz)
    if due > now:
        day -= WEEK
        due = dt.datetime.combine(day, cfg.at, tz)
    return day, due


def send_if_due(service) -> int:
    """Queue this week's summary if it is due and not yet queued. Returns 0 or 1."""
    config = service.config
    if not config.summary.enabled or not config.scheme.coordinators:
        return 0
    now = service.clock.now()
    day, _due = scheduled(config, now)
    key = f"week:{day.isoformat()}"
    store = service.store
    if store.scalar("SELECT 1 FROM summaries WHERE key = ?", (key,)):
        return 0  # the common case, every minute: one read, no write lock
    with store.transaction():
        if store.scalar("SELECT 1 FROM summaries WHERE key = ?", (key,)):
            return 0  # another process queued it first
        if not store.scalar("SELECT 1 FROM summaries WHERE kind IN ('weekly', 'start')"):
            # The first time: note the week. The first summary goes at the next scheduled time.
            store.insert("summaries", {"key": key, "kind": "start", "week": day.isoformat(), "at": iso(now)})
            return 0
        queue(service, "coordinators", key=key, kind="weekly", week=day, now=now)
    return 1


def queue(service, to: str, *, key: str, kind: str, week: dt.date, now: dt.datetime,
          subject: Subject | None = None) -> list[int]:
    """Queue a summary (``to`` is ``coordinators``, or ``sender`` with ``subject``) and
    record it. Only the weekly one marks the feedback comments it shows as shown."""
    data = build(service, now)
    subject = subject or Subject()
    subject.key = f"summary:{key}"
    ids = service.applier.apply(
        [Send(TEMPLATE, to, CONTEXT, vars=email_vars(data), exempt=True, attach="pairs-csv"),
         Record("summary", {"summary": kind, "needs": len(data["needs"]), "pairs": data["totals"]["pairs"]})],
        subject, now)
    shown = data["feedback"]["texts"] and kind == "weekly"
    service.store.insert("summaries", {"key": key, "kind": kind, "week": week.isoformat(), "at": iso(now),
                                       "recipients": len(ids), "feedback_until": iso(now) if shown else None})
    return ids


def email_vars(data: dict[str, Any]) -> dict[str, Any]:
    """The template variables of a summary email (the commands make its buttons)."""
    from .coordinate import commands_var

    return {"summary": data, "commands": commands_var(), "expects_reply": True, "mailto": mailto,
            "reply_subject_of": reply_subject}


def write_preview(service, out, now: dt.datetime) -> list:
    """``mailflow summary --preview``: the summary as the first coordinator would get it,
    as ``summary.txt`` (the text part as sent), ``summary.html`` and the CSV, in ``out``.
    Nothing is queued or sent."""
    from pathlib import Path

    from .export import pairs_csv
    from .render import flowed

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = build(service, now)
    [r] = service.applier.recipients(Subject(), "coordinators")[:1] or [None]
    if r is None:
        from .errors import ConfigError

        raise ConfigError("[scheme] coordinators is empty: there is nobody to write the summary to")
    ctx = {**service.applier.context(Subject(), now, CONTEXT, for_coordinators=True, recipient=r),
           **email_vars(data), "recipient": r, "scheme": service.config.scheme,
           "reply_address": service.config.scheme.address}
    rendered = service.renderer.render(TEMPLATE, ctx)
    paths = [out / "summary.txt", out / "summary.html", out / data["csv"]]
    paths[0].write_text(f"Subject: {rendered.subject}\n\n{flowed(rendered.text)}", encoding="utf-8")
    paths[1].write_text(rendered.html, encoding="utf-8")
    paths[2].write_bytes(pairs_csv(service, now))
    return paths


def sample() -> dict[str, Any]:
    """A summary with one line of each section, for ``mailflow check`` to render."""
    item = _item("Pair 3 (Sam Lee with Dr Ada Byron): the introduction has had no answer for 9 days.",
                 ("NUDGE 3", "remind the mentor"), cli=("mailflow replay 5", "after fixing the cause"))
    return {
        "scheme": "Sample Scheme", "today": "Monday 9 March 2026", "as_of": "Monday 9 March 2026 at 08:00",
        "week_from": "Monday 2 March 2026", "totals": {"pairs": 2, "live": 1, "new": 1, "ended": 1, "needs": 1},
        "needs_sentence": "1 thing needs you now.",
        "states": [{"name": "introduced", "label": "Introduced", "count": 1, "before": 0, "change": 1,
                    "change_short": "+1", "change_text": "up 1", "final": False, "percent": 100},
                   {"name": "ended", "label": "Ended", "count": 1, "before": 1, "change": 0, "change_short": "=",
                    "change_text": "no change", "final": True, "percent": 100}],
        "needs": [item], "reviews": [{"text": "Pair 2: review on Tuesday 17 March 2026.", "date": "2026-03-17"}],
        "more": {"needs": 0, "reviews": 0, "changes": 0, "mentor_rows": 2, "waiting": 0},
        "changes": [{"tag": "New", "text": "Pair 3: paired Monday 2 March 2026, now introduced."}],
        "mentors": {"room": [{"number": 2, "name": "Dr Ada Byron", "text": "Dr Ada Byron (#2): room for 1 more."}],
                    "full": [], "unavailable": [], "cannot": []},
        "mentor_rows": [{"number": 2, "tag": "Room", "text": "Dr Ada Byron (#2): room for 1 more."}],
        "waiting": [{"number": 7, "text": "Kim Lee (#7), waiting since Monday 2 March 2026."}],
        "example_pair": "PAIR #7 #2",
        "feedback": {"ratings": [{"tag": "Rated 5", "count": 1, "text": "1 person"}], "rated": 1, "comments": 3,
                     "people": 3, "texts": ["More evening slots"], "held_back": 0, "group": FEEDBACK_GROUP},
        "csv": "pairs-2026-03-09.csv",
    }


# --------------------------------------------------------------------------- what


def build(service, now: dt.datetime) -> dict[str, Any]:
    """The summary as data: every line's words are made here, so the text and HTML
    parts say the same thing."""
    store, wf = service.store, service.workflow
    tz = zoneinfo.ZoneInfo(service.config.scheme.timezone)
    today = now.astimezone(tz).date()
    since = now - WEEK
    pairs = store.pairs()
    views = {p["id"]: pair_view(service, p, now) for p in pairs}
    final = {s for s, spec in wf.states.items() if spec.final}
    live = [p for p in pairs if p["state"] not in final]
    ctx = _Ctx(service, now, tz, today, views)

    states = _states(wf, pairs, _states_at(store, since), final)
    ended = _changes_into(store, since, now, final)
    new = [p for p in pairs if p["created_at"] >= iso(since)]
    needs = sorted(_introductions(ctx, live) + _pair_flags(ctx, live) + _concerns(ctx, since) + _people(ctx, live)
                   + _mail(ctx, since), key=_rank)
    mentors, waiting = _capacity(ctx, live)
    data = {
        "scheme": service.config.scheme.name,
        "today": display_date(today),
        "as_of": f"{display_date(today)} at {now.astimezone(tz):%H:%M}",
        "week_from": display_date((now - WEEK).astimezone(tz).date()),
        "totals": {"pairs": len(pairs), "live": len(live), "new": len(new), "ended": len(ended),
                   "needs": 0},
        "states": states,
        "needs": needs,
        "reviews": _reviews(ctx, live),
        "changes": ([{"tag": "New", "text": f"{ctx.label(p)}: paired {ctx.day(p['created_at'])}, now "
                                            f"{_state_label(p['state']).lower()}."} for p in new]
                    + [{"tag": "Ended", "text": f"{ctx.label(p)}: {_state_label(p['state']).lower()}, "
                                                f"{ctx.day(at)}."} for p, at in ended]),
        "mentors": mentors,
        "mentor_rows": [{**m, "tag": title} for group, title in MENTOR_GROUPS for m in mentors[group]],
        "waiting": waiting,
        "example_pair": (f"PAIR #{waiting[0]['number']} #{mentors['room'][0]['number']}"
                         if waiting and mentors["room"] else ""),
        "feedback": _feedback(store, now),
        "csv": f"pairs-{today.isoformat()}.csv",
    }
    data["totals"]["needs"] = len(needs)
    data["more"] = {}
    for name, limit in LIMITS.items():
        data["more"][name] = max(len(data[name]) - limit, 0)
        data[name] = data[name][:limit]
    data["needs_sentence"] = (f"{len(needs)} {'thing needs' if len(needs) == 1 else 'things need'} you now."
                              if needs else "Nothing needs you now.")
    return data


class _Ctx:
    """What the line makers share."""

    def __init__(self, service, now, tz, today, views):
        self.service, self.store, self.wf = service, service.store, service.workflow
        self.now, self.tz, self.today, self.views = now, tz, today, views
        self.settings = service.workflow.settings

    def label(self, p: dict) -> str:
        return f"Pair {p['id']} ({p['mentee_name']} with {p['mentor_name']})"

    def day(self, when: str | None) -> str:
        if not when:
            return ""
        if "T" not in when:
            return display_date(dt.date.fromisoformat(when[:10]))
        return display_date(parse_iso(when).astimezone(self.tz).date())

    def days_since(self, when: str) -> int:
        return max((self.now - parse_iso(when)).days, 0)

    def person(self, row: dict) -> str:
        return f"{row['name']} ({row['role']}, #{row['id']})"


def _item(text: str, *actions: tuple[str, str], cli: tuple[str, str] | None = None, kind: str = "") -> dict:
    acts = [{"command": c, "word": c.split()[0], "does": d} for c, d in actions]
    parts = [f"{a['command']} to {a['does']}" for a in acts]
    hint = ("Reply " + ", or ".join(parts) + ".") if parts else ""
    if cli:
        hint = (hint + " " if hint else "") + f"Run {cli[0]} {cli[1]}."
    return {"text": text, "actions": acts, "cli": {"command": cli[0], "does": cli[1]} if cli else None,
            "hint": hint, "kind": kind}


def _state_label(name: str) -> str:
    text = name.replace("checkin", "check-in").replace("-", " ").replace("check in", "check-in")
    return text[:1].upper() + text[1:]


def _states_at(store, when: dt.datetime) -> Counter:
    """How many pairs were in each state at ``when``, replayed from the event log."""
    last: dict[int, str] = {}
    for r in store.all("SELECT pair_id, data FROM events WHERE kind = 'state' AND at <= ? ORDER BY id", (iso(when),)):
        last[r["pair_id"]] = json.loads(r["data"]).get("state_to")
    return Counter(s for s in last.values() if s)


def lifecycle_order(wf) -> list[str]:
    """The states in the order a relationship meets them: outward from the start state
    along the rules' and timers' ``goto`` (not the rules that apply in any state, such
    as PAUSE and END, whose states come last)."""
    edges: dict[str, list[str]] = {}
    for item in (*wf.rules, *wf.timers):
        if item.goto and not item.goto.startswith("@") and len(item.states) <= max(len(wf.states) // 3, 1):
            for s in item.states:
                edges.setdefault(s, []).append(item.goto)
    order, queue = [], [wf.start.state]
    while queue:
        s = queue.pop(0)
        if s in order or s not in wf.states:
            continue
        order.append(s)
        queue += edges.get(s, [])
    return order + [s for s in wf.states if s not in order]


def _states(wf, pairs, before: Counter, final: set[str]) -> list[dict]:
    now = Counter(p["state"] for p in pairs)
    names = [s for s in lifecycle_order(wf) if now[s] or before[s]]
    names += sorted(s for s in set(now) | set(before) if s not in wf.states and (now[s] or before[s]))
    top = max([now[s] for s in names] + [1])
    out = []
    for s in names:
        change = now[s] - before[s]
        out.append({
            "name": s, "label": _state_label(s), "count": now[s], "before": before[s], "change": change,
            "change_short": f"+{change}" if change > 0 else (f"\u2212{-change}" if change < 0 else "="),
            "change_text": (f"up {change}" if change > 0 else f"down {-change}" if change < 0 else "no change"),
            "final": s in final, "percent": max(round(100 * now[s] / top), 2) if now[s] else 0,
        })
    return out


def _changes_into(store, since: dt.datetime, now: dt.datetime, final: set[str]) -> list[tuple[dict, str]]:
    """Pairs that entered a final state in the window, with when."""
    out = []
    for r in store.all("SELECT pair_id, at, data FROM events WHERE kind = 'state' AND at > ? AND at <= ? "
                       "ORDER BY id", (iso(since), iso(now))):
        if json.loads(r["data"]).get("state_to") in final:
            p = store.pair(r["pair_id"])
            if p is not None and p["state"] in final:
                out.append((p, r["at"]))
    return out


# --------------------------------------------------------------------------- what needs a coordinator


def _introductions(ctx: _Ctx, live: list[dict]) -> list[dict]:
    start = ctx.wf.start.state
    after = int(ctx.settings.get("introduction_reminder_days", 7))
    out = []
    for p in live:
        if p["state"] == start and ctx.days_since(p["state_since"]) >= after:
            n = p["id"]
            out.append(_item(f"{ctx.label(p)}: the introduction has had no answer for "
                             f"{ctx.days_since(p['state_since'])} days (sent {ctx.day(p['state_since'])}).",
                             (f"NUDGE {n}", "remind the mentor"), (f"CLOSE {n}", "withdraw it"),
                             kind="introduction"))
    return out


def _flag_states(wf) -> dict[str, set[str]]:
    """For each flag a timer or rule sets (``do = "flag:NAME"``): the states where it
    means something. A flag set elsewhere counts while the pair is under way."""
    out: dict[str, set[str]] = {}
    for item in (*wf.timers, *wf.rules):
        for d in item.do:
            name, _, param = d.partition(":")
            if name == "flag" and param:
                out.setdefault(param, set()).update(item.states)
    return out


def _pair_flags(ctx: _Ctx, live: list[dict]) -> list[dict]:
    where = _flag_states(ctx.wf)
    out = []
    for p in live:
        v = ctx.views[p["id"]]
        facts = json.loads(p.get("facts") or "{}")
        for flag in v["flags"]:
            if ":" in flag:  # a counter (late-cancellations:2), shown in the CSV
                continue
            if flag == "mentor-restricted":  # the restricted mentor's own line names these pairs
                continue
            if flag in where and p["state"] not in where[flag]:
                continue  # e.g. decision-overdue, once they have decided
            text, actions = FLAGS.get(flag, ("{label} is flagged \u201c{flag}\u201d.", (("STATUS", "see it"),)))
            concern_at = _concern_day(ctx, p["id"]) if flag == "concern" else ""
            words = text.format(
                label=ctx.label(p), flag=flag, days=ctx.days_since(p["state_since"]),
                since=ctx.day(p["state_since"]),
                last=f" (last heard from {ctx.day(v['last_checkin'])})" if v["last_checkin"] else "",
                meetings=v["meetings"], agreed=ctx.day(facts.get("agreed_at") or p["created_at"]),
                interval=facts.get("interval_days", "?"), late=facts.get("late_cancellations", 0),
                on=f" on {concern_at}" if concern_at else "",
                review=f" ({ctx.day(v['review_date'])})" if v["review_date"] else "")
            out.append(_item(words, *((f"{w} {p['id']}", d) for w, d in actions), kind=f"flag:{flag}"))
    return out


def _concern_day(ctx: _Ctx, pair_id: int) -> str:
    at = ctx.store.scalar("SELECT max(at) FROM events WHERE pair_id = ? AND kind LIKE '%concern%'", (pair_id,))
    return ctx.day(at) if at else ""


def _person_flags(row: dict) -> list[str]:
    """Flags the participants' own workflow keeps about a person, wherever it keeps them
    (a ``flags`` column, or ``flags`` in a ``facts`` column)."""
    flags: list[str] = []
    for column in ("flags", "facts"):
        value = row.get(column)
        if not value:
            continue
        try:
            data = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            continue
        if isinstance(data, dict):
            data = data.get("flags") or []
        if isinstance(data, list):
            flags += [str(f) for f in data if str(f) not in flags]
    return flags


def _people(ctx: _Ctx, live: list[dict]) -> list[dict]:
    out = []
    coordinators = set(ctx.service.config.scheme.coordinators)
    live_of: dict[int, list[int]] = {}
    for p in live:
        live_of.setdefault(p["mentee_id"], []).append(p["id"])
        live_of.setdefault(p["mentor_id"], []).append(p["id"])
    for row in ctx.store.all("SELECT * FROM participants ORDER BY id"):
        if row["role"] == "coordinator" or row["email"] in coordinators:
            continue
        n, status = row["id"], _status(row)
        who = ctx.person(row)
        if status == "bouncing":
            out.append(_item(f"Email to {row['name']} <{row['email']}> ({row['role']}, #{n}) bounces, so they "
                             "receive nothing from the scheme. To correct the address, reply with a CSV file "
                             "(role,name,email) attached.", (f"STATUS #{n}", "see their pairs"), kind="bounce"))
        elif status == "stopped":
            out.append(_item(f"{who} asked us to stop emailing them (STOP); their mentoring is paused.",
                             (f"STATUS #{n}", "see their pairs"), kind="stopped"))
        elif status == "restricted":
            if live_of.get(n):
                k = len(live_of[n])
                nums = ", ".join(f"pair {i}" for i in live_of[n])
                out.append(_item(f"{who} is restricted, and still has {k} {'pair' if k == 1 else 'pairs'} under "
                                 f"way: {nums}.", (f"STATUS #{n}", "see them"), (f"CLOSE {live_of[n][0]}", "end a pair"),
                                 (f"RESTORE #{n}", "lift the restriction"), kind="restricted"))
        elif status not in SKIP_STATUSES:
            out.append(_item(f"{who}: {status.replace('-', ' ')}.", (f"STATUS #{n}", "see them"), kind="status"))
        for flag in _person_flags(row):
            if flag == "concern":  # listed above from the log, with its day
                continue
            meaning = PERSON_FLAGS.get(flag, f"flagged \u201c{flag}\u201d")
            out.append(_item(f"{who}: {meaning}.", (f"STATUS #{n}", "see them"), kind=f"person:{flag}"))
    return out


def _concerns(ctx: _Ctx, since: dt.datetime) -> list[dict]:
    """Concerns raised in the last week outside a pair (a pair's concern is its flag)."""
    rows = ctx.store.all(
        """SELECT e.participant_id, max(e.at) AS at, p.name, p.role FROM events e
           JOIN participants p ON p.id = e.participant_id
           WHERE e.kind LIKE '%concern%' AND e.pair_id IS NULL AND e.at > ? AND e.at <= ?
             AND json_extract(e.data, '$.stopped') IS NULL
           GROUP BY e.participant_id ORDER BY e.participant_id""", (iso(since), iso(ctx.now)))
    return [_item(f"{r['name']} ({r['role']}, #{r['participant_id']}) raised a concern on {ctx.day(r['at'])}. What "
                  "was written went to you in a separate email.", (f"STATUS #{r['participant_id']}", "see their pairs"),
                  kind="concern") for r in rows]


def _mail(ctx: _Ctx, since: dt.datetime) -> list[dict]:
    out = []
    unclear = ctx.store.all(
        """SELECT i.id, i.participant_id, i.received_at, p.name, p.role FROM inbound i
           JOIN participants p ON p.id = i.participant_id
           WHERE i.received_at > ? AND i.status = 'ignored'
             AND (i.reason LIKE 'unclear%' OR i.reason LIKE 'no-token%' OR i.reason = 'no-reply-expected')
             AND NOT EXISTS (SELECT 1 FROM inbound j WHERE j.participant_id = i.participant_id AND j.id > i.id
                             AND j.status = 'processed')
           ORDER BY i.id""", (iso(since),))
    latest: dict[int, dict] = {}
    for r in unclear:
        latest[r["participant_id"]] = {**r, "count": latest.get(r["participant_id"], {}).get("count", 0) + 1}
    for pid, r in latest.items():
        times = "an email" if r["count"] == 1 else f"{r['count']} emails"
        out.append(_item(f"{r['name']} ({r['role']}, #{pid}) sent {times} that nobody could understand, the latest "
                         f"{ctx.day(r['received_at'])}; they were asked to say it again.",
                         (f"STATUS #{pid}", "see their pairs"), kind="unclear"))
    for q in ctx.store.all("SELECT id, received_at FROM inbound WHERE status = 'quarantined' ORDER BY id"):
        out.append(_item(f"Inbound email #{q['id']} (received {ctx.day(q['received_at'])}) could not be processed, "
                         "and is kept aside unchanged.", cli=(f"mailflow replay {q['id']}", "after fixing the cause"),
                         kind="quarantined"))
    return out


# --------------------------------------------------------------------------- dates, people, feedback


def _reviews(ctx: _Ctx, live: list[dict]) -> list[dict]:
    horizon = ctx.today + dt.timedelta(days=REVIEW_DAYS)
    out = []
    for p in live:
        v = ctx.views[p["id"]]
        review = v["review_date"]
        if review and ctx.today.isoformat() <= review <= horizon.isoformat():
            proposed = v["proposed_review_date"]
            extra = f" (a move to {ctx.day(proposed)} is waiting to be confirmed)" if proposed else ""
            out.append({"text": f"{ctx.label(p)}: review on {ctx.day(review)}{extra}.", "date": review})
    return sorted(out, key=lambda r: r["date"])


def _status(row: dict) -> str:
    """A participant's status as coordinators read it: a restriction (``mailflow
    restrict``) first, then bouncing, stopped, ..."""
    return "restricted" if row.get("restricted_at") else row["status"]


def _capacity(ctx: _Ctx, live: list[dict]) -> tuple[dict[str, list[dict]], list[dict]]:
    count: Counter = Counter()
    for p in live:
        count[p["mentor_id"]] += 1
        count[p["mentee_id"]] += 1
    groups: dict[str, list[dict]] = {"room": [], "full": [], "unavailable": [], "cannot": []}
    waiting = []
    coordinators = set(ctx.service.config.scheme.coordinators)
    for row in ctx.store.all("SELECT * FROM participants WHERE role IN ('mentor', 'mentee') ORDER BY name, id"):
        if row["email"] in coordinators or row["status"] == "erased":
            continue
        n, taken, cap = row["id"], count[row["id"]], row["capacity"]
        status = _status(row)
        if row["role"] == "mentee":
            if not taken and status == "active":
                last = ctx.store.scalar("SELECT max(state_since) FROM pairs WHERE mentee_id = ?", (n,))
                waiting.append({"number": n, "text": f"{row['name']} (#{n}), waiting since "
                                                     f"{ctx.day(last or row['created_at'])}."})
            continue
        places = f"{taken} of {cap} places taken" if cap is not None else f"{taken} under way, no limit set"
        item = {"number": n, "name": row["name"]}
        if status != "active":
            groups["cannot"].append({**item, "text": f"{row['name']} (#{n}): {status}; {places}."})
        elif not row["available"]:
            groups["unavailable"].append({**item, "text": f"{row['name']} (#{n}): unavailable for now; {places}."})
        elif cap is not None and taken >= cap:
            groups["full"].append({**item, "text": f"{row['name']} (#{n}): full, {places}."})
        else:
            room = f"room for {cap - taken} more, {places}" if cap is not None else places
            groups["room"].append({**item, "text": f"{row['name']} (#{n}): {room}."})
    return groups, waiting


def _feedback(store, now: dt.datetime) -> dict[str, Any]:
    ratings = Counter(r["rating"] for r in store.all("SELECT rating FROM feedback WHERE rating IS NOT NULL"))
    after = store.scalar("SELECT max(feedback_until) FROM summaries WHERE feedback_until IS NOT NULL") or ""
    rows = store.all("SELECT id, participant_id, text FROM feedback WHERE text != '' AND at > ? AND at <= ?",
                     (after, iso(now)))
    people = len({r["participant_id"] if r["participant_id"] is not None else f"row{r['id']}" for r in rows})
    texts = sorted(" ".join(r["text"].split())[:600] for r in rows) if people >= FEEDBACK_GROUP else []
    total = sum(ratings.values())
    return {
        "ratings": [{"tag": f"Rated {k}", "count": ratings.get(k, 0),
                     "text": f"{ratings.get(k, 0)} {'person' if ratings.get(k, 0) == 1 else 'people'}"}
                    for k in (5, 4, 3, 2, 1)],
        "rated": total,
        "comments": len(rows),
        "people": people,
        "texts": texts,
        "held_back": len(rows) if not texts else 0,
        "group": FEEDBACK_GROUP,
    }
