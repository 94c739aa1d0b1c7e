"""Several schemes in one `mailflow serve`: a research trust (research-e-mentoring) and a
professional society (professional-society) on one server, each with its own address,
mailbox, preset, templates, coordinators and database. Nothing passes between them:
a reply carrying one scheme's token, delivered to the other's mailbox, means nothing there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from clients import gmail_reply, outlook_reply
from harness import PEOPLE, body, set_keys, write_config
from mailflow.cli import main
from servers import SmtpSink
from test_serve import wait_until

SOCIETY_PEOPLE = """\
role,name,email,expertise,sector,location
coordinator,Pat Office,office@society.test,,,
mentor,Dr Lin Wu,lin@pharmacy.test,Community pharmacy,Community,Leeds
mentee,Kim Park,kim@pharmacy.test,,,
"""


def _cli(config: Path, env: dict, *args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args], env=env, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def test_research_e_mentoring_and_professional_society_in_one_serve(tmp_path, dovecot):
    trust_box, society_box = dovecot.add_user(), dovecot.add_user()
    env = {"MF_TRUST_PW": trust_box.password, "MF_SOCIETY_PW": society_box.password}
    with SmtpSink() as trust_out, SmtpSink() as society_out:
        (tmp_path / "trust").mkdir()
        (tmp_path / "society").mkdir()
        trust = write_config(tmp_path / "trust", trust_box, trust_out, password_env="MF_TRUST_PW",
                             scheme='rules = "research-e-mentoring"\n')
        society = write_config(tmp_path / "society", society_box, society_out, password_env="MF_SOCIETY_PW",
                               scheme='rules = "professional-society"\n')
        set_keys(trust, "scheme", name="Research Trust E-mentoring")
        set_keys(society, "scheme", name="Society Mentoring", coordinators=["office@society.test"])
        (tmp_path / "trust.csv").write_text(PEOPLE)
        (tmp_path / "society.csv").write_text(SOCIETY_PEOPLE)
        _cli(trust, env, "enrol", "--csv", str(tmp_path / "trust.csv"))
        _cli(trust, env, "pair", "sam@university.test", "ada@hospital.test")
        _cli(society, env, "enrol", "--csv", str(tmp_path / "society.csv"))

        exe = Path(sys.executable).with_name("mailflow")
        with (tmp_path / "serve.log").open("w") as log:
            proc = subprocess.Popen([str(exe), "serve", "--config", str(trust), "--config", str(society)],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        try:
            def sent(sink, template):
                return [m for m in sink.messages if m.message["X-Mailflow-Template"] == template]

            # Each scheme sends its own first emails (the welcomes, then the
            # introductions and the directory), from its own address.
            wait_until(lambda: len(sent(trust_out, "introduction/to-mentor")) == 1, 20, "the trust's introduction")
            wait_until(lambda: sent(society_out, "directory/list"), 20, "the society's directory")
            [directory] = sent(society_out, "directory/list")
            assert directory.rcpt_tos == ["kim@pharmacy.test"] and "Dr Lin Wu" in body(directory)
            assert {m.message["From"].addresses[0].addr_spec for m in trust_out.messages} == {trust_box.username}
            assert {m.message["From"].addresses[0].addr_spec for m in society_out.messages} == {society_box.username}

            # The society's mentee chooses a mentor; the trust's mentor accepts.
            society_box.append(gmail_reply(directory.raw, "REQUEST Lin", "Kim Park <kim@pharmacy.test>"))
            [intro] = sent(trust_out, "introduction/to-mentor")
            trust_box.append(outlook_reply(intro.raw, "Accept", "Ada Byron <ada@hospital.test>"))
            wait_until(lambda: sent(society_out, "introduction/to-mentor"), 20, "the society's introduction")
            wait_until(lambda: sent(trust_out, "introduction/accepted-mentor"), 20, "the trust's acceptance")

            # The society's reply, delivered to the trust's mailbox too: there it is a
            # stranger's email with a token the trust never issued. Nothing changes.
            trust_box.append(gmail_reply(directory.raw, "REQUEST Lin", "Kim Park <kim@pharmacy.test>"))
            wait_until(lambda: len(trust_box.uids("Processed")) == 2, 20, "the trust to file the stray reply")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = (tmp_path / "serve.log").read_text()
        assert "serving Research Trust E-mentoring" in output and "serving Society Mentoring" in output, output

        for sink, scheme_box, other in ((trust_out, trust_box, society_box), (society_out, society_box, trust_box)):
            for m in sink.messages:
                assert m.mail_from == scheme_box.username, "each scheme sends from its own address"
                assert other.username not in m.raw.decode("utf-8", "replace")
        trust_subjects = {str(m.message["Subject"]) for m in trust_out.messages}
        society_subjects = {str(m.message["Subject"]) for m in society_out.messages}
        assert "Introducing you to Sam Lee, your possible e-mentee" in trust_subjects, "the trust's own templates"
        assert "Kim Park would like you as their mentor" in society_subjects, "the society's own templates"
        assert {r for m in trust_out.messages for r in m.rcpt_tos} == {
            "ada@hospital.test", "sam@university.test", "grace@hospital.test",  # the trust's own people
            "kim@pharmacy.test"}  # the note to the stranger whose reply reached the trust's mailbox
        assert "office@society.test" not in {r for m in trust_out.messages for r in m.rcpt_tos}

        trust_status = CliRunner().invoke(main, ["--config", str(trust), "status", "--json"], env=env).output
        society_status = CliRunner().invoke(main, ["--config", str(society), "status", "--json"], env=env).output
        assert '"state": "getting-to-know"' in trust_status and "kim@pharmacy.test" not in trust_status
        assert '"state": "introduced"' in society_status and "sam@university.test" not in society_status
        assert '"ignored": 1' in trust_status and '"processed": 1' in trust_status


def test_schemes_served_together_share_nothing(tmp_path, imap_account, smtp_sink):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_config(tmp_path / "a", imap_account, smtp_sink)
    b = write_config(tmp_path / "b", imap_account, smtp_sink)
    set_keys(b, "scheme", address="other@scheme.test")
    env = {"MF_TEST_IMAP_PASSWORD": imap_account.password}
    result = CliRunner().invoke(main, ["serve", "--config", str(a), "--config", str(b)], env=env)
    assert result.exit_code == 1
    assert f"{b.resolve()} and {a.resolve()} share the mailbox {imap_account.username} INBOX" in result.output
    b.write_text(b.read_text().replace('path = "mailflow.db"', f'path = "{tmp_path / "a" / "mailflow.db"}"'))
    result = CliRunner().invoke(main, ["serve", "--config", str(a), "--config", str(b)], env=env)
    assert result.exit_code == 1 and "share the database" in result.output
