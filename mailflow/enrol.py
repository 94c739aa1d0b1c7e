"""Read an enrolment CSV file: ``role,name,email`` and any other columns.

Other columns are kept with the participant. mailflow itself reads ``timezone`` (an
IANA name: dates in their emails and invites are shown in it), ``language`` (a BCP 47
tag such as ``fr`` or ``pt-BR``: their emails, command words and dates), ``capacity`` (how
many mentees a mentor takes at once), ``conflicts`` (conflicts of interest,
``reason:email`` separated by ``;``, e.g. ``examiner:tom@uni.example``: such a pair
is never made) and ``registration`` (a mentor's professional body and number, e.g.
``HCPC PYL12345``; a scheme may require it of every mentor, see
:func:`check_for_scheme`). A scheme's directory shows the columns it names
(``[settings] directory_fields``).

The whole file is checked before anything is written: a bad row is reported with
its line number, what is wrong and what to do, and nothing from the file is applied.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CsvError
from .headers import AddressError, breakers, envelope_address, has_encoded_word
from .matching import parse_conflicts, registration_problem

ROLES = ("mentor", "mentee", "coordinator")
REQUIRED = ("role", "name", "email")
_ADDR = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_ROLE_SYNONYMS = {"mentors": "mentor", "mentees": "mentee", "coordinators": "coordinator", "coordinator": "coordinator",
                  "co-ordinator": "coordinator", "coord": "coordinator"}


@dataclass(frozen=True)
class Person:
    line: int
    role: str
    name: str
    email: str
    extra: dict[str, str] = field(default_factory=dict)
    source: str = "CSV"  # the file's name, for messages


def _sendable(email: str) -> bool:
    try:
        envelope_address(email)
    except AddressError:
        return False
    return True


def read_csv(path: Path) -> list[Person]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvError(f"{path}: cannot read the file ({exc.strerror}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(
            f"{path}: not UTF-8 text (byte {exc.start}). Save the spreadsheet as 'CSV UTF-8' and try again."
        ) from None
    return parse_csv(text, str(path))


def parse_csv(text: str, name: str = "CSV") -> list[Person]:
    text = text.lstrip("\ufeff")  # a byte-order mark from a spreadsheet's "CSV UTF-8"
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError(f"{name}: the file is empty; the first line must be the header role,name,email.") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvError(
            f"{name}:1: the header has no {', '.join(missing)} column; the first line must name the columns, "
            f"at least role,name,email (found: {', '.join(h for h in header if h) or 'nothing'})."
        )
    dupes = {c for c in columns if c and columns.count(c) > 1}
    if dupes:
        raise CsvError(f"{name}:1: the column(s) {', '.join(sorted(dupes))} appear more than once in the header.")

    people: list[Person] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            problems.append(f"{name}:{line}: {len(row)} values but the header has {len(columns)} columns "
                            "(a comma inside a name needs the name in double quotes).")
            continue
        values = {c: (row[i].strip() if i < len(row) else "") for i, c in enumerate(columns)}
        role = _ROLE_SYNONYMS.get(values["role"].lower(), values["role"].lower())
        email = values["email"].lower()
        person_name = values["name"]
        if role not in ROLES:
            problems.append(f"{name}:{line}: role {values['role']!r} is not one of {', '.join(ROLES)}.")
        if not person_name:
            problems.append(f"{name}:{line}: the name is empty.")
        elif breakers(person_name):
            problems.append(f"{name}:{line}: the name holds line-break or control characters "
                            f"({', '.join(breakers(person_name))}); retype it as plain text.")
        elif has_encoded_word(person_name):
            problems.append(f"{name}:{line}: the name is an encoded word (=?...?=), not plain text; "
                            "write the name as it should read.")
        elif len(person_name) > 200:
            problems.append(f"{name}:{line}: the name is over 200 characters.")
        if not _ADDR.match(email) or not _sendable(email):
            problems.append(f"{name}:{line}: {values['email']!r} is not an email address mail can be sent to.")
        elif email in seen:
            problems.append(f"{name}:{line}: {email} is already on line {seen[email]}.")
        else:
            seen[email] = line
        extra = {c: v for c, v in values.items() if c not in REQUIRED and c}
        if extra.get("timezone"):
            try:
                zoneinfo.ZoneInfo(extra["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problems.append(f"{name}:{line}: timezone {extra['timezone']!r} is not an IANA time zone name "
                                "such as Europe/London or Africa/Kampala (leave it empty for the scheme's).")
        if extra.get("language"):
            from .i18n import normalise

            try:
                extra["language"] = normalise(extra["language"])
            except ValueError:
                problems.append(f"{name}:{line}: language {extra['language']!r} is not a language tag such as fr, "
                                "es, pt or pt-BR (BCP 47; leave it empty for the scheme's language).")
        if extra.get("capacity") and not (extra["capacity"].isdigit() and int(extra["capacity"]) <= 50):
            problems.append(f"{name}:{line}: capacity {extra['capacity']!r} is not a whole number from 0 to 50 "
                            "(how many mentees at once; leave it empty for no limit).")
        if extra.get("conflicts"):
            _items, wrong = parse_conflicts(extra["conflicts"])
            problems += [f"{name}:{line}: {w} (the conflicts column is reason:email, several separated by ;)."
                         for w in wrong]
        if extra.get("registration") and registration_problem(extra["registration"]):
            problems.append(f"{name}:{line}: {registration_problem(extra['registration'])}.")
        people.append(Person(line, role, person_name, email, extra, name))
    if problems:
        more = f"\n({len(problems)} problems; nothing from the file was applied.)"
        raise CsvError("\n".join(problems[:20]) + more)
    if not people:
        raise CsvError(f"{name}: no rows after the header; nothing to enrol.")
    return people


def check_for_scheme(people: list[Person], settings: dict) -> None:
    """The columns a scheme requires (``[settings] mentor_registration_required =
    true``: every mentor's ``registration``). A row without one is reported with its
    line number, and nothing from the file is applied."""
    if settings.get("mentor_registration_required") is not True:
        return
    problems = [f"{p.source}:{p.line}: mentor {p.email} has no registration; this scheme requires every mentor's "
                "professional registration, the body and the number (a registration column, e.g. HCPC PYL12345)."
                for p in people if p.role == "mentor" and not p.extra.get("registration", "").strip()]
    if problems:
        raise CsvError("\n".join(problems[:20]) + f"\n({len(problems)} problems; nothing from the file was applied.)")


@dataclass(frozen=True)
class PairRow:
    line: int
    mentee: str
    mentor: str


def read_pairs_csv(path: Path) -> list[PairRow]:
    """A bulk pairing file for ``mailflow pair --csv``: columns ``mentee,mentor`` (the
    addresses; a header row naming them, in either order, is optional). Every row
    is checked before anything is written; a bad one names its line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise CsvError(f"{path}: cannot read the file ({exc.strerror}).") from None
    except UnicodeDecodeError as exc:
        raise CsvError(f"{path}: not UTF-8 text (byte {exc.start}). Save it as 'CSV UTF-8' and try again.") from None
    rows = [r for r in csv.reader(io.StringIO(text))]
    order = (0, 1)
    out: list[PairRow] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and not any("@" in c for c in cells):  # a header row
            names = [c.lower() for c in cells]
            if "mentee" not in names or "mentor" not in names:
                raise CsvError(f"{path}:1: the header must name the columns mentee and mentor (found {row!r}).")
            order = (names.index("mentee"), names.index("mentor"))
            continue
        if len(cells) <= max(order):
            raise CsvError(f"{path}:{number}: needs a mentee's and a mentor's address; found {row!r}. "
                           "Nothing from the file was applied.")
        mentee, mentor = cells[order[0]].lower(), cells[order[1]].lower()
        for what, addr in (("mentee", mentee), ("mentor", mentor)):
            if not _ADDR.match(addr):
                raise CsvError(f"{path}:{number}: {what} {addr!r} is not an email address. "
                               "Nothing from the file was applied.")
        if mentee in seen:
            raise CsvError(f"{path}:{number}: {mentee} is paired already on line {seen[mentee]}; "
                           "a mentee has one mentor at a time. Nothing from the file was applied.")
        seen[mentee] = number
        out.append(PairRow(number, mentee, mentor))
    return out
