"""Who may be paired with whom, and the directory mentees choose their mentor from.

One place for the checks that pairing makes, whoever asks for it: a coordinator
(``mailflow pair``) or a mentee choosing from the directory (``REQUEST``). A pair is
refused when:

- the mentee already has as many live pairs as the scheme allows
  (``[settings] mentors_per_mentee``, 1 when unset), or one with this mentor;
- either address bounces, or asked us to stop emailing it (``STOP``);
- the mentor is restricted (``mailflow restrict``: a registration issue);
- the two have a conflict of interest: the CSV column ``conflicts`` of either holds
  the other's address (``examiner:tom@uni.example;line-manager:...``);
- the mentor is unavailable (``UNAVAILABLE``) or at capacity (``CAPACITY <n>``).

Each refusal is a :class:`Problem` whose ``message`` is for coordinators (it names
the conflict and what to do); a mentee who asked is only told, neutrally, that the
mentor cannot take them on, except where the reason is their own (they already have
a mentor).

The directory lists, for one mentee, the mentors they could ask: no one who is
full, unavailable, restricted, bouncing or in conflict with them, with the profile
fields the scheme chooses from the CSV's columns (``[settings] directory_fields``).
A mentor's number in the directory is their participant number, so ``REQUEST 12``
means the same mentor in every email, whenever it was sent.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .parse.dates import display as display_date

_ADDR = re.compile(r"^[^@\s<>\"',;:]+@[^@\s<>\"',;:]+\.[^@\s<>\"',;:]+$")
_REGISTRATION = re.compile(r"^[A-Za-z][A-Za-z&.()/-]{1,15}\s+[A-Za-z0-9][A-Za-z0-9/.-]{2,30}$")


@dataclass(frozen=True)
class Problem:
    """Why a mentee and a mentor cannot be paired."""

    kind: str  # mentee-limit | same-pair | bouncing | stopped | not-taking-part | restricted | conflict | ...
    side: str  # whose reason it is: "mentee" or "mentor"
    message: str  # for coordinators and the command line
    reason: str = ""  # a conflict's reason (e.g. "examiner"), for coordinators only


# --------------------------------------------------------------------------- CSV columns


def parse_conflicts(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``examiner:tom@uni.example;line-manager:ann@trust.example`` as (reason, address)
    pairs, and what is wrong with the text (empty when nothing)."""
    items, problems = [], []
    for item in filter(None, (x.strip() for x in re.split(r"[;\n]", text or ""))):
        reason, colon, addr = item.rpartition(":")
        reason, addr = reason.strip(), addr.strip().lower()
        if not colon or not reason:
            problems.append(f"conflict {item!r} has no reason: write reason:address, e.g. examiner:{addr or 'tom@uni.example'}")
        elif not _ADDR.match(addr):
            problems.append(f"conflict {item!r}: {addr!r} is not an email address")
        else:
            items.append((reason, addr))
    return items, problems


def registration_problem(text: str) -> str:
    """What is wrong with a ``registration`` value ("" when it reads as BODY NUMBER)."""
    if _REGISTRATION.match(" ".join((text or "").split())):
        return ""
    return (f"registration {text!r} is not the professional body and the number, e.g. HCPC PYL12345 "
            "or UKCP 2009123456")


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    extra = row.get("extra") or "{}"
    return json.loads(extra) if isinstance(extra, str) else dict(extra)


def conflicts_of(row: dict[str, Any]) -> list[tuple[str, str]]:
    return parse_conflicts(str(_extra(row).get("conflicts") or ""))[0]


def conflict(mentee: dict[str, Any], mentor: dict[str, Any]) -> tuple[str, str] | None:
    """The conflict of interest between the two, as (reason, whose row lists it), or None."""
    for row, other in ((mentor, mentee), (mentee, mentor)):
        for reason, addr in conflicts_of(row):
            if addr == other["email"]:
                return reason, row["email"]
    return None


# --------------------------------------------------------------------------- pairing


def final_states(wf) -> tuple[str, ...]:
    return tuple(s for s, spec in wf.states.items() if spec.final and spec.scope == "pair")


def mentors_per_mentee(wf) -> int:
    value = wf.settings.get("mentors_per_mentee", 1)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 else 1


def _live(store, wf, sql_where: str, params: tuple) -> list[dict[str, Any]]:
    finals = final_states(wf)
    marks = ",".join("?" for _ in finals) or "''"
    return store.all(f"SELECT id, mentee_id, mentor_id, state FROM pairs WHERE {sql_where} AND state != 'new' "
                     f"AND state NOT IN ({marks}) ORDER BY id", (*params, *finals))


def pairing_problem(store, wf, mentee: dict[str, Any], mentor: dict[str, Any]) -> Problem | None:
    """The first reason these two cannot be paired now, or None."""
    mine = _live(store, wf, "mentee_id = ?", (mentee["id"],))
    same = [p for p in mine if p["mentor_id"] == mentor["id"]]
    if same:
        p = same[0]
        return Problem("same-pair", "mentee", f"{mentee['email']} and {mentor['email']} are already a pair "
                                              f"(pair {p['id']}, state {p['state']}).")
    limit = mentors_per_mentee(wf)
    if len(mine) >= limit:
        p = store.pair(mine[0]["id"])
        if limit == 1:
            message = (f"{mentee['email']} is already paired with {p['mentor_email']} (pair {p['id']}, "
                       f"state {p['state']}). Close that pair first: mailflow close {p['id']} [--reason TEXT].")
        else:
            message = (f"{mentee['email']} already has {len(mine)} live pairs (pairs "
                       f"{', '.join(str(x['id']) for x in mine)}), the most this scheme allows "
                       f"(mentors_per_mentee = {limit}). Close one first: mailflow close PAIR.")
        return Problem("mentee-limit", "mentee", message)
    if mentee["status"] == "bouncing" or mentor["status"] == "bouncing":
        bad = mentee if mentee["status"] == "bouncing" else mentor
        return Problem("bouncing", "mentee" if bad is mentee else "mentor",
                       f"email to {bad['email']} has bounced; fix the address (re-enrol) before pairing.")
    for row in (mentee, mentor):
        if row["status"] == "stopped":
            return Problem("stopped", "mentee" if row is mentee else "mentor",
                           f"{row['email']} asked to stop receiving email (STOP); talk to them, then enrol them "
                           "again to clear it, before pairing.")
    for row in (mentee, mentor):
        # Their own state: nobody is introduced or listed before saying YES to the welcome.
        if not wf.pairable(row.get("state")):
            spec = wf.states.get(row.get("state") or "")
            return Problem("not-taking-part", "mentee" if row is mentee else "mentor",
                           f"{row['email']} cannot be paired yet: "
                           f"{(spec.description if spec else '') or row.get('state')}.")
    if mentor.get("restricted_at"):
        return Problem("restricted", "mentor",
                       f"{mentor['email']} is restricted since {mentor['restricted_at'][:10]} "
                       f"({mentor.get('restricted_reason') or 'no reason recorded'}) and cannot be paired; "
                       f"`mailflow restore {mentor['email']}` lifts it.")
    found = conflict(mentee, mentor)
    if found is not None:
        reason, listed = found
        return Problem("conflict", "mentor",
                       f"{mentee['email']} and {mentor['email']} have a conflict of interest: {reason} "
                       f"(in the conflicts column of {listed}). They cannot be paired; choose another mentor.",
                       reason=reason)
    if not mentor["available"]:
        return Problem("unavailable", "mentor",
                       f"{mentor['email']} is not available for new mentees (they replied UNAVAILABLE); "
                       "they can reply AVAILABLE when they are.")
    live = len(_live(store, wf, "mentor_id = ?", (mentor["id"],)))
    if mentor["capacity"] is not None and live >= mentor["capacity"]:
        return Problem("full", "mentor",
                       f"{mentor['email']} is at capacity: {live} live pair(s), capacity {mentor['capacity']}. "
                       "They can raise it by replying CAPACITY <n>.")
    return None


# --------------------------------------------------------------------------- the directory


def _label(column: str) -> str:
    return column.replace("_", " ").replace("-", " ").strip().capitalize()


def listing(store, wf, mentee: dict[str, Any]) -> list[dict[str, Any]]:
    """The mentors ``mentee`` may ask now, by name: number, name, profile fields, room."""
    columns = [c for c in wf.settings.get("directory_fields", []) if isinstance(c, str)]
    out = []
    mentors = store.all("SELECT * FROM participants WHERE role = 'mentor' ORDER BY id")
    live_by_mentor: dict[int, int] = {}
    for p in _live(store, wf, "1 = ?", (1,)):
        live_by_mentor[p["mentor_id"]] = live_by_mentor.get(p["mentor_id"], 0) + 1
    for m in mentors:
        problem = pairing_problem(store, wf, mentee, m)
        # The mentee's own limit does not empty the list: they are told that if they ask.
        if problem is not None and (problem.side == "mentor" or problem.kind == "same-pair"):
            continue
        extra = _extra(m)
        fields = [{"label": _label(c), "value": " ".join(str(extra[c]).split())} for c in columns
                  if str(extra.get(c) or "").strip()]
        room = None if m["capacity"] is None else int(m["capacity"]) - live_by_mentor.get(m["id"], 0)
        out.append({"number": m["id"], "name": m["name"], "fields": fields, "room": room})
    return sorted(out, key=lambda e: _fold(e["name"]))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


_TITLES = {"dr", "prof", "professor", "mr", "mrs", "ms", "mx", "miss", "sir", "dame", "associate", "med"}


def resolve(store, wf, mentee: dict[str, Any], choice: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The mentor ``REQUEST <choice>`` names: a directory number or (part of) a name.

    Returns (the mentor, []) or (None, names it might have meant among those listed
    for this mentee). A name that fits several mentors is never guessed."""
    text = " ".join(choice.split()).strip(" .,:;!#")
    m = re.match(r"^(?:no\.?|number|nr\.?|#)?\s*#?(\d{1,9})\b", text, re.I)
    if m:
        row = store.participant(int(m.group(1)))
        return (row, []) if row is not None and row["role"] == "mentor" else (None, [])
    query = [w for w in re.split(r"[\s.,]+", _fold(text)) if w and w not in _TITLES]
    if not query:
        return None, []
    mentors = store.all("SELECT * FROM participants WHERE role = 'mentor' ORDER BY id")
    exact = [r for r in mentors if _fold(r["name"]) == _fold(text)]
    if len(exact) == 1:
        return exact[0], []

    def fits(name: str) -> bool:
        words = [w for w in re.split(r"[\s.,]+", _fold(name)) if w]
        return all(any(w == q or (len(q) >= 3 and w.startswith(q)) for w in words) for q in query)

    hits = [r for r in mentors if fits(r["name"])]
    if len(hits) == 1:
        return hits[0], []
    listed = {e["number"]: e["name"] for e in listing(store, wf, mentee)}
    if hits:
        return None, [listed[r["id"]] for r in hits if r["id"] in listed]
    close = difflib.get_close_matches(_fold(text), [_fold(n) for n in listed.values()], n=3, cutoff=0.6)
    return None, [n for n in listed.values() if _fold(n) in close]


class Directory:
    """The directory as a template sees it (``{% for m in directory %}``), worked out
    for its reader only when a template uses it."""

    def __init__(self, store, wf, participant_id: int | None):
        self._store, self._wf, self._pid = store, wf, participant_id
        self._entries: list[dict[str, Any]] | None = None

    @property
    def entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            row = self._store.participant(self._pid) if self._pid is not None else None
            self._entries = listing(self._store, self._wf, row) if row and row["role"] == "mentee" else []
        return self._entries

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


# --------------------------------------------------------------------------- what the scheme holds


def stage(wf, state: str) -> str:
    """A pair's stage in the list of pairs: the first group of ``[settings]
    pair_list_stages`` that holds its state, else the state's own name."""
    for group in wf.settings.get("pair_list_stages", []):
        if state in wf.groups.get(group, ()):
            return str(group)
    return state


def current_pairs(store, wf) -> list[dict[str, Any]]:
    """Every pair from its introduction until it ends: names, stage, since when."""
    out = []
    for p in _live(store, wf, "1 = ?", (1,)):
        row = store.pair(p["id"])
        out.append({"id": row["id"], "mentee": row["mentee_name"], "mentor": row["mentor_name"],
                    "stage": stage(wf, row["state"]), "since": display_date(_date(row["created_at"]))})
    return out


def _date(value: str):
    import datetime as dt

    return dt.date.fromisoformat(value[:10])


def registrations(store) -> list[dict[str, Any]]:
    """Each mentor's professional registration, as the coordinators re-check them."""
    out = []
    for m in store.all("SELECT * FROM participants WHERE role = 'mentor' ORDER BY name"):
        out.append({"name": m["name"], "email": m["email"],
                    "registration": " ".join(str(_extra(m).get("registration") or "").split()),
                    "restricted": display_date(_date(m["restricted_at"])) if m.get("restricted_at") else "",
                    "reason": m.get("restricted_reason") or ""})
    return out


class SchemeView:
    """What the scheme holds, for coordinators' and observers' emails, read only when
    a template asks: ``scheme_pairs`` (who mentors whom) and ``registrations``."""

    def __init__(self, store, wf):
        self._store, self._wf = store, wf

    @property
    def pairs(self) -> list[dict[str, Any]]:
        return current_pairs(self._store, self._wf)

    @property
    def registrations(self) -> list[dict[str, Any]]:
        return registrations(self._store)
