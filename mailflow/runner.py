"""Running the service: one cycle (``run-once``) or forever (``serve``).

A cycle: fetch new mail from IMAP into the database, process every stored message,
settle the mailbox copies, fire due timers, send the outbox.

Only one consumer runs per database (:mod:`mailflow.lock`): ``serve`` holds the lock
for its whole life, ``run-once`` for its cycle; a second one waits briefly, then
exits with a message.

``serve`` runs cycles in the main thread, waiting between them on IMAP IDLE (where
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

from .clock import Clock
from .config import Config
from .errors import ConnectionFailed
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
    report.deliveries = service.deliver()
    return report


def tick(config: Config, clock: Clock | None) -> None:
    """The scheduled job: fire timers and send what is due, on its own connection."""
    try:
        service = Service(config, clock=clock)
    except StoreError as exc:
        log.warning("tick: %s", exc)
        return
    try:
        fired = service.fire_timers()
        sent = service.deliver()
        if fired or sent:
            log.info("tick: %d timers fired, %d emails handled", fired, len(sent))
    except StoreError as exc:
        log.warning("tick: %s", exc)
    finally:
        service.close()


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
