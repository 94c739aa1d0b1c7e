"""mailflow.parse.mime: bytes in, text and a Mail out, whatever the bytes."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from mailflow.parse import mime
from mailflow.parse.mime import attachments, body_text, header, html_to_text, load, read_mail, unflow

DATA = Path(__file__).resolve().parent / "data" / "mime"


def message(body: bytes, *, charset: str | None = "utf-8", ctype: str = "text/plain", cte: str = "8bit",
            headers: str = "", eol: bytes = b"\r\n") -> bytes:
    """A single-part message around ``body`` (already encoded as ``cte`` says)."""
    ct = ctype + (f"; charset={charset}" if charset is not None else "")
    head = (
        "From: Ann Lee <ann@example.org>\n"
        "To: scheme@example.org\n"
        "Subject: Re: Your first meeting\n"
        "Message-ID: <reply-1@example.org>\n"
        "Date: Tue, 03 Mar 2026 10:15:00 +0000\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        f"Content-Type: {ct}\n"
        f"Content-Transfer-Encoding: {cte}\n"
    )
    return head.replace("\n", "\r\n").encode("utf-8").replace(b"\r\n", eol) + eol + body


# --------------------------------------------------------------------------- charsets

CHARSET_CASES = [
    ("utf-8", "utf-8", "Grüße, café — naïve 😀"),
    ("iso-8859-1", "latin-1", "Café déjà vu, señor"),
    ("iso-8859-1", "cp1252", "“Smart quotes” – and € in a ‘latin-1’ mail"),  # a lying declaration
    ("windows-1252", "cp1252", "“Yes” – I’ll be there"),
    ("iso-8859-2", "iso-8859-2", "Zażółć gęślą jaźń"),
    ("iso-8859-7", "iso-8859-7", "Καλημέρα σας"),
    ("iso-8859-8-i", "iso-8859-8", "שלום לכולם"),  # a name Python does not know
    ("koi8-r", "koi8-r", "Привет, мир"),
    ("windows-1251", "cp1251", "Привет, мир"),
    ("gb2312", "gb2312", "你好，世界"),
    ("gb2312", "gbk", "朱镕基"),  # GBK characters in a "gb2312" mail
    ("gbk", "gbk", "你好，世界"),
    ("gb18030", "gb18030", "你好，世界"),
    ("big5", "big5", "妳好，世界"),
    ("shift_jis", "shift_jis", "こんにちは世界"),
    ("shift_jis", "cp932", "①番目の会議"),  # Windows extensions in a "shift_jis" mail
    ("euc-jp", "euc-jp", "こんにちは世界"),
    ("iso-2022-jp", "iso-2022-jp", "こんにちは世界"),
    ("euc-kr", "euc-kr", "안녕하세요"),
    ("ks_c_5601-1987", "cp949", "안녕하세요"),
]


@pytest.mark.parametrize("declared,codec,text", CHARSET_CASES, ids=[f"{c[0]}-{c[1]}" for c in CHARSET_CASES])
def test_body_charsets(declared, codec, text):
    raw = message(base64.encodebytes(text.encode(codec)), charset=declared, cte="base64")
    mail = read_mail(raw)
    assert mail.body_text == text
    assert mail.new_text == text
    assert not [d for d in mail.defects if "charset" in d or "decoded" in d]


def test_utf16_with_bom():
    text = "Yes, I accept. Ünïcödé"
    raw = message(base64.encodebytes(text.encode("utf-16")), charset="utf-16", cte="base64")
    assert body_text(load(raw)) == text


def test_unknown_charset_in_body_falls_back_to_utf8_and_says_so():
    raw = message("Oui, j’accepte — à bientôt".encode("utf-8"), charset="x-bogus")
    mail = read_mail(raw)
    assert mail.body_text == "Oui, j’accepte — à bientôt"
    assert any("unknown charset 'x-bogus' in body" in d for d in mail.defects)


def test_unknown_charset_with_non_utf8_bytes_survives():
    raw = message("Café crème, déjà".encode("latin-1"), charset="x-bogus")
    mail = read_mail(raw)
    assert mail.body_text.startswith("Caf")
    assert "cr" in mail.body_text and "d" in mail.body_text
    assert any("x-bogus" in d for d in mail.defects)


def test_lying_utf8_declaration():
    raw = message("Réunion à 10h, c'est noté".encode("latin-1"), charset="utf-8")
    mail = read_mail(raw)
    assert "Réunion à 10h" in mail.body_text or "R\ufffdunion" in mail.body_text
    assert mail.defects


def test_mostly_utf8_with_a_broken_byte_keeps_utf8():
    body = "Grüße aus Köln, schöne Grüße und viele Grüße ".encode("utf-8") * 5 + b"\xff end"
    mail = read_mail(message(body, charset="utf-8"))
    assert mail.body_text.startswith("Grüße aus Köln")
    assert "\ufffd end" in mail.body_text
    assert any("with replacements" in d for d in mail.defects)


def test_no_charset_declared_8bit_utf8():
    assert body_text(load(message("Ja, gerne – bis Dienstag".encode(), charset=None))) == "Ja, gerne – bis Dienstag"


def test_charset_that_is_not_a_text_encoding():
    raw = message(b"hello there", charset="base64")
    assert body_text(load(raw)) == "hello there"


def test_html_meta_charset_used_when_header_has_none():
    html = '<html><head><meta charset="windows-1251"></head><body><p>Привет</p></body></html>'
    raw = message(html.encode("cp1251"), charset=None, ctype="text/html")
    assert body_text(load(raw)) == "Привет"


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=?utf-8?B?UmU6IFLDqXVuaW9u?=", "Re: Réunion"),
        ("=?UTF-8?Q?Re:_R=C3=A9union_=C3=A0_10h?=", "Re: Réunion à 10h"),
        ("=?iso-8859-1?q?caf=E9?= et =?iso-8859-1?q?cr=E8me?=", "café et crème"),
        ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=", "café"),  # a character split across two words
        ("=?utf-8?b?5L2g5aW9?=\r\n =?utf-8?b?5LiW55WM?=", "你好世界"),  # folded; space between words dropped
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
        ("=?x-bogus?Q?caf=C3=A9?=", "café"),  # unknown charset, valid UTF-8 inside
        ("=?utf-8?B?bad base64!!?=", None),  # broken: must not raise
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_rfc2047_subjects(value, expected):
    raw = f"Subject: {value}\r\nFrom: a@example.org\r\n\r\nbody".encode("utf-8")
    got = header(load(raw), "Subject")
    if expected is not None:
        assert got == expected
    assert "\r" not in got and "\n" not in got


def test_unknown_charset_in_subject_is_reported():
    raw = b"Subject: =?x-bogus?Q?caf=E9_cr=E8me?=\r\nFrom: a@example.org\r\n\r\nhello"
    mail = read_mail(raw)
    assert mail.subject.startswith("caf") and "cr" in mail.subject
    assert any("x-bogus" in d and "Subject" in d for d in mail.defects)


def test_raw_utf8_and_latin1_headers():
    raw = "Subject: Grüße aus Köln\r\nFrom: a@example.org\r\n\r\nhi".encode("utf-8")
    assert header(load(raw), "Subject") == "Grüße aus Köln"
    raw = "Subject: Grüße aus Köln\r\nFrom: a@example.org\r\n\r\nhi".encode("latin-1")
    assert header(load(raw), "Subject").startswith("Gr")


def test_header_strips_nul_and_is_empty_when_absent():
    msg = load(b"Subject: a\x00b\r\nFrom: a@example.org\r\n\r\nhi")
    assert header(msg, "Subject") == "ab"
    assert header(msg, "X-Nothing") == ""


def test_read_mail_fields():
    raw = (
        b"From: =?utf-8?Q?Lee=2C_Ann?= <Ann.Lee@Example.ORG>\r\n"
        b"To: Scheme <Scheme@Example.org>, bob@example.org\r\n"
        b"Cc: BOB@example.org, carol@example.org\r\n"
        b"Delivered-To: scheme@example.org\r\n"
        b"X-Original-To: intake+42@example.org\r\n"
        b"Subject: Re: Intro\r\n"
        b"Date: Tue, 3 Mar 2026 10:15:00 +0100\r\n"
        b"Message-ID:  <abc.123@mail.example.org>\r\n"
        b"In-Reply-To: <sent-1@example.org>\r\n"
        b"References: <root@example.org>\r\n <sent-1@example.org>\r\n"
        b"\r\n"
        b"Yes, I accept.\r\n\r\nOn Mon, 2 Mar 2026 at 09:00, Scheme <scheme@example.org> wrote:\r\n> Reply ACCEPT\r\n"
    )
    mail = read_mail(raw)
    assert mail.message_id == "abc.123@mail.example.org"
    assert mail.from_addr == "ann.lee@example.org"
    assert mail.from_name == "Lee, Ann"
    assert mail.to_addrs == (
        "scheme@example.org", "bob@example.org", "carol@example.org", "intake+42@example.org")
    assert mail.subject == "Re: Intro"
    assert mail.date == dt.datetime(2026, 3, 3, 9, 15, tzinfo=dt.timezone.utc)
    assert mail.date.tzinfo is not None
    assert mail.in_reply_to == ("sent-1@example.org",)
    assert mail.references == ("root@example.org", "sent-1@example.org")
    assert mail.new_text == "Yes, I accept."
    assert mail.machine is None
    assert mail.attachments == ()


def test_no_message_id_no_date():
    raw = b"From: ann@example.org\r\nSubject: hi\r\n\r\nYes"
    mail = read_mail(raw)
    assert mail.message_id == "" and mail.date is None and mail.in_reply_to == () and mail.references == ()
    assert mail.new_text == "Yes"


@pytest.mark.parametrize("value,expected", [
    ("Tue, 3 Mar 2026 10:15:00 -0000", dt.datetime(2026, 3, 3, 10, 15, tzinfo=dt.timezone.utc)),
    ("3 Mar 2026 10:15 GMT", dt.datetime(2026, 3, 3, 10, 15, tzinfo=dt.timezone.utc)),
    ("not a date", None),
    ("Tue, 99 Foo 2026 99:99:99 +9999", None),
])
def test_dates(value, expected):
    mail = read_mail(f"From: a@example.org\r\nDate: {value}\r\n\r\nx".encode())
    assert mail.date == expected


def test_unparseable_from():
    mail = read_mail(b"From: just a name\r\n\r\nhello")
    assert mail.from_addr == ""
    assert mail.from_name == "just a name"


# --------------------------------------------------------------------------- transfer encodings


def test_bad_base64_does_not_raise():
    raw = message(b"!!!this is *not* base64***\r\nYWJj====\r\n", cte="base64")
    mail = read_mail(raw)
    assert isinstance(mail.body_text, str)
    assert any("base64" in d for d in mail.defects)


def test_bad_quoted_printable_does_not_raise():
    raw = message(b"Caf=C3=A9 =ZZ and a soft=\r\nbreak, a lone = sign=", cte="quoted-printable")
    text = body_text(load(raw))
    assert text.startswith("Café =ZZ and a softbreak")


def test_unknown_transfer_encoding_is_read_as_is():
    raw = message(b"Yes please", cte="x-weird")
    assert body_text(load(raw)) == "Yes please"


# --------------------------------------------------------------------------- line endings, NULs


def test_nul_bytes_are_stripped():
    raw = message(b"Yes\x00 please\x00", charset="utf-8")
    mail = read_mail(raw)
    assert mail.body_text == "Yes please"
    assert "\x00" not in mail.new_text


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_are_normalised(eol):
    raw = message(b"Yes" + eol + eol + b"Ann", eol=eol)
    mail = read_mail(raw)
    if eol != b"\r":  # a CR-only message has no header/body boundary the parser can see
        assert mail.body_text == "Yes\n\nAnn"
    assert "\r" not in mail.body_text


def test_format_flowed_is_unwrapped():
    body = b"This is a long \r\nline that wraps.\r\n> quoted and \r\n> wrapped\r\n-- \r\nAnn\r\n"
    raw = message(body, charset="utf-8; format=flowed")
    assert body_text(load(raw)) == "This is a long line that wraps.\n> quoted and wrapped\n-- \nAnn\n"
    assert unflow(" >not a quote", False) == ">not a quote"


# --------------------------------------------------------------------------- HTML


def _html_mail(name: str) -> bytes:
    html = (DATA / name).read_bytes()
    charset = "iso-8859-1" if name.startswith("owa") else "utf-8"
    return message(base64.encodebytes(html), charset=charset, ctype="text/html", cte="base64")


def test_outlook_html_from_sent_block():
    mail = read_mail(_html_mail("outlook_reply.html"))
    assert "________________________________\n\nFrom: Mentoring Scheme <scheme@example.org>\nSent:" in mail.body_text
    assert mail.new_text == "Accept\nReview date: Tuesday 3 March\n\nThanks,\nPriya"
    assert (mail.body, mail.closing, mail.signature) == ("Accept\nReview date: Tuesday 3 March", "Thanks,\nPriya", "")


def test_outlook_web_html_div_rply_fwd_msg():
    mail = read_mail(_html_mail("owa_reply.html"))
    assert mail.new_text == "Decline, sorry – I'm away that week."
    assert "From: Mentoring Scheme" in mail.body_text


def test_gmail_html_quote_kept_as_quoted_lines():
    mail = read_mail(_html_mail("gmail_reply.html"))
    assert "> Reply ACCEPT or DECLINE. See the guide." in mail.body_text
    assert "**" not in mail.body_text and "](" not in mail.body_text  # no Markdown
    assert mail.new_text == "Yes, happy to.\n\nLocation: the library"


def test_apple_mail_blockquote_type_cite():
    mail = read_mail(_html_mail("apple_reply.html"))
    assert "> On 2 Mar 2026, at 09:15, Mentoring Scheme <scheme@example.org> wrote:" in mail.body_text
    assert ">> older quote" in mail.body_text
    assert mail.new_text == "Accept 👍"


def test_html_entities_images_links():
    html = ('<p>Caf&eacute; &amp; cr&egrave;me<img src="x.png" alt="logo"> '
            '<a href="https://example.org/x">the guide</a> <a href="mailto:a@example.org">a@example.org</a></p>'
            '<p>1. first<br>- second</p><hr><p>after</p>')
    text = html_to_text(html)
    assert text.startswith("Café & crème the guide a@example.org")
    assert "logo" not in text and "x.png" not in text and "https://" not in text
    assert "1. first\n- second" in text  # no Markdown escaping
    assert "\n" + "-" * 32 + "\n" in text


def test_yahoo_and_gmx_quote_containers_become_quotes():
    html = ('<div>Yes</div><div class="yahoo_quoted"><div>On Monday, 2 March 2026, 09:15, Scheme '
            '&lt;scheme@example.org&gt; wrote:</div><div>Reply ACCEPT</div></div>')
    assert html_to_text(html).splitlines()[-1] == "> Reply ACCEPT"
    html = '<div>Ja</div><div name="quote"><div><b>Gesendet:</b> Montag</div><div>Hallo</div></div>'
    assert "> Hallo" in html_to_text(html)


def test_history_blockquotes_are_quotes_the_authors_are_not():
    html = ('<div>Here is what the guide says:</div>'
            '<blockquote style="margin:0 0 0 40px;border:none;padding:0px"><div>Meet monthly.</div></blockquote>'
            '<div>So monthly it is.</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, 2 Mar 2026 at '
            '09:15, Scheme &lt;scheme@example.org&gt; wrote:<br></div><blockquote class="gmail_quote" '
            'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
            '<div>How often will you meet?</div></blockquote></div>')
    text = html_to_text(html)
    assert "\nMeet monthly.\n" in text and "> Meet monthly." not in text
    assert "> How often will you meet?" in text
    mail = read_mail(message(html.encode(), ctype="text/html"))
    assert mail.body == "Here is what the guide says:\n\nMeet monthly.\n\nSo monthly it is."


def test_headings_and_lists_are_plain_text():
    text = html_to_text("<h2>My objectives</h2><ol><li>Build confidence</li><li>Learn Python</li></ol>"
                        "<ul><li>one<ul><li>nested</li></ul></li></ul><pre>  keep\n   this</pre>")
    assert text == "My objectives\n\n1. Build confidence\n2. Learn Python\n\n- one\n  - nested\n\n  keep\n   this"


def test_deeply_nested_html_is_cut_not_slow():
    from mailflow.parse import htmltext

    # An HTML5 parser's work grows with the square of the depth: 20,000 levels would
    # take seconds. They are cut at MAX_DEPTH (speed itself is in the benchmark).
    html = "<div>Accept</div>" + "<blockquote type=cite><div>older</div>" * 20_000
    text = html_to_text(html)
    assert text.startswith("Accept\n")
    assert max(len(line) - len(line.lstrip(">")) for line in text.splitlines()) <= htmltext.MAX_DEPTH
    many = "<p>Accept</p>" + "<p>old line</p>" * 30_000
    assert html_to_text(many).count("old line") < htmltext.MAX_NODES


def test_broken_html_does_not_raise():
    for html in ["<div><p><blockquote>", "<<<>>>", "</div></div></blockquote>", "<hr" * 1000, "&#xFFFFFFFF; &#0;"]:
        assert isinstance(html_to_text(html), str)


# --------------------------------------------------------------------------- multipart


def multipart(*parts: bytes, subtype: str = "mixed", boundary: str = "b1") -> bytes:
    out = [f"Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n".encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def part(body: bytes, ctype: str = "text/plain; charset=utf-8", extra: str = "", cte: str = "8bit") -> bytes:
    return f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n{extra}\r\n".encode() + body


HEAD = b"From: ann@example.org\r\nTo: scheme@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n"


def test_alternative_prefers_plain():
    raw = HEAD + multipart(
        part(b"Plain version: yes"), part(b"<p>HTML version: <b>yes</b></p>", "text/html; charset=utf-8"),
        subtype="alternative")
    mail = read_mail(raw)
    assert mail.body_text == "Plain version: yes"
    assert mail.attachments == ()


def test_alternative_with_empty_plain_uses_html():
    raw = HEAD + multipart(part(b"  \r\n"), part(b"<p>Only in <b>HTML</b></p>", "text/html"), subtype="alternative")
    assert body_text(load(raw)) == "Only in HTML"


def test_html_body_before_a_plain_footer_part():
    # a list server appended a plain footer to an HTML-only message
    raw = HEAD + multipart(part(b"<p>Accept</p>", "text/html"), part(b"-- \r\nlist footer"))
    assert body_text(load(raw)) == "Accept"


def test_csv_attachment_and_inline_image():
    csv = "name,email\r\nZoë,zoe@example.org\r\n".encode("utf-8")
    raw = HEAD + multipart(
        multipart(part(b"Here is the list."), part(b"<p>Here is the list.</p>", "text/html"),
                  subtype="alternative", boundary="b2"),
        part(base64.encodebytes(csv), "text/csv; charset=utf-8",
             "Content-Disposition: attachment; filename*=utf-8''mentees%20l%C3%A4nder.csv\r\n", cte="base64"),
        part(base64.encodebytes(b"\x89PNG\r\n\x1a\n"), 'image/png; name="logo.png"', cte="base64"),
        part(b"a,b\r\n1,2\r\n", "text/csv", 'Content-Disposition: inline; filename="inline.csv"\r\n'),
    )
    mail = read_mail(raw)
    assert mail.body_text == "Here is the list."
    names = [a.filename for a in mail.attachments]
    assert names == ["mentees länder.csv", "logo.png", "inline.csv"]
    csv_att = mail.attachments[0]
    assert csv_att.content_type == "text/csv"
    assert csv_att.data == csv
    assert mail.attachments[1].data == b"\x89PNG\r\n\x1a\n"
    assert attachments(load(raw)) == mail.attachments


def test_rfc2047_filename_and_attached_message():
    inner = b"From: x@example.org\r\nSubject: inner\r\n\r\nforwarded body\r\n"
    raw = HEAD + multipart(
        part(b"See attached."),
        part(b"%PDF-1.4", "application/pdf", 'Content-Disposition: attachment; filename="=?utf-8?Q?R=C3=A9sum=C3=A9.pdf?="\r\n'),
        part(inner, "message/rfc822", "Content-Disposition: attachment\r\n", cte="7bit"),
    )
    mail = read_mail(raw)
    assert mail.body_text == "See attached."
    assert [a.filename for a in mail.attachments] == ["Résumé.pdf", ""]
    assert mail.attachments[0].data == b"%PDF-1.4"
    assert mail.attachments[1].content_type == "message/rfc822"
    assert b"forwarded body" in mail.attachments[1].data


def test_text_attachment_is_not_the_body():
    raw = HEAD + multipart(part(b"notes", "text/plain", 'Content-Disposition: attachment; filename="n.txt"\r\n'),
                           part(b"<p>The reply</p>", "text/html"))
    mail = read_mail(raw)
    assert mail.body_text == "The reply"
    assert [a.filename for a in mail.attachments] == ["n.txt"]


def test_deeply_nested_multipart_does_not_raise():
    body = part(b"deep down")
    for level in range(100):
        body = multipart(body, boundary=f"lvl{level}")
    mail = read_mail(HEAD + body)
    assert isinstance(mail, mime.Mail)
    assert any("nesting" in d for d in mail.defects)
    body = part(b"found me")
    for level in range(30):
        body = multipart(body, boundary=f"lvl{level}")
    assert read_mail(HEAD + body).body_text == "found me"


def test_too_many_parts_is_capped():
    raw = HEAD + multipart(*[part(b"x", "application/octet-stream", f'Content-Disposition: attachment; filename="{i}.bin"\r\n')
                             for i in range(250)])
    mail = read_mail(raw)
    assert len(mail.attachments) < 200
    assert any("more than 200 MIME parts" in d for d in mail.defects)


def test_broken_multipart_without_boundary_reads_the_text():
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\nYes please\r\n"
    mail = read_mail(raw)
    assert "Yes please" in mail.body_text


@pytest.mark.parametrize("raw", [
    b"", b"\x00" * 50, b"\xff\xfe\xfd", b"From:\r\n\r\n", b"Content-Type: text/html\r\n\r\n<",
    b"Content-Type: multipart/alternative\r\n\r\n--\r\n--\r\n", b"\r\n\r\n\r\n", b"Subject: =?=?=?\r\n\r\n?=",
    b"Content-Type: text/plain; charset=\"\r\n\r\nx", b"Content-Type: ;;;\r\nContent-Disposition: ;\r\n\r\nx",
])
def test_garbage_never_raises(raw):
    mail = read_mail(raw)
    assert isinstance(mail.body_text, str)
    assert isinstance(load(raw), mime.Message)
    assert isinstance(attachments(load(raw)), tuple)


def test_corpus_eml_fixtures_read():
    corpus = Path(__file__).resolve().parents[3] / "shared/corpus/replies/fiedl-extended_email_reply_parser"
    if not corpus.is_dir():
        pytest.fail(f"reply corpus not found at {corpus} (it sits beside the repository in CI)")
    mail = read_mail((corpus / "email_de_8.eml").read_bytes())
    assert mail.subject == "Re: Antwort: Meine Aktivitätszahlen stimmen nicht."
    assert mail.from_addr == "e_58@yahoo.de"
    assert mail.message_id == "807903446.1223875.1491931055593@mail.yahoo.com"
    assert mail.new_text.startswith("Guten Abend,")
    assert "Von:" not in mail.new_text
