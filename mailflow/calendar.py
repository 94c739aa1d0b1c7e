"""Calendar invites (iCalendar, RFC 5545/5546) for the next meeting and the review date.

Each event has a stable ``UID`` (the pair, and which meeting), so a changed time is an
update of the same event (``SEQUENCE`` raised) and a cancellation removes it
(``METHOD:CANCEL``) in Outlook, Gmail and Apple Calendar. Times are written in the
reader's own time zone, with its ``VTIMEZONE``; a meeting with no time is an all-day
event. The scheme's address is the organiser; calendar replies that come back to it
are recognised and ignored (:func:`is_calendar_reply`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar

PRODID = "-//mailflow//mentoring//EN"


def invite(*, uid: str, sequence: int, method: str, summary: str, description: str, start: str,
           minutes: int | None, reader_tz: str, organizer: tuple[str, str], attendees: list[tuple[str, str]],
           now: dt.datetime) -> bytes:
    """One event as a whole calendar: ``start`` is an ISO date (all day) or an aware ISO time."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", now.astimezone(dt.timezone.utc))
    event.add("summary", summary)
    event.add("description", description)
    if "T" in start:
        begin = dt.datetime.fromisoformat(start).astimezone(zoneinfo.ZoneInfo(reader_tz or "UTC"))
        event.add("dtstart", begin)
        event.add("dtend", begin + dt.timedelta(minutes=minutes or 60))
    else:
        day = dt.date.fromisoformat(start)
        event.add("dtstart", day)
        event.add("dtend", day + dt.timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    org = icalendar.vCalAddress(f"mailto:{organizer[0]}")
    org.params["cn"] = icalendar.vText(organizer[1])
    event.add("organizer", org)
    for email, name in attendees:
        who = icalendar.vCalAddress(f"mailto:{email}")
        who.params["cn"] = icalendar.vText(name)
        who.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        who.params["rsvp"] = icalendar.vText("FALSE")
        event.add("attendee", who, encode=0)
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def is_calendar_reply(raw: bytes) -> bool:
    """An iMIP reply (someone accepted or declined our invite in their calendar)."""
    low = raw[:200_000].lower()
    return b"text/calendar" in low and b"method:reply" in low
