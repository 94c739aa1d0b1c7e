"""Nothing is lost and nothing is done twice: duplicates, UIDVALIDITY changes, bad
messages, our own mail coming back, and a failure mid-processing (quarantine and
replay), all through the CLI against Dovecot and aiosmtpd."""

from __future__ import annotations


from clients import gmail_reply, outlook_reply
from harness import Installation, MENTEE, MENTOR, body, write_config


def introduce(mf: Installation) -> bytes:
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [intro] = mf.sent_to(MENTOR)
    mf.sink.clear()
    return intro.raw


def inbound(mf: Installation) -> list[dict]:
    with mf.db() as db:
        return [dict(r) for r in db.execute("SELECT id, uid, status, reason, imap_done FROM inbound ORDER BY id")]


def test_the_same_reply_twice_acts_once(mf):
    reply = outlook_reply(introduce(mf), "ACCEPT", f"Ada <{MENTOR}>")
    mf.account.append(reply)
    mf.account.append(reply)  # e.g. a server-side filter or antivirus re-appended it
    mf.cli("run-once")
    mf.sink.wait_for(2)
    rows = inbound(mf)
    assert [r["status"] for r in rows] == ["processed", "ignored"]
    assert rows[1]["reason"] == f"duplicate of inbound #{rows[0]['id']}"
    assert all(r["imap_done"] for r in rows), "both mailbox copies are settled"
    assert len(mf.sink.messages) == 2
    assert mf.account.uids("INBOX") == []


def test_uidvalidity_change_rereads_without_acting_twice(tmp_path, imap_account, smtp_sink):
    # Flag-only mode: handled messages stay in INBOX, flagged \Seen.
    config = write_config(tmp_path, imap_account, smtp_sink, extra="")
    config.write_text(config.read_text().replace('processed_folder = "Processed"', 'processed_folder = ""'))
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    mf.account.append(outlook_reply(introduce(mf), "Accept", f"Ada <{MENTOR}>"))
    mf.cli("run-once")
    mf.sink.wait_for(2)
    [uid] = mf.account.uids("INBOX")
    assert "\\Seen" in mf.account.flags(uid)

    # The server renumbers the folder (a restore, a migration): UIDVALIDITY changes.
    # Our records carry the old UIDVALIDITY; the server now reports a new one.
    with mf.db() as db:
        db.execute("UPDATE checkpoints SET uidvalidity = uidvalidity - 1")
        db.execute("UPDATE inbound SET uidvalidity = uidvalidity - 1")
    mf.sink.clear()
    out = mf.cli("run-once")
    assert "fetched 1" in out and "sent 0" in out
    assert [r["status"] for r in inbound(mf)] == ["processed", "ignored"]
    assert mf.sink.messages == []
    with mf.db() as db:
        kinds = [r[0] for r in db.execute("SELECT kind FROM events WHERE kind LIKE 'imap%'")]
    assert kinds == ["imap-uidvalidity-changed"]


def test_garbage_and_broken_messages_are_kept_and_never_stop_the_loop(mf):
    intro = introduce(mf)
    bad = [
        b"\x00\xff\xfe not an email at all \x00" * 50,
        b"From: Sam <sam@university.test>\r\nSubject: =?x-bogus?q?hello?=\r\nContent-Type: text/plain; charset=x-bogus"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
        b"From: \r\nTo: \r\n\r\n",
    ]
    for raw in bad:
        mf.account.append(raw)
    mf.account.append(outlook_reply(intro, "Accept", f"Ada <{MENTOR}>"))  # a good one after them
    mf.cli("run-once")
    mf.sink.wait_for(2)
    rows = inbound(mf)
    assert [r["status"] for r in rows] == ["ignored", "ignored", "ignored", "processed"]
    assert all(r["reason"] for r in rows[:3])
    assert all(r["imap_done"] for r in rows)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


def test_our_own_mail_coming_back_is_dropped_silently(mf):
    intro = introduce(mf)
    mf.account.append(intro)  # e.g. the relay also delivered our copy to the mailbox
    mf.cli("run-once")
    [row] = inbound(mf)
    assert row["status"] == "ignored" and row["reason"].startswith("own-mail")
    assert mf.sink.messages == []


def test_failure_mid_processing_quarantines_then_replays(tmp_path, imap_account, smtp_sink):
    """A coordinator's edited template breaks: the reply is retried, quarantined after
    three attempts (coordinators told, mailbox copy flagged), then replayed once fixed."""
    templates = tmp_path / "my-templates" / "introduction"
    templates.mkdir(parents=True)
    broken = templates / "accepted-mentee.txt"
    broken.write_text("Subject: Your mentor\n\nDear {{ recipient.nickname }},\n")
    config = write_config(tmp_path, imap_account, smtp_sink)
    config.write_text(config.read_text().replace('date_order = "DMY"', 'date_order = "DMY"\ntemplates = "my-templates"'))
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    mf.account.append(outlook_reply(introduce(mf), "Accept", f"Ada <{MENTOR}>"))

    for attempt in (1, 2):
        mf.cli("run-once")
        [row] = inbound(mf)
        assert row["status"] == "received" and not row["imap_done"], f"attempt {attempt}: retried, not lost"
        assert mf.sink.messages == [], "a failed transaction queues nothing"
        assert [p["state"] for p in mf.status()["pairs"]] == ["introduced"]
    mf.cli("run-once")
    [row] = inbound(mf)
    assert row["status"] == "quarantined" and "nickname" in row["reason"]
    [notice] = mf.sink.wait_for(1)
    assert notice.rcpt_tos == ["coordinator@scheme.test"]
    assert f"mailflow replay {row['id']}" in body(notice)
    [uid] = mf.account.uids("INBOX")
    assert "\\Flagged" in mf.account.flags(uid), "left in the inbox, flagged for a person"
    assert "quarantined" in mf.cli("status")

    broken.write_text("Subject: Your mentor\n\nDear {{ recipient.first_name }}, {{ mentor.name }} accepted.\n")
    out = mf.cli("replay", str(row["id"]))
    assert "processed" in out
    mf.cli("run-once")
    mf.sink.wait_for(3)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]
    assert any("Dr Ada Byron accepted" in body(m) for m in mf.sent_to(MENTEE))
    mf.cli("replay", str(row["id"]), expect=1)  # replaying a processed message would act twice


def test_reply_after_the_plus_address_was_lost_matches_by_in_reply_to(mf):
    intro = introduce(mf)
    reply = gmail_reply(intro, "Accept", f"Ada <{MENTOR}>", to=mf.account.username)
    assert b"+" not in reply.split(b"\n\n")[0].split(b"To:")[1].split(b"\n")[0]
    mf.account.append(reply)
    mf.cli("run-once")
    mf.sink.wait_for(2)
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


def test_reply_with_no_token_and_no_thread_gets_a_note(mf):
    introduce(mf)
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Ada <{MENTOR}>"
    msg["To"] = mf.account.username
    msg["Subject"] = "Mentoring"
    msg["Message-ID"] = "<fresh-1@hospital.test>"
    msg.set_content("Accept")
    mf.account.append(msg.as_bytes())
    mf.cli("run-once")
    [note] = mf.sink.wait_for(1)
    assert note.rcpt_tos == [MENTOR] and "could not tell which of our emails" in body(note)
    assert [p["state"] for p in mf.status()["pairs"]] == ["introduced"]



def test_mailbox_down_still_sends_the_outbox_and_says_so(mf):
    """cron's run-once with the IMAP server unreachable: reminders and queued mail
    still go out; the run exits 1 naming the problem; the next run resumes."""
    mf.cli("pair", MENTEE, MENTOR)
    from click.testing import CliRunner

    from mailflow.cli import main

    result = CliRunner().invoke(main, ["--config", str(mf.config), "run-once"],
                                env={"MF_TEST_IMAP_PASSWORD": "wrong"})
    assert result.exit_code == 1
    assert "sent 2" in result.output and "the mailbox could not be read" in result.output
    assert "refused the login" in result.output
    assert len(mf.sink.wait_for(2)) == 2
    assert "fetched 0" in mf.cli("run-once")
