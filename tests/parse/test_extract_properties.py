"""Properties of reply reading, checked with hypothesis (bounded: a few seconds in all)."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.parse.extract import extract_new_text, extract_reply
from mailflow.parse.mime import read_mail
from mailflow.parse.result import Mail

BOUNDED = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- never raise


@BOUNDED
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw):
    assert isinstance(extract_reply(raw), str)
    mail = read_mail(raw)
    assert isinstance(mail, Mail)
    assert "\x00" not in mail.body_text and "\r" not in mail.body_text


_MIME_BITS = st.sampled_from([
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"Content-Type: multipart/alternative; boundary=x\r\n",
    b"--x\r\n", b"--x--\r\n", b"Content-Type: text/html; charset=x-bogus\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%9C%93.csv\r\n", b"Subject: =?utf-8?B?w6k=?=\r\n",
    b"\r\n", b"> quoted\r\n", b"On Mon, 2 Mar 2026 at 09:15, S <s@example.org> wrote:\r\n", b"<blockquote>",
    b"From: =?x?q?=FF?= <a@b>\r\n", b"=C3=A9=\r\n", b"\x00", b"\xff\xfe", b"-- \r\n", b"____________\r\n",
])


@BOUNDED
@given(st.lists(st.one_of(_MIME_BITS, st.binary(max_size=40)), max_size=40))
def test_mime_shaped_garbage_never_raises(chunks):
    raw = b"".join(chunks)
    assert isinstance(extract_reply(raw), str)
    assert isinstance(read_mail(raw), Mail)


@BOUNDED
@given(st.text(max_size=2000), st.sampled_from(["plain", "html"]))
def test_arbitrary_text_in_a_valid_message(text, subtype):
    msg = EmailMessage()
    msg["From"] = "Participant <participant@example.org>"
    msg["To"] = "scheme@example.org"
    msg["Subject"] = "Re: hello"
    text = text.replace("\x00", "")
    try:
        msg.set_content(text, subtype=subtype, charset="utf-8")
    except Exception:  # the stdlib refuses some strings (surrogates): not our concern
        return
    raw = msg.as_bytes()
    out = extract_reply(raw)
    assert isinstance(out, str)
    mail = read_mail(raw)
    assert mail.from_addr == "participant@example.org"
    assert mail.new_text == out


@BOUNDED
@given(st.text(max_size=3000))
def test_extract_new_text_never_raises_and_never_grows(text):
    out = extract_new_text(text)
    assert isinstance(out, str)
    assert len(out) <= len(text)
    assert isinstance(extract_new_text(text, keep_quotes=False), str)


# --------------------------------------------------------------------------- no quoted-only text

# Two vocabularies with no word in common (and no word that is a sign-off, a device
# name or a header keyword): what the author wrote, and what was quoted.
NEW_WORDS = st.text(alphabet="abcdefgh", min_size=3, max_size=8)
OLD_WORDS = st.text(alphabet="qrstuvwxyz", min_size=3, max_size=8)
NAMES = st.sampled_from(["Sam Lee", "Mentoring Scheme", "Zoë Quist", "O'Brien, Pat"])


def _lines(words_strategy):
    return st.lists(st.lists(words_strategy, min_size=1, max_size=10).map(" ".join), min_size=1, max_size=8)


@st.composite
def replies(draw):
    new = draw(_lines(NEW_WORDS))
    old = draw(_lines(OLD_WORDS))
    when = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
    name = draw(NAMES)
    address = "scheme@example.org"
    header = draw(st.sampled_from([
        f"On {when:%a, %d %b %Y} at {when:%H:%M}, {name} <{address}> wrote:",
        f"On {when:%d %b %Y}, at {when:%H:%M}, {name} <{address}> wrote:",
        f"On {when:%a, %b %d, %Y at %I:%M %p} {name} <\n{address}> wrote:",
        f"On {when:%m/%d/%Y %H:%M}, {name} wrote:",
        f"On {when:%a, %d %b %Y} at {when:%H:%M}, {name} <{address}>\nwrote:",
    ]))
    blank_after_new = draw(st.sampled_from(["\n", "\n\n", "\n\n\n"]))
    blank_after_header = draw(st.sampled_from(["\n", "\n\n"]))
    quoted = "\n".join("> " + line for line in old)
    body = "\n".join(new) + blank_after_new + header + blank_after_header + quoted + "\n"
    return new, old, body


@BOUNDED
@given(replies())
def test_quoted_words_never_leak_into_the_new_text(reply):
    new, old, body = reply
    out = extract_new_text(body)
    tokens = set(re.findall(r"\w+", out))
    new_tokens = {w for line in new for w in line.split()}
    old_tokens = {w for line in old for w in line.split()}
    assert not tokens & old_tokens, out
    assert new_tokens <= tokens, out
    assert tokens <= new_tokens, out


@st.composite
def outlook_replies(draw):
    new = draw(_lines(NEW_WORDS))
    old = draw(_lines(OLD_WORDS))
    when = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
    name = draw(NAMES)
    block = draw(st.sampled_from([
        "From: {n} <scheme@example.org>\nSent: {w:%A, %B %d, %Y %I:%M %p}\nTo: Participant\nSubject: Re: x",
        "________________________________\nFrom: {n} <scheme@example.org>\nSent: {w:%d %B %Y %H:%M}\nTo: P",
        "-----Original Message-----\nFrom: {n}\nSent: {w:%d/%m/%Y %H:%M}\nSubject: x",
        "Von: {n} <scheme@example.org>\nGesendet: {w:%d.%m.%Y %H:%M}\nAn: P\nBetreff: x",
        "De : {n} <scheme@example.org>\nEnvoyé : {w:%d/%m/%Y %H:%M}\nÀ : P\nObjet : x",
        "---------- Forwarded message ---------\nFrom: {n} <scheme@example.org>\nDate: {w:%a, %b %d, %Y}",
    ])).format(n=name, w=when)
    body = "\n".join(new) + "\n\n" + block + "\n\n" + "\n".join(old) + "\n"
    return new, old, body


@BOUNDED
@given(outlook_replies())
def test_unquoted_history_never_leaks_into_the_new_text(reply):
    new, old, body = reply
    out = extract_new_text(body)
    tokens = set(re.findall(r"\w+", out))
    new_tokens = {w for line in new for w in line.split()}
    assert tokens == new_tokens, out


# --------------------------------------------------------------------------- body, closing, signature

_REPLY_LINES = st.sampled_from([
    "Yes, happy to.", "Accept", "Thanks,", "Kind regards,", "Diolch / Thanks,", "Ann", "Ann Lee", "-Ann",
    "Senior Lecturer", "Tel: +44 20 7946 0000", "www.example.org", "-- ", "", "> quoted line", "> Location:",
    "On Mon, 2 Mar 2026 at 09:15, S <s@example.org> wrote:", "Location: the library", "1. Learn Python",
    "Sent from my iPhone", "This email is confidential and intended solely for the addressee named above.",
    "Mit freundlichen Grüßen", "I can do Tuesdays.", "P.S. not Fridays",
])


@BOUNDED
@given(st.lists(_REPLY_LINES, max_size=25), st.sampled_from([(), ("Ann Lee",), ("Lee, Ann",)]))
def test_parts_are_the_authors_lines_in_order(lines, names):
    from mailflow.parse.extract import extract_parts

    text = "\n".join(lines)
    p = extract_parts(text, names=names)
    own = [line.rstrip() for line in text.split("\n")]
    for part in (p.body, p.closing, p.signature):
        assert isinstance(part, str)
        if not part:
            continue
        # every line of a part is a line of the input, in order
        k = 0
        for line in part.split("\n"):
            if not line:
                continue  # a blank line may join two blocks of a part
            while k < len(own) and own[k] != line:
                k += 1
            assert k < len(own), f"{line!r} is not an input line: {text!r}"
            k += 1
    # the body holds no quoted line, unless the message is nothing but a quote
    if p.body and any(not x.startswith(">") for x in p.body.split("\n") if x.strip()):
        assert not any(x.startswith(">") for x in p.body.split("\n")), text
    # the closing follows the body; the author's words are never dropped when there is no sign-off
    if p.body and p.closing:
        assert text.find(p.closing.split("\n")[0]) >= 0
