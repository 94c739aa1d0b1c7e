"""The installed ``mailflow`` command, run in child processes under ``faketime``
(Debian's libfaketime), plays a shorter relationship across four months: nothing
depends on the test clock. Dovecot and the SMTP sink run at the real time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from clients import gmail_reply, outlook_reply
from harness import MENTEE, MENTOR, Installation

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"


def faketime() -> str:
    found = shutil.which("faketime")
    if found is None:
        pytest.fail("faketime is not installed (Debian package faketime; .ci/run installs it)")
    return found


class FakeTimeCli:
    def __init__(self, mf: Installation):
        self.mf = mf
        self.exe = str(Path(sys.executable).with_name("mailflow"))
        self.seen = 0

    def run(self, at: str, *args: str) -> str:
        env = {**os.environ, **self.mf.env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        proc = subprocess.run([faketime(), at, self.exe, "--config", str(self.mf.config), *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, f"mailflow {' '.join(args)} at {at}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def cycle(self, at: str) -> list[tuple[str, str]]:
        out = self.run(at, "run-once")
        sent = int(out.split("sent ")[1].split(",")[0])
        mails = self.mf.sink.wait_for(self.seen + sent)[self.seen:] if sent else []
        self.seen += sent
        self.last = {(str(m.message["X-Mailflow-Template"]), r): m for m in mails for r in m.rcpt_tos}
        self.all = {**getattr(self, "all", {}), **self.last}
        return [(str(m.message["X-Mailflow-Template"]), r) for m in mails for r in m.rcpt_tos]

    def reply(self, template: str, to: str, builder, answer: str, sender: str, at: str) -> None:
        original = self.all[(template, to)]
        self.mf.account.append(builder(original.raw, answer, sender, date=parsedate_to_datetime(_rfc(at))))


def _rfc(at: str) -> str:
    import datetime as dt
    from email.utils import format_datetime

    return format_datetime(dt.datetime.fromisoformat(at).replace(tzinfo=dt.timezone.utc))


def test_a_relationship_across_months_under_faketime(mf: Installation):
    cli = FakeTimeCli(mf)
    assert "state introduced" in cli.run("2027-01-04 09:00:00", "pair", MENTEE, MENTOR)
    assert cli.cycle("2027-01-04 09:01:00") == [("introduction/to-mentor", MENTOR), ("introduction/to-mentee", MENTEE)]
    cli.reply("introduction/to-mentor", MENTOR, outlook_reply, "Accept", ADA, "2027-01-05 10:00:00")
    assert cli.cycle("2027-01-05 10:00:00") == [("introduction/accepted-mentor", MENTOR),
                                                 ("introduction/accepted-mentee", MENTEE)]

    # A week after ACCEPT with no MET: both are asked whether to go on.
    assert cli.cycle("2027-01-12 11:00:00") == [("getting-to-know/decide", MENTEE), ("getting-to-know/decide", MENTOR)]
    cli.reply("getting-to-know/decide", MENTEE, gmail_reply, "Yes", SAM, "2027-01-12 12:00:00")
    cli.reply("getting-to-know/decide", MENTOR, outlook_reply, "Yes please", ADA, "2027-01-12 12:05:00")
    assert cli.cycle("2027-01-12 12:10:00") == [("getting-to-know/yes-waiting", MENTEE),
                                                 ("agreement/start-mentee", MENTEE), ("agreement/start-mentor", MENTOR)]
    form = ("Location: Video\nFrequency: monthly\nMeeting length: 1 hour\nDuration: 6 months\n"
            "Objectives:\n1. Publish my audit\nReview date: 5 April 2027")
    cli.reply("agreement/start-mentee", MENTEE, gmail_reply, form, SAM, "2027-01-13 09:00:00")
    assert cli.cycle("2027-01-13 09:00:00") == [("agreement/proposed", MENTOR), ("agreement/sent", MENTEE)]
    cli.reply("agreement/proposed", MENTOR, outlook_reply, "AGREE", ADA, "2027-01-14 09:00:00")
    assert cli.cycle("2027-01-14 09:00:00")[:2] == [("agreement/agreed", MENTEE), ("agreement/agreed", MENTOR)]

    # A month later, the check-in; two weeks before the review, the reminders; then the review.
    assert cli.cycle("2027-02-13 10:00:00") == [("meetings/checkin", MENTEE)]
    cli.reply("meetings/checkin", MENTEE, gmail_reply, "MET 10 February 60", SAM, "2027-02-13 11:00:00")
    assert cli.cycle("2027-02-13 11:00:00") == [("meetings/logged", MENTEE)]
    out = cli.cycle("2027-03-22 10:00:00")
    assert ("meetings/checkin", MENTEE) in out, "a month after the last answer"
    assert ("review/reminder", MENTEE) in out and ("review/reminder", MENTOR) in out
    out = cli.cycle("2027-04-05 10:00:00")
    assert ("review/now", MENTEE) in out and ("review/now", MENTOR) in out

    # Ada ends it at the review.
    cli.reply("review/now", MENTOR, outlook_reply, "END", ADA, "2027-04-06 09:00:00")
    out = cli.cycle("2027-04-06 09:00:00")
    assert out[:2] == [("ending/you-ended", MENTOR), ("ending/partner-ended", MENTEE)]

    status = json.loads(cli.run("2027-04-06 09:05:00", "status", "--json"))
    [pair] = status["pairs"]
    assert pair["state"] == "ended" and pair["ended_at"].startswith("2027-04-06")
    assert pair["meetings"] == 1 and pair["minutes"] == 60
    assert pair["agreement"]["in_force"] == 1 and pair["review_date"] == "2027-04-05"
