"""Who sent this, and which of our emails does it answer?

Every email mailflow sends carries a reply token: in its Reply-To address
(``scheme+TOKEN@domain``) and, through the ``tokens`` table, its Message-ID. A reply
is matched to the token by:

1. the plus-address it was sent to (To, Cc, Delivered-To, X-Original-To); else
2. its In-Reply-To and References headers, against the Message-IDs of our outbox
   (for clients and forwarders that lose the plus-part).

A reply counts only if the token belongs to the participant who sent it (the From
address, compared case-insensitively) and has not expired. Everything else is
classified here, kept, and answered (or not) by :mod:`mailflow.service`:

=================  ==========================================================
``own``            our own email came back (a loop): dropped, never answered
``machine``        an auto-reply or a bounce: recorded, never answered
``coordinator``    from a coordinator, not a reply to a participant email
``ok``             token found, sender is its participant: the workflow runs
``wrong-sender``   token found but sent from another address: no state change
``expired``        token too old: no state change, a note asks for the latest email
``no-token``       from a known participant, but no token: a note explains
``unknown``        from an address we do not know: one note a day, at most
``unverified``     the From header is ambiguous (several mailboxes, parsers
                   disagree, another address in the display name), or the
                   mailbox's server (``[imap] trusted_authserv_id``) found the
                   reply failing DMARC or aligned DKIM: kept, changes nothing,
                   answered by no one
=================  ==========================================================
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from .clock import iso
from .config import Config
from .parse.result import Mail
from .store import Store

Kind = Literal["own", "machine", "coordinator", "ok", "wrong-sender", "expired", "no-token", "unknown",
               "unverified"]


@dataclass(frozen=True)
class Match:
    kind: Kind
    token: dict[str, Any] | None = None  # the tokens row
    participant: dict[str, Any] | None = None  # who the token (or the From address) belongs to
    sender: dict[str, Any] | None = None  # the participant row of the From address, if any
    via: str = ""  # how the token was found: plus-address | in-reply-to
    detail: str = ""  # for "unverified": why the sender cannot be trusted


def plus_tokens(mail: Mail, config: Config) -> list[str]:
    """Tokens in the plus-addresses the message was sent to."""
    local = re.escape(config.scheme.local_part)
    domain = re.escape(config.scheme.domain)
    pat = re.compile(rf"^{local}\+([a-z0-9]{{8,64}})@{domain}$", re.IGNORECASE)
    out = []
    for addr in mail.to_addrs:
        m = pat.match(addr)
        if m and m.group(1).lower() not in out:
            out.append(m.group(1).lower())
    return out


def is_own(mail: Mail, config: Config) -> bool:
    """Sent by us: from the scheme's own address or one of its plus-addresses."""
    local, _, domain = mail.from_addr.partition("@")
    return domain == config.scheme.domain and local.split("+", 1)[0] == config.scheme.local_part


def find_token(mail: Mail, store: Store, config: Config) -> tuple[dict | None, str]:
    for tok in plus_tokens(mail, config):
        row = store.one("SELECT * FROM tokens WHERE token = ?", (tok,))
        if row:
            return row, "plus-address"
    for mid in (*mail.in_reply_to, *reversed(mail.references)):
        row = store.one(
            "SELECT t.* FROM tokens t JOIN outbox o ON o.id = t.outbox_id WHERE o.message_id = ?", (mid,)
        )
        if row:
            return row, "in-reply-to"
    return None, ""


def auth_failure(mail: Mail, trusted: str) -> str:
    """Why the trusted server's Authentication-Results say the From is forged, or "".

    Only the topmost header written by ``trusted`` counts (the receiving server adds
    its own on top; lower ones, even with the same name, may be the sender's). A
    DMARC fail counts; without a DMARC result, a DKIM fail for the From domain (or
    a parent or child of it) counts unless another such signature passed.
    """
    trusted = trusted.strip().lower()
    if not trusted:
        return ""
    header = next((h for h in mail.sender.auth if h.authserv_id == trusted), None)
    if header is None:
        return ""
    dmarc = [r.result for r in header.results if r.method == "dmarc"]
    if "fail" in dmarc:
        return f"{trusted} reports dmarc=fail"
    if dmarc:
        return ""
    domain = mail.from_addr.rpartition("@")[2]

    def aligned(d: str) -> bool:
        return bool(d) and (d == domain or domain.endswith("." + d) or d.endswith("." + domain))

    dkim = [r for r in header.results if r.method == "dkim" and aligned(r.prop("header.d"))]
    if any(r.result == "fail" for r in dkim) and not any(r.result == "pass" for r in dkim):
        return f"{trusted} reports dkim=fail for {domain}"
    return ""


def match(mail: Mail, store: Store, config: Config, now: dt.datetime) -> Match:
    if is_own(mail, config):
        return Match("own")
    if mail.sender.problem:
        return Match("unverified", detail=mail.sender.problem)
    sender = store.participant_by_email(mail.from_addr) if mail.from_addr else None
    if mail.machine is not None:
        return Match("machine", sender=sender, participant=sender)
    token, via = find_token(mail, store, config)
    if token is None:
        if mail.from_addr in config.scheme.coordinators or (sender and sender["role"] == "coordinator"):
            return Match("coordinator", sender=sender)
        return Match("no-token" if sender else "unknown", sender=sender, participant=sender)
    owner = store.participant(token["participant_id"])
    if owner is None or owner["email"] != mail.from_addr:
        return Match("wrong-sender", token=token, participant=owner, sender=sender, via=via)
    if token["expires_at"] < iso(now):
        return Match("expired", token=token, participant=owner, sender=sender, via=via)
    forged = auth_failure(mail, config.imap.trusted_authserv_id)
    if forged:
        return Match("unverified", token=token, participant=owner, via=via, detail=forged)
    return Match("ok", token=token, participant=owner, sender=sender, via=via)
