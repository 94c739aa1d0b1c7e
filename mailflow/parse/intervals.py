"""How often, and how much notice: "monthly", "every six weeks", "twice a year",
"24 hours", "a day or two".

:func:`read_interval` turns an agreed meeting frequency into a number of days (the
pair's check-ins and the "below the agreed frequency" flag use it);
:func:`read_notice` turns the notice agreed for cancelling into hours. Both return
``None`` when the text says no such thing, so the person can be asked again; nothing
is guessed. Nothing here raises on any text.
"""

from __future__ import annotations

import re

_WORDS = {
    "a": 1, "an": 1, "one": 1, "once": 1, "two": 2, "twice": 2, "three": 3, "thrice": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple": 2,
    "few": 3, "other": 2, "second": 2, "third": 3, "fourth": 4,
}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30.4375, "quarter": 91.3125, "term": 91.3125,
              "year": 365.25, "annum": 365.25}
_ADVERBS = {
    "daily": 1, "weekly": 7, "fortnightly": 14, "biweekly": 14, "bi-weekly": 14, "monthly": 30.4375,
    "bimonthly": 61, "bi-monthly": 61, "quarterly": 91.3125, "termly": 91.3125, "annually": 365.25,
    "yearly": 365.25, "biannually": 182.6, "bi-annually": 182.6, "six-monthly": 182.6, "half-yearly": 182.6,
}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(days?|weeks?|fortnights?|months?|quarters?|terms?|years?|annum)"


def _n(text: str) -> float | None:
    text = text.lower()
    if text in _WORDS:
        return float(_WORDS[text])
    try:
        return float(text)
    except ValueError:
        return None


def _unit(text: str) -> float:
    return _UNIT_DAYS[text.lower().rstrip("s") if text.lower() != "annum" else "annum"]


# The words of French, Spanish and Portuguese frequencies and notices, said in English:
# "une fois par mois", "cada dos semanas", "a cada 15 dias", "24 heures" read like
# "once per month", "every two weeks", "every 15 days", "24 hours". Tried only when
# the English reading finds nothing, so English text reads as it always did.
_FOREIGN = [(re.compile(r"(?<![\w-])(?:" + a + r")(?![\w-])", re.IGNORECASE), b) for a, b in (
    (r"tous les quinze jours|toutes les deux semaines|une semaine sur deux|cada quince días|cada quince dias|"
     r"cada dos semanas|a cada duas semanas|a cada quinze dias|de quinze em quinze dias", "fortnightly"),
    (r"mensuel(?:le)?s?|mensual(?:es)?|mensal(?:is)?", "monthly"),
    (r"hebdomadaires?|semanal(?:es|is)?", "weekly"),
    (r"quinzomadaire|quincenal(?:es)?|quinzenal(?:is)?|bimensuel(?:le)?", "fortnightly"),
    (r"trimestriel(?:le)?s?|trimestral(?:es|is)?", "quarterly"),
    (r"annuel(?:le)?s?|anual(?:es|is)?", "yearly"),
    (r"semestriel(?:le)?s?|semestral(?:es|is)?", "biannually"),
    (r"quotidien(?:ne)?s?|diari[oa]s?|di[aá]ri[oa]s?", "daily"),
    (r"tous les|toutes les|chaque|cada|todos los|todas las|todos os|todas as|a cada|todo|toda", "every"),
    (r"fois|vez|veces|vezes", "times"),
    (r"par|al|por|ao|a la|à", "per"),
    (r"une|un|uno|una|um|uma", "one"),
    (r"deux|dos|dois|duas", "two"),
    (r"trois|tres|três", "three"),
    (r"quatre|cuatro|quatro", "four"),
    (r"cinq|cinco", "five"),
    (r"six|seis", "six"),
    (r"huit|ocho|oito", "eight"),
    (r"dix|diez|dez", "ten"),
    (r"douze|doce|doze", "twelve"),
    (r"quinze|quince", "15"),
    (r"jours?|d[ií]as?", "days"),
    (r"semaines?|semanas?", "weeks"),
    (r"mois|mes(?:es)?|m[eê]s|meses", "months"),
    (r"trimestres?", "quarters"),
    (r"ans|années?|a[nñ]os?|anos?", "years"),
    (r"heures?|horas?", "hours"),
    (r"minutos?", "minutes"),
    (r"avant|antes", "before"),
    (r"au moins|al menos|pelo menos|no m[ií]nimo", "at least"),
    (r"la veille|el d[ií]a antes|o dia anterior|la v[ií]spera|a v[ée]spera", "the day before"),
)]


def _in_english(text: str) -> str | None:
    """``text`` with the French, Spanish and Portuguese words above replaced, or None
    when it has none of them."""
    out = text or ""
    for pattern, english in _FOREIGN:
        out = pattern.sub(english, out)
    return out if out != (text or "") else None


def _read_any_language(read, text: str) -> int | None:
    """``read(text)``, or else ``read`` of the text with its French, Spanish and
    Portuguese words put in English."""
    value = read(text)
    if value is None and (english := _in_english(text)) is not None:
        value = read(english)
    return value


def _words(text: str) -> str:
    """``text`` in lower case, its punctuation (but ``.`` and ``-``) and runs of spaces
    made one space, with a space at each end, for matching whole words."""
    return re.sub(r"\s+", " ", " " + re.sub(r"[^\w.\- ]+", " ", (text or "").lower()) + " ")


def read_interval(text: str) -> int | None:
    """Days between meetings, from an agreed frequency; ``None`` if it says none.

    "monthly" -> 30, "every six weeks" -> 42, "twice a year" -> 183, "every 2 weeks"
    -> 14, "once a month, more before deadlines" -> 30, "3 times a term" -> 30; and
    in French, Spanish or Portuguese: "une fois par mois", "cada dos semanas",
    "mensal" (see :data:`_FOREIGN`).
    """
    return _read_any_language(_read_interval, text)


def _read_interval(text: str) -> int | None:
    t = _words(text)
    # "N times a/per UNIT", "twice a year", "once a month"
    m = re.search(rf" {_NUM} (?:times? )?(?:a|an|per|each|every) {_UNIT} ", t)
    if m:
        n, unit = _n(m.group(1)), _unit(m.group(2))
        if n:
            return max(1, round(unit / n))
    # "every N UNITs", "every other week", "every month", "each fortnight"
    m = re.search(rf" (?:every|each|once every|once each) (?:{_NUM} )?{_UNIT} ", t)
    if m:
        n = _n(m.group(1)) if m.group(1) else 1.0
        if n:
            return max(1, round(n * _unit(m.group(2))))
    # "N-weekly", "6 weekly", "two-monthly"
    m = re.search(rf" {_NUM}[- ]?(weekly|monthly|yearly|daily) ", t)
    if m:
        n = _n(m.group(1))
        if n:
            return max(1, round(n * {"weekly": 7, "monthly": 30.4375, "yearly": 365.25, "daily": 1}[m.group(2)]))
    for word, days in _ADVERBS.items():
        if f" {word} " in t:
            return round(days)
    # "once a month" without "once" handled above; "a month apart"
    m = re.search(rf" {_NUM} {_UNIT} apart ", t)
    if m and _n(m.group(1)):
        return max(1, round(_n(m.group(1)) * _unit(m.group(2))))
    return None


def read_notice(text: str) -> int | None:
    """Hours of notice for cancelling, from the agreement's words; ``None`` if none.

    "at least 24 hours' notice" -> 24, "a day before" -> 24, "two days" -> 48,
    "a week's notice" -> 168, "48h" -> 48; "24 heures", "un día antes", "48 horas".
    """
    return _read_any_language(_read_notice, text)


def _read_notice(text: str) -> int | None:
    t = _words(text)
    m = re.search(rf" {_NUM} ?(hours?|hrs?|h|days?|working days?|weeks?) ", t)
    if m:
        n = _n(m.group(1))
        unit = m.group(2)
        if n:
            if unit.startswith("h"):
                return round(n)
            if "week" in unit:
                return round(n * 168)
            return round(n * 24)
    for word, hours in (("same day", 0), ("the day before", 24), ("day before", 24), ("a day", 24),
                        ("overnight", 12), ("a week", 168)):
        if f" {word} " in t:
            return hours
    return None
