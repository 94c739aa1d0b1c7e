"""``mailflow demo``: the embedded defaults, no mail server, end to end."""

from __future__ import annotations

import email
import email.policy
import mailbox
import sqlite3

from click.testing import CliRunner

from mailflow.cli import main


def test_demo_plays_a_scheme_with_no_mail_server(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "would you like to take part?" in out and "Nobody will be introduced to you before you have said YES" in out
    assert "Introducing you to Sam Lee" in out and "Good news: Dr Ada Byron would like to mentor you" in out
    assert "2 processed" in out and "1 processed" in out and "Pair 1 is now 'getting-to-know'" in out
    assert str(tmp_path / "mailflow.db") in out and str(tmp_path / "outgoing-mail") in out

    box = mailbox.Maildir(str(tmp_path / "outgoing-mail"), create=False)
    sent = [email.message_from_bytes(box.get_bytes(k), policy=email.policy.default) for k in box.keys()]
    # Welcome, thank-you for the YES, introduction, confirmation: four each.
    assert sorted(str(m["To"]) for m in sent) == sorted([
        "Dr Ada Byron <ada.byron@hospital.example>", "Sam Lee <sam.lee@university.example>"] * 4)
    db = sqlite3.connect(tmp_path / "mailflow.db")
    assert db.execute("SELECT source, status FROM inbound").fetchall() == [("smtp", "processed")] * 3
    consented = db.execute("SELECT email, consent, consented_at IS NOT NULL, capacity FROM participants "
                           "WHERE role != 'coordinator' ORDER BY email").fetchall()
    assert consented == [("ada.byron@hospital.example", "reply", 1, 2), ("sam.lee@university.example", "reply", 1, None)]
    assert db.execute("SELECT state FROM pairs").fetchall() == [("getting-to-know",)]
