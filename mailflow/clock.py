"""The clock and the token source, passed in rather than reached for.

Every part of mailflow that needs the time or a fresh secret takes one of these, so
tests can fix time, move it forward (``FixedClock.advance(days=7)``) and never sleep.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Protocol

UTC = dt.timezone.utc


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    """The real time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move. For tests and the demo."""

    def __init__(self, start: dt.datetime | None = None):
        start = start or dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        self._now += dt.timedelta(**delta)
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = when.astimezone(UTC)


class TokenSource(Protocol):
    def token(self) -> str:
        """A fresh, unguessable token, safe in an email address's local part."""


class SecretTokens:
    """120-bit tokens from :mod:`secrets`, in lower-case base32.

    Lower case because some mail systems fold the case of an address's local part;
    base32 because it survives that and needs no quoting in ``local+TOKEN@domain``.
    """

    def token(self) -> str:
        import secrets  # here: it costs start-up time that commands which send nothing need not pay

        return base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


class CountingTokens:
    """Predictable tokens for tests: ``tok0000000000000000000001`` and so on."""

    def __init__(self) -> None:
        self.n = 0

    def token(self) -> str:
        self.n += 1
        return f"tok{self.n:021d}"


def iso(when: dt.datetime) -> str:
    """The one text form of a time in the database: UTC, ISO 8601, to the second."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
