"""``mailflow check``: is this installation ready to run?

Each check yields ``(passed, line)``. The config (every problem at once, each with
its file, line and key; password variables that are unset and hosts still the
example's; warnings where TLS and port disagree), the rule files (every problem, as
file:line), the templates (each one rendered with sample values, in every language)
and what each language is missing, and, unless ``offline``, the IMAP and SMTP logins.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

from .config import Config, config_warnings, environment_problems
from .config import read as read_config
from .errors import MailflowError
from .outbox import Recipient
from .render import Renderer
from .workflow.loader import Workflow, check_workflow, rules_folder

# Templates the service itself sends, whatever the rules say.
NOTE_TEMPLATES = (
    "notes/no-action", "notes/clarify", "notes/already", "notes/form-incomplete", "notes/form-empty",
    "notes/coordinator-help", "notes/bad-arguments", "notes/not-yours", "notes/no-pair", "notes/which-pair",
    "notes/unknown-sender", "notes/no-token", "notes/wrong-sender", "notes/expired", "notes/quarantined",
    "notes/delivery-failed", "notes/bounced", "notes/too-large",
    # Sent by actions (mailflow/workflow/actions.py) when a command does not apply after all.
    "agreement/unchanged", "agreement/nothing-to-confirm", "agreement/stale", "agreement/already-in-force",
    "meetings/which-date", "meetings/already-known", "meetings/agenda-empty", "review/which-date",
    "review/unchanged", "review/nothing-to-confirm", "review/waiting-for-partner", "anytime/feedback-empty",
    "anytime/concern-empty", "anytime/capacity-range", "lifecycle/flag-coordinators", "welcome/in-a-pair",
    # The coordinators' summary and commands by reply (mailflow/summary.py, mailflow/coordinate.py).
    "coordinators/summary", "coordinators/answer", "coordinators/refused", "coordinators/nudge",
    "coordinators/availability",
)
# Sent by the applier and the service for the scheme features of mailflow/matching.py,
# when the rules use them (a REQUEST rule; [scheme] pair_list_to; mailflow restrict).
FEATURE_TEMPLATES = {
    "request-mentor": ("directory/which", "directory/not-found", "directory/not-available", "directory/mentee-limit",
                       "directory/conflict-coordinator"),
}
ALWAYS_TEMPLATES = ("pairs/list", "eligibility/restricted-coordinator", "eligibility/restored-coordinator")


class _SampleHistory:
    meetings = [{"day": "Tuesday 3 March 2026", "minutes": 45}, {"day": "Friday 3 April 2026", "minutes": None}]
    total_minutes = 45
    progress = {"1": 4, "2": 3}
    reviews = [{"day": "Wednesday 3 June 2026", "kind": "review-held"}]
    started = "Monday 2 March 2026"


class _SampleDirectory:
    entries = [
        {"number": 4, "name": "Dr Ada Byron", "fields": [{"label": "Expertise", "value": "Clinical trials"}], "room": 1},
        {"number": 7, "name": "Grace Hopper", "fields": [], "room": None},
    ]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


_SAMPLE_DIRECTORY = _SampleDirectory()


class _SampleRoster:
    pairs = [{"id": 1, "mentee": "Sam Lee", "mentor": "Dr Ada Byron", "stage": "mentoring",
              "since": "Monday 2 March 2026"}]
    registrations = [{"name": "Dr Ada Byron", "email": "mentor@example.org", "registration": "HCPC PYL12345",
                      "restricted": "", "reason": ""},
                     {"name": "Grace Hopper", "email": "grace@example.org", "registration": "UKCP 2009123456",
                      "restricted": "Monday 2 March 2026", "reason": "registration under review"}]


def sample_context(config: Config, workflow: Workflow | None) -> dict:
    """Values for every variable a template may use, to render each one as a test."""
    mentor = Recipient("mentor@example.org", "Dr Ada Byron", "mentor", 1)
    mentee = Recipient("mentee@example.org", "Sam Lee", "mentee", 2)
    commands = workflow.commands("introduction") if workflow is not None else {}
    return {
        "recipient": mentor, "scheme": config.scheme, "reply_address": config.scheme.reply_address("sample"),
        "mentor": mentor, "mentee": mentee, "sender": mentor,
        "pair": {"id": 1, "state": "introduced", "state_description": "Waiting.", "final": False, "requested": True},
        "now": dt.datetime.now(dt.timezone.utc), "today": "Monday 2 March 2026",
        "coordinators": ", ".join(config.scheme.coordinators), "reply_subject": "Re: sample",
        "settings": dict(workflow.settings) if workflow is not None else {},
        "support": config.scheme.support or "Beth Allen: beth@example.org",
        "partner_visible": True,
        "commands": {k: list(v) for k, v in commands.items()} or {"accept": ["accept", "yes"]},
        "anytime": {k: list(v) for k, v in (workflow.commands(None) if workflow else {}).items()},
        "dates": {"review": "Wednesday 3 June 2026", "proposed_review": "Friday 12 June 2026",
                  "next_meeting": "Tuesday 3 March 2026 at 14:00", "cancelled_meeting": "Tuesday 3 March 2026 at 14:00",
                  "first_meeting": "Monday 9 March 2026", "paused_until": "Monday 1 June 2026",
                  "last_meeting": "Tuesday 3 March 2026", "ended": "Monday 2 November 2026"},
        "counts": {"meetings": 3, "minutes": 135, "interval_days": 30, "notice_hours": 24},
        "agreement": {"version": 2, "in_force": 1, "text": "Location: Cafe", "in_force_text": "Location: Library",
                      "objectives": ["Submit a grant application"],
                      "terms": {f.name: "as agreed" for f in (workflow.forms.get("agreement", ())
                                                               if workflow is not None else ())}},
        "record": _SampleHistory(),
        "when": lambda value: "Tuesday 3 March 2026 at 14:00",
        "form": "Location: \nFrequency: ", "forms": {"agreement": "Location: Cafe", "checkin": "Pulse: ",
                                                    "exit": "Rating: ", "exit-ender": "Reason: "},
        "form_name": "agreement",
        "options": [{"command": "ACCEPT", "words": ["accept", "yes", "happy to"]}],
        "candidates": ["accept", "decline"], "line": "yes no", "command": "accept", "state": "accepted",
        "state_description": "Accepted.",
        "understood": [{"name": "location", "label": "Location", "display": "Cafe"}],
        "missing": [{"name": "frequency", "label": "Frequency", "reason": "no value was given"}],
        "invalid": [{"name": "review_date", "label": "Review date", "raw": "yesterday", "reason": "in the past"}],
        "unknown_labels": ["Colour"], "warnings": ["read “Frequncy” as “Frequency”"],
        "failed_to": "x@example.org", "failed_template": "introduction/to-mentor", "detail": "550 no such user",
        "inbound_id": 7, "error": "ValueError", "role": "mentee", "size_mb": "31.2", "limit_mb": 25,
        # What actions add (mailflow/workflow/actions.py).
        "problems": ["a date was expected"], "usage": "MET [<date>] [<minutes>]", "problem": "that time has passed",
        "choices": [{"number": 1, "partner": "Sam Lee", "role": "mentee", "pair": 1},
                    {"number": 2, "partner": "Kim Park", "role": "mentee", "pair": 2}],
        "met_on": "Tuesday 3 March 2026", "met_minutes": 45, "version": 2, "ref": "2", "in_force": 1, "shown": 1,
        "pending": True,
        "diff": [{"label": "Frequency", "before": "Monthly", "after": "Every six weeks"}],
        "meeting_at": "2026-03-03T14:00:00+00:00", "moved_from": "2026-03-02T14:00:00+00:00", "moved": True,
        "meeting": "Tuesday 3 March 2026 at 14:00",
        "cancelled": "Tuesday 3 March 2026 at 14:00", "cancelled_at": "2026-03-03T14:00:00+00:00", "late": True,
        "late_minutes": 10, "agenda": "1. My grant application\n2. The regional meeting",
        "proposed": "Friday 12 June 2026", "current": "Wednesday 3 June 2026", "review": "Friday 12 June 2026",
        "paused_until": "Monday 1 June 2026", "reason_given": True, "concern_text": "I am worried about ...",
        "capacity": 2, "available": True, "flag": "silent", "count": 2, "progress_given": {"1": 4}, "next_problem": "",
        # The directory, the scheme's pairs and registrations (mailflow/matching.py).
        "directory": _SAMPLE_DIRECTORY, "roster": _SampleRoster(), "current_pairs": _SampleRoster.pairs,
        "choice": "Ada", "requested": "Dr Ada Byron", "reason": "registration under review",
        "affected": [{"id": 3, "mentee": "Sam Lee", "state": "active"}],
        "restricted": {"name": "Dr Ada Byron", "email": "mentor@example.org"},
        "consented_on": "Monday 2 March 2026", "profile_given": True, "taking_part": False,
        **_coordinator_sample(),
    }


def _coordinator_sample() -> dict:
    """What the coordinators' emails use (mailflow/summary.py, mailflow/coordinate.py)."""
    from . import coordinate, summary

    results = [coordinate.Result("NUDGE 3", "done", "pair 3: Dr Ada Byron was reminded"),
               coordinate.Result("STATUS 3", "done", "below", block="pair 3: introduced", title="Pair 3")]
    return {**summary.email_vars(summary.sample()), "results": [r.as_dict() for r in results],
            "tally": {"done": 2, "refused": 0, "not-understood": 0, "already": 0}, "show_help": True,
            "command_list": coordinate.command_list(), "csv_attached": True, "asked_subject": "Introducing you",
            "asked_on": "Monday 2 March 2026", "own_commands": [{"word": "ACCEPT", "args": ""}], "has_form": False}




WARN = None  # the "passed" value of a warning: reported, but the check still passes


def run_checks(path: Path, *, offline: bool = False) -> Iterator[tuple[bool | None, str]]:
    """Every check, each as ``(passed, line)``; ``passed`` is True, False, or
    :data:`WARN` (None) for something that works but is probably not meant."""
    config, problems = read_config(path)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        yield (False if p.severity == "error" else WARN), f"config: {p}"
    if config is None or errors:
        if config is None:
            return
        yield False, (f"config {config.path}: {len(errors)} problem(s) above; the rules and templates are "
                      "checked with the values read as far as they could be")
    else:
        yield True, f"config {config.path}"
    # What the file leaves to this machine: password variables, the example's hosts.
    for p in environment_problems(config):
        yield False, f"config: {p}"
    for warning in config_warnings(config):
        yield WARN, f"config: {warning}"

    workflow = None
    try:
        folder = rules_folder(config.scheme.rules, config.path.parent)
        workflow, problems = check_workflow(folder)
        for p in problems:
            yield False, f"rules: {p}"
        if workflow is not None:
            yield True, (f"rules {folder}: {len(workflow.steps)} step(s), {len(workflow.states)} states, "
                         f"{len(workflow.rules)} reply rules, {len(workflow.timers)} timers")
    except MailflowError as exc:
        yield False, f"rules: {exc}"

    renderer = Renderer(config.scheme.templates, config.scheme.language,
                        extra=workflow.template_folders if workflow is not None else ())
    names = [(n, "") for n in (*NOTE_TEMPLATES, *ALWAYS_TEMPLATES)]
    if workflow is not None:
        names += [(n, str(where)) for n, where in workflow.templates()]
        used = {a.split(":", 1)[0] for r in workflow.rules for a in r.do}
        names += [(n, "") for action, ts in FEATURE_TEMPLATES.items() if action in used for n in ts]
    ctx = sample_context(config, workflow)
    bad = 0
    for name, where in dict(names).items():
        if not renderer.exists(name):
            bad += 1
            yield False, f"{where + ': ' if where else ''}template {name!r} does not exist"
            continue
        try:
            renderer.render(name, ctx)
        except MailflowError as exc:
            bad += 1
            yield False, f"{where + ': ' if where else ''}{exc}"
    if not bad:
        yield True, f"templates: {len(dict(names))} render"
    if workflow is not None:
        yield from check_languages(config, workflow, renderer, [n for n, _ in names])

    try:
        if config.database_path.parent.exists():
            yield True, f"database {config.database_path}"
        else:
            yield False, f"database folder {config.database_path.parent} does not exist; run `mailflow init`"
    except OSError as exc:
        yield False, f"database: {exc}"

    if offline:
        return
    if config.imap.enabled:
        yield from _check_imap(config)
    else:
        yield True, "IMAP not configured ([imap] host is empty): replies come through the [listener]"
    if config.outbox.transport == "smtp":
        yield from _check_smtp(config)
    else:
        yield True, f"outbox writes to the Maildir {config.outbox.maildir} (no SMTP)"


def _check_imap(config: Config) -> Iterator[tuple[bool, str]]:
    from .inbound.imap import ImapInbox

    class _Shim:  # the poller wants a service only for fetching; a login needs none
        store = None

    inbox = ImapInbox(config.imap, _Shim())
    try:
        client = inbox.connect()
        info = client.folder_status(config.imap.folder, ["MESSAGES"])
        idle = "IDLE" if client.has_capability("IDLE") else "no IDLE: polling"
        yield True, (f"IMAP login as {config.imap.username} at {config.imap.host}:{config.imap.port}; "
                     f"{config.imap.folder} has {info[b'MESSAGES']} messages ({idle})")
    except MailflowError as exc:
        yield False, str(exc)
    finally:
        inbox.close()


def _check_smtp(config: Config) -> Iterator[tuple[bool, str]]:
    from .outbox import smtp_connect

    try:
        conn = smtp_connect(config.smtp)
        conn.quit()
        who = f"as {config.smtp.username}" if config.smtp.username else "(no login)"
        yield True, f"SMTP {config.smtp.host}:{config.smtp.port} {who}"
    except MailflowError as exc:
        yield False, str(exc)


def check_languages(config: Config, workflow: Workflow, renderer: Renderer,
                    names: list[str]) -> Iterator[tuple[bool | None, str]]:
    """For each language the scheme may write in (its catalogues, ``[scheme] language``
    and ``languages``): which template messages, command words and form labels have
    no translation (they fall back to the scheme's language, then English), each
    email rendered in it, and translated command lines that start with a word the
    rules do not know (their button would not answer)."""
    from . import i18n

    folders = [Path(f) for f in renderer.folders]
    wanted = {*i18n.languages_in(folders), *config.scheme.languages, config.scheme.language, *workflow.translations}
    langs = sorted(t for t in wanted if i18n.base(t) != i18n.SOURCE)
    if not langs:
        return
    messages = i18n.template_messages(folders, ["_footer", *dict.fromkeys(names)])
    total = len({m for ms in messages.values() for m in ms})
    sample = sample_context(config, workflow)
    for lang in langs:
        chain = tuple(t for t in (lang, i18n.base(lang)) if t in workflow.translations)
        missing = i18n.missing_messages(folders, lang, messages)
        untranslated = len({m for ms in missing.values() for m in ms})
        commands = [f"{ctx}.{c}" for ctx, spec in workflow.replies.items()
                    if set(spec.roles) - {"coordinator"}
                    for c in spec.commands if not any(c in workflow.translations[t].commands.get(ctx, {}) for t in chain)]
        labels = [f"{form}.{f.name}" for form, fields in workflow.forms.items() for f in fields
                  if not any(f.name in workflow.translations[t].fields.get(form, {}) for t in chain)]
        fallback = " then ".join(dict.fromkeys(i18n.chain(None, config.scheme.language)))
        if not (untranslated or commands or labels):
            yield True, (f"language {lang}: all {total} template messages, every command word and form label "
                         "translated")
        else:
            parts = []
            if untranslated:
                parts.append(f"{untranslated} of {total} template messages untranslated in {len(missing)} "
                             "template(s)")
            if commands:
                parts.append(f"{len(commands)} command(s) with no {lang} words")
            if labels:
                parts.append(f"{len(labels)} form label(s) untranslated")
            yield WARN, f"language {lang}: {'; '.join(parts)} (they fall back to {fallback})"
            for name, ms in list(missing.items())[:12]:
                shown = "; ".join(f"“{m[:50]}”" for m in ms[:2]) + (f" and {len(ms) - 2} more" if len(ms) > 2 else "")
                yield WARN, f"    {name}: {shown}"
            if len(missing) > 12:
                yield WARN, f"    ... and {len(missing) - 12} more templates"
            if commands:
                yield WARN, f"    commands: {', '.join(commands[:15])}{' ...' if len(commands) > 15 else ''}"
            if labels:
                yield WARN, f"    form labels: {', '.join(labels[:15])}{' ...' if len(labels) > 15 else ''}"
        # Every email renders in the language (a translation whose %(name)s do not fit fails here).
        ctx = dict(sample)
        ctx["recipient"] = Recipient("mentor@example.org", "Dr Ada Byron", "mentor", 1, language=lang)
        bad = []
        for name in dict.fromkeys(names):
            try:
                renderer.render(name, ctx)
            except MailflowError as exc:
                bad.append(str(exc))
        for b in bad:
            yield False, f"language {lang}: {b}"
        # Command lines in the catalogue must start with a command word of the language.
        words = {w for ctx_name in workflow.replies for c, ws in workflow.commands(ctx_name, (*chain, "en")).items()
                 for w in ws}
        for folder in folders:
            for tag in dict.fromkeys((lang, i18n.base(lang))):
                for po in i18n.catalogue_files(folder, tag):
                    for msgid, msgstr in i18n.messages_of(po).items():
                        head = _COMMAND_HEAD.match(msgid)
                        got = _TRANSLATED_HEAD.match(msgstr)
                        if head and (got is None or " ".join(got.group(1).lower().split()) not in words):
                            yield WARN, (f"{po}: “{msgstr[:40]}” translates a command line, but "
                                         f"“{got.group(1) if got else msgstr[:15]}” is not a command word of "
                                         f"{lang} or English in the rules (add it to lang/{tag}.toml)")


_COMMAND_HEAD = re.compile(r"^([A-Z][A-Z-]+(?: [A-Z]+)?)(?: <[^<>]+>)*(?: {2,}|$)")
_TRANSLATED_HEAD = re.compile(r"^([A-ZÀ-ÖØ-ÞŒ][A-ZÀ-ÖØ-ÞŒ'’-]+(?: [A-ZÀ-ÖØ-ÞŒ'’-]+)?)(?= |$)")
