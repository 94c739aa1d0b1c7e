"""Config: every error names the file, the key and what is allowed; secrets never live in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mailflow.config import SCHEMA, load, parse
from mailflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
[scheme]
name = "S"
address = "mentoring@example.org"
coordinators = ["c@example.org"]
[smtp]
host = "smtp.example.org"
"""


def cfg(text: str, tmp_path: Path):
    path = tmp_path / "mailflow.toml"
    path.write_text(text)
    return load(path)


def test_example_config_loads_and_documents_every_key():
    config = load(ROOT / "config.example.toml")
    assert config.scheme.address == "mentoring@example.org"
    assert config.imap.password.env == "MAILFLOW_IMAP_PASSWORD"
    text = (ROOT / "config.example.toml").read_text()
    data = tomllib.loads(text)
    lines = text.splitlines()
    for section, keys in SCHEMA.items():
        assert section in data, f"config.example.toml lacks [{section}]"
        start = lines.index(f"[{section}]")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        for key in keys:
            # Each key appears in its section (set, or commented out) with a comment above it.
            idx = next((i for i in range(start, end) if re.match(rf"^#?\s*{key}\s*=", lines[i])), None)
            assert idx is not None, f"[{section}] {key} is not in config.example.toml"
            assert lines[idx - 1].lstrip().startswith("#"), f"[{section}] {key} has no comment above it"


def test_minimal_config_gets_defaults(tmp_path):
    config = cfg(MINIMAL, tmp_path)
    assert config.imap.enabled is False
    assert config.imap.folder == "INBOX" and config.imap.tls == "ssl"
    assert config.database_path == (tmp_path / "mailflow.db").resolve()
    assert config.scheme.reply_address("abc") == "mentoring+abc@example.org"


@pytest.mark.parametrize("text, where, says", [
    (MINIMAL + "[imap]\npassword = 'hunter2'\n", "[imap] password", "password_env"),
    (MINIMAL + "[smtp2]\n", "[smtp2]", "Did you mean 'smtp'"),
    (MINIMAL + "[imap]\nfolderr = 'X'\n", "[imap] folderr", "Did you mean 'folder'"),
    (MINIMAL + "[imap]\ntls = 'yes'\n", "[imap] tls", "'ssl', 'starttls', 'none'"),
    (MINIMAL + "[imap]\nport = '993'\n", "[imap] port", "a whole number"),
    (MINIMAL + "[imap]\nport = 70000\n", "[imap] port", "1-65535"),
    (MINIMAL.replace("mentoring@example.org", "Mentoring <m@example.org>"), "[scheme] address", "plain email address"),
    (MINIMAL.replace("mentoring@example.org", "m+x@example.org"), "[scheme] address", "no '+'"),
    (MINIMAL + "[imap]\nhost = 'imap.example.org'\n", "[imap] username", "required"),
    (MINIMAL.replace('name = "S"', 'name = "S"\ntimezone = "Mars/Olympus"'), "[scheme] timezone", "IANA"),
    (MINIMAL + "[imap]\npassword_env = 'A'\npassword_file = 'b'\n", "[imap]", "not both"),
    ("[scheme\nname=1", "mailflow.toml", "not valid TOML"),
])
def test_bad_config_names_file_and_key(tmp_path, text, where, says):
    with pytest.raises(ConfigError) as err:
        cfg(text, tmp_path)
    message = str(err.value)
    assert str(tmp_path / "mailflow.toml") in message
    assert where in message and says in message


def test_missing_file_says_how_to_start(tmp_path):
    with pytest.raises(ConfigError, match="mailflow init"):
        load(tmp_path / "nope.toml")


def test_secret_from_env_and_file(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\n")
    config = cfg(MINIMAL.replace('[smtp]\nhost = "smtp.example.org"',
                                 '[smtp]\nhost = "smtp.example.org"\npassword_file = "pw"')
                 + '[imap]\nhost = "i"\nusername = "u"\npassword_env = "MF_PW"\n', tmp_path)
    assert config.smtp.password.value() == "s3cret"
    with pytest.raises(ConfigError, match="MF_PW.*not set"):
        config.imap.password.value()
    monkeypatch.setenv("MF_PW", "from-env")
    assert config.imap.password.value() == "from-env"
    assert "s3cret" not in repr(config) and "from-env" not in repr(config)


def test_parse_is_pure(tmp_path):
    config = parse(MINIMAL, tmp_path / "x.toml")
    assert config.path == (tmp_path / "x.toml").resolve()


# --------------------------------------------------------------------------- every problem at once

MANY = """\
[scheme]
name = "S"
address = "Mentoring <m@example.org>"
coordinators = []
consent = "maybe"
language = "xx-klingon"

[imap]
host = "imap.scheme.test"
username = "m"
port = "993"
tls = "yes"

[smtpp]
host = "smtp.scheme.test"
"""


def test_every_problem_in_one_pass_with_file_line_and_key(tmp_path):
    from mailflow.config import find_problems

    path = tmp_path / "mailflow.toml"
    config, problems = find_problems(MANY, path)
    assert config is not None
    found = {(p.line, p.key): p for p in problems}
    where = str(path.resolve())
    assert found[(3, "[scheme] address")].message.startswith("'Mentoring <m@example.org>' is not a plain email")
    assert "needs at least one address" in found[(4, "[scheme] coordinators")].message
    assert "allowed: 'required', 'implied'" in found[(5, "[scheme] consent")].message
    assert "BCP 47" in found[(6, "[scheme] language")].message
    assert "a whole number" in found[(11, "[imap] port")].message
    assert "allowed: 'ssl', 'starttls', 'none'" in found[(12, "[imap] tls")].message
    assert "Did you mean 'smtp'" in found[(14, "[smtpp]")].message
    assert "[smtp] host" in {p.key for p in problems}, "the rule between keys ran too"
    assert all(str(p).startswith(f"{where}:{p.line}: {p.key}: ") for p in problems if p.line)
    # load stops at the first, and says how many more there are.
    path.write_text(MANY)
    with pytest.raises(ConfigError, match=r"mailflow.toml:3: \[scheme\] address: .* \(and 7 more; `mailflow check`"):
        load(path)


@pytest.mark.parametrize("section, tls, port, says", [
    ("smtp", "starttls", 465, "is 'starttls', but port 465 expects TLS from the start"),
    ("smtp", "ssl", 587, "is 'ssl', but port 587 starts in plain text"),
    ("imap", "ssl", 143, "is 'ssl', but port 143 starts in plain text"),
    ("imap", "starttls", 993, "is 'starttls', but port 993 expects TLS from the start"),
    ("imap", "ssl", 587, "587 is an SMTP port, not an IMAP one"),
    ("smtp", "ssl", 993, "993 is an IMAP port, not an SMTP one"),
])
def test_tls_and_port_that_disagree_are_warnings(tmp_path, section, tls, port, says):
    from mailflow.config import find_problems

    text = MINIMAL + '[imap]\nhost = "imap.example.org"\nusername = "u"\n'
    text = text.replace(f"[{section}]\n", f"[{section}]\ntls = \"{tls}\"\nport = {port}\n")
    config, problems = find_problems(text, tmp_path / "mailflow.toml")
    [p] = problems
    assert (p.severity, p.key) in {("warning", f"[{section}] tls"), ("warning", f"[{section}] port")}
    assert says in p.message and text.splitlines()[p.line - 1].startswith(p.key.split()[1])
    assert config is not None and cfg(text, tmp_path).smtp.port  # a warning does not stop mailflow


def test_offline_says_which_passwords_are_unset_and_which_hosts_are_the_examples(tmp_path):
    from mailflow.config import environment_problems, read

    path = tmp_path / "mailflow.toml"
    text = (ROOT / "config.example.toml").read_text().replace('# password_file = "/run/secrets/smtp-password"',
                                                              'password_file = "missing-password"')
    text = text.replace('password_env = "MAILFLOW_SMTP_PASSWORD"', "")
    path.write_text(text)
    config, problems = read(path)
    assert problems == []
    found = {p.key: p for p in environment_problems(config, environ={})}
    assert "MAILFLOW_IMAP_PASSWORD is not set" in found["[imap] password_env"].message
    assert "missing-password cannot be read" in found["[smtp] password_file"].message
    assert "still the example's host ('imap.example.org')" in found["[imap] host"].message
    assert "still the example's host ('smtp.example.org')" in found["[smtp] host"].message
    assert found["[imap] host"].line == next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("host = \"imap"))
    ok = environment_problems(config, environ={"MAILFLOW_IMAP_PASSWORD": "x"})
    assert "[imap] password_env" not in {p.key for p in ok}


def test_a_key_added_to_the_schema_is_checked_like_the_others(tmp_path, monkeypatch):
    """Others add keys (and sections): the all-at-once machinery covers them, with a
    check of their own, and a rule between keys registered with config.rule."""
    from mailflow import config as configmod

    monkeypatch.setitem(configmod.SCHEMA, "digest", {
        "weekday": (str, "monday", ("monday", "friday")),
        "hour": (int, 9, lambda v: "" if 0 <= v < 24 else f"{v} is not an hour (0-23)."),
    })
    rules = list(configmod.RULES)

    def friday_needs_morning(r):
        if r.get("digest", "weekday") == "friday" and r.get("digest", "hour") > 12:
            r.problem("digest", "hour", "a Friday digest must go out in the morning.")

    configmod.rule(friday_needs_morning)
    try:
        text = MINIMAL + '[digest]\nweekday = "sunday"\nhour = 30\n'
        _config, problems = configmod.find_problems(text, tmp_path / "mailflow.toml")
        found = {p.key: p for p in problems}
        assert found["[digest] weekday"].line == 9 and "allowed: 'monday', 'friday'" in found["[digest] weekday"].message
        assert found["[digest] hour"].line == 10 and "30 is not an hour" in found["[digest] hour"].message
        _config, problems = configmod.find_problems(MINIMAL + '[digest]\nweekday = "friday"\nhour = 15\n',
                                                    tmp_path / "mailflow.toml")
        assert [p.message for p in problems] == ["a Friday digest must go out in the morning."]
    finally:
        configmod.RULES[:] = rules


def test_check_lists_every_config_problem_and_still_checks_the_rest(tmp_path):
    from click.testing import CliRunner

    from mailflow.cli import main

    path = tmp_path / "mailflow.toml"
    path.write_text(MANY)
    result = CliRunner().invoke(main, ["--config", str(path), "check", "--offline"], env={})
    assert result.exit_code == 1
    fails = [l for l in result.output.splitlines() if l.startswith("FAIL  config: ")]
    assert len(fails) >= 8, result.output
    assert "ok    rules" in result.output and "templates:" in result.output
