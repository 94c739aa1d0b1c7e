"""The welcome: consent by reply before anyone is introduced, through a real Dovecot
and aiosmtpd, on a fixed clock.

Each mentor and mentee enrolled is welcomed (what the scheme is, what is kept and
who sees it, how to act by reply). YES is their consent, recorded with its date;
NO removes them, keeping only what stops them being enrolled again; a mentor may
send a profile. Nobody can be paired before YES. With ``consent = "implied"`` the
welcome only informs.
"""

from __future__ import annotations

import json

import pytest

from clients import gmail_reply, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, PEOPLE, body
from journey import Journey
from mailflow.enrol import parse_csv
from mailflow.errors import StateError
from mailflow.status import format_text, gather

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"
GRACE = "grace@hospital.test"


def journey(tmp_path, account, sink, **kw) -> Journey:
    return Journey(tmp_path, account, sink, consent="required", keep_welcome=True, **kw)


def test_yes_is_consent_with_its_date_and_nobody_is_paired_before_it(tmp_path, imap_account, smtp_sink):
    j = journey(tmp_path, imap_account, smtp_sink)
    try:
        out = j.cycle()
        assert sorted(out) == sorted([("welcome/welcome", GRACE), ("welcome/welcome", MENTOR),
                                      ("welcome/welcome", MENTEE)])
        to_ada, to_sam = j.email("welcome/welcome", MENTOR), j.email("welcome/welcome", MENTEE)
        for mail in (to_ada, to_sam):
            text = body(mail)
            assert "would you like to take part?" in str(mail.message["Subject"])
            assert "What we keep about you" in text and "never what you write" in text
            assert "YES to take part" in text and "Nobody will be introduced to you before you have said YES" in text
        assert "Expertise:" in body(to_ada) and "Capacity:" in body(to_ada), "mentors are asked for a profile"
        assert "Expertise:" not in body(to_sam)

        # Not before YES: pairing is refused, saying why and what to do.
        with pytest.raises(StateError, match="have not yet replied YES.*reply YES to their welcome"):
            j.service.pair(MENTEE, MENTOR)
        assert "not yet taking part: cannot be paired" in format_text(gather(j.service))

        # Sam says yes; Ada says yes with her profile (capacity 2, expertise).
        assert j.reply("welcome/welcome", MENTEE, gmail_reply, "Yes please!", SAM) == [("welcome/thanks", MENTEE)]
        j.clock.advance(days=1)
        answer = "Yes\n\nExpertise: clinical trials, pharmacy practice\nCapacity: 2\nAvailability: an hour a month"
        assert j.reply("welcome/welcome", MENTOR, outlook_reply, answer, ADA) == [("welcome/thanks", MENTOR)]
        thanks = body(j.email("welcome/thanks", MENTOR))
        assert "We have recorded your YES, on Tuesday 3 March 2026" in thanks
        assert "Expertise: clinical trials, pharmacy practice" in thanks and "Capacity: 2" in thanks

        store = j.service.store
        ada, sam = store.participant_by_email(MENTOR), store.participant_by_email(MENTEE)
        assert (sam["state"], sam["consent"], sam["consented_at"][:10]) == ("taking-part", "reply", "2026-03-02")
        assert (ada["state"], ada["consent"], ada["consented_at"][:10]) == ("taking-part", "reply", "2026-03-03")
        assert ada["capacity"] == 2
        assert j.service.applier.profile(ada)["expertise"] == "clinical trials, pharmacy practice"
        people = {p["email"]: p for p in gather(j.service)["participants"]}
        assert people[MENTOR]["pairable"] and not people[GRACE]["pairable"]

        # Now they can be introduced; Grace, who has not answered, still cannot.
        j.service.pair(MENTEE, MENTOR)
        assert ("introduction/to-mentor", MENTOR) in j.cycle()
        assert j.service.pairing_problem(store.participant_by_email(GRACE)).startswith(
            f"{GRACE} cannot be paired yet")

        # The words of the profile reach nobody; the log says which fields, not what.
        logged = store.all("SELECT data FROM events WHERE kind = 'profile'")
        assert logged and all("clinical" not in e["data"] for e in logged)
        assert all("clinical" not in body(m) for m in smtp_sink.messages if COORDINATOR in m.rcpt_tos)
    finally:
        j.close()


def test_no_removes_keeps_little_tells_the_coordinators_and_yes_brings_back(tmp_path, imap_account, smtp_sink):
    people = PEOPLE
    j = journey(tmp_path, imap_account, smtp_sink, people=people)
    try:
        j.cycle()
        out = j.reply("welcome/welcome", MENTEE, gmail_reply, "No thank you, not at the moment.", SAM)
        assert sorted(out) == [("welcome/removed", MENTEE), ("welcome/removed-coordinator", COORDINATOR)]
        assert "we have removed you" in body(j.email("welcome/removed", MENTEE))
        notice = body(j.email("welcome/removed-coordinator", COORDINATOR))
        assert "Sam Lee (mentee, sam@university.test) replied NO" in notice and "not at the moment" not in notice

        sam = j.service.store.participant_by_email(MENTEE)
        assert (sam["status"], sam["state"], sam["extra"], sam["facts"]) == ("withdrawn", "withdrawn", "{}", "{}")
        assert (sam["name"], sam["role"], sam["consented_at"]) == ("Sam Lee", "mentee", None)
        with pytest.raises(StateError, match="said NO to taking part on 2026-03-02 and was removed"):
            j.service.pair(MENTEE, MENTOR)
        assert "! sam@university.test is withdrawn" in format_text(gather(j.service))

        # Enrolling the same file again does not bring them back, nor writes to them.
        counts = j.service.enrol(parse_csv(people))
        assert counts["withdrawn"] == 1 and counts["added"] == 0
        assert j.cycle() == []
        assert j.service.store.participant_by_email(MENTEE)["extra"] == "{}"

        # Their welcome's timers stopped (the others' go on); if they change their mind,
        # YES brings them back.
        out = j.advance(days=30)
        assert ("welcome/reminder", MENTOR) in out and ("welcome/unanswered-coordinator", COORDINATOR) in out
        assert not [m for m in out if m[1] == MENTEE]
        out = j.reply("welcome/removed", MENTEE, gmail_reply, "Yes", SAM)
        assert out == [("welcome/thanks", MENTEE)]
        sam = j.service.store.participant_by_email(MENTEE)
        assert (sam["status"], sam["state"], sam["consent"]) == ("active", "taking-part", "reply")
    finally:
        j.close()


def test_reminder_then_the_coordinators_and_yes_stops_them(tmp_path, smtp_sink):
    j = journey(tmp_path, None, smtp_sink)
    try:
        j.cycle()
        assert j.reply("welcome/welcome", MENTEE, gmail_reply, "Yes", SAM) == [("welcome/thanks", MENTEE)]
        reminded = j.advance(days=7, hours=1)
        assert sorted(reminded) == sorted([("welcome/reminder", GRACE), ("welcome/reminder", MENTOR)])
        assert "YES to take part" in body(j.email("welcome/reminder", MENTOR))
        # Ada answers the reminder itself; Grace never does.
        assert j.reply("welcome/reminder", MENTOR, outlook_reply, "I consent", ADA) == [("welcome/thanks", MENTOR)]
        out = j.advance(days=14)
        assert out == [("welcome/unanswered-coordinator", COORDINATOR)]
        notice = body(j.email("welcome/unanswered-coordinator", COORDINATOR))
        assert "Grace Hopper (mentor, grace@hospital.test) was welcomed 21 days ago" in notice
        assert j.advance(days=30) == [], "each fires once"
    finally:
        j.close()


def test_a_profile_alone_is_kept_and_asks_for_yes(tmp_path, smtp_sink):
    j = journey(tmp_path, None, smtp_sink)
    try:
        j.cycle()
        out = j.reply("welcome/welcome", MENTOR, outlook_reply, "Capacity: 1\nExpertise: oncology", ADA)
        assert out == [("welcome/profile-saved", MENTOR)]
        saved = body(j.email("welcome/profile-saved", MENTOR))
        assert "Expertise: oncology" in saved and "You have not yet told us whether you would like to take part" in saved
        ada = j.service.store.participant_by_email(MENTOR)
        assert ada["state"] == "welcome" and ada["consented_at"] is None and ada["capacity"] == 1
        with pytest.raises(StateError):
            j.service.pair(MENTEE, MENTOR)
    finally:
        j.close()


def test_no_while_in_a_relationship_asks_to_end_it_first(tmp_path, smtp_sink):
    j = Journey(tmp_path, None, smtp_sink, consent="implied", keep_welcome=True)
    try:
        assert sorted(j.cycle()) == sorted([("welcome/welcome", GRACE), ("welcome/welcome", MENTOR),
                                            ("welcome/welcome", MENTEE)])
        informed = body(j.email("welcome/welcome", MENTEE))
        assert "there is nothing you need to do now" in informed and "YES to take part" not in informed
        sam = j.service.store.participant_by_email(MENTEE)
        assert (sam["state"], sam["consent"]) == ("taking-part", "implied")
        assert sam["consented_at"][:10] == "2026-03-02"

        j.service.pair(MENTEE, MENTOR)  # implied consent: no YES needed
        j.cycle()
        out = j.reply("welcome/welcome", MENTEE, gmail_reply, "No", SAM)
        assert out == [("welcome/in-a-pair", MENTEE)]
        assert "please end your mentoring first" in body(j.email("welcome/in-a-pair", MENTEE))
        assert j.service.store.participant_by_email(MENTEE)["status"] == "active"
    finally:
        j.close()


def test_the_welcome_in_the_participants_language(tmp_path, smtp_sink):
    people = PEOPLE.replace("role,name,email,department", "role,name,email,department,language").replace(
        "Pharmacy Practice", "Pharmacy Practice,fr").replace("Clinical Pharmacy", "Clinical Pharmacy,pt-BR").replace(
        "Research Office", "Research Office,").replace("Oncology", "Oncology,")
    j = journey(tmp_path, None, smtp_sink, people=people)
    try:
        j.cycle()
        sam, ada = j.email("welcome/welcome", MENTEE), j.email("welcome/welcome", MENTOR)
        assert str(sam.message["Subject"]) == "Bienvenue dans Test Scheme : souhaitez-vous participer ?"
        assert "OUI   pour participer" in sam.message.get_body(("plain",)).get_content()
        assert str(ada.message["Content-Language"]) == "pt-BR"
        assert "Especialidade:" in body(ada) and "Capacidade:" in body(ada), "the profile form in Portuguese"
        # Answered in their words, and the profile by its translated labels.
        assert j.reply("welcome/welcome", MENTEE, gmail_reply, "Oui, avec plaisir", SAM) == [("welcome/thanks", MENTEE)]
        assert "Nous avons enregistré votre OUI, le lundi 2 mars 2026" in body(j.email("welcome/thanks", MENTEE))
        out = j.reply("welcome/welcome", MENTOR, outlook_reply, "Sim\n\nCapacidade: 3\nEspecialidade: oncologia", ADA)
        assert out == [("welcome/thanks", MENTOR)]
        row = j.service.store.participant_by_email(MENTOR)
        assert row["capacity"] == 3 and json.loads(row["facts"])["profile"]["expertise"] == "oncologia"
    finally:
        j.close()


def test_pairable_false_is_for_a_participants_state(tmp_path):
    """The welcome's rules are checked like every other: a state that is not a
    participant's cannot be pairable = false."""
    from mailflow.workflow.loader import check_workflow

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "extra.toml").write_text('[workflow]\nname = "x"\nextends = "default"\n\n'
                                      '[states.odd]\npairable = false\n', encoding="utf-8")
    _wf, problems = check_workflow(rules)
    assert any("extra.toml:5" in p and "pairable = false is for a participant's state" in p for p in problems), problems

