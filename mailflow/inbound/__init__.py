"""Where mail comes in: the IMAP poller (:mod:`.imap`) and the SMTP/LMTP listener
(:mod:`.listener`). Both hand the raw bytes to :func:`receive`, which stores them
before anything acts on them."""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import hashlib

from ..clock import iso
from ..config import Config
from ..store import Store


def receive(store: Store, config: Config, now: dt.datetime, raw: bytes, *, source: str,
            mailbox: str | None = None, uidvalidity: int | None = None, uid: int | None = None,
            original_size: int | None = None) -> int:
    """Store one inbound message, raw, before anything acts on it. Returns its id.

    Call it inside a transaction to make the store atomic with the caller's own
    bookkeeping (the IMAP checkpoint). A message already stored under the same
    (mailbox, UIDVALIDITY, UID) returns the existing id. A second copy of a message
    (same Message-ID and reply token, or the same bytes when there is no Message-ID)
    is stored too, as ``ignored: duplicate``, so that its mailbox copy is settled.
    ``original_size`` is set when ``raw`` holds only the headers of a message too
    large to keep (see :mod:`.imap`).
    """
    sha = hashlib.sha256(raw).hexdigest()
    message_id, to_token = dedup_parts(raw, config)
    dedup_key = f"mid:{message_id}|{to_token}" if message_id else f"sha:{sha}"
    with store.transaction():
        if uid is not None:
            existing = store.one("SELECT id FROM inbound WHERE mailbox = ? AND uidvalidity = ? AND uid = ?",
                                 (mailbox, uidvalidity, uid))
            if existing:
                return existing["id"]
        first = store.one("SELECT id FROM inbound WHERE dedup_key = ? ORDER BY id LIMIT 1", (dedup_key,))
        row = {
            "source": source, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
            "message_id": message_id, "dedup_key": dedup_key, "sha256": sha, "size": len(raw), "raw": raw,
            "received_at": iso(now), "original_size": original_size,
        }
        if first:
            row.update(status="ignored", reason=f"duplicate of inbound #{first['id']}", processed_at=iso(now))
        inbound_id = store.insert("inbound", row)
        store.log("inbound-duplicate" if first else "inbound-received", now, inbound_id=inbound_id,
                  source=source, size=len(raw), **({"duplicate_of": first["id"]} if first else {}))
    return inbound_id


def dedup_parts(raw: bytes, config: Config) -> tuple[str, str]:
    """The Message-ID and reply token(s) of a raw message, read from its headers only."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    # Headers only: a multipart's boundary is not compiled for a body that is not read.
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n\n")
    mid = str(msg.get("Message-ID", "") or "").strip().strip("<>").strip()
    addrs = []
    for h in ("To", "Cc", "Delivered-To", "X-Original-To"):
        for v in msg.get_all(h) or ():
            addrs += [a.lower() for _, a in email.utils.getaddresses([str(v)])]
    prefix = config.scheme.local_part + "+"
    tokens = sorted({a.split("@")[0][len(prefix):] for a in addrs if a.startswith(prefix)})
    return mid[:500], ",".join(tokens)
