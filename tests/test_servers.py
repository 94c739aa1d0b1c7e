"""The test servers behave like the real thing mailflow will meet."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from servers import Account, Dovecot, SmtpSink

pytestmark = pytest.mark.servers

RAW = b"From: mentee@example.test\r\nTo: scheme@example.test\r\nSubject: Re: check-in\r\n\r\nAll good.\r\n"


def send(sink: SmtpSink, to: list[str], raw: bytes = RAW) -> dict:
    # local_hostname: smtplib otherwise calls socket.getfqdn(), which can wait on DNS.
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10) as smtp:
        return smtp.sendmail("scheme@example.test", to, raw)


# region Dovecot


def assert_login_refused(account: Account, username: str, password: str) -> None:
    imap = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    try:
        with pytest.raises(LoginError):
            imap.login(username, password)
    finally:
        imap.shutdown()


def test_login_works_and_a_wrong_password_is_refused(imap_account: Account):
    with imap_account.client() as imap:
        assert b"MOVE" in imap.capabilities()
    assert_login_refused(imap_account, imap_account.username, imap_account.password + "x")


def test_a_user_added_after_a_login_can_log_in_at_once(dovecot: Dovecot):
    first = dovecot.add_user()
    first.uids()  # the auth process has read the passwd-file now
    second = dovecot.add_user()  # same second, same file: Dovecot must notice anyway
    assert second.uids() == []
    with pytest.raises(ValueError):
        dovecot.add_user(second.username)


def test_peeking_at_an_appended_message_leaves_it_unseen(imap_account: Account):
    uid = imap_account.append(RAW)
    with imap_account.client() as imap:
        imap.select_folder("INBOX")
        got = imap.fetch([uid], ["BODY.PEEK[]"])
    assert got[uid][b"BODY[]"] == RAW
    assert "\\Seen" not in imap_account.flags(uid)
    assert imap_account.fetch_all() == {uid: RAW}


def test_append_keeps_flags_and_append_many_returns_uids(imap_account: Account):
    uid = imap_account.append(RAW, flags=["\\Seen"])
    assert imap_account.flags(uid) == {"\\Seen"}
    assert imap_account.append_many([RAW, RAW, RAW]) == [uid + 1, uid + 2, uid + 3]


def test_move_to_processed_and_create_other_folders(imap_account: Account):
    assert imap_account.folders() == ["INBOX", "Processed"]
    uid = imap_account.append(RAW)
    with imap_account.client() as imap:
        imap.select_folder("INBOX")
        imap.move([uid], "Processed")
        imap.create_folder("Quarantine")
    assert imap_account.uids() == []
    assert list(imap_account.fetch_all("Processed").values()) == [RAW]
    assert imap_account.folders() == ["INBOX", "Processed", "Quarantine"]


def test_each_account_sees_only_its_own_mail(dovecot: Dovecot):
    alice, bob = dovecot.add_user(), dovecot.add_user()
    alice.append(RAW)
    assert len(alice.uids()) == 1
    assert bob.uids() == []
    assert_login_refused(bob, alice.username, bob.password)


def test_idle_reports_an_append_from_another_connection(imap_account: Account):
    with imap_account.client() as imap:
        imap.select_folder("INBOX")
        imap.idle()
        start = time.monotonic()
        imap_account.append(RAW)
        responses = []
        # Dovecot pushes about 0.5 s after the change; 10 s is a behaviour check.
        while time.monotonic() - start < 10 and not any(r[1] == b"EXISTS" for r in responses):
            responses += imap.idle_check(timeout=1)
        imap.idle_done()
    assert (1, b"EXISTS") in responses


def test_imaps_trusts_the_cafile_and_the_default_context_refuses(imap_account: Account):
    with imap_account.client(tls=True) as imap:
        assert imap.folder_exists("Processed")
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(imap_account.host, imap_account.imaps_port, ssl=True, timeout=10)


def test_starttls_on_the_plain_port(imap_account: Account):
    imap = IMAPClient(imap_account.host, imap_account.port, ssl=False, timeout=10)
    imap.starttls(ssl.create_default_context(cafile=imap_account.cafile))
    imap.login(imap_account.username, imap_account.password)
    imap.logout()


# endregion
# region SMTP sink


def test_sink_receives_a_message_sent_with_smtplib(smtp_sink: SmtpSink):
    assert send(smtp_sink, ["mentee@example.test"]) == {}
    [mail] = smtp_sink.wait_for(1)
    assert mail.mail_from == "scheme@example.test"
    assert mail.rcpt_tos == ["mentee@example.test"]
    assert mail.raw.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")
    assert isinstance(mail.message, EmailMessage)
    assert mail.message["Subject"] == "Re: check-in"
    assert (mail.auth_login, mail.tls) == (None, False)


def test_fail_next_451_then_the_retry_succeeds(smtp_sink: SmtpSink):
    smtp_sink.fail_next(451)
    with pytest.raises(smtplib.SMTPDataError) as failure:
        send(smtp_sink, ["mentee@example.test"])
    assert failure.value.smtp_code == 451
    assert smtp_sink.messages == []
    send(smtp_sink, ["mentee@example.test"])
    assert len(smtp_sink.wait_for(1)) == 1


def test_fail_next_on_rcpt_for_several_commands(smtp_sink: SmtpSink):
    smtp_sink.fail_next(452, times=2, command="RCPT")
    refused = send(smtp_sink, ["a@example.test", "b@example.test", "c@example.test"])
    assert {addr: code for addr, (code, _) in refused.items()} == {
        "a@example.test": 452, "b@example.test": 452}
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["c@example.test"]


def test_refuse_recipient_refuses_that_recipient_only(smtp_sink: SmtpSink):
    smtp_sink.refuse_recipient("Gone@Example.test")
    refused = send(smtp_sink, ["gone@example.test", "mentee@example.test"])
    assert refused["gone@example.test"][0] == 550
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["mentee@example.test"]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtp_sink, ["gone@example.test"])


def test_wait_for_says_how_many_arrived(smtp_sink: SmtpSink):
    send(smtp_sink, ["mentee@example.test"])
    with pytest.raises(AssertionError, match="expected 2 message.*got 1"):
        smtp_sink.wait_for(2, timeout=0.2)
    smtp_sink.clear()
    assert smtp_sink.messages == []


def test_auth_is_required_and_recorded():
    with SmtpSink(auth=("mailflow", "s3cret")) as sink:
        with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                smtp.sendmail("scheme@example.test", ["mentee@example.test"], RAW)
            assert refused.value.smtp_code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("mailflow", "wrong")
            smtp.login("mailflow", "s3cret")
            smtp.sendmail("scheme@example.test", ["mentee@example.test"], RAW)
        assert sink.wait_for(1)[0].auth_login == "mailflow"


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_trusts_the_cafile_and_the_default_context_refuses(mode: str):
    with SmtpSink(tls=mode) as sink:
        def connect(context: ssl.SSLContext) -> smtplib.SMTP:
            if mode == "implicit":
                return smtplib.SMTP_SSL(sink.host, sink.port, local_hostname="localhost",
                                        context=context, timeout=10)
            smtp = smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10)
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
            return smtp

        with pytest.raises(ssl.SSLCertVerificationError):
            connect(ssl.create_default_context())
        with connect(sink.ssl_context()) as smtp:
            smtp.sendmail("scheme@example.test", ["mentee@example.test"], RAW)
        assert sink.wait_for(1)[0].tls


# endregion
