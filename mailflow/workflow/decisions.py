"""What the workflow decides, as small values. Nothing here acts.

The engine returns these; :mod:`mailflow.workflow.apply` carries them out inside the
inbound message's (or timer's) transaction: state changes, event log, outbox rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

# Who an email goes to, relative to the pair and the message being answered.
Audience = Literal["mentor", "mentee", "both", "coordinators", "sender", "partner", "unvoted"]


@dataclass(frozen=True)
class Transition:
    """Move the pair to another state (timers of the old state are cancelled)."""

    to: str


@dataclass(frozen=True)
class Send:
    """Queue an email from ``template`` to ``to``.

    ``expects`` names the reply context the email opens: a reply to it is read
    against that context's commands and form. ``vars`` are extra template variables
    (never a participant's reply text, unless it goes back to that participant).
    """

    template: str
    to: Audience
    expects: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    exempt: bool = False  # exempt from the daily cap: confirms a person's own reply
    invite: str | None = None  # attach an iCalendar invite: meeting | meeting-cancel | review
    ref: str = ""  # bound to the reply token, e.g. the agreement version the email shows
    attach: str | None = None  # attach a file: export (the sender's own data) | pairs-csv (coordinators)


@dataclass(frozen=True)
class Record:
    """Append an event to the log: status, dates and counts only."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MarkBouncing:
    """A participant's address bounced permanently."""

    email: str
    status: str = ""


@dataclass(frozen=True)
class SetAway:
    """An out-of-office reply said when the participant is back."""

    email: str
    until: dt.date | None


@dataclass(frozen=True)
class SaveDraft:
    """Keep the form values understood so far for the pair (shown to no one else)."""

    form: str
    values: dict[str, Any]


@dataclass(frozen=True)
class SetFacts:
    """Set facts the pair holds (dates, counters, flags, votes); None removes one.

    Timers set relative to a date fact (``at = "review_date - 14d"``) are moved when
    it changes."""

    values: dict[str, Any]


@dataclass(frozen=True)
class SetParticipant:
    """Change the sender's own settings: ``available``, ``capacity``, ``status``,
    ``consented_at`` and ``consent`` (how: ``reply`` or ``implied``)."""

    values: dict[str, Any]


@dataclass(frozen=True)
class ProposeAgreement:
    """A new version of the pair's agreement, confirmed by the role that proposed it."""

    version: int
    values: dict[str, Any]
    by: str


@dataclass(frozen=True)
class ConfirmAgreement:
    """``role`` confirmed agreement ``version``; ``activate`` when both now have."""

    version: int
    role: str
    activate: bool = False


@dataclass(frozen=True)
class LogMeeting:
    """A meeting happened (``minutes`` may be unknown)."""

    date: dt.date
    minutes: int | None


@dataclass(frozen=True)
class KeepPrivate:
    """Something only its author may see again (a pulse score, a reason for ending,
    a check-in note). Never shown to the partner or the coordinators."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class GiveFeedback:
    """Feedback to the scheme: shown to coordinators only as counts, and as text only
    in anonymous summaries of at least three people."""

    kind: str
    rating: int | None
    text: str


@dataclass(frozen=True)
class StartTimer:
    """Start a ``start = "manual"`` timer for the person who wrote."""

    name: str


@dataclass(frozen=True)
class SaveProfile:
    """What the sender told us about themselves (the welcome's profile form: a mentor's
    expertise, capacity, availability, the scheme's own columns). ``capacity`` also
    sets how many mentees a mentor takes."""

    values: dict[str, Any]


@dataclass(frozen=True)
class Withdraw:
    """The sender said NO to taking part: they are removed. Their name, address, role
    and language are kept (so they are not enrolled again, and the coordinators see
    it); their profile, settings and facts are deleted."""


@dataclass(frozen=True)
class MoveParticipant:
    """Move the pair's mentee or mentor (``role``) to one of their own (participant) states."""

    role: str
    state: str


@dataclass(frozen=True)
class RequestMentor:
    """A mentee asked for a mentor from the directory (``REQUEST <number or name>``).
    The applier finds the mentor, makes the pairing checks (:mod:`mailflow.matching`)
    and either starts the pair or tells the mentee, neutrally, that it cannot be."""

    choice: str


Decision = (RequestMentor | SaveProfile | Withdraw | MoveParticipant | Transition | Send | Record | MarkBouncing | SetAway | SaveDraft | SetFacts | SetParticipant
            | ProposeAgreement | ConfirmAgreement | LogMeeting | KeepPrivate | GiveFeedback | StartTimer)


@dataclass(frozen=True)
class Outcome:
    """The engine's answer for one message or timer.

    ``status`` is how the inbound message ends: ``processed`` when it changed
    something, ``ignored`` (with ``reason``) when it did not. ``rule_hits`` records
    which rules matched, for ``mailflow status`` and debugging.
    """

    status: Literal["processed", "ignored"]
    reason: str
    decisions: tuple[Decision, ...] = ()
    rule_hits: tuple[str, ...] = ()
