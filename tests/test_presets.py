"""The scheme presets and the engine features they switch on, as data.

`mailflow init --scheme NAME` and `mailflow check` for each preset; how a preset
folder extends the default one (its own rules first, reply contexts extended, its own
templates found first); the pairing checks of `mailflow pair` (conflicts,
restrictions, how many mentors a mentee may have); the conflicts and registration
columns; finding a mentor by number or name; scheme timers; the list of pairs.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import body, own_example_hosts
from mailflow import matching
from mailflow.cli import main
from mailflow.clock import CountingTokens, FixedClock
from mailflow.config import load
from mailflow.enrol import parse_csv
from mailflow.errors import ConfigError, CsvError
from mailflow.render import Renderer
from mailflow.schemes import presets
from mailflow.service import Service
from mailflow.workflow.loader import check_workflow, load_workflow

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ["clinical-training", "global-health-trials", "professional-society", "research-e-mentoring"]


def run(*args: str, expect: int = 0, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)
    assert result.exit_code == expect, result.output
    return result.output


def test_the_four_presets_are_shipped():
    assert presets() == PRESETS
    for name in PRESETS:
        folder = ROOT / "rules" / name
        assert (folder / "README.md").read_text().startswith(f"# {name}\n")
        assert (folder / "templates").is_dir()


@pytest.mark.parametrize("preset", PRESETS)
def test_init_scheme_writes_the_preset_and_check_accepts_it(tmp_path, preset):
    path = tmp_path / "mailflow.toml"
    out = run("--config", str(path), "init", "--scheme", preset)
    assert f"scheme {preset}: " in out and "enrolment CSV columns: role; name; email" in out
    assert tomllib.loads(path.read_text())["scheme"]["rules"] == preset
    # Once the example's hosts and addresses are the scheme's own, check passes offline.
    own_example_hosts(path)
    out = run("--config", str(path), "check", "--offline",
              env={"MAILFLOW_IMAP_PASSWORD": "x", "MAILFLOW_SMTP_PASSWORD": "y"})
    assert "FAIL" not in out
    assert f"ok    rules {ROOT / 'rules' / preset}:" in out and "ok    templates: " in out


def test_init_scheme_says_what_each_preset_needs(tmp_path):
    out = run("--config", str(tmp_path / "a.toml"), "init", "--scheme", "clinical-training")
    assert "registration (required of every mentor" in out and "approach, specialty, location" in out
    assert "pair_list_to" in out
    out = run("--config", str(tmp_path / "b.toml"), "init", "--scheme", "research-e-mentoring")
    assert "registration" not in out and "pair_list_to" not in out
    out = run("--config", str(tmp_path / "c.toml"), "init", "--scheme", "nonesuch", expect=1)
    assert "no such preset" in out and ", ".join(PRESETS) in out
    assert not (tmp_path / "c.toml").exists(), "nothing written for an unknown preset"


def test_mailflow_enrol_from_the_command_line_in_a_scheme_that_requires_registrations(tmp_path):
    """The rows are checked for the scheme's required columns and then enrolled: the
    check must not use up the rows (a generator once left nothing to enrol)."""
    path = tmp_path / "mailflow.toml"
    run("--config", str(path), "init", "--scheme", "clinical-training")
    csv = tmp_path / "people.csv"
    csv.write_text("role,name,email,registration\nmentor,Dr Ada Byron,ada@hospital.test,HCPC PYL12345\n"
                   "mentee,Sam Lee,sam@university.test,\n")
    env = {"MAILFLOW_IMAP_PASSWORD": "x", "MAILFLOW_SMTP_PASSWORD": "y"}
    out = run("--config", str(path), "enrol", "--csv", str(csv), env=env)
    assert "2 added" in out, out
    csv.write_text("role,name,email,registration\nmentor,Dr No Number,no@hospital.test,\n")
    out = run("--config", str(path), "enrol", "--csv", str(csv), env=env, expect=1)
    assert "people.csv:2: mentor no@hospital.test has no registration" in out and "nothing" in out


# --------------------------------------------------------------------------- extending a folder


BASE_PLUS = """\
[workflow]
name = "small"
extends = "default"

[replies.anytime.commands]
wave = ["wave", "hello there"]
end = { words = ["end", "finish", "we are done"], args = ["text?"] }

[[on]]
reply = "anytime"
command = "end"
state = "*"
need = "confirm"
waiting = [{ template = "ending/confirm-end", to = "sender", expects = "anytime" }]
do = "end"
goto = "ended"
send = [{ template = "ending/you-ended", to = "sender" }]

[[on]]
reply = "anytime"
command = "wave"
state = "any"
send = [{ template = "anytime/help", to = "sender" }]
"""


def test_a_folder_extends_a_reply_context_and_its_own_rule_comes_first(tmp_path):
    (tmp_path / "small.toml").write_text(BASE_PLUS)
    (tmp_path / "templates").mkdir()
    wf, problems = check_workflow(tmp_path)
    assert problems == []
    anytime = wf.replies["anytime"]
    assert anytime.commands["wave"] == ("wave", "hello there") and "pause" in anytime.commands
    assert anytime.commands["end"] == ("end", "finish", "we are done"), "the folder's words replace the base's"
    ends = [r for r in wf.rules if r.command == "end" and "anytime" in r.reply]
    assert ends[0].need == "confirm" and ends[0].where.file.name == "small.toml", "the folder's own rule first"
    assert wf.template_folders == (tmp_path / "templates",)

    # Several files may add to a base's context, but not the same command, and a context
    # of the folder's own is defined once.
    (tmp_path / "more.toml").write_text('[workflow]\nname = "more"\n\n[replies.anytime.commands]\n'
                                        'nod = ["nod"]\n\n[replies.own]\nfrom = ["mentee"]\n'
                                        '[replies.own.commands]\nyes = ["yes"]\n')
    wf, problems = check_workflow(tmp_path)
    assert problems == [] and {"nod", "wave", "pause"} <= set(wf.replies["anytime"].commands)
    (tmp_path / "twice.toml").write_text('[workflow]\nname = "twice"\n\n[replies.anytime.commands]\n'
                                         'wave = ["wave"]\n\n[replies.own]\nfrom = ["mentee"]\n'
                                         '[replies.own.commands]\nno = ["no"]\n')
    _wf, problems = check_workflow(tmp_path)
    assert any("twice.toml" in p and "command 'wave' is already added to reply context 'anytime' at" in p
               and "small.toml" in p for p in problems), problems
    assert any("twice.toml" in p and "reply context 'own' is already defined at" in p for p in problems), problems


def test_a_clash_of_words_in_an_extended_context_is_reported(tmp_path):
    (tmp_path / "small.toml").write_text(BASE_PLUS.replace('wave = ["wave", "hello there"]', 'wave = ["wave", "pause"]'))
    _wf, problems = check_workflow(tmp_path)
    assert any("'pause' means both" in p for p in problems), problems


@pytest.mark.parametrize("timer, says", [
    ('state = "active"\n', "a scheme's timer has no state"),
    ('', "it can only write to coordinators"),
    ('scope = "everyone"\n', 'scope must be "scheme"'),
])
def test_a_scheme_timer_is_checked(tmp_path, timer, says):
    to = "mentor" if says.startswith("it can only") else "coordinators"
    scope = "" if "scope" in timer else 'scope = "scheme"\n'
    (tmp_path / "t.toml").write_text(
        '[workflow]\nname = "t"\nextends = "default"\n\n[[timers]]\nname = "check"\n' + scope + timer +
        f'after = "30d"\nevery = "30d"\nsend = [{{ template = "eligibility/check-registrations", to = "{to}" }}]\n')
    _wf, problems = check_workflow(tmp_path)
    assert any(says in p and "t.toml:" in p for p in problems), problems


def test_a_presets_templates_come_before_the_shipped_ones_and_after_the_schemes_own(tmp_path):
    wf = load_workflow(ROOT / "rules" / "professional-society")
    own = tmp_path / "own"
    (own / "introduction").mkdir(parents=True)
    (own / "introduction" / "to-mentee.txt").write_text("Subject: our own\n\nHello.\n")
    r = Renderer(own, extra=wf.template_folders)
    assert r.folders[1] == str(ROOT / "rules" / "professional-society" / "templates")
    assert r.exists("meetings/missed") and not Renderer().exists("meetings/missed")
    assert (ROOT / "rules/professional-society/templates/introduction/to-mentee.txt").exists()
    assert r.text_env.get_template("introduction/to-mentee.txt").filename == str(own / "introduction/to-mentee.txt")


# --------------------------------------------------------------------------- the pairing checks


PEOPLE = """\
role,name,email,conflicts,registration,expertise
coordinator,Jo Coordinator,coordinator@scheme.test,,,
mentor,Dr Ada Byron,ada@hospital.test,,HCPC PYL12345,Trials
mentor,Dr Tom Marsh,tom@uni.test,examiner:sam@university.test,HCPC PYL99999,Statistics
mentor,Dr Ana Núñez,ana@hospital.test,,UKCP 2009123456,Qualitative methods
mentor,Dr Anna Smith,anna@hospital.test,,UKCP 2009123457,
mentor,Dr Ada Lovelace,lovelace@hospital.test,,HCPC PYL55555,Data
mentee,Sam Lee,sam@university.test,line-manager:ana@hospital.test,,
mentee,Kim Park,kim@university.test,,,
"""


@pytest.fixture
def scheme(tmp_path, smtp_sink):
    path = tmp_path / "mailflow.toml"
    path.write_text(textwrap.dedent(f"""\
        [scheme]
        name = "Test Scheme"
        address = "scheme@scheme.test"
        coordinators = ["coordinator@scheme.test"]
        rules = "clinical-training"
        consent = "implied"
        [smtp]
        host = "{smtp_sink.host}"
        port = {smtp_sink.port}
        tls = "none"
        """))
    service = Service(load(path), clock=FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)),
                      tokens=CountingTokens())
    service.enrol(parse_csv(PEOPLE))
    yield path, service
    service.close()


def _cli(path: Path, *args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["--config", str(path), *args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def test_pair_refuses_a_conflict_either_way_and_names_it(scheme):
    path, service = scheme
    out = _cli(path, "pair", "sam@university.test", "tom@uni.test", expect=1)
    assert "have a conflict of interest: examiner (in the conflicts column of tom@uni.test)" in out
    out = _cli(path, "pair", "sam@university.test", "ana@hospital.test", expect=1)
    assert "conflict of interest: line-manager (in the conflicts column of sam@university.test)" in out
    assert "pair 1:" in _cli(path, "pair", "kim@university.test", "tom@uni.test"), "no conflict with Kim"


def test_restrict_and_restore_a_mentor(scheme):
    path, service = scheme
    _cli(path, "pair", "sam@university.test", "ada@hospital.test")
    out = _cli(path, "restrict", "ada@hospital.test", "--reason", "HCPC suspension")
    assert "restricted; not listed and cannot be paired. Flagged to the coordinators: pair(s) 1 (not ended)." in out
    out = _cli(path, "pair", "kim@university.test", "ada@hospital.test", expect=1)
    assert "ada@hospital.test is restricted since" in out and "HCPC suspension" in out
    assert "already restricted" in _cli(path, "restrict", "ada@hospital.test", "--reason", "again", expect=1)
    status = _cli(path, "status")
    assert "! ada@hospital.test is restricted since" in status and "mentor-restricted" in status
    assert "introduced" in status, "the pair was not ended"
    kim = service.store.participant_by_email("kim@university.test")
    assert "Dr Ada Byron" not in [e["name"] for e in matching.listing(service.store, service.workflow, kim)]
    assert "Flag lifted on pair(s) 1." in _cli(path, "restore", "ada@hospital.test")
    assert "mentor-restricted" not in _cli(path, "status")
    assert "Dr Ada Byron" in [e["name"] for e in matching.listing(service.store, service.workflow, kim)]
    assert "not restricted" in _cli(path, "restore", "ada@hospital.test", expect=1)
    assert "only mentors" in _cli(path, "restrict", "kim@university.test", "--reason", "x", expect=1)


def test_a_mentee_may_have_as_many_mentors_as_the_scheme_allows(scheme):
    path, service = scheme
    _cli(path, "pair", "kim@university.test", "ada@hospital.test")
    out = _cli(path, "pair", "kim@university.test", "anna@hospital.test", expect=1)
    assert "kim@university.test is already paired with ada@hospital.test (pair 1" in out
    kim = service.store.participant_by_email("kim@university.test")
    anna = service.store.participant_by_email("anna@hospital.test")
    ps = load_workflow(ROOT / "rules" / "professional-society")
    assert matching.pairing_problem(service.store, ps, kim, anna) is None, "professional-society: up to three"
    ada = service.store.participant_by_email("ada@hospital.test")
    assert matching.pairing_problem(service.store, ps, kim, ada).kind == "same-pair"


def test_the_directory_for_one_mentee_leaves_out_conflicts_and_full_mentors(scheme):
    _path, service = scheme
    store, wf = service.store, service.workflow
    sam, kim = (store.participant_by_email(e) for e in ("sam@university.test", "kim@university.test"))
    assert [e["name"] for e in matching.listing(store, wf, sam)] == ["Dr Ada Byron", "Dr Ada Lovelace",
                                                                     "Dr Anna Smith"]
    assert [e["name"] for e in matching.listing(store, wf, kim)] == [
        "Dr Ada Byron", "Dr Ada Lovelace", "Dr Ana Núñez", "Dr Anna Smith", "Dr Tom Marsh"]
    entry = matching.listing(store, wf, kim)[0]
    assert entry["number"] == store.participant_by_email("ada@hospital.test")["id"] and entry["room"] is None
    store.conn.execute("UPDATE participants SET capacity = 0 WHERE email = 'ada@hospital.test'")
    assert "Dr Ada Byron" not in [e["name"] for e in matching.listing(store, wf, kim)]


@pytest.mark.parametrize("choice, expected, candidates", [
    ("Byron", "ada@hospital.test", []),
    ("dr ada byron", "ada@hospital.test", []),
    ("Ada", None, ["Dr Ada Byron", "Dr Ada Lovelace"]),     # two Adas: never guessed, both offered
    ("Ana Nunez", "ana@hospital.test", []),                 # accents need not be typed
    ("Ann", "anna@hospital.test", []),                      # the start of a name, when only one fits
    ("Byron, please", None, []),                            # not a name: nothing guessed
    ("An", None, []),                                       # too short to be the start of a name
    ("Tom", "tom@uni.test", []),                            # found even in conflict: the check refuses it
    ("#{tom}", "tom@uni.test", []),
    ("99", None, []),
])
def test_request_finds_a_mentor_by_number_or_name(scheme, choice, expected, candidates):
    _path, service = scheme
    store = service.store
    sam = store.participant_by_email("sam@university.test")
    choice = choice.replace("{tom}", str(store.participant_by_email("tom@uni.test")["id"]))
    mentor, maybe = matching.resolve(store, service.workflow, sam, choice)
    assert (mentor["email"] if mentor else None) == expected
    assert maybe == candidates


def test_conflicts_and_registration_columns_are_checked_with_line_numbers():
    with pytest.raises(CsvError) as err:
        parse_csv("role,name,email,conflicts\nmentor,A B,a@x.test,examiner:nobody\n"
                  "mentee,C D,c@x.test,tom@x.test\n", "people.csv")
    text = str(err.value)
    assert "people.csv:2: conflict 'examiner:nobody': 'nobody' is not an email address" in text
    assert "people.csv:3: conflict 'tom@x.test' has no reason" in text
    people = parse_csv("role,name,email,conflicts\nmentee,C D,c@x.test,examiner: tom@x.test; line-manager:ann@y.test\n")
    assert matching.parse_conflicts(people[0].extra["conflicts"]) == (
        [("examiner", "tom@x.test"), ("line-manager", "ann@y.test")], [])


def test_pair_list_to_must_be_addresses(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[scheme]\nname = "S"\naddress = "s@x.test"\ncoordinators = ["c@x.test"]\n'
                    'pair_list_to = ["Tutor <TUTOR@x.test>"]\n[smtp]\nhost = "h"\n')
    assert load(path).scheme.pair_list_to == ("tutor@x.test",)
    path.write_text(path.read_text().replace('"Tutor <TUTOR@x.test>"', '"the tutor"'))
    with pytest.raises(ConfigError, match=r"\[scheme\] pair_list_to: 'the tutor' is not an email address"):
        load(path)


# --------------------------------------------------------------------------- scheme timers


def test_the_registration_check_recurs_once_per_period_without_a_backlog(scheme, smtp_sink):
    _path, service = scheme
    clock = service.clock
    assert service.fire_timers() == 0
    [row] = service.store.all("SELECT due_at, status FROM timers WHERE pair_id IS NULL AND participant_id IS NULL")
    assert row == {"due_at": "2026-05-31T09:00:00+00:00", "status": "pending"}
    clock.advance(days=300)  # three periods pass while the service is down: one email, not three
    service.fire_timers()
    service.fire_timers()
    rows = service.store.all("SELECT due_at, status FROM timers WHERE name = 'registration-check' ORDER BY id")
    assert [r["status"] for r in rows] == ["fired", "pending"] and rows[1]["due_at"] == "2027-02-25T09:00:00+00:00"
    service.deliver()
    sent = service.store.all("SELECT to_addr, template FROM outbox WHERE status = 'sent'")
    assert [r for r in sent if r["template"] == "eligibility/check-registrations"] == [
        {"to_addr": "coordinator@scheme.test", "template": "eligibility/check-registrations"}]
    [mail] = [m for m in smtp_sink.wait_for(len(sent)) if m.message["X-Mailflow-Template"] ==
              "eligibility/check-registrations"]
    text = body(mail)
    assert "Dr Tom Marsh: Email: tom@uni.test Registration: HCPC PYL99999" in text
