"""What coordinators never see, what a participant can take away, and what is forgotten.

* The canary: a phrase planted in every free-text reply of a whole relationship
  reaches no coordinator email (summaries, answers to their commands, notices), no
  CSV, no export of another participant and no log line; only CONCERN reaches the
  coordinators, by design, in its own email.
* A participant's data: ``mailflow export`` and their reply EXPORT.
* Erasure: afterwards the database file and its WAL hold neither their address
  nor their words. Retention: raw mail blanked after ``raw_mail_days``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import pty
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import seeded
from clients import gmail_reply, mutt_reply, new_email, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, make_service
from journey import UTC, Journey
from servers import SmtpSink

from mailflow import privacy, summary
from mailflow.export import pairs_csv, participant_data, write_export
from mailflow.runner import run_once, tick
from mailflow.status import gather

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"
JO = f"Jo Coordinator <{COORDINATOR}>"

# What each of them wrote that only they may see again.
SAM_PRIVATE = ("CANARYMET", "CANARYYESSAM", "CANARYNOTE", "CANARYCANCEL", "CANARYFEEDBACK", "CANARYEND", "CANARYEXIT")
ADA_PRIVATE = ("CANARYACCEPT", "CANARYYESADA", "CANARYAGREE", "CANARYNEXT")
SHARED = ("CANARYFORM", "CANARYAGENDA")  # the pair's own: the agreement, and agenda items for the mentor
CONCERN = "CANARYCONCERN"  # to the coordinators, in its own email, and nowhere else
EVERY = (*SAM_PRIVATE, *ADA_PRIVATE, *SHARED, CONCERN)

FORM = """Location: Teams, CANARYFORM
Frequency: Monthly
Meeting length: 45 minutes
Duration: 12 months
Cancellations: at least 24 hours notice by email
Objectives:
1. Submit my first grant application by June
Review date: 20 May 2026
"""


def when(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _play(j: Journey) -> None:
    """A whole relationship, with weekly summaries on, every reply carrying a canary."""
    j.service.pair(MENTEE, MENTOR)
    j.cycle()
    j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept - CANARYACCEPT happy to help.", ADA)
    j.clock.advance(days=2)
    j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "MET yesterday CANARYMET", SAM)
    j.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes CANARYYESSAM", SAM)
    j.reply("getting-to-know/decide", MENTOR, outlook_reply, "Yes CANARYYESADA", ADA)
    j.reply("agreement/start-mentee", MENTEE, gmail_reply, FORM, SAM)
    j.reply("agreement/proposed", MENTOR, outlook_reply, "Agree CANARYAGREE", ADA)
    assert j.pair_state() == "active"
    j.until(when(2026, 4, 3, 10))
    j.reply("meetings/checkin", MENTEE, gmail_reply, "MET 1 April 50\nPulse: 2\nNotes: CANARYNOTE stuck", SAM)
    j.write(new_email(j.config.scheme.address, "NEXT 14 April 10:00\n\nCANARYNEXT see you then", ADA, date=j.now))
    j.until(when(2026, 4, 13, 10, 30))
    j.reply("meetings/agenda-request", MENTEE, gmail_reply, "1. CANARYAGENDA my fellowship", SAM)
    j.clock.set(when(2026, 4, 14, 7))
    j.reply("meetings/agenda-thanks", MENTEE, gmail_reply, "CANCEL - CANARYCANCEL the clinic overran", SAM)
    j.reply("meetings/cancelled-sender", MENTEE, gmail_reply, f"CONCERN {CONCERN} I feel unsupported", SAM)
    j.write(new_email(j.config.scheme.address, "FEEDBACK CANARYFEEDBACK more evening slots", SAM, date=j.now))
    # The coordinator asks about them, by reply, in the middle of it all.
    j.until(when(2026, 4, 20, 7, 30))
    j.reply("coordinators/summary", COORDINATOR, gmail_reply, f"STATUS 1\nSTATUS {MENTEE}\nNUDGE 1\nEXPORT\nSUMMARY", JO)
    j.until(when(2026, 5, 4, 9))
    j.reply("agreement/agreed", MENTEE, mutt_reply, "END - CANARYEND a new post", SAM)
    assert j.pair_state() == "ended"
    j.reply("ending/you-ended", MENTEE, gmail_reply, "Rating: 2\nComments: CANARYEXIT more structure", SAM)
    j.until(when(2026, 5, 11, 8))
    j.clock.advance(days=7)
    tick(j.config, j.clock)  # serve's scheduled job, which logs what it did


def _export_text(store, who: str, now) -> str:
    data, mail = participant_data(store, who, now)
    return json.dumps(data, ensure_ascii=False) + "\n".join(m["raw"].decode("utf-8", "replace") for m in mail)


def test_a_canary_in_every_reply_reaches_no_coordinator_csv_other_export_or_log(tmp_path, smtp_sink, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="mailflow")
    j = Journey(tmp_path, None, smtp_sink, summary=True)
    try:
        _play(j)
        store = j.service.store
        templates = {r["template"] for r in store.all("SELECT template FROM outbox WHERE to_addr = ?", (COORDINATOR,))}
        assert {"coordinators/summary", "coordinators/answer", "anytime/concern-coordinator",
                "agreement/agreed-coordinator", "ending/ended-coordinator"} <= templates
        assert store.scalar("SELECT count(*) FROM outbox WHERE template = 'coordinators/summary'") >= 5
        for row in store.all("SELECT to_addr, template, raw FROM outbox ORDER BY id"):
            text = seeded.text_of(row["raw"])
            found = [c for c in EVERY if c in text]
            if row["to_addr"] == COORDINATOR:
                allowed = [CONCERN] if row["template"] == "anytime/concern-coordinator" else []
                assert found == allowed, f"{found} reached the coordinators in {row['template']}"
            elif row["to_addr"] == MENTOR:
                assert not set(found) & {*SAM_PRIVATE, CONCERN}, f"{found} reached Ada in {row['template']}"
            elif row["to_addr"] == MENTEE:
                assert not set(found) & {*ADA_PRIVATE, CONCERN}, f"{found} reached Sam in {row['template']}"
        assert "CANARYCONCERN" in "".join(seeded.text_of(r["raw"]) for r in store.all(
            "SELECT raw FROM outbox WHERE template = 'anytime/concern-coordinator'")), "the test can see a canary"
        csv = pairs_csv(j.service, j.now).decode("utf-8-sig")
        assert not [c for c in EVERY if c in csv]
        assert not [c for c in EVERY if c in json.dumps(gather(j.service))]
        # Exports: the partner's holds none of Sam's private words; a stranger's nothing.
        ada = _export_text(store, MENTOR, j.now)
        assert not [c for c in (*SAM_PRIVATE, CONCERN) if c in ada]
        assert not [c for c in EVERY if c in _export_text(store, "grace@hospital.test", j.now)]
        sam = _export_text(store, MENTEE, j.now)
        assert [c for c in SAM_PRIVATE if c in sam] == list(SAM_PRIVATE), "Sam's export holds all he wrote"
        assert not [c for c in ADA_PRIVATE if c in sam]
        # Every log line (but the test's own SMTP server's, which logs what it receives).
        lines = [r.getMessage() for r in caplog.records if r.name != "mail.log"]
        assert lines, "the run logged something"
        assert not [c for c in EVERY if c in "\n".join(lines)]
    finally:
        j.close()


# --------------------------------------------------------------------------- a participant's data


def test_a_participant_replies_export_and_gets_their_data_alone(tmp_path, smtp_sink):
    j = Journey(tmp_path, None, smtp_sink)
    try:
        j.service.pair(MENTEE, MENTOR)
        j.cycle()
        j.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept - ADAWORDS", ADA)
        j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, "MET yesterday SAMWORDS", SAM)
        out = j.write(new_email(j.config.scheme.address, "EXPORT", SAM, date=j.now))
        assert out == [("anytime/export", MENTEE)]
        mail = j.email("anytime/export", MENTEE)
        [zipped] = list(mail.message.iter_attachments())
        assert zipped.get_content_type() == "application/zip"
        with zipfile.ZipFile(io.BytesIO(zipped.get_content())) as z:
            names = z.namelist()
            data = json.loads(z.read("data.json"))
            eml = b"".join(z.read(n) for n in names if n.endswith(".eml"))
        assert data["participant"]["email"] == MENTEE and data["pairs"][0]["partner"] == "Dr Ada Byron"
        assert [n for n in names if n.startswith("mail/")] == ["mail/0001.eml", "mail/0002.eml"]
        assert b"SAMWORDS" in eml and b"ADAWORDS" not in eml and "ADAWORDS" not in json.dumps(data)
        assert "votes" not in json.dumps(data["pairs"][0]["facts"]) and "flags" not in data["pairs"][0]["facts"]
        # The command line writes the same, as a folder or a zip.
        folder = write_export(j.service.store, MENTEE, tmp_path / "sam", j.now)
        assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["0001.eml", "0002.eml", "data.json"]
    finally:
        j.close()


# --------------------------------------------------------------------------- erasure


def _database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("mailflow.db*")) if p.is_file())


def test_erase_leaves_neither_their_address_nor_their_words_in_the_database_or_its_wal(tmp_path):
    with SmtpSink() as sink:
        s = seeded.seed(tmp_path, sink)
        service = s.j.service
        sam_words = (b"sam@university.test", "Sam Lee".encode(), b"could say more about the mentor",
                     b"nobody keeps cancelling")
        everything = _database_bytes(tmp_path)
        assert all(w in everything for w in sam_words), "the test can find them before"
        with pytest.raises(Exception, match="in pairs under way \\(6\\); close them first"):
            privacy.erase(service, "sam@university.test")
        service.close_pair(6, "erasure requested")
        pairs_before = [(p["id"], p["state"]) for p in service.store.pairs()]
        sam_inbound = service.store.scalar("SELECT raw FROM inbound WHERE participant_id = 7 ORDER BY id LIMIT 1")
        counts = privacy.erase(service, "sam@university.test")
        assert counts["wal_emptied"] and counts["raw mail received"] >= 2 and counts["reply tokens"] >= 2

        after = _database_bytes(tmp_path)
        for w in sam_words:
            assert w not in after, w
        assert (tmp_path / "mailflow.db-wal").stat().st_size == 0 if (tmp_path / "mailflow.db-wal").exists() else True
        # Their pairs stay, as anonymous counts; the summary still adds up.
        assert [(p["id"], p["state"]) for p in service.store.pairs()] == pairs_before
        assert service.store.pair(6)["mentee_name"] == "(erased)"
        data = summary.build(service, s.j.now)
        assert data["totals"]["pairs"] == 7 and "Sam Lee" not in json.dumps(data)
        # A copy of their old email arriving again is a duplicate, and brings nothing back.
        again = service.receive(sam_inbound, source="smtp")
        assert service.store.one("SELECT status FROM inbound WHERE id = ?", (again,))["status"] == "ignored"
        assert service.store.participant_by_email("sam@university.test") is None
        s.j.close()


def test_mailflow_erase_asks_and_refuses_pairs_under_way(mf):
    mf.cli("pair", MENTEE, MENTOR)
    assert "add --yes to confirm" in mf.cli("erase", MENTEE, expect=2)
    assert "close them first (mailflow close 1)" in mf.cli("erase", MENTEE, "--yes", expect=1)
    mf.cli("close", "1")
    out = mf.cli("erase", MENTEE, "--yes")
    assert out.startswith(f"erased {MENTEE}: ")
    assert MENTEE not in json.dumps(mf.status())
    assert "is not enrolled" in mf.cli("erase", MENTEE, "--yes", expect=1)


# --------------------------------------------------------------------------- retention


def test_raw_mail_is_purged_after_raw_mail_days_and_the_facts_stay(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink, extra="[retention]\nraw_mail_days = 30\n")
    service.pair(MENTEE, MENTOR)
    run_once(service, None)
    intro = service.store.one("SELECT raw FROM outbox WHERE template = 'introduction/to-mentor'")["raw"]
    service.receive(outlook_reply(intro, "Accept", ADA), source="smtp")
    stray = service.receive(new_email(service.config.scheme.address, "x", "Stray <s@x.test>"), source="smtp")
    service._failed(stray, 3, RuntimeError("boom"), service.clock.now())
    run_once(service, None)
    assert service.store.pair(1)["state"] == "getting-to-know"
    service.clock.advance(days=29)
    run_once(service, None)
    assert service.store.scalar("SELECT count(*) FROM inbound WHERE length(raw) = 0") == 0, "not yet"
    service.clock.advance(days=2)
    run_once(service, None)
    rows = service.store.all("SELECT status, length(raw) AS size, reason FROM inbound ORDER BY id")
    assert [(r["status"], r["size"]) for r in rows] == [("processed", 0), ("quarantined", rows[1]["size"])]
    assert rows[1]["size"] > 0, "quarantined mail is kept for replay"
    assert rows[0]["reason"], "what was read from it stays"
    cutoff = (service.clock.now() - dt.timedelta(days=30)).isoformat()
    assert service.store.scalar("SELECT count(*) FROM outbox WHERE status = 'sent' AND length(raw) = 0") == 5
    assert service.store.scalar("SELECT count(*) FROM outbox WHERE length(raw) > 0 AND sent_at < ?", (cutoff,)) == 0
    assert service.store.pair(1)["state"] == "deciding", "the workflow goes on without the raw copies"
    assert service.store.scalar("SELECT count(*) FROM events WHERE kind = 'raw-mail-purged'") == 1
    service.clock.advance(hours=2)
    assert privacy.purge_raw_mail(service) == 0, "once a day"


# --------------------------------------------------------------------------- progress


def test_long_work_shows_progress_on_a_terminal_and_is_quiet_otherwise(mf, tmp_path):
    csv = tmp_path / "many.csv"
    csv.write_text("role,name,email\n" + "".join(f"mentee,Person {i},p{i}@university.test\n" for i in range(300)))
    quiet = mf.cli_process("enrol", "--csv", str(csv))
    assert quiet.stderr == "" and "300 added" in quiet.stdout
    exe = Path(sys.executable).with_name("mailflow")
    leader, follower = pty.openpty()
    proc = subprocess.run([str(exe), "--config", str(mf.config), "enrol", "--csv", str(csv)], stdin=follower,
                          stdout=subprocess.PIPE, stderr=follower, env={**os.environ, **mf.env, "COLUMNS": "100"},
                          timeout=60)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.returncode == 0 and b"300 unchanged" in proc.stdout
    assert b"enrolling" in shown and b"100%" in shown
