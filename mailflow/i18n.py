"""Every participant in their own language.

A participant's language is the enrolment CSV's optional ``language`` column, a BCP 47
tag (``fr``, ``es``, ``pt-BR``), or else the scheme's (``[scheme] language``, "en" by
default). It chooses, for that person:

* **the emails**: each template is English text whose paragraphs are marked with
  Jinja2's ``{% trans %}`` blocks; translators work on ``.po`` catalogues,
  ``templates/<lang>/LC_MESSAGES/messages.po``, made and updated with Babel's
  standard tools (``pybabel extract / update``; see the README). A catalogue is
  compiled when mailflow loads it (nothing to build), and a scheme's own templates
  folder may hold its own catalogues, which come first. A whole template may also be
  replaced for one language: ``templates/<lang>/<step>/<name>.txt``;
* **the command words** and the **form labels** (``rules/<scheme>/lang/<lang>.toml``,
  read by :mod:`mailflow.workflow.loader`): "ACCEPTER" is ACCEPT for a French speaker,
  and the English words keep working for everyone;
* **dates**, shown in that language ("mardi 3 mars 2026", with Babel) and read with
  that language first (dateparser).

A language is looked up as a chain: ``pt-BR``, then ``pt``, then the scheme's
language, then English, the language the templates are written in. Whatever is
missing in one falls back to the next, so a half-translated catalogue still gives
whole emails; ``mailflow check`` lists what is missing per language.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SOURCE = "en"  # the language the shipped templates and rules are written in
DOMAIN = "messages"


# --------------------------------------------------------------------------- tags


def normalise(tag: str) -> str:
    """A BCP 47 tag as mailflow writes it: ``pt_br`` -> ``pt-BR``; ValueError if unknown."""
    from babel import Locale, UnknownLocaleError

    text = str(tag or "").strip().replace("_", "-")
    if not text:
        raise ValueError("empty language tag")
    try:
        loc = Locale.parse(text, sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    parts = [loc.language]
    if loc.script:
        parts.append(loc.script)
    if loc.territory:
        parts.append(loc.territory)
    return "-".join(parts)


def language_problem(value: str) -> str:
    """What is wrong with a language tag ("" when nothing is)."""
    try:
        normalise(value)
    except ValueError:
        return (f"{value!r} is not a language tag. Use a BCP 47 tag such as \"en\", \"fr\", \"es\", "
                "\"pt\" or \"pt-BR\".")
    return ""


@functools.lru_cache(maxsize=1024)  # speed (issue 12): asked for every email and every reply
def chain(tag: str | None, default: str = SOURCE) -> tuple[str, ...]:
    """The languages to try for a person, most specific first, ending with English:
    ``chain("pt-BR", "fr")`` is ``("pt-BR", "pt", "fr", "en")``."""
    out: list[str] = []
    for t in (tag, default, SOURCE):
        if not t:
            continue
        try:
            t = normalise(t)
        except ValueError:
            continue
        parts = t.split("-")
        for n in range(len(parts), 0, -1):
            candidate = "-".join(parts[:n])
            if candidate not in out:
                out.append(candidate)
    return tuple(out)


def base(tag: str | None) -> str:
    """The language without its region or script: ``pt-BR`` -> ``pt``."""
    return (tag or SOURCE).split("-")[0].lower()


def date_languages(tag: str | None, default: str, scheme_languages: Sequence[str]) -> tuple[str, ...]:
    """The languages dates are read in for a person: theirs first, then the scheme's."""
    from dateparser.data.languages_info import language_order

    known = set(language_order)
    out: list[str] = []
    for t in (*chain(tag, default)[:-1], *scheme_languages, SOURCE):
        for candidate in (t, base(t)):
            if candidate in known and candidate not in out:
                out.append(candidate)
                break
    return tuple(out)


# --------------------------------------------------------------------------- dates shown


class Shown(str):
    """Text for a person (a date, a meeting time) that can be said again in another
    language: it reads as English, and :func:`localize` turns it into the reader's."""

    def in_language(self, lang: str | None) -> str:  # pragma: no cover - overridden
        return str(self)


class Day(Shown):
    """A day: "Tuesday 3 March 2026"; "mardi 3 mars 2026" in French."""

    date: dt.date

    def __new__(cls, day: dt.date) -> Day:
        from .parse.dates import display

        obj = super().__new__(cls, display(day))
        obj.date = day
        return obj

    def in_language(self, lang: str | None) -> str:
        return format_day(self.date, lang)

    def __reduce__(self):
        return (Day, (self.date,))


class Moment(Shown):
    """A meeting's time in a zone: "Tuesday 3 March 2026 at 14:00"."""

    moment: dt.datetime

    def __new__(cls, moment: dt.datetime) -> Moment:
        obj = super().__new__(cls, format_moment(moment, SOURCE))
        obj.moment = moment
        return obj

    def in_language(self, lang: str | None) -> str:
        return format_moment(self.moment, lang)

    def __reduce__(self):
        return (Moment, (self.moment,))


_AT = {"fr": "à", "es": "a las", "pt": "às", "it": "alle", "de": "um", "nl": "om", "cy": "am"}


def _locale(lang: str | None):
    from babel import Locale

    try:
        return Locale.parse(normalise(lang or SOURCE).replace("-", "_"))
    except (ValueError, Exception):  # an unknown tag reads as English
        return None


def format_day(day: dt.date, lang: str | None) -> str:
    """A day written out in full in ``lang``; English as mailflow always wrote it."""
    if base(lang) == SOURCE:
        from .parse.dates import display

        return display(day)
    loc = _locale(lang)
    if loc is None:
        from .parse.dates import display

        return display(day)
    from babel.dates import format_date

    return format_date(day, "full", locale=loc)


def format_moment(moment: dt.datetime, lang: str | None) -> str:
    """A day and time in ``lang``: "mardi 3 mars 2026 à 14:00"."""
    time = f"{moment:%H:%M}"
    if base(lang) == SOURCE:
        return f"{format_day(moment.date(), SOURCE)} at {time}"
    at = _AT.get(base(lang))
    day = format_day(moment.date(), lang)
    if at:
        return f"{day} {at} {time}"
    loc = _locale(lang)
    if loc is None:
        return f"{day} {time}"
    from babel.dates import get_datetime_format

    return str(get_datetime_format("medium", locale=loc)).replace("{1}", day).replace("{0}", time)


def localize(value: Any, lang: str | None) -> Any:
    """``value`` with every :class:`Shown` in it (in dicts, lists and tuples too) said
    in ``lang``. English leaves everything as it is."""
    if base(lang) == SOURCE:
        return value
    if isinstance(value, Shown):
        return value.in_language(lang)
    if isinstance(value, dict):
        return {k: localize(v, lang) for k, v in value.items()}
    if isinstance(value, list):
        return [localize(v, lang) for v in value]
    if isinstance(value, tuple):
        return tuple(localize(v, lang) for v in value)
    return value


# --------------------------------------------------------------------------- catalogues


def catalogue_files(folder: Path, lang: str) -> list[Path]:
    """The ``.po`` file of ``lang`` under a templates folder (``fr``, or ``pt-BR`` /
    ``pt_BR`` for a region), if there is one."""
    names = {lang, lang.replace("-", "_")}
    return [p for name in sorted(names)
            if (p := folder / name / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()]


def languages_in(folders: Iterable[Path]) -> list[str]:
    """Languages that have a catalogue in any of ``folders``."""
    found: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for po in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            try:
                tag = normalise(po.parent.parent.name)
            except ValueError:
                continue
            if tag not in found:
                found.append(tag)
    return found


_LOCK = threading.Lock()
_COMPILED: dict[tuple[str, float], Any] = {}


def _compiled(po: Path):
    """A ``.po`` file compiled in memory (fuzzy entries left out, as msgfmt does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    key = (str(po), po.stat().st_mtime)
    with _LOCK:
        if key in _COMPILED:
            return _COMPILED[key]
    with po.open("rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    translations = Translations(fp=buf, domain=DOMAIN)
    with _LOCK:
        _COMPILED[key] = translations
    return translations


def translations(folders: Sequence[Path], languages: Sequence[str]):
    """A gettext translations object for a language chain: for each language, the
    catalogue of each folder in order (a scheme's own first), then the next language.
    English (the templates' own text) is what remains when nothing matches."""
    from babel.support import NullTranslations

    parts = []
    for lang in languages:
        if base(lang) == SOURCE and lang == SOURCE:
            break
        for folder in folders:
            for po in catalogue_files(Path(folder), lang):
                parts.append(_compiled(po))
    if not parts:
        return NullTranslations()
    # Chain copies, so the cached objects never gain each other as fallbacks.
    out = None
    for t in reversed(parts):
        link = copy.copy(t)
        link._fallback = out
        out = link
    return out


_TRANS_VAR = re.compile(r"%\((\w+)\)s")


def placeholders(text: str) -> set[str]:
    """The ``%(name)s`` variables of a message."""
    return set(_TRANS_VAR.findall(text))


# --------------------------------------------------------------------------- what is missing


def template_messages(folders: Sequence[Path], names: Iterable[str]) -> dict[str, list[str]]:
    """The messages to translate in each template (by name, e.g. ``introduction/to-mentor``),
    read from the first folder that has it, with Babel's Jinja2 extractor."""
    from babel.messages.extract import extract_from_file

    out: dict[str, list[str]] = {}
    for name in names:
        path = next((Path(f) / f"{name}.txt" for f in folders if (Path(f) / f"{name}.txt").is_file()), None)
        if path is None:
            continue
        found = extract_from_file("jinja2", str(path), keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
                                  options={"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                           "lstrip_blocks": "true"})
        out[name] = [m[1] if isinstance(m[1], str) else m[1][0] for m in found]
    return out


def missing_messages(folders: Sequence[Path], lang: str, messages: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per template, the messages ``lang`` (or its base language) has no translation
    for, in any folder's catalogue; a template written whole in that language
    (``<folder>/<lang>/<name>.txt``) lacks nothing."""
    known: set[str] = set()
    own = [lang] + ([base(lang)] if base(lang) != lang else [])
    for folder in folders:
        for tag in own:
            for po in catalogue_files(Path(folder), tag):
                known |= set(messages_of(po))
    out: dict[str, list[str]] = {}
    for name, ids in messages.items():
        if any((Path(f) / variant / f"{name}.txt").is_file() for f in folders for tag in own
               for variant in (tag, tag.replace("-", "_"))):
            continue
        lacking = [m for m in dict.fromkeys(ids) if m not in known]
        if lacking:
            out[name] = lacking
    return out


def messages_of(po: Path) -> dict[str, str]:
    """msgid -> msgstr of a catalogue (plural messages by their singular), translated
    and not fuzzy only."""
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    out = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        value = m.string if isinstance(m.string, str) else (m.string[0] if m.string else "")
        if value:
            out[key] = value
    return out
