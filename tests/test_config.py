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
