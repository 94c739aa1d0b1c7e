"""Out-of-office replies and bounces: mailflow.parse.machine."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.parse import mime
from mailflow.parse.machine import body_text_of, classify
from mailflow.parse.result import MachineMail

DATA = Path(__file__).parent / "data" / "machine"
D = dt.date


def load(name: str) -> Message:
    return email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.compat32)


def make(headers: dict[str, str] | list[tuple[str, str]], body: str = "Hello\n") -> Message:
    """A message as it arrives: bytes, UTF-8 body, dated Friday 27 March 2026."""
    items = list(headers.items() if isinstance(headers, dict) else headers)
    names = {k.lower() for k, _ in items}
    if "date" not in names:
        items.append(("Date", "Fri, 27 Mar 2026 09:00:00 +0000"))
    if "content-type" not in names:
        items.append(("Content-Type", "text/plain; charset=utf-8"))
    head = "".join(f"{k}: {v}\n" for k, v in items)
    return email.message_from_bytes((head + "\n" + body).encode("utf-8"), policy=email.policy.compat32)


HUMAN = {
    "From": "Sam Carter <sam@example.com>",
    "To": "mentoring@scheme.example.org",
    "Subject": "Re: Introduction: Sam Carter and Priya Shah",
    "Message-ID": "<abc@example.com>",
}


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "outlook_oof.eml",
            MachineMail("auto-reply", "Subject: Automatic reply: Introduction: Sam Carter and Priya Shah",
                        away_until=D(2026, 4, 6)),
        ),
        (
            "exchange_oof.eml",
            MachineMail("auto-reply", "Auto-Submitted: auto-generated", away_until=D(2026, 4, 14)),
        ),
        (
            "gmail_vacation.eml",
            MachineMail("auto-reply", "Auto-Submitted: auto-replied", away_until=D(2026, 4, 20)),
        ),
        (
            "german_oof.eml",
            MachineMail("auto-reply", "Subject: Abwesenheitsnotiz: Einführung: Jörg Becker und Sam Carter",
                        away_until=D(2026, 4, 13)),
        ),
        (
            "french_oof.eml",
            MachineMail("auto-reply", "Subject: Réponse automatique : Votre binôme de mentorat",
                        away_until=D(2026, 4, 7)),
        ),
        (
            "postfix_dsn.eml",
            MachineMail("bounce", "a delivery status report (multipart/report)", bounced=("jane.doe@example.org",)),
        ),
        (
            "gmail_dsn.eml",
            MachineMail("bounce", "a delivery status report (multipart/report)", bounced=("nobody.here.42@gmail.com",)),
        ),
        (
            "gmail_legacy_failure.eml",
            MachineMail("bounce", "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
                        bounced=("old.mentor@example.com",)),
        ),
        (
            "exim_bounce.eml",
            MachineMail("bounce", "X-Failed-Recipients: Mentee.One@example.net", bounced=("mentee.one@example.net",)),
        ),
        (
            "delayed_dsn.eml",
            MachineMail("bounce", "a delivery status report (multipart/report)",
                        delayed=("slow.mentor@slow.example.com",)),
        ),
        ("human_reply_suppress.eml", None),
    ],
)
def test_fixture(name, expected):
    assert classify(load(name), tz="Europe/London") == expected


def test_every_fixture_is_tested():
    tested = {
        "outlook_oof.eml", "exchange_oof.eml", "gmail_vacation.eml", "german_oof.eml", "french_oof.eml",
        "postfix_dsn.eml", "gmail_dsn.eml", "gmail_legacy_failure.eml", "exim_bounce.eml", "delayed_dsn.eml",
        "human_reply_suppress.eml",
    }
    assert {p.name for p in DATA.glob("*.eml")} == tested


def test_away_until_counts_from_the_given_base():
    # The vacation reply says "returning on 20 April" (no year): from May, that is next year.
    base = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)
    assert classify(load("gmail_vacation.eml"), base=base).away_until == D(2027, 4, 20)


def test_away_until_with_a_weekday_that_does_not_fit_is_left_out():
    # "back on Tuesday 14 April": 14 April 2027 is a Wednesday. Not "next Tuesday".
    base = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    assert classify(load("exchange_oof.eml"), base=base).away_until is None


def test_decoded_headers_and_body():
    msg = load("german_oof.eml")
    assert mime.header(msg, "From") == "Jörg Becker <j.becker@beispiel.example>"
    assert "Ich bin bis einschließlich 10.04.2026 nicht im Büro" in body_text_of(msg)
    assert "will be back on Tuesday 14 April. I will" in body_text_of(load("exchange_oof.eml"))


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "extra, reason",
    [
        ({"Auto-Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"Auto-Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
        ({"Auto-Submitted": "auto-notified; owner-email=x@example.com"},
         "Auto-Submitted: auto-notified; owner-email=x@example.com"),
        ({"X-Autoreply": "yes"}, "X-Autoreply: yes"),
        ({"X-Autorespond": "Vacation"}, "X-Autorespond: Vacation"),
        ({"X-Autoresponder": "1"}, "X-Autoresponder: 1"),
        ({"X-AutoReply-From": "sam@example.com"}, "X-AutoReply-From: sam@example.com"),
        ({"X-Mail-Autoreply": "yes"}, "X-Mail-Autoreply: yes"),
        ({"X-Autogenerated": "Reply"}, "X-Autogenerated: Reply"),
        ({"Precedence": "bulk"}, "Precedence: bulk"),
        ({"Precedence": "junk"}, "Precedence: junk"),
        ({"Precedence": "list"}, "Precedence: list"),
        ({"Precedence": "auto_reply"}, "Precedence: auto_reply"),
        ({"Return-Path": "<>"}, "Return-Path: <>"),
    ],
)
def test_auto_reply_headers(extra, reason):
    r = classify(make({**HUMAN, **extra}))
    assert r == MachineMail("auto-reply", reason)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"X-Auto-Response-Suppress": "All"},
        {"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"},
        {"Auto-Submitted": "no"},
        {"Auto-Submitted": "No"},
        {"X-Autoreply": "no"},
        {"Precedence": "first-class"},
        {"Return-Path": "<sam@example.com>"},
        {"Subject": "Re: Out of office next week?"},
        {"Subject": "RE: Automatic reply: Introduction"},  # a person replying to an OOF
        {"Subject": "Re: Undeliverable: Introduction"},
        {"Subject": "Absence of my mentor"},
    ],
)
def test_human_replies_are_not_machine_mail(extra):
    assert classify(make({**HUMAN, **extra})) is None


def test_human_reply_quoting_a_bounce_is_not_a_bounce():
    body = (
        "Sorry, my old address stopped working. It said:\n\n"
        "> Delivery to the following recipient failed permanently:\n>\n>     sam@old.example.com\n"
        "> Your message could not be delivered to sam@old.example.com\n"
    )
    assert classify(make(HUMAN, body)) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Introduction",
        "Auto: Introduction",
        "AutoReply: Introduction",
        "Auto-Reply: Introduction",
        "Out of Office: Introduction",
        "Out of the office: Introduction",
        "Out of Office AutoReply: Introduction",
        "Abwesenheitsnotiz: Einführung",
        "Automatische Antwort: Einführung",
        "Réponse automatique : Introduction",
        "Absence: Introduction",
        "Respuesta automática: Introducción",
        "Respuesta automatica: Introduccion",
        "Risposta automatica: Introduzione",
        "Autosvar: Introduktion",
        "Automatisch antwoord: Introductie",
        "Fuera de la oficina: Introducción",
        "Niet aanwezig: Introductie",
        "=?UTF-8?Q?R=C3=A9ponse_automatique_:_Introduction?=",
        "=?utf-8?B?QXV0b21hdGlzY2hlIEFudHdvcnQ6IEVpbmbDvGhydW5n?=",
    ],
)
def test_auto_reply_subjects(subject):
    r = classify(make({**HUMAN, "Subject": subject}))
    assert r is not None and r.kind == "auto-reply"
    assert r.reason.startswith("Subject: ")
    assert "=?" not in r.reason


# --------------------------------------------------------------------------- away_until


@pytest.mark.parametrize(
    "body, expected",
    [
        ("I am back on Monday 6 April.", D(2026, 4, 6)),
        ("I'll be back in the office on 8 April.", D(2026, 4, 8)),
        ("Returning on Thursday 9 April", D(2026, 4, 9)),
        ("I return on 14/04/2026.", D(2026, 4, 14)),
        ("I will return to work on the 15th.", D(2026, 4, 15)),
        ("Out of the office until\n Wednesday 8 April with no access to email.", D(2026, 4, 8)),
        ("Away until next Tuesday.", D(2026, 3, 31)),
        ("I'm away until 3 April, and back on Monday 6 April.", D(2026, 4, 6)),  # back on wins
        ("Ich bin ab dem 7. April wieder im Büro.", D(2026, 4, 7)),
        ("Ich bin zurück am 8.4.2026.", D(2026, 4, 8)),
        ("Ich bin bis zum 10. April nicht erreichbar.", D(2026, 4, 10)),
        ("Je serai de retour le 9 avril.", D(2026, 4, 9)),
        ("Absente jusqu'au 10 avril inclus.", D(2026, 4, 10)),
        ("Estaré fuera hasta el 6 de abril.", D(2026, 4, 6)),
        ("Sarò fuori ufficio fino al 6 aprile.", D(2026, 4, 6)),
        ("Ik ben terug op 6 april.", D(2026, 4, 6)),
        ("I am out of the office with limited access to email.", None),
        ("I am away until further notice.", None),
        ("I was away until 2 March 2026.", None),  # in the past: left out
        ("I am away until 2 March.", D(2027, 3, 2)),  # no year: the next 2 March
        ("Back on 03/04.", None),  # ambiguous without a date order: left out
    ],
)
def test_away_until(body, expected):
    r = classify(make({**HUMAN, "Auto-Submitted": "auto-replied"}, body), tz="Europe/London")
    assert r is not None and r.away_until == expected


def test_away_until_uses_the_date_order_when_given():
    r = classify(make({**HUMAN, "Auto-Submitted": "auto-replied"}, "Back on 03/04."), date_order="DMY")
    assert r.away_until == D(2026, 4, 3)


def test_away_until_from_the_subject():
    r = classify(make({**HUMAN, "Subject": "Out of office until 8 April"}, "Thanks for your message."))
    assert r.away_until == D(2026, 4, 8)


def test_away_until_from_html_only():
    msg = make(
        {**HUMAN, "Auto-Submitted": "auto-replied", "Content-Type": "text/html; charset=utf-8"},
        "<p>I&rsquo;m away until <b>Thursday&nbsp;9&nbsp;April</b>.</p>",
    )
    assert classify(msg).away_until == D(2026, 4, 9)


def test_away_until_with_a_bad_time_zone_is_left_out():
    r = classify(make({**HUMAN, "Auto-Submitted": "auto-replied"}, "Back on 8 April."), tz="Nowhere/Else")
    assert r == MachineMail("auto-reply", "Auto-Submitted: auto-replied")


# --------------------------------------------------------------------------- bounces


def _dsn(blocks: str, subject: str = "Delivery Status Notification") -> Message:
    return email.message_from_string(
        "From: MAILER-DAEMON@mx.example.org\n"
        "To: mentoring@scheme.example.org\n"
        f"Subject: {subject}\n"
        "Date: Fri, 27 Mar 2026 09:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nReport.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        f"{blocks}\n"
        "--B--\n",
        policy=email.policy.compat32,
    )


@pytest.mark.parametrize(
    "blocks, bounced, delayed",
    [
        ("Final-Recipient: rfc822; A@Example.org\nAction: failed\nStatus: 5.1.1\n", ("a@example.org",), ()),
        ("Final-Recipient: rfc822; a@example.org\nAction: failed\n", ("a@example.org",), ()),
        ("Final-Recipient: rfc822; a@example.org\nAction: delayed\nStatus: 4.4.7\n", (), ("a@example.org",)),
        ("Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 4.2.2\n", (), ("a@example.org",)),
        ("Final-Recipient: rfc822; a@example.org\nAction: delivered\nStatus: 2.0.0\n", (), ()),
        ("Final-Recipient: rfc822; a@example.org\nAction: relayed\nStatus: 2.0.0\n", (), ()),
        (
            "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n"
            "Final-Recipient: rfc822; b@example.org\nAction: delayed\nStatus: 4.4.1\n\n"
            "Final-Recipient: rfc822; A@EXAMPLE.ORG\nAction: failed\nStatus: 5.2.2\n",
            ("a@example.org",),
            ("b@example.org",),
        ),
        (
            "Original-Recipient: rfc822; alias@example.org\nFinal-Recipient: rfc822; real@example.org\n"
            "Action: failed\nStatus: 5.1.1\n",
            ("alias@example.org", "real@example.org"),
            (),
        ),
    ],
)
def test_delivery_status_reports(blocks, bounced, delayed):
    r = classify(_dsn(blocks))
    assert (r.kind, r.bounced, r.delayed) == ("bounce", bounced, delayed)


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"From": "MAILER-DAEMON@mx.example.org", "Subject": "hello"}, "From: MAILER-DAEMON@mx.example.org"),
        ({"From": "postmaster@example.org", "Subject": "hello"}, "From: postmaster@example.org"),
        ({"From": "Mail Delivery System <x@mx.example.org>", "Subject": "hello"},
         "From: Mail Delivery System <x@mx.example.org>"),
        ({"From": "x@mx.example.org", "Subject": "Undeliverable: Introduction"},
         "Subject: Undeliverable: Introduction"),
        ({"From": "x@mx.example.org", "Subject": "failure notice"}, "Subject: failure notice"),
        ({"From": "x@mx.example.org", "Subject": "Returned mail: see transcript for details"},
         "Subject: Returned mail: see transcript for details"),
        ({"From": "x@mx.example.org", "Subject": "Unzustellbar: Einführung"}, "Subject: Unzustellbar: Einführung"),
        ({"From": "x@mx.example.org", "Subject": "Non remis : Introduction"}, "Subject: Non remis : Introduction"),
    ],
)
def test_bounce_candidates_without_addresses(headers, reason):
    assert classify(make(headers, "Something went wrong.\n")) == MachineMail("bounce", reason)


def test_qmail_bounce_read_by_flufl():
    body = (
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<Gone@Example.net>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "From: mentoring@scheme.example.org\n"
    )
    msg = make({"From": "MAILER-DAEMON@mx.example.net", "Subject": "failure notice",
                "Return-Path": "<>"}, body)
    assert classify(msg).bounced == ("gone@example.net",)


def test_bounce_wins_over_auto_submitted():
    assert classify(load("exim_bounce.eml")).kind == "bounce"
    assert load("exim_bounce.eml")["Auto-Submitted"] == "auto-replied"


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "headers",
    [
        {"Subject": "=?utf-8?Q?broken", "From": "=?x-unknown?Q?abc?= <a@b.c>"},
        {"Subject": "=?utf-8?B?!!!notbase64?=", "Auto-Submitted": "=?utf-8?Q?auto-replied?="},
        {"From": "<<<>>>", "Return-Path": ""},
        {"Date": "not a date", "Auto-Submitted": "auto-replied"},
    ],
)
def test_odd_headers_never_raise(headers):
    classify(make({**HUMAN, **headers}, "until 6 April"))


def test_raw_8bit_headers_never_raise():
    raw = (
        b"From: J\xf6rg <j@example.de>\nSubject: Abwesenheitsnotiz: Einf\xfchrung\n"
        b"Content-Type: text/plain; charset=bogus-charset\n\nIch bin bis 10.04.2026 nicht da.\n"
    )
    r = classify(email.message_from_bytes(raw, policy=email.policy.compat32))
    assert r is not None and r.kind == "auto-reply"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_never_raises_on_arbitrary_bytes(raw):
    msg = email.message_from_bytes(b"Auto-Submitted: auto-replied\n" + raw, policy=email.policy.compat32)
    r = classify(msg)
    assert r is None or r.kind in ("auto-reply", "bounce")
