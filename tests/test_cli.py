"""The command line: init, check (config, rules, templates, real IMAP and SMTP logins
with TLS), the listener as an alternative to IMAP, and documentation of every command."""

from __future__ import annotations

import smtplib
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import Installation, own_example_hosts, set_keys, write_config
from mailflow.cli import main
from mailflow.clock import FixedClock
from mailflow.config import load
from mailflow.inbound.listener import Listener
from mailflow.store import Store
from servers import SmtpSink, free_ports

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None, expect=0) -> str:
    result = CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def test_init_writes_a_config_and_database(tmp_path):
    path = tmp_path / "mailflow.toml"
    out = run("--config", str(path), "init")
    assert "wrote" in out and path.exists() and (tmp_path / "mailflow.db").exists()
    assert "keeping it" in run("--config", str(path), "init")
    # The starter config is the example: offline, check says what is still to do, all at once.
    out = run("--config", str(path), "check", "--offline", expect=1)
    assert "ok    rules" in out and "ok    templates" in out
    assert "[imap] host: is still the example's host ('imap.example.org')" in out
    assert "[smtp] host: is still the example's host ('smtp.example.org')" in out
    assert "MAILFLOW_IMAP_PASSWORD is not set" in out and "MAILFLOW_SMTP_PASSWORD is not set" in out
    own_example_hosts(path)
    out = run("--config", str(path), "check", "--offline",
              env={"MAILFLOW_IMAP_PASSWORD": "x", "MAILFLOW_SMTP_PASSWORD": "y"})
    assert "ok    config" in out and "ok    rules" in out and "ok    templates" in out and "FAIL" not in out


def test_check_against_real_servers(tmp_path, imap_account, smtp_sink):
    mf = Installation(tmp_path, write_config(tmp_path, imap_account, smtp_sink), imap_account, smtp_sink)
    out = mf.cli("check")
    assert f"ok    IMAP login as {imap_account.username}" in out and "(IDLE)" in out
    assert f"ok    SMTP {smtp_sink.host}:{smtp_sink.port}" in out

    result = CliRunner().invoke(main, ["--config", str(mf.config), "check"],
                                env={"MF_TEST_IMAP_PASSWORD": "wrong"})
    assert result.exit_code == 1
    assert "FAIL  IMAP" in result.output and "refused the login" in result.output

    result = CliRunner().invoke(main, ["--config", str(mf.config), "check"], env={"MF_TEST_IMAP_PASSWORD": None})
    assert result.exit_code == 1 and "MF_TEST_IMAP_PASSWORD" in result.output and "not set" in result.output


def test_check_reports_a_broken_rule_file_as_file_and_line(tmp_path, imap_account, smtp_sink):
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (ROOT / "rules/default/introduction.toml").read_text().replace('goto = "declined"', 'goto = "declind"')
    (rules / "introduction.toml").write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if 'goto = "declind"' in l)
    mf = Installation(tmp_path, write_config(tmp_path, imap_account, smtp_sink), imap_account, smtp_sink)
    set_keys(mf.config, "scheme", rules="rules")
    out = mf.cli("check", "--offline", expect=1)
    assert f"FAIL  rules: {rules / 'introduction.toml'}:{line}: goto 'declind'" in out


def test_imap_tls_is_verified_and_starttls_required(tmp_path, imap_account, smtp_sink):
    mf = Installation(tmp_path, write_config(tmp_path, imap_account, smtp_sink), imap_account, smtp_sink)

    def check(**imap) -> str:
        set_keys(mf.config, "imap", **imap)
        return CliRunner().invoke(main, ["--config", str(mf.config), "check"], env=mf.env).output

    assert "ok    IMAP login" in check(port=imap_account.imaps_port, tls="ssl", ca_file=imap_account.cafile)
    out = check(port=imap_account.imaps_port, tls="ssl", ca_file=None)
    assert "FAIL  IMAP" in out and "CERTIFICATE_VERIFY_FAILED" in out
    assert "ok    IMAP login" in check(port=imap_account.port, tls="starttls", ca_file=imap_account.cafile)


def test_smtp_starttls_is_required_and_login_checked(tmp_path, imap_account):
    with SmtpSink() as plain, SmtpSink(auth=("relay-user", "relay-pass")) as authed:
        mf = Installation(tmp_path, write_config(tmp_path, imap_account, plain), imap_account, plain)
        set_keys(mf.config, "smtp", tls="starttls")
        result = CliRunner().invoke(main, ["--config", str(mf.config), "check"], env=mf.env)
        assert result.exit_code == 1 and "does not offer STARTTLS" in result.output

        set_keys(mf.config, "smtp", tls="none", port=authed.port, username="relay-user", password_env="MF_SMTP_PW")
        ok = CliRunner().invoke(main, ["--config", str(mf.config), "check"], env={**mf.env, "MF_SMTP_PW": "relay-pass"})
        assert f"ok    SMTP {authed.host}:{authed.port} as relay-user" in ok.output, ok.output
        bad = CliRunner().invoke(main, ["--config", str(mf.config), "check"], env={**mf.env, "MF_SMTP_PW": "nope"})
        assert bad.exit_code == 1 and "refused the login for 'relay-user'" in bad.output


@pytest.mark.parametrize("protocol", ["lmtp", "smtp"])
def test_listener_stores_before_answering_and_is_not_a_relay(tmp_path, protocol):
    [port] = free_ports()
    (tmp_path / "mailflow.toml").write_text(textwrap.dedent(f"""\
        [scheme]
        name = "S"
        address = "mentoring@scheme.test"
        coordinators = ["c@scheme.test"]
        [outbox]
        transport = "maildir"
        maildir = "out"
        [listener]
        enabled = true
        protocol = "{protocol}"
        port = {port}
        """))
    config = load(tmp_path / "mailflow.toml")
    listener = Listener(config, FixedClock())
    listener.start()
    try:
        client_cls = smtplib.LMTP if protocol == "lmtp" else smtplib.SMTP
        with client_cls("127.0.0.1", port, local_hostname="localhost") as client:
            refused = client.sendmail("sam@u.test", ["mentoring+abcdefgh12@scheme.test", "someone@else.test"],
                                      b"From: sam@u.test\r\nSubject: hi\r\nMessage-ID: <l1@u.test>\r\n\r\nYes\r\n")
            assert list(refused) == ["someone@else.test"] and refused["someone@else.test"][0] == 550
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("x@u.test", ["relay@elsewhere.test"], b"Subject: relay\r\n\r\nx\r\n")
    finally:
        listener.stop()
    store = Store(config.database_path)
    [row] = store.all("SELECT source, status, message_id FROM inbound")
    assert row == {"source": protocol, "status": "received", "message_id": "l1@u.test"}


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in main.commands.items():
        assert command.help and command.help.strip(), f"mailflow {name} has no help text"
        assert run(name, "--help").startswith(f"Usage: main {name}") or "Usage:" in run(name, "--help")
        assert f"mailflow {name}" in readme, f"README does not mention `mailflow {name}`"
