"""Render email templates into whole messages.

A template is a Jinja2 text file named by what it is for, e.g.
``templates/introduction/to-mentor.txt``. It starts with header lines (``Subject:``
is required), then a blank line, then the plain-text body. The HTML part is made
from the same text through ``templates/_layout.html`` (autoescaped), so the two
parts always say the same thing; a template may supply its own ``NAME.html``.
Every email ends with ``templates/_footer.txt``, which says what the scheme sees.

Rendering is strict (:class:`jinja2.StrictUndefined`): a missing variable is an
error naming the template and the variable, raised before anything is queued.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from .errors import TemplateError
from .resources import shipped

_ALLOWED_HEADERS = {"subject"}
_FORM_LINE = re.compile(r"^\s*(\d+[.)]|[A-Z][A-Za-z /'-]{0,40}:)(\s|$)")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    """Loads templates from an optional custom folder, then the shipped ones."""

    def __init__(self, custom: Path | None = None):
        folders = [str(custom)] if custom else []
        folders.append(str(shipped("templates")))
        self.folders = folders
        loader = jinja2.FileSystemLoader(folders)
        # Sandboxed: coordinators may edit templates; they must not reach Python.
        self.text_env = SandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        )
        self.html_env = SandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, autoescape=True,
            trim_blocks=True, lstrip_blocks=True,
        )
        self.html_env.filters["paragraphs"] = _paragraphs

    def exists(self, name: str) -> bool:
        return any((Path(f) / f"{name}.txt").is_file() for f in self.folders)

    def names(self) -> list[str]:
        found = set()
        for folder in self.folders:
            for p in Path(folder).rglob("*.txt"):
                rel = p.relative_to(folder).with_suffix("").as_posix()
                if not rel.startswith("_"):
                    found.add(rel)
        return sorted(found)

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        source = f"{name}.txt"
        try:
            text = self.text_env.get_template(source).render(context)
            footer = self.text_env.get_template("_footer.txt").render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template {exc.name!r} not found in {', '.join(self.folders)}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template {source}: {exc.message} (a variable the template uses is not set)") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {exc.filename or source}:{exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {source}: {exc}") from None
        headers, body = _split(source, text)
        if "subject" not in headers:
            raise TemplateError(f"template {source}: needs a 'Subject:' line at the top, then a blank line")
        body = reflow(body.strip("\n") + "\n\n" + footer.strip("\n")) + "\n"
        html_name = f"{name}.html" if self._has(f"{name}.html") else "_layout.html"
        try:
            html = self.html_env.get_template(html_name).render({**context, "body": body, "subject": headers["subject"]})
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {html_name} (for {source}): {exc}") from None
        return Rendered(headers["subject"], body, html)

    def _has(self, name: str) -> bool:
        return any((Path(f) / name).is_file() for f in self.folders)


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
                f"template {source}: header line {line!r} is not allowed (only Subject:); "
                "leave a blank line between the headers and the body"
            )
        value = " ".join(value.split())
        headers[key] = value
    return headers, body


WIDTH = 72


def _is_prose(lines: list[str]) -> bool:
    """A paragraph of running text (not a list, a form, an indented block or a sign-off).

    Template authors wrap prose by hand; once variables are filled in, the lines are
    uneven. Prose is re-wrapped; anything else keeps its line breaks.
    """
    if any(l[:1].isspace() or _FORM_LINE.match(l) or l.startswith(("-", "*", "•")) for l in lines):
        return False
    return all(len(l) >= 40 for l in lines[:-1]) and (len(lines) > 1 or len(lines[0]) > WIDTH)


def _blocks(text: str) -> list[list[str]]:
    return [b.splitlines() for b in re.split(r"\n[ \t]*\n", text.strip("\n")) if b.strip()]


def reflow(text: str) -> str:
    """Re-wrap prose paragraphs to 72 columns; leave every other block as written."""
    out = []
    for lines in _blocks(text):
        if _is_prose(lines):
            out.append(textwrap.fill(" ".join(l.strip() for l in lines), WIDTH, break_on_hyphens=False,
                                     break_long_words=False))
        else:  # keep the line breaks, but wrap any single line that is too long
            out.append("\n".join(
                textwrap.fill(l, WIDTH, break_on_hyphens=False, break_long_words=False)
                if len(l) > WIDTH and not l[:1].isspace() else l for l in lines))
    return "\n\n".join(out)


def _paragraphs(text: str) -> Any:
    """Plain text to HTML paragraphs; blocks of form lines become a preformatted box."""
    out = []
    for lines in _blocks(text):
        escaped = [escape(line) for line in lines]
        if sum(bool(_FORM_LINE.match(l)) for l in lines) >= max(2, len(lines) // 2) or all(
                l[:1].isspace() for l in lines):
            out.append('<pre style="font-family:Consolas,Menlo,monospace;white-space:pre-wrap;background:#f4f4f4;'
                       'padding:8px;border-left:3px solid #ccc">' + "\n".join(escape(l.strip()) for l in lines)
                       + "</pre>")
        elif lines[0] == "-- ":
            out.append('<p style="color:#666;font-size:small">' + " ".join(escaped[1:]) + "</p>")
        elif _is_prose(lines) or len(lines) == 1:
            out.append("<p>" + " ".join(escaped) + "</p>")
        else:
            out.append("<p>" + "<br>\n".join(escaped) + "</p>")
    return Markup("\n".join(out))


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
) -> EmailMessage:
    """A multipart/alternative message, with the headers every mailflow email carries.

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
    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
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
    msg.set_content(rendered.text, charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    check_headers(msg)
    return msg
