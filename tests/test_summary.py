"""The coordinators' weekly summary: what it says (a golden file for a scheme seven
weeks in, seeded.py), how it looks in a real browser, and when it is sent (once a
week, across a daylight-saving change, downtime and a restart).

To accept a changed summary after reading the diff: MAILFLOW_UPDATE_GOLDEN=1
scripts/test tests/test_summary.py.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
from pathlib import Path

import pytest

import preview
import seeded
from clients import new_email
from harness import COORDINATOR, MENTEE as MENTEE_ADDR, MENTOR as MENTOR_ADDR, make_service
from journey import UTC, Journey
from servers import SmtpSink

from mailflow import summary
from mailflow.runner import run_once, tick
from mailflow.service import Service

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def scheme(tmp_path_factory):
    with SmtpSink() as sink:
        s = seeded.seed(tmp_path_factory.mktemp("seeded"), sink)
        yield s
        s.j.close()


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MAILFLOW_UPDATE_GOLDEN") == "1":
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} is missing: run with MAILFLOW_UPDATE_GOLDEN=1 to write it, then read it"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"the summary differs from {path} (MAILFLOW_UPDATE_GOLDEN=1 accepts it)"


def test_the_summary_of_a_seeded_scheme_matches_its_golden_file(scheme, tmp_path):
    paths = summary.write_preview(scheme.j.service, tmp_path, seeded.SUMMARY_AT)
    assert [p.name for p in paths] == ["summary.txt", "summary.html", "pairs-2026-04-20.csv"]
    text, html, csv = (p.read_bytes().decode("utf-8") for p in paths)
    _golden("summary.txt", text)
    _golden("pairs.csv", csv)
    # Every kind of line is there, each with the command that acts on it.
    for line in ("the introduction has had no answer for 9 days", "Reply NUDGE 6",
                 "asked 27 days ago whether to go on", "have not yet confirmed a mentoring agreement",
                 "has not been answered by either of them", "meeting less often than they agreed",
                 "2 meetings cancelled at shorter notice", "Pair 2 (Ann Jones with Lin Wei): a concern was raised",
                 "Sam Lee (mentee, #7) raised a concern", "flagged \u201cexternal-review\u201d",
                 "Raj Patel <raj@hospital.test> (mentor, #6) bounces", "asked us to stop emailing them",
                 "nobody could understand", "Run mailflow replay", "is restricted, and still has 1 pair under way",
                 "past the onboarding window", "registration due for a re-check",
                 "review on Tuesday 28 April 2026", "New: Pair 7", "Ended: Pair 7 (Eve Adams with Raj Patel): declined",
                 "Room: Dr Ada Byron (#2): room for 1 more", "Full: Grace Hopper", "Unavailable: Kim Min-jun",
                 "Cannot be paired: Lin Wei", "Tom Brown (#13), waiting since", "PAIR #13 #2", "Rated 4: 1 person",
                 "Comments from 4 people"):
        assert line in " ".join(text.split()), line
    # Changes since a week ago come from the event log.
    assert "Declined: 1 (up 1)" in text and "Introduced: 1 (no change)" in text
    # Nothing anyone wrote in their replies, and no concern's words.
    for canary in (*seeded.PRIVATE, seeded.CONCERN):
        word = canary.split()[0]
        assert word not in text and word not in html and word not in csv, word


def test_feedback_comments_wait_for_three_people(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink)
    now = service.clock.now()

    def comment(who: str, text: str) -> None:
        service.receive(new_email(service.config.scheme.address, f"FEEDBACK {text}", who, date=service.clock.now()),
                        source="smtp")
        service.process_pending()

    comment("Sam Lee <sam@university.test>", "FIRSTCOMMENT more evening slots")
    comment("Ada <ada@hospital.test>", "SECONDCOMMENT shorter forms")
    data = summary.build(service, service.clock.now())["feedback"]
    assert data["texts"] == [] and data["comments"] == 2 and data["held_back"] == 2
    with service.store.transaction():
        summary.queue(service, "coordinators", key="week:a", kind="weekly", week=now.date(), now=service.clock.now())
    [row] = service.store.all("SELECT raw FROM outbox WHERE template = 'coordinators/summary'")
    assert "FIRSTCOMMENT" not in seeded.text_of(row["raw"]) and "2 comments are held back" in " ".join(
        seeded.text_of(row["raw"]).split())
    service.clock.advance(hours=1)
    comment("Grace Hopper <grace@hospital.test>", "THIRDCOMMENT a mentors' forum")
    data = summary.build(service, service.clock.now())["feedback"]
    assert [t.split()[0] for t in data["texts"]] == ["FIRSTCOMMENT", "SECONDCOMMENT", "THIRDCOMMENT"]
    with service.store.transaction():
        summary.queue(service, "coordinators", key="week:b", kind="weekly", week=now.date(), now=service.clock.now())
    service.clock.advance(hours=1)
    assert summary.build(service, service.clock.now())["feedback"]["comments"] == 0, "shown once, then not again"


# --------------------------------------------------------------------------- in a browser


_HEADINGS_JS = """
return [...document.querySelectorAll('h1, h2')].map(h => { const r = h.getBoundingClientRect();
  const st = getComputedStyle(h);
  return {text: h.textContent.trim(), left: r.left, right: r.right, width: r.width, height: r.height,
          visible: st.visibility !== 'hidden' && st.display !== 'none' && r.width > 0 && r.height > 0}; });
"""


def test_the_summary_reads_well_in_a_browser_at_600_and_375_px(scheme):
    """The seeded summary, as queued for the coordinator, in headless Chromium: nothing
    wider than the screen, every section heading visible, every button a mailto: to
    the summary's Reply-To, no request for anything, contrast of 4.5:1 in light and
    dark mode. The PNGs go to build/emails/coordinators--summary@seeded-*.png."""
    service = scheme.j.service
    with service.store.transaction():
        [oid] = summary.queue(service, "coordinators", key="test:browser", kind="asked", week=dt.date(2026, 4, 20),
                              now=seeded.SUMMARY_AT)
    raw = service.store.scalar("SELECT raw FROM outbox WHERE id = ?", (oid,))
    mail = preview.Email("coordinators/summary", "seeded", "coordinator", raw, {}, "coordinator")
    out = preview.OUT
    for suffix in ("600", "375", "375-dark"):
        (out / f"{mail.slug}-{suffix}.png").unlink(missing_ok=True)
    with preview.Browser() as browser:
        assert preview.check(mail, browser, out) == []
        page = out / f"{mail.slug}.html"
        expected = ["At a glance", "Needs you now (16)", "Reviews in the next 14 days",
                    "New pairs and endings in the last week", "Mentors' capacity", "Mentees waiting for a mentor",
                    "Feedback to the scheme"]
        for width in (600, 375):
            browser.viewport(width)
            browser.requests()
            browser.driver.get(page.as_uri())
            assert [u for u in browser.requests() if u != page.as_uri()] == []
            assert browser.driver.execute_script("return document.documentElement.scrollWidth") <= width
            headings = browser.driver.execute_script(_HEADINGS_JS)
            assert [h["text"] for h in headings[1:]] == expected
            for h in headings:
                assert h["visible"] and h["left"] >= 0 and h["right"] <= width, (width, h)
            buttons = browser.driver.execute_script(
                "return [...document.querySelectorAll('a[data-command]')].map(a => a.dataset.command)")
            assert "NUDGE 6" in buttons and "RESTORE #5" in buttons and "PAIR #13 #2" in buttons
    for suffix in ("600", "375", "375-dark"):
        assert (out / f"{mail.slug}-{suffix}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The text part stands alone, and the CSV is attached.
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Needs you now (16):" in msg.get_body(("plain",)).get_content()
    [csv] = [p for p in msg.iter_attachments()]
    assert csv.get_filename() == "pairs-2026-04-20.csv" and csv.get_content_type() == "text/csv"


# --------------------------------------------------------------------------- when


def _sent(j: Journey) -> list[str]:
    return [f"{d} {subject}" for d, template, to, subject in j.log if template == "coordinators/summary"]


def test_one_summary_a_week_across_daylight_saving_downtime_and_a_restart(tmp_path, smtp_sink):
    """Hour by hour from Monday 16 March to Tuesday 14 April 2026 (London: GMT, then BST
    from 29 March), half by run-once and half by serve's scheduled tick, with a restart
    and a four-day outage over a Monday. Summaries go at 08:00 London time each Monday,
    late after the outage, and never twice."""
    j = Journey(tmp_path, None, smtp_sink, start=dt.datetime(2026, 3, 16, 9, tzinfo=UTC), summary=True)
    try:
        queued: list[dt.datetime] = []
        now = j.now
        end = dt.datetime(2026, 4, 14, 12, tzinfo=UTC)
        down = (dt.datetime(2026, 4, 3, 12, tzinfo=UTC), dt.datetime(2026, 4, 7, 15, tzinfo=UTC))
        hour = 0
        while now <= end:
            if not down[0] <= now < down[1]:
                before = j.service.store.scalar("SELECT count(*) FROM summaries WHERE kind = 'weekly'")
                if hour % 2:
                    tick(j.config, j.clock)  # serve's job: its own connection, as in `mailflow serve`
                else:
                    run_once(j.service, None)
                if j.service.store.scalar("SELECT count(*) FROM summaries WHERE kind = 'weekly'") > before:
                    queued.append(now)
            if now == dt.datetime(2026, 3, 31, 10, tzinfo=UTC):
                j.restart()
            now = j.clock.advance(hours=1)
            hour += 1
        assert queued == [
            dt.datetime(2026, 3, 23, 8, tzinfo=UTC),  # 08:00 GMT
            dt.datetime(2026, 3, 30, 7, tzinfo=UTC),  # 08:00 BST, the day after the clocks went forward
            dt.datetime(2026, 4, 7, 15, tzinfo=UTC),  # the week of 6 April: late, when the service came back
            dt.datetime(2026, 4, 13, 7, tzinfo=UTC),
        ]
        rows = j.service.store.all("SELECT key, kind FROM summaries ORDER BY key")
        assert rows == [{"key": "week:2026-03-16", "kind": "start"}, {"key": "week:2026-03-23", "kind": "weekly"},
                        {"key": "week:2026-03-30", "kind": "weekly"}, {"key": "week:2026-04-06", "kind": "weekly"},
                        {"key": "week:2026-04-13", "kind": "weekly"}]
        j.cycle()
        sent = [m for m in smtp_sink.wait_for(len(j.welcomed) + 4)
                if m.message["X-Mailflow-Template"] == "coordinators/summary"]
        assert len(sent) == 4 and all(m.rcpt_tos == [COORDINATOR] for m in sent)
        # A second process on the same database, at the same moment, queues nothing more.
        other = Service(j.config, clock=j.clock)
        try:
            assert summary.send_if_due(other) == 0 and summary.send_if_due(j.service) == 0
        finally:
            other.close()
    finally:
        j.close()


def test_the_schedule_follows_the_configured_day_and_time(tmp_path, smtp_sink):
    service = make_service(tmp_path, smtp_sink, summary=True, extra='[summary]\nday = "Wednesday"\ntime = "17:30"\n')
    assert service.config.summary.day == "wednesday"
    day, due = summary.scheduled(service.config, dt.datetime(2026, 7, 2, 12, tzinfo=UTC))  # a Thursday
    assert day == dt.date(2026, 7, 1) and due == dt.datetime(2026, 7, 1, 17, 30, tzinfo=UTC)  # the scheme is on UTC
    day, due = summary.scheduled(service.config, dt.datetime(2026, 7, 1, 17, 29, tzinfo=UTC))  # a minute early
    assert day == dt.date(2026, 6, 24)


def test_a_long_list_is_cut_most_serious_first_and_the_rest_counted(tmp_path, smtp_sink):
    """Gmail cuts an email's HTML from 102 kB: each list shows its first lines, the
    rest are counted, and the CSV has every pair. A concern comes before introductions."""
    service = make_service(tmp_path, smtp_sink)
    people = "role,name,email\n" + "".join(f"mentee,Mentee {i},mentee{i}@u.test\nmentor,Mentor {i},mentor{i}@h.test\n"
                                          for i in range(24))
    from mailflow.enrol import parse_csv

    service.enrol(parse_csv(people))
    for i in range(24):
        service.pair(f"mentee{i}@u.test", f"mentor{i}@h.test")
    service.clock.advance(days=8)
    service.receive(new_email(service.config.scheme.address, "CONCERN worried", "M <mentee23@u.test>",
                              date=service.clock.now()), source="smtp")
    service.process_pending()
    data = summary.build(service, service.clock.now())
    assert data["totals"]["needs"] == 25 and len(data["needs"]) == 20 and data["more"]["needs"] == 5
    assert data["needs"][0]["kind"] == "concern", "the concern first, though it came last"
    assert data["more"]["mentor_rows"] == 26 - 12 and len(data["mentor_rows"]) == 12
    paths = summary.write_preview(service, tmp_path / "p", service.clock.now())
    text = " ".join(paths[0].read_text().split())
    assert "And 5 more: STATUS shows each pair" in text and "And 14 more mentors" in text
    assert "And 5 more" in paths[1].read_text()


def test_a_broken_summary_template_never_stops_the_cycle(tmp_path, smtp_sink, caplog):
    """A coordinator's own summary template that does not render: the cycle still
    processes replies and sends mail, the error is logged, and once the template is
    fixed the week's summary goes."""
    from harness import PEOPLE

    from mailflow.clock import FixedClock
    from mailflow.config import load
    from mailflow.enrol import parse_csv

    broken = tmp_path / "mine" / "coordinators" / "summary.txt"
    broken.parent.mkdir(parents=True)
    broken.write_text("Subject: Summary\n\n{{ summary.nonsense.deeper }}\n")
    (tmp_path / "mailflow.toml").write_text(
        '[scheme]\nname = "S"\naddress = "scheme@scheme.test"\ncoordinators = ["coordinator@scheme.test"]\n'
        f'templates = "mine"\nconsent = "implied"\n[smtp]\nhost = "{smtp_sink.host}"\nport = {smtp_sink.port}\ntls = "none"\n')
    service = Service(load(tmp_path / "mailflow.toml"), clock=FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=UTC)))
    service.enrol(parse_csv(PEOPLE))
    run_once(service, None)  # notes the week
    service.pair(MENTEE_ADDR, MENTOR_ADDR)
    service.clock.advance(days=7)
    report = run_once(service, None)
    assert report.summaries == 0 and "the weekly summary could not be queued" in caplog.text
    sent = {m.rcpt_tos[0] for m in smtp_sink.wait_for(3)
            if str(m.message["X-Mailflow-Template"]).startswith("introduction/")}
    assert sent == {MENTOR_ADDR, MENTEE_ADDR}, "the introductions and the reminder still go"
    broken.unlink()
    assert run_once(service, None).summaries == 1
    service.close()
