"""The ``mailflow`` command line: a thin click layer over :class:`mailflow.service.Service`.

Every command takes ``--config PATH`` (default: ``$MAILFLOW_CONFIG``, then
``./mailflow.toml``). Errors a user can fix are printed as one clear message, with
no traceback, and exit with status 1.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import click

from . import __version__
from .config import Config, find_path, load
from .errors import MailflowError
from .resources import shipped


def _config(ctx: click.Context) -> Config:
    return load(find_path(ctx.obj["config"]))


def _service(ctx: click.Context):
    from .service import Service

    return Service(_config(ctx))


def _progress(items, label: str, length: int):
    """``items``, with a progress bar on stderr when it is a terminal (and nothing when not)."""
    if not sys.stderr.isatty() or length < 2:
        yield from items
        return
    with click.progressbar(items, label=label, length=length, file=sys.stderr) as bar:
        yield from bar
def _reader(ctx: click.Context):
    """What a command that only reads needs: the config, the database, the rules and
    the clock, without the service's mail machinery (its imports alone took longer
    than the command's work; issue 12)."""
    from types import SimpleNamespace

    from .clock import SystemClock
    from .store import Store
    from .workflow.loader import load_workflow, rules_folder

    config = _config(ctx)
    return SimpleNamespace(config=config, store=Store(config.database_path), clock=SystemClock(),
                           workflow=load_workflow(rules_folder(config.scheme.rules, config.path.parent)))


class _Group(click.Group):
    """Turns a :class:`MailflowError` into a message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MailflowError as exc:
            click.echo(f"mailflow: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.option("--config", "config", metavar="PATH", envvar="MAILFLOW_CONFIG",
              help="The config file (default: $MAILFLOW_CONFIG, then ./mailflow.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, to stderr.")
@click.version_option(__version__, prog_name="mailflow")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """mailflow: one-to-one mentoring schemes run entirely over email."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


@main.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--scheme", "scheme", metavar="NAME", default=None,
              help="A shipped scheme preset to run: research-e-mentoring, professional-society, "
                   "global-health-trials, clinical-training (default: the default scheme).")
@click.pass_context
def init(ctx: click.Context, force: bool, scheme: str | None) -> None:
    """Write a starter config and create the database.

    \b
    Example:
        mailflow init --scheme clinical-training && $EDITOR mailflow.toml && mailflow check
    """
    from .schemes import describe, preset_config

    path = find_path(ctx.obj["config"])
    text = preset_config(scheme) if scheme else None  # an unknown preset fails before anything is written
    if path.exists() and not force:
        click.echo(f"{path} exists; keeping it (use --force to overwrite).")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            shutil.copyfile(shipped("config.example.toml"), path)
        else:
            path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}: edit [scheme], [imap] and [smtp], then run `mailflow check`.")
    if scheme:
        for line in describe(scheme):
            click.echo(line)
    from .store import Store

    config = load(path)
    Store(config.database_path).close()
    click.echo(f"database ready at {config.database_path}")


@main.command()
@click.option("--offline", is_flag=True, help="Do not try the IMAP and SMTP logins.")
@click.pass_context
def check(ctx: click.Context, offline: bool) -> None:
    """Validate the config, rules and templates, and try the IMAP and SMTP logins.

    Every problem is listed in one run, each with its file, line and key. Offline,
    it also says which password variables are unset and which hosts are still the
    example's; it warns when a TLS mode does not fit its port.
    """
    from .checks import run_checks

    ok = True
    for passed, line in run_checks(find_path(ctx.obj["config"]), offline=offline):
        click.echo({True: "ok    ", False: "FAIL  ", None: "warn  "}[passed] + line)
        ok &= passed is not False
    if not ok:
        ctx.exit(1)


@main.command()
@click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path),
              help="CSV with columns role,name,email (role: mentor, mentee or coordinator); more columns allowed.")
@click.pass_context
def enrol(ctx: click.Context, csv_path: Path) -> None:
    """Enrol participants from a CSV file, all or nothing.

    \b
    Example CSV:
        role,name,email,department
        mentor,Dr Ada Byron,ada@example.org,Pharmacy
        mentee,Sam Lee,sam@example.org,Research
    """
    from .enrol import read_csv

    people = read_csv(csv_path)
    service = _service(ctx)
    counts = service.enrol(people, progress=_progress)
    click.echo(f"enrolled from {csv_path}: {counts['added']} added, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged"
               + (f", {counts['withdrawn']} not enrolled again (they replied NO to their welcome)"
                  if counts.get("withdrawn") else ""))


@main.command()
@click.argument("mentee_email", required=False)
@click.argument("mentor_email", required=False)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Pair many at once: a CSV with columns mentee,mentor (addresses); all or nothing.")
@click.pass_context
def pair(ctx: click.Context, mentee_email: str | None, mentor_email: str | None, csv_path: Path | None) -> None:
    """Pair a mentee with a mentor and queue the introductions (sent by run-once or serve).

    \b
    Or many at once, all or nothing (a bad row is reported with its line):
        mailflow pair --csv pairs.csv      # columns: mentee,mentor
    """
    if csv_path is not None:
        if mentee_email or mentor_email:
            raise click.UsageError("give MENTEE MENTOR, or --csv FILE, not both")
        from .enrol import read_pairs_csv

        rows = read_pairs_csv(csv_path)
        service = _service(ctx)
        ids = service.pair_many(rows)
        click.echo(f"paired from {csv_path}: {len(ids)} pairs, {2 * len(ids) if ids else 0} introductions queued"
                   if ids else f"{csv_path} holds no pairs")
        return
    if not (mentee_email and mentor_email):
        raise click.UsageError("give MENTEE MENTOR (their addresses), or --csv FILE")
    service = _service(ctx)
    pair_id = service.pair(mentee_email, mentor_email)
    p = service.store.pair(pair_id)
    queued = service.store.scalar("SELECT count(*) FROM outbox WHERE pair_id = ? AND status = 'pending'", (pair_id,))
    click.echo(f"pair {pair_id}: {p['mentee_name']} <{p['mentee_email']}> with {p['mentor_name']} "
               f"<{p['mentor_email']}>, state {p['state']}; {queued} emails queued")


@main.command()
@click.argument("pair_id", metavar="PAIR", type=int)
@click.option("--reason", default="", metavar="TEXT",
              help="Why, for the coordinators' record (never sent to the pair).")
@click.pass_context
def close(ctx: click.Context, pair_id: int, reason: str) -> None:
    """End a pair (PAIR is its number in `mailflow status`).

    Both are told, neutrally, that the scheme has closed their mentoring, and get
    the feedback form and their record; the coordinators are told. The reason is
    kept in the event log for the coordinators only.
    """
    service = _service(ctx)
    service.close_pair(pair_id, reason)
    p = service.store.pair(pair_id)
    queued = service.store.scalar("SELECT count(*) FROM outbox WHERE pair_id = ? AND status = 'pending'", (pair_id,))
    click.echo(f"pair {pair_id}: {p['mentee_name']} with {p['mentor_name']} is now {p['state']}; "
               f"{queued} emails queued")


@main.command()
@click.argument("email")
@click.option("--reason", required=True, metavar="TEXT",
              help="Why (e.g. a restriction on their registration), for the coordinators only.")
@click.pass_context
def restrict(ctx: click.Context, email: str, reason: str) -> None:
    """Make a mentor ineligible: not listed in the directory and not pairable.

    Their active pairs are not ended: each is flagged to the coordinators, who are
    told which, with the reason. `mailflow restore EMAIL` lifts it.
    """
    service = _service(ctx)
    pairs = service.restrict(email, reason)
    click.echo(f"{email}: restricted; not listed and cannot be paired. "
               + (f"Flagged to the coordinators: pair(s) {', '.join(map(str, pairs))} (not ended)."
                  if pairs else "No active pairs."))


@main.command()
@click.argument("email")
@click.pass_context
def restore(ctx: click.Context, email: str) -> None:
    """Lift a mentor's restriction: listed and pairable again; the coordinators are told."""
    service = _service(ctx)
    pairs = service.restore(email)
    click.echo(f"{email}: restored; listed and can be paired again."
               + (f" Flag lifted on pair(s) {', '.join(map(str, pairs))}." if pairs else ""))


@main.command("run-once")
@click.pass_context
def run_once_cmd(ctx: click.Context) -> None:
    """One full cycle: fetch and process new mail, fire due timers, send the outbox; then exit."""
    from .inbound.imap import ImapInbox
    from .runner import run_once

    service = _service(ctx)
    inbox = ImapInbox(service.config.imap, service) if service.config.imap.enabled else None
    try:
        report = run_once(service, inbox)
    finally:
        if inbox is not None:
            inbox.close()
        service.close()
    click.echo(report.line())
    for d in report.deliveries:
        if d.status != "sent":
            click.echo(f"  outbox #{d.outbox_id} to {d.to_addr}: {d.status}: {d.detail}", err=True)
    if report.imap_error:
        # Everything else in the cycle ran; what was stored is kept, the next run resumes.
        click.echo(f"mailflow: the mailbox could not be read: {report.imap_error}", err=True)
        ctx.exit(1)


@main.command()
@click.option("--config", "configs", multiple=True, metavar="PATH",
              help="A scheme's config file; give it once per scheme to run several schemes in one process.")
@click.pass_context
def serve(ctx: click.Context, configs: tuple[str, ...]) -> None:
    """Run until stopped: IMAP IDLE (or polling), the listener if enabled, timers and the outbox.

    With several --config files (`mailflow serve --config trust.toml --config
    society.toml`), each scheme runs with its own address, mailbox, rules,
    templates, coordinators and database, and nothing passes between them.
    Stops cleanly on SIGTERM or Ctrl-C.
    """
    from .runner import Server, Servers

    logging.getLogger().setLevel(logging.INFO)
    paths = list(configs)
    source = ctx.parent.get_parameter_source("config") if ctx.parent is not None else None
    if ctx.obj["config"] and (not paths or source != click.core.ParameterSource.ENVIRONMENT):
        paths.insert(0, ctx.obj["config"])
    loaded = [load(find_path(p)) for p in paths] or [_config(ctx)]
    server = Server(loaded[0]) if len(loaded) == 1 else Servers(loaded)
    server.install_signal_handlers()
    server.run()


@main.command()
@click.argument("email", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (for everyone: every pair).")
@click.option("--all", "everything", is_flag=True, help="Every pair, not only the counts and what needs attention.")
@click.option("--page", type=click.IntRange(min=1), default=None, help="One page of 50 pairs (from 1).")
@click.pass_context
def status(ctx: click.Context, email: str | None, as_json: bool, everything: bool, page: int | None) -> None:
    """Pairs and their states (for one participant with EMAIL), and the mail queues.

    For everyone: pairs by state and what needs attention (flags, bounces,
    quarantined mail, failed deliveries); each pair with --all or --page N (every
    pair is listed anyway while there are at most 50). Shows status, dates and
    counts only: never what anyone wrote.
    """
    from .status import PAGE_SIZE, format_text, gather

    view = _reader(ctx)
    if email or page or everything or as_json:
        data = gather(view, email, page=page)
    else:
        data = gather(view, pairs=False)
        if data["summary"]["pairs"] <= PAGE_SIZE:
            data = gather(view)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(format_text(data))


@main.command()
@click.argument("inbound_ids", metavar="ID...", type=int, nargs=-1)
@click.option("--quarantined", is_flag=True, help="Every quarantined message.")
@click.pass_context
def replay(ctx: click.Context, inbound_ids: tuple[int, ...], quarantined: bool) -> None:
    """Process quarantined messages again from their stored copies (after fixing the cause)."""
    service = _service(ctx)
    ids = list(inbound_ids)
    if quarantined:
        ids += [r["id"] for r in service.store.all("SELECT id FROM inbound WHERE status = 'quarantined' ORDER BY id")]
    if not ids:
        raise click.UsageError("give the ID of a message (mailflow status lists them), or --quarantined")
    results = []
    for inbound_id in _progress(ids, "replaying", len(ids)):
        results.append((inbound_id, service.replay(inbound_id)))
    for inbound_id, result in results:
        row = service.store.one("SELECT status, reason FROM inbound WHERE id = ?", (inbound_id,))
        click.echo(f"inbound #{inbound_id}: {result} ({row['reason'] or 'no reason recorded'})")


@main.command()
@click.option("--preview", is_flag=True, help="Write summary.txt, summary.html and the CSV; send nothing.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Where --preview writes its files.")
@click.option("--send", is_flag=True, help="Send a summary to every coordinator now (the weekly one still goes).")
@click.pass_context
def summary(ctx: click.Context, preview: bool, out: Path, send: bool) -> None:
    """The coordinators' summary: look at it (--preview), or send one now (--send).

    The weekly one is sent by `serve` and `run-once` at [summary] day and time.
    """
    from . import summary as summary_mod

    if preview == send:
        raise click.UsageError("give --preview (write the files, send nothing) or --send (send one now)")
    service = _service(ctx)
    now = service.clock.now()
    if preview:
        for path in summary_mod.write_preview(service, out, now):
            click.echo(f"wrote {path}")
        return
    day, _ = summary_mod.scheduled(service.config, now)
    with service.store.transaction():
        ids = summary_mod.queue(service, "coordinators", key=f"asked:{now.isoformat()}", kind="asked", week=day,
                                now=now)
    sent = [d for d in service.deliver() if d.outbox_id in ids]
    for d in sent:
        click.echo(f"summary to {d.to_addr}: {d.status}{': ' + d.detail if d.detail else ''}")
    if not ids:
        click.echo("nothing sent: no coordinators to send it to (see [scheme] coordinators)")


@main.command()
@click.argument("pair_id", metavar="PAIR", type=int)
@click.pass_context
def nudge(ctx: click.Context, pair_id: int) -> None:
    """Remind a pair of what we are waiting for from them (PAIR is its number).

    Each of them who owes an answer gets the last question we asked them again, as
    a new email whose reply counts; the same as NUDGE in a reply to the summary.
    """
    from .coordinate import nudge as do_nudge

    service = _service(ctx)
    click.echo(do_nudge(service, pair_id, key=f"nudge:{pair_id}:{service.clock.now().isoformat()}")
               + " (the emails are sent by run-once or serve)")


@main.command()
@click.argument("email", required=False)
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Where to write: a folder (or a .zip) for EMAIL's data; a .csv for the pairs (default: stdout).")
@click.pass_context
def export(ctx: click.Context, email: str | None, out: Path | None) -> None:
    """Export one participant's data (EMAIL), or the CSV of all pairs (no EMAIL).

    \b
    mailflow export sam@example.org --out sam.zip   everything held about Sam: JSON,
                                                     and their emails as .eml files
    mailflow export --out pairs.csv                  every pair: state, dates, flags
    """
    from . import export as export_mod

    service = _service(ctx)
    now = service.clock.now()
    if email is None:
        data = export_mod.pairs_csv(service, now)
        if out is None:
            click.echo(data.decode("utf-8-sig"), nl=False)
        else:
            out.write_bytes(data)
            click.echo(f"wrote {out} ({len(service.store.pairs())} pairs)")
        return
    if out is None:
        raise click.UsageError("give --out PATH: a new folder, or a file name ending in .zip")
    path = export_mod.write_export(service.store, email, out, now, service.config.scheme.name, progress=_progress)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, email: str, yes: bool) -> None:
    """Erase a participant and everything about them, raw mail included.

    Their pairs stay as anonymous counts (states and dates). It cannot be undone:
    export their data first if they asked for a copy.
    """
    from .privacy import erase as do_erase

    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("erasing cannot be undone; add --yes to confirm")
        click.confirm(f"Erase {email} and everything about them? This cannot be undone", abort=True)
    service = _service(ctx)
    counts = do_erase(service, email)
    wal = counts.pop("wal_emptied")
    click.echo(f"erased {email}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if not wal:
        click.echo("mailflow: another process had the database open, so its write-ahead log may still hold old "
                   "pages until its next checkpoint; to be sure, erase while `mailflow serve` is stopped", err=True)


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where to put the demo's config, database and mail (default: a new temporary folder).")
def demo(directory: Path | None) -> None:
    """Play a short scheme on this machine with no mail server at all.

    Enrols three people, pairs a mentee with a mentor, sends the introductions,
    replies ACCEPT through an embedded SMTP endpoint, and shows the confirmations.
    """
    from .demo import run_demo

    sys.exit(run_demo(directory, echo=click.echo))


if __name__ == "__main__":  # pragma: no cover
    main()
