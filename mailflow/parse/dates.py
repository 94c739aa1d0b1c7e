"""Dates written by people, read with dateparser.

``parse_date`` reads one date from a short piece of text (a form value such as
"next Tuesday", "3rd March", "03/04", "Tues 3/3", "in two weeks") and says whether
it is usable. The parsing itself is dateparser's; this module only

* makes dateparser deterministic: a fixed language list (no language detection, which
  is slow and guesses), ``RELATIVE_BASE`` = the reply's Date header converted to the
  scheme's time zone (naive local time), ``PREFER_DATES_FROM``, ``DATE_ORDER`` and
  ``TIMEZONE`` from the scheme, ``RETURN_AS_TIMEZONE_AWARE=False``;
* normalises the few things dateparser misreads or does not know: ordinals ("3rd"
  -> "3", which with ``DATE_ORDER=MDY`` dateparser reads as a *month*), a lone day
  of the month ("the 6th", "Friday 3rd": dateparser picks this month's, even when it
  has passed), "Weds"/"Thurs", "wks", "6 of April", numeric dates (rewritten to
  "3 April [2026]" after choosing the reading, so a two-digit year or an impossible
  reading such as "04/13" read day-first cannot turn into the year 2113), "a week on
  Friday" / "Friday week" / "a week tomorrow" (not understood by dateparser);
* refuses what dateparser accepts but is not a day: a bare month ("April"), a year,
  "next week", a time alone ("10:30", "noon"), single letters ("a" reads as the 1st);
* applies the scheme's rules: a date without a year is the next occurrence on or after
  the base day (dateparser's "future" preference skips today: "27 March" written on
  27 March would become next year); a date before the base day is ``past`` when
  ``future`` is set; "03/04" is ``ambiguous`` only when the scheme has no date order
  (``date_order`` "" or "auto"); text naming two different dates ("6 or 13 April",
  "Tuesday or Wednesday") is ``ambiguous``; a weekday that does not fit the date
  ("Tuesday 4 March 2026", a Wednesday) is ``invalid`` and the reason says why.

A bare weekday ("Friday", "on Friday", "next Friday") is the next such day *after* the
base day (dateparser's reading); "this Friday" on a Friday is that day.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# dateparser is imported where a date is read, not here: it takes ~0.1 s, and most
# commands (status, enrol, --help) read no dates (issue 12).

from mailflow.parse.result import DateResult

__all__ = ["display", "parse_date", "find_dates", "leading_date", "local_base", "plain"]

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DEFAULT_LANGUAGES: tuple[str, ...] = ("en",)
_MAX_TEXT = 400  # longer "dates" are not dates; cut before anything slow runs


def display(d: dt.date) -> str:
    """The date written so nobody can misread it: ``"Tuesday 3 March 2026"``."""
    return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


def plain(d: dt.date, *, year: bool = True) -> str:
    """``"3 March 2026"`` (or ``"3 March"``), for reasons."""
    text = f"{d.day} {MONTHS[d.month - 1]}"
    return f"{text} {d.year}" if year else text


def local_base(base: dt.datetime, tz: str) -> dt.datetime:
    """``base`` in the zone ``tz`` as a naive local time (a naive ``base`` is UTC).

    Raises ``ValueError`` for an unknown zone name (a configuration error).
    """
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    if base.tzinfo is None:
        base = base.replace(tzinfo=dt.timezone.utc)
    return base.astimezone(zone).replace(tzinfo=None)


# --------------------------------------------------------------------------- dateparser


@functools.lru_cache(maxsize=64)
def _parser(languages: tuple[str, ...], order: str, prefer: str, tz: str,
            base: dt.datetime):
    from dateparser.date import DateDataParser

    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": prefer,
        "DATE_ORDER": order,
        "TIMEZONE": tz,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
    }
    return DateDataParser(languages=list(languages), settings=settings)


@functools.lru_cache(maxsize=16)
def _search_settings(order: str, prefer: str, tz: str, base: dt.datetime) -> dict:
    return {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": prefer,
        "DATE_ORDER": order,
        "TIMEZONE": tz,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


def _dateparser(text: str, ctx: _Ctx) -> tuple[dt.datetime | None, str]:
    parser = _parser(ctx.languages, ctx.order, ctx.prefer, ctx.tz, ctx.base)
    try:
        data = parser.get_date_data(text)
    except Exception:  # dateparser raises on some odd input; it is just "not a date"
        return None, ""
    return data.date_obj, data.period or ""


# --------------------------------------------------------------------------- vocabulary

_EN_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "weds": 2, "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}
_EN_DATE_WORDS = {
    "today", "tomorrow", "tonight", "yesterday", "now", "week", "weeks", "fortnight",
    "fortnights", "day", "days", "month", "months", "year", "years", "weekend",
}
_DATE_ORDERS = {"DMY", "MDY", "YMD", "YDM", "DYM", "MYD"}


@functools.lru_cache(maxsize=16)
def _vocabulary(languages: tuple[str, ...]) -> frozenset[str]:
    """Words that make a piece of text worth giving to dateparser."""
    words: set[str] = set(_EN_WEEKDAYS) | _EN_DATE_WORDS
    for m in MONTHS:
        words.add(m.lower())
        words.add(m.lower()[:3])
    words.add("sept")
    try:
        from dateparser.languages.loader import default_loader

        for lang in languages:
            info = default_loader.get_locale(lang).info
            keys = [m.lower() for m in MONTHS] + [w.lower() for w in WEEKDAYS]
            keys += ["day", "week", "month", "year"]
            phrases: list[str] = []
            for key in keys:
                phrases.extend(info.get(key, []))
            for values in info.get("relative-type", {}).values():
                phrases.extend(values)
            for phrase in phrases:
                for word in re.findall(r"[^\W\d_]+", phrase.lower()):
                    if len(word) >= 3:
                        words.add(word)
    except Exception:  # an unknown language code: dateparser will say so when parsing
        pass
    # Function words that several languages' relative phrases contain.
    words -= {"this", "next", "last", "ago", "the", "and", "for", "from", "dans", "il", "por"}
    return frozenset(words)


# --------------------------------------------------------------------------- context


class _Ctx:
    """Everything one parse needs, worked out once."""

    def __init__(self, base: dt.datetime, tz: str, date_order: str, future: bool,
                 languages: Sequence[str]) -> None:
        self.tz = tz
        self.base = local_base(base, tz).replace(microsecond=0)
        self.today = self.base.date()
        order = (date_order or "").strip().upper()
        self.auto = order in ("", "AUTO")
        self.order = "DMY" if self.auto else order
        if self.order not in _DATE_ORDERS:
            raise ValueError(f"unknown date order {date_order!r}; use DMY, MDY, YMD or ''")
        # For day/month pairs the year position does not matter.
        self.day_first = self.order.index("D") < self.order.index("M")
        self.future = future
        self.prefer = "future" if future else "current_period"
        self.languages = tuple(languages) or DEFAULT_LANGUAGES
        self.vocabulary = _vocabulary(self.languages)


# --------------------------------------------------------------------------- normalising

_EMPHASIS = re.compile(r"[*`~]+|(?<!\w)_+|_+(?!\w)")
_SPACES = re.compile(r"\s+")
_ORDINAL = re.compile(r"\b(\d{1,2})\s*(?:st|nd|rd|th)\b", re.I)
_DAY_OF = re.compile(r"\b(\d{1,2})\s+of\s+(?=[^\W\d_])", re.I)
_THE_DAY = re.compile(r"\bthe\s+(?=\d)", re.I)
_ABBREV = [
    (re.compile(r"\bweds?\b\.?", re.I), "wed"),
    (re.compile(r"\bthu(?:rs?)?\b\.?", re.I), "thu"),
    (re.compile(r"\btues?\b\.?", re.I), "tue"),
    (re.compile(r"\bwks?\b\.?", re.I), "weeks"),
    (re.compile(r"\bsept\b\.?", re.I), "september"),
]
_LEADING_FILLER = re.compile(
    r"^(?:on|by|from|for|between|around|about|approx\.?|approximately|maybe|perhaps|say|ideally|"
    r"preferably|probably|possibly|hopefully|how about|what about|let'?s say|shall we say|"
    r"w/c|wc|week commencing|week beginning|week of|starting|date|is|it'?s|it is|"
    r"am|den|dem|le|el|il|op|à|a partir du|à partir du|ab dem|ab)\s+",
    re.I,
)
_TRAILING_FILLER = re.compile(
    r"\s+(?:please|pls|ish|or so|at the latest|latest|if (?:that|this|it) (?:works|suits|is ok(?:ay)?)"
    r"|works for me|suits me|is fine|is good|would be (?:great|good|fine)|inclusive|incl\.?|inclus|"
    r"einschließlich|then|thanks|thank you)$",
    re.I,
)


def _prepare(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u2019", "'")
    text = re.sub(r"[\u2010-\u2015]", "-", text)
    text = _EMPHASIS.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    text = text.strip(" \"'()[]<>")
    text = text.rstrip(" .,;:!?")
    text = _ORDINAL.sub(r"\1", text)
    text = _DAY_OF.sub(r"\1 ", text)
    text = _THE_DAY.sub("", text)
    for pattern, repl in _ABBREV:
        text = pattern.sub(repl, text)
    for _ in range(3):
        new = _LEADING_FILLER.sub("", text)
        new = _TRAILING_FILLER.sub("", new).strip(" ,")
        if new == text:
            break
        text = new
    return text.strip()


# --------------------------------------------------------------------------- one date

_ISO = re.compile(r"(?<![\d/.\-])(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d/\-]|\.\d)")
_NUMERIC = re.compile(
    r"(?<![\d/.:\-])(\d{1,2})([/.\-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d/:\-]|\.\d)"
    r"(?!\s*(?:am|pm|a\.m|p\.m|h\b|uhr|weeks?\b|days?\b|months?\b|hours?\b|mins?\b))",
    re.I,
)
_TIME = re.compile(
    r"\b\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d{2}\b|\b\d{1,2}h\d{0,2}\b|"
    r"\b(?:noon|midday|midnight)\b",
    re.I,
)
_YEAR = re.compile(r"(?<![\d:])(?:19|20)\d{2}(?!\d)|'\d{2}\b")
_WORD = re.compile(r"[^\W\d_]+")
_OFFSET_TODAY = re.compile(r"^(?:a|one)\s+(week|fortnight)\s+(today|tomorrow)$", re.I)
_OFFSET_ON = re.compile(r"^(?:a|one)\s+(week|fortnight)\s+(?:on|from|after)\s+(.+)$", re.I)
_OFFSET_AFTER = re.compile(r"^(?:on\s+)?([^\W\d_]+)\s+(week|fortnight)$", re.I)
_DAY_ONLY = re.compile(r"^(?:([^\W\d_]+),?\s+)?(\d{1,2})$")
# "in three months", "3 months from now", "in a year's time": an offset from the
# message's date. dateparser gets the date right but calls it a month- or year-long
# period, which must not be mistaken for a bare month ("June") or year.
_RELATIVE_OFFSET = re.compile(
    r"^\s*(?:in\s+)?(a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d{1,3})"
    r"\s+(day|week|fortnight|month|year)s?(?:'s)?(?:\s+(?:time|from now|from today|later))?\s*\.?\s*$",
    re.I,
)
_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def _offset(m: re.Match[str], today: dt.date) -> dt.date | None:
    """``today`` moved on by "three months" and the like (month ends clamp: 31 Jan + 1 month = 28 Feb)."""
    word, unit = m.group(1).lower(), m.group(2).lower()
    n = _COUNT.get(word) if not word.isdigit() else int(word)
    if n is None:
        return None
    if unit in ("day", "week", "fortnight"):
        return today + dt.timedelta(days=n * {"day": 1, "week": 7, "fortnight": 14}[unit])
    months = n * (12 if unit == "year" else 1)
    year, month = divmod(today.month - 1 + months, 12)
    year += today.year
    month += 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    try:
        return dt.date(year, month, min(today.day, last))
    except ValueError:
        return None
_BARE_PERIOD = re.compile(r"^(?:next|this|last|the following|following)\s+(?:week|month|year|fortnight)$", re.I)


class _Outcome:
    """What reading one piece of text gave (internal)."""

    __slots__ = ("kind", "dates", "reason", "explicit_year")

    def __init__(self, kind: str, dates: tuple[dt.date, ...] = (), reason: str = "",
                 explicit_year: bool = False) -> None:
        self.kind = kind  # "ok", "ambiguous", "invalid" (has a reason) or "none"
        self.dates = dates
        self.reason = reason
        self.explicit_year = explicit_year


_NONE = _Outcome("none")


def _valid(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    try:
        dt.date(year, month, day)
        return True
    except ValueError:
        return False


def _next_day_of_month(day: int, ctx: _Ctx) -> dt.date | None:
    y, m = ctx.today.year, ctx.today.month
    for _ in range(14):
        if _valid(y, m, day):
            d = dt.date(y, m, day)
            if not ctx.future or d >= ctx.today:
                return d
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return None


def _weekday_named(text: str) -> int | None:
    found = {_EN_WEEKDAYS[w] for w in _WORD.findall(text.lower()) if w in _EN_WEEKDAYS}
    return found.pop() if len(found) == 1 else None


def _has_date_word(text: str, ctx: _Ctx) -> bool:
    without_times = _TIME.sub(" ", text)
    if re.search(r"\d", without_times):
        return True
    return any(w in ctx.vocabulary for w in _WORD.findall(without_times.lower()))


def _parse_one(text: str, ctx: _Ctx, *, depth: int = 0) -> _Outcome:
    """Read ``text`` (already prepared) as exactly one date, or say why not."""
    if not text or depth > 3:
        return _NONE
    explicit_year = bool(_YEAR.search(text))

    # Numeric dates: choose the reading here and hand dateparser words instead.
    iso = list(_ISO.finditer(text))
    if len(iso) == 1:
        m = iso[0]
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not _valid(y, mo, d):
            return _Outcome("invalid", reason=f"{m.group(0)} is not a date")
        text = f"{text[:m.start()]}{d} {MONTHS[mo - 1]} {y}{text[m.end():]}"
        explicit_year = True
    elif len(iso) > 1:
        return _NONE
    numeric = list(_NUMERIC.finditer(text)) if not iso else []
    if len(numeric) > 1:
        return _NONE
    if numeric:
        return _parse_numeric(text, numeric[0], ctx, depth)

    # Forms dateparser does not know.
    m = _OFFSET_TODAY.match(text)
    if m:
        days = (7 if m.group(1).lower() == "week" else 14) + (m.group(2).lower() == "tomorrow")
        return _Outcome("ok", (ctx.today + dt.timedelta(days=days),))
    m = _OFFSET_ON.match(text) or _OFFSET_AFTER.match(text)
    if m:
        if m.re is _OFFSET_ON:
            unit, inner = m.group(1).lower(), m.group(2)
        else:
            inner, unit = m.group(1), m.group(2).lower()
            if inner.lower() not in _EN_WEEKDAYS and inner.lower() not in ("tomorrow", "today"):
                inner = ""
        if inner:
            sub = _parse_one(_prepare(inner), ctx, depth=depth + 1)
            if sub.kind == "ok":
                step = dt.timedelta(days=7 if unit == "week" else 14)
                return _Outcome("ok", (sub.dates[0] + step,))
            return sub

    m = _DAY_ONLY.match(text)
    if m and (m.group(1) is None or m.group(1).lower() in _EN_WEEKDAYS):
        day = int(m.group(2))
        d = _next_day_of_month(day, ctx) if 1 <= day <= 31 else None
        if d is None:
            return _Outcome("invalid", reason=f"there is no day {day} in a month")
        return _check_weekday(text, d, ctx, explicit_year)

    m = _RELATIVE_OFFSET.match(text)
    if m:
        d = _offset(m, ctx.today)
        if d is not None:
            return _Outcome("ok", (d,))

    if not _has_date_word(text, ctx):
        return _NONE
    if _BARE_PERIOD.match(text):
        return _Outcome("invalid", reason=f"which day {text.lower()}?")

    value, period = _dateparser(text, ctx)
    if value is None:
        return _NONE
    if period == "month":
        return _Outcome("invalid", reason=f"which day in {MONTHS[value.month - 1]}?")
    if period == "year":
        return _Outcome("invalid", reason=f"which day in {value.year}?")
    if period not in ("day", "week", ""):
        return _NONE
    if not re.search(r"\d|[^\W\d_]{3,}", _TIME.sub(" ", text)):
        return _NONE  # "a", "10am": dateparser reads these as today or the 1st
    d = value.date()
    if ctx.future and not explicit_year and d > ctx.today:
        # dateparser's "future" skips today: "27 March" on 27 March is today, not next year.
        try:
            if d.replace(year=d.year - 1) == ctx.today:
                d = ctx.today
        except ValueError:
            pass
    return _check_weekday(text, d, ctx, explicit_year)


def _check_weekday(text: str, d: dt.date, ctx: _Ctx, explicit_year: bool) -> _Outcome:
    named = _weekday_named(text)
    has_day_number = bool(re.search(r"\d", _TIME.sub(" ", text)))
    if named is not None and has_day_number and d.weekday() != named:
        return _Outcome(
            "invalid",
            reason=f"{plain(d)} is a {WEEKDAYS[d.weekday()]}, not a {WEEKDAYS[named]}",
        )
    return _Outcome("ok", (d,), explicit_year=explicit_year)


def _parse_numeric(text: str, m: re.Match[str], ctx: _Ctx, depth: int) -> _Outcome:
    a, b = int(m.group(1)), int(m.group(3))
    year_text = m.group(4)
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    else:
        year = None
    check_year = year if year is not None else 2000  # a leap year: 29/02 is a date
    readings: list[tuple[int, int]] = []  # (day, month), preferred first
    day_first = (a, b)
    month_first = (b, a)
    if m.group(2) == ".":
        order = [day_first]  # 6.4.2026 is day-first everywhere it is written that way
    else:
        order = [day_first, month_first] if ctx.day_first else [month_first, day_first]
    for day, month in order:
        if _valid(check_year, month, day) and (day, month) not in readings:
            readings.append((day, month))
    raw = m.group(0)
    if not readings:
        return _Outcome("invalid", reason=f"{raw} is not a date")
    if not ctx.auto:
        readings = readings[:1]
    results: list[dt.date] = []
    for day, month in readings:
        words = f"{day} {MONTHS[month - 1]}" + (f" {year}" if year is not None else "")
        sub = _parse_one(f"{text[:m.start()]}{words}{text[m.end():]}", ctx, depth=depth + 1)
        if sub.kind != "ok":
            return sub
        results.append(sub.dates[0])
    explicit = year is not None or bool(_YEAR.search(text))
    if len(results) == 1 or results[0] == results[1]:
        return _Outcome("ok", (results[0],), explicit_year=explicit)
    # Day-first reading first, as in "03/04 could be 3 April or 4 March".
    if not ctx.day_first:
        results.reverse()
    with_year = any(r.year != ctx.today.year for r in results)
    reason = f"{raw} could be {plain(results[0], year=with_year)} or {plain(results[1], year=with_year)}"
    return _Outcome("ambiguous", tuple(results), reason=reason, explicit_year=explicit)


# --------------------------------------------------------------------------- public

_SEPARATORS = re.compile(r"\s+(?:or|and|&|oder|und|ou|et)\s+|\s*;\s*|\s+/\s+", re.I)


def _result(outcome: _Outcome, raw: str, ctx: _Ctx) -> DateResult:
    if outcome.kind == "ok":
        d = outcome.dates[0]
        if ctx.future and d < ctx.today:
            return DateResult("past", d, raw, f"{plain(d)} is in the past", display(d))
        return DateResult("ok", d, raw, "", display(d))
    if outcome.kind == "ambiguous":
        return DateResult("ambiguous", None, raw, outcome.reason, "", outcome.dates)
    if outcome.kind == "invalid":
        return DateResult("invalid", None, raw, outcome.reason)
    return DateResult("invalid", None, raw, f"I could not read a date in “{_short(raw)}”")


def _short(text: str, limit: int = 60) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _combine(outcomes: Iterable[_Outcome], raw: str) -> _Outcome:
    """One outcome for several pieces of text: two different dates are ambiguous."""
    dates: list[dt.date] = []
    first_invalid: _Outcome | None = None
    ambiguous: _Outcome | None = None
    for outcome in outcomes:
        if outcome.kind == "ok":
            if outcome.dates[0] not in dates:
                dates.append(outcome.dates[0])
        elif outcome.kind == "ambiguous":
            ambiguous = ambiguous or outcome
        elif outcome.kind == "invalid":
            first_invalid = first_invalid or outcome
    if len(dates) > 1:
        shown = " and ".join(plain(d) for d in dates[:3])
        return _Outcome("ambiguous", tuple(dates),
                        reason=f"“{_short(raw)}” gives more than one date: {shown}")
    if ambiguous is not None:
        return ambiguous
    if dates:
        return _Outcome("ok", (dates[0],))
    return first_invalid or _NONE


def parse_date(text: str, *, base: dt.datetime, tz: str, date_order: str = "DMY",
               future: bool = True, languages: Sequence[str] = DEFAULT_LANGUAGES) -> DateResult:
    """Read one date from ``text``. Never raises on any text.

    ``base`` is the reply's Date header (aware; naive means UTC): relative dates count
    from it, converted to the scheme's IANA zone ``tz``. ``date_order`` is "DMY",
    "MDY" (or another dateparser order) or "" / "auto" (numeric dates with two
    readings are then ``ambiguous``). With ``future`` a date before the base day is
    ``past`` and a date without a year is its next occurrence on or after the base day.

    Statuses: ``ok``; ``missing`` (empty text); ``invalid`` (no date, a month or year
    without a day, a weekday that does not fit, ...); ``ambiguous`` (``alternatives``
    holds the readings); ``past`` (``value`` and ``display`` hold the date). The reason
    is written for the person who sent the text.

    Raises ``ValueError`` only for a bad ``tz`` or ``date_order`` (configuration).
    """
    ctx = _Ctx(base, tz, date_order, future, languages)
    raw = (text or "").strip()
    prepared = _prepare(raw[:_MAX_TEXT])
    if not prepared or not re.search(r"\w", prepared):
        return DateResult("missing", None, raw, "no date was given")
    return _result(_read(prepared, raw, ctx), raw, ctx)


def _read(prepared: str, raw: str, ctx: _Ctx) -> _Outcome:
    pieces = [p for p in _SEPARATORS.split(prepared) if p.strip()]
    if len(pieces) > 1:
        combined = _combine((_parse_one(_prepare(p), ctx) for p in pieces), raw)
        if combined.kind == "ambiguous" or combined.kind == "ok":
            return combined
    whole = _parse_one(prepared, ctx)
    if whole.kind != "none":
        return whole
    if "," in prepared:
        combined = _combine((_parse_one(_prepare(p), ctx) for p in prepared.split(",")), raw)
        if combined.kind != "none":
            return combined
    # Free text ("6 April works for me"): let dateparser find the dates in it. The
    # search runs on the text as written (only emphasis removed): it finds "on the 6th"
    # there, not "on 6" in the prepared text.
    light = _SPACES.sub(" ", _EMPHASIS.sub(" ", raw[:_MAX_TEXT])).strip()
    return _combine((_parse_one(_prepare(s), ctx) for s in _search(light, ctx)), raw)


def _search(text: str, ctx: _Ctx) -> list[str]:
    if not _has_date_word(text, ctx):
        return []
    from dateparser.search import search_dates

    settings = dict(_search_settings(ctx.order, ctx.prefer, ctx.tz, ctx.base))
    try:
        found = search_dates(text, languages=list(ctx.languages), settings=settings) or []
    except Exception:
        return []
    return [span for span, _ in found]


def find_dates(text: str, *, base: dt.datetime, tz: str, date_order: str = "DMY",
               future: bool = True,
               languages: Sequence[str] = DEFAULT_LANGUAGES) -> list[tuple[str, dt.date]]:
    """Every date mentioned in free text, in order, as ``(text as written, date)``.

    Spans dateparser's search finds are re-read with the rules of ``parse_date``
    (spans that are not a day, such as "may" or "10:30", are dropped; ambiguous spans
    are dropped). Past dates are kept. Never raises on any text.
    """
    ctx = _Ctx(base, tz, date_order, future, languages)
    out: list[tuple[str, dt.date]] = []
    light = _SPACES.sub(" ", _EMPHASIS.sub(" ", text[: _MAX_TEXT * 5])).strip()
    for span in _search(light, ctx):
        outcome = _parse_one(_prepare(span), ctx)
        if outcome.kind == "ok":
            out.append((span, outcome.dates[0]))
    return out


def leading_date(text: str, *, base: dt.datetime, tz: str, date_order: str = "DMY",
                 future: bool = True, languages: Sequence[str] = DEFAULT_LANGUAGES,
                 max_words: int = 7) -> DateResult | None:
    """The date that ``text`` starts with: the longest run of its first words (at most
    ``max_words``) that reads as a date decides, e.g. ``"Monday 6 April with limited
    access"`` -> 6 April; it may be ``invalid``, ``past`` or ``ambiguous``. ``None``
    when the text does not start with a date. Never raises on any text."""
    ctx = _Ctx(base, tz, date_order, future, languages)
    words = _SPACES.sub(" ", text[:300]).strip().split(" ")[:max_words]
    for n in range(len(words), 0, -1):
        chunk = " ".join(words[:n])
        prepared = _prepare(chunk)
        if not prepared:
            continue
        outcome = _parse_one(prepared, ctx)
        if outcome.kind != "none":
            # The longest reading decides: "Tuesday 14 April" that is a Wednesday is
            # invalid, not "Tuesday".
            return _result(outcome, chunk, ctx)
    return None


def warm_up(languages: Sequence[str] = DEFAULT_LANGUAGES) -> None:
    """Load dateparser's language data now (the first parse otherwise takes ~0.3 s)."""
    import dateparser

    dateparser.parse("3 March 2026", languages=list(languages))
