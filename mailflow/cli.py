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
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a starter config and create the database.

    \b
    Example:
        mailflow init && $EDITOR mailflow.toml && mailflow check
    """
    path = find_path(ctx.obj["config"])
    if path.exists() and not force:
        click.echo(f"{path} exists; keeping it (use --force to overwrite).")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped("config.example.toml"), path)
        click.echo(f"wrote {path}: edit [scheme], [imap] and [smtp], then run `mailflow check`.")
    from .store import Store

    config = load(path)
    Store(config.database_path).close()
    click.echo(f"database ready at {config.database_path}")


@main.command()
@click.option("--offline", is_flag=True, help="Do not try the IMAP and SMTP logins.")
@click.pass_context
def check(ctx: click.Context, offline: bool) -> None:
    """Validate the config, rules and templates, and try the IMAP and SMTP logins."""
    from .checks import run_checks

    ok = True
    for passed, line in run_checks(find_path(ctx.obj["config"]), offline=offline):
        click.echo(("ok    " if passed else "FAIL  ") + line)
        ok &= passed
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
    counts = service.enrol(people)
    click.echo(f"enrolled from {csv_path}: {counts['added']} added, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged")


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
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run until stopped: IMAP IDLE (or polling), the listener if enabled, timers and the outbox.

    Stops cleanly on SIGTERM or Ctrl-C.
    """
    from .runner import Server

    logging.getLogger().setLevel(logging.INFO)
    server = Server(_config(ctx))
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
@click.argument("inbound_id", type=int)
@click.pass_context
def replay(ctx: click.Context, inbound_id: int) -> None:
    """Process a quarantined message again from its stored copy (after fixing the cause)."""
    service = _service(ctx)
    result = service.replay(inbound_id)
    row = service.store.one("SELECT status, reason FROM inbound WHERE id = ?", (inbound_id,))
    click.echo(f"inbound #{inbound_id}: {result} ({row['reason'] or 'no reason recorded'})")


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
