"""fuzz: generated messages (hypothesis) through the service, one after another.

Each message is stored, then processed until it has a final status: it must end
``processed``, ``ignored`` or ``quarantined``; no exception may escape the loop
(receiving, processing, sending); no message may take over 2 s. The messages mix
what a hostile or broken world sends: every kind of From (participants, strangers,
ambiguous shapes, non-ASCII addresses), real and forged reply tokens, encoded words
with control characters, lying charsets, broken transfer encodings, deep or truncated
MIME, HTML, bare CR or LF line ends, NUL bytes, and plain garbage.

CI: ``--fuzz-messages 1000``. The long run: ``scripts/stress fuzz`` (10,000).
"""

from __future__ import annotations

import base64
import collections
import itertools
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import MENTEE, MENTOR, make_service
from mailflow.enrol import parse_csv

from figures import report

WORDS = ["Accept", "accept", "DECLINE", "yes", "no", "happy to", "can't", "AGREE", "Location: the cafe",
         "Frequency: monthly", "Review date: next Tuesday", "Objectives:\n1. learn\n2. grow", "> quoted",
         "On Mon, 2 Mar 2026 at 09:00, Scheme <s@x> wrote:", "-- \nsig", "Sent from my iPhone", "\u2028", "\x00",
         "=?utf-8?q?a=0D=0ABcc:_x@evil?=", "\r\nBcc: x@evil", "ünïcödé", "中文", "\ufeff", "&nbsp;<b>bold</b>"]
FROMS = [f"Ada <{MENTOR}>", f"Sam <{MENTEE}>", MENTOR, "stranger@example.org", "Jörg <joerg@müller.example>",
         "jörg@example.org", f"{MENTOR} <mallory@evil.example>", f'"{MENTOR}" <mallory@evil.example>',
         f"{MENTOR}, mallory@evil.example", "", "<>", "MAILER-DAEMON@mx.example", "coordinator@scheme.test",
         "=?utf-8?q?Eve=0D=0ABcc:_x@evil?= <eve@example.org>", "scheme@scheme.test", "@@@", "a" * 300 + "@x.org"]
CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "windows-1252", "x-bogus", "utf-16", "", "utf-7", "koi8-r"]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""]

SERIAL = itertools.count(1000)
text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=40)), max_size=8).map("\n".join)


@st.composite
def part(draw, depth: int = 0) -> bytes:
    kind = draw(st.sampled_from(["plain", "html", "multipart", "binary"] if depth < 4 else ["plain", "html"]))
    if kind == "multipart":
        boundary = draw(st.sampled_from(["b1", "=_x", "", "a" * 80]))
        children = draw(st.lists(part(depth + 1), min_size=0, max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + c + b"\r\n" for c in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\r\n"  # else: truncated
        sub = draw(st.sampled_from(["mixed", "alternative", "report; report-type=delivery-status", "related"]))
        return f"Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\n".encode() + body
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    content = draw(text)
    if kind == "html":
        content = f"<html><body><div>{content}</div><blockquote>old</blockquote></body></html>"
    try:
        data = content.encode(charset or "utf-8", "replace")
    except LookupError:
        data = content.encode("utf-8", "surrogateescape")
    if kind == "binary":
        data = draw(st.binary(max_size=200))
    if cte == "base64" and draw(st.booleans()):
        data = base64.encodebytes(data)
    ctype = {"plain": "text/plain", "html": "text/html", "binary": "application/octet-stream"}[kind]
    head = f"Content-Type: {ctype}; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode()
    return head + data


@st.composite
def message(draw, tokens: list[str], message_ids: list[str], recent: list[tuple[str, str]]) -> bytes:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.binary(max_size=500))  # not an email at all
    if draw(st.integers(0, 1)) == 0:  # a participant answering one of our latest emails, however oddly
        token, owner = recent[-1 - draw(st.integers(0, 3)) % len(recent)]
        sender = draw(st.sampled_from([f"Them <{owner}>", owner, f"Sam <{MENTEE}>"]))
        to = f"scheme+{token}@scheme.test"
    else:
        sender = draw(st.sampled_from(FROMS))
        to = draw(st.sampled_from([f"scheme+{t}@scheme.test" for t in tokens] +
                                  ["scheme@scheme.test", "scheme+zzzzzzzzzzzz@scheme.test", "", "x@y"]))
    headers = [f"From: {sender}", f"To: {to}",
               f"Subject: {draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=60)))}",
               # Mostly new; now and then a copy of an earlier message (a duplicate).
               f"Message-ID: <{draw(st.integers(0, 50)) if draw(st.integers(0, 9)) == 0 else next(SERIAL)}"
               "@fuzz.example>"]
    if draw(st.booleans()):
        headers.append(f"In-Reply-To: <{draw(st.sampled_from(message_ids + ['nope@x']))}>")
    for extra in [] if draw(st.integers(0, 2)) else draw(st.lists(st.sampled_from([
            "Auto-Submitted: auto-replied", "Precedence: bulk", "X-Autoreply: yes", "Return-Path: <>",
            "Date: Mon, 2 Mar 2026 09:00:00 +0000", "Date: yesterday", "From: second@evil.example",
            "Authentication-Results: mx.scheme.test; dmarc=fail header.from=hospital.test",
            "Content-Type: text/plain; charset=\"utf-8", "MIME-Version: 1.0"]), max_size=4)):
        headers.append(extra)
    head = "\r\n".join(h.replace("\r", "").replace("\n", " ") for h in headers).encode("utf-8", "surrogateescape")
    if to.startswith("scheme+") and draw(st.integers(0, 2)) > 0:  # a plain answer, on top of anything
        answer = draw(st.sampled_from(["Accept", "Yes, happy to!", "DECLINE - sorry", "**accept**", "ok",
                                       "Location: the cafe\nFrequency: monthly\nReview date: 1 June 2026",
                                       "AGREE", "yes no"]))
        raw = head + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + (
            answer + "\n\n" + draw(text)).encode("utf-8", "surrogateescape")
    else:
        raw = head + b"\r\n" + draw(part())
    ending = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return raw.replace(b"\r\n", ending)


def test_fuzz(tmp_path, smtp_sink, request):
    n = request.config.getoption("--fuzz-messages")
    service = make_service(tmp_path, smtp_sink, extra='[imap]\ntrusted_authserv_id = "mx.scheme.test"\n')
    service.pair(MENTEE, MENTOR)
    tokens = [r["token"] for r in service.store.all("SELECT token FROM tokens")]
    message_ids = [r["message_id"] for r in service.store.all("SELECT message_id FROM outbox")]
    recent: list[tuple[str, str]] = []  # (token, its participant's address), newest last

    def new_pair() -> None:  # a fresh pair now and then, so that replies can still act
        k = len(recent)
        service.enrol(parse_csv(f"role,name,email\nmentor,Mentor {k},mentor{k}@fuzz.test\n"
                                f"mentee,Mentee {k},mentee{k}@fuzz.test\n"))
        service.pair(f"mentee{k}@fuzz.test", f"mentor{k}@fuzz.test")
        recent.extend((r["token"], r["email"]) for r in service.store.all(
            "SELECT t.token, p.email FROM tokens t JOIN participants p ON p.id = t.participant_id "
            "WHERE p.email IN (?, ?) ORDER BY t.rowid", (f"mentor{k}@fuzz.test", f"mentee{k}@fuzz.test")))

    new_pair()
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = [0.0]
    count = [0]

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(message(tokens, message_ids, recent))
    def one(raw: bytes) -> None:
        count[0] += 1
        inbound_id = service.receive(raw, source="fuzz")
        for _ in range(4):
            started = time.monotonic()
            status = service.process(inbound_id)
            took = time.monotonic() - started
            slowest[0] = max(slowest[0], took)
            assert took < 2, f"inbound #{inbound_id} took {took:.2f} s"
            if status != "failed":
                break
        assert status in ("processed", "ignored", "quarantined"), status
        outcomes[status] += 1
        if count[0] % 20 == 0:
            new_pair()
        if count[0] % 100 == 0:
            service.deliver()
            service.clock.advance(hours=6)

    one()
    service.deliver()
    stuck = service.store.scalar("SELECT count(*) FROM inbound WHERE status NOT IN ('processed', 'ignored', "
                                 "'quarantined')")
    reasons = service.store.all("SELECT substr(reason, 1, 26) AS why, count(*) AS n FROM inbound "
                                "GROUP BY why ORDER BY n DESC LIMIT 8")
    report(request, f"fuzz: {count[0]} generated messages; outcomes {dict(outcomes)}; "
                    f"slowest {slowest[0] * 1000:.0f} ms; sent {len(smtp_sink.messages)} emails; top reasons: "
                    + "; ".join(f"{r['why']} ({r['n']})" for r in reasons))
    assert count[0] >= n and stuck == 0
