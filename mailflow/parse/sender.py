"""Who sent it: the ``From`` header read strictly, and the mailbox server's verdict.

A reply acts for a participant only if its ``From`` names that participant and
nobody else, unambiguously. Address parsers disagree about odd shapes (CPython's
``email.utils`` among them: CVE-2023-27043 and its relatives), and a forger picks
the shape that one parser reads as the participant and another as himself. So the
``From`` header is read by three parsers (``email.utils.parseaddr``,
``email.utils.getaddresses`` and the ``email.headerregistry`` of the modern
policy), and it does not count as anyone's when:

- there is more than one ``From`` header, or it names more than one mailbox;
- the parsers do not agree on one plain address;
- the address is not plain (a quoted local part, spaces, brackets);
- the display name holds an address that differs from the real one
  (``"ada@hospital.example" <mallory@evil.example>``).

``Authentication-Results`` headers (RFC 8601) are collected too, in order, top
first; :mod:`mailflow.match` trusts only the topmost one written by the server named
in ``[imap] trusted_authserv_id``.

Pure: no I/O. :func:`check` never raises.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message

_ADDRESS_IN_TEXT = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+\.[^\s@<>\"'(),;:]+")
_PLAIN = re.compile(r"^[^\s@<>\"(),;:\\\[\]]+@[^\s@<>\"(),;:\\\[\]]+$")


@dataclass(frozen=True)
class AuthResult:
    """One method's result in an ``Authentication-Results`` header."""

    method: str  # dmarc | dkim | spf | ...
    result: str  # pass | fail | none | ...
    properties: tuple[tuple[str, str], ...] = ()  # e.g. (("header.d", "example.org"),)

    def prop(self, name: str) -> str:
        return next((v for k, v in self.properties if k == name), "")


@dataclass(frozen=True)
class AuthHeader:
    authserv_id: str  # lower-cased
    results: tuple[AuthResult, ...] = ()


@dataclass(frozen=True)
class SenderCheck:
    """What :func:`check` found about the sender."""

    problem: str = ""  # why From does not name one sender unambiguously; "" when it does
    auth: tuple[AuthHeader, ...] = field(default=())  # Authentication-Results, top first


def check(msg: Message) -> SenderCheck:
    """Read ``From`` strictly and collect ``Authentication-Results``. Never raises."""
    try:
        problem = _from_problem(msg)
    except Exception as exc:  # a parser bug: the From cannot be trusted
        problem = f"the From header could not be read ({type(exc).__name__})"
    try:
        auth = tuple(h for h in (_auth_header(str(v)) for v in msg.get_all("Authentication-Results") or ()) if h)
    except Exception:
        auth = ()
    return SenderCheck(problem=problem, auth=auth)


def _from_problem(msg: Message) -> str:
    values = msg.get_all("From") or []
    if len(values) > 1:
        return f"{len(values)} From headers"
    if not values:
        return ""
    value = _unfold(values[0])
    if not value.strip():
        return ""
    from .mime import decode_words

    parsed_one = email.utils.parseaddr(value)
    parsed_all = [(n, a) for n, a in email.utils.getaddresses([value]) if a.strip()]
    try:
        modern = [(a.display_name, a.addr_spec) for a in email.policy.default.header_factory("From", value).addresses]
    except Exception:
        modern = []
    modern = [(n, a) for n, a in modern if a.strip() and a != "<>"]
    if len(parsed_all) > 1 or len(modern) > 1:
        return f"the From header names {max(len(parsed_all), len(modern))} mailboxes"
    found = {parsed_one[1].strip().lower(), *(a.strip().lower() for _, a in parsed_all),
             *(a.strip().lower() for _, a in modern)}
    found.discard("")
    if len(found) > 1:
        return "address parsers read the From header as different addresses"
    if not found:
        return ""
    [addr] = found
    if not _PLAIN.match(addr):
        return "the From address is not a plain address"
    names = [parsed_one[0], *(n for n, _ in parsed_all), *(n for n, _ in modern)]
    for name in names:
        for other in _ADDRESS_IN_TEXT.findall(decode_words(name or "")):
            if other.lower().strip(".") != addr:
                return "the From display name holds a different address"
    return ""


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]", " ", str(value))


def _auth_header(value: str) -> AuthHeader | None:
    import authres

    try:
        header = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + _unfold(value).strip())
    except Exception:  # unparseable: it says nothing we could trust
        return None
    results = tuple(
        AuthResult(str(r.method).lower(), str(r.result).lower(),
                   tuple((f"{p.type}.{p.name}".lower(), str(p.value).lower()) for p in r.properties))
        for r in header.results
    )
    return AuthHeader(str(header.authserv_id or "").lower(), results)
