"""Enrolment from CSV: a bad row is reported by line number and nothing is half-applied."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from mailflow.cli import main
from mailflow.enrol import parse_csv
from mailflow.errors import CsvError

GOOD = "role,name,email,department\nmentor,Ada Byron,ADA@x.test,Pharmacy\nmentee,Sam Lee,sam@x.test,\n"


def test_good_csv_keeps_extra_columns():
    people = parse_csv(GOOD)
    assert [(p.role, p.email, p.extra) for p in people] == [
        ("mentor", "ada@x.test", {"department": "Pharmacy"}),
        ("mentee", "sam@x.test", {"department": ""}),
    ]


def test_semicolons_and_bom_and_blank_lines():
    people = parse_csv("\ufeffRole;Name;Email\n\nmentee;\"Lee, Sam\";sam@x.test\n")
    assert people[0].name == "Lee, Sam" and people[0].role == "mentee"


@pytest.mark.parametrize("text, says", [
    ("name,email\nAda,a@x.test\n", ":1: the header has no role column"),
    ("role,name,email\nmentor,Ada,not-an-address\n", ":2: 'not-an-address' is not an email address"),
    ("role,name,email\nmentor,Ada,a@x.test\nmentee,Sam,a@x.test\n", ":3: a@x.test is already on line 2"),
    ("role,name,email\nteacher,Ada,a@x.test\n", ":2: role 'teacher' is not one of mentor, mentee, coordinator"),
    ("role,name,email\nmentor,,a@x.test\n", ":2: the name is empty"),
    ("role,name,email\nmentor,Ada,a@x.test,extra\n", ":2: 4 values but the header has 3 columns"),
    ("role,name,email\n", "no rows after the header"),
    ("", "the file is empty"),
])
def test_bad_rows_are_named_by_line(text, says):
    with pytest.raises(CsvError) as err:
        parse_csv(text, "people.csv")
    assert says in str(err.value)


def test_bad_row_applies_nothing(tmp_path):
    config = tmp_path / "mailflow.toml"
    config.write_text(textwrap.dedent("""\
        [scheme]
        name = "S"
        address = "m@scheme.test"
        coordinators = ["c@scheme.test"]
        [outbox]
        transport = "maildir"
        maildir = "out"
        """))
    csv = tmp_path / "people.csv"
    csv.write_text("role,name,email\nmentor,Ada,a@x.test\nmentee,Sam,sam-at-x.test\nmentee,Kim,kim@x.test\n")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "enrol", "--csv", str(csv)])
    assert result.exit_code == 1
    assert f"{csv}:3: 'sam-at-x.test' is not an email address" in result.output
    assert "nothing from the file was applied" in result.output
    status = runner.invoke(main, ["--config", str(config), "status", "--json"])
    assert '"participants": []' in status.output

    csv.write_text("role,name,email\nmentor,Ada,a@x.test\nmentee,Sam,sam@x.test\n")
    result = runner.invoke(main, ["--config", str(config), "enrol", "--csv", str(csv)])
    assert result.exit_code == 0 and "2 added" in result.output
    result = runner.invoke(main, ["--config", str(config), "enrol", "--csv", str(csv)])
    assert "0 added, 0 updated, 2 unchanged" in result.output
