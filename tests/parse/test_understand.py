"""parse.read + parse.understand together: what the workflow engine receives."""

from __future__ import annotations

import datetime as dt

from mailflow import parse
from mailflow.parse.result import Expectation

COMMANDS = Expectation(commands={"accept": ("accept", "yes", "happy to"), "decline": ("decline", "no")})
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def understand(body: str, expectation: Expectation = COMMANDS):
    raw = ("From: Ada <ada@hospital.test>\r\nTo: m+tok@scheme.test\r\nSubject: Re: Introduction\r\n"
           "Date: Mon, 2 Mar 2026 09:30:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)
    return parse.understand(parse.read(raw.encode()), expectation, now=NOW, tz="Europe/London", date_order="DMY")


def test_a_command_word_in_our_quoted_email_is_never_the_answer():
    reply = understand("On Mon, 2 Mar 2026 at 09:00, Scheme <m@scheme.test> wrote:\r\n"
                       "> Reply ACCEPT if you are happy to mentor Sam\r\n"
                       "I need to check my diary first\r\n"
                       "> or DECLINE if you cannot\r\n"
                       "I'll let you know on Friday\r\n")
    assert reply.command.name is None and reply.command.candidates == ()
    assert "I need to check my diary first" in reply.mail.own_text
    assert "ACCEPT" not in reply.mail.own_text


def test_top_posted_command_above_the_quote():
    reply = understand("Happy to!\r\n\r\nAda\r\n\r\nOn Mon, 2 Mar 2026 at 09:00, Scheme <m@scheme.test> wrote:\r\n"
                       "> Reply DECLINE if you cannot\r\n")
    assert reply.command.name == "accept"


def test_an_inline_answer_under_the_quoted_question_is_read():
    reply = understand("On Mon, 2 Mar 2026 at 09:00, Scheme <m@scheme.test> wrote:\r\n"
                       "> Could you mentor Sam? Reply ACCEPT or DECLINE.\r\n"
                       "Decline, sorry - too busy this term.\r\n")
    assert reply.command.name == "decline"
    assert "too busy" in reply.command.rest


def test_relative_dates_count_from_the_message_date_in_the_scheme_zone():
    from mailflow.parse.result import FieldSpec

    form = Expectation(fields=(FieldSpec("review_date", "Review date", kind="date"),))
    # Sent on Monday 2 March 2026 at 09:30 GMT. "next Tuesday" is the coming one; the
    # echo names the weekday and the full date, so a person who meant otherwise sees it.
    reply = understand("Review date: next Tuesday\r\n", form)
    assert reply.fields["review_date"].value == dt.date(2026, 3, 3)
    assert reply.fields["review_date"].display == "Tuesday 3 March 2026"
    reply = understand("Review date: in two weeks\r\n", form)
    assert reply.fields["review_date"].value == dt.date(2026, 3, 16)
