"""``mailflow serve`` as a real process: IMAP IDLE, reconnecting after a dropped
connection, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import time

from clients import gmail_reply, outlook_reply
from harness import Installation, MENTEE, MENTOR, body, wait_until, write_config
from proxy import Proxy


def test_serve_uses_idle_reconnects_and_stops_cleanly(tmp_path, imap_account, smtp_sink):
    with Proxy(imap_account.host, imap_account.port) as proxy:
        # poll_seconds is long: only IDLE (or a reconnect) can make replies arrive quickly.
        config = write_config(tmp_path, imap_account, smtp_sink, imap_port=proxy.port, poll_seconds=120)
        mf = Installation(tmp_path, config, imap_account, smtp_sink)
        mf.enrol()
        mf.cli("pair", MENTEE, MENTOR)
        with mf.serving(tmp_path / "serve.log") as proc:
            smtp_sink.wait_for(2, timeout=20)  # the introductions
            [intro] = mf.sent_to(MENTOR)

            # 1. A reply arrives while the service is IDLE: it is processed at once.
            started = time.monotonic()
            mf.account.append(outlook_reply(intro.raw, "Accept", f"Ada <{MENTOR}>"))
            smtp_sink.wait_for(4, timeout=20)
            assert time.monotonic() - started < 20  # far below poll_seconds = 120
            [_, accepted] = mf.sent_to(MENTEE)

            # 2. The connection is cut; a reply arriving meanwhile is still processed.
            connections = proxy.connections
            assert proxy.drop() >= 1
            mf.account.append(gmail_reply(accepted.raw, "Thank you!", f"Sam <{MENTEE}>"))
            smtp_sink.wait_for(5, timeout=30)
            assert proxy.connections > connections, "the service reconnected"
            note = smtp_sink.messages[-1]
            assert note.rcpt_tos == [MENTEE] and "could not tell for certain what you meant" in body(note)

            # 3. SIGTERM: a clean exit, status 0, nothing left half-done.
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        output = (tmp_path / "serve.log").read_text()
        assert "connection problem" in output and "stopped" in output, output
        status = mf.status()
        assert status["inbound"] == {"processed": 1, "ignored": 1}
        assert set(status["outbox"]) == {"sent"}
        assert len(imap_account.uids("Processed")) == 2


def test_serve_with_the_lmtp_listener_instead_of_imap(tmp_path, imap_account, smtp_sink):
    """The embedded endpoint in production: an MTA hands replies over LMTP."""
    import smtplib

    from harness import set_keys
    from servers import free_ports

    [port] = free_ports()
    config = write_config(tmp_path, imap_account, smtp_sink, poll_seconds=120)
    set_keys(config, "imap", host="")
    set_keys(config, "scheme", address="mentoring@scheme.test")
    (config.parent / "tail.toml").write_text(f'\n[listener]\nenabled = true\nprotocol = "lmtp"\nport = {port}\n')
    config.write_text(config.read_text() + (config.parent / "tail.toml").read_text())
    mf = Installation(tmp_path, config, imap_account, smtp_sink)
    mf.enrol()
    mf.cli("pair", MENTEE, MENTOR)
    with mf.serving(tmp_path / "serve.log") as proc:
        smtp_sink.wait_for(2, timeout=20)
        [intro] = mf.sent_to(MENTOR)
        reply = outlook_reply(intro.raw, "Accept", f"Ada <{MENTOR}>")
        wait_until(lambda: _lmtp_ready(port), 10, "the LMTP listener")
        with smtplib.LMTP("127.0.0.1", port, local_hostname="localhost") as lmtp:
            lmtp.sendmail(MENTOR, [intro.message["Reply-To"].addresses[0].addr_spec], reply)
        smtp_sink.wait_for(4, timeout=20)  # processed at once, not after poll_seconds
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert [p["state"] for p in mf.status()["pairs"]] == ["getting-to-know"]


def _lmtp_ready(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
