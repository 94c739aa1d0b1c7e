"""The clinical-training preset, by reply through a real Dovecot and aiosmtpd.

Two trainees choose mentors from the mentor database. Sam's examiner is refused
(by `mailflow pair`, which names the conflict, and by REQUEST, neutrally, with the
reason to the coordinators only); Sam asks Ada, they meet, Sam decides within the
two weeks and only then is Ada asked to commit; a contract with a trial period.
Kim meets Grace and does not decide in two weeks: the approach lapses. Kim, still
without a mentor, is reminded and the coordinators are told at the end of the
window; the coordinators are asked to re-check the registrations; Ada is
restricted and restored. The tutor and the examiner allocators get the list of
pairs each time it changes, and nothing else.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from clients import gmail_reply, new_email, outlook_reply
from harness import COORDINATOR, body
from journey import UTC, Journey
from mailflow.cli import main
from mailflow.enrol import parse_csv
from mailflow.errors import CsvError
from mailflow.status import gather

SAM, KIM = "sam@university.test", "kim@university.test"
ADA, TOM, GRACE = "ada@hospital.test", "tom@uni.test", "grace@hospital.test"
TUTOR, ALLOCATIONS = "tutor@uni.test", "allocations@uni.test"
SAM_FROM, KIM_FROM = f"Sam Lee <{SAM}>", f"Kim Park <{KIM}>"
ADA_FROM, GRACE_FROM = f"Ada Byron <{ADA}>", f"Grace Hopper <{GRACE}>"

PEOPLE = """\
role,name,email,registration,approach,specialty,location,conflicts,capacity
coordinator,Claire Tutor,coordinator@scheme.test,,,,,,
mentor,Dr Ada Byron,ada@hospital.test,HCPC PYL12345,Systemic,Adult mental health,Lancaster,,1
mentor,Dr Tom Marsh,tom@uni.test,HCPC PYL99999,CBT,Older adults,Preston,examiner:sam@university.test,
mentor,Dr Grace Hopper,grace@hospital.test,UKCP 2009123456,Psychodynamic,Children,Blackpool,,
mentee,Sam Lee,sam@university.test,,,,,,
mentee,Kim Park,kim@university.test,,,,,,
"""

CONTRACT = """Our contract:

Location: the Lancaster base, or Teams
Frequency: every six weeks
Duration: until the end of training
Length of meetings: an hour
Focus and aims:
1. The impact of training on me
2. Reflecting on mistakes in clinical work
Review date: 1 September 2026
Trial period ends: 30 April 2026
Confidentiality: stays between us unless there is a risk

Sam"""


def at(*args) -> dt.datetime:
    return dt.datetime(*args, 9, 0, tzinfo=UTC)


def test_clinical_training_registration_is_required_of_mentors(tmp_path, smtp_sink):
    j = Journey(tmp_path, None, smtp_sink, people=PEOPLE, scheme='rules = "clinical-training"\n')
    try:
        j.cycle()
        before = j.service.store.scalar("SELECT count(*) FROM participants")
        bad = PEOPLE + "mentor,Dr No Registration,noreg@hospital.test,,CBT,,,,\nmentor,Dr Typo,typo@h.test,12345,,,,,\n"
        with pytest.raises(CsvError) as err:
            j.service.enrol(parse_csv(bad, "mentors.csv"))
        assert "mentors.csv:9: registration '12345' is not the professional body and the number" in str(err.value)
        with pytest.raises(CsvError) as err:
            j.service.enrol(parse_csv(PEOPLE + "mentor,Dr No Registration,noreg@hospital.test,,CBT,,,,\n",
                                      "mentors.csv"))
        assert str(err.value).startswith("mentors.csv:8: mentor noreg@hospital.test has no registration")
        assert "nothing from the file was applied" in str(err.value)
        assert j.service.store.scalar("SELECT count(*) FROM participants") == before
    finally:
        j.close()


def test_clinical_training_two_trainees_find_mentors(tmp_path, imap_account, smtp_sink):
    j = Journey(tmp_path, imap_account, smtp_sink, people=PEOPLE, start=at(2026, 3, 2),
                scheme=f'rules = "clinical-training"\npair_list_to = ["{TUTOR}", "{ALLOCATIONS}"]\n')
    try:
        _play(j)
    finally:
        j.close()


def _cli(j: Journey, *args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["--config", str(j.config_path), *args],
                                env={"MF_TEST_IMAP_PASSWORD": j.account.password}, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def _play(j: Journey) -> None:  # noqa: C901 - one story, told in order
    store = j.service.store
    ada, tom, grace = (store.participant_by_email(a)["id"] for a in (ADA, TOM, GRACE))

    # 1. Enrolling: each trainee gets the mentor database. Tom examines Sam, so he is
    #    not listed for Sam; he is for Kim.
    assert j.cycle() == [("directory/list", SAM), ("directory/list", KIM)]
    for_sam, for_kim = body(j.email("directory/list", SAM)), body(j.email("directory/list", KIM))
    assert "Dr Ada Byron: Number: " in for_sam and "Approach: Systemic" in for_sam and "Tom" not in for_sam
    assert "Dr Tom Marsh" in for_kim
    assert {p["email"]: p["state"] for p in gather(j.service)["participants"] if p["role"] == "mentee"} == {
        SAM: "looking", KIM: "looking"}

    # 2. The conflict: `mailflow pair` refuses, names it and exits non-zero; Sam's
    #    REQUEST for Tom is declined neutrally, and the reason goes to the coordinators only.
    out = _cli(j, "pair", SAM, TOM, expect=1)
    assert "conflict of interest: examiner" in out and "tom@uni.test" in out
    out = j.write(new_email(j.config.scheme.address, "Request Dr Tom Marsh", SAM_FROM, date=j.now))
    assert out == [("directory/not-available", SAM), ("directory/conflict-coordinator", COORDINATOR)]
    assert "examiner" not in body(j.email("directory/not-available", SAM)).lower()
    assert "conflict of interest: examiner" in body(j.email("directory/conflict-coordinator", COORDINATOR))
    assert store.scalar("SELECT count(*) FROM pairs") == 0

    # 3. Sam asks Ada, Kim asks Grace: each mentor is asked to meet (no commitment yet);
    #    the tutor and the allocators get the list of pairs.
    out = j.reply("directory/list", SAM, gmail_reply, f"REQUEST {ada}", SAM_FROM)
    assert out == [("introduction/to-mentor", ADA), ("introduction/to-mentee", SAM), ("pairs/list", TUTOR),
                   ("pairs/list", ALLOCATIONS)]
    assert "not yet a commitment" not in body(j.email("introduction/to-mentor", ADA))
    assert "no one is committing to anything" in body(j.email("introduction/to-mentor", ADA))
    listed = body(j.email("pairs/list", TUTOR))
    assert "Sam Lee with Dr Ada Byron: Stage: approaching Since: Monday 2 March 2026" in listed
    out = j.reply("directory/list", KIM, gmail_reply, "REQUEST Grace Hopper", KIM_FROM)
    assert out[:2] == [("introduction/to-mentor", GRACE), ("introduction/to-mentee", KIM)]
    assert "Kim Park with Dr Grace Hopper" in body(j.email("pairs/list", ALLOCATIONS))

    # 4. Both mentors agree to meet: the list does not change (same stage), so nothing goes out to the tutor.
    assert j.reply("introduction/to-mentor", ADA, outlook_reply, "Accept", ADA_FROM) == [
        ("introduction/accepted-mentor", ADA), ("introduction/accepted-mentee", SAM)]
    j.reply("introduction/to-mentor", GRACE, outlook_reply, "Happy to meet", GRACE_FROM)

    # 5. They meet. Only the trainees are asked to decide, within two weeks.
    j.until(at(2026, 3, 4))
    out = j.reply("introduction/accepted-mentee", SAM, gmail_reply, "MET yesterday", SAM_FROM)
    assert out == [("getting-to-know/decide", SAM), ("getting-to-know/met-mentor", ADA)]
    assert "within 14 days" in body(j.email("getting-to-know/decide", SAM))
    j.reply("introduction/accepted-mentee", KIM, gmail_reply, "MET yesterday", KIM_FROM)
    assert j.pair_state(1) == j.pair_state(2) == "deciding"

    # 6. Ten days on, both trainees are reminded. Sam says YES: only now is Ada asked to commit.
    out = j.until(at(2026, 3, 14))
    assert out == [("getting-to-know/decide-reminder", SAM), ("getting-to-know/decide-reminder", KIM)]
    out = j.reply("getting-to-know/decide", SAM, gmail_reply, "Yes, I would like to go on", SAM_FROM)
    assert out == [("getting-to-know/commit", ADA), ("getting-to-know/asked-mentor", SAM)]
    assert j.pair_state(1) == "committing"
    out = j.reply("getting-to-know/commit", ADA, outlook_reply, "Yes, happy to", ADA_FROM)
    assert out == [("agreement/start-mentee", SAM), ("agreement/start-mentor", ADA), ("pairs/list", TUTOR),
                   ("pairs/list", ALLOCATIONS)]
    assert "Sam Lee with Dr Ada Byron: Stage: mentoring" in body(j.email("pairs/list", TUTOR))
    assert store.participant_by_email(SAM)["state"] == "matched"

    # 7. Kim has not decided two weeks after meeting Grace: the approach lapses, kindly.
    out = j.until(at(2026, 3, 18))
    assert out == [("getting-to-know/lapsed-mentee", KIM), ("getting-to-know/lapsed-mentor", GRACE),
                   ("getting-to-know/lapsed-coordinator", COORDINATOR), ("pairs/list", TUTOR),
                   ("pairs/list", ALLOCATIONS)]
    assert j.pair_state(2) == "lapsed" and "Kim Park" not in body(j.email("pairs/list", TUTOR))

    # 8. The contract, with a trial period; Ada confirms it.
    assert j.reply("agreement/start-mentee", SAM, gmail_reply, CONTRACT, SAM_FROM) == [
        ("agreement/proposed", ADA), ("agreement/sent", SAM)]
    out = j.reply("agreement/proposed", ADA, outlook_reply, "Agreed", ADA_FROM)
    assert out == [("agreement/agreed", SAM), ("agreement/agreed", ADA), ("agreement/agreed-coordinator", COORDINATOR)]
    assert store.facts(1)["trial_end"] == "2026-04-30"

    # 9. Six weeks after enrolling, Kim (still without a mentor) is reminded, with the
    #    mentors she can ask; Sam, matched, is not.
    out = j.until(at(2026, 4, 14))
    assert ("onboarding/reminder", KIM) in out and all(to != SAM or t != "onboarding/reminder" for t, to in out)
    assert "Dr Grace Hopper" in body(j.email("onboarding/reminder", KIM))

    # 10. The trial period ends: both are asked, and both go on.
    out = j.until(at(2026, 4, 30))
    assert ("trial/now", SAM) in out and ("trial/now", ADA) in out
    assert j.reply("trial/now", SAM, gmail_reply, "Continue", SAM_FROM) == [("trial/waiting", SAM)]
    assert j.reply("trial/now", ADA, outlook_reply, "Yes", ADA_FROM) == [
        ("trial/continuing", SAM), ("trial/continuing", ADA)]

    # 11. Every 90 days the coordinators are asked to re-check the registrations.
    out = j.until(at(2026, 6, 1))
    assert ("eligibility/check-registrations", COORDINATOR) in out
    check = body(j.email("eligibility/check-registrations", COORDINATOR))
    for line in ("Dr Ada Byron: Email: ada@hospital.test Registration: HCPC PYL12345", "UKCP 2009123456"):
        assert line in check

    # 12. Ada's registration is restricted: not listed, not pairable; her pair with Sam
    #     is flagged to the coordinators, not ended. Restored after the interview.
    assert j.service.restrict(ADA, "HCPC conditions of practice") == [1]
    out = j.cycle()
    assert out == [("eligibility/restricted-coordinator", COORDINATOR)]
    notice = body(j.email("eligibility/restricted-coordinator", COORDINATOR))
    assert "HCPC conditions of practice" in notice and "pair 1: Sam Lee" in notice
    assert j.pair_state(1) in ("active", "checkin-due") and "mentor-restricted" in gather(j.service)["pairs"][0]["flags"]
    j.write(new_email(j.config.scheme.address, "DIRECTORY", KIM_FROM, date=j.now))
    assert "Dr Ada Byron" not in body(j.email("directory/list", KIM))
    assert j.write(new_email(j.config.scheme.address, f"REQUEST {ada}", KIM_FROM, date=j.now)) == [
        ("directory/not-available", KIM)]
    assert j.service.restore(ADA) == [1]
    assert j.cycle() == [("eligibility/restored-coordinator", COORDINATOR)]
    assert "mentor-restricted" not in gather(j.service)["pairs"][0]["flags"]

    # 13. Four months after enrolling, Kim still has no mentor: the coordinators are told.
    out = j.until(at(2026, 7, 3))
    assert ("onboarding/window-ended-coordinator", COORDINATOR) in out
    assert store.participant_by_email(KIM)["state"] == "unmatched"

    reminders = [(d, to) for d, t, to, _s in j.log if t == "onboarding/reminder"]
    assert reminders == [("2026-04-14", KIM), ("2026-06-01", KIM)], "at 6 and 12 weeks; never to Sam, matched"

    # The tutor and the allocators got only the lists of pairs, never anything else.
    observers = {to: t for _d, t, to, _s in j.log if to in (TUTOR, ALLOCATIONS)}
    assert set(observers.values()) == {"pairs/list"}
    assert sum(1 for _d, t, to, _s in j.log if to == TUTOR) == 4, "introduced (twice), mentoring, lapsed"
    (j.config_path.parent / "emails.txt").write_text(
        "\n".join(f"{d}  {t:40} {to:26} {s}" for d, t, to, s in j.log) + "\n", encoding="utf-8")
