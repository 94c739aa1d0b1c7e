"""Render email templates into whole messages.

A template is a Jinja2 text file named by what it is for, e.g.
``templates/introduction/to-mentor.txt``: header lines (``Subject:`` is required;
``Heading:`` is optional), a blank line, then the plain-text body. It is the only
thing a template author writes. Both parts of every email are made from that text,
so they always say the same thing:

* **Plain text**, sent ``format=flowed`` (RFC 3676): paragraphs reflow to the width of
  a phone in clients that understand it, and read as ordinary 72-column text in the
  rest (:func:`flowed`).
* **HTML**, built from the same blocks of text into ``templates/_layout.html``: one
  table-based column of at most 600 px, centred, with the styles inlined by
  ``css-inline`` (Outlook's Word engine and Gmail ignore most ``<style>`` rules), no
  images, fonts, scripts or other external resources, ``lang`` set, the heading as
  ``<h1>``, colours of at least 4.5:1 contrast, and a ``prefers-color-scheme: dark``
  variant. A template may supply its own ``NAME.html`` instead of the layout; it gets
  the same variables plus ``body_html``, ``footer_html`` and ``heading``.

Every email ends with ``templates/_footer.txt``, rendered for its audience
(``audience`` is the recipient's role: ``mentor``, ``mentee``, ``coordinator`` or
``stranger``; ``expects_reply`` says whether the email takes a reply), so each
footer tells its reader the truth: what the coordinators see, how to reach a person,
and whether to reply at all.

Conventions for template authors (the renderer recognises these; no markup needed)
-----------------------------------------------------------------------------------
1. **Greeting**: ``Dear {{ recipient.greeting }},``. ``greeting`` is the enrolment
   CSV's ``greeting`` column, or else the whole name; never cut a name into a "first
   name". (``first_name`` is kept as an alias of ``greeting``.)
2. **Paragraphs** may be wrapped by hand anywhere: a block of running text (no
   indented, ``Label:`` or bulleted lines, and every line but the last at least 40
   characters) becomes one paragraph that reflows. Other blocks (a sign-off, a list)
   keep their line breaks.
3. **Commands**: an indented line that starts with a command word in capitals, then
   what it does::

       ACCEPT   if you are happy to mentor Sam
       MET <date> <minutes>   after a meeting

   The word is one of the commands (names, or one-word phrases) of the reply context
   the email expects (``expects`` in the rules; the context's ``commands``). Arguments
   in angle brackets may follow the word. In the HTML each such line is a button-like
   ``mailto:`` link that opens a reply to the email's token-carrying ``Reply-To``
   (``reply_address``), with the subject ``Re: <subject>`` and the word already in the
   body (followed by a space when it takes arguments), so one tap answers. A command
   name written in capitals in running text ("reply with AGREE") is linked too.
4. **Forms**: ``{{ form }}`` or ``{{ forms.NAME }}`` as a block of its own. The HTML
   shows it in a box, each answer by its label and the help lines (only in the blank
   form) set apart.
5. **Structure**: a line ending with ``:`` directly above indented lines is a
   sub-heading (``<h2>``) over them; indented ``Label: value`` lines show as fields,
   indented ``- item`` lines as a bulleted list, and other indented lines (commands
   to type, e.g. ``mailflow pair ...``) in a monospaced box.
6. **Footer**: do not write one; it is added per audience. An email that expects no
   reply (no ``expects``) must not ask for one in its text either.
7. **Heading**: the HTML ``<h1>`` is the ``Heading:`` header if given, else the
   subject without "Re:"; a reply note (``Subject: {{ reply_subject }}``) should give
   a ``Heading:`` that says what the note is about.

8. **Translation**: every sentence is one message, ``{{ _("Dear %(greeting)s,",
   greeting=recipient.greeting) }}`` (adjacent string literals join, so a long one may
   be wrapped); ``ngettext`` for plurals; a choice between sentences is two whole
   messages under ``{% if %}``, never a sentence built from pieces. Commands to type
   (``mailflow pair ...``) stay outside ``_()``. See :mod:`mailflow.i18n`.

Rendering is strict (:class:`jinja2.StrictUndefined`): a missing variable is an
error naming the template and the variable, raised before anything is queued.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import css_inline
import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from .errors import TemplateError
from .i18n import SOURCE, chain, normalise
from .i18n import translations as i18n_translations
from .resources import shipped

_ALLOWED_HEADERS = {"subject", "heading"}
# Capital letters, with the accented ones of Latin scripts ("DÉPLACER", "AINDA NÃO").
_UP = "A-ZÀ-ÖØ-ÞŒ"
_FORM_LINE = re.compile(rf"^\s*(\d+[.)]|[{_UP}][A-Za-zÀ-ÖØ-öø-ÿŒœ /'’-]{{0,40}}:)(\s|$)")
WIDTH = 72  # plain-text lines are at most this long, plus a space where they flow on

AUDIENCES = ("mentor", "mentee", "coordinator", "stranger")
FILES_TTL = 1.0  # seconds a template file's presence is trusted (Renderer._has)


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email."""

    filename: str
    content_type: str  # e.g. "text/csv", "application/zip"
    data: bytes


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # the plain text, one line per paragraph (build_message sends it format=flowed)
    html: str
    language: str = ""  # the language it was rendered in (BCP 47), for Content-Language


class Renderer:
    """Loads templates from an optional custom folder (``[scheme] templates``), then the
    scheme preset's own ``templates/`` folders (``extra``, nearest first), then the
    shipped ones: the first folder that has a template wins. Renders each email in its
    reader's language (see :mod:`mailflow.i18n`).

    For a language chain such as ``("pt-BR", "pt", "en")`` a template is looked up in
    ``<folder>/pt-BR/``, ``<folder>/pt/`` (a whole template written in that language),
    then ``<folder>/`` itself, whose ``{% trans %}`` paragraphs are translated by the
    catalogues ``<folder>/<lang>/LC_MESSAGES/messages.po``; what a catalogue lacks
    stays in the next language of the chain, at last in English."""

    def __init__(self, custom: Path | None = None, language: str = "en", *,
                 extra: tuple[Path, ...] | list[Path] = ()):
        folders = [str(custom)] if custom else []
        folders += [str(f) for f in extra]
        folders.append(str(shipped("templates")))
        self.folders = folders
        self.language = language
        self._translations: dict[tuple[str, ...], Any] = {}
        self._files: dict[str, tuple[float, bool]] = {}  # name -> (when looked up, found)
        self._lock = threading.Lock()
        loader = jinja2.FileSystemLoader(folders)
        # One pair of environments for every language: each template is compiled once,
        # and _() / ngettext look the message up in the language chain of the email
        # being rendered (the context's "languages").
        envs = []
        for autoescape in (False, True):
            # Sandboxed: coordinators may edit templates; they must not reach Python.
            env = SandboxedEnvironment(
                loader=loader, undefined=jinja2.StrictUndefined, autoescape=autoescape,
                keep_trailing_newline=not autoescape, trim_blocks=True, lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's message is one line
            env.install_gettext_callables(self._gettext, self._ngettext, newstyle=True)
            envs.append(env)
        self.text_env, self.html_env = envs
        # Styles are written once, in the layout's <style>, and inlined into every
        # element (Outlook and Gmail drop most <style> rules). Media queries (dark
        # mode, narrow screens) stay in <style> for the clients that honour them.
        self.inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

    def translations(self, languages: tuple[str, ...]):
        """The catalogues of a language chain, each folder's in turn (made once)."""
        with self._lock:
            found = self._translations.get(languages)
        if found is None:
            found = i18n_translations([Path(f) for f in self.folders], languages)
            with self._lock:
                self._translations[languages] = found
        return found

    @jinja2.pass_context
    def _gettext(self, context, message: str) -> str:
        return self.translations(context.get("languages") or (SOURCE,)).gettext(message)

    @jinja2.pass_context
    def _ngettext(self, context, singular: str, plural: str, n: int) -> str:
        return self.translations(context.get("languages") or (SOURCE,)).ngettext(singular, plural, n)

    def _source(self, name: str, languages: tuple[str, ...]) -> str:
        """The template file for a language chain: a whole template written in one of
        its languages (``fr/notes/x.txt``), else the template itself."""
        for lang in languages:
            if lang == SOURCE:
                break
            for variant in dict.fromkeys((lang, lang.replace("-", "_"))):
                if self._has(f"{variant}/{name}"):
                    return f"{variant}/{name}"
        return name

    def languages(self, context: dict[str, Any]) -> tuple[str, ...]:
        """The language chain of an email: its reader's (``recipient.language``, or the
        context's ``lang``), then the scheme's, then English."""
        recipient = context.get("recipient")
        return chain(getattr(recipient, "language", None) or context.get("lang"), self.language)

    def exists(self, name: str) -> bool:
        return any((Path(f) / f"{name}.txt").is_file() for f in self.folders)

    def names(self) -> list[str]:
        found = set()
        for folder in self.folders:
            for p in Path(folder).rglob("*.txt"):
                rel = p.relative_to(folder).with_suffix("").as_posix()
                if not rel.startswith("_") and not _is_language_dir(rel.split("/", 1)[0]):
                    found.add(rel)
        return sorted(found)

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        source = f"{name}.txt"
        recipient = context.get("recipient")
        audience = getattr(recipient, "role", "stranger")
        audience = audience if audience in AUDIENCES else "stranger"
        expects_reply = context.get("expects_reply")
        if expects_reply is None:  # a caller that does not say: a reply is expected if it has commands or a form
            expects_reply = bool(context.get("commands") or context.get("form"))
        languages = self.languages(context)
        text_env, html_env = self.text_env, self.html_env
        context = {**context, "audience": audience, "expects_reply": bool(expects_reply), "lang": languages[0],
                   "languages": languages}
        try:
            text = text_env.get_template(self._source(source, languages)).render(context)
            footer = text_env.get_template(self._source("_footer.txt", languages)).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name!r} not found in {', '.join(self.folders)}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {source}: {exc.message} (a variable the template uses is not set)") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {exc.filename or source}:{exc.lineno}: {exc.message}") from None
        except (jinja2.TemplateError, KeyError, ValueError, TypeError) as exc:
            # KeyError, ValueError and TypeError: a translation whose %(name)s do not fit.
            raise TemplateError(f"template {source} ({languages[0]}): {exc}") from None
        headers, body = _split(source, text)
        if "subject" not in headers:
            raise TemplateError(f"template {source}: needs a 'Subject:' line at the top, then a blank line")
        subject = headers["subject"]
        body = reflow(body)
        footer = "\n".join(line.strip() for line in footer.splitlines() if line.strip())  # one line per point
        plain = body + "\n\n-- \n" + footer + "\n"
        page = _Page(context, subject, forms=_form_texts(context))
        heading = headers.get("heading") or re.sub(r"^(?:(?:re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.I)
        html_name = f"{name}.html" if self._has(f"{name}.html") else "_layout.html"
        try:
            html = html_env.get_template(html_name).render({
                **context, "subject": subject, "heading": heading, "lang": context.get("lang") or "en",
                "body_html": page.body(body), "footer_html": page.footer(footer),
            })
            html = self.inliner.inline(html)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {html_name} (for {source}): {exc}") from None
        except css_inline.InlineError as exc:
            raise TemplateError(f"template {html_name} (for {source}): its CSS cannot be inlined: {exc}") from None
        return Rendered(subject, plain, html, languages[0])

    def _has(self, name: str) -> bool:
        """Whether a folder has the file ``name``. Speed (issue 12): each answer is kept
        for a second (every email asked again, a few file look-ups each), so a template
        added or removed while ``serve`` runs is noticed within a second, as Jinja notices
        an edited one."""
        now = time.monotonic()
        found = self._files.get(name)
        if found is None or now - found[0] > FILES_TTL:
            found = self._files[name] = (now, any((Path(f) / name).is_file() for f in self.folders))
        return found[1]


def _is_language_dir(name: str) -> bool:
    """A folder of one language's templates and catalogue (``fr``, ``pt-BR``, ``pt_BR``)."""
    if not re.fullmatch(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*", name):
        return False
    try:
        normalise(name)
    except ValueError:
        return False
    return True


def _split(source: str, text: str) -> tuple[dict[str, str], str]:
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise TemplateError(f"template {source}: needs header lines, a blank line, then the body")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        name, colon, value = line.partition(":")
        key = name.strip().lower()
        if not colon or key not in _ALLOWED_HEADERS:
            raise TemplateError(
                f"template {source}: header line {line!r} is not allowed (only Subject: and Heading:); "
                "leave a blank line between the headers and the body"
            )
        headers[key] = " ".join(value.split())
    return headers, body


# --------------------------------------------------------------------------- plain text


def _is_prose(lines: list[str]) -> bool:
    """A paragraph of running text (not a list, a form, an indented block or a sign-off).

    Template authors wrap prose by hand; once variables are filled in, the lines are
    uneven. Prose becomes one line, which :func:`flowed` wraps; anything else keeps its
    line breaks.
    """
    if any(l[:1].isspace() or _FORM_LINE.match(l) or l.startswith(("-", "*", "•")) for l in lines):
        return False
    return all(len(l) >= 40 for l in lines[:-1])


def _blocks(text: str) -> list[list[str]]:
    return [b.splitlines() for b in re.split(r"\n[ \t]*\n", text.strip("\n")) if b.strip()]


def reflow(text: str) -> str:
    """Each prose paragraph on one line; every other block as written (trailing spaces
    removed); blocks separated by one blank line."""
    out = []
    for lines in _blocks(text):
        if _is_prose(lines):
            out.append(" ".join(l.strip() for l in lines))
        else:
            out.append("\n".join(l.rstrip() for l in lines))
    return "\n\n".join(out)


def flowed(text: str, width: int = WIDTH) -> str:
    """``text`` as RFC 3676 ``format=flowed`` (DelSp=No).

    Each line of ``text`` is a paragraph or a line that must stay a line. Lines longer
    than ``width`` are wrapped after a space, and the space stays at the end of the
    line: that is a soft break, which a reader that knows format=flowed joins up again
    and reflows to its own width. Every other line break is hard: its line has no
    trailing space. Lines starting with a space, ``>`` or ``From `` get one more space
    in front (space-stuffing), which a reader removes. The signature separator
    ``-- `` is kept as it is.
    """
    out: list[str] = []
    for line in text.split("\n"):
        if line == "-- ":
            out.append(line)
            continue
        for piece in _soft_wrap(line.rstrip(" "), width):
            out.append(" " + piece if piece.startswith((" ", ">", "From ")) else piece)
    return "\n".join(out)


def _soft_wrap(line: str, width: int) -> list[str]:
    """``line`` cut before words, each piece as many words (each with the spaces after
    it) as end within ``width`` characters, and at least one.

    Speed (issue 12): found with ``find``/``rfind`` rather than word by word;
    tests/test_emails.py checks it against the word-by-word way."""
    n = len(line)
    if n <= width:
        return [line]
    pieces: list[str] = []
    p = 0
    while n - p > width:  # else the rest ends within the width
        limit = p + width
        end = line.find(" ", p)  # where the piece's first word ends (leading spaces: a word of their own)
        if end == -1:
            break  # one word left
        # After the last word that ends within the width (the first word in any case):
        cut = end if end > limit else line.rfind(" ", end, limit + 1)
        while cut < n and line[cut] == " ":
            cut += 1
        if cut >= n:
            break  # only spaces follow
        pieces.append(line[p:cut])
        p = cut
    pieces.append(line[p:])
    return pieces


# --------------------------------------------------------------------------- HTML

_COMMAND_LINE = re.compile(rf"^(?P<indent>[ \t]+)(?P<word>[{_UP}][{_UP}0-9_'’-]*)(?P<args>(?:[ \t]+<[^<>]+>)*)"
                           r"(?:[ \t]+(?P<desc>.*))?$")
_FIELD = re.compile(r"^(?P<label>[^\W\d_][\w /'()-]{0,40}):(?:[ \t]+(?P<value>.*))?$")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?![\w-])")
_RTL = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc"
_RTL_RUN = re.compile(f"[{_RTL}][{_RTL}\\s'’.-]*(?<=[{_RTL}])")
_HELP = re.compile(r"^\(.*\)$")
_ITEM = re.compile(r"^(\d{1,2}[.)])\s+(.*)$")


def _form_texts(context: dict[str, Any]) -> list[str]:
    """The forms that may appear verbatim in the body: ``form`` and ``forms.*``."""
    found = [context.get("form")]
    forms = context.get("forms")
    if isinstance(forms, dict):
        found += list(forms.values())
    texts = {"\n".join(line.rstrip() for line in f.strip("\n").splitlines()) for f in found
             if isinstance(f, str) and f.strip()}
    return sorted(texts, key=len, reverse=True)


def mailto(address: str, subject: str, body: str = "") -> str:
    """A ``mailto:`` URL (RFC 6068) for a reply to ``address``."""
    url = f"mailto:{quote(address, safe='@+')}?subject={quote(subject, safe='')}"
    return url + (f"&body={quote(body, safe='')}" if body else "")


def reply_subject(subject: str) -> str:
    """The subject a mail client gives a reply to ``subject``."""
    return subject if re.match(r"re\s*:", subject, re.I) else f"Re: {subject}"


@functools.lru_cache(maxsize=256)
def _forms_pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    """The forms as whole blocks of a body (see ``_Page._segments``), compiled once."""
    return re.compile(r"(?:(?<=\n\n)|^)(" + "|".join(map(re.escape, forms)) + r")(?=\n\n|$)")


_ADDRESS_SPLIT = re.compile(r"(\S+@\S+)")


@functools.lru_cache(maxsize=256)
def _names_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """Command names in running text, whole words, the longest first."""
    return re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])")


@functools.lru_cache(maxsize=256)
def _command_words(commands: tuple[tuple[Any, tuple[Any, ...]], ...], english: bool
                   ) -> tuple[frozenset[str], frozenset[str], re.Pattern[str] | None]:
    """What may start a command line (in capitals), the command names linked in running
    text too, and those names' pattern."""
    words: set[str] = set()
    names: set[str] = set()
    for name, said in commands:
        names.add(str(name).upper())
        words.add(str(name).upper())
        words.update(" ".join(w.upper().split()) for w in said if isinstance(w, str) and len(w.split()) <= 3)
        if not english and said and isinstance(said[0], str):
            # In another language the emails name a command by its first word ("CONFIRMER").
            names.add(" ".join(said[0].upper().split()))
    return frozenset(words), frozenset(names), (_names_pattern(frozenset(names)) if names else None)


class _Page:
    """Turns the plain-text blocks of one email into HTML fragments for the layout."""

    def __init__(self, context: dict[str, Any], subject: str, forms: list[str]):
        self.forms = forms
        self.reply_address = context.get("reply_address") or ""
        self.subject = reply_subject(subject)
        commands = context.get("commands") or {}
        english = (context.get("lang") or "en").split("-")[0] == "en"
        try:
            key = tuple((name, tuple(words or ())) for name, words in commands.items()) \
                if isinstance(commands, dict) else ()
            hash(key)
        except TypeError:  # words that are not hashable: worked out without the cache
            self.words, self.names, self.names_re = _command_words.__wrapped__(
                tuple((name, tuple(words or ())) for name, words in commands.items()), english)
        else:
            # Speed (issue 12): worked out once per set of commands and language, and the
            # command names' pattern compiled once, not once per line of text.
            self.words, self.names, self.names_re = _command_words(key, english)

    # ------------------------------------------------------------------ blocks

    def body(self, text: str) -> Markup:
        out: list[str] = []
        for kind, chunk in self._segments(text):
            out.append(self._form(chunk) if kind == "form" else self._text(chunk))
        return Markup("\n".join(out))

    def footer(self, text: str) -> Markup:
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            m = re.match(r"^([A-Z][^:.]{0,40}:)(\s.*)$", line)
            if m:
                out.append(f'<p class="footer-line"><strong>{self._inline(m.group(1))}</strong>'
                           f"{self._inline(m.group(2))}</p>")
            else:
                out.append(f'<p class="footer-line">{self._inline(line)}</p>')
        return Markup("\n".join(out))

    def _segments(self, text: str) -> list[tuple[str, str]]:
        """The body cut into ("text", ...) and ("form", ...) pieces, forms found verbatim."""
        if not self.forms:
            return [("text", text)]
        # A form is whole blocks: it starts after a blank line (or at the top) and ends
        # before one (or at the end); the longest form wins where two could match.
        pattern = _forms_pattern(tuple(self.forms))
        out: list[tuple[str, str]] = []
        at = 0
        for m in pattern.finditer(text):
            out += [("text", text[at:m.start()]), ("form", m.group(1))]
            at = m.end()
        out.append(("text", text[at:]))
        return [(k, c) for k, c in out if c.strip()]

    def _text(self, text: str) -> str:
        out = []
        for lines in _blocks(text):
            out += self._block(lines)
        return "\n".join(out)

    def _block(self, lines: list[str]) -> list[str]:
        indented = [bool(l[:1].isspace()) for l in lines]
        if len(lines) > 1 and not indented[0] and all(indented[1:]) and lines[0].rstrip().endswith(":") \
                and len(lines[0]) <= 60:
            return [f"<h2>{self._inline(lines[0].strip()[:-1])}</h2>"] + self._block(lines[1:])
        if all(indented):
            return self._indented(lines)
        out: list[str] = []
        run: list[str] = []
        commands: list[tuple[str, str, str]] = []
        for line in lines + [""]:
            cmd = self._command(line) if line else None
            if cmd:
                if run:
                    out.append(self._para(run))
                    run = []
                commands.append(cmd)
                continue
            if commands:
                out.append(self._commands(commands))
                commands = []
            if line:
                run.append(line)
        if run:
            out.append(self._para(run))
        return out

    def _para(self, lines: list[str]) -> str:
        if all(l.lstrip().startswith(("- ", "* ", "• ")) for l in lines):
            items = "".join(f"<li>{self._inline(l.lstrip()[2:])}</li>" for l in lines)
            return f'<ul class="list">{items}</ul>'
        return "<p>" + "<br>\n".join(self._inline(l.strip()) for l in lines) + "</p>"

    def _indented(self, lines: list[str]) -> list[str]:
        lines = [l for l in lines if l.strip()]
        if not lines:
            return []
        if any(self._command(l) for l in lines) and all(self._command(l) or not l.strip() for l in lines):
            return [self._commands([c for c in map(self._command, lines) if c])]
        depth = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
        top = [l for l in lines if len(l) - len(l.lstrip()) == depth]
        if all(l.strip().startswith(("- ", "* ", "• ")) for l in top):
            items: list[list[str]] = []
            for l in lines:
                if len(l) - len(l.lstrip()) == depth:
                    items.append([l.strip()[2:]])
                else:
                    items[-1].append(l.strip())
            lis = "".join("<li>" + "<br>".join(self._inline(x) for x in item) + "</li>" for item in items)
            return [f'<ul class="list">{lis}</ul>']
        if all(_FIELD.match(l.strip()) for l in top):
            fields: list[tuple[str, list[str]]] = []
            for l in lines:
                m = _FIELD.match(l.strip())
                if len(l) - len(l.lstrip()) == depth and m:
                    fields.append((m.group("label"), [m.group("value") or ""]))
                else:
                    fields[-1][1].append(l.strip())
            return [f'<table role="presentation" class="box" width="100%" cellpadding="0" cellspacing="0" '
                    f'border="0"><tr><td class="box-cell">{"".join(self._field(label, vals) for label, vals in fields)}'
                    "</td></tr></table>"]
        code = "<br>".join(self._inline(l[depth:], link=False).replace("  ", "&nbsp; ") for l in lines)
        return [f'<table role="presentation" class="box" width="100%" cellpadding="0" cellspacing="0" border="0">'
                f'<tr><td class="code-cell"><p class="code">{code}</p></td></tr></table>']

    def _field(self, label: str, values: list[str]) -> str:
        values = [v for v in values if v.strip()]
        head = f'<strong class="label">{self._inline(label)}:</strong>'
        if not values:
            return f'<p class="field">{head}</p>'
        if len(values) == 1 and not _ITEM.match(values[0]):
            return f'<p class="field">{head} {self._inline(values[0])}</p>'
        return f'<p class="field">{head}<br>' + "<br>".join(self._inline(v) for v in values) + "</p>"

    def _form(self, text: str) -> str:
        """A form from :func:`mailflow.parse.forms.render_form`: label lines, help lines
        in round brackets (blank fields only), numbered items and continued values."""
        fields: list[tuple[str, list[str], list[str]]] = []  # label line, values, help
        for line in text.splitlines():
            s = line.strip()
            if not s:
                continue
            m = _FIELD.match(s)
            if m and not _ITEM.match(s) and not (fields and _HELP.match(s)):
                fields.append((m.group("label"), [m.group("value") or ""], []))
            elif fields and _HELP.match(s):
                fields[-1][2].append(s)
            elif fields:
                fields[-1][1].append(s)
            else:
                fields.append(("", [s], []))
        rows = []
        for label, values, helps in fields:
            if not label:
                rows.append(f"<p>{self._inline(values[0])}</p>")
                continue
            row = self._field(label, values)
            row += "".join(f'<p class="help">{self._inline(h)}</p>' for h in helps)
            rows.append(f'<div class="form-field">{row}</div>')
        return (f'<table role="presentation" class="form" width="100%" cellpadding="0" cellspacing="0" border="0">'
                f'<tr><td class="form-cell">{"".join(rows)}</td></tr></table>')

    # ------------------------------------------------------------------ commands

    def _command(self, line: str) -> tuple[str, str, str] | None:
        m = _COMMAND_LINE.match(line.rstrip())
        if not m:
            return None
        # A command of several words in capitals ("NOT YET") is the longest that is one.
        caps = re.match(rf"[{_UP}][{_UP}0-9_'’-]*(?:[ ][{_UP}][{_UP}0-9_'’-]*){{0,3}}(?=\s|$)", line.strip())
        if caps:
            words = caps.group(0).split()
            for n in range(len(words), 1, -1):
                phrase = " ".join(words[:n])
                if phrase in self.words:
                    rest = line.strip()[len(phrase):]
                    again = _COMMAND_LINE.match(" X" + rest.rstrip())
                    args = " ".join(again.group("args").split()) if again else ""
                    return phrase, args, ((again.group("desc") if again else rest) or "").strip()
        if m.group("word") not in self.words:
            return None
        return m.group("word"), " ".join(m.group("args").split()), (m.group("desc") or "").strip()

    def _link(self, word: str, args: str = "") -> str:
        body = word + (" " if args else "")
        return mailto(self.reply_address, self.subject, body) if self.reply_address else ""

    def _commands(self, commands: list[tuple[str, str, str]]) -> str:
        """Command lines as one table, a row each: the word as a button, then what it does."""
        rows = []
        for word, args, desc in commands:
            href = self._link(word, args)
            button = (f'<a class="command-link" href="{escape(href)}" data-command="{escape(word)}">{escape(word)}</a>'
                      if href else f'<strong class="command-word">{escape(word)}</strong>')
            detail = (f'<span class="command-args">{escape(args)}</span> ' if args else "") + self._inline(desc, link=False)
            rows.append(f'<tr><td class="command-cell"><table role="presentation" class="button" cellpadding="0" '
                        f'cellspacing="0" border="0"><tr><td class="command-button">{button}</td></tr></table></td>'
                        f'<td class="command-text">{detail}</td></tr>')
        return (f'<table role="presentation" class="commands" cellpadding="0" cellspacing="0" border="0">'
                f'{"".join(rows)}</table>')

    # ------------------------------------------------------------------ running text

    def _inline(self, text: str, link: bool = True) -> str:
        """Escape one line of text; link e-mail addresses and command names; isolate
        right-to-left names so that the punctuation around them stays in place."""
        parts = _ADDRESS_SPLIT.split(text) if link else [text]
        out = []
        for i, part in enumerate(parts):
            m = _EMAIL.search(part) if i % 2 else None
            if m:
                addr = m.group(0)
                out.append(self._words(part[:m.start()]) + f'<a class="link" href="mailto:{escape(addr)}">'
                           f"{escape(addr)}</a>" + self._words(part[m.end():]))
                continue
            out.append(self._words(part, link))
        return "".join(out)

    def _words(self, text: str, link: bool = True) -> str:
        html = str(escape(text))
        html = _RTL_RUN.sub(lambda m: f"<bdi>{m.group(0)}</bdi>", html)
        if link and self.names_re is not None and self.reply_address:
            html = self.names_re.sub(lambda m: (f'<a class="command-inline" href="{escape(self._link(m.group(1)))}" '
                                              f'data-command="{m.group(1)}">{m.group(1)}</a>'), html)
        return html


# --------------------------------------------------------------------------- the message


class _MailPolicy(EmailPolicy):
    """``email.policy.SMTP``, with headers that every client decodes exactly.

    CPython's header folder (3.11, 3.12) mishandles encoded words: it can end a folded
    line with the space before an encoded word and begin the next with another, so
    "Hans Müller" reads "Hans  Müller", and it can leave the space between two
    encoded words bare, where RFC 2047 says to ignore it, so "محمد عبد" reads "محمدعبد"
    (fixed upstream in gh-144156); and it folds a long ASCII subject straight after
    "Subject:", which Python's own parser then reads with a leading space. So a
    ``Subject`` that needs encoding (non-ASCII, or a word too long to fold) is encoded
    whole by :class:`email.header.Header`, whose encoded words carry their own spaces,
    and any other is folded here, before a space; the name in ``List-Id`` is encoded
    like a subject.
    ``List-Unsubscribe`` is written as it is: folding would turn its URL into encoded
    words, which no client reads as a URL.
    """

    def fold(self, name: str, value: str) -> str:
        return self._ours(name, str(value)) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        ours = self._ours(name, str(value))
        return ours.encode("ascii") if ours else super().fold_binary(name, value)

    def _ours(self, name: str, value: str) -> str:
        key = name.lower()
        if key == "subject":
            if value.isascii() and max(map(len, value.split()), default=0) <= 60:
                return _folded(f"{name}: {value}", self.linesep)
            return f"{name}: {_encoded(name, value, self.linesep)}{self.linesep}"
        if key == "list-id":
            if value.isascii():
                return _folded(f"{name}: {value}", self.linesep)
            phrase, _, rest = value.rpartition(" <")
            return f"{name}: {_encoded(name, phrase, self.linesep)}{self.linesep} <{rest}{self.linesep}"
        if key == "list-unsubscribe" and value.isascii() and len(value) < 900:
            return f"{name}: {value}{self.linesep}"
        return ""


def _folded(line: str, linesep: str, width: int = 78) -> str:
    """An ASCII header line folded before spaces, never straight after the colon."""
    name, *words = line.split(" ")
    out, current = [], name
    for word in words:
        if current != name and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}"
    return f"{linesep} ".join(out + [current]) + linesep


def _encoded(name: str, value: str, linesep: str) -> str:
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep=linesep)


_POLICY = _MailPolicy(linesep="\r\n")


def scheme_list_id(scheme_name: str, address: str) -> str:
    """The ``List-Id`` (RFC 2919) of a scheme: its name, and its address as a dotted id."""
    local, _, domain = address.partition("@")
    label = re.sub(r"[^a-z0-9-]+", "-", local.lower()).strip("-") or "mailflow"
    phrase = " ".join(re.sub(r'[()<>\[\]:;@\\,."]', " ", scheme_name).split())
    return f"{phrase} <{label}.{domain.lower()}>" if phrase else f"<{label}.{domain.lower()}>"


def build_message(
    rendered: Rendered,
    *,
    from_name: str,
    from_addr: str,
    to_name: str,
    to_addr: str,
    reply_to: str,
    message_id: str,
    date: dt.datetime,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    template: str = "",
    list_id: str = "",
    unsubscribe: str = "",
    calendar: tuple[bytes, str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> EmailMessage:
    """A multipart/alternative message, with the headers every mailflow email carries.

    ``list_id`` becomes ``List-Id``; ``unsubscribe`` (a ``mailto:`` URL) becomes
    ``List-Unsubscribe``. The plain text is sent ``format=flowed``. ``calendar`` is an
    iCalendar invite and its method (REQUEST or CANCEL): it goes in as a third
    alternative (which Outlook and Gmail show as an invitation) and as an
    ``invite.ics`` attachment (which Apple Mail and others offer to add).
    ``attachments`` (a CSV of pairs, a participant's own data) follow as files.

    Every value that reaches a header goes through :func:`mailflow.headers.clean`
    (encoded words decoded, control and line-separator characters removed), and
    the serialised message is read back to check that it has exactly the headers
    set here, so no name or subject can add a header or a body, whatever the Python
    version. The recipient's domain is IDNA-encoded; a local part that is not ASCII
    makes an SMTPUTF8 message (the outbox sends it only through a relay that offers
    SMTPUTF8). Raises :class:`~mailflow.headers.AddressError` for an address that
    cannot be written at all.
    """
    from .headers import AddressError, check_headers, clean, envelope_address

    to_env, utf8 = envelope_address(to_addr)
    msg = EmailMessage(policy=_POLICY.clone(utf8=True) if utf8 else _POLICY)
    try:
        msg["From"] = Address(display_name=clean(from_name), addr_spec=envelope_address(from_addr)[0])
        local, _, domain = to_env.rpartition("@")
        # username/domain, not addr_spec: the parser refuses a UTF-8 local part.
        msg["To"] = Address(display_name=clean(to_name), username=local, domain=domain)
        msg["Reply-To"] = Address(display_name=clean(from_name), addr_spec=envelope_address(reply_to)[0])
    except (ValueError, IndexError, TypeError) as exc:  # the email package's defects are ValueErrors
        raise AddressError(f"cannot address an email to {clean(to_name)!r} <{to_addr}>: {exc}") from None
    msg["Subject"] = clean(rendered.subject, 998)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{clean(message_id)}>"
    if in_reply_to:
        ids = [clean(i, 250).replace(" ", "") for i in (*references, in_reply_to)[-10:]]
        msg["In-Reply-To"] = f"<{ids[-1]}>"
        msg["References"] = " ".join(f"<{i}>" for i in ids if i)
    # RFC 3834: we are a machine. Ask others' robots not to answer us.
    msg["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailflow-Template"] = clean(template)
    if list_id:
        msg["List-Id"] = clean(list_id)
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{clean(unsubscribe)}>"
    msg.set_content(flowed(rendered.text), charset="utf-8", params={"format": "flowed"})
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if calendar is not None:
        ics, method = calendar
        msg.add_alternative(ics.decode("utf-8"), subtype="calendar", charset="utf-8", params={"method": method})
        msg.make_mixed()
        msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    for a in attachments:
        if msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    if rendered.language:  # after the parts: making a multipart moves Content-* headers into them
        msg["Content-Language"] = rendered.language
    check_headers(msg)
    return msg
