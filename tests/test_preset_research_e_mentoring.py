"""The research-e-mentoring preset, by reply through a real Dovecot and aiosmtpd.

The trust pairs Sam with Ada: goals, the frequency and form of contact, boundaries
and a review date agreed at the start; at the review both decide to renew on
revised terms; later Ada ends it, after talking it over (END, then END again), and
the trust is told. A second introduction, unanswered, lapses after the trust's
longer window, and the trust is told of that ending too.
"""

from __future__ import annotations

import datetime as dt

from clients import gmail_reply, outlook_reply
from harness import COORDINATOR, body
from journey import UTC, Journey

SAM, ADA, KIM, GRACE = "sam@university.test", "ada@hospital.test", "kim@university.test", "grace@hospital.test"
SAM_FROM, ADA_FROM = f"Sam Lee <{SAM}>", f"Ada Byron <{ADA}>"

PEOPLE = """\
role,name,email
coordinator,Beth Allen,coordinator@scheme.test
mentor,Dr Ada Byron,ada@hospital.test
mentor,Grace Hopper,grace@hospital.test
mentee,Sam Lee,sam@university.test
mentee,Kim Park,kim@university.test
"""

FORM = """Getting started:

Goals:
1. Publish my first practice research paper
2. Plan a PhD application
Expectations: honest feedback on drafts
Frequency of contact: every two weeks
Form of contact: email, and a video call each month
Boundaries: no calls at work, please
Review date: 1 June 2026

Sam"""

REVISED = """Frequency of contact: monthly
Review date: 1 December 2026"""


def at(*args) -> dt.datetime:
    return dt.datetime(*args, 9, 0, tzinfo=UTC)


def test_research_e_mentoring_review_renewal_and_a_talked_over_ending(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, people=PEOPLE, start=at(2026, 3, 2),
                scheme='rules = "research-e-mentoring"\n')
    try:
        _play(j)
    finally:
        j.close()


def _play(j: Journey) -> None:  # noqa: C901 - one story, told in order
    j.service.pair(SAM, ADA)
    j.service.pair(KIM, GRACE)
    assert j.cycle() == [("introduction/to-mentor", ADA), ("introduction/to-mentee", SAM),
                         ("introduction/to-mentor", GRACE), ("introduction/to-mentee", KIM)]
    assert "possible e-mentee" in str(j.email("introduction/to-mentor", ADA).message["Subject"])
    assert "cannot reimburse any expenditure" in body(j.email("introduction/to-mentor", ADA))

    # 1. Getting started: goals, contact, boundaries and a review date, agreed.
    j.reply("introduction/to-mentor", ADA, outlook_reply, "Accept", ADA_FROM)
    j.until(at(2026, 3, 5))
    j.reply("introduction/accepted-mentee", SAM, gmail_reply, "MET yesterday", SAM_FROM)
    j.reply("getting-to-know/decide", SAM, gmail_reply, "Yes", SAM_FROM)
    assert j.reply("getting-to-know/decide", ADA, outlook_reply, "Yes", ADA_FROM) == [
        ("agreement/start-mentee", SAM), ("agreement/start-mentor", ADA)]
    start = body(j.email("agreement/start-mentee", SAM))
    for label in ("Goals:", "Frequency of contact:", "Form of contact:", "Boundaries:", "Review date:",
                  "Winding down:"):
        assert label in start, label
    assert j.reply("agreement/start-mentee", SAM, gmail_reply, FORM, SAM_FROM) == [
        ("agreement/proposed", ADA), ("agreement/sent", SAM)]
    assert j.reply("agreement/proposed", ADA, outlook_reply, "Agree", ADA_FROM)[:2] == [
        ("agreement/agreed", SAM), ("agreement/agreed", ADA)]
    assert j.service.store.facts(1)["review_date"] == "2026-06-01"

    # 2. The trust's longer window: Grace never answers; reminders at 10 and 17 days,
    #    then at 21 the introduction lapses and the trust is told.
    for day in (12, 19, 23):
        j.until(at(2026, 3, day))
    lapsed = [(d, t, to) for d, t, to, _s in j.log if to in (GRACE, KIM, COORDINATOR) and t.startswith("introduction/")]
    assert lapsed[-5:] == [("2026-03-12", "introduction/reminder", GRACE),
                           ("2026-03-19", "introduction/last-reminder", GRACE),
                           ("2026-03-23", "introduction/expired-mentee", KIM),
                           ("2026-03-23", "introduction/expired-mentor", GRACE),
                           ("2026-03-23", "introduction/expired-coordinator", COORDINATOR)], lapsed

    # 3. The review date agreed at the outset: both decide to renew on revised terms.
    out = j.until(at(2026, 6, 1))
    assert ("review/now", SAM) in out and ("review/now", ADA) in out
    assert j.reply("review/now", SAM, gmail_reply, "Continue", SAM_FROM) == [("review/continue-waiting", SAM)]
    assert j.reply("review/now", ADA, outlook_reply, "Continue", ADA_FROM) == [
        ("review/renew-mentee", SAM), ("review/renew-mentor", ADA)]
    assert j.reply("review/renew-mentee", SAM, gmail_reply, REVISED, SAM_FROM) == [
        ("agreement/proposed", ADA), ("agreement/sent", SAM)]
    out = j.reply("agreement/proposed", ADA, outlook_reply, "Agree", ADA_FROM)
    assert out == [("agreement/agreed", SAM), ("agreement/agreed", ADA), ("review/renewed-coordinator", COORDINATOR)]
    assert j.pair_state() == "active" and j.service.store.facts(1)["review_date"] == "2026-12-01"

    # 4. Ada ends it after talking it over: the first END only asks; the second ends it,
    #    and the trust is told that it ended (never why).
    agreed = j.email("agreement/agreed", ADA)
    assert j.write(outlook_reply(agreed.raw, "END - CANARYREASON my new post", ADA_FROM, date=j.now)) == [
        ("ending/confirm-end", ADA)]
    assert j.pair_state() == "active"
    out = j.reply("ending/confirm-end", ADA, outlook_reply, "End", ADA_FROM)
    assert out == [("ending/you-ended", ADA), ("ending/partner-ended", SAM), ("ending/ended-coordinator", COORDINATOR),
                   ("ending/record", SAM), ("ending/record", ADA)]
    assert j.pair_state() == "ended"
    trust = [t for _d, t, to, _s in j.log if to == COORDINATOR]
    assert "ending/ended-coordinator" in trust and "introduction/expired-coordinator" in trust
    assert all("CANARYREASON" not in j.email(t, COORDINATOR).raw.decode("utf-8", "replace") for t in trust)
    assert "CANARYREASON" not in j.email("ending/partner-ended", SAM).raw.decode("utf-8", "replace")
