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


def _read(body: str, sender: str = "Ada Lovelace <ada@hospital.test>"):
    raw = (f"From: {sender}\r\nTo: m+tok@scheme.test\r\nSubject: Re: Introduction\r\n"
           "Date: Mon, 2 Mar 2026 09:30:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body)
    return parse.read(raw.encode())


def test_body_closing_and_signature_on_mail_and_reply():
    mail = _read("Yes, happy to.\r\n\r\nKind regards,\r\nAda\r\n\r\nAda Lovelace\r\nConsultant | Riverside Hospital\r\n"
                 "\r\nOn Mon, 2 Mar 2026 at 09:00, Scheme <m@scheme.test> wrote:\r\n> Reply ACCEPT\r\n")
    assert (mail.body, mail.closing, mail.signature) == (
        "Yes, happy to.", "Kind regards,\nAda", "Ada Lovelace\nConsultant | Riverside Hospital")
    assert mail.new_text == mail.own_text == "Yes, happy to.\n\nKind regards,\nAda"
    reply = parse.understand(mail, COMMANDS, now=NOW, tz="Europe/London", date_order="DMY")
    assert reply.command.name == "accept"
    assert (reply.body, reply.closing, reply.signature) == (mail.body, mail.closing, mail.signature)


def test_the_enrolled_name_is_evidence_for_a_bare_sign_off():
    # The From display name is an address only; the enrolled name says "Ada" is a name.
    mail = _read("Yes, happy to.\r\n\r\nAda\r\n", sender="ada@hospital.test")
    assert mail.body == "Yes, happy to.\n\nAda"
    reply = parse.understand(mail, COMMANDS, now=NOW, tz="Europe/London", date_order="DMY",
                             names=("Ada Lovelace",))
    assert (reply.body, reply.closing) == ("Yes, happy to.", "Ada")
    assert reply.mail.body == "Yes, happy to.\n\nAda"  # the Mail itself is unchanged


def test_the_form_is_read_without_the_sign_off():
    from mailflow.parse.result import FieldSpec

    form = Expectation(fields=(FieldSpec("location", "Location"),))
    reply = understand("Location: the library\r\nThanks,\r\nAda\r\n", form)
    assert reply.fields["location"].value == "the library"


def test_dates_in_the_schemes_languages():
    from mailflow.parse.result import FieldSpec

    form = Expectation(fields=(FieldSpec("review_date", "Review date", kind="date"),))
    mail = _read("Review date: 9 mars 2027\r\n")
    english = parse.understand(mail, form, now=NOW, tz="Europe/London", date_order="DMY")
    assert english.fields["review_date"].status == "invalid"
    french = parse.understand(mail, form, now=NOW, tz="Europe/London", date_order="DMY", languages=("en", "fr"))
    assert french.fields["review_date"].value == dt.date(2027, 3, 9)


def test_config_scheme_languages(tmp_path):
    from pathlib import Path

    import pytest

    from mailflow.config import parse as parse_config
    from mailflow.errors import ConfigError

    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    path = tmp_path / "mailflow.toml"
    assert parse_config(text, path).scheme.languages == ("en",)
    assert parse_config(text.replace('languages = ["en"]', 'languages = ["en", "cy", "en"]'),
                        path).scheme.languages == ("en", "cy")
    for bad, said in (('languages = ["en", "klingon"]', "'klingon' is not a language code"),
                      ("languages = []", "needs at least one language code"),
                      ('languages = "en"', "must be a list")):
        with pytest.raises(ConfigError) as err:
            parse_config(text.replace('languages = ["en"]', bad), path)
        assert "[scheme] languages" in str(err.value) and said in str(err.value)
