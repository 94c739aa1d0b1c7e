"""Dates written by people: mailflow.parse.dates (dateparser underneath)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.parse import dates
from mailflow.parse.dates import display, find_dates, leading_date, parse_date

UTC = dt.timezone.utc
LONDON = "Europe/London"
# Friday 20 March 2026, 09:00 UTC. The UK clocks go forward on Sunday 29 March 2026.
BASE = dt.datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
D = dt.date


def parse(text: str, order: str = "DMY", **kw) -> dates.DateResult:
    kw.setdefault("base", BASE)
    kw.setdefault("tz", LONDON)
    return parse_date(text, date_order=order, **kw)


# --------------------------------------------------------------------------- display


@pytest.mark.parametrize(
    "day, text",
    [
        (D(2026, 3, 3), "Tuesday 3 March 2026"),
        (D(2026, 12, 25), "Friday 25 December 2026"),
        (D(2028, 2, 29), "Tuesday 29 February 2028"),
    ],
)
def test_display_is_unambiguous(day, text):
    assert display(day) == text


# --------------------------------------------------------------------------- ok


@pytest.mark.parametrize(
    "text, order, expected",
    [
        # absolute, with and without a year
        ("3 Mar 2027", "DMY", D(2027, 3, 3)),
        ("3 March 2027", "MDY", D(2027, 3, 3)),
        ("2026-04-03", "DMY", D(2026, 4, 3)),
        ("2026-04-03", "MDY", D(2026, 4, 3)),  # ISO is year-month-day whatever the order
        ("6 April", "DMY", D(2026, 4, 6)),
        ("April 6", "DMY", D(2026, 4, 6)),
        ("March 3", "DMY", D(2027, 3, 3)),  # no year: the next 3 March on or after base
        ("3rd March", "DMY", D(2027, 3, 3)),
        ("the 3rd of March", "MDY", D(2027, 3, 3)),
        ("March 3rd, 2027", "MDY", D(2027, 3, 3)),
        ("20 March", "DMY", D(2026, 3, 20)),  # the base day itself is not "next year"
        ("Monday 6 April", "DMY", D(2026, 4, 6)),
        ("Tuesday 7 April 2026", "DMY", D(2026, 4, 7)),
        ("Tuesday 7th April 2026", "DMY", D(2026, 4, 7)),
        ("Weds 8 April", "DMY", D(2026, 4, 8)),
        ("Thurs 9 April", "DMY", D(2026, 4, 9)),
        ("3 Sept", "DMY", D(2026, 9, 3)),
        ("**6 April**", "DMY", D(2026, 4, 6)),  # emphasis left over from HTML
        ("6 April.", "DMY", D(2026, 4, 6)),
        ("on 6 April please", "DMY", D(2026, 4, 6)),
        ("w/c 6 April", "DMY", D(2026, 4, 6)),
        ("6 April works for me", "DMY", D(2026, 4, 6)),
        ("how about Monday 6 April?", "DMY", D(2026, 4, 6)),
        ("6 April, if that suits", "DMY", D(2026, 4, 6)),
        ("6 April at 10am", "DMY", D(2026, 4, 6)),
        # numeric: the scheme's order decides
        ("03/04", "DMY", D(2026, 4, 3)),
        ("03/04", "MDY", D(2027, 3, 4)),
        ("3/4/2026", "DMY", D(2026, 4, 3)),
        ("4/3/2026", "MDY", D(2026, 4, 3)),
        ("3-4-2026", "DMY", D(2026, 4, 3)),
        ("03/04/26", "DMY", D(2026, 4, 3)),  # a two-digit year is 20yy, not 2126
        ("03.04.26", "MDY", D(2026, 4, 3)),  # dotted dates are day-first everywhere
        ("10.04.2026", "DMY", D(2026, 4, 10)),
        ("6.4.", "DMY", D(2026, 4, 6)),
        ("04/13", "DMY", D(2026, 4, 13)),  # only one reading is a date: take it
        ("13/04", "MDY", D(2026, 4, 13)),
        ("6/4 at 10am", "DMY", D(2026, 4, 6)),
        # a day of the month alone: the next one (dateparser would take this month's)
        ("the 6th", "DMY", D(2026, 4, 6)),
        ("the 3rd", "MDY", D(2026, 4, 3)),  # dateparser reads "3rd" as March under MDY
        ("on the 25th", "DMY", D(2026, 3, 25)),
        ("Friday 3rd", "DMY", D(2026, 4, 3)),
        ("29/02", "DMY", D(2028, 2, 29)),
        # relative, from Friday 20 March in London
        ("today", "DMY", D(2026, 3, 20)),
        ("tomorrow", "DMY", D(2026, 3, 21)),
        ("next Tuesday", "DMY", D(2026, 3, 24)),
        ("Tuesday", "DMY", D(2026, 3, 24)),
        ("on Friday", "DMY", D(2026, 3, 27)),  # a bare weekday is the next one after today
        ("this Friday", "DMY", D(2026, 3, 20)),
        ("in two weeks", "DMY", D(2026, 4, 3)),
        ("in 2 weeks", "DMY", D(2026, 4, 3)),
        ("in 2 wks", "DMY", D(2026, 4, 3)),
        ("in a fortnight", "DMY", D(2026, 4, 3)),
        ("in three days", "DMY", D(2026, 3, 23)),
        ("two weeks from now", "DMY", D(2026, 4, 3)),
        ("a week on Friday", "DMY", D(2026, 4, 3)),
        ("Friday week", "DMY", D(2026, 4, 3)),
        ("a week tomorrow", "DMY", D(2026, 3, 28)),
        ("a week today", "DMY", D(2026, 3, 27)),
        ("a fortnight on Monday", "DMY", D(2026, 4, 6)),
    ],
)
def test_reads_a_date(text, order, expected):
    r = parse(text, order)
    assert (r.status, r.value) == ("ok", expected), r
    assert r.display == display(expected)
    assert r.raw == text.strip()
    assert r.reason == ""


def test_weekday_with_numeric_date_before_the_date():
    # "Tues 3/3" written in February: 3 March 2026 is a Tuesday.
    r = parse("Tues 3/3", "DMY", base=dt.datetime(2026, 2, 20, 12, tzinfo=UTC))
    assert (r.status, r.value) == ("ok", D(2026, 3, 3))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Tuesday 8 April 2026", "8 April 2026 is a Wednesday, not a Tuesday"),
        ("Tues 3/3", "3 March 2027 is a Wednesday, not a Tuesday"),
    ],
)
def test_a_weekday_that_does_not_fit_is_invalid(text, reason):
    r = parse(text)
    assert r.status == "invalid"
    assert r.reason == reason


# --------------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "base, tz, text, expected",
    [
        # 23:30 UTC on Sunday 29 March is already Monday 30 March in London (BST).
        (dt.datetime(2026, 3, 29, 23, 30, tzinfo=UTC), LONDON, "tomorrow", D(2026, 3, 31)),
        (dt.datetime(2026, 3, 29, 23, 30, tzinfo=UTC), "UTC", "tomorrow", D(2026, 3, 30)),
        (dt.datetime(2026, 3, 29, 23, 30, tzinfo=UTC), LONDON, "today", D(2026, 3, 30)),
        # Before the change London is on GMT: the same as UTC.
        (dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC), LONDON, "tomorrow", D(2026, 3, 29)),
        # Across the change: 00:30 GMT Sunday -> relative days still count in local days.
        (dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC), LONDON, "in 2 days", D(2026, 3, 31)),
        (dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC), LONDON, "next Monday", D(2026, 3, 30)),
        (dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC), LONDON, "in a week", D(2026, 4, 4)),
        # A base in another zone is converted first: 01:00 in Auckland is noon the day
        # before in London.
        (dt.datetime(2026, 3, 21, 1, 0, tzinfo=ZoneInfo("Pacific/Auckland")), LONDON, "today", D(2026, 3, 20)),
        # A naive base is UTC.
        (dt.datetime(2026, 3, 29, 23, 30), LONDON, "today", D(2026, 3, 30)),
        # The other clock change: 1 November 2026 in New York.
        (dt.datetime(2026, 11, 1, 3, 30, tzinfo=UTC), "America/New_York", "tomorrow", D(2026, 11, 1)),
    ],
)
def test_relative_dates_count_from_the_local_day(base, tz, text, expected):
    r = parse_date(text, base=base, tz=tz, date_order="DMY")
    assert (r.status, r.value) == ("ok", expected), r


def test_bad_time_zone_is_a_configuration_error():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse("6 April", tz="Mars/Olympus")


def test_bad_date_order_is_a_configuration_error():
    with pytest.raises(ValueError, match="date order"):
        parse("6 April", "DDMM")


# --------------------------------------------------------------------------- ambiguity


@pytest.mark.parametrize("order", ["", "auto", "AUTO"])
def test_numeric_date_without_order_is_ambiguous(order):
    r = parse("03/04", order)
    assert r.status == "ambiguous"
    assert r.value is None
    assert r.alternatives == (D(2026, 4, 3), D(2027, 3, 4))
    assert r.reason == "03/04 could be 3 April 2026 or 4 March 2027"


def test_ambiguous_reason_without_years_when_both_are_this_year():
    r = parse("05/06", "")
    assert r.alternatives == (D(2026, 6, 5), D(2026, 5, 6))
    assert r.reason == "05/06 could be 5 June or 6 May"


@pytest.mark.parametrize(
    "order, expected",
    [("DMY", D(2026, 4, 3)), ("MDY", D(2027, 3, 4)), ("YMD", D(2027, 3, 4))],
)
def test_numeric_date_with_order_is_decided(order, expected):
    assert parse("03/04", order).value == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13/04", D(2026, 4, 13)),  # only one reading is valid
        ("04/13", D(2026, 4, 13)),
        ("05/05", D(2026, 5, 5)),  # both readings are the same day
        ("2026-04-03", D(2026, 4, 3)),
        ("6 April", D(2026, 4, 6)),
    ],
)
def test_auto_order_is_only_ambiguous_when_it_matters(text, expected):
    r = parse(text, "")
    assert (r.status, r.value) == ("ok", expected)


@pytest.mark.parametrize(
    "text, alternatives",
    [
        ("6 April or 13 April", (D(2026, 4, 6), D(2026, 4, 13))),
        ("6th or 13th April", (D(2026, 4, 6), D(2026, 4, 13))),
        ("6 April, 13 April", (D(2026, 4, 6), D(2026, 4, 13))),
        ("6 April; 13 April", (D(2026, 4, 6), D(2026, 4, 13))),
        ("Tuesday or Wednesday", (D(2026, 3, 24), D(2026, 3, 25))),
        ("between 6 and 10 April", (D(2026, 4, 6), D(2026, 4, 10))),
    ],
)
def test_two_different_dates_are_ambiguous(text, alternatives):
    r = parse(text)
    assert r.status == "ambiguous"
    assert r.alternatives == alternatives
    assert "more than one date" in r.reason


def test_the_same_date_twice_is_not_ambiguous():
    r = parse("6 April or Monday 6 April")
    assert (r.status, r.value) == ("ok", D(2026, 4, 6))


# --------------------------------------------------------------------------- past


@pytest.mark.parametrize(
    "text, expected, reason",
    [
        ("12 January 2025", D(2025, 1, 12), "12 January 2025 is in the past"),
        ("yesterday", D(2026, 3, 19), "19 March 2026 is in the past"),
        ("2024-03-03", D(2024, 3, 3), "3 March 2024 is in the past"),
        ("19/03/2026", D(2026, 3, 19), "19 March 2026 is in the past"),
    ],
)
def test_past_dates(text, expected, reason):
    r = parse(text)
    assert (r.status, r.value, r.reason) == ("past", expected, reason)
    assert r.display == display(expected)


def test_past_is_fine_when_future_is_not_required():
    r = parse("12 January 2025", future=False)
    assert (r.status, r.value) == ("ok", D(2025, 1, 12))


# --------------------------------------------------------------------------- not a date


@pytest.mark.parametrize("text", ["", "   ", "\n", "**", "--"])
def test_empty_is_missing(text):
    r = parse(text)
    assert r.status == "missing"
    assert r.reason == "no date was given"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("whenever", "I could not read a date in “whenever”"),
        ("not sure yet", "I could not read a date in “not sure yet”"),
        ("TBC", "I could not read a date in “TBC”"),
        ("a", "I could not read a date in “a”"),  # dateparser reads "a" as the 1st
        ("10:30", "I could not read a date in “10:30”"),  # a time is not a day
        ("noon", "I could not read a date in “noon”"),
        ("April", "which day in April?"),
        ("sometime in April", "which day in April?"),
        ("2027", "which day in 2027?"),
        ("next week", "which day next week?"),
        ("31/02", "31/02 is not a date"),
        ("2026-02-30", "2026-02-30 is not a date"),
        ("the 32nd", "there is no day 32 in a month"),
    ],
)
def test_not_a_date_is_invalid_with_a_reason(text, reason):
    r = parse(text)
    assert r.status == "invalid"
    assert r.value is None
    assert r.reason == reason


# --------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    "text, languages, expected",
    [
        ("13. April 2026", ("de",), D(2026, 4, 13)),
        ("Montag, 13. April", ("de", "en"), D(2026, 4, 13)),
        ("mardi 7 avril", ("fr",), D(2026, 4, 7)),
        ("6 de abril", ("es",), D(2026, 4, 6)),
    ],
)
def test_other_languages_when_asked(text, languages, expected):
    r = parse(text, languages=languages)
    assert (r.status, r.value) == ("ok", expected)


def test_english_only_by_default():
    assert parse("7 avril").status == "invalid"


# --------------------------------------------------------------------------- finding dates


def test_find_dates_in_free_text():
    found = find_dates("Back on Monday 6 April, then away again from 20 April.", base=BASE, tz=LONDON)
    assert [d for _, d in found] == [D(2026, 4, 6), D(2026, 4, 20)]


def test_find_dates_drops_months_and_times():
    assert find_dates("I may call at 10:30", base=BASE, tz=LONDON) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Monday 6 April with limited access to email", D(2026, 4, 6)),
        ("6 April.", D(2026, 4, 6)),
        ("the 6th, when I will reply", D(2026, 4, 6)),
    ],
)
def test_leading_date(text, expected):
    r = leading_date(text, base=BASE, tz=LONDON)
    assert r is not None and r.value == expected


def test_leading_date_none_when_text_does_not_start_with_one():
    assert leading_date("further notice", base=BASE, tz=LONDON) is None


# --------------------------------------------------------------------------- safety
# (speed is measured in benchmarks/bench_understand.py, not asserted here)


STATUSES = {"ok", "missing", "invalid", "ambiguous", "past"}


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=80) | st.from_regex(r"[0-9 /.\-a-zA-Z]{0,20}", fullmatch=True),
    order=st.sampled_from(["DMY", "MDY", "", "auto"]),
    future=st.booleans(),
)
def test_never_raises_on_any_text(text, order, future):
    r = parse(text, order, future=future)
    assert r.status in STATUSES
    if r.status in ("ok", "past"):
        assert isinstance(r.value, dt.date)
        assert r.display == display(r.value)
    if r.status == "ambiguous":
        assert len(r.alternatives) >= 2
    if r.status in ("invalid", "ambiguous", "past", "missing"):
        assert r.reason


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=D(2026, 3, 20), max_value=D(2030, 12, 31)))
def test_display_reads_back(day):
    r = parse(display(day))
    assert (r.status, r.value) == ("ok", day)


@pytest.mark.parametrize("text, expected", [
    ("in three months", dt.date(2026, 6, 11)),
    ("In 3 months", dt.date(2026, 6, 11)),
    ("three months from now", dt.date(2026, 6, 11)),
    ("in a year's time", dt.date(2027, 3, 11)),
    ("in a month", dt.date(2026, 4, 11)),
    ("in two weeks", dt.date(2026, 3, 25)),
    ("a fortnight", dt.date(2026, 3, 25)),
])
def test_offsets_count_from_the_message_date(text, expected):
    """dateparser calls "in three months" a month-long period (the 1st); it is a day."""
    base = dt.datetime(2026, 3, 11, 10, 0, tzinfo=dt.timezone.utc)
    result = parse_date(text, base=base, tz="Europe/London")
    assert (result.status, result.value) == ("ok", expected)


def test_a_month_offset_clamps_to_the_month_end():
    base = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.timezone.utc)
    assert parse_date("in one month", base=base, tz="Europe/London").value == dt.date(2026, 2, 28)
