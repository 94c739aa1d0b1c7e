"""Coordinators run the scheme by reply, through a real Dovecot and aiosmtpd: the
weekly summary arrives, the coordinator answers it with commands, one per line, and
gets one answer saying what became of each. Anyone else changes nothing."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from clients import gmail_reply, new_email, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, PEOPLE, body
from journey import UTC, Journey

JO = f"Jo Coordinator <{COORDINATOR}>"
GRACE = "grace@hospital.test"
KIM = "kim@university.test"


def snapshot(store) -> tuple:
    """Everything a command could change."""
    return (store.all("SELECT id, state, facts FROM pairs ORDER BY id"),
            store.all("SELECT email, status, available, capacity FROM participants ORDER BY id"),
            store.all("SELECT pair_id, name, due_at FROM timers WHERE status = 'pending' ORDER BY id"))


def test_a_coordinator_replies_to_the_summary_with_five_commands(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, summary=True,
                people=PEOPLE + "mentee,Kim Lee,kim@university.test,Nursing\n")
    try:
        assert j.cycle() == [], "the first run notes the week; the first summary is next Monday's"
        j.service.pair(MENTEE, MENTOR)
        assert j.cycle() == [("introduction/to-mentor", MENTOR), ("introduction/to-mentee", MENTEE)]
        assert j.until(dt.datetime(2026, 3, 9, 8, tzinfo=UTC)) == [("coordinators/summary", COORDINATOR)]
        weekly = body(j.email("coordinators/summary", COORDINATOR))
        assert "Introduced: 1 (up 1)" in weekly and "Room: Dr Ada Byron (#2)" in weekly

        # Five commands, one of them about a pair that does not exist.
        commands = ("Hi,\n\nNUDGE 1\nPAIR kim@university.test grace@hospital.test\nPAUSE ada@hospital.test\n"
                    "CLOSE 7 they moved away\nSTATUS 1\n\nThanks,\nJo")
        raw = gmail_reply(j.email("coordinators/summary", COORDINATOR).raw, commands, JO, date=j.now)
        out = j.write(raw)
        assert out == [("coordinators/nudge", MENTOR), ("introduction/to-mentor", GRACE),
                       ("introduction/to-mentee", KIM), ("coordinators/availability", MENTOR),
                       ("coordinators/answer", COORDINATOR)]
        answer = body(j.email("coordinators/answer", COORDINATOR))
        assert "Your email had 5 lines for us: 4 done, 1 refused." in answer
        for line in ("NUDGE 1 — done: pair 1: Dr Ada Byron was reminded.",
                     "PAIR kim@university.test grace@hospital.test — done: pair 2: Kim Lee with Grace Hopper",
                     "PAUSE ada@hospital.test — done: Dr Ada Byron will not be given new mentees for now",
                     "CLOSE 7 they moved away — refused: there is no pair 7",
                     "STATUS 1 — done.", "Pair 1: pair 1: Sam Lee <sam@university.test> with Dr Ada Byron"):
            assert line in answer, line
        assert "Thanks" not in answer and "Hi:" not in answer, "a greeting and a sign-off are not commands"
        store = j.service.store
        assert [p["state"] for p in store.pairs()] == ["introduced", "introduced"]
        assert not store.participant_by_email(MENTOR)["available"]
        assert store.scalar("SELECT count(*) FROM events WHERE kind = 'nudged'") == 1

        # The nudge carries the introduction's question: Ada's answer to it counts.
        assert "ACCEPT" in body(j.email("coordinators/nudge", MENTOR))
        out = j.reply("coordinators/nudge", MENTOR, outlook_reply, "Accept", f"Ada <{MENTOR}>")
        assert out == [("introduction/accepted-mentor", MENTOR), ("introduction/accepted-mentee", MENTEE)]

        # The same email from someone who is not a coordinator changes nothing.
        before = snapshot(store)
        out = j.reply("coordinators/summary", COORDINATOR, gmail_reply, commands, f"Grace Hopper <{GRACE}>")
        assert out == [("coordinators/refused", GRACE)]
        refusal = body(j.email("coordinators/refused", GRACE)).split(" -- ")[0]  # above the footer
        assert "Nothing has been changed" in refusal and "NUDGE" not in refusal and COORDINATOR not in refusal
        assert snapshot(store) == before

        # The coordinator's email read twice applies once: the same copy again, and a
        # copy that came by another route (to the scheme's plain address).
        before = snapshot(store)
        assert j.write(raw) == [], "the same message again is a duplicate"
        copy = email.message_from_bytes(raw, policy=email.policy.default)
        copy.replace_header("To", j.config.scheme.address)
        assert j.write(copy.as_bytes()) == [], "the same email by another route: nothing again, no second answer"
        assert snapshot(store) == before
        [row] = store.all("SELECT status, reason FROM inbound ORDER BY id DESC LIMIT 1")
        assert row["status"] == "ignored" and "0 done, 1 refused, 0 not understood, 4 already done" in row["reason"]
    finally:
        j.close()


def _with_csv(to: str, text: str, csv: str, sender: str, date: dt.datetime) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "New mentees"
    msg["Date"], msg["Message-ID"] = format_datetime(date), make_msgid(domain="scheme.test")
    msg.set_content(text + "\n")
    msg.add_attachment(csv.encode(), maintype="text", subtype="csv", filename="people.csv")
    return msg.as_bytes()


def test_a_new_email_with_a_csv_help_export_summary_restrict(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, summary=True)
    try:
        j.service.pair(MENTEE, MENTOR)
        j.cycle()
        text = ("HELP\nEXPORT\nSUMMARY\nplease pair uma with grace\nRESTRICT grace@hospital.test awaiting a DBS check\n"
                "PAIR uma@university.test grace@hospital.test\nRESTORE #4")
        csv = "role,name,email\nmentee,Uma Shah,uma@university.test\n"
        out = j.write(_with_csv(j.config.scheme.address, text, csv, JO, j.now))
        # RESTRICT and RESTORE also send the coordinators their own notices (Service.restrict/restore).
        assert out == [("welcome/welcome", "uma@university.test"),  # enrolling from the CSV welcomes Uma
                       ("coordinators/summary", COORDINATOR), ("eligibility/restricted-coordinator", COORDINATOR),
                       ("eligibility/restored-coordinator", COORDINATOR), ("coordinators/answer", COORDINATOR)]
        answer = j.email("coordinators/answer", COORDINATOR)
        said = body(answer)
        for line in ("HELP — done", "EXPORT — done: the CSV of all pairs is attached",
                     "SUMMARY — done: a summary is on its way to you",
                     "please pair uma with grace — not understood: not a command; HELP lists them",
                     "RESTRICT grace@hospital.test awaiting a DBS check — done: Grace Hopper (grace@hospital.test) is "
                     "restricted",
                     "PAIR uma@university.test grace@hospital.test — refused: grace@hospital.test is restricted",
                     "RESTORE #4 — done: Grace Hopper (grace@hospital.test) can be paired again",
                     "the attached people.csv — done: enrolled: 1 added, 0 updated, 0 unchanged",
                     "NUDGE <pair> remind a pair", "STATUS <pair or person>"):
            assert line in said, line
        assert "Your email had 8 lines for us: 6 done, 1 refused, 1 not understood." in said
        [attached] = list(answer.message.iter_attachments())
        assert attached.get_filename().startswith("pairs-") and "sam@university.test" in attached.get_content()
        # The CSV was read first (Uma enrolled), then PAIR was refused while Grace was restricted.
        assert j.service.store.participant_by_email("uma@university.test")["role"] == "mentee"
        assert j.service.store.participant_by_email(GRACE)["status"] == "active"
        assert j.service.store.scalar("SELECT kind FROM summaries WHERE kind = 'asked'") == "asked"
        # Buttons in the answer's HTML: each command of the list opens a reply with it.
        html = answer.message.get_body(("html",)).get_content()
        assert 'data-command="NUDGE"' in html and "body=NUDGE%20" in html

        # A CSV with a bad row: refused with its line, nothing applied.
        bad = "role,name,email\nmentee,Vic,vic-at-university.test\n"
        out = j.write(_with_csv(j.config.scheme.address, "", bad, JO, j.now))
        assert out == [("coordinators/answer", COORDINATOR)]
        assert "people.csv:2: 'vic-at-university.test' is not an email address" in body(
            j.email("coordinators/answer", COORDINATOR))
        assert j.service.store.participant_by_email("vic-at-university.test") is None
    finally:
        j.close()


def test_a_coordinator_address_that_fails_dmarc_is_refused(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink)
    try:
        j.service.pair(MENTEE, MENTOR)
        j.cycle()
        before = snapshot(j.service.store)
        raw = new_email(j.config.scheme.address, "CLOSE 1", JO, date=j.now)
        raw = b"Authentication-Results: mx.scheme.test; spf=fail; dkim=none; dmarc=fail header.from=scheme.test\r\n" + raw
        assert j.write(raw) == [("coordinators/refused", COORDINATOR)]
        assert snapshot(j.service.store) == before
    finally:
        j.close()


def test_the_command_line_has_the_same_words(mf, tmp_path):
    mf.cli("pair", MENTEE, MENTOR)
    mf.cli("run-once")
    mf.sink.wait_for(2)
    mf.sink.clear()
    assert "pair 1: Dr Ada Byron was reminded" in mf.cli("nudge", "1")
    mf.cli("run-once")
    [nudged] = mf.sink.wait_for(1)
    assert nudged.rcpt_tos == [MENTOR] and str(nudged.message["X-Mailflow-Template"]) == "coordinators/nudge"
    assert "there is no pair 9" in mf.cli("nudge", "9", expect=1)
    mf.sink.clear()

    mf.cli("summary", "--preview", "--out", str(tmp_path / "preview"))
    assert sorted(p.name for p in (tmp_path / "preview").iterdir())[1:] == ["summary.html", "summary.txt"]
    assert "- Introduced: 1 (up 1)" in (tmp_path / "preview" / "summary.txt").read_text()
    assert mf.sink.messages == [], "a preview sends nothing"
    assert "summary to coordinator@scheme.test: sent" in mf.cli("summary", "--send")
    [sent] = mf.sink.wait_for(1)
    assert sent.rcpt_tos == [COORDINATOR]
    assert "give --preview" in mf.cli("summary", expect=2)

    csv = mf.cli("export")
    assert csv.splitlines()[0].startswith("\ufeffpair,state,") or csv.splitlines()[0].startswith("pair,state,")
    assert "1,introduced," in csv and "sam@university.test" in csv
    assert "wrote" in mf.cli("export", MENTEE, "--out", str(tmp_path / "sam.zip"))
    with zipfile.ZipFile(io.BytesIO((tmp_path / "sam.zip").read_bytes())) as z:
        assert "data.json" in z.namelist()
