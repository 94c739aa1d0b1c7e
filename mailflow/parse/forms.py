"""Forms carried by our emails as ``Label: value`` lines, and reading them back.

Rendering (:func:`render_form`)
-------------------------------
One block per field, in the declared order::

    Location:
    (where you will meet)

    Objectives:
    (up to three things you want to work on)

blank, and echoed::

    Location: The library
    Objectives:
    1. Build confidence
    2. Learn Python

* ``Label: value`` on one line; the value is blank, or pre-filled (dates as
  "Tuesday 3 March 2026", choices by their name, numbers as digits).
* ``kind="list"`` values go under the label as a numbered list; a text value over
  several lines continues under the label line.
* The help text, if any, is on its own line in round brackets after the label line,
  in the blank form only: a form with any value in it is an echo of answers, which
  sit right by their labels with no help between them. A choice field without help
  gets ``(one of: A, B or C)``. Help lines are ignored when read back, quoted or not.
  Fields are separated by a blank line when help lines are shown.

``read_form(render_form(fields, values), ...)`` gives back ``values``.

Reading (:func:`read_form`)
---------------------------
A reply can fill the form in three ways, all understood at once:

a. **On top**: label lines with values in the new text (copied from the form, typed,
   or echoed back). Only ``new_text`` is read for these; reading stops at a reply
   header ("On ... wrote:", "-----Original Message-----", an Outlook "From:/Sent:"
   block) or a "-- " signature line, in case the extractor left one.
b. **Inline**: in ``body_text``, a *quoted* label line ("> Location:") followed by
   *unquoted* lines: those lines are the answer. Quoted help lines and quoted blank
   lines may sit between the label and the answer, and so may blank lines. The answer
   ends at a blank line (lists: unless the next line is another item), at any other
   quoted line, or at a label line. (So a bottom-posted reply written right under the
   form's *last* quoted label would be read as that field's answer: our templates put a
   line of text after every form.)
c. **Lists**: a label may carry a bullet or number ("1. Location: ...", "- Location:
   ..."); list values are numbered ("1." "1)"), bulleted ("-", "*", "•") or one item
   per line; items may wrap onto unbulleted lines; ``a; b; c`` on the label's line is
   three items.

Rules:

* **Quoted lines are never values.** A form quoted back blank, or with our pre-filled
  values, is never an answer; quoted labels only anchor inline answers.
* **Values** run from after the colon over the following lines until a blank line,
  the next label line, or a quoted line (see *c* for lists: a blank line followed by
  another item does not end a list). On top, a blank line straight after an empty
  label ends it too (so "Review date:" then a blank line then prose is not an answer);
  inline, blank lines may come between the quoted label and the answer. Text values keep their line
  breaks; date, number and choice values are read from the lines joined by spaces.
* **Labels** match a field's ``label`` or ``synonyms`` ignoring case, emphasis
  (``**Location:**``), punctuation, bracketed help and spacing, with small typos
  forgiven: an edit distance (transpositions count once) of 0 for names of up to 5
  letters, 1 up to 10, 2 up to 16 and 3 beyond ("Frequncy", "Reveiw date"; not
  "Objections" for "Objectives"). Spaces do not count ("Reviewdate"). A label
  matched with a typo adds a warning. A label as close to two fields is unknown.
* **Label shape.** A line is a label line only if the text before its first colon is at
  most 40 characters and 4 words (after removing bracketed help), starts with a letter,
  has no sentence punctuation (. ? ! ; , " @), is not a time ("at 10:30"), not a URL
  ("https://...") and not a reply header ("On Tue, Sam wrote:"). Anything else with a
  colon is prose.
* **Unknown labels**: a label line in the new text that matches no field is reported
  (label as written, once) when it has a value on its line or list items under it;
  e-mail header names (From, To, Cc, Sent, Date, Subject) are not reported.
* **Given twice**: if a field gets two different values (on top, inline, or both), a
  value equal to what we pre-filled (``sent_values``) is dropped as an echo; if two
  different values remain the field is ``invalid`` with reason "given twice: X and Y".
  The same value given twice is fine (text compared ignoring case and punctuation,
  dates, numbers and choices by value). A pre-filled value repeated in the new text is
  accepted as ``ok``.
* **Statuses**: ``ok``; ``missing`` ("no value was given", or "optional; not given"
  for a field that is not required); ``invalid`` with a reason for the person (a date
  in the past, an ambiguous date, not a number, not one of the choices, given twice).
* **Kinds**: ``date`` via :func:`mailflow.parse.dates.parse_date` (``future`` from the
  field); ``number`` is a whole number >= 0 in digits or words ("2", "2 times", "two",
  "twice", "twenty one"), and two different numbers are invalid; ``choice`` matches one of
  ``choices`` by name, by a phrase contained in the answer, or with a typo. A choice may
  list synonyms after ``|``: ``"Every two weeks|fortnightly|biweekly"`` (the value is the
  first name); ``list`` gives a tuple of strings; ``text`` a string.
* ``display`` echoes the value unambiguously: dates as "Tuesday 3 March 2026", lists as
  numbered lines, choices by their name.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mailflow.parse import dates
from mailflow.parse.extract import starts_history
from mailflow.parse.commands import words
from mailflow.parse.result import FieldResult, FieldSpec

__all__ = ["render_form", "read_form", "match_label", "help_text"]

# --------------------------------------------------------------------------- rendering


def help_text(spec: FieldSpec) -> str:
    """The help printed under a field's label ("" for none)."""
    if spec.help:
        return spec.help.strip()
    if spec.kind == "choice" and spec.choices:
        names = [_choice_names(c)[0] for c in spec.choices]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"one of: {listed}"
    return ""


def _format_scalar(value: object, lang: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        if lang:
            from mailflow.i18n import format_day

            return format_day(value, lang)
        return dates.display(value)
    return str(value).strip()


def _is_blank(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return not any(_format_scalar(v) for v in value)
    return not _format_scalar(value)


def render_form(fields: Sequence[FieldSpec], values: Mapping[str, object] | None = None,
                lang: str | None = None) -> str:
    """The form as printed in our emails (see the module docstring); dates in ``lang``
    (a BCP 47 tag; English when not given)."""
    if not values:  # speed (issue 12): a blank form is the same every time (every email shows its forms)
        return _blank_form(tuple(fields), lang)
    return _render_form(fields, values, lang)


@functools.lru_cache(maxsize=256)
def _blank_form(fields: tuple[FieldSpec, ...], lang: str | None) -> str:
    return _render_form(fields, {}, lang)


def _render_form(fields: Sequence[FieldSpec], values: Mapping[str, object], lang: str | None) -> str:
    blocks: list[list[str]] = []
    blank = all(_is_blank(values.get(spec.name)) for spec in fields)
    for spec in fields:
        value = values.get(spec.name)
        block: list[str] = []
        if spec.kind == "list":
            if value is None or value == "":
                items: list[str] = []
            elif isinstance(value, str):
                items = [value]
            else:
                items = [_format_scalar(v, lang) for v in value]  # type: ignore[union-attr]
            block.append(f"{spec.label}:")
            block.extend(f"{i}. {item}" for i, item in enumerate((item for item in items if item), 1))
        else:
            text = _format_scalar(value, lang)
            if spec.kind == "choice" and text and spec.choices:
                text = _read_choice(text, spec)[0] or text  # its name, e.g. "fortnightly" -> "Every two weeks"
            block.append(f"{spec.label}: {text}".rstrip())
        if blank and help_text(spec):
            block.append(f"({help_text(spec)})")
        blocks.append(block)
    shown_help = blank and any(help_text(spec) for spec in fields)
    out: list[str] = []
    for i, block in enumerate(blocks):
        if i and shown_help:
            out.append("")
        out.extend(block)
    return "\n".join(out)


# --------------------------------------------------------------------------- lines

_QUOTE = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
# Bullets and numbers; "o" and "§" followed by a tab or 2+ spaces are the level-2 and
# level-3 bullets of Word's plain-text output (Outlook).
_BULLET = re.compile(
    r"^\s*(?:[-*•·◦‣▪–+]\s+|[o§](?:\t|\s{2,})|\(?\d{1,2}[.)]\s+|\(?\d{1,2}\)\s*|\d{1,2}\.(?=[^\W\d_]))"
)
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_EMPH_EDGE = re.compile(r"^(?:\*+|_{2,})\s*|\s*(?:\*+|_{2,})$")
_HEADER_NAMES = {
    "from", "to", "cc", "bcc", "sent", "date", "subject", "reply to", "von", "an", "betreff",
    "gesendet", "datum", "de", "à", "a", "objet", "envoyé", "para", "asunto", "enviado",
    "da", "oggetto", "inviato", "van", "aan", "onderwerp", "verzonden",
    "re", "fw", "fwd", "aw", "wg", "sv", "tr", "rv",
}


def _quote_depth(line: str) -> tuple[int, str]:
    m = _QUOTE.match(line)
    if not m:
        return 0, line
    return m.group(1).count(">"), line[m.end():]


def _strip_bullet(text: str) -> tuple[bool, str]:
    m = _BULLET.match(text)
    if not m:
        return False, text.strip()
    return True, text[m.end():].strip()


def _clean_value(text: str) -> str:
    text = text.strip()
    for _ in range(2):
        text = _EMPH_EDGE.sub("", text).strip()
    if _BLANKS.match(text):
        return ""  # a blank left as it was printed: "____", "...", "…"
    return text


_BLANKS = re.compile(r"^[_.…\s]+$")
_PLACEHOLDER = re.compile(r"^(?:[-*•·]|\(?\d{1,2}[.)])?\s*[_.…\s]*$")


def _is_placeholder(content: str) -> bool:
    """A printed blank to write on: "1. ____", "2.", "- ___", "______"."""
    s = content.strip()
    return bool(s) and _PLACEHOLDER.match(s) is not None and (any(ch.isdigit() for ch in s) or "__" in s
                                                              or s[0] in "-*•·")


def _sentence(line: str) -> bool:
    """A line that is a sentence of its own: capital first, three words or more, a full stop."""
    s = line.strip()
    return len(s.split()) >= 3 and s[:1].isupper() and s[-1:] in ".!?" and not _BULLET.match(s)


def _ends_value(entry: "_Entry", line: str) -> bool:
    """Whether ``line``, directly under ``Label: value``, starts something else (rule
    "sentences end a value"): for a text value written as a phrase, a sentence; for a
    date, number or choice, any line that does not go on in lower case."""
    if not entry.has_value or entry.spec is None or len(entry.lines) != 1:
        return False
    kind = entry.spec.kind
    if kind == "list":
        return False
    if kind == "text":
        return entry.lines[0].rstrip()[-1:] not in ".!?,;:" and _sentence(line)
    s = line.strip()
    return not (s[:1].islower() or s[:1].isdigit()) or len(s.split()) > 4


@dataclass
class _LabelLine:
    written: str  # the label as the person wrote it, emphasis removed
    value: str
    bulleted: bool


def _label_line(content: str) -> _LabelLine | None:
    """``content`` as a ``Label: value`` line, or None when it is not label-shaped."""
    bulleted, text = _strip_bullet(content)
    colon = min((i for i in (text.find(":"), text.find("：")) if i >= 0), default=-1)
    if colon <= 0:
        return None
    label_raw, value = text[:colon], text[colon + 1:]
    label = label_raw.replace("*", " ").replace("__", " ")
    label = _BRACKETED.sub(" ", label)
    label = re.sub(r"\s+", " ", label).strip(" \t'\"“”‘’`_")
    if not label or len(label) > 40 or len(label.split()) > 4:
        return None
    numbered = re.fullmatch(r"\d{1,2}", label) is not None and value[:1] == " "  # "2: 5", objective 2
    if not (label[0].isalpha() or numbered) or re.search(r"[.?!;,\"@<>=\\]", label):
        return None
    value_start = value.lstrip(" *_")
    if value.startswith("//"):
        return None  # a URL
    if label[-1].isdigit() and value_start[:1].isdigit() and value[:1] != " ":
        return None  # a time, "at 10:30" (but "Objective 1: 3" is a label and a value)
    if re.search(r"\b(?:wrote|writes|schrieb|écrit|escribió|scritto|schreef)$", label, re.I):
        return None
    return _LabelLine(label, _clean_value(value), bulleted)


def _is_history_start(lines: Sequence[str], i: int) -> bool:
    """Quoted history, a signature or a footer starts at line ``i`` (the extractor's markers)."""
    return starts_history(lines, i)


# --------------------------------------------------------------------------- labels


def _norm_label(text: str) -> str:
    return " ".join(words(_BRACKETED.sub(" ", text)))


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a transposition costs 1), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _threshold(name: str) -> int:
    n = len(name.replace(" ", ""))
    return 0 if n <= 5 else 1 if n <= 10 else 2 if n <= 16 else 3


def match_label(written: str, fields: Sequence[FieldSpec]) -> tuple[FieldSpec, bool] | None:
    """The field whose label or synonym ``written`` is, and whether it matched exactly
    (ignoring case, punctuation, emphasis and spacing); None when none or two fit."""
    target = _norm_label(written)
    if not target:
        return None
    squashed = target.replace(" ", "")
    for spec in fields:
        for name in (spec.label, *spec.synonyms):
            norm = _norm_label(name)
            if norm and (norm == target or norm.replace(" ", "") == squashed):
                return spec, True
    best: list[tuple[int, FieldSpec]] = []
    for spec in fields:
        for name in (spec.label, *spec.synonyms):
            norm = _norm_label(name)
            if not norm:
                continue
            limit = _threshold(norm)
            if limit == 0:
                continue
            d = min(_distance(target, norm, limit), _distance(squashed, norm.replace(" ", ""), limit))
            if d <= limit:
                best.append((d, spec))
    if not best:
        return None
    best.sort(key=lambda x: x[0])
    top = best[0][0]
    winners = {spec.name for d, spec in best if d == top}
    if len(winners) > 1:
        return None
    return best[0][1], False


# --------------------------------------------------------------------------- entries


@dataclass
class _Entry:
    spec: FieldSpec | None
    written: str
    lines: list[str] = field(default_factory=list)  # as written, bullets kept
    source: str = "top"  # or "inline"; "-typo" when the label was matched despite a typo
    has_value: bool = False  # a value on the label's own line (lines[0])


def _help_lines(fields: Sequence[FieldSpec]) -> set[str]:
    return {_norm_label(h) for h in (help_text(s) for s in fields) if h}


def _is_help(content: str, helps: set[str]) -> bool:
    s = content.strip()
    if len(s) < 2 or s[0] not in "([" or s[-1] not in ")]":
        return False
    return _norm_label(s[1:-1]) in helps


def _next_nonblank(lines: Sequence[str], i: int) -> str | None:
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            return lines[j]
    return None


def _is_item(line: str | None) -> bool:
    return line is not None and _BULLET.match(_quote_depth(line)[1]) is not None and _quote_depth(line)[0] == 0


def _read_top(new_text: str, fields: Sequence[FieldSpec], helps: set[str], fits=None) -> list[_Entry]:
    lines = new_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    entries: list[_Entry] = []
    current: _Entry | None = None
    for i, line in enumerate(lines):
        if _is_history_start(lines, i):
            break
        depth, content = _quote_depth(line)
        if depth:
            current = None
            continue
        stripped = content.strip()
        if not stripped:
            if current is not None and not (_kind(current) == "list" and _is_item(_next_nonblank(lines, i))):
                current = None
            continue
        if _is_help(stripped, helps):
            continue
        lab = _label_line(stripped)
        if lab is not None:
            matched = match_label(lab.written, fields)
            in_list = current is not None and _kind(current) == "list" and lab.bulleted
            if matched is None and in_list:
                lab = None  # "2. Build: confidence" inside a list is an item
            elif matched is not None:
                current = _Entry(matched[0], lab.written, [lab.value] if lab.value else [])
                current.has_value = bool(lab.value)
                entries.append(current)
                if not matched[1]:
                    current.source = "top-typo"
                continue
            else:
                current = _Entry(None, lab.written, [lab.value] if lab.value else [])
                current.has_value = bool(lab.value)
                entries.append(current)
                continue
        elif fits is not None and (current is None or _ends_value(current, stripped) or (
                _kind(current) == "list" and not _BULLET.match(stripped))):
            bare = _label_without_colon(stripped, fields, fits)
            if bare is not None:
                current = bare
                entries.append(current)
                continue
        if current is not None:
            if _ends_value(current, stripped):
                current = None
                continue
            current.lines.append(stripped)
    return entries


def _label_without_colon(text: str, fields: Sequence[FieldSpec], fits) -> _Entry | None:
    """``Label value`` without a colon ("Pulse 5", "Review date 3 June"): the label must
    be a field's label or synonym exactly, of a kind whose values can be checked (date,
    number, choice), and the rest must be a valid value of that kind."""
    if ":" in text or "：" in text or len(text) > 80:
        return None
    known = {}
    for spec in fields:
        if spec.kind in ("date", "number", "choice"):
            for name in (spec.label, *spec.synonyms):
                known.setdefault(_norm_label(name).replace(" ", ""), spec)
    if not known:
        return None
    words_ = text.split()
    for k in range(min(4, len(words_) - 1), 0, -1):
        spec = known.get(_norm_label(" ".join(words_[:k])).replace(" ", ""))
        if spec is None:
            continue
        value = " ".join(words_[k:]).lstrip("=-–—: ").strip()
        if value and fits(spec, value):
            entry = _Entry(spec, " ".join(words_[:k]), [value])
            entry.has_value = True
            return entry
    return None


def _kind(entry: _Entry) -> str:
    return entry.spec.kind if entry.spec is not None else "text"


def _read_inline(body_text: str, fields: Sequence[FieldSpec], helps: set[str]) -> list[_Entry]:
    lines = body_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    entries: list[_Entry] = []
    slot: _Entry | None = None

    def close() -> None:
        nonlocal slot
        if slot is not None and slot.lines:
            entries.append(slot)
        slot = None

    for i, line in enumerate(lines):
        depth, content = _quote_depth(line)
        stripped = content.strip()
        if depth:
            lab = _label_line(stripped) if stripped else None
            matched = match_label(lab.written, fields) if lab is not None else None
            if matched is not None:
                close()
                slot = _Entry(matched[0], lab.written, source="inline" if matched[1] else "inline-typo")
            elif slot is not None and (not stripped or _is_help(stripped, helps)) and not slot.lines:
                pass
            elif slot is not None and _is_placeholder(stripped):
                pass  # "> 1. ____": the answers are written under (or between) the printed blanks
            else:
                close()
            continue
        if slot is None:
            continue
        if not stripped:
            if slot.lines and not (_kind(slot) == "list" and _is_item(_next_nonblank(lines, i))):
                close()
            continue
        if _is_help(stripped, helps):
            continue
        if _is_history_start(lines, i) or (_label_line(stripped) is not None and not (
            _kind(slot) == "list" and _BULLET.match(stripped)
        )):
            close()
            continue
        slot.lines.append(stripped)
    close()
    return entries


# --------------------------------------------------------------------------- values

_NUMBER_WORDS = {
    "zero": 0, "none": 0, "nil": 0, "one": 1, "once": 1, "two": 2, "twice": 2, "three": 3,
    "thrice": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "dozen": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}


def _numbers(text: str) -> list[int] | str:
    """Whole numbers in ``text``, or a reason when it holds a fraction or negative."""
    if re.search(r"\d[.,]\d", text):
        return "a whole number, please"
    found = [int(n) for n in re.findall(r"(?<![\w-])\d+(?!\w)", text)]
    tokens = words(text.replace("-", " "))
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _TENS:
            n = _TENS[tok]
            if i + 1 < len(tokens) and tokens[i + 1] in _NUMBER_WORDS and 0 < _NUMBER_WORDS[tokens[i + 1]] < 10 \
                    and tokens[i + 1] not in ("once", "twice", "thrice", "dozen"):
                n += _NUMBER_WORDS[tokens[i + 1]]
                i += 1
            found.append(n)
        elif tok in _NUMBER_WORDS:
            found.append(_NUMBER_WORDS[tok])
        elif tok == "hundred" and found:
            found[-1] *= 100
        i += 1
    return found


def _read_number(text: str) -> tuple[int | None, str]:
    found = _numbers(text)
    if isinstance(found, str):
        return None, found
    distinct = list(dict.fromkeys(found))
    if not distinct:
        return None, f"“{_short(text)}” is not a number"
    if len(distinct) > 1:
        return None, f"please give one number (“{_short(text)}” has {len(distinct)})"
    return distinct[0], ""


def _choice_names(choice: str) -> list[str]:
    return [c.strip() for c in choice.split("|") if c.strip()] or [choice]


def _read_choice(text: str, spec: FieldSpec) -> tuple[str | None, str]:
    target = words(text)
    if not target:
        return None, "no value was given"
    joined = " ".join(target)
    options = [(_choice_names(c)[0], [" ".join(words(n)) for n in _choice_names(c)]) for c in spec.choices]
    for canonical, names in options:
        if joined in names:
            return canonical, ""
    contained = []
    for canonical, names in options:
        for name in names:
            toks = name.split()
            if toks and any(target[i:i + len(toks)] == toks for i in range(len(target) - len(toks) + 1)):
                contained.append((len(toks), canonical))
    if contained:
        contained.sort(key=lambda x: -x[0])
        best = {c for n, c in contained if n == contained[0][0]}
        if len(best) == 1:
            return best.pop(), ""
    fuzzy = []
    for canonical, names in options:
        for name in names:
            limit = _threshold(name)
            if limit and _distance(joined, name, limit) <= limit:
                fuzzy.append(canonical)
    if len(set(fuzzy)) == 1:
        return fuzzy[0], ""
    listed = [o[0] for o in options]
    shown = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
    return None, f"please choose one of: {shown} (you wrote “{_short(text)}”)"


def _list_items(lines: Sequence[str]) -> tuple[str, ...]:
    items: list[str] = []
    any_bullets = any(_BULLET.match(line) for line in lines)
    for line in lines:
        bulleted, text = _strip_bullet(line)
        text = _clean_value(text)
        if not text:
            continue
        if bulleted or not any_bullets or not items:
            if not any_bullets and ";" in text:
                items.extend(p.strip() for p in text.split(";") if p.strip())
            else:
                items.append(text)
        else:
            items[-1] = f"{items[-1]} {text}"
    return tuple(items)


def _short(text: str, limit: int = 50) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Value:
    status: str
    value: object = None
    raw: str = ""
    reason: str = ""
    display: str = ""

    def key(self) -> object:
        if self.status == "ok" and isinstance(self.value, str):
            return ("text", " ".join(words(self.value)))  # "The library" == "the library"
        if self.status == "ok":
            return ("ok", self.value)
        return ("raw", " ".join(words(self.raw)))


def _interpret(entry: _Entry, spec: FieldSpec, *, base: dt.datetime, tz: str, date_order: str,
               languages: Sequence[str] = dates.DEFAULT_LANGUAGES) -> _Value:
    raw = "\n".join(line.strip() for line in entry.lines).strip()
    if spec.kind == "list":
        items = _list_items(entry.lines)
        if not items:
            return _Value("missing", raw=raw)
        return _Value("ok", items, raw, "", "\n".join(f"{i}. {t}" for i, t in enumerate(items, 1)))
    # Bullets are dropped from the lines under the label, not from a value on the
    # label's line ("Review date: 6. April" keeps its "6.").
    pieces = [
        _clean_value(line if i == 0 and entry.has_value else _strip_bullet(line)[1])
        for i, line in enumerate(entry.lines)
    ]
    pieces = [p for p in pieces if p]
    if not pieces:
        return _Value("missing", raw=raw)
    if spec.kind == "text":
        text = "\n".join(pieces)
        return _Value("ok", text, raw, "", text)
    joined = " ".join(pieces)
    if spec.kind == "date":
        r = dates.parse_date(joined, base=base, tz=tz, date_order=date_order, future=spec.future,
                             languages=languages)
        if r.status == "ok":
            return _Value("ok", r.value, raw, "", r.display)
        if r.status == "missing":
            return _Value("missing", raw=raw)
        return _Value("invalid", raw=raw, reason=r.reason)
    if spec.kind == "number":
        n, reason = _read_number(joined)
        if n is None:
            return _Value("invalid", raw=raw, reason=reason)
        return _Value("ok", n, raw, "", str(n))
    if spec.kind == "choice":
        if not spec.choices:
            return _Value("ok", joined, raw, "", joined)
        choice, reason = _read_choice(joined, spec)
        if choice is None:
            return _Value("invalid", raw=raw, reason=reason)
        return _Value("ok", choice, raw, "", choice)
    text = "\n".join(pieces)
    return _Value("ok", text, raw, "", text)


def read_form(
    body_text: str,
    new_text: str,
    fields: Sequence[FieldSpec],
    *,
    sent_values: Mapping[str, str] | None = None,
    base: dt.datetime,
    tz: str,
    date_order: str,
    languages: Sequence[str] = dates.DEFAULT_LANGUAGES,
) -> tuple[dict[str, FieldResult], tuple[str, ...], tuple[str, ...]]:
    """Read the form ``fields`` from a reply (see the module docstring for the rules).

    Returns ``(results, unknown_labels, warnings)``: a :class:`FieldResult` for every
    declared field (by field name, in declared order), the labels in the new text that
    match no field, and things the person should hear about (labels read despite a
    typo). Dates are read in ``languages`` (dateparser's codes, e.g. ``("en", "fr")``).
    Never raises on any text; a bad ``tz`` or ``date_order`` raises ValueError when a
    date field is read.
    """
    fields = tuple(fields)
    sent = {k: " ".join(words(str(v))) for k, v in (sent_values or {}).items() if v is not None}
    helps = _help_lines(fields)
    def fits(spec: FieldSpec, value: str) -> bool:
        entry = _Entry(spec, spec.label, [value])
        entry.has_value = True
        return _interpret(entry, spec, base=base, tz=tz, date_order=date_order, languages=languages).status == "ok"

    top = _read_top(new_text or "", fields, helps, fits)
    inline = _read_inline(body_text or "", fields, helps)

    warnings: list[str] = []
    unknown: list[str] = []
    by_field: dict[str, list[tuple[_Entry, _Value]]] = {spec.name: [] for spec in fields}
    for entry in top + inline:
        if entry.spec is None:
            reported = entry.has_value or any(_BULLET.match(x) for x in entry.lines)
            norm = _norm_label(entry.written)
            if reported and norm not in _HEADER_NAMES and norm not in {_norm_label(u) for u in unknown}:
                unknown.append(entry.written)
            continue
        value = _interpret(entry, entry.spec, base=base, tz=tz, date_order=date_order, languages=languages)
        if value.status == "missing":
            continue
        if entry.source.endswith("typo"):
            note = f"read “{entry.written}” as “{entry.spec.label}”"
            if note not in warnings:
                warnings.append(note)
        by_field[entry.spec.name].append((entry, value))

    results: dict[str, FieldResult] = {}
    for spec in fields:
        given = by_field[spec.name]
        distinct: list[_Value] = []
        for _, v in given:
            if all(v.key() != d.key() for d in distinct):
                distinct.append(v)
        if len(distinct) > 1 and spec.name in sent:
            fresh = [v for v in distinct if " ".join(words(v.raw)) != sent[spec.name]]
            distinct = fresh or distinct[:1]
        if not distinct:
            reason = "no value was given" if spec.required else "optional; not given"
            results[spec.name] = FieldResult(spec.name, "missing", reason=reason)
        elif len(distinct) > 1:
            shown = " and ".join(f"“{_short(v.raw, 40)}”" for v in distinct[:2])
            results[spec.name] = FieldResult(
                spec.name, "invalid", raw="\n".join(v.raw for v in distinct), reason=f"given twice: {shown}"
            )
        else:
            v = distinct[0]
            results[spec.name] = FieldResult(
                spec.name,
                v.status,  # type: ignore[arg-type]
                v.value if v.status == "ok" else None,
                v.raw,
                v.reason,
                v.display,
            )
    return results, tuple(unknown), tuple(warnings)
