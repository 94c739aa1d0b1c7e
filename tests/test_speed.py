"""Issue 12's machinery, by behaviour: the fast email builder says exactly what the
email package would; batches of messages and timers keep one bad one apart; bulk
pairing is all or nothing; status for everyone is counts and what needs attention;
IDLE does not miss mail announced while a cycle was busy. (Speed itself is measured
in benchmarks/, never asserted here.)"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import MENTEE, MENTOR, make_service
from mailflow.fastmime import _header_names, build_bytes
from mailflow.render import Rendered, build_message

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
TOKEN = "abcdefghijklmnopqrstuvwx"


def _both(**kw):
    kw = {"rendered": Rendered("Subject", "Dear Ada,\n\nHello\n", "<p>Hello</p>"), "from_name": "Test Scheme",
          "from_addr": "scheme@scheme.test", "to_name": "Dr Ada Byron", "to_addr": "ada@hospital.test",
          "reply_to": f"scheme+{TOKEN}@scheme.test", "message_id": "m1.mailflow@scheme.test", "date": NOW,
          "template": "introduction/to-mentor", "list_id": "Test Scheme <scheme.scheme.test>",
          "unsubscribe": f"mailto:scheme+{TOKEN}@scheme.test?subject=STOP&body=STOP", **kw}
    old = build_message(**kw).as_bytes()
    new = build_bytes(**kw, token=TOKEN, message_token="m1")
    return (email.message_from_bytes(old, policy=email.policy.default),
            email.message_from_bytes(new, policy=email.policy.default), old, new)


NAMES = st.lists(st.sampled_from(list("Ada Müller.,\"'()<>@:;محمد") + ["=?utf-8?q?x=0D=0ABcc:_e@x?=", "\u2028", "\r\n",
                                                                        "Dr. ", "O'Neil-Smith"]), max_size=25).map("".join)


@settings(max_examples=120, deadline=None)
@given(name=NAMES, subject=NAMES, text=st.text(max_size=300), reply=st.sampled_from(["", "x@y", "CAF=a+b@mail.test"]))
def test_the_fast_builder_writes_what_the_email_package_writes(name, subject, text, reply):
    old, new, old_raw, new_raw = _both(to_name=name, rendered=Rendered(subject or "S", text, f"<p>{text}</p>"),
                                       in_reply_to=reply, references=("r@x",) if reply else ())
    # The same header lines, byte for byte (MIME-Version and Content-Type aside: the boundary is random).
    head = lambda raw: raw.split(b"\r\n\r\n")[0].split(b"MIME-Version")[0]  # noqa: E731
    assert head(new_raw) == head(old_raw)
    assert [k for k in new.keys()] == [k for k in old.keys()]
    for part in ("plain", "html"):
        assert new.get_body((part,)).get_content() == old.get_body((part,)).get_content()
    assert new.get_body(("plain",)).get_param("format") == "flowed"


def test_an_invite_goes_in_as_the_email_package_puts_it():
    import icalendar

    from mailflow.calendar import invite

    ics = invite(uid="pair-1-review@scheme.test", sequence=0, method="REQUEST", summary="Mentoring review: Sam and Ada",
                 description="The review date", start="2026-06-01", minutes=None,
                 organizer=("scheme@scheme.test", "Test Scheme"), attendees=[("ada@hospital.test", "Ada")], now=NOW,
                 reader_tz="Europe/London")
    old, new, old_raw, new_raw = _both(calendar=(ics, "REQUEST"))
    assert new.get_content_type() == old.get_content_type() == "multipart/mixed"
    shape = lambda m: [(p.get_content_type(), p.get_param("method"), p.get_filename()) for p in m.walk()]  # noqa: E731
    assert shape(new) == shape(old)
    cal_new = next(p for p in new.walk() if p.get_content_type() == "text/calendar").get_content()
    cal_old = next(p for p in old.walk() if p.get_content_type() == "text/calendar").get_content()
    assert cal_new == cal_old
    attached = next(p for p in new.walk() if p.get_filename() == "invite.ics").get_content()
    assert attached == ics and icalendar.Calendar.from_ical(attached)["METHOD"] == "REQUEST"


def test_the_header_check_refuses_a_broken_header_block():
    assert _header_names(b"From: a\r\nSubject: x\r\n y\r\n") == ["from", "subject"]
    for broken in (b"From: a\r\n\r\nBcc: x\r\n", b"From: a\nBcc: x\r\n", b" x\r\nFrom: a\r\n", b"From a\r\n",
                   b"From: a\rBcc: x\r\n"):
        assert _header_names(broken) not in (["from"], ["from", "bcc"]), broken


def test_a_long_or_encoded_line_still_goes_through_the_email_package():
    old, new, *_ = _both(to_name="Prof. Dr. med. Hans-Jürgen Müller-Lüdenscheidt, Universitätsklinikum " * 2,
                         rendered=Rendered("Ihr Mentor: Hans-Jürgen Müller " * 5, "Hallo\n", "<p>Hallo</p>"))
    assert str(new["To"]) == str(old["To"]) and str(new["Subject"]) == str(old["Subject"])


# --------------------------------------------------------------------------- batches


def _stranger(i: int) -> bytes:
    return (f"From: Someone {i} <someone{i}@example.org>\r\nTo: scheme@scheme.test\r\nSubject: s{i}\r\n"
            f"Message-ID: <batch{i}@x.test>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n\r\nHi\r\n").encode()


def test_one_bad_message_in_a_batch_fails_alone_and_is_retried_alone(tmp_path, smtp_sink, monkeypatch):
    service = make_service(tmp_path, smtp_sink)
    ids = [service.receive(_stranger(i), source="test") for i in range(5)]
    decide = service._decide

    def flaky(mail, m, inbound_id, now, raw=b""):
        if inbound_id == ids[2]:
            raise RuntimeError("a bug reading this one")
        return decide(mail, m, inbound_id, now, raw)

    monkeypatch.setattr(service, "_decide", flaky)
    assert service.process_pending() == {"ignored": 4, "failed": 1}
    rows = {r["id"]: r for r in service.store.all("SELECT id, status, attempts, last_error FROM inbound")}
    assert [rows[i]["status"] for i in ids] == ["ignored", "ignored", "received", "ignored", "ignored"]
    assert rows[ids[2]]["attempts"] == 1 and "a bug reading this one" in rows[ids[2]]["last_error"]
    assert all(rows[i]["attempts"] == 1 for i in ids)
    notes = service.store.scalar("SELECT count(*) FROM outbox")
    assert notes == 4, "the bad message's work was rolled back, the others' kept"
    # Attempted before: it goes alone now, and ends quarantined after three attempts.
    assert service.process_pending() == {"failed": 1}
    assert service.process_pending() == {"quarantined": 1}
    assert service.store.one("SELECT status, attempts FROM inbound WHERE id = ?", (ids[2],)) == \
        {"status": "quarantined", "attempts": 3}


def test_a_batch_cut_short_blames_no_one_and_each_message_is_then_processed_once(tmp_path, smtp_sink):
    """A process that died in the middle of a batch: its attempts were counted, its
    work never committed. Each message is then processed alone, once."""
    service = make_service(tmp_path, smtp_sink)
    ids = [service.receive(_stranger(i), source="test") for i in range(4)]
    with service.store.transaction():  # what the dead batch left: attempts counted, nothing else
        service.store.conn.execute("UPDATE inbound SET attempts = 1")
    assert service.process_pending() == {"ignored": 4}
    assert [r["attempts"] for r in service.store.all("SELECT attempts FROM inbound ORDER BY id")] == [2, 2, 2, 2]
    assert service.store.scalar("SELECT count(*) FROM outbox") == 4
    assert ids == sorted(ids)


def test_a_batch_cut_short_is_not_held_against_its_messages(tmp_path, smtp_sink, monkeypatch):
    """Each message of a batch that never finished keeps three attempts of its own:
    only the one that fails (here: every time) is quarantined, after those three."""
    service = make_service(tmp_path, smtp_sink)
    ids = [service.receive(_stranger(i), source="test") for i in range(3)]
    with service.store.transaction():  # what a dead batch left
        service.store.conn.execute("UPDATE inbound SET attempts = 1, batched = 1")
    decide = service._decide

    def poison(mail, m, inbound_id, now, raw=b""):
        if inbound_id == ids[1]:
            raise RuntimeError("kills every attempt")
        return decide(mail, m, inbound_id, now, raw)

    monkeypatch.setattr(service, "_decide", poison)
    assert service.process_pending() == {"ignored": 2, "failed": 1}
    assert service.process_pending() == {"failed": 1}
    assert service.process_pending() == {"quarantined": 1}
    row = service.store.one("SELECT status, attempts FROM inbound WHERE id = ?", (ids[1],))
    assert row == {"status": "quarantined", "attempts": 4}, "the batch's attempt and three of its own"


# --------------------------------------------------------------------------- bulk pairing and status


def test_pair_csv_is_all_or_nothing_and_names_the_line(tmp_path, smtp_sink):
    from click.testing import CliRunner

    from mailflow.cli import main

    service = make_service(tmp_path, smtp_sink)
    service.close()
    config = str(tmp_path / "mailflow.toml")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"mentee,mentor\n{MENTEE},{MENTOR}\nnobody@example.org,{MENTOR}\n")
    result = CliRunner().invoke(main, ["--config", config, "pair", "--csv", str(bad)])
    assert result.exit_code == 1 and "line 3" in result.output and "nobody@example.org is not enrolled" in result.output
    assert "Nothing from the file was applied" in result.output
    status = CliRunner().invoke(main, ["--config", config, "status", "--json"])
    assert '"pairs": []' in status.output
    good = tmp_path / "good.csv"
    good.write_text(f"mentor,mentee\n{MENTOR},{MENTEE}\n")  # columns in either order
    result = CliRunner().invoke(main, ["--config", config, "pair", "--csv", str(good)])
    assert result.exit_code == 0 and "1 pairs, 2 introductions queued" in result.output, result.output
    twice = tmp_path / "twice.csv"
    twice.write_text(f"{MENTEE},{MENTOR}\n{MENTEE},grace@hospital.test\n")
    result = CliRunner().invoke(main, ["--config", config, "pair", "--csv", str(twice)])
    assert result.exit_code == 1 and f"{twice}:2: {MENTEE} is paired already on line 1" in result.output


def test_status_for_everyone_is_counts_and_attention_with_pages(tmp_path, smtp_sink):
    from click.testing import CliRunner

    from mailflow.cli import main
    from mailflow.enrol import parse_csv

    service = make_service(tmp_path, smtp_sink)
    rows = "role,name,email\n" + "".join(f"mentor,Mentor {i},m{i}@x.test\nmentee,Mentee {i},e{i}@x.test\n"
                                         for i in range(60))
    service.enrol(parse_csv(rows))
    for i in range(60):
        service.pair(f"e{i}@x.test", f"m{i}@x.test")
    service.close()
    config = str(tmp_path / "mailflow.toml")
    text = CliRunner().invoke(main, ["--config", config, "status"]).output
    assert "60 pairs: 60 introduced" in text and "pair 1:" not in text and "--page N" in text
    page = CliRunner().invoke(main, ["--config", config, "status", "--page", "2"]).output
    assert "pair 51:" in page and "pair 50:" not in page and "page 2 of 2" in page
    everything = CliRunner().invoke(main, ["--config", config, "status", "--all"]).output
    assert "pair 1:" in everything and "pair 60:" in everything


# --------------------------------------------------------------------------- IDLE


def test_idle_does_not_miss_mail_announced_while_the_cycle_was_busy(tmp_path, imap_account, smtp_sink):
    """A message that arrives during a cycle is announced in the answer to that
    cycle's STORE; IDLE never announces it again. The wait must notice it at once,
    not after the next message or ``poll_seconds``."""
    from harness import write_config
    from mailflow.config import load
    from mailflow.inbound.imap import ImapInbox
    from mailflow.service import Service

    config = write_config(tmp_path, imap_account, smtp_sink, poll_seconds=60)
    import os

    os.environ["MF_TEST_IMAP_PASSWORD"] = imap_account.password
    service = Service(load(config))
    inbox = ImapInbox(service.config.imap, service)
    imap_account.append(_stranger(1))
    assert inbox.fetch_new() == 1
    imap_account.append(_stranger(2))  # arrives while the cycle is busy...
    inbox.client.add_flags([1], [b"\\Seen"])  # ...and is announced in this command's answer
    start = time.monotonic()
    assert inbox.wait(30, threading.Event()) is True
    assert time.monotonic() - start < 5
    assert inbox.fetch_new() == 1
    inbox.close()
    service.close()


@pytest.mark.parametrize("n", [3])
def test_due_timers_fire_in_a_batch_once_each(tmp_path, smtp_sink, n):
    service = make_service(tmp_path, smtp_sink)
    service.pair(MENTEE, MENTOR)
    service.clock.advance(days=8)
    assert service.fire_timers() == 1  # the introduction's first reminder
    assert service.fire_timers() == 0
    fired = service.store.all("SELECT name, status FROM timers WHERE status = 'fired'")
    assert [t["name"] for t in fired] == ["introduction-reminder"]
