"""The global-health-trials preset, by reply through a real Dovecot and aiosmtpd.

Ada (London) mentors Joseph (Kampala): a 30-minute getting-to-know-you meeting, the
agreement with the scheme's categories, a meeting arranged in Kampala time and shown
to Ada in London time, a broken confidence reported to the scheme team only, and the
twice-a-year commitment: one meeting in the first year flags the pair (the scheme
team told, the mentor reminded); two in the second lift the flag, with no email.
"""

from __future__ import annotations

import datetime as dt

from clients import gmail_reply, new_email, outlook_reply
from harness import COORDINATOR, body
from journey import UTC, Journey
from mailflow.status import gather

JOSEPH, ADA = "joseph@mak.test", "ada@hospital.test"
JOSEPH_FROM, ADA_FROM = f"Joseph Okello <{JOSEPH}>", f"Ada Byron <{ADA}>"
SECRET = "BREACHCANARY my manager heard about our talk"

PEOPLE = """\
role,name,email,timezone
coordinator,Jo Coordinator,coordinator@scheme.test,Europe/London
mentor,Dr Ada Byron,ada@hospital.test,Europe/London
mentee,Joseph Okello,joseph@mak.test,Africa/Kampala
"""

FORM = """Our agreement:

Confidentiality: what we discuss stays between us; general feedback to the scheme team is fine
Frequency: every six months
Timing: Tuesday afternoons in London, evenings in Kampala
Meeting length: 45 minutes
Communication: Teams, and email between meetings
Short-term objectives:
1. Write the statistical analysis plan for my trial by June
Long-term objectives:
1. Lead a trial as chief investigator
Boundaries and conflicts: no help with job applications at my own unit
Review date: 1 March 2028

Joseph"""


def at(*args) -> dt.datetime:
    return dt.datetime(*args, 9, 0, tzinfo=UTC)


def test_global_health_trials_time_zones_confidences_and_the_twice_a_year_flag(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, people=PEOPLE, start=at(2026, 3, 2),
                scheme='rules = "global-health-trials"\n')
    try:
        _play(j)
    finally:
        j.close()


def _play(j: Journey) -> None:  # noqa: C901 - one story, told in order
    j.service.pair(JOSEPH, ADA)
    assert j.cycle() == [("introduction/to-mentor", ADA), ("introduction/to-mentee", JOSEPH)]

    # 1. A 30-minute getting-to-know-you meeting, across time zones.
    assert j.reply("introduction/to-mentor", ADA, outlook_reply, "Accept", ADA_FROM) == [
        ("introduction/accepted-mentor", ADA), ("introduction/accepted-mentee", JOSEPH)]
    accepted = body(j.email("introduction/accepted-mentee", JOSEPH))
    assert "30-minute getting-to-know-you session" in accepted and "your own time zone" in accepted
    j.until(at(2026, 3, 4))
    j.reply("introduction/accepted-mentee", JOSEPH, gmail_reply, "MET yesterday", JOSEPH_FROM)
    j.reply("getting-to-know/decide", JOSEPH, gmail_reply, "Yes", JOSEPH_FROM)
    assert j.reply("getting-to-know/decide", ADA, outlook_reply, "Yes", ADA_FROM) == [
        ("agreement/start-mentee", JOSEPH), ("agreement/start-mentor", ADA)]

    # 2. The agreement, with the scheme's categories.
    start = body(j.email("agreement/start-mentee", JOSEPH))
    for label in ("Confidentiality:", "Timing:", "Communication:", "Feedback:", "Short-term objectives:",
                  "Long-term objectives:", "Tracking progress:", "Boundaries and conflicts:", "Review date:"):
        assert label in start, label
    j.reply("agreement/start-mentee", JOSEPH, gmail_reply, FORM, JOSEPH_FROM)
    out = j.reply("agreement/proposed", ADA, outlook_reply, "Agree", ADA_FROM)
    assert out == [("agreement/agreed", JOSEPH), ("agreement/agreed", ADA),
                   ("agreement/agreed-coordinator", COORDINATOR)]
    assert j.pair_state() == "active"

    # 3. Joseph arranges a meeting in Kampala time; Ada sees it in London time.
    out = j.write(new_email(j.config.scheme.address, "NEXT 10 March 15:00", JOSEPH_FROM, date=j.now))
    assert out == [("meetings/arranged", ADA), ("meetings/arranged-sender", JOSEPH)]
    assert "Tuesday 10 March 2026 at 12:00" in body(j.email("meetings/arranged", ADA))
    assert "Tuesday 10 March 2026 at 15:00" in body(j.email("meetings/arranged-sender", JOSEPH))
    j.until(at(2026, 3, 11))
    j.write(new_email(j.config.scheme.address, "MET 10 March 45", ADA_FROM, date=j.now))

    # 4. A broken confidence: to the scheme team only, never to the partner.
    out = j.write(new_email(j.config.scheme.address, f"Broken confidence: {SECRET}", JOSEPH_FROM, date=j.now))
    assert out == [("anytime/concern-coordinator", COORDINATOR), ("anytime/concern-received", JOSEPH)]
    assert "A broken confidence reported by Joseph Okello" in str(
        j.email("anytime/concern-coordinator", COORDINATOR).message["Subject"])
    assert SECRET in body(j.email("anytime/concern-coordinator", COORDINATOR))
    assert "confidentiality" in gather(j.service)["pairs"][0]["flags"]
    assert all(SECRET not in j.email(t, to).raw.decode("utf-8", "replace")
               for _d, t, to, _s in j.log if to == ADA)

    # 5. A year after the agreement: one meeting, below the two the scheme asks for.
    #    The pair is flagged, the scheme team told and the mentor reminded.
    out = j.until(at(2026, 3, 5) + dt.timedelta(days=365, hours=1))
    assert ("lifecycle/flag-coordinators", COORDINATOR) in out and ("meetings/below-commitment", ADA) in out
    flagged = body(j.email("lifecycle/flag-coordinators", COORDINATOR))
    assert "flagged: below-commitment" in flagged and "1 meeting in the last 365 days" in flagged
    assert "at least 2 times in every 365 days" in body(j.email("meetings/below-commitment", ADA))
    assert "below-commitment" in gather(j.service)["pairs"][0]["flags"]

    # 6. The second year: two meetings. At the next check the flag is lifted, and nobody is emailed about it.
    for when, line in ((at(2026, 6, 1), "MET 1 June 60"), (at(2026, 11, 2), "MET 2 November 45")):
        j.until(when + dt.timedelta(days=365))
        j.write(new_email(j.config.scheme.address, line.replace("2026", "2027"), ADA_FROM, date=j.now))
    assert j.service.store.facts(1)["meetings"] == 3
    out = j.until(at(2026, 3, 5) + dt.timedelta(days=730, hours=1))
    assert ("meetings/below-commitment", ADA) not in out
    assert "below-commitment" not in gather(j.service)["pairs"][0]["flags"]
    below = [d for d, t, to, _s in j.log if t == "meetings/below-commitment"]
    assert below == ["2027-03-05"], below
