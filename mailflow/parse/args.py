"""What a command carries after its word: ``MET 3 March 45``, ``NEXT Tuesday 2pm``,
``LATE 10 minutes``, ``PAUSE until 1 June``, ``CAPACITY 2``, ``CONCERN <text>``.

The rules say which arguments each command takes, in order (``args = ["past-date?",
"minutes?"]``); :func:`read_args` reads them from the text after the command word
(:attr:`CommandResult.rest`). Kinds:

``date``
    a day on or after today ("3 March", "next Tuesday", "in two weeks").
``past-date``
    a day on or before today ("yesterday", "3 March", "last Tuesday").
``time``
    a time of day: "14:00", "2pm", "2.30 pm", "14h30", "noon".
``minutes``
    a length: "45", "45 minutes", "an hour", "1.5 hours", "1h30", "90m".
``number``
    a whole number: "2", "two".
``text``
    everything that follows, over several lines (a reason, a concern).

Times and lengths are read from the *end* of the first line before the date is read
from its start, so "3 March 45" is 3 March and 45 minutes, not the year 2045. Filler
words ("on", "until", "at", "for") are skipped. Nothing here raises on any text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import dates as datelib

_FILLER = re.compile(r"^(?:on|until|till|til|to|from|at|by|for|the|of|is|was|it|we|i|is|about|around|approx\.?|"
                     r"approximately|roughly|,|:|-|–)\s+", re.IGNORECASE)
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90, "half an": 0.5, "half": 0.5,
}
_NUM = r"(\d+(?:[.,]\d+)?|" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True)) + r")"
_MINUTES_END = re.compile(
    r"(?:^|\s)(?:for\s+|about\s+|around\s+)?"
    r"(?:(?P<h>\d+)\s*h(?:ours?|rs?)?\s*(?P<hm>\d{1,2})\s*(?:m(?:in(?:ute)?s?)?)?"
    r"|" + _NUM + r"\s*(?P<unit>h(?:ours?|rs?|eures?|oras?)?|m(?:in(?:ute)?s?|inutos?)?|mins?)?"
    r"|(?P<half>half\s+an?\s+hour))\s*[.!]*$",
    re.IGNORECASE,
)
_TIME_END = re.compile(
    r"(?:^|\s)(?:at\s+|from\s+|@\s*)?(?P<time>(?P<hh>\d{1,2})(?:[:.h](?P<mm>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?"
    r"|noon|midday)\s*[.!]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArgsResult:
    """The arguments read, by kind (``date``, ``time``, ...), and what was wrong."""

    values: dict[str, object] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)  # e.g. date -> "Tuesday 3 March 2026"
    problems: tuple[str, ...] = ()  # in words for the person: what was wrong and what to write
    raw: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _number(text: str) -> float | None:
    text = text.strip().lower().replace(",", ".")
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    try:
        return float(text)
    except ValueError:
        return None


def read_minutes(text: str, *, after_date: bool = False) -> tuple[int | None, str]:
    """A length at the end of ``text``: (minutes, the text before it). With
    ``after_date``, a bare number counts only after something else ("3 March 45")."""
    text = text.strip()
    m = _MINUTES_END.search(text)
    if not m:
        return None, text
    before = text[: m.start()].strip()
    if m.group("half"):
        return 30, before
    if m.group("h"):
        return int(m.group("h")) * 60 + int(m.group("hm")), before
    n = _number(m.group(3) or "")
    unit = (m.group("unit") or "").lower()
    if n is None:
        return None, text
    if not unit:
        # A bare number is minutes only when it cannot be a day or a year: "3 March 45".
        if not re.fullmatch(r"\d+", m.group(3) or "") or not 1 <= n <= 600 or (after_date and not before and n <= 31):
            return None, text
    minutes = n * 60 if unit.startswith("h") else n
    if not 1 <= minutes <= 24 * 60:
        return None, text
    return int(round(minutes)), before


def read_time(text: str) -> tuple[dt.time | None, str]:
    """A time of day at the end of ``text``: (time, the text before it)."""
    text = text.strip()
    m = _TIME_END.search(text)
    if not m:
        return None, text
    word = m.group("time").lower()
    before = text[: m.start()].strip()
    if word in ("noon", "midday"):
        return dt.time(12, 0), before
    hh, mm, ampm = int(m.group("hh")), int(m.group("mm") or 0), (m.group("ampm") or "").replace(".", "").lower()
    if not ampm and m.group("mm") is None:
        return None, text  # a bare number is not a time ("3")
    if ampm:
        if not 1 <= hh <= 12:
            return None, text
        hh = hh % 12 + (12 if ampm == "pm" else 0)
    if hh > 23 or mm > 59:
        return None, text
    return dt.time(hh, mm), before


# The same little words in the other languages mailflow ships ("PAUSE jusqu'au 1 juin",
# "RETRASO unos 10 minutos", "REUNIÃO em 3 de março"), used only for those languages.
_FILLERS = {
    "fr": r"le|la|les|au|aux|à|a|jusqu['’]?au|jusqu['’]?à|jusqu['’]|depuis|pendant|environ|vers|de|du|d['’]|pour",
    "es": r"el|la|los|las|hasta\s+el|hasta|a\s+las|a|al|de|del|durante|unos|unas|sobre|por|para",
    "pt": r"o|a|os|as|em|no|na|até|às|ao|de|do|da|por|durante|cerca\s+de|uns|umas|para",
}


def _strip_filler(text: str, languages: Sequence[str] = ()) -> str:
    text = text.strip().strip(",;:-–").strip()
    extra = [_FILLERS[lang.split("-")[0]] for lang in languages if lang.split("-")[0] in _FILLERS]
    foreign = re.compile(r"^(?:" + "|".join(extra) + r")(?:\s+|(?<=['’]))", re.IGNORECASE) if extra else None
    while True:
        new = _FILLER.sub("", text)
        if foreign is not None:
            new = foreign.sub("", new)
        if new == text:
            return text.strip(",;:-– ")
        text = new


def read_args(kinds: Sequence[str], rest: str, *, base: dt.datetime, tz: str, date_order: str = "DMY",
              languages: Sequence[str] = datelib.DEFAULT_LANGUAGES) -> ArgsResult:
    """Read ``kinds`` (see the module docstring) from ``rest``. Never raises on any text."""
    if not kinds:
        return ArgsResult(raw=rest)
    lines = (rest or "").strip().split("\n")
    langs = tuple(languages)
    first = _strip_filler(re.sub(r"[*_]{1,2}", " ", lines[0]), langs)
    values: dict[str, object] = {}
    display: dict[str, str] = {}
    problems: list[str] = []
    names = [k.rstrip("?") for k in kinds]
    optional = {k.rstrip("?") for k in kinds if k.endswith("?")}
    today = datelib.local_base(base, tz).date()

    if names == ["text"]:  # a reason or a concern: everything after the word
        text = "\n".join([lines[0], *lines[1:]]).strip().lstrip(",;:-–. ").strip()
        if text:
            values["text"] = text
        elif "text" not in optional:
            problems.append("nothing was written after the command word")
        return ArgsResult(values, display, tuple(problems), rest)

    work = first
    if "minutes" in names:
        minutes, work = read_minutes(work, after_date=any(k in names for k in ("date", "past-date")))
        if minutes is not None:
            values["minutes"] = minutes
            display["minutes"] = f"{minutes} minutes"
    if "time" in names:
        time, work = read_time(work)
        if time is not None:
            values["time"] = time
            display["time"] = time.strftime("%H:%M")
    if "number" in names:
        m = re.match(r"^(\d+|" + "|".join(w for w in _NUMBER_WORDS if " " not in w and w not in ("a", "an", "half"))
                     + r")\b", _strip_filler(work, langs), re.IGNORECASE)
        if m:
            n = _number(m.group(1))
            if n is not None:
                values["number"] = int(n)
                display["number"] = str(int(n))
                work = _strip_filler(work, langs)[m.end():]
        elif "number" not in optional:
            problems.append(f"a number was expected{f', not “{_short(work)}”' if work.strip() else ''}")
    date_kind = next((k for k in names if k in ("date", "past-date")), None)
    if date_kind:
        work = _strip_filler(work, langs)
        result = datelib.leading_date(work, base=base, tz=tz, date_order=date_order,
                                      future=date_kind == "date", languages=languages) if work else None
        if result is None or result.status == "missing":
            if date_kind not in optional:
                problems.append(f"a date was expected{f', not “{_short(work)}”' if work.strip() else ''}")
            elif re.search(r"\d", work) and not values:
                # "CANCEL - so sorry" needs no date; "PAUSE until 31 Juen" meant one.
                problems.append(f"“{_short(work)}” is not a date we can read")
        elif result.status in ("ok", "past") and result.value is not None:
            day = result.value
            if date_kind == "past-date" and day > today:
                problems.append(f"{datelib.display(day)} has not happened yet")
            elif date_kind == "date" and day < today:
                problems.append(f"{datelib.display(day)} is in the past")
            else:
                values[date_kind] = day
                display[date_kind] = datelib.display(day)
            work = work[len(result.raw):]
        else:
            problems.append(result.reason or f"“{_short(work)}” is not a date we can read")
            work = ""
    if "text" in names:
        left = "\n".join([_strip_filler(work, langs), *lines[1:]]).strip()
        if left:
            values["text"] = left
    for kind in names:
        if kind not in values and kind not in optional and not any(kind in p for p in problems):
            what = {"minutes": "a length such as 45 minutes", "time": "a time such as 14:00"}.get(kind, f"a {kind}")
            problems.append(f"{what} was expected")
    return ArgsResult(values, display, tuple(problems), rest)


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
