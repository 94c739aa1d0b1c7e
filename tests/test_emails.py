"""The emails themselves: names and subjects, headers, format=flowed (read back by the
standard library and by mutt), footers per audience, forms, and the ``mailto:``
command links answered through Dovecot.

The browser checks of the HTML are in test_browser.py; both use the realistic
emails of preview.py, rendered through the service's own path.
"""

from __future__ import annotations

import email
import email.policy
import html
import mailbox
import os
import re
import shlex
import subprocess
import textwrap
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import preview
from clients import gmail_reply
from harness import MENTEE, MENTOR, Installation, to_agreement as to_agreement_email
from mailflow.clock import CountingTokens, FixedClock
from mailflow.config import load
from mailflow.enrol import parse_csv
from mailflow.outbox import Recipient
from mailflow.render import Rendered, build_message, flowed
from mailflow.service import Service

import datetime as dt

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def emails() -> list[preview.Email]:
    """Every template, rendered with realistic data (see preview.py)."""
    return preview.render()


def unflow(text: str) -> list[tuple[int, str]]:
    """RFC 3676 section 4 (DelSp=No), written from the RFC as a reference reader: the
    logical lines of a format=flowed text, each with its quote depth."""
    out: list[tuple[int, str]] = []
    para: tuple[int, str] | None = None
    for line in text.replace("\r\n", "\n").removesuffix("\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        line = line[depth:]
        if line.startswith(" "):  # space-stuffing
            line = line[1:]
        soft = line.endswith(" ") and line != "-- "
        if para is not None and para[0] == depth:
            para = (depth, para[1] + line)
        else:
            if para is not None:  # a change of depth ends a paragraph, even a flowed one
                out.append(para)
            para = (depth, line)
        if not soft:
            out.append(para)
            para = None
    if para is not None:
        out.append(para)
    return out


def plain(text: str) -> str:
    """The unflowed text of a depth-0 format=flowed body."""
    lines = unflow(text)
    assert all(depth == 0 for depth, _ in lines)
    return "\n".join(line for _, line in lines)


def visible_text(markup: str) -> str:
    """The text of the HTML's body: blocks apart, inline elements (links, <bdi>) run in."""
    markup = re.sub(r"(?s)^.*?<body[^>]*>", "", markup)
    markup = re.sub(r"</?(?:p|td|tr|table|br|li|ul|h1|h2|div)\b[^>]*>", " ", markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


# --------------------------------------------------------------------------- names and subjects

# name, the CSV's greeting column, and what the email must call them
HARD_NAMES = [
    ("Prof. Dr. med. Hans Müller", "Hans", "Hans"),
    ("Prof. Dr. med. Hans Müller", "", "Prof. Dr. med. Hans Müller"),
    ("Associate Professor Kim", "", "Associate Professor Kim"),
    ("Park Ji-woo", "Dr Park", "Dr Park"),  # family name first
    ("Nguyễn Thị Minh Khai", "", "Nguyễn Thị Minh Khai"),
    ("山田 太郎", "山田さん", "山田さん"),
    ("Madonna", "", "Madonna"),  # one word
    ("Zoë Ó Briain-Nuñez", "", "Zoë Ó Briain-Nuñez"),
    ("Siobhán O'Sullivan", "Siobhán", "Siobhán"),
    ("D’Arcy N’Dour", "", "D’Arcy N’Dour"),
    ("محمد عبد الله", "", "محمد عبد الله"),  # right to left
    ("אברהם בן-דוד", "אברהם", "אברהם"),
    ("Dr. María José García-Márquez de la Fuente y Rodríguez-Villanueva", "",
     "Dr. María José García-Márquez de la Fuente y Rodríguez-Villanueva"),  # folds
]


def service_for(tmp_path: Path, people: str) -> Service:
    config = tmp_path / "mailflow.toml"
    config.write_text(textwrap.dedent("""\
        [scheme]
        name = "Scheme for Clinical Mentoring"
        address = "mentoring@scheme.test"
        coordinators = ["coordinator@scheme.test"]
        consent = "implied"
        [outbox]
        transport = "maildir"
        maildir = "out"
        """), encoding="utf-8")
    service = Service(load(config), clock=FixedClock(NOW), tokens=CountingTokens())
    service.enrol(parse_csv(people))
    return service


def queued(service: Service) -> dict[str, bytes]:
    """The raw emails in the outbox, by template."""
    return {r["template"]: r["raw"] for r in service.store.all("SELECT template, raw FROM outbox ORDER BY id")}


@pytest.mark.parametrize("name,greeting,called", HARD_NAMES)
def test_hard_names_greet_by_the_greeting_column_or_the_whole_name_and_subjects_decode_exactly(
        tmp_path, name, greeting, called):
    people = ("role,name,email,greeting\n"
              "coordinator,Jo Coordinator,coordinator@scheme.test,\n"
              f'mentor,"{name}",mentor@hospital.test,"{greeting}"\n'
              f'mentee,"{name}",mentee@university.test,"{greeting}"\n')
    service = service_for(tmp_path, people)
    service.pair("mentee@university.test", "mentor@hospital.test")
    mails = queued(service)
    expected = {
        "introduction/to-mentor": f"Introducing you to {name}, your possible mentee",
        "introduction/to-mentee": f"We have found you a possible mentor: {name}",
    }
    for template, subject in expected.items():
        raw = mails[template]
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        head = raw.split(b"\r\n\r\n")[0].decode("ascii")  # headers are 7-bit
        raw_subject = email.message_from_bytes(raw, policy=email.policy.compat32)["Subject"]  # still encoded
        assert str(mail["Subject"]) == subject, "the standard library reads it back exactly"
        assert str(make_header(decode_header(raw_subject))) == subject, "and so does its older reader"
        folded = re.search(r"^Subject: .*(?:\r\n[ \t].*)*", head, re.M).group(0)
        assert all(len(line) <= 78 for line in folded.split("\r\n")), folded
        text = plain(mail.get_body(("plain",)).get_content())
        assert text.startswith(f"Dear {called},\n"), text[:80]
        assert f"Dear {called}," in visible_text(mail.get_body(("html",)).get_content())
    service.close()


def test_first_name_is_the_greeting_for_templates_written_before_it():
    assert Recipient("a@b.test", "Prof. Dr. med. Hans Müller", "mentor").first_name == "Prof. Dr. med. Hans Müller"
    assert Recipient("a@b.test", "Prof. Dr. med. Hans Müller", "mentor", 1, " Hans ").first_name == "Hans"
    assert Recipient.of({"email": "a@b.test", "name": "Kim", "role": "mentee", "id": 3,
                         "extra": '{"greeting": "Dr Kim", "department": "Surgery"}'}).greeting == "Dr Kim"


def test_a_right_to_left_name_is_isolated_in_the_html(emails):
    [mail] = [m for m in emails if m.template == "notes/form-incomplete"]
    assert re.search(r"Dear <bdi[^>]*>محمد عبد الله</bdi>,", mail.html), "the comma stays after the name"


# --------------------------------------------------------------------------- format=flowed


PIECES = st.sampled_from(list("abc xyzABC>é ü م.-") + ["From ", "  ", "https://x.test/" + "a" * 80])
LINE = st.lists(PIECES, max_size=120).map(lambda pieces: "".join(pieces).rstrip())


@settings(max_examples=150, deadline=None)
@given(st.lists(LINE | st.just("-- "), max_size=12))
def test_flowed_round_trips_through_the_standard_library(lines):
    text = "\n".join(lines)
    msg = build_message(Rendered("Subject", text, "<p>x</p>"), from_name="S", from_addr="s@scheme.test",
                        to_name="T", to_addr="t@example.test", reply_to="s+x@scheme.test", message_id="m@scheme.test",
                        date=NOW)
    back = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default).get_body(("plain",))
    assert back.get_content_type() == "text/plain" and back.get_param("format") == "flowed"
    assert back.get_param("delsp") in (None, "no")
    sent = back.get_content()
    assert plain(sent).rstrip("\n") == text.rstrip("\n"), "trailing blank lines aside (a MIME body ends with one newline)"
    for line in sent.splitlines():
        assert len(line) <= 73 or " " not in line.strip(), f"a line that could have been wrapped: {line!r}"


def _soft_wrap_word_by_word(line: str, width: int) -> list[str]:
    """The way render._soft_wrap first worked (and must still cut): word by word."""
    if len(line) <= width:
        return [line]
    pieces, current = [], ""
    for word in re.split(r"(?<= )(?=[^ ])", line):  # each word with the spaces after it
        if current and len(current) + len(word.rstrip(" ")) > width:
            pieces.append(current)
            current = ""
        current += word
    pieces.append(current)
    return pieces


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=" ab\tcé", max_size=80) | LINE, st.integers(1, 80))
def test_flowed_cuts_lines_where_the_word_by_word_way_cuts_them(line, width):
    from mailflow.render import _soft_wrap

    assert _soft_wrap(line, width) == _soft_wrap_word_by_word(line, width)


def test_flowed_wraps_after_spaces_and_stuffs_what_a_reader_would_misread():
    text = "word " * 30 + "end\n    ACCEPT   indented\nFrom the start\n>not a quote\n-- \nfooter"
    out = flowed(text)
    first, second = out.split("\n")[:2]
    assert first.endswith(" ") and len(first) <= 73 and not second.startswith(" ")
    assert "\n     ACCEPT   indented\n" in out, "a line starting with a space is stuffed"
    assert "\n From the start\n" in out and "\n >not a quote\n" in out
    assert "\n-- \nfooter" in out, "the signature separator stays as it is"
    assert plain(out) == text


def mutt(tmp_path: Path, mbox: Path, keys: str, settings: str = "") -> None:
    """Run mutt on ``mbox`` in a pseudo-terminal 1000 columns wide, typing ``keys``."""
    home = tmp_path / "mutt-home"
    home.mkdir(exist_ok=True)
    rc = home / "muttrc"
    rc.write_text(textwrap.dedent(f"""\
        set folder={home}
        set spoolfile={mbox}
        set mbox_type=mbox
        set record=""
        set wait_key=no
        set quit=yes
        set pipe_decode=yes
        set reflow_wrap=0
        set alternative_order=text/plain
        """) + settings, encoding="utf-8")
    push = f'push "{keys}"'
    command = f"stty cols 1000 rows 40; mutt -n -F {shlex.quote(str(rc))} -f {shlex.quote(str(mbox))} -e {shlex.quote(push)}"
    subprocess.run(["script", "-qec", command, "/dev/null"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60, check=True,
                   env={**os.environ, "TERM": "xterm", "HOME": str(home)})


def test_mutt_reads_every_email_as_it_was_written(tmp_path, emails):
    """mutt understands format=flowed: piped with pipe_decode, each paragraph is one
    line again, stuffing removed, exactly the text the template made."""
    box = tmp_path / "all.mbox"
    mb = mailbox.mbox(str(box))
    for mail in emails:
        mb.add(mail.raw.replace(b"\r\n", b"\n"))
    mb.close()
    out = tmp_path / "piped"
    out.mkdir()
    # Tag every message, then pipe each (pipe_split) through a command that writes it to its own file.
    script = tmp_path / "save.sh"
    script.write_text(f'#!/bin/sh\nn=$(ls {out} | wc -l)\ncat > {out}/$(printf %03d $n)\n')
    script.chmod(0o755)
    mutt(tmp_path, box, f"<tag-pattern>~A<enter><tag-prefix><pipe-message>{script}<enter><quit>",
         "set pipe_split=yes\nset sort=mailbox-order\n")
    piped = sorted(out.iterdir())
    assert len(piped) == len(emails), "mutt piped every message"
    for mail, path in zip(emails, piped):
        shown = path.read_text(encoding="utf-8").split("\n\n", 1)[1].rstrip("\n")
        assert shown == plain(mail.text), f"{mail.slug}: mutt reads it differently"


def test_a_mutt_reply_keeps_the_quoting_and_is_understood(tmp_path, mf: Installation):
    """mutt quotes a flowed email as flowed ('>' then the paragraph, soft breaks kept);
    the answer typed above that quote, sent back, is understood."""
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    box = tmp_path / "in.mbox"
    mb = mailbox.mbox(str(box))
    mb.add(intro.raw.replace(b"\r\n", b"\n"))
    mb.close()
    draft = tmp_path / "draft.txt"
    mutt(tmp_path, box, "<reply><exit><quit>", textwrap.dedent(f"""\
        set include=yes
        set fast_reply=yes
        set reply_to=yes
        set text_flowed=yes
        set abort_unmodified=yes
        set postpone=no
        set sendmail="/bin/false"
        set editor="cp %s {draft}"
        set from="{MENTOR}"
        set attribution="On %d, %n wrote:"
        """))
    quoted = draft.read_text(encoding="utf-8")
    lines = unflow(quoted)
    assert lines[0][1].startswith("On ") and lines[0][1].endswith("wrote:")
    original = plain(intro.message.get_body(("plain",)).get_content()).split("\n")
    # Each paragraph quoted whole (mutt drops the stuffing space of an indented line, so
    # compare without the indentation).
    assert [line.strip() for depth, line in lines if depth == 1] == [line.strip() for line in original]
    assert any(l.startswith(">") and l.endswith(" ") for l in quoted.splitlines()), "soft breaks kept"

    reply = EmailMessage()
    reply["From"] = f"Ada Byron <{MENTOR}>"
    reply["To"] = intro.message["Reply-To"]
    reply["Subject"] = "Re: " + str(intro.message["Subject"])
    reply["Date"] = format_datetime(NOW)
    reply["Message-ID"] = make_msgid(domain="hospital.test")
    reply["In-Reply-To"] = intro.message["Message-ID"]
    reply.set_content("Accept, with pleasure.\n\n" + quoted, params={"format": "flowed"})
    mf.account.append(reply.as_bytes())
    mf.cli("run-once")
    mf.sink.wait_for(2)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


# --------------------------------------------------------------------------- the mailto: links


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "data-command" in a:
            self.links.setdefault(a["data-command"], a["href"])


def command_links(mail) -> dict[str, str]:
    parser = _Links()
    parser.feed(mail.message.get_body(("html",)).get_content())
    return parser.links


def reply_from_link(href: str, sender: str, signature: str = "\n\n-- \nSent from my phone\n") -> bytes:
    """What a mail client sends when the link is tapped and Send pressed (RFC 6068):
    a new message to the link's address, with its subject and body, and the
    client's signature; no threading headers."""
    to, fields = preview.parse_mailto(href)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = fields["subject"]
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1].strip(">"))
    msg.set_content(fields.get("body", "") + signature)
    return msg.as_bytes()


def introduce(mf: Installation):
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    [intro] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    return intro


@pytest.mark.parametrize("word,state", [("ACCEPT", "getting-to-know"), ("DECLINE", "declined")])
def test_a_command_link_is_a_reply_that_is_understood(mf: Installation, word, state):
    intro = introduce(mf)
    links = command_links(intro)
    assert set(links) == {"ACCEPT", "DECLINE"}
    to, fields = preview.parse_mailto(links[word])
    assert to == intro.message["Reply-To"].addresses[0].addr_spec
    assert fields == {"subject": f"Re: {intro.message['Subject']}", "body": word}
    mf.account.append(reply_from_link(links[word], f"Ada Byron <{MENTOR}>"))
    out = mf.cli("run-once")
    assert "1 processed" in out, out
    assert [p["state"] for p in mf.status()["pairs"]] == [state]


def test_the_agree_link_confirms_the_agreement(mf: Installation):
    form_email = to_agreement_email(mf)
    full = ("Location: Library\nFrequency: Monthly\nDuration: 6 months\nMeeting length: 1 hour\n"
            "Objectives:\n1. Write a protocol\nReview date: 1 March")
    mf.account.append(gmail_reply(form_email, full, f"Sam <{MENTEE}>"))
    mf.cli("run-once")
    [proposed] = [m for m in mf.sink.wait_for(2) if MENTOR in m.rcpt_tos]
    mf.sink.clear()
    links = command_links(proposed)
    assert set(links) == {"AGREE"}
    mf.account.append(reply_from_link(links["AGREE"], f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(3)
    assert [p["state"] for p in mf.status()["pairs"]] == ["active"]


def test_links_in_a_clarification_answer_it(mf: Installation):
    intro = introduce(mf)
    mf.account.append(gmail_reply(intro.raw, "Yes... or actually no", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    mf.sink.clear()
    links = command_links(note)
    assert set(links) >= {"ACCEPT", "DECLINE"}
    assert preview.parse_mailto(links["ACCEPT"])[1]["subject"] == str(note.message["Subject"]), \
        "a note's subject is already a reply's"
    mf.account.append(reply_from_link(links["ACCEPT"], f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


# --------------------------------------------------------------------------- headers


def test_list_id_on_every_email_and_list_unsubscribe_for_participants(emails):
    for mail in emails:
        msg = mail.message
        assert msg["List-Id"] == "Northern Clinical Mentoring Scheme <mentoring.university-hospital.example>"
        unsubscribe = msg["List-Unsubscribe"]
        if mail.audience in ("mentor", "mentee"):
            url = re.fullmatch(r"<(mailto:[^>]+)>", str(unsubscribe)).group(1)
            assert preview.parse_mailto(url) == (mail.reply_to, {"subject": "STOP", "body": "STOP"}), mail.slug
            assert f"List-Unsubscribe: <{url}>\r\n".encode() in mail.raw, "written whole, not folded or encoded"
        else:
            assert unsubscribe is None, f"{mail.slug} ({mail.audience}) has nothing to unsubscribe from"


# --------------------------------------------------------------------------- footers, forms, wording


def test_each_footer_is_for_its_reader_and_true(emails):
    seen = set()
    for mail in emails:
        text = plain(mail.text)
        body_text, footer = text.split("\n-- \n")
        if "feedback" in footer.lower():
            assert "FEEDBACK" in text, "a footer that mentions feedback names the FEEDBACK command"
        if mail.audience in ("mentor", "mentee"):
            assert "What the coordinators see: your name and email address, and the dates and status" in footer
            assert "never what you write" in footer and "To reach a person: write to" in footer
            if mail.expects:
                assert footer.startswith("How to answer: reply to this email"), mail.slug
            else:
                assert footer.startswith("No reply needed"), mail.slug
                assert "How to answer" not in footer
        elif mail.audience == "coordinator":
            assert footer.startswith("For the coordinators of Northern Clinical Mentoring Scheme"), mail.slug
            if mail.expects:  # the summary and the answers to their commands: they act by reply
                assert "How to act: reply with one command per line" in footer, mail.slug
            else:
                assert "No reply needed" in footer and "mailflow status" in footer
        else:
            assert footer.startswith("This address is run by a computer"), mail.slug
            assert "To reach a person: write to" in footer
        if not mail.expects:
            assert not command_links(mail), f"{mail.slug} takes no reply but links a command"
            assert not re.search(r"reply to this email (with|and)", body_text, re.I), mail.slug
        seen.add((mail.audience, bool(mail.expects)))
    assert {("mentor", True), ("mentee", True), ("mentor", False), ("mentee", False), ("coordinator", False), ("coordinator", True),
            ("stranger", False)} <= seen


HELP = ("where or how you will meet", "how often you will meet", "how long the mentoring will last",
        "up to three SMART objectives", "when you will review how it is going")


def test_an_echoed_form_has_each_answer_by_its_label_and_no_help(emails):
    [agreed] = [m for m in emails if m.template == "agreement/agreed"]
    text = plain(agreed.text)
    assert "\nLocation: Video call (Teams), or the hospital library on Thursdays when I am on site\n" in text
    assert ("\nObjectives:\n1. Submit my first grant application by June\n"
            "2. Present at the regional pharmacy meeting in the autumn\n") in text
    assert "\nReview date: Wednesday 3 June 2026\n" in text
    assert not any(h in text for h in HELP), "help lines belong to the blank form"
    assert re.search(r'<strong class="label"[^>]*>Location:</strong> Video call', agreed.html)
    # ...and the blank form has every help line, set apart from the labels.
    [blank] = [m for m in emails if m.template == "agreement/start-mentee"]
    assert all(f"({h}" in plain(blank.text) for h in HELP)
    assert re.search(r'<p class="help"[^>]*>\(where or how you will meet', blank.html)


def test_the_confirmation_speaks_to_its_reader(emails):
    [agreed] = [m for m in emails if m.template == "agreement/agreed"]
    text = plain(agreed.text)
    assert text.startswith("Dear Zoë,\n\nYou and Associate Professor Kim Min-jun have both confirmed version 1")
    assert "Zoë O'Connor" not in text, "the mentee is not named in the third person"


def test_commands_stand_out_in_the_html_and_read_the_same_in_the_text(emails):
    [intro] = [m for m in emails if m.template == "introduction/to-mentor"]
    assert "\n    ACCEPT   if you are happy to mentor Siobhán Ní Bhriain\n" in plain(intro.text)
    assert re.search(r'<a class="command-link"[^>]*data-command="ACCEPT"[^>]*>ACCEPT</a>', intro.html)
    assert "if you are happy to mentor Siobhán Ní Bhriain" in visible_text(intro.html)
