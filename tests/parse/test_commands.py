"""The command a reply carries: mailflow.parse.commands."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.parse.commands import find_command, normalise, words
from mailflow.parse.result import CommandResult

INTRO = {
    "accept": ("accept", "yes", "happy to", "i accept"),
    "decline": ("decline", "no", "not able to", "can't"),
}
REVIEW = {
    "confirm": ("confirm", "yes", "fine", "ok", "that works"),
    "move": ("move", "change", "another date", "reschedule"),
}


def cmd(text: str, commands=INTRO) -> CommandResult:
    return find_command(text, commands)


# --------------------------------------------------------------------------- each phrase


@pytest.mark.parametrize(
    "text, name",
    [
        # every phrase of both commands
        ("accept", "accept"),
        ("yes", "accept"),
        ("happy to", "accept"),
        ("I accept", "accept"),
        ("decline", "decline"),
        ("no", "decline"),
        ("not able to", "decline"),
        ("can't", "decline"),
        # case and punctuation
        ("Accept!", "accept"),
        ("ACCEPT.", "accept"),
        ("Yes!!!", "accept"),
        ("Decline.", "decline"),
        ("accept :)", "accept"),
        # emphasis left over from HTML, quotes, bullets, a stray ">"
        ("**ACCEPT**", "accept"),
        ("*accept*", "accept"),
        ("__yes__", "accept"),
        ("_Decline_", "decline"),
        ('"accept"', "accept"),
        ("“Accept”", "accept"),
        ("'yes'", "accept"),
        ("- accept", "accept"),
        ("• decline", "decline"),
        ("1. accept", "accept"),
        ("> accept", "accept"),
        # apostrophes of every kind, and none
        ("I can’t", "decline"),
        ("I cant", "decline"),
        # a phrase later in the first clause counts
        ("Yes, happy to", "accept"),
        ("I'd be happy to", "accept"),
        ("Sorry, I can't", "decline"),
        ("Sorry, I'm not able to at the moment", "decline"),
        ("Hi Sam, yes", "accept"),
        ("Thank you - I accept", "accept"),
        # idioms that are not commands
        ("No problem, happy to", "accept"),
        ("No worries, happy to!", "accept"),
        ("Can't wait! Yes", "accept"),
        # negation by a decline phrase: that command stands
        ("I can't accept", "decline"),
        ("I'm not able to accept", "decline"),
        ("No, I don't accept", "decline"),
    ],
)
def test_reads_the_command(text, name):
    assert cmd(text).name == name


@pytest.mark.parametrize(
    "text",
    [
        "yesterday was busy",  # "yes" must not match "yesterday"
        "not sure",  # "no" must not match "not"
        "Noah here",
        "Nobody told me",
        "acceptance letter attached",
        "knowledge",  # contains "no" and "yes"? neither as a word
        "",
        "   \n\n",
        "---",
    ],
)
def test_whole_words_only(text):
    r = cmd(text)
    assert (r.name, r.candidates) == (None, ())


# --------------------------------------------------------------------------- first line


@pytest.mark.parametrize(
    "text, name, line",
    [
        ("Hi Sam,\n\nYes, happy to", "accept", "Yes, happy to"),
        ("Dear team\nDecline", "decline", "Decline"),
        ("Hello,\n\n---\n!!\naccept", "accept", "accept"),
        ("Good morning Sam!\naccept", "accept", "accept"),
        ("Thanks!\n\nI accept", "accept", "I accept"),
        ("Thank you for thinking of me.\nI accept", "accept", "I accept"),
        ("Many thanks, Sam\nno", "decline", "no"),
        ("   \n\t\n  accept  \n", "accept", "accept"),
        ("\r\nHi,\r\nYes\r\n", "accept", "Yes"),
    ],
)
def test_skips_blank_greeting_and_punctuation_lines(text, name, line):
    r = cmd(text)
    assert (r.name, r.line) == (name, line)


@pytest.mark.parametrize(
    "text, line",
    [
        ("Looking forward to it\nyes", "Looking forward to it"),
        ("I have a question about the scheme.\nAccept", "I have a question about the scheme."),
        ("Hi Sam, could we talk first?\nyes", "Hi Sam, could we talk first?"),
    ],
)
def test_only_the_first_meaningful_line_counts(text, line):
    r = cmd(text)
    assert (r.name, r.line, r.candidates) == (None, line, ())


def test_greeting_with_the_command_is_the_line():
    r = cmd("Hi Sam, I accept")
    assert (r.name, r.line) == ("accept", "Hi Sam, I accept")


# --------------------------------------------------------------------------- longest phrase


def test_longest_phrase_wins():
    commands = {"accept": ("able to",), "decline": ("not able to",)}
    assert find_command("I'm not able to", commands).name == "decline"
    assert find_command("I'm able to", commands).name == "accept"


def test_a_caller_can_list_an_idiom():
    commands = {"accept": ("yes",), "decline": ("no problem",)}
    assert find_command("no problem", commands).name == "decline"


def test_context_gives_the_meaning():
    assert find_command("Yes", INTRO).name == "accept"
    assert find_command("Yes", REVIEW).name == "confirm"
    assert find_command("Could we move it? Another date would suit me", REVIEW).name == "move"
    assert find_command("That works", REVIEW).name == "confirm"


# --------------------------------------------------------------------------- ambiguity


@pytest.mark.parametrize(
    "text, candidates",
    [
        ("yes... no", ("accept", "decline")),
        ("Accept or decline?", ("accept", "decline")),
        ("Yes, no, maybe", ("accept", "decline")),
        ("accept…decline", ("accept", "decline")),
    ],
)
def test_two_commands_in_the_deciding_clause_are_ambiguous(text, candidates):
    r = cmd(text)
    assert (r.name, r.candidates, r.rest) == (None, candidates, "")
    assert r.line == text


def test_candidates_follow_the_callers_order():
    commands = {"decline": ("no",), "accept": ("yes",)}
    assert find_command("yes or no", commands).candidates == ("decline", "accept")


@pytest.mark.parametrize(
    "text, name, rest",
    [
        ("I accept, although I can't do Tuesdays", "accept", "although I can't do Tuesdays"),
        ("Yes but not until May", "accept", "but not until May"),
        ("No. Happy to help another time", "decline", "Happy to help another time"),
        ("Yes! No rush on the agreement", "accept", "No rush on the agreement"),
    ],
)
def test_later_clauses_do_not_count(text, name, rest):
    r = cmd(text)
    assert (r.name, r.rest) == (name, rest)


# --------------------------------------------------------------------------- negation


@pytest.mark.parametrize(
    "text",
    [
        "not happy to",
        "I'm not happy to do this",
        "don't accept",
        "I do not accept",
        "I won't accept",
        "I'm not sure I can accept",
        "never happy to",
    ],
)
def test_negated_accept_is_not_accept(text):
    r = cmd(text)
    assert r.name is None
    assert r.candidates == ()
    assert r.line == text


def test_negation_applies_to_every_command():
    r = find_command("I don't want to move it", REVIEW)
    assert (r.name, r.candidates) == (None, ())


# --------------------------------------------------------------------------- rest


@pytest.mark.parametrize(
    "text, rest",
    [
        ("Decline - I'm moving abroad", "I'm moving abroad"),
        ("Decline\nI'm moving abroad.\nSorry!", "I'm moving abroad.\nSorry!"),
        ("Decline: no time this term", "no time this term"),
        ("**DECLINE** too busy", "too busy"),
        ("accept", ""),
        ("**ACCEPT**", ""),
        ("Hi,\nYes, happy to. See you then\nSam", "happy to. See you then\nSam"),
        ("Yes. See you then", "See you then"),
        ("Sorry, I can't - I start a new job in May.", "I start a new job in May."),
    ],
)
def test_rest_is_the_text_after_the_command(text, rest):
    assert cmd(text).rest == rest


def test_nothing_found():
    r = cmd("Could you send me more details first?")
    assert r == CommandResult(None, line="Could you send me more details first?")


def test_no_commands_declared():
    assert find_command("yes", {}) == CommandResult(None, line="yes")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("**Can’t** do it!", "cant do it"),
        ("  Yes,   HAPPY to. ", "yes happy to"),
        ("__decline__", "decline"),
        ("I'd", "id"),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_words():
    assert words("- Accept!") == ["accept"]


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_never_raises(text):
    r = cmd(text)
    assert r.name is None or r.name in INTRO
    assert set(r.candidates) <= set(INTRO)
    if r.name is not None:
        assert r.candidates == ()
    if r.candidates:
        assert r.name is None and len(r.candidates) >= 2


@settings(max_examples=100, deadline=None)
@given(
    phrase=st.sampled_from([p for ps in INTRO.values() for p in ps]),
    before=st.sampled_from(["", "**", "*", "__", "- ", '"', "> "]),
    after=st.sampled_from(["", "**", "!", ".", "...", "!!", '"', " :)"]),
    upper=st.booleans(),
)
def test_decorated_phrase_still_reads(phrase, before, after, upper):
    text = before + (phrase.upper() if upper else phrase) + after
    expected = next(name for name, phrases in INTRO.items() if phrase in phrases)
    assert cmd(text).name == expected
