"""The professional-society preset, by reply through a real Dovecot and aiosmtpd.

Sam (mentee) chooses Ada from the directory, a first conversation with the society's
questions, ground rules for the scenarios, then each scenario command with the notice
they agreed (LATE, CANCEL, MISSED, FOCUS), a second mentor chosen by name after a
neutral refusal, and an ending confirmed after talking it over.
"""

from __future__ import annotations

import datetime as dt

from clients import gmail_reply, new_email, outlook_reply
from harness import COORDINATOR, body
from journey import UTC, Journey

SAM, ADA, GRACE = "sam@university.test", "ada@hospital.test", "grace@hospital.test"
SAM_FROM, ADA_FROM, GRACE_FROM = f"Sam Lee <{SAM}>", f"Ada Byron <{ADA}>", f"Grace Hopper <{GRACE}>"

PEOPLE = """\
role,name,email,expertise,sector,location,capacity
coordinator,Jo Coordinator,coordinator@scheme.test,,,,
mentor,Dr Ada Byron,ada@hospital.test,Medicines optimisation,Hospital,Leeds,2
mentor,Grace Hopper,grace@hospital.test,Community pharmacy,Community,York,
mentor,Kim Park,kim@hospital.test,Leadership,Industry,Manchester,0
mentee,Sam Lee,sam@university.test,,,,
"""

FORM = """Here are our ground rules:

How we meet: Video call, or the hospital cafe when I'm in Leeds
Frequency: Monthly
Duration: 6 months
Purpose: Prepare for a specialist post
Referral: occupational health for anything about stress
If running late: text each other on our mobiles
Notice to cancel: 24 hours
Missed meetings: a nudge by text to join, even if late
Staying focused: a quiet room, and the agenda shared the day before
Review date: 1 September 2026

Sam"""


def test_professional_society_directory_scenarios_and_a_confirmed_end(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, people=PEOPLE, scheme='rules = "professional-society"\n'
                'support = "Occupational health: 0800 000 000; the staff counselling line: 0800 111 111"\n')
    try:
        _play(j)
    finally:
        j.close()


def _play(j: Journey) -> None:  # noqa: C901 - one story, told in order
    ada, grace = (j.service.store.participant_by_email(a)["id"] for a in (ADA, GRACE))

    # 1. Enrolling: Sam gets the directory: Ada and Grace with their profiles and room;
    #    Kim (capacity 0) is full and not listed.
    assert j.cycle() == [("directory/list", SAM)]
    listing = body(j.email("directory/list", SAM))
    assert "Dr Ada Byron: Number: " + str(ada) in listing and "Expertise: Medicines optimisation" in listing
    assert "Sector: Hospital Location: Leeds Room for: 2 more mentees" in listing
    assert "Grace Hopper" in listing and "Kim Park" not in listing

    # 2. Sam asks for Ada by her number: Ada gets the introduction, saying Sam chose her.
    out = j.reply("directory/list", SAM, gmail_reply, f"REQUEST {ada}\n\nThanks, Sam", SAM_FROM)
    assert out == [("introduction/to-mentor", ADA), ("introduction/to-mentee", SAM)]
    assert "Sam Lee would like you as their mentor" in j.email("introduction/to-mentor", ADA).message["Subject"]
    assert j.pair_state(1) == "introduced"

    # 3. Ada accepts; both get the society's questions for the first conversation.
    out = j.reply("introduction/to-mentor", ADA, outlook_reply, "Accept", ADA_FROM)
    assert out == [("introduction/accepted-mentor", ADA), ("introduction/accepted-mentee", SAM)]
    for who in (ADA, SAM):
        assert "What does mentoring mean to you?" in body(j.email(f"introduction/accepted-{'mentor' if who == ADA else 'mentee'}", who))

    # 4. They meet and both go on; Sam sends the ground rules, Ada agrees.
    j.clock.advance(days=2)
    j.reply("introduction/accepted-mentee", SAM, gmail_reply, "MET yesterday", SAM_FROM)
    j.reply("getting-to-know/decide", SAM, gmail_reply, "Yes", SAM_FROM)
    out = j.reply("getting-to-know/decide", ADA, outlook_reply, "Yes", ADA_FROM)
    assert out == [("agreement/start-mentee", SAM), ("agreement/start-mentor", ADA)]
    start = body(j.email("agreement/start-mentee", SAM))
    assert "If running late:" in start and "Referral:" in start and "no longer being able to take part" in start
    assert j.reply("agreement/start-mentee", SAM, gmail_reply, FORM, SAM_FROM) == [
        ("agreement/proposed", ADA), ("agreement/sent", SAM)]
    out = j.reply("agreement/proposed", ADA, outlook_reply, "Agree", ADA_FROM)
    assert out == [("agreement/agreed", SAM), ("agreement/agreed", ADA), ("agreement/agreed-coordinator", COORDINATOR)]
    assert j.pair_state(1) == "active"

    # 5. The scenarios, each with the notice the pair agreed.
    out = j.write(new_email(j.config.scheme.address, "NEXT 12 March 14:00", ADA_FROM, date=j.now))
    assert out == [("meetings/arranged", SAM), ("meetings/arranged-sender", ADA)]
    j.clock.set(dt.datetime(2026, 3, 12, 14, 5, tzinfo=UTC))
    assert j.write(new_email(j.config.scheme.address, "Running late, 10 minutes", ADA_FROM, date=j.now)) == [
        ("meetings/late", SAM), ("meetings/late-sender", ADA)]
    assert "What you agreed for this: text each other on our mobiles" in body(j.email("meetings/late", SAM))
    j.clock.set(dt.datetime(2026, 3, 12, 14, 30, tzinfo=UTC))
    assert j.write(new_email(j.config.scheme.address, "MISSED", SAM_FROM, date=j.now)) == [
        ("meetings/missed", ADA), ("meetings/missed-sender", SAM)]
    missed = body(j.email("meetings/missed", ADA))
    assert "may just have slipped your mind" in missed and "a nudge by text to join, even if late" in missed
    assert j.write(new_email(j.config.scheme.address, "NEXT 20 March 10:00", SAM_FROM, date=j.now)) == [
        ("meetings/arranged", ADA), ("meetings/arranged-sender", SAM)]
    assert "Your next mentoring meeting" in str(j.email("meetings/arranged", ADA).message["Subject"]), \
        "the missed meeting did not happen: this is a new one, not a move"
    j.clock.set(dt.datetime(2026, 3, 19, 9, 0, tzinfo=UTC))
    assert j.write(new_email(j.config.scheme.address, "Can't make it", SAM_FROM, date=j.now)) == [
        ("meetings/cancelled", ADA), ("meetings/cancelled-sender", SAM)]
    assert "The notice you agreed to give each other: 24 hours" in body(j.email("meetings/cancelled", ADA))
    assert j.write(new_email(j.config.scheme.address, "Focus: a hard week on the wards", SAM_FROM, date=j.now)) == [
        ("meetings/focus", ADA), ("meetings/focus-sender", SAM)]
    focus = body(j.email("meetings/focus", ADA))
    assert "a quiet room, and the agenda shared the day before" in focus and "hard week" not in focus

    # 6. HELP returns the referral contacts first, and the scenario commands.
    assert j.write(new_email(j.config.scheme.address, "HELP", SAM_FROM, date=j.now)) == [("anytime/help", SAM)]
    help_text = body(j.email("anytime/help", SAM))
    assert help_text.index("0800 111 111") < help_text.index("WITHDRAW") and "MISSED" in help_text

    # 7. A second mentor: Grace switches her availability off, so Sam's request by
    #    name is declined neutrally; on again, and the request goes through.
    assert j.write(new_email(j.config.scheme.address, "UNAVAILABLE", GRACE_FROM, date=j.now)) == [
        ("anytime/availability", GRACE)]
    assert j.write(new_email(j.config.scheme.address, "Request Grace Hopper", SAM_FROM, date=j.now)) == [
        ("directory/not-available", SAM)]
    assert "not able to take on a new mentee at the moment" in body(j.email("directory/not-available", SAM))
    j.write(new_email(j.config.scheme.address, "AVAILABLE", GRACE_FROM, date=j.now))
    assert j.write(new_email(j.config.scheme.address, "REQUEST grace", SAM_FROM, date=j.now)) == [
        ("introduction/to-mentor", GRACE), ("introduction/to-mentee", SAM)]
    assert [p["state"] for p in j.service.store.pairs(SAM)] == ["active", "introduced"], "two mentors at once"
    assert j.service.store.participant(grace)["available"] == 1

    # 8. Ending, confirmed after talking it over: the first END only asks.
    agreed = j.email("agreement/agreed", SAM)
    assert j.write(gmail_reply(agreed.raw, "END", SAM_FROM, date=j.now)) == [("ending/confirm-end", SAM)]
    assert "talk it over with each other first" in body(j.email("ending/confirm-end", SAM))
    assert j.pair_state(1) == "active"
    out = j.reply("ending/confirm-end", SAM, gmail_reply, "END", SAM_FROM)
    assert out == [("ending/you-ended", SAM), ("ending/partner-ended", ADA),
                   ("ending/ended-coordinator", COORDINATOR), ("ending/record", SAM), ("ending/record", ADA)]
    assert j.pair_state(1) == "ended" and j.pair_state(2) == "introduced"

    # What the coordinators received: dates and states, never the pair's words.
    for (_day, template, to, _subject) in j.log:
        if to == COORDINATOR:
            text = j.email(template, to).raw.decode("utf-8", "replace")
            assert "hard week" not in text and "Prepare for a specialist post" not in text
    # The journey's emails, in order (for the record of this preset's path).
    (j.config_path.parent / "emails.txt").write_text(
        "\n".join(f"{d}  {t:34} {to:26} {s}" for d, t, to, s in j.log) + "\n", encoding="utf-8")
