"""The command a reply carries: "accept", "decline", "confirm", ...

The caller says which words mean which command *in reply to this email*
(``{"accept": ("accept", "yes", "happy to"), "decline": ("decline", "no", "can't")}``);
the same word means different things in reply to different emails.

Grammar
-------

1. **Only the first meaningful line counts.** Lines of the new text are read from the
   top, skipping blank lines, lines with no letters or digits ("---", "!!"), and
   *courtesy lines* that hold no command phrase: greetings ("Hi Sam,", "Dear team",
   "Hello,", "Good morning") of at most five words, and thanks ("Thanks!", "Thank you
   for thinking of me.", "Many thanks, Sam"). The first other line is *the* line; if it
   holds no command, the reply has none (later lines are never searched, so a
   command word in the middle of a paragraph is not taken as an answer).

2. **Words, not characters.** The line and the phrases are compared as lists of words:
   case is ignored; punctuation, quotes, leftover emphasis from HTML (``**ACCEPT**``,
   ``*accept*``, ``__yes__``), a leading bullet ("- accept", "1. accept") or a stray
   ">" are ignored; apostrophes are dropped inside words, so "can't", "can’t" and
   "cant" are the same word. A phrase matches whole words only: "yes" does not match
   "yesterday", "no" does not match "not" or "Noah".

3. **Longest phrase wins.** Where matches overlap, the longest is kept ("not able to"
   for decline beats "able to" for accept). A few idioms are not commands even though
   they contain one: "no problem", "no worries", "not a problem", "no doubt", "no
   bother", "why not", "can't wait", "not at all" (so "No problem, happy to" is accept
   and "Can't wait! Yes" is not decline), unless a caller lists them.

4. **Anywhere in the first clause.** The line is cut into clauses at ". ! ? ;" (but
   not at "..." or "…", which hesitate rather than end) and before "but", "although",
   "though", "however", "except", "unless". The first clause holding any phrase
   decides; all phrases in that clause count, wherever they are in it: "Yes, happy to"
   and "I'd be happy to" are accept, "Sorry, I can't" is decline. Later clauses do not
   count, so "I accept, although I can't do Tuesdays" is accept (with ``rest`` "although
   I can't do Tuesdays").

5. **Negation.** A phrase with a negating word ("not", "don't", "can't", "cannot",
   "won't", "never", "unable", "no longer", ...) among the five words before it (in
   the same clause) is dropped: "not happy to", "can't accept" and "don't accept"
   never read as accept. If the negating word is itself a phrase of another command
   ("can't" listed for decline), that command stands: "I can't accept" is decline. A
   clause whose only phrases are negated gives no command (``name=None,
   candidates=()``): we do not guess what "not happy to" means.

6. **Ambiguity.** If the deciding clause holds phrases of two or more commands
   ("yes... no", "accept or decline?"), the result is ``name=None`` with
   ``candidates`` = those commands in the caller's order.

The result's ``line`` is the line read; ``rest`` is the text after the command's first
phrase on that line plus all following lines, with leading punctuation and emphasis
markers stripped: a decline reason, say ("Decline: no time this term" -> "no time this
term"). With no command, ``line`` is the line that was read ("" when the text is empty)
and ``rest`` is "".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from mailflow.parse.result import CommandResult

__all__ = ["find_command", "normalise", "words"]

_APOSTROPHES = "'\u2019\u2018\u02bc`\u00b4"
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_GREETING_WORDS = {
    "hi", "hello", "hey", "dear", "hiya", "heya", "greetings", "morning", "afternoon",
    "evening", "howdy", "yo", "good", "bonjour", "hallo", "hola", "ciao", "hej", "to",
}
_THANKS_START = (("thanks",), ("thank",), ("many", "thanks"), ("thx",), ("ta",), ("cheers",))
_NEGATORS = {
    "not", "dont", "doesnt", "didnt", "cant", "cannot", "wont", "wouldnt", "couldnt",
    "shouldnt", "isnt", "arent", "wasnt", "never", "unable", "neither", "nor", "hardly",
    "aint", "nt",
}
_NEGATION_WINDOW = 5  # words before a phrase in which a negating word cancels it
_NEUTRAL = (
    ("no", "problem"), ("no", "problems"), ("no", "worries"), ("not", "a", "problem"),
    ("no", "doubt"), ("no", "bother"), ("why", "not"), ("no", "reason", "not", "to"),
    ("cant", "wait"), ("couldnt", "be", "happier"), ("not", "at", "all"),
)
_CLAUSE_BREAK = re.compile(
    r"(?<!\.)[.!?;](?!\.)(?=\s|$)|[!?;]|(?=\b(?:but|although|though|however|except|unless)\b)",
    re.I,
)
_LEADING_JUNK = " \t\r\n,.;:!?-–—*_~`'\"“”‘’)]>"


def _fold(ch: str) -> str:
    """One character lower-cased, or replaced by a space; never changes the length."""
    if ch in _APOSTROPHES:
        return "'"
    if ch in "*_~`":
        return " "
    low = ch.lower()
    return low if len(low) == 1 else ch


_FOLD_TABLE = str.maketrans({**{c: " " for c in "*_~`"}, **{a: "'" for a in _APOSTROPHES}})  # as _fold: ` is an apostrophe


def normalise(text: str) -> str:
    """``text`` lower-cased with emphasis markers, punctuation and extra spaces removed
    and apostrophes dropped inside words: ``"**Can’t** do it!"`` -> ``"cant do it"``."""
    return " ".join(words(text))


def words(text: str) -> list[str]:
    """The words of ``text`` as :func:`normalise` compares them."""
    return [w for w, _, _ in _tokens(text)]


def _folded(text: str) -> str:
    """:func:`_fold` of every character, with ``str.translate`` and ``str.lower`` (a
    500,000-character line took 0.3 s one character at a time; issue 12). Where
    lower-casing lengthens a character ("İ"), each is folded on its own, as before."""
    if "\u03a3" not in text:  # str.lower() turns a word's last Σ into ς; _fold does not
        low = text.translate(_FOLD_TABLE).lower()
        if len(low) == len(text):
            return low
    return "".join(_fold(c) for c in text)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) with offsets into ``text``."""
    folded = _folded(unicodedata.normalize("NFC", text))
    if len(folded) != len(text):  # NFC changed the length: offsets only roughly right
        folded = _folded(text)
    out = []
    for m in _TOKEN.finditer(folded):
        out.append((m.group(0).replace("'", ""), m.start(), m.end()))
    return out


class _Match:
    __slots__ = ("command", "start", "end", "length")

    def __init__(self, command: str, start: int, end: int) -> None:
        self.command = command
        self.start = start  # token index
        self.end = end  # token index, exclusive
        self.length = end - start


_NEUTRAL_NAME = "\0neutral"


def _phrase_table(commands: Mapping[str, Sequence[str]]) -> list[tuple[str, tuple[str, ...]]]:
    table: list[tuple[str, tuple[str, ...]]] = []
    for name, phrases in commands.items():
        if isinstance(phrases, str):
            phrases = (phrases,)
        for phrase in phrases:
            toks = tuple(words(str(phrase)))
            if toks:
                table.append((name, toks))
    listed = {toks for _, toks in table}
    for toks in _NEUTRAL:
        if toks not in listed:
            table.append((_NEUTRAL_NAME, toks))
    return table


def _find(tokens: Sequence[str], table: list[tuple[str, tuple[str, ...]]]) -> list[_Match]:
    found: list[_Match] = []
    n = len(tokens)
    for name, phrase in table:
        k = len(phrase)
        for i in range(n - k + 1):
            if tuple(tokens[i:i + k]) == phrase:
                found.append(_Match(name, i, i + k))
    # Longest first; among equal lengths a caller's phrase beats an idiom, then earliest.
    found.sort(key=lambda m: (-m.length, m.command == _NEUTRAL_NAME, m.start))
    kept: list[_Match] = []
    for m in found:
        if all(m.end <= o.start or m.start >= o.end for o in kept):
            kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept


def _negated(m: _Match, tokens: Sequence[str]) -> bool:
    """A negating word among the few words before ``m``. The negating word may itself
    be another command's phrase ("can't" for decline): that match is kept, this one
    is dropped, so "I can't accept" is decline."""
    for i in range(max(0, m.start - _NEGATION_WINDOW), m.start):
        if tokens[i] in _NEGATORS or (tokens[i] == "no" and i + 1 < len(tokens) and tokens[i + 1] == "longer"):
            return True
    return False


def _is_courtesy(tokens: Sequence[str]) -> bool:
    if not tokens:
        return True
    if tokens[0] in _GREETING_WORDS and len(tokens) <= 5:
        return True
    return any(tuple(tokens[: len(t)]) == t for t in _THANKS_START) and len(tokens) <= 12


def _clauses(line: str) -> list[tuple[int, int]]:
    """Character spans of the clauses of ``line``."""
    spans = []
    start = 0
    for m in _CLAUSE_BREAK.finditer(line):
        end = m.end() if m.group(0) else m.start()
        if end > start:
            spans.append((start, end))
            start = end
    if start < len(line):
        spans.append((start, len(line)))
    return spans or [(0, len(line))]


def find_command(new_text: str, commands: Mapping[str, Sequence[str]]) -> CommandResult:
    """The command in ``new_text`` (see the module docstring for the grammar).

    ``commands`` maps each command name to the words and phrases that mean it in reply
    to this email. Never raises on any text.
    """
    text = (new_text or "").replace("\r\n", "\n").replace("\r", "\n")
    table = _phrase_table(commands or {})
    lines = text.split("\n")
    for index, raw_line in enumerate(lines):
        line = raw_line.strip()
        toks = _tokens(line)
        if not toks:
            continue
        tokens = [t for t, _, _ in toks]
        matches = [m for m in _find(tokens, table) if m.command != _NEUTRAL_NAME]
        if not matches and _is_courtesy(tokens):
            continue
        return _decide(line, toks, table, lines[index + 1:], commands)
    return CommandResult(None)


def _decide(line: str, toks: list[tuple[str, int, int]], table, following: list[str],
            commands: Mapping[str, Sequence[str]]) -> CommandResult:
    for c_start, c_end in _clauses(line):
        idx = [i for i, (_, s, _e) in enumerate(toks) if c_start <= s < c_end]
        if not idx:
            continue
        first = idx[0]
        tokens = [toks[i][0] for i in idx]
        all_matches = _find(tokens, table)
        matches = [m for m in all_matches if m.command != _NEUTRAL_NAME]
        if not matches:
            continue
        live = [m for m in matches if not _negated(m, tokens)]
        names = [name for name in commands if any(m.command == name for m in live)]
        if not names:
            return CommandResult(None, line=line)
        if len(names) > 1:
            return CommandResult(None, line=line, candidates=tuple(names))
        name = names[0]
        phrase = min((m for m in live if m.command == name), key=lambda m: m.start)
        cut = toks[first + phrase.end - 1][2]
        after = line[cut:]
        rest = "\n".join([after, *following]).strip()
        rest = rest.lstrip(_LEADING_JUNK).rstrip()
        rest = re.sub(r"^(?:\*\*|__|\*|_)\s*$", "", rest)
        return CommandResult(name, line=line, rest=rest)
    return CommandResult(None, line=line)
