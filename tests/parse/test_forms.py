"""Forms as ``Label: value`` lines: mailflow.parse.forms."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.parse import dates
from mailflow.parse.forms import match_label, read_form, render_form
from mailflow.parse.result import FieldResult, FieldSpec

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # Friday 20 March 2026
TZ = "Europe/London"
D = dt.date

LOCATION = FieldSpec("location", "Location", synonyms=("where", "venue"), help="where you will meet")
FREQUENCY = FieldSpec(
    "frequency", "Frequency", kind="choice",
    choices=("Every week|weekly", "Every two weeks|fortnightly|biweekly", "Monthly|every month|once a month"),
)
OBJECTIVES = FieldSpec("objectives", "Objectives", kind="list", help="up to three things to work on")
REVIEW = FieldSpec("review_date", "Review date", kind="date", synonyms=("review",), help="a date, e.g. 3 April")
MEETINGS = FieldSpec("meetings", "Number of meetings", kind="number", required=False)
AGREEMENT = (LOCATION, FREQUENCY, OBJECTIVES, REVIEW, MEETINGS)


def read(new_text: str, body_text: str | None = None, fields=AGREEMENT, order: str = "DMY", sent=None):
    return read_form(
        new_text if body_text is None else body_text,
        new_text,
        fields,
        sent_values=sent,
        base=BASE,
        tz=TZ,
        date_order=order,
    )


def values(results: dict[str, FieldResult]) -> dict[str, object]:
    return {name: r.value for name, r in results.items() if r.status == "ok"}


def quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


# --------------------------------------------------------------------------- rendering


def test_render_blank_form():
    assert render_form(AGREEMENT) == (
        "Location:\n"
        "(where you will meet)\n"
        "\n"
        "Frequency:\n"
        "(one of: Every week, Every two weeks or Monthly)\n"
        "\n"
        "Objectives:\n"
        "(up to three things to work on)\n"
        "\n"
        "Review date:\n"
        "(a date, e.g. 3 April)\n"
        "\n"
        "Number of meetings:"
    )


def test_render_prefilled_form():
    text = render_form(
        AGREEMENT,
        {
            "location": "The library",
            "frequency": "fortnightly",
            "objectives": ("Build confidence", "Learn Python"),
            "review_date": D(2026, 4, 7),
            "meetings": 6,
        },
    )
    # An echoed form: each answer right by its label, no help lines, no blank lines.
    assert text == (
        "Location: The library\n"
        "Frequency: Every two weeks\n"  # a choice by its name
        "Objectives:\n1. Build confidence\n2. Learn Python\n"
        "Review date: Tuesday 7 April 2026\n"
        "Number of meetings: 6"
    )
    assert "(" not in text, "help lines belong to the blank form only"


def test_render_partly_filled_form_is_an_echo_without_help():
    text = render_form(AGREEMENT, {"location": "The library", "objectives": ("Build confidence",)})
    assert text == (
        "Location: The library\n"
        "Frequency:\n"
        "Objectives:\n"
        "1. Build confidence\n"
        "Review date:\n"
        "Number of meetings:"
    )


def test_render_without_help_has_no_blank_lines():
    fields = (FieldSpec("a", "Alpha"), FieldSpec("b", "Beta", kind="number"))
    assert render_form(fields, {"a": "x", "b": 2}) == "Alpha: x\nBeta: 2"


def test_every_declared_field_has_a_result():
    results, unknown, warnings = read("")
    assert list(results) == [f.name for f in AGREEMENT]
    assert all(r.status == "missing" for r in results.values())
    assert results["location"].reason == "no value was given"
    assert results["meetings"].reason == "optional; not given"
    assert (unknown, warnings) == ((), ())


# --------------------------------------------------------------------------- on top


def test_filled_on_top_of_the_quote():
    new = (
        "Hi,\n\nHere you are:\n\n"
        "Location: Café Nero, High Street\n"
        "Frequency: every two weeks\n"
        "Objectives:\n1. Speak up in meetings\n2. Learn Python\n"
        "Review date: next Tuesday\n"
        "Number of meetings: 6\n\nThanks\nSam"
    )
    body = new + "\n\nOn Fri, 20 Mar 2026 at 09:00, Mentoring <m@example.org> wrote:\n" + quote(render_form(AGREEMENT))
    results, unknown, warnings = read(new, body)
    assert values(results) == {
        "location": "Café Nero, High Street",
        "frequency": "Every two weeks",
        "objectives": ("Speak up in meetings", "Learn Python"),
        "review_date": D(2026, 3, 24),
        "meetings": 6,
    }
    assert results["review_date"].display == "Tuesday 24 March 2026"
    assert results["objectives"].display == "1. Speak up in meetings\n2. Learn Python"
    assert results["location"].raw == "Café Nero, High Street"
    assert (unknown, warnings) == ((), ())


@pytest.mark.parametrize(
    "line",
    [
        "Location: The library",
        "location: The library",
        "LOCATION: The library",
        "**Location:** The library",
        "**Location**: The library",
        "*Location:* The library",
        "__Location__: The library",
        "Location : The library",
        "Location:The library",
        "  Location: The library  ",
        "- Location: The library",
        "1. Location: The library",
        "• Location: The library",
        "Location (where you will meet): The library",
        "Where: The library",
        "Venue: The library",
        "Location: **The library**",
        "Locaton: The library",
    ],
)
def test_label_variants(line):
    results, unknown, _ = read(line)
    assert results["location"].status == "ok"
    assert results["location"].value == "The library"
    assert unknown == ()


@pytest.mark.parametrize(
    "written, label",
    [
        ("Frequncy", "Frequency"),
        ("Freqeuncy", "Frequency"),
        ("Reveiw date", "Review date"),
        ("Review dates", "Review date"),
        ("Reviewdate", "Review date"),
        ("Objectves", "Objectives"),
        ("Number of meeting", "Number of meetings"),
    ],
)
def test_typos_in_labels_are_forgiven_and_reported(written, label):
    spec, exact = match_label(written, AGREEMENT)
    assert spec.label == label
    assert exact is (written == "Reviewdate")  # spacing is not a typo


@pytest.mark.parametrize("written", ["Wher", "Vanue", "Frog", "Objections", "Reviewer"])
def test_short_or_distant_labels_need_an_exact_match(written):
    assert match_label(written, AGREEMENT) is None


def test_typo_warning():
    results, unknown, warnings = read("Frequncy: monthly\nReveiw date: 6 April")
    assert results["frequency"].value == "Monthly"
    assert results["review_date"].value == D(2026, 4, 6)
    assert warnings == ("read “Frequncy” as “Frequency”", "read “Reveiw date” as “Review date”")
    assert unknown == ()


def test_multi_line_value_runs_to_a_blank_line():
    results, _, _ = read("Location: The library,\nsecond floor,\nby the window\n\nSee you there")
    assert results["location"].value == "The library,\nsecond floor,\nby the window"


def test_multi_line_value_runs_to_the_next_label():
    results, _, _ = read("Location: The library,\nsecond floor\nFrequency: monthly")
    assert results["location"].value == "The library,\nsecond floor"
    assert results["frequency"].value == "Monthly"


def test_value_on_the_line_after_the_label():
    results, _, _ = read("Location:\nThe library\nFrequency:\nweekly")
    assert values(results) == {"location": "The library", "frequency": "Every week"}


def test_blank_line_after_an_empty_label_ends_it_on_top():
    results, _, _ = read("Review date:\n\nSorry, I am not sure yet")
    assert results["review_date"].status == "missing"


def test_help_lines_are_not_values():
    results, _, _ = read("Location:\n(where you will meet)\nThe library")
    assert results["location"].value == "The library"


# --------------------------------------------------------------------------- lists


@pytest.mark.parametrize(
    "text",
    [
        "Objectives:\n1. Speak up\n2. Learn Python\n3. Write more",
        "Objectives:\n1) Speak up\n2) Learn Python\n3) Write more",
        "Objectives:\n- Speak up\n- Learn Python\n- Write more",
        "Objectives:\n* Speak up\n* Learn Python\n* Write more",
        "Objectives:\n• Speak up\n• Learn Python\n• Write more",
        "Objectives:\nSpeak up\nLearn Python\nWrite more",
        "Objectives: Speak up; Learn Python; Write more",
        "Objectives:\n1. Speak up\n\n2. Learn Python\n\n3. Write more",
        "Objectives:\n\n1. Speak up\n2. Learn Python\n3. Write more",
        "**Objectives:**\n1. **Speak up**\n2. Learn Python\n3. Write more",
        "Objectives: 1. Speak up\n2. Learn Python\n3. Write more",
    ],
)
def test_list_forms(text):
    results, unknown, _ = read(text)
    assert results["objectives"].value == ("Speak up", "Learn Python", "Write more")
    assert unknown == ()


def test_list_items_can_wrap():
    results, _, _ = read("Objectives:\n1. Speak up in team\n   meetings\n2. Learn Python")
    assert results["objectives"].value == ("Speak up in team meetings", "Learn Python")


def test_list_item_with_a_colon_is_an_item():
    results, unknown, _ = read("Objectives:\n1. Python: the basics\n2. Git")
    assert results["objectives"].value == ("Python: the basics", "Git")
    assert unknown == ()


def test_whole_form_as_a_numbered_list():
    text = "1. Location: The library\n2. Frequency: monthly\n3. Review date: 6 April\n4. Number of meetings: 5"
    results, _, _ = read(text)
    assert values(results) == {
        "location": "The library", "frequency": "Monthly", "review_date": D(2026, 4, 6), "meetings": 5,
    }


def test_bullet_on_a_text_value_is_dropped():
    results, _, _ = read("Location:\n- The library")
    assert results["location"].value == "The library"


# --------------------------------------------------------------------------- inline


INLINE_BODY = """See my answers below.

On Fri, 20 Mar 2026 at 09:00, Mentoring Team <m@example.org> wrote:
> Hello Sam,
>
> Please fill in your agreement:
>
> Location:
> (where you will meet)
The library
on the second floor
>
> Frequency:
> (one of: Every week, Every two weeks or Monthly)

fortnightly

>
> Objectives:
> (up to three things to work on)
1. Speak up
2. Learn Python
>
> Review date:
> (a date, e.g. 3 April)
6/4
>
> Number of meetings:
>
> Thanks,
> The mentoring team"""


def test_inline_answers_under_the_quoted_form():
    results, unknown, warnings = read("See my answers below.", INLINE_BODY)
    assert values(results) == {
        "location": "The library\non the second floor",
        "frequency": "Every two weeks",
        "objectives": ("Speak up", "Learn Python"),
        "review_date": D(2026, 4, 6),
    }
    assert results["meetings"].status == "missing"
    assert (unknown, warnings) == ((), ())


def test_inline_answer_with_nested_quote_markers():
    body = ">> Location:\n> Location:\nThe library\n> Frequency:\n>\nmonthly\n> Thanks"
    results, _, _ = read("", body)
    assert values(results) == {"location": "The library", "frequency": "Monthly"}


def test_inline_answer_ends_at_the_next_quoted_line():
    body = "> Location:\nThe library\n> Some text of ours\nnot part of the answer"
    results, _, _ = read("", body)
    assert results["location"].value == "The library"


def test_inline_answer_with_typo_in_quoted_label_is_ours_anyway():
    body = "> Frequncy:\nmonthly\n> Thanks"
    results, _, warnings = read("", body)
    assert results["frequency"].value == "Monthly"
    assert warnings == ("read “Frequncy” as “Frequency”",)


# --------------------------------------------------------------------------- quoted


def test_blank_quoted_form_is_never_an_answer():
    body = "Yes, happy to!\n\nOn Fri, Mentoring wrote:\n" + quote(render_form(AGREEMENT)) + "\n> Thanks"
    results, unknown, warnings = read("Yes, happy to!", body)
    assert all(r.status == "missing" for r in results.values())
    assert (unknown, warnings) == ((), ())


def test_prefilled_quoted_form_is_never_an_answer():
    sent = {"location": "The library", "review_date": "Tuesday 7 April 2026"}
    body = "Yes\n\n" + quote(render_form(AGREEMENT, sent)) + "\n> Thanks"
    results, _, _ = read("Yes", body, sent=sent)
    assert all(r.status == "missing" for r in results.values())


def test_quoted_lines_in_new_text_are_ignored():
    results, _, _ = read("> Location: The library\n> Frequency: monthly")
    assert all(r.status == "missing" for r in results.values())


def test_repeated_prefilled_value_on_top_is_ok():
    sent = {"location": "The library"}
    results, _, _ = read("Location: The library", sent=sent)
    assert results["location"].status == "ok"
    assert results["location"].value == "The library"


def test_echoed_prefilled_value_loses_to_a_new_one():
    sent = {"review_date": "Tuesday 7 April 2026"}
    new = "Review date: Tuesday 14 April 2026\n\nReview date: Tuesday 7 April 2026"
    results, _, _ = read(new, sent=sent)
    assert results["review_date"].status == "ok"
    assert results["review_date"].value == D(2026, 4, 14)


def test_reading_stops_at_a_reply_header_left_in_new_text():
    new = "Location: The library\n\nOn Thu, 19 Mar 2026, Sam wrote:\nLocation: The park"
    results, _, _ = read(new)
    assert results["location"].value == "The library"


def test_reading_stops_at_an_outlook_header_block():
    new = "Location: The library\n\nFrom: Mentoring Team\nSent: 20 March 2026 09:00\nTo: Sam\nLocation: The park"
    results, unknown, _ = read(new)
    assert results["location"].value == "The library"
    assert unknown == ()


# --------------------------------------------------------------------------- twice


def test_given_twice_with_different_values_is_invalid():
    results, _, _ = read("Location: The library\nLocation: The park")
    r = results["location"]
    assert (r.status, r.value) == ("invalid", None)
    assert r.reason == "given twice: “The library” and “The park”"


def test_given_twice_on_top_and_inline_is_invalid():
    body = "Location: The library\n\n> Location:\nThe park\n> Thanks"
    results, _, _ = read("Location: The library", body)
    assert results["location"].reason == "given twice: “The library” and “The park”"


@pytest.mark.parametrize(
    "text",
    [
        "Location: The library\nLocation: the library",
        "Review date: 6 April\nReview: Monday 6 April 2026",  # same date, different words
    ],
)
def test_the_same_value_twice_is_fine(text):
    results, _, _ = read(text)
    assert all(r.status in ("ok", "missing") for r in results.values())


def test_inline_and_top_with_the_same_value_is_fine():
    body = "Location: The library\n\n> Location:\nThe library\n> Thanks"
    results, _, _ = read("Location: The library", body)
    assert results["location"].value == "The library"


# --------------------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    "value, expected",
    [
        ("6 April", D(2026, 4, 6)),
        ("Monday 6th April", D(2026, 4, 6)),
        ("next Tuesday", D(2026, 3, 24)),
        ("in two weeks", D(2026, 4, 3)),
        ("03/04", D(2026, 4, 3)),
        ("**6 April**", D(2026, 4, 6)),
    ],
)
def test_date_field(value, expected):
    results, _, _ = read(f"Review date: {value}")
    r = results["review_date"]
    assert (r.status, r.value) == ("ok", expected)
    assert r.raw == value.strip("*")  # emphasis left by HTML conversion is not kept
    assert r.display == dates.display(expected)


@pytest.mark.parametrize(
    "value, order, reason",
    [
        ("12 January 2025", "DMY", "12 January 2025 is in the past"),
        ("03/04", "", "03/04 could be 3 April 2026 or 4 March 2027"),
        ("whenever", "DMY", "I could not read a date in “whenever”"),
        ("April", "DMY", "which day in April?"),
        ("6 or 13 April", "DMY", "“6 or 13 April” gives more than one date: 6 April 2026 and 13 April 2026"),
    ],
)
def test_date_field_invalid(value, order, reason):
    results, _, _ = read(f"Review date: {value}", order=order)
    r = results["review_date"]
    assert (r.status, r.value, r.reason, r.raw) == ("invalid", None, reason, value)


def test_date_field_that_may_be_past():
    fields = (FieldSpec("met", "Last met", kind="date", future=False),)
    results, _, _ = read("Last met: 12 January 2025", fields=fields)
    assert results["met"].value == D(2025, 1, 12)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("6", 6), ("6 times", 6), ("about 6", 6), ("six", 6), ("Six meetings", 6), ("twice", 2),
        ("twenty one", 21), ("twenty-one", 21), ("0", 0), ("a dozen", 12), ("once", 1),
    ],
)
def test_number_field(value, expected):
    results, _, _ = read(f"Number of meetings: {value}")
    assert (results["meetings"].status, results["meetings"].value) == ("ok", expected)
    assert results["meetings"].display == str(expected)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("lots", "“lots” is not a number"),
        ("2 or 3", "please give one number (“2 or 3” has 2)"),
        ("2.5", "a whole number, please"),
    ],
)
def test_number_field_invalid(value, reason):
    results, _, _ = read(f"Number of meetings: {value}")
    assert (results["meetings"].status, results["meetings"].reason) == ("invalid", reason)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Every week", "Every week"),
        ("every week", "Every week"),
        ("EVERY WEEK!", "Every week"),
        ("weekly", "Every week"),
        ("Weekly please", "Every week"),
        ("fortnightly", "Every two weeks"),
        ("fortnighly", "Every two weeks"),  # typo
        ("Every two weeks", "Every two weeks"),
        ("biweekly", "Every two weeks"),
        ("monthly", "Monthly"),
        ("Montly", "Monthly"),  # typo
        ("once a month", "Monthly"),
        ("**Monthly**", "Monthly"),
    ],
)
def test_choice_field(value, expected):
    results, _, _ = read(f"Frequency: {value}")
    assert (results["frequency"].status, results["frequency"].value) == ("ok", expected)
    assert results["frequency"].display == expected


@pytest.mark.parametrize("value", ["daily", "whenever", "weekly or monthly"])
def test_choice_field_invalid(value):
    results, _, _ = read(f"Frequency: {value}")
    r = results["frequency"]
    assert r.status == "invalid"
    assert r.reason.startswith("please choose one of: Every week, Every two weeks or Monthly")


# --------------------------------------------------------------------------- unknown labels


@pytest.mark.parametrize(
    "text, unknown",
    [
        ("Location: The library\nNote: I'm away in May", ("Note",)),
        ("Dietary needs: vegetarian\nPhone: 0123 456789", ("Dietary needs", "Phone")),
        ("PS: see you soon\nps: again", ("PS",)),
        ("Goals:\n- one\n- two", ("Goals",)),
    ],
)
def test_unknown_labels_are_reported(text, unknown):
    assert read(text)[1] == unknown


@pytest.mark.parametrize(
    "text",
    [
        "We could meet at 10:30 on Tuesday",
        "Meet at 10:30",
        "See https://example.org/agreement for details",
        "https://example.org/form",
        "On Fri, 20 Mar 2026 at 09:00, Sam <sam@example.org> wrote:",
        "On Friday Sam wrote:",
        "Here are my answers:",
        "Thanks:",
        "My answer is simple, really: yes",
        "I have one question for you about the whole scheme: when does it start?",
        "Re: your email",
        "Sent: Friday",
    ],
)
def test_prose_with_a_colon_is_not_a_label(text):
    results, unknown, _ = read(text)
    assert unknown == ()
    assert all(r.status == "missing" for r in results.values())


# --------------------------------------------------------------------------- properties

SAFE_TEXT = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll"), whitelist_characters=" ,'&"),
    min_size=1,
    max_size=30,
).map(lambda s: " ".join(s.split())).filter(lambda s: s and s[0].isalpha() and s[-1] != "'")


@st.composite
def filled_values(draw):
    vals: dict[str, object] = {}
    if draw(st.booleans()):
        vals["location"] = draw(SAFE_TEXT)
    if draw(st.booleans()):
        vals["frequency"] = draw(st.sampled_from(["Every week", "Every two weeks", "Monthly"]))
    if draw(st.booleans()):
        vals["objectives"] = tuple(draw(st.lists(SAFE_TEXT, min_size=1, max_size=4)))
    if draw(st.booleans()):
        vals["review_date"] = draw(st.dates(min_value=D(2026, 3, 20), max_value=D(2029, 12, 31)))
    if draw(st.booleans()):
        vals["meetings"] = draw(st.integers(min_value=0, max_value=10_000))
    return vals


@settings(max_examples=60, deadline=None)
@given(vals=filled_values(), quoted_below=st.booleans())
def test_render_then_read_round_trips(vals, quoted_below):
    text = render_form(AGREEMENT, vals)
    body = text + ("\n\n> " + "\n> ".join(render_form(AGREEMENT).split("\n")) if quoted_below else "")
    results, unknown, warnings = read(text, body)
    assert values(results) == vals
    assert unknown == ()
    assert warnings == ()
    for name, r in results.items():
        assert r.status == ("ok" if name in vals else "missing")


@settings(max_examples=100, deadline=None)
@given(new=st.text(max_size=300), body=st.text(max_size=300), order=st.sampled_from(["DMY", "MDY", ""]))
def test_read_form_never_raises(new, body, order):
    results, unknown, warnings = read(new, body + "\n" + new, order=order)
    assert list(results) == [f.name for f in AGREEMENT]
    for r in results.values():
        assert r.status in ("ok", "missing", "invalid")
        assert (r.value is not None) == (r.status == "ok")
        assert r.status == "ok" or r.reason
    assert all(isinstance(u, str) and u for u in unknown)


LINE_PIECES = st.sampled_from(
    ["Location:", "> Location:", "Frequency: weekly", "Objectives:", "1. a", "- b", "Review date: 6/4",
     "(where you will meet)", "", ">", "Note: x", "Number of meetings: two", "On Fri Sam wrote:", "-- "]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(LINE_PIECES | st.text(max_size=20), max_size=15))
def test_read_form_never_raises_on_form_like_text(lines):
    text = "\n".join(lines)
    results, _, _ = read(text, text)
    assert len(results) == len(AGREEMENT)


def test_value_on_the_label_line_keeps_a_leading_number():
    results, _, _ = read("Review date: 6. April\nNumber of meetings: 6.")
    assert results["review_date"].value == D(2026, 4, 6)
    assert results["meetings"].value == 6


def test_word_level_two_bullets_are_not_part_of_the_items():
    """Outlook's plain text of a Word list: "·" at level one, "o" and "§" below."""
    fields = (FieldSpec("objectives", "Objectives", kind="list"),)
    new_text = "Objectives:\n·         Grant\no   Submit by September\n§  Draft first\n"
    results, _unknown, _warnings = read_form(new_text, new_text, fields, base=BASE, tz="Europe/London",
                                             date_order="DMY")
    assert results["objectives"].value == ("Grant", "Submit by September", "Draft first")


# --------------------------------------------------------------------------- round 2


PULSE = FieldSpec("pulse", "Pulse", kind="number")


def test_numbered_answers_under_quoted_blanks_are_the_objectives():
    form = "Location:\n(where you will meet)\n\nObjectives:\n(up to three things to work on)\n1. ____\n2. ____\n3. ____"
    body = "On Mon, 2 Mar 2026, Scheme <s@example.org> wrote:\n" + quote(form) + "\n\n> Thanks\n"
    below = body.replace("> 3. ____\n", "> 3. ____\n1. Build confidence\n2. Learn Python\n")
    results, _, _ = read("", below)
    assert results["objectives"].value == ("Build confidence", "Learn Python")
    between = body.replace("> 1. ____\n", "> 1. ____\n1. Build confidence\n").replace(
        "> 2. ____\n", "> 2. ____\n2. Learn Python\n")
    results, _, _ = read("", between)
    assert results["objectives"].value == ("Build confidence", "Learn Python")


def test_blanks_copied_to_the_top_are_not_answers():
    results, _, _ = read("Location: ____\nObjectives:\n1. Build confidence\n2. ____\n3. ...")
    assert results["location"].status == "missing"
    assert results["objectives"].value == ("Build confidence",)


def test_a_sentence_under_a_value_ends_it():
    results, _, _ = read("Location: the hospital library\nLooking forward to it, see you there.\n"
                         "Review date: 6 April\nThanks for organising this.")
    assert results["location"].value == "the hospital library"
    assert results["review_date"].value == D(2026, 4, 6)
    # a value that goes on, or a value written as a sentence, keeps its lines
    results, _, _ = read("Location: Room 2.14\nBuilding B, Main Campus")
    assert results["location"].value == "Room 2.14\nBuilding B, Main Campus"
    results, _, _ = read("Location: We meet in the library.\nSometimes we go for a walk.")
    assert results["location"].value == "We meet in the library.\nSometimes we go for a walk."


def test_label_without_colon_when_the_value_fits():
    results, _, _ = read("Pulse 5\nReview date 6 April\nFrequency fortnightly", fields=(PULSE, REVIEW, FREQUENCY))
    assert values(results) == {"pulse": 5, "review_date": D(2026, 4, 6), "frequency": "Every two weeks"}
    # not when the rest is not a value of the kind, or the label is a text field's
    results, _, _ = read("Pulse was fine\nReview the plan\nLocation the library", fields=(PULSE, REVIEW, LOCATION))
    assert {r.status for r in results.values()} == {"missing"}


@pytest.mark.parametrize("text, languages, expected", [
    ("9 mars 2027", ("en", "fr"), D(2027, 3, 9)),
    ("1 maart 2027", ("en", "nl"), D(2027, 3, 1)),
    ("3. Juni 2027", ("en", "de"), D(2027, 6, 3)),
    ("3 de junio de 2027", ("es",), D(2027, 6, 3)),
    ("3 Mehefin 2027", ("cy",), D(2027, 6, 3)),
])
def test_dates_in_the_schemes_languages(text, languages, expected):
    results, _, _ = read_form("", f"Review date: {text}", (REVIEW,), base=BASE, tz=TZ, date_order="DMY",
                              languages=languages)
    assert results["review_date"].value == expected


def test_dates_default_to_english():
    results, _, _ = read_form("", "Review date: 9 mars 2027", (REVIEW,), base=BASE, tz=TZ, date_order="DMY")
    assert results["review_date"].status == "invalid"
