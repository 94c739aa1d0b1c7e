"""Outgoing emails as bytes, fast: the same message :func:`mailflow.render.build_message`
makes, without building it through the email package's object model (issue 12).

Building a message with :class:`email.message.EmailMessage` and reading it back
cost about 5 ms an email, a third of the time a backlog of replies took. Here:

- **Header lines** are still folded by the email package, through the very policy
  :func:`~mailflow.render.build_message` uses (``header_store_parse`` then
  ``fold_binary``, exactly what ``msg[name] = value`` and ``as_bytes()`` do), so
  every encoding and folding rule is the library's. Each line is remembered
  (:func:`functools.lru_cache`): the scheme's own headers (``From``, ``List-Id``,
  ``X-Mailflow-Template``...) are folded once per process. The reply token in
  ``Reply-To``, ``Message-ID`` and ``List-Unsubscribe`` is swapped for a
  placeholder of the same length before the lookup and put back after, so those
  lines are folded once too (a token is ASCII letters and digits: the line folds
  the same whatever they are).
- **Bodies** are encoded with the C functions of :mod:`binascii` and the same
  choice the email package makes: ``7bit`` or ``8bit`` when every line fits in 78
  characters, else quoted-printable, or base64 when that is shorter.
- **The check stays**: the header block is read back (headers only, ``compat32``)
  and must hold exactly the headers set, each once, as
  :func:`mailflow.headers.check_headers` requires. No name or subject can add a
  header or a body here either.

A calendar invite goes in as :func:`~mailflow.render.build_message` puts it: a
third alternative and an ``invite.ics`` attachment, in a multipart/mixed. Messages
to an address that needs SMTPUTF8 are rare: they are built by
:func:`~mailflow.render.build_message` as before.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import random
import re
import sys
from email.headerregistry import Address
from email.utils import format_datetime

from .errors import TemplateError
from .headers import _HEADERS_WE_SET, AddressError, clean, envelope_address
from .render import _POLICY, Rendered, build_message, flowed

_MAX_LINE = 78  # the policy's max_line_length: longer body lines need an encoding
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


def _fold(name: str, value: str) -> bytes:
    """One header line, as ``msg[name] = value`` and ``msg.as_bytes()`` write it."""
    return _POLICY.fold_binary(name, _POLICY.header_store_parse(name, value)[1])


@functools.lru_cache(maxsize=4096)
def _line(name: str, value: str) -> bytes:
    return _fold(name, value)


@functools.lru_cache(maxsize=4096)
def _address_line(name: str, display: str, username: str, domain: str) -> bytes:
    address = Address(display_name=display, username=username, domain=domain)
    return _POLICY.fold_binary(name, _POLICY.header_store_parse(name, address)[1])


_PLAIN_IDS = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+>"
                        r"(?: <[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+>)*")


def _ids(name: str, value: str) -> bytes:
    """In-Reply-To and References: plain message ids on a short line are written as
    they are (as the email package writes them); anything else is folded by it."""
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE and _PLAIN_IDS.fullmatch(value):
        return line.encode("ascii") + b"\r\n"
    return _fold(name, value)


@functools.lru_cache(maxsize=4096)
def _text_line(name: str, value: str) -> bytes:
    """Subject: the policy folds it from the text alone (``_MailPolicy._ours``), so
    the header object that ``msg[name] = value`` would build first is not needed."""
    return _POLICY.fold_binary(name, value)


def _placeholder(n: int) -> str:
    return "Q" * n


def _with_token(fold, name: str, value: str, token: str, *rest: str) -> bytes:
    """``fold(name, value, *rest)`` remembered with ``token`` replaced by a placeholder
    of the same length (see the module's docstring); folded directly when the swap
    would not be exact."""
    mark = _placeholder(len(token))
    if token and token.isascii() and token.isalnum() and value.count(token) == 1 and mark not in value \
            and not any(mark in r for r in rest):
        line = fold(name, value.replace(token, mark), *rest)
        if line.count(mark.encode()) == 1:
            return line.replace(mark.encode(), token.encode())
    return fold.__wrapped__(name, value, *rest)


# A display name and an address the email package writes as they are: words of
# atext (no character it would quote or encode), and a plain ASCII address.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_PLAIN_ADDR = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                         r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _address(name: str, display: str, addr: str, token: str = "") -> bytes:
    if _PLAIN_ADDR.fullmatch(addr) and (not display or _PLAIN_NAME.fullmatch(display)):
        # What the email package writes for such a pair, without parsing it (a new
        # recipient is a new line: the cache below would not help).
        line = f"{name}: {display} <{addr}>" if display else f"{name}: {addr}"
        if len(line) <= _MAX_LINE:
            return line.encode("ascii") + b"\r\n"
    local, _, domain = addr.rpartition("@")
    if token and token in local:
        mark = _placeholder(len(token))
        if local.count(token) == 1 and mark not in local and mark not in display and token.isascii() \
                and token.isalnum():
            line = _address_line(name, display, local.replace(token, mark), domain)
            if line.count(mark.encode()) == 1:
                return line.replace(mark.encode(), token.encode())
    return _address_line(name, display, local, domain)


_FIELD_NAME = re.compile(rb"([!-9;-~]+):")


def _header_names(block: bytes) -> list[str]:
    """The field names in a header block, read line by line as a parser reads them,
    and stricter: a blank line (the end of the headers), a bare CR or LF, or a line
    that is neither a field nor a continuation makes the block wrong (a list that
    matches nothing). Cheaper than the email parser, and meant for our own output."""
    lines = block.split(b"\r\n")
    if lines[-1] != b"":
        return ["<no line end>"]
    names: list[str] = []
    for line in lines[:-1]:
        if not line or b"\r" in line or b"\n" in line:
            return ["<a broken line>"]
        if line[:1] in (b" ", b"\t"):
            if not names:
                return ["<a continuation first>"]
            continue
        m = _FIELD_NAME.match(line)
        if m is None:
            return ["<not a field>"]
        names.append(m.group(1).decode("ascii").lower())
    return names


def _boundary(body: bytes) -> str:
    """A boundary as the email package makes one, that appears nowhere in the parts."""
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_WIDTH}d}" + "=="
        if b"--" + boundary.encode() not in body:
            return boundary


def _encode_text(text: str) -> tuple[str, bytes]:
    """The transfer encoding and the encoded body (CRLF line ends), chosen as the
    email package chooses for ``set_content(text, charset="utf-8")`` (policy SMTP)."""
    lines = text.encode("utf-8").splitlines()
    if max((len(x) for x in lines), default=0) <= _MAX_LINE:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    data = b"\n".join(lines) + b"\n"
    sniff = b"\n".join(lines[:10]) + b"\n"
    if len(binascii.b2a_qp(sniff, istext=True)) > len(binascii.b2a_base64(sniff)):
        # As the email package does: base64 of the text with CRLF line ends.
        return "base64", base64.encodebytes(b"\r\n".join(lines) + b"\r\n").replace(b"\n", b"\r\n")
    return "quoted-printable", binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def build_bytes(
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
    token: str = "",
    message_token: str = "",
    attachments: tuple = (),
) -> bytes:
    """The bytes of the email :func:`mailflow.render.build_message` builds from the
    same arguments (the same headers, each folded the same way, and the same parts,
    whose transfer encoding may be written differently but decodes to the same
    text). ``token`` is the reply token in ``reply_to`` and ``unsubscribe``, and
    ``message_token`` the one in ``message_id``: they let those lines be folded once.
    Raises :class:`~mailflow.headers.AddressError` as ``build_message`` does."""
    to_env, utf8 = envelope_address(to_addr)
    odd_method = calendar is not None and not (calendar[1].isascii() and calendar[1].isalpha())
    if utf8 or odd_method or attachments:  # rare: built by the email package, as before
        return build_message(rendered, from_name=from_name, from_addr=from_addr, to_name=to_name, to_addr=to_addr,
                             reply_to=reply_to, message_id=message_id, date=date, in_reply_to=in_reply_to,
                             references=references, template=template, list_id=list_id, unsubscribe=unsubscribe,
                             calendar=calendar, **({"attachments": attachments} if attachments else {})).as_bytes()
    scheme_name = clean(from_name)
    try:
        head = [_address("From", scheme_name, envelope_address(from_addr)[0]),
                _address("To", clean(to_name), to_env),
                _address("Reply-To", scheme_name, envelope_address(reply_to)[0], token)]
    except (ValueError, IndexError, TypeError) as exc:  # the email package's defects are ValueErrors
        raise AddressError(f"cannot address an email to {clean(to_name)!r} <{to_addr}>: {exc}") from None
    head += [
        _text_line("Subject", clean(rendered.subject, 998)),
        _line("Date", format_datetime(date)),
        _with_token(_line, "Message-ID", f"<{clean(message_id)}>", message_token),
    ]
    names = ["from", "to", "reply-to", "subject", "date", "message-id"]
    if in_reply_to:
        ids = [clean(i, 250).replace(" ", "") for i in (*references, in_reply_to)[-10:]]
        head += [_ids("In-Reply-To", f"<{ids[-1]}>"), _ids("References", " ".join(f"<{i}>" for i in ids if i))]
        names += ["in-reply-to", "references"]
    head += [_line("Auto-Submitted", "auto-replied" if in_reply_to else "auto-generated"),
             _line("X-Auto-Response-Suppress", "All"), _line("X-Mailflow-Template", clean(template))]
    names += ["auto-submitted", "x-auto-response-suppress", "x-mailflow-template"]
    if list_id:
        head.append(_line("List-Id", clean(list_id)))
        names.append("list-id")
    if unsubscribe:
        head.append(_with_token(_line, "List-Unsubscribe", f"<{clean(unsubscribe)}>", token))
        names.append("list-unsubscribe")
    text_cte, text = _encode_text(flowed(rendered.text))
    html_cte, html = _encode_text(rendered.html)
    parts = (b'Content-Type: text/plain; charset="utf-8"; format="flowed"\r\n'
             b"Content-Transfer-Encoding: " + text_cte.encode() + b"\r\n\r\n" + text,
             b'Content-Type: text/html; charset="utf-8"\r\n'
             b"Content-Transfer-Encoding: " + html_cte.encode() + b"\r\n\r\n" + html)
    if calendar is not None:  # a third alternative, and the same invite attached
        ics, method = calendar
        cal_cte, cal = _encode_text(ics.decode("utf-8"))
        parts += (b'Content-Type: text/calendar; charset="utf-8"; method="' + method.encode() + b'"\r\n'
                  b"Content-Transfer-Encoding: " + cal_cte.encode() + b"\r\n\r\n" + cal,)
    boundary = _boundary(b"".join(parts)).encode()
    sep = b"--" + boundary
    alternative = b"".join(sep + b"\r\n" + part + b"\r\n" for part in parts) + sep + b"--\r\n"
    head.append(b"MIME-Version: 1.0\r\n")
    names += ["mime-version", "content-type"]
    if calendar is None:
        head.append(b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n')
        body = alternative
    else:
        attachment = (b'Content-Type: application/ics\r\nContent-Transfer-Encoding: base64\r\n'
                      b'Content-Disposition: attachment; filename="invite.ics"\r\n\r\n'
                      + base64.encodebytes(calendar[0]).replace(b"\n", b"\r\n"))
        outer = _boundary(alternative + attachment).encode()
        head.append(b'Content-Type: multipart/mixed; boundary="' + outer + b'"\r\n')
        body = (b"--" + outer + b'\r\nContent-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n\r\n'
                + alternative + b"\r\n--" + outer + b"\r\n" + attachment + b"\r\n--" + outer + b"--\r\n")
    language = getattr(rendered, "language", "")  # set where emails are translated (Content-Language)
    if language:
        head.append(_line("Content-Language", clean(language)))
        names.append("content-language")
    header_block = b"".join(head)
    # Read the header block back: exactly the headers set, each once (see headers.check_headers).
    got = sorted(_header_names(header_block))
    if got != sorted(names) or not set(got) <= _HEADERS_WE_SET:
        raise TemplateError(f"refusing to queue an email whose headers came out as {got!r} instead of "
                            f"{sorted(names)!r}: a name or subject broke a header line")
    return header_block + b"\r\n" + body
