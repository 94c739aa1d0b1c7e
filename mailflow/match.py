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

Kind = Literal["own", "machine", "coordinator", "ok", "wrong-sender", "expired", "no-token", "unknown"]


@dataclass(frozen=True)
class Match:
    kind: Kind
    token: dict[str, Any] | None = None  # the tokens row
    participant: dict[str, Any] | None = None  # who the token (or the From address) belongs to
    sender: dict[str, Any] | None = None  # the participant row of the From address, if any
    via: str = ""  # how the token was found: plus-address | in-reply-to


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


def match(mail: Mail, store: Store, config: Config, now: dt.datetime) -> Match:
    if is_own(mail, config):
        return Match("own")
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
    return Match("ok", token=token, participant=owner, sender=sender, via=via)
