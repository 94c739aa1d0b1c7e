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
    assert "Introducing you to Sam Lee" in out and "Good news: Dr Ada Byron would like to mentor you" in out
    assert "1 processed" in out and "Pair 1 is now 'getting-to-know'" in out
    assert str(tmp_path / "mailflow.db") in out and str(tmp_path / "outgoing-mail") in out

    box = mailbox.Maildir(str(tmp_path / "outgoing-mail"), create=False)
    sent = [email.message_from_bytes(box.get_bytes(k), policy=email.policy.default) for k in box.keys()]
    assert sorted(str(m["To"]) for m in sent) == sorted([
        "Dr Ada Byron <ada.byron@hospital.example>", "Sam Lee <sam.lee@university.example>",
        "Dr Ada Byron <ada.byron@hospital.example>", "Sam Lee <sam.lee@university.example>",
    ])
    db = sqlite3.connect(tmp_path / "mailflow.db")
    assert db.execute("SELECT source, status FROM inbound").fetchall() == [("smtp", "processed")]
    assert db.execute("SELECT state FROM pairs").fetchall() == [("getting-to-know",)]
