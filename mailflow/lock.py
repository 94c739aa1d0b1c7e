"""One consumer per database: ``serve`` or ``run-once``, never two at once.

Two cycles over the same database (overlapping cron runs, or ``serve`` plus a
``run-once``) would fetch and process the same messages side by side. The consumer
takes an exclusive lock on a file beside the database (``mailflow.db.lock``) for as
long as it runs. The kernel releases the lock when the process ends, however it
ends (SIGKILL included), so a crash never leaves a stale lock behind.

A second consumer waits ``[database] lock_wait_seconds`` for the lock, then gives up
with :class:`Busy`, a message naming the database and the process holding it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import MailflowError


class Busy(MailflowError):
    """Another mailflow process is already the consumer of this database."""


class ConsumerLock:
    def __init__(self, database: Path):
        self.database = Path(database)
        self.path = self.database.with_name(self.database.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait_seconds: float) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read(fd)
                    os.close(fd)
                    raise Busy(
                        f"another mailflow{holder} is already processing mail for {self.database} "
                        f"(it holds {self.path}). Waited {wait_seconds:g} s. Only one `serve` or `run-once` "
                        "may run per database; this one changed nothing. If a cron job overlaps, run it less "
                        "often; if `serve` is running, it does the work already."
                    ) from None
                time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing releases the lock

    def __enter__(self) -> ConsumerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""
