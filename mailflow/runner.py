"""Running the service: one cycle (``run-once``) or forever (``serve``).

A cycle: fetch new mail from IMAP into the database, process every stored message,
settle the mailbox copies, fire due timers, queue the coordinators' weekly summary
when it is due (:mod:`mailflow.summary`), purge old raw mail (``[retention]``), send
the outbox.

Only one consumer runs per database (:mod:`mailflow.lock`): ``serve`` holds the lock
for its whole life, ``run-once`` for its cycle; a second one waits briefly, then
exits with a message.

``serve`` runs cycles in the main thread (with several schemes, :class:`Servers`
runs one :class:`Server` per scheme, each in a thread of its own), waiting between them on IMAP IDLE (where
the server has it; otherwise polling every ``poll_seconds``) or on the SMTP/LMTP
listener. An APScheduler background job fires timers and retries the outbox every
``TICK_SECONDS`` with its own database connection, so reminders go out even while
the mailbox is quiet. Connection errors are logged and retried with a growing
delay (at most five minutes); so are database errors (a full disk), with a message
naming the cause. SIGTERM or SIGINT stop it cleanly: the message in
hand is finished (its transaction commits or rolls back whole), IMAP is logged out
and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading

from imapclient.exceptions import IMAPClientError

from . import privacy, summary
from .clock import Clock
from .config import Config
from .errors import ConnectionFailed, MailflowError
from .inbound.imap import ImapInbox
from .lock import ConsumerLock
from .outbox import recover
from .service import CycleReport, Service
from .store import StoreError

log = logging.getLogger("mailflow")

TICK_SECONDS = 60
MAX_BACKOFF_SECONDS = 300


IMAP_ERRORS = (ConnectionFailed, IMAPClientError, OSError)


def run_once(service: Service, inbox: ImapInbox | None, *, locked: bool = False) -> CycleReport:
    """One cycle. An IMAP failure does not stop the rest: stored messages are still
    processed, reminders fired and the outbox sent; the error is in ``report.imap_error``.

    The cycle holds the database's consumer lock (:mod:`mailflow.lock`), unless the
    caller holds it already (``locked``, as ``serve`` does): a second consumer waits
    ``[database] lock_wait_seconds``, then raises :class:`~mailflow.lock.Busy`.
    """
    if not locked:
        with ConsumerLock(service.config.database_path) as lock:
            lock.acquire(service.config.lock_wait_seconds)
            recover(service.store, service.clock.now())
            return run_once(service, inbox, locked=True)
    report = CycleReport()
    if inbox is not None:
        try:
            report.fetched = inbox.fetch_new()
        except IMAP_ERRORS as exc:
            report.imap_error = str(exc)
            inbox.close()
    report.processed = service.process_pending()
    if inbox is not None and not report.imap_error:
        try:
            report.settled = inbox.settle()
        except IMAP_ERRORS as exc:
            report.imap_error = str(exc)
            inbox.close()
    report.timers = service.fire_timers()
    report.summaries = _periodic(service)
    report.deliveries = service.deliver()
    return report


def tick(config: Config, clock: Clock | None) -> None:
    """The scheduled job: fire timers, queue the weekly summary when it is due, purge
    old raw mail, and send what is due, on its own connection."""
    try:
        service = Service(config, clock=clock)
    except StoreError as exc:
        log.warning("tick: %s", exc)
        return
    try:
        fired = service.fire_timers()
        if _periodic(service):
            log.info("tick: the weekly summary is queued")
        sent = service.deliver()
        if fired or sent:
            log.info("tick: %d timers fired, %d emails handled", fired, len(sent))
    except StoreError as exc:
        log.warning("tick: %s", exc)
    finally:
        service.close()


def _periodic(service: Service) -> int:
    """The weekly summary (when due) and the raw-mail purge. A failure here (a broken
    summary template, say) is logged and tried again next time: it never stops the
    cycle, whose mail matters more. Returns the number of summaries queued."""
    queued = 0
    try:
        queued = summary.send_if_due(service)
    except MailflowError as exc:
        log.error("the weekly summary could not be queued; it is tried again next cycle: %s", exc)
    except Exception:  # a bug must not stop replies being processed and mail sent
        log.exception("the weekly summary failed; it is tried again next cycle")
    try:
        privacy.purge_raw_mail(service)
    except Exception:
        log.exception("old raw mail could not be purged; it is tried again next cycle")
    return queued


class Server:
    """``mailflow serve``."""

    def __init__(self, config: Config, clock: Clock | None = None):
        self.config = config
        self.clock = clock
        self.stop_event = threading.Event()
        self.wake = threading.Event()

    def stop(self, *_args) -> None:
        log.info("stopping")
        self.stop_event.set()
        self.wake.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self) -> None:
        with ConsumerLock(self.config.database_path) as lock:
            lock.acquire(self.config.lock_wait_seconds)
            self._run()

    def _run(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler  # serve only: run-once needs no scheduler

        config = self.config
        service = Service(config, clock=self.clock)
        recover(service.store, service.clock.now())
        inbox = ImapInbox(config.imap, service) if config.imap.enabled else None
        listener = None
        if config.listener.enabled:
            from .inbound.listener import Listener

            listener = Listener(config, service.clock)
            listener.handler.on_stored = lambda _id: self.wake.set()
            listener.start()
        scheduler = BackgroundScheduler(timezone=config.scheme.timezone)
        scheduler.add_job(tick, "interval", seconds=TICK_SECONDS, args=(config, self.clock), id="timers-and-outbox",
                          max_instances=1, coalesce=True, misfire_grace_time=TICK_SECONDS)
        scheduler.start()
        backoff = 1.0
        try:
            while not self.stop_event.is_set():
                try:
                    report = run_once(service, inbox, locked=True)
                    if report.fetched or report.processed or report.deliveries:
                        log.info(report.line())
                    if report.imap_error:
                        raise ConnectionFailed(report.imap_error)
                    backoff = 1.0
                    # Wait for IMAP IDLE news, a message from the listener, a stop, or the poll interval.
                    if inbox is not None:
                        inbox.wait(config.imap.poll_seconds, self.wake)
                    else:
                        self.wake.wait(config.imap.poll_seconds)
                    if not self.stop_event.is_set():
                        self.wake.clear()
                except StoreError as exc:  # a full disk, a read-only file: wait for it to be fixed
                    log.warning("database problem: %s Retrying in %.0f s", exc, backoff)
                    if inbox is not None:
                        inbox.close()
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                except IMAP_ERRORS as exc:
                    log.warning("connection problem: %s; retrying in %.0f s", exc, backoff)
                    if inbox is not None:
                        inbox.close()
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            scheduler.shutdown(wait=True)
            if listener is not None:
                listener.stop()
            if inbox is not None:
                inbox.close()
            service.close()
            log.info("stopped")


def check_separate(configs: list[Config]) -> None:
    """Several schemes in one process must share nothing: not a config file, a
    database, an address, a mailbox folder or a listener port. Raises ConfigError
    naming both files."""
    from .errors import ConfigError

    seen: dict[tuple, Config] = {}
    for config in configs:
        keys = [(("config", config.path), "the same config file"),
                (("database", config.database_path.resolve()), f"the database {config.database_path}"),
                (("address", config.scheme.address), f"the address {config.scheme.address}")]
        if config.imap.enabled:
            keys.append((("imap", config.imap.host.lower(), config.imap.port, config.imap.username.lower(),
                          config.imap.folder), f"the mailbox {config.imap.username} {config.imap.folder} at "
                                               f"{config.imap.host}"))
        if config.listener.enabled:
            keys.append((("listener", config.listener.host, config.listener.port),
                         f"the listener port {config.listener.host}:{config.listener.port}"))
        for key, what in keys:
            if key in seen:
                raise ConfigError(f"{config.path} and {seen[key].path} share {what}: each scheme served together "
                                  "needs its own config, database, address, mailbox folder and listener port.")
            seen[key] = config


class Servers:
    """``mailflow serve --config a.toml --config b.toml``: one :class:`Server` per
    scheme, each in its own thread with its own service, database, rules, templates,
    mailbox and scheduler. SIGTERM stops them all; if one fails, the others are
    stopped too and the process exits with an error, so a supervisor restarts it."""

    def __init__(self, configs: list[Config], clock: Clock | None = None):
        check_separate(configs)
        for config in configs:  # rules and templates that do not load fail here, before anything runs
            Service(config, clock=clock).close()
        self.servers = [Server(c, clock) for c in configs]
        self.failed: list[tuple[str, BaseException]] = []

    def stop(self, *_args) -> None:
        for server in self.servers:
            server.stop()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _run(self, server: Server) -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - reported, and everything stops
            log.exception("scheme %s (%s) failed; stopping every scheme", server.config.scheme.name, server.config.path)
            self.failed.append((server.config.scheme.name, exc))
            self.stop()

    def run(self) -> None:
        threads = [threading.Thread(target=self._run, args=(s,), name=f"scheme:{s.config.scheme.name}", daemon=True)
                   for s in self.servers]
        for s, t in zip(self.servers, threads):
            log.info("serving %s (%s) from %s", s.config.scheme.name, s.config.scheme.address, s.config.path)
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
        if self.failed:
            from .errors import MailflowError

            name, exc = self.failed[0]
            raise MailflowError(f"scheme {name} stopped with an error ({type(exc).__name__}: {exc}); "
                                "every scheme was stopped") from exc
