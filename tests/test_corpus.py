"""The golden corpus: real-client replies to mailflow's own emails (``tests/corpus/``).

Each folder holds one reply, ``message.eml`` (the raw bytes as they arrive, CRLF line
endings), written the way one mail client really builds it, and ``expected.json``,
what the person meant. The expectations are a specification written from the
client's side, not a snapshot of the parser's output: a failing case points at a
parser bug, and is fixed in ``mailflow/parse``, never by editing the expectation.

expected.json keys:

``client`` (str)           which client, and what the case tests
``context`` (str)          the reply context the email answers: introduction,
                           agreement or agreement-confirm
``date_order`` (str)       the scheme's date order (default "DMY"); tz is Europe/London
``now`` (ISO datetime)     the service's clock
``command`` (str|null)     the command the reply carries
``candidates`` (list)      when given: the commands an ambiguous reply could be
``command_rest_includes``  when given: text found in the command's ``rest`` (a reason)
``fields`` (object)        field name -> {"status": ..., "value": ...}; only the fields
                           listed are checked; values compared as text (stripped), dates
                           as ISO strings, lists as lists of strings
``new_text_includes``      strings that must be in ``Mail.new_text``
``new_text_excludes``      strings that must not be (quoted history, footers, disclaimers)
``body`` (str)             when given: exactly ``Reply.body``, the author's own words
                           (no quoted lines, closing, signature, footer or disclaimer)
``closing`` (str)          when given: exactly ``Reply.closing`` (valediction and name)
``signature`` (str)        when given: exactly ``Reply.signature`` (the signature block)
``languages`` (list)       the scheme's ``[scheme] languages`` (default ["en"])
``names`` (list)           the participant's enrolled name(s) (default: none)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mailflow import parse
from mailflow.workflow.engine import expectation
from mailflow.workflow.loader import load_workflow, rules_folder

CORPUS = Path(__file__).parent / "corpus"
TZ = "Europe/London"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
KEYS = {"client", "context", "date_order", "now", "command", "candidates", "command_rest_includes", "fields",
        "new_text_includes", "new_text_excludes", "body", "closing", "signature", "languages", "names"}
CONTEXTS = {"introduction", "agreement", "agreement-confirm"}


@pytest.fixture(scope="module")
def workflow():
    return load_workflow(rules_folder("default"))


def _plain(value: object) -> object:
    """A field value as the corpus writes it: dates as ISO strings, lists as lists of str."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    if value is None:
        return None
    return str(value).strip()


def _expected_value(value: object) -> object:
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    if isinstance(value, str):
        return value.strip()
    return value


def test_corpus_is_there():
    assert len(CASES) >= 20, f"expected the golden corpus in {CORPUS}, found {len(CASES)} cases"
    for name in CASES:
        assert (CORPUS / name / "message.eml").is_file(), f"{name}: no message.eml"
        assert (CORPUS / name / "expected.json").is_file(), f"{name}: no expected.json"


@pytest.mark.parametrize("name", CASES)
def test_corpus(name: str, workflow) -> None:
    folder = CORPUS / name
    raw = (folder / "message.eml").read_bytes()
    exp = json.loads((folder / "expected.json").read_text(encoding="utf-8"))

    # The case file itself must be well formed (a typo would silently check nothing).
    assert set(exp) <= KEYS, f"unknown keys in expected.json: {sorted(set(exp) - KEYS)}"
    assert exp["context"] in CONTEXTS, f"unknown context {exp['context']!r}"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "message.eml must have CRLF line endings"

    mail = parse.read(raw, tz=TZ)
    want = expectation(workflow, exp["context"])
    declared = {f.name for f in want.fields}
    assert set(exp.get("fields", {})) <= declared, f"unknown fields: {sorted(set(exp.get('fields', {})) - declared)}"

    now = dt.datetime.fromisoformat(exp["now"])
    reply = parse.understand(mail, want, now=now, tz=TZ, date_order=exp.get("date_order", "DMY"),
                             languages=exp.get("languages", ["en"]), names=exp.get("names", []))

    problems: list[str] = []
    if mail.machine is not None:
        problems.append(f"a person wrote this, but it was read as machine mail: {mail.machine}")

    if reply.command.name != exp["command"]:
        problems.append(f"command: expected {exp['command']!r}, got {reply.command.name!r} "
                        f"(line read: {reply.command.line!r}, candidates {reply.command.candidates!r})")
    if "candidates" in exp and list(reply.command.candidates) != exp["candidates"]:
        problems.append(f"candidates: expected {exp['candidates']!r}, got {list(reply.command.candidates)!r}")
    for text in exp.get("command_rest_includes", []):
        if text not in reply.command.rest:
            problems.append(f"command rest: expected to include {text!r}, got {reply.command.rest!r}")

    for field, spec in exp.get("fields", {}).items():
        got = reply.fields.get(field)
        if got is None:
            problems.append(f"field {field}: not in the reply at all")
            continue
        if got.status != spec["status"]:
            problems.append(f"field {field}: expected status {spec['status']!r}, got {got.status!r} "
                            f"(value {_plain(got.value)!r}, raw {got.raw!r}, reason {got.reason!r})")
            continue
        if "value" in spec and _plain(got.value) != _expected_value(spec["value"]):
            problems.append(f"field {field}: expected {_expected_value(spec['value'])!r}, got {_plain(got.value)!r} "
                            f"(raw {got.raw!r})")

    for text in exp.get("new_text_includes", []):
        if text not in mail.new_text:
            problems.append(f"new text: expected to include {text!r}")
    for text in exp.get("new_text_excludes", []):
        if text in mail.new_text:
            problems.append(f"new text: must not include {text!r}")
    for part in ("body", "closing", "signature"):
        if part in exp and getattr(reply, part) != exp[part]:
            problems.append(f"{part}: expected {exp[part]!r}, got {getattr(reply, part)!r}")

    assert not problems, (
        f"{name} ({exp['client']}):\n  " + "\n  ".join(problems) + "\n--- new text was:\n" + mail.new_text
    )
