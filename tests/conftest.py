"""Shared fixtures: a real Dovecot and a real aiosmtpd sink (see servers.py).

Nothing here skips. A server that cannot start is a test error with the reason, and
with ``--fail-on-skip`` (or ``MAILFLOW_FAIL_ON_SKIP=1``, set by ``.ci/run``) any skip
from anywhere fails the test that skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness import Installation, write_config
from servers import Account, Dovecot, SmtpSink


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fail-on-skip", action="store_true",
        default=os.environ.get("MAILFLOW_FAIL_ON_SKIP") == "1",
        help="report every skipped test as failed (default from MAILFLOW_FAIL_ON_SKIP=1)",
    )
    # The stress proofs in tests/stress/: the defaults are the short versions CI runs.
    group = parser.getgroup("mailflow stress (tests/stress/, scripts/stress)")
    group.addoption("--kills", type=int, default=10, help="SIGKILLs in the kill test (CI: 10)")
    group.addoption("--replies", type=int, default=1000, help="replies in the kill test's backlog (CI: 1000)")
    group.addoption("--fuzz-messages", type=int, default=1000, help="generated messages in the fuzz test (CI: 1000)")
    group.addoption("--seed", type=int, default=None, help="random seed of the kill test (default: a new one)")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot per session (stopping one takes about a second), with TLS on."""
    with Dovecot(tls=True) as server:
        yield server


@pytest.fixture
def imap_account(dovecot: Dovecot) -> Account:
    """A fresh user on the session's Dovecot, so no test sees another's mail."""
    return dovecot.add_user()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A fresh SMTP sink for this test, without AUTH or TLS."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def mf(tmp_path, imap_account: Account, smtp_sink: SmtpSink) -> Installation:
    """A mailflow installation on the test's Dovecot account and SMTP sink, with the
    people of ``harness.PEOPLE`` enrolled."""
    inst = Installation(tmp_path, write_config(tmp_path, imap_account, smtp_sink), imap_account, smtp_sink)
    inst.enrol()
    return inst


def _forbid_skip(report: pytest.TestReport | pytest.CollectReport, config: pytest.Config) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and config.getoption("fail_on_skip"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but this run forbids skips (--fail-on-skip): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    _forbid_skip(outcome.get_result(), collector.config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    _forbid_skip(report, item.config)
    server = getattr(item, "funcargs", {}).get("dovecot")
    if report.failed and server is not None:
        report.sections.append(("dovecot log (last 30 lines)", server.log_text(30)))
