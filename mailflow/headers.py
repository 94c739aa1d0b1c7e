"""Values that reach a header, made safe whatever the Python version.

Python's email package before 3.11.10 / 3.12.5 (CVE-2024-6923) writes a header
value that holds an RFC 2047 encoded word with CR LF inside as real header lines:
``=?utf-8?q?a=0D=0ABcc:_x@evil?=`` in a name or a subject becomes a ``Bcc:``
header and a forged body. mailflow does not rely on the library for this:

- :func:`clean` decodes every encoded word (repeatedly, for words inside words),
  then replaces every control and line-separator character (CR, LF, NUL, VT, FF,
  NEL, U+2028, U+2029, the other C0 and C1 controls) with a space, collapses
  whitespace and caps the length. What is left cannot break a header line, and
  holds no encoded word the library would decode again.
- :func:`breakers` says which such characters a value holds, for refusing input
  (an enrolment name) instead of cleaning it.
- :func:`envelope_address` turns an address into what SMTP and the ``To:`` header
  can carry: the domain IDNA-encoded (``müller.example`` -> ``xn--mller-kva.example``);
  a local part that is not ASCII needs SMTPUTF8, and says so.
"""

from __future__ import annotations

import re
import unicodedata
from email.header import decode_header, make_header

from .errors import MailflowError

# Every character that can end or split a header line in some parser: the C0
# controls but TAB, DEL, the C1 controls (NEL among them), and the Unicode line and
# paragraph separators. TAB is folded to a space by clean() as well.
_BREAKERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?]*\?=")
MAX_HEADER_CHARS = 400


class AddressError(MailflowError):
    """An address mail cannot be sent to (an invalid domain, a control character)."""


def breakers(value: str) -> list[str]:
    """The line-breaking or control characters in ``value`` (after decoding any
    encoded words), named like ``U+2028``; empty when there are none."""
    found = _BREAKERS.findall(_decode_words(value)) + _BREAKERS.findall(value)
    return sorted({f"U+{ord(c):04X}" for c in found})


def has_encoded_word(value: str) -> bool:
    """Whether ``value`` holds "=?", the start of an RFC 2047 encoded word (the email
    package decodes one even without its closing "?=")."""
    return "=?" in value


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words, up to three levels deep. Never raises."""
    for _ in range(3):
        if not _ENCODED_WORD.search(value):
            break
        try:
            decoded = str(make_header(decode_header(value)))
        except Exception:  # an unknown charset, bad base64: leave the text as it is
            break
        if decoded == value:
            break
        value = decoded
    return value


def clean(value: str, limit: int = MAX_HEADER_CHARS) -> str:
    """``value`` as one safe header line: decoded, no control or line-separator
    characters, whitespace collapsed, at most ``limit`` characters."""
    value = _decode_words(str(value))
    value = _BREAKERS.sub(" ", value.replace("\t", " "))
    # Anything still shaped like the start of an encoded word would be decoded again
    # by the header parser (even without its closing "?="): break every "=?" so it
    # stays literal text.
    value = value.replace("=?", "=\u2060?")
    value = " ".join(value.split())
    return value[:limit].rstrip()


def _is_ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def envelope_address(addr: str) -> tuple[str, bool]:
    """The address as SMTP can carry it, and whether it needs SMTPUTF8.

    The domain is IDNA-encoded when it is not ASCII. A local part that is not ASCII
    cannot be encoded: it needs a relay that offers SMTPUTF8. Raises
    :class:`AddressError` for an address that cannot be sent to at all.
    """
    if _BREAKERS.search(addr) or any(c.isspace() for c in addr):
        raise AddressError(f"the address {addr!r} holds a control character or a space")
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{addr!r} is not an email address")
    try:
        local.encode("utf-8")
    except UnicodeEncodeError:
        raise AddressError(f"the address {addr!r} is not valid text") from None
    if not _is_ascii(domain):
        try:
            domain = unicodedata.normalize("NFC", domain).encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise AddressError(f"the domain of {addr!r} cannot be written in ASCII (IDNA): {exc}") from None
    return f"{local}@{domain}", not _is_ascii(local)


_HEADERS_WE_SET = {"from", "to", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
                   "auto-submitted", "x-auto-response-suppress", "x-mailflow-template", "content-type",
                   "mime-version", "list-id", "list-unsubscribe", "content-language"}


def check_headers(msg) -> None:
    """Read a message we built back from its bytes: it must have exactly the headers
    that were set on it, each once. A value that broke a header line (on a Python
    with CVE-2024-6923, or by any other route) is refused here, never queued."""
    import email
    import email.policy

    from .errors import TemplateError

    raw = msg.as_bytes()
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)
    got = sorted(k.lower() for k in parsed.keys())
    wanted = sorted(k.lower() for k in msg.keys())
    if got != wanted or not set(got) <= _HEADERS_WE_SET:
        raise TemplateError(f"refusing to queue an email whose headers came out as {got!r} instead of "
                            f"{wanted!r}: a name or subject broke a header line")
