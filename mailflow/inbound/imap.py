"""The IMAP poller: fetch new mail into the database, then settle the mailbox copy.

- New mail is found by UID from a ``(UIDVALIDITY, last UID)`` checkpoint, never by
  sequence number or ``UNSEEN``, and fetched with ``BODY.PEEK[]`` so fetching does
  not mark it read. UIDs at or below the checkpoint are filtered out (``UID n:*``
  always returns the last message).
- Each message is stored raw, and the checkpoint advanced, in one transaction.
  Processing happens afterwards, from the database.
- Sizes (``RFC822.SIZE``) are fetched first, and messages in batches of about
  ``FETCH_BATCH_BYTES``, each batch stored before the next is fetched. A message
  over ``[imap] max_message_mb`` is never downloaded: its headers are stored with a
  note, and processing quarantines it and tells the sender.
- When UIDVALIDITY changes the folder is read again from the start; the
  Message-ID deduplication in :meth:`Service.receive` keeps that from acting twice.
- Only after a message's outcome has been committed is the mailbox copy flagged
  ``\\Seen`` or moved to ``processed_folder`` ("settled"). Quarantined messages are
  flagged ``\\Flagged`` and left where they are, for a person to look at. A failure
  to settle never undoes the outcome; it is retried next cycle.
- Connections are TLS-verified; ``starttls`` is required, never skipped.
- Sign-in is by password, or by OAuth2 (``XOAUTH2`` or ``OAUTHBEARER``, for
  Microsoft 365 and Gmail) with a token from ``oauth2_token_command`` or
  ``oauth2_token_file``, fetched again at each connection.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from ..config import ImapConfig
from ..errors import ConnectionFailed

log = logging.getLogger("mailflow.imap")

FETCH_BATCH = 200
SETTLE_CHUNK = 500  # messages flagged or moved per command
FETCH_BATCH_BYTES = 1024 * 1024
IDLE_RENEW_SECONDS = 9 * 60  # RFC 2177 servers may drop IDLE after 29 minutes; renew well before


def headers_only(header: bytes, size: int, limit_mb: int) -> bytes:
    """What is kept of a message over ``[imap] max_message_mb``: its headers and a note."""
    header = header.rstrip(b"\r\n") + b"\r\n"
    note = (f"[mailflow: this message was {size / 1048576:.1f} MB, over [imap] max_message_mb = {limit_mb}; "
            "only its headers were kept. The message itself is still in the mailbox.]\r\n")
    return header + b"\r\n" + note.encode()


class ImapInbox:
    def __init__(self, cfg: ImapConfig, service):
        self.cfg = cfg
        self.service = service
        self.store = service.store
        self.client: IMAPClient | None = None
        self.uidvalidity: int | None = None
        self.key = f"imap://{cfg.username}@{cfg.host}:{cfg.port}/{cfg.folder}"

    # ------------------------------------------------------------------ connection

    def _login(self, client: IMAPClient) -> None:
        """Log in; a server's "[UNAVAILABLE]" (its authentication backend did not answer in
        time, RFC 5530) is tried once more after a second, as a mail client would."""
        cfg = self.cfg
        for attempt in (1, 2):
            try:
                if cfg.auth == "xoauth2":
                    client.oauth2_login(cfg.username, cfg.oauth2_token.value())
                elif cfg.auth == "oauthbearer":
                    client.oauthbearer_login(cfg.username, cfg.oauth2_token.value())
                else:
                    client.login(cfg.username, cfg.password.value())
                return
            except LoginError as exc:
                if attempt == 2 or "UNAVAILABLE" not in str(exc):
                    raise
                time.sleep(1)

    def connect(self) -> IMAPClient:
        if self.client is not None:
            return self.client
        cfg = self.cfg
        where = f"IMAP {cfg.host}:{cfg.port}"
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        try:
            client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.tls == "ssl", ssl_context=context,
                                timeout=cfg.timeout_seconds)
            if cfg.tls == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    client.shutdown()
                    raise ConnectionFailed(f"{where} does not offer STARTTLS, and [imap] tls = \"starttls\" "
                                           "requires it; not logging in without encryption.")
                client.starttls(context)
            self._login(client)
        except LoginError as exc:
            if cfg.auth != "password":
                raise ConnectionFailed(
                    f"{where} refused the {cfg.auth.upper()} sign-in for {cfg.username!r} ({exc}). The access token "
                    "from [imap] oauth2_token_command / oauth2_token_file may have expired, be for another user, "
                    "or lack the IMAP scope.") from None
            raise ConnectionFailed(f"{where} refused the login for {cfg.username!r} ({exc}). "
                                   "Check [imap] username and the password.") from None
        except (IMAPClientError, OSError) as exc:
            raise ConnectionFailed(f"{where}: cannot connect ({exc}). Check [imap] host, port and tls.") from None
        try:
            info = client.select_folder(cfg.folder)
        except IMAPClientError as exc:
            client.logout()
            raise ConnectionFailed(f"{where}: cannot open folder [imap] folder = {cfg.folder!r} ({exc}).") from None
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        if cfg.processed_folder and not client.folder_exists(cfg.processed_folder):
            client.create_folder(cfg.processed_folder)
        self.client = client
        return client

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (IMAPClientError, OSError):
                pass
            self.client = None

    def has_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    # ------------------------------------------------------------------ fetching

    def fetch_new(self) -> int:
        """Store every message above the checkpoint. Returns how many were new."""
        client = self.connect()
        # Re-select to see the current UIDVALIDITY and new messages.
        info = client.select_folder(self.cfg.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        now = self.service.clock.now()
        cp = self.store.checkpoint(self.key)
        last_uid = 0
        if cp is not None:
            if cp[0] == uidvalidity:
                last_uid = cp[1]
            else:
                with self.store.transaction():
                    self.store.log("imap-uidvalidity-changed", now, old=cp[0], new=uidvalidity, mailbox=self.key)
                log.warning("%s: UIDVALIDITY changed %s -> %s; reading the folder again", self.key, cp[0], uidvalidity)
        self.uidvalidity = uidvalidity
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        limit = self.cfg.max_message_mb * 1024 * 1024
        count = 0
        for batch, sizes in self._batches(client, uids):
            too_large = [u for u in batch if sizes[u] > limit]
            wanted = [u for u in batch if sizes[u] <= limit]
            data = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
            if too_large:  # never download the body: keep the headers and a note
                data.update(client.fetch(too_large, ["BODY.PEEK[HEADER]"]))
            # The batch is stored in one transaction, with the checkpoint (issue 12:
            # one commit per batch, not per message; a crash stores none of it, and
            # the next run fetches the batch again).
            with self.store.transaction():
                for uid in batch:
                    item = data.get(uid)
                    if item is None:  # expunged between SEARCH and FETCH
                        continue
                    if uid in too_large:
                        raw = headers_only(item.get(b"BODY[HEADER]") or b"", sizes[uid], self.cfg.max_message_mb)
                        original = sizes[uid]
                    else:
                        raw, original = item.get(b"BODY[]") or b"", None
                    self.service.receive(raw, source="imap", mailbox=self.key, uidvalidity=uidvalidity, uid=uid,
                                         original_size=original)
                    self.store.set_checkpoint(self.key, uidvalidity, uid, now)
                    count += 1
            del data
        self._announced(client)  # what was announced so far has been fetched (see _arrived)
        return count

    def _batches(self, client: IMAPClient, uids: list[int]):
        """The UIDs in FETCH batches of at most FETCH_BATCH messages and about
        FETCH_BATCH_BYTES bytes (one large message goes alone), with each one's size
        (``RFC822.SIZE``, asked first). Each batch is stored before the next is
        fetched, so a link that breaks every few megabytes still makes progress."""
        for start in range(0, len(uids), 1000):
            chunk = uids[start:start + 1000]
            sizes = {u: int(v.get(b"RFC822.SIZE") or 0) for u, v in client.fetch(chunk, ["RFC822.SIZE"]).items()}
            batch: list[int] = []
            total = 0
            for uid in chunk:
                if uid not in sizes:
                    continue  # expunged meanwhile
                size = min(sizes[uid], self.cfg.max_message_mb * 1024 * 1024 + 1)
                if batch and (total + size > FETCH_BATCH_BYTES or len(batch) >= FETCH_BATCH):
                    yield batch, sizes
                    batch, total = [], 0
                batch.append(uid)
                total += size
            if batch:
                yield batch, sizes

    # ------------------------------------------------------------------ settling

    def settle(self) -> int:
        """Flag or move the mailbox copies of messages whose outcome is committed."""
        client = self.connect()
        rows = self.store.all(
            # imap_done = 0 as written: the partial index inbound_unsettled (issue 12).
            """SELECT id, uid, status FROM inbound WHERE imap_done = 0 AND mailbox = ? AND uidvalidity = ?
               AND status IN ('processed', 'ignored', 'quarantined') ORDER BY uid""",
            (self.key, self.uidvalidity),
        )
        # In chunks (issue 12): the server answers each message of a STORE or MOVE with a
        # line of its own, so one command for a backlog of 10,000 held all the answers at once.
        for start in range(0, len(rows), SETTLE_CHUNK):
            chunk = rows[start:start + SETTLE_CHUNK]
            done = [r for r in chunk if r["status"] != "quarantined"]
            held = [r for r in chunk if r["status"] == "quarantined"]
            uids = [r["uid"] for r in done]
            if held:
                client.add_flags([r["uid"] for r in held], [b"\\Flagged"])
            if uids:
                client.add_flags(uids, [b"\\Seen"])
                if self.cfg.processed_folder:
                    self._move(client, uids)
            with self.store.transaction():
                self.store.conn.executemany("UPDATE inbound SET imap_done = 1 WHERE id = ?", [(r["id"],) for r in chunk])
        return len(rows)

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        dest = self.cfg.processed_folder
        if client.has_capability("MOVE"):
            client.move(uids, dest)
            return
        client.copy(uids, dest)
        client.add_flags(uids, [b"\\Deleted"])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        # Without UIDPLUS, a plain EXPUNGE could remove other people's \Deleted mail:
        # leave the copies flagged \Deleted for the mail client to expunge.

    # ------------------------------------------------------------------ waiting

    def _arrived(self, client: IMAPClient) -> bool:
        """Whether mail came in above the checkpoint since the last fetch. The server
        announces it once (EXISTS), and an announcement made while the cycle was
        busy (in the answer to a STORE or MOVE) is not repeated in IDLE: without this
        check such a message waited for the next one, or for ``poll_seconds``
        (found by the IDLE benchmark, issue 12)."""
        # A NOOP makes the server look at the mailbox again (a SEARCH alone may not see
        # a message yet, though its EXISTS comes with the SEARCH's answer).
        _text, responses = client.noop()
        if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
            return True
        cp = self.store.checkpoint(self.key)
        last = cp[1] if cp is not None and cp[0] == self.uidvalidity else 0
        if any(u > last for u in client.search(["UID", f"{last + 1}:*"])):
            return True
        return self._announced(client)

    @staticmethod
    def _announced(client: IMAPClient) -> bool:
        """Whether an EXISTS came (and was set aside by imaplib) in the answer to a
        command since the last fetch. Cleared by :meth:`fetch_new`."""
        stash = getattr(getattr(client, "_imap", None), "untagged_responses", None)
        return bool(stash.pop("EXISTS", None)) if isinstance(stash, dict) else False

    def wait(self, seconds: float, wake: threading.Event) -> bool:
        """Wait for new mail (IDLE where the server has it) or until ``seconds`` pass.

        Returns True when the server said something arrived. Returns within about a
        second of ``wake`` being set (a stop, or mail stored by the listener).
        """
        deadline = time.monotonic() + seconds
        if not (self.cfg.idle and self.has_idle()):
            wake.wait(seconds)
            return False
        client = self.connect()
        if self._arrived(client):
            return True
        client.idle()
        try:
            renew_at = time.monotonic() + IDLE_RENEW_SECONDS
            while not wake.is_set() and time.monotonic() < min(deadline, renew_at):
                responses = client.idle_check(timeout=1)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
            return False
        finally:
            client.idle_done()
