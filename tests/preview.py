"""Every email template, rendered with realistic data and checked in a real browser.

    scripts/emails [TEMPLATE ...] [--out DIR] [--widths 600,375] [--rules PRESET]

Each template is rendered through mailflow's own path: a scheme is enrolled
(hard names, long addresses, a right-to-left name), pairs are made, and the email
is queued by the applier exactly as the service queues it (``Applier.apply`` ->
``outbox.enqueue`` -> ``render`` -> ``build_message``). Templates the rules send
get the audience and reply context the rules give them; the service's notes get
the variables the service and the engine give them (:data:`NOTES`).

Each email's HTML is then opened in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through selenium) at each width, and checked:

* nothing is wider than the viewport (``scrollWidth``);
* every command line of the plain text is a visible link in the HTML, and each
  link is a ``mailto:`` to the email's ``Reply-To``, with the subject a reply gets
  and the command in the body;
* no resource is requested from anywhere (images, fonts, styles, scripts), and the
  HTML has no script;
* every piece of text has a contrast of at least 4.5:1 with what is behind it, in
  light mode and in dark mode (``prefers-color-scheme: dark``).

A PNG of each (``TEMPLATE-600.png``, ``TEMPLATE-375.png``, ``TEMPLATE-375-dark.png``)
and the HTML itself are saved for a person to look at, by default in
``build/emails/``. tests/test_browser.py runs this for every template.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import json
import random
import re
import shutil
import sys
import tempfile
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailflow.clock import FixedClock  # noqa: E402
from mailflow.config import load  # noqa: E402
from mailflow.enrol import parse_csv  # noqa: E402
from mailflow.outbox import Recipient  # noqa: E402
from mailflow.service import Service  # noqa: E402
from mailflow.workflow.apply import Subject  # noqa: E402
from mailflow.workflow.decisions import ConfirmAgreement, ProposeAgreement, SaveDraft, SetFacts, Send  # noqa: E402

OUT = ROOT / "build" / "emails"
WIDTHS = (600, 375)

COORDINATOR = "jo.okonkwo-whitfield@research-office.university-hospital.example"
PEOPLE = f"""\
role,name,email,greeting,department,registration,expertise,sector,location
coordinator,Jo Okonkwo-Whitfield,{COORDINATOR},Jo,Research Office,,,,
mentor,Prof. Dr. med. Hans-Joachim Müller-Lüdenscheidt,hans-joachim.mueller-luedenscheidt@klinikum.universitaet-beispiel.example,Hans,Cardiology,GMC 1234567,Interventional cardiology and clinical trials in heart failure,NHS teaching hospital,Universitätsklinikum Beispielstadt
mentee,Siobhán Ní Bhriain,siobhan.nibhriain@university.example,,Pharmacy Practice,,,,
mentor,Dr Grace Park,grace.park@hospital.example,Dr Park,Oncology,HCPC PYL12345,Oncology pharmacy,Hospital,Leeds
mentee,محمد عبد الله,m.abdullah@university.example,,Nursing,,,,
mentor,Associate Professor Kim Min-jun,kim.minjun@hospital.example,,Surgery,GMC 7654321,Surgical training,,
mentee,Zoë O'Connor,zoe.oconnor@university.example,Zoë,Physiotherapy,,,,
mentor,Dr Ada Lovelace,ada.lovelace@hospital.example,,Statistics,HCPC PYL99999,Trial statistics,University,York
"""
OBSERVER = "personal-development-tutor.clinical-psychology@university-hospital.example"
MENTOR_1, MENTEE_1 = "hans-joachim.mueller-luedenscheidt@klinikum.universitaet-beispiel.example", \
    "siobhan.nibhriain@university.example"
MENTOR_2, MENTEE_2 = "grace.park@hospital.example", "m.abdullah@university.example"
MENTOR_3, MENTEE_3 = "kim.minjun@hospital.example", "zoe.oconnor@university.example"

AGREEMENT = {
    "location": "Video call (Teams), or the hospital library on Thursdays when I am on site",
    "frequency": "Monthly",
    "duration": "12 months",
    "meeting_length": "45 minutes",
    "cancellations": "By email, at least a day before",
    "objectives": ("Submit my first grant application by June",
                   "Present at the regional pharmacy meeting in the autumn",
                   "Build confidence in leading multidisciplinary ward rounds"),
    "review_date": dt.date(2026, 6, 3),
    "ending": "After the review, or either of us can end it at any time",
}
PARTIAL = {k: AGREEMENT[k] for k in ("location", "frequency", "objectives")}


class Tokens:
    """Reply tokens as long as real ones (24 characters of base32), but repeatable."""

    def __init__(self, seed: int = 9):
        self.random = random.Random(seed)

    def token(self) -> str:
        return "".join(self.random.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))


@dataclass
class Email:
    """One rendered email, as it would be sent."""

    template: str
    variant: str
    audience: str
    raw: bytes
    commands: dict[str, list[str]] = field(default_factory=dict)
    expects: str | None = None  # the reply context the email opens, if any

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def slug(self) -> str:
        return self.template.replace("/", "--") + (f"@{self.variant}" if self.variant else "")

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def reply_to(self) -> str:
        return self.message["Reply-To"].addresses[0].addr_spec

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


# --------------------------------------------------------------------------- rendering


@contextmanager
def scheme(directory: Path, rules: str = "default", language: str | None = None) -> Iterator[Service]:
    """A service with the people of :data:`PEOPLE` enrolled and three pairs:
    1 just introduced, 2 agreeing with the agreement half filled in, 3 meeting with
    version 1 of its agreement in force, a review date and a next meeting. ``rules``
    is the shipped scheme (a preset) whose rules and templates are used. With
    ``language``, every mentor and mentee reads and writes that language."""
    config = directory / "mailflow.toml"
    config.write_text(textwrap.dedent(f"""\
        [scheme]
        name = "Northern Clinical Mentoring Scheme"
        address = "mentoring@university-hospital.example"
        coordinators = ["{COORDINATOR}", "mentoring-office@university-hospital.example"]
        timezone = "Europe/London"
        date_order = "DMY"
        rules = "{rules}"
        consent = "implied"

        [database]
        path = "mailflow.db"

        [outbox]
        transport = "maildir"
        maildir = "outbox"
        daily_cap_per_recipient = 1000
        daily_hard_cap_per_recipient = 1000
        """), encoding="utf-8")
    service = Service(load(config), clock=FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)),
                      tokens=Tokens())
    try:
        service.enrol(parse_csv(PEOPLE))
        if language:
            with service.store.transaction():
                service.store.conn.execute("UPDATE participants SET language = ? WHERE role != 'coordinator'",
                                           (language,))
        for n, (mentee, mentor, state) in enumerate(((MENTEE_1, MENTOR_1, "introduced"),
                                                     (MENTEE_2, MENTOR_2, "agreeing"),
                                                     (MENTEE_3, MENTOR_3, "active")), 1):
            pid = service.pair(mentee, mentor)
            assert pid == n
            with service.store.transaction():
                service.store.update("pairs", pid, state=state)
                draft = {2: PARTIAL, 3: AGREEMENT}.get(n)
                if draft:
                    service.applier.apply([SaveDraft("agreement", draft)], Subject(pair=service.store.pair(pid)),
                                          service.clock.now())
                if n == 3:
                    service.applier.apply(
                        [ProposeAgreement(1, AGREEMENT, "mentee"), ConfirmAgreement(1, "mentor", activate=True),
                         SetFacts({"review_date": "2026-09-03", "review_seq": 0, "interval_days": 30,
                                   "notice_hours": 24, "meeting_minutes": 45, "meetings": 2, "minutes": 90,
                                   "next_meeting": "2026-03-17T14:00:00+00:00", "meeting_n": 3, "meeting_seq": 0,
                                   "cancelled_meeting": "2026-03-10T14:00:00+00:00", "last_meeting": "2026-02-24",
                                   "progress": {"1": 3, "2": 4}})],
                        Subject(pair=service.store.pair(pid)), service.clock.now())
        yield service
    finally:
        service.close()


def _who(service: Service, email_addr: str) -> Recipient:
    return Recipient.of(service.store.participant_by_email(email_addr))


def _stranger() -> Recipient:
    return Recipient("ada.byron.personal@webmail.example", "Ada Byron", "stranger", None)


# The service's own notes: who gets them, about which pair, answering what, and the
# variables the service or the engine gives them.
def _notes(service: Service) -> dict[str, list[dict[str, Any]]]:
    wf = service.workflow
    intro = wf.replies.get("introduction")
    confirm = wf.replies.get("agreement-confirm")
    options = (lambda spec: [{"command": n.upper(), "words": list(w)} for n, w in spec.commands.items()])
    understood = [
        {"name": "location", "label": "Location", "display": AGREEMENT["location"]},
        {"name": "frequency", "label": "Frequency", "display": "Monthly"},
        {"name": "objectives", "label": "Objectives",
         "display": "\n".join(f"{i}. {o}" for i, o in enumerate(AGREEMENT["objectives"], 1))},
    ]
    notes: dict[str, list[dict[str, Any]]] = {
        "notes/clarify": [
            dict(pair=1, sender=MENTOR_1, expects="introduction", their="RE: Introducing you to Siobhán Ní Bhriain, "
                 "your possible mentee", vars={"options": options(intro) if intro else [],
                                               "candidates": ["accept", "decline"], "line": "yes... or no",
                                               "form_name": ""}),
            dict(variant="agreement-confirm", pair=3, sender=MENTOR_3, expects="agreement-confirm",
                 their="Re: Please confirm your mentoring agreement with Zoë O'Connor",
                 vars={"options": options(confirm) if confirm else [], "candidates": [], "line": "",
                       "form_name": "agreement"}),
        ],
        "notes/already": [dict(pair=2, sender=MENTOR_2, their="Re: Reminder: could you mentor محمد عبد الله?",
                               vars={"command": "accept", "state": "getting-to-know",
                                     "state_description": wf.states["getting-to-know"].description
                                     if "getting-to-know" in wf.states else "Accepted."})],
        "notes/form-incomplete": [dict(
            pair=2, sender=MENTEE_2, expects="agreement", their="Re: Good news: Dr Grace Park will be your mentor",
            vars={"form_name": "agreement", "understood": understood,
                  "missing": [{"name": "duration", "label": "Duration", "reason": "no value was given"},
                              {"name": "meeting_length", "label": "Meeting length",
                               "reason": "no value was given"}],
                  "invalid": [{"name": "review_date", "label": "Review date", "raw": "3 January 2020",
                               "reason": "that date is in the past"}],
                  "unknown_labels": ["Favourite colour"], "warnings": ["read “Frequncy” as “Frequency”"]})],
        "notes/form-empty": [dict(pair=1, sender=MENTEE_1, expects="agreement",
                                  their="Re: Good news: Prof. Dr. med. Hans-Joachim Müller-Lüdenscheidt will be "
                                        "your mentor", vars={"form_name": "agreement"})],
        "notes/no-action": [dict(pair=3, sender=MENTOR_3, expects="anytime",
                                 their="Re: Your mentoring agreement is confirmed")],
        "notes/no-token": [dict(sender=MENTEE_1, their="Question about my mentor")],
        "notes/too-large": [dict(sender=MENTEE_1, their="Re: Your mentoring agreement, with the scans",
                                 vars={"size_mb": "31.2", "limit_mb": 10})],
        "notes/expired": [dict(sender=MENTOR_1, their="RE: Introducing you to Siobhán Ní Bhriain, your possible "
                                                      "mentee")],
        "notes/wrong-sender": [dict(sender=None, their="Re: Introducing you to Sam Lee, your possible mentee")],
        "notes/unknown-sender": [dict(sender=None, their="Mentoring scheme: how do I join?")],
        "notes/coordinator-help": [dict(sender=COORDINATOR, their="pair Zoë with Dr Park please")],
        "notes/quarantined": [dict(to="coordinators", vars={"inbound_id": 4127, "error": "UnicodeDecodeError"})],
        "notes/delivery-failed": [dict(
            to="coordinators", pair=1,
            vars={"failed_to": MENTEE_1, "failed_template": "introduction/to-mentee",
                  "detail": "550 5.1.1 <siobhan.nibhriain@university.example>: Recipient address rejected: "
                            "User unknown in virtual mailbox table"})],
        "notes/bounced": [dict(to="coordinators", vars={"failed_to": MENTEE_2, "role": "mentee"})],
        # Choosing a mentor from the directory (mailflow/matching.py), eligibility, the list of pairs.
        "directory/list": [dict(sender=MENTEE_1, to="sender", expects=_has(wf, "directory"))],
        "directory/which": [dict(sender=MENTEE_1, expects=_has(wf, "directory"), their="Re: Choose your mentor")],
        "directory/not-found": [dict(sender=MENTEE_1, expects=_has(wf, "directory"), their="Re: Choose your mentor",
                                     vars={"choice": "Dr Park the oncologist", "candidates": ["Dr Grace Park"]})],
        "directory/not-available": [dict(sender=MENTEE_1, expects=_has(wf, "directory"), their="Mentoring",
                                         vars={"requested": "Associate Professor Kim Min-jun"})],
        "directory/mentee-limit": [dict(sender=MENTEE_3, expects="anytime", their="Mentoring",
                                        vars={"requested": "Dr Grace Park", "problem": "mentee-limit"})],
        "directory/conflict-coordinator": [dict(
            to="coordinators", sender=MENTEE_1,
            vars={"requested": "Dr Grace Park", "reason": "examiner",
                  "problem": f"{MENTEE_1} and {MENTOR_2} have a conflict of interest: examiner (in the conflicts "
                             f"column of {MENTOR_2}). They cannot be paired; choose another mentor."})],
        "eligibility/restricted-coordinator": [dict(
            to="coordinators", vars={"restricted": {"name": "Dr Grace Park", "email": MENTOR_2},
                                     "reason": "HCPC: conditions of practice imposed while an investigation is open",
                                     "affected": [{"id": 2, "mentee": "محمد عبد الله", "state": "agreeing"}]})],
        "eligibility/restored-coordinator": [dict(
            to="coordinators", vars={"restricted": {"name": "Dr Grace Park", "email": MENTOR_2},
                                     "affected": [{"id": 2, "mentee": "محمد عبد الله", "state": "agreeing"}]})],
        "eligibility/check-registrations": [dict(to="coordinators")],
        "pairs/list": [dict(to="observer")],
        "onboarding/reminder": [dict(sender=MENTEE_1, to="sender", expects=_has(wf, "directory"))],
        "onboarding/window-ended-coordinator": [dict(sender=MENTEE_1, to="coordinators")],
        "meetings/below-commitment": [dict(pair=3, to="mentor", expects="anytime", vars={"count": 1})],
        **_coordinators(service),
    }
    return notes


def _has(wf, context: str) -> str:
    """``context`` if the scheme's rules have it, else ``anytime``."""
    return context if context in wf.replies else "anytime"


def _coordinators(service: Service) -> dict[str, list[dict[str, Any]]]:
    """The coordinators' emails (mailflow/summary.py, mailflow/coordinate.py) and the
    reminder a coordinator's NUDGE sends."""
    from mailflow import coordinate, summary

    commands = coordinate.commands_var()
    now = service.clock.now()
    status_title, status_block = coordinate.status_text(service, "3")
    results = [
        coordinate.Result("NUDGE 1", "done", "pair 1: Prof. Dr. med. Hans-Joachim Müller-Lüdenscheidt was reminded"),
        coordinate.Result("CLOSE 12 moved to another trust", "refused", "there is no pair 12; `mailflow status` lists "
                          "the pairs and their numbers."),
        coordinate.Result("PAIR #7 #6", "done", "pair 4: Zoë O'Connor with Associate Professor Kim Min-jun; the "
                          "introductions are on their way"),
        coordinate.Result("STATUS 3", "done", "below", block=status_block, title=status_title),
        coordinate.Result("please pair Zoë with Dr Park", "not-understood", "not a command; HELP lists them",
                          help=True),
        coordinate.Result("EXPORT", "done", "the CSV of all pairs is attached", attach=True),
    ]
    counts = {o: sum(r.outcome == o for r in results) for o in ("done", "refused", "not-understood", "already")}
    intro = service.workflow.replies.get("introduction")
    own = [{"word": n.upper(), "args": ""} for n in (intro.commands if intro else {})]
    return {
        "coordinators/summary": [dict(to="coordinators", expects="coordinator", commands=commands,
                                      vars=summary.email_vars(summary.build(service, now)))],
        "coordinators/answer": [dict(sender=COORDINATOR, expects="coordinator", commands=commands,
                                     their="Re: Mentoring summary: Northern Clinical Mentoring Scheme",
                                     vars={"results": [r.as_dict() for r in results], "tally": counts,
                                           "show_help": True, "command_list": coordinate.command_list(),
                                           "commands": commands, "expects_reply": True, "csv_attached": True})],
        "coordinators/refused": [dict(sender=None, their="Re: Mentoring summary: Northern Clinical Mentoring Scheme")],
        "coordinators/nudge": [
            dict(pair=1, to="mentor", expects="introduction",
                 vars={"asked_subject": "Could you mentor Siobhán Ní Bhriain?", "asked_on": "Monday 2 March 2026",
                       "own_commands": own, "has_form": False}),
            dict(variant="general", pair=3, to="mentee", expects="anytime",
                 vars={"asked_subject": "", "asked_on": "", "own_commands": [], "has_form": False}),
        ],
        "coordinators/availability": [dict(sender=MENTOR_2, expects="anytime", vars={"available": False})],
    }


def _rule_sends(service: Service) -> dict[str, list[dict[str, Any]]]:
    """What the rules send: for each template, its audience, reply context and pair."""
    wf = service.workflow
    found: dict[str, list[dict[str, Any]]] = {}

    def add(spec, state: str, replier: str | None, form: bool = False) -> None:
        if wf.scope_of(state) == "participant":  # about a person, not a pair (the welcome): a mentor
            found.setdefault(spec.template, [dict(pair=None, to=spec.to, expects=spec.expects, sender=MENTOR_1,
                                                  their="" if spec.to != "sender" else "Welcome")])
            return
        # Pair 1 (no agreement yet) before the agreement; pair 3 (agreed) once one is sent.
        pair = 1 if state in ("introduced", "getting-to-know", "deciding") and not form else 3
        mentor, mentee = {1: (MENTOR_1, MENTEE_1), 3: (MENTOR_3, MENTEE_3)}[pair]
        sender = {"mentor": mentor, "mentee": mentee}.get(replier or "", mentee)
        found.setdefault(spec.template, [dict(pair=pair, to=spec.to, expects=spec.expects, sender=sender,
                                              their="")])

    for role, enrol in wf.enrol.items():
        for spec in enrol.send:
            add(spec, enrol.state, role)

    for spec in wf.start.send:
        add(spec, wf.start.state, None)
    for rule in wf.rules:
        reply = wf.replies.get(rule.reply[0])
        for spec in rule.send:
            add(spec, rule.states[0], reply.roles[0] if reply and reply.roles else None, bool(reply and reply.form))
    for timer in wf.timers:
        for spec in timer.send:
            add(spec, timer.state, None)
    for spec in (s for e in wf.enrol.values() for s in e.send):
        found.setdefault(spec.template, [dict(sender=MENTEE_1, to=spec.to, expects=spec.expects, their="")])
    return found


def render(names: list[str] | None = None, directory: Path | None = None, rules: str = "default",
           language: str | None = None) -> list[Email]:
    """Render each template named (default: every template) as it would be sent, in the
    shipped scheme ``rules`` (its own templates first), to participants whose language
    is ``language``, if given."""
    own = directory is None
    directory = directory or Path(tempfile.mkdtemp(prefix="mailflow-emails-"))
    try:
        with scheme(directory, rules, language) as service:
            specs = {**_rule_sends(service), **_notes(service)}
            wanted = names or service.renderer.names()
            unknown = [n for n in wanted if not service.renderer.exists(n)]
            if unknown:
                raise SystemExit(f"no such template: {', '.join(unknown)} (see templates/)")
            emails = []
            for n, name in enumerate(wanted):
                # Notes that actions send (a command that did not apply) answer an email
                # of the pair, where any command may be written.
                for case in specs.get(name, [dict(pair=3, to="mentee", expects="anytime")]):
                    emails.append(_queue(service, name, case, n))
            return emails
    finally:
        if own:
            shutil.rmtree(directory, ignore_errors=True)


def _queue(service: Service, template: str, case: dict[str, Any], n: int) -> Email:
    store = service.store
    pair = store.pair(case["pair"]) if case.get("pair") else None
    sender_addr = case.get("sender")
    sender = _who(service, sender_addr) if sender_addr else _stranger()
    to = case.get("to", "sender")
    expects = case.get("expects")
    subject = Subject(pair=pair, sender=sender, their_subject=case.get("their", ""), key=f"preview:{n}",
                      in_reply_to="reply-1@webmail.example" if to == "sender" else "")
    with store.transaction():
        if to == "observer":  # [scheme] pair_list_to: someone outside the scheme, told who mentors whom
            from mailflow import matching

            ids = service.applier.queue_pair_list([OBSERVER], matching.current_pairs(store, service.workflow),
                                                  service.clock.now(), key=f"preview:{n}")
            row = store.one("SELECT raw FROM outbox WHERE id = ?", (ids[0],))
            return Email(template, case.get("variant", ""), "stranger", row["raw"], {}, None)
        # The version an email about pair 3's agreement names is the one it has (1).
        variables = {**({"version": 1} if case.get("pair") == 3 else {}), **case.get("vars", {})}
        ids = service.applier.apply([Send(template, to, expects, variables, exempt=True)], subject,
                                    service.clock.now())
    if not ids:
        raise SystemExit(f"{template}: nothing was queued for audience {to!r}")
    row = store.one("SELECT raw FROM outbox WHERE id = ?", (ids[0],))
    # The commands the email may carry: its own and the anytime ones, in its reader's
    # languages (as the applier passes them), or the coordinators' commands for theirs.
    reader = service.applier.recipients(subject, to)[0]
    commands = case.get("commands") or {k: list(v) for k, v in
                                        service.workflow.commands(expects, service.applier.languages(reader)).items()}
    audience = reader.role
    return Email(template, case.get("variant", ""), audience, row["raw"], commands, expects)


# --------------------------------------------------------------------------- checking


def command_lines(text: str, commands: dict[str, list[str]]) -> list[tuple[str, bool]]:
    """The command lines of a plain text (RFC 3676 space-stuffing undone): (word, takes arguments).
    A command may be several words in capitals ("NOT YET")."""
    words = {n.upper().replace("-", " ") for n in commands} | {
        " ".join(w.upper().split()) for ws in commands.values() for w in ws if len(w.split()) <= 3}
    found = []
    for line in text.splitlines():
        # Capitals with the accents of Latin scripts too ("DÉPLACER", "AINDA NÃO").
        m = re.match(r"^\s+((?:[A-ZÀ-ÖØ-ÞŒ][A-ZÀ-ÖØ-ÞŒ0-9_'’-]*)(?: [A-ZÀ-ÖØ-ÞŒ][A-ZÀ-ÖØ-ÞŒ0-9_'’-]*){0,3})"
                     r"((?:\s+<[^<>]+>)*)(?=\s|$)", line)
        if not m:
            continue
        caps = m.group(1).split()
        for n in range(len(caps), 0, -1):
            phrase = " ".join(caps[:n])
            if phrase in words:
                rest = line.strip()[len(phrase):]
                found.append((phrase, bool(re.match(r"\s+<[^<>]+>", rest))))
                break
    return found


def parse_mailto(url: str) -> tuple[str, dict[str, str]]:
    """A ``mailto:`` URL as a mail client reads it (RFC 6068): the address and the fields."""
    parts = urlsplit(url)
    assert parts.scheme == "mailto", url
    fields = {}
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        fields[unquote(key).lower()] = unquote(value)
    return unquote(parts.path), fields


def static_problems(mail: Email) -> list[str]:
    """What can be checked without a browser."""
    html = mail.html
    problems = []
    for pattern, what in ((r"<script", "a script"), (r"<link\b", "a <link>"), (r"@import", "an @import"),
                          (r"url\(", "a CSS url()"), (r"""(?:src|href|background)\s*=\s*["']?(?:https?:|//)""",
                                                        "an external URL")):
        if re.search(pattern, html, re.I):
            problems.append(f"the HTML has {what}")
    if not re.search(r"<html[^>]*\blang=\"[a-z]", html):
        problems.append("the <html> element has no lang")
    if "<h1" not in html:
        problems.append("the HTML has no <h1> heading")
    if len(html.encode()) > 100_000:  # Gmail clips a message from 102 kB, footer and links first
        problems.append(f"the HTML is {len(html.encode()) // 1000} kB; Gmail clips it from 102 kB")
    return problems


_CONTRAST_JS = """
const parse = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat); return {rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1}; };
const lum = rgb => { const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const behind = el => { for (; el; el = el.parentElement) { const c = parse(getComputedStyle(el).backgroundColor);
  if (c && c.a > 0) return c.rgb; }
  const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
  return matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18] : [255, 255, 255]; };
const low = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode; const text = node.textContent.trim(); if (!text) continue;
  const el = node.parentElement; const st = getComputedStyle(el);
  if (st.display === 'none' || st.visibility === 'hidden') continue;
  const fg = parse(st.color).rgb, bg = behind(el);
  const a = lum(fg), b = lum(bg); const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(`${ratio.toFixed(2)}:1 for "${text.slice(0, 40)}" (${st.color} on rgb(${bg.join(', ')}))`);
}
return low;
"""

_LINKS_JS = """
const w = arguments[0];
return [...document.querySelectorAll('a[data-command]')].map(a => { const r = a.getBoundingClientRect();
  const st = getComputedStyle(a);
  return {word: a.dataset.command, href: a.getAttribute('href'), left: r.left, right: r.right, width: r.width,
          height: r.height, visible: st.visibility !== 'hidden' && st.display !== 'none' && r.width > 0 && r.height > 0,
          text: a.textContent}; });
"""


class Browser:
    """Headless Chromium through chromedriver, with a fresh profile, logging every request."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             "--disable-dev-shm-usage", "--force-color-profile=srgb")

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        if not chromium or not Path(driver).exists():
            raise RuntimeError("Chromium and its driver are needed: apt-get install chromium chromium-driver "
                               "(scripts/test installs them as root)")
        self.profile = tempfile.mkdtemp(prefix="mailflow-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in self.FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=DriverService(executable_path=driver))

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def viewport(self, width: int, height: int = 900, dark: bool = False) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})

    def requests(self) -> list[str]:
        """The URLs requested since the last call."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls


def check(mail: Email, browser: Browser, out: Path | None = OUT, widths: tuple[int, ...] = WIDTHS) -> list[str]:
    """Everything wrong with one email's HTML; saves its PNGs (and HTML) in ``out``."""
    problems = static_problems(mail)
    page = Path(tempfile.mkdtemp(prefix="mailflow-page-")) / f"{mail.slug}.html"
    page.write_text(mail.html, encoding="utf-8")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / page.name).write_text(mail.html, encoding="utf-8")
    url = page.as_uri()
    expected = command_lines(mail.text, mail.commands)
    reply_subject = mail.subject if mail.subject.lower().startswith("re:") else f"Re: {mail.subject}"
    d = browser.driver
    try:
        for width in widths:
            for dark in (False, True):
                browser.viewport(width, dark=dark)
                browser.requests()
                d.get(url)
                where = f"{width} px{' dark' if dark else ''}"
                outside = [u for u in browser.requests() if u != url]
                problems += [f"{where}: requested {u}" for u in outside]
                sizes = d.execute_script("return [document.documentElement.scrollWidth, document.body.scrollWidth]")
                if max(sizes) > width:
                    problems.append(f"{where}: {max(sizes)} px wide, wider than the {width} px viewport")
                problems += [f"{where}: contrast {c}" for c in d.execute_script(_CONTRAST_JS)]
                links = d.execute_script(_LINKS_JS, width)
                problems += _link_problems(links, expected, mail, reply_subject, width, where)
                if out is not None and (not dark or width == min(widths)):
                    height = d.execute_script("return document.documentElement.scrollHeight")
                    browser.viewport(width, height=max(height, 200), dark=dark)
                    d.save_screenshot(str(out / f"{mail.slug}-{width}{'-dark' if dark else ''}.png"))
    finally:
        shutil.rmtree(page.parent, ignore_errors=True)
    return problems


def _link_problems(links: list[dict], expected: list[tuple[str, bool]], mail: Email, subject: str, width: int,
                   where: str) -> list[str]:
    problems = []
    linked = {link["word"] for link in links}
    for word, _ in expected:
        if word not in linked:
            problems.append(f"{where}: the command line {word} has no link")
    for link in links:
        if not link["visible"]:
            problems.append(f"{where}: the {link['word']} link is not visible")
        if link["left"] < 0 or link["right"] > width:
            problems.append(f"{where}: the {link['word']} link is outside the viewport "
                            f"({link['left']:.0f}-{link['right']:.0f} px)")
        try:
            to, fields = parse_mailto(link["href"])
        except AssertionError:
            problems.append(f"{where}: the {link['word']} link is not a mailto: ({link['href']})")
            continue
        args = dict(expected).get(link["word"], False)
        # A command line's button pre-fills "WORD " when the command takes arguments; the
        # word linked in running text pre-fills the word alone.
        bodies = (link["word"] + " ", link["word"]) if args else (link["word"],)
        if to != mail.reply_to:
            problems.append(f"{where}: the {link['word']} link goes to {to}, not the Reply-To {mail.reply_to}")
        if fields.get("subject") != subject:
            problems.append(f"{where}: the {link['word']} link's subject is {fields.get('subject')!r}, not {subject!r}")
        if fields.get("body") not in bodies:
            problems.append(f"{where}: the {link['word']} link's body is {fields.get('body')!r}, not {bodies[0]!r}")
    return problems


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/emails", description=__doc__.split("\n\n")[0])
    parser.add_argument("templates", nargs="*", help="e.g. introduction/to-mentor (default: every template)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNGs and HTML go (default {OUT})")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="viewport widths in px (default 600,375)")
    parser.add_argument("--rules", default="default",
                        help="a shipped scheme (preset) whose rules and templates to use, e.g. clinical-training")
    args = parser.parse_args(argv)
    widths = tuple(int(w) for w in args.widths.split(","))
    emails = render(args.templates or None, rules=args.rules)
    failed = 0
    with Browser() as browser:
        for mail in emails:
            problems = check(mail, browser, args.out, widths)
            failed += bool(problems)
            print(f"{'FAIL' if problems else 'ok  '}  {mail.slug}  ({mail.audience}): {mail.subject}")
            for p in problems:
                print(f"        {p}")
    print(f"{len(emails)} emails, {failed} with problems; PNGs and HTML in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
