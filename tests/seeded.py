"""A scheme seven weeks in, with every kind of line the coordinators' summary has.

:func:`seed` plays it through the service on a fixed clock (journey.py: replies are
built the way mail clients build them and handed to the service, timers fire as the
clock moves), from Monday 2 March 2026 to Monday 20 April 2026 at 08:00 in London
(07:00 UTC: summer time began on 29 March). By then:

====  ===============================  =============================================
pair  who                              what the summary should say
====  ===============================  =============================================
1     Mo Farah with Kim Min-jun        silent, and meeting less often than agreed
2     Ann Jones with Lin Wei           a concern; two late cancellations; review on
                                       28 April; Lin is restricted
3     Ben Okafor with Dr Ada Byron     agreement overdue; a flag the summary does not
                                       know ("external-review")
4     Tom Brown with Kim Min-jun       ended in March (Tom rated it 4); Kim then said
                                       UNAVAILABLE
5     Zoë O'Connor with Grace Hopper   decision overdue (Grace never answered); Zoë's
                                       last reply could not be understood
6     Sam Lee with Dr Ada Byron        introduction unanswered for 9 days
7     Eve Adams with Raj Patel         new this week, and declined; Raj's address then
                                       bounced; Eve replied STOP
====  ===============================  =============================================

and: an inbound message quarantined; Tom and Uma waiting for a mentor; Uma's
registration due for a re-check and Tom past the onboarding window (participant
flags, kept where the participants' workflow keeps them); Ada with room, Grace
full, Kim unavailable, Lin and Raj unable to be paired; comments from four people.

The words in :data:`PRIVATE` are written where only their writer may see them again
(a check-in note, a pulse, a reason for ending); :data:`CONCERN` goes to the
coordinators in its own email only. None of them may appear in a summary.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

from clients import gmail_reply, new_email, outlook_reply
from journey import UTC, Journey

from mailflow.clock import CountingTokens
from mailflow.workflow.apply import Subject
from mailflow.workflow.decisions import SetFacts

PEOPLE = """\
role,name,email,capacity
coordinator,Jo Coordinator,coordinator@scheme.test,
mentor,Dr Ada Byron,ada@hospital.test,3
mentor,Grace Hopper,grace@hospital.test,1
mentor,Kim Min-jun,kim@hospital.test,
mentor,Lin Wei,lin@hospital.test,2
mentor,Raj Patel,raj@hospital.test,
mentee,Sam Lee,sam@university.test,
mentee,Zoë O'Connor,zoe@university.test,
mentee,Ben Okafor,ben@university.test,
mentee,Mo Farah,mo@university.test,
mentee,Ann Jones,ann@university.test,
mentee,Eve Adams,eve@university.test,
mentee,Tom Brown,tom@university.test,
mentee,Uma Shah,uma@university.test,
"""
NAMES = {}
for _line in PEOPLE.splitlines()[1:]:
    _role, _name, _email, _ = _line.split(",")
    NAMES[_email.split("@")[0]] = f"{_name} <{_email}>"

PRIVATE = ("PULSECANARY felt rushed", "ENDCANARY moving to another job", "NOTECANARY stuck on the stats")
CONCERN = "CONCERNCANARY my mentor keeps cancelling at the last minute"
SUMMARY_AT = dt.datetime(2026, 4, 20, 7, 0, tzinfo=UTC)  # Monday 08:00 in London (summer time)

FORM = """Location: Teams
Frequency: {frequency}
Meeting length: 45 minutes
Duration: 12 months
Cancellations: at least 48 hours notice by email
Objectives:
1. Submit a grant application
2. Present at the regional meeting
Review date: {review}
"""


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


class Scheme:
    """A Journey with helpers to answer the email of one pair."""

    def __init__(self, directory: Path, sink):
        self.j = Journey(directory, None, sink, people=PEOPLE, start=at(2026, 3, 2, 9), tokens=CountingTokens())
        self.store = self.j.service.store

    def id(self, who: str) -> int:
        return self.store.participant_by_email(NAMES[who].split("<")[1].rstrip(">"))["id"]

    def pair(self, mentee: str, mentor: str) -> int:
        pid = self.j.service.pair(NAMES[mentee].split("<")[1].rstrip(">"), NAMES[mentor].split("<")[1].rstrip(">"))
        self.j.cycle()
        return pid

    def email(self, template: str, who: str, pair: int | None):
        """The latest ``template`` email to ``who`` (about ``pair``, by its reply token)."""
        addr = NAMES[who].split("<")[1].rstrip(">")
        for m in reversed(self.j.sink.messages):
            if str(m.message["X-Mailflow-Template"]) != template or addr not in m.rcpt_tos:
                continue
            token = re.search(r"\+([a-z0-9]+)@", str(m.message["Reply-To"])).group(1)
            row = self.store.one("SELECT pair_id FROM tokens WHERE token = ?", (token,))
            if pair is None or (row and row["pair_id"] == pair):
                return m
        raise AssertionError(f"no {template} email to {who} about pair {pair}")

    def answer(self, template: str, who: str, pair: int | None, text: str, client=gmail_reply):
        original = self.email(template, who, pair)
        return self.j.write(client(original.raw, text, NAMES[who], date=self.j.now))

    def write(self, who: str, text: str, subject: str = "Mentoring"):
        return self.j.write(new_email(self.j.config.scheme.address, text, NAMES[who], subject=subject,
                                      date=self.j.now))

    def until(self, when: dt.datetime):
        return self.j.until(when)

    def agree(self, pair: int, mentee: str, mentor: str, frequency: str, review: str) -> None:
        self.answer("agreement/start-mentee", mentee, pair, FORM.format(frequency=frequency, review=review))
        self.answer("agreement/proposed", mentor, pair, "Agree", outlook_reply)
        assert self.j.pair_state(pair) == "active", self.j.pair_state(pair)


def seed(directory: Path, sink) -> Scheme:
    s = Scheme(directory, sink)
    j = s.j
    for mentee, mentor in (("mo", "kim"), ("ann", "lin"), ("ben", "ada"), ("tom", "kim")):
        s.pair(mentee, mentor)
    j.clock.set(at(2026, 3, 2, 10))
    for pair, mentor in ((1, "kim"), (2, "lin"), (3, "ada"), (4, "kim")):
        s.answer("introduction/to-mentor", mentor, pair, "Accept - happy to help.", outlook_reply)
    j.clock.set(at(2026, 3, 3, 10))
    for pair, mentee, mentor in ((1, "mo", "kim"), (2, "ann", "lin"), (3, "ben", "ada")):
        s.answer("introduction/accepted-mentee", mentee, pair, "MET yesterday")
        s.answer("getting-to-know/decide", mentee, pair, "Yes")
        s.answer("getting-to-know/decide", mentor, pair, "Yes", outlook_reply)
        assert j.pair_state(pair) == "agreeing"
    j.clock.set(at(2026, 3, 4, 10))
    s.agree(1, "mo", "kim", "Every two weeks", "1 September 2026")
    s.agree(2, "ann", "lin", "Monthly", "28 April 2026")

    # Pair 4 ends early; Tom's reason and rating are his; Kim then steps back.
    j.clock.set(at(2026, 3, 6, 12))
    s.answer("introduction/accepted-mentee", "tom", 4, f"END - {PRIVATE[1]}")
    assert j.pair_state(4) == "ended"
    s.answer("ending/you-ended", "tom", 4, "Rating: 4\nComments: The first conversation helped me decide")
    s.answer("ending/partner-ended", "kim", 4, "Unavailable for now", outlook_reply)

    # Pair 5: Zoë says YES, Grace never answers.
    j.until(at(2026, 3, 16, 9))
    s.pair("zoe", "grace")
    j.clock.set(at(2026, 3, 16, 10))
    s.answer("introduction/to-mentor", "grace", 5, "Accept")
    j.until(at(2026, 3, 23, 11))  # a week after ACCEPT, both are asked whether to go on
    assert j.pair_state(5) == "deciding"
    s.answer("getting-to-know/decide", "zoe", 5, "Yes, I'd like to continue")

    # Pair 2: a check-in with a private pulse and note; two meetings cancelled late.
    j.until(at(2026, 4, 1, 9))
    s.write("ann", "NEXT 2 April 14:00")
    j.until(at(2026, 4, 2, 12))
    s.write("ann", "CANCEL - sorry")
    j.until(at(2026, 4, 3, 10))
    s.answer("meetings/checkin", "ann", 2, f"MET 31 March 40\nPulse: 2\nNotes: {PRIVATE[0]}")
    j.until(at(2026, 4, 7, 9))
    s.write("lin", "NEXT 8 April 10:00")
    j.until(at(2026, 4, 8, 8))
    s.write("lin", "CANCEL, clinic overran")

    # Pair 6: Sam's introduction, never answered.
    j.until(at(2026, 4, 10, 9))
    s.pair("sam", "ada")

    # This week: pair 7 made and declined; Raj's address bounces; Eve asks us to stop.
    j.until(at(2026, 4, 14, 9))
    s.pair("eve", "raj")
    j.until(at(2026, 4, 15, 10))
    s.answer("introduction/to-mentor", "raj", 7, "Decline, sorry - no capacity this term", outlook_reply)
    s.answer("meetings/logged", "ann", 2, f"CONCERN {CONCERN}")  # about their pair: the pair is flagged
    s.write("sam", f"CONCERN {CONCERN.replace('my mentor', 'nobody')}")  # a new email: no pair
    j.until(at(2026, 4, 16, 9))
    j.write(_bounce("raj@hospital.test", j.config.scheme.address))
    s.answer("getting-to-know/decide", "zoe", 5, "Could you remind me what this is about?")
    j.service.restrict("lin@hospital.test", "awaiting a DBS check")
    j.until(at(2026, 4, 17, 9))
    s.write("eve", "STOP")
    s.write("sam", "FEEDBACK The introductions could say more about the mentor's field")
    j.until(at(2026, 4, 18, 9))
    s.write("uma", "FEEDBACK Please run a drop-in session for mentees who are waiting")
    s.write("ben", "FEEDBACK The reminders are well timed")
    stray = j.service.receive(new_email(j.config.scheme.address, "hello", "Stray <stray@elsewhere.test>",
                                        date=j.now), source="smtp")
    j.service._failed(stray, 3, RuntimeError("a template failed"), j.now)  # three strikes: quarantined
    with j.service.store.transaction():
        pair3 = j.service.store.pair(3)
        facts = j.service.store.facts(3)
        j.service.applier.apply([SetFacts({"flags": [*facts.get("flags", []), "external-review"]})],
                                Subject(pair=pair3, key="test:flag"), j.now)
    _person_flags(s, {"uma": ["recheck-due"], "tom": ["onboarding-overdue"]})
    j.until(SUMMARY_AT)
    return s


def _person_flags(s: Scheme, flags: dict[str, list[str]]) -> None:
    """Flags the participants' own workflow keeps about a person, where it keeps them (a
    ``facts`` column; added here if this database does not have it yet)."""
    import json

    conn = s.store.conn
    with s.store.transaction():
        columns = {r[1] for r in conn.execute("PRAGMA table_info(participants)")}
        if "facts" not in columns:
            conn.execute("ALTER TABLE participants ADD COLUMN facts TEXT NOT NULL DEFAULT '{}'")
        for who, names in flags.items():
            row = s.store.one("SELECT id, facts FROM participants WHERE id = ?", (s.id(who),))
            facts = json.loads(row["facts"] or "{}")
            facts["flags"] = names
            conn.execute("UPDATE participants SET facts = ? WHERE id = ?", (json.dumps(facts), row["id"]))


def _bounce(address: str, to: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.hospital.test>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-raj@mx.hospital.test>\r\nAuto-Submitted: auto-replied\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\nMIME-Version: 1.0\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hospital.test\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--B--\r\n"
    ).encode()


def text_of(raw: bytes) -> str:
    """Every text part of an email (and its subject and attachments' names and text)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(msg["Subject"])]
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
        elif part.get_filename():
            parts.append(part.get_filename())
    return "\n".join(parts)
