"""An SMTP or LMTP listener (aiosmtpd) that stores replies, as an alternative to IMAP.

Put it behind your mail server (for Postfix: a transport to
``lmtp:inet:127.0.0.1:8024``), or use it on its own for local trials and the demo.
Each message is stored in the database *before* the listener answers 250, so an
accepted message is never lost; if it cannot be stored the answer is 451 and the
sending server keeps it and tries again.

Only the scheme's own address and its plus-addresses are accepted as recipients
(550 5.1.1 for anything else), so it is not an open relay.
"""

from __future__ import annotations

import logging
import socket

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from ..clock import Clock
from ..config import Config
from ..store import Store
from . import receive

log = logging.getLogger("mailflow.listener")


class StoringHandler:
    """aiosmtpd handler: accept our addresses, store each message, then answer."""

    def __init__(self, config: Config, clock: Clock, protocol: str):
        self.config = config
        self.clock = clock
        self.protocol = protocol
        self._store: Store | None = None  # opened in the listener's own thread
        self.stored: list[int] = []
        self.on_stored = None  # called with the inbound id after each message is stored

    def _ours(self, address: str) -> bool:
        local, _, domain = address.lower().partition("@")
        return domain == self.config.scheme.domain and local.split("+", 1)[0] == self.config.scheme.local_part

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self._ours(address):
            return f"550 5.1.1 <{address}>: not a mailflow address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            if self._store is None:
                self._store = Store(self.config.database_path)
            inbound_id = receive(self._store, self.config, self.clock.now(), raw, source=self.protocol)
        except Exception as exc:  # never accept what was not stored
            log.exception("could not store an inbound message")
            return f"451 4.3.0 could not store the message ({type(exc).__name__}); try again later"
        self.stored.append(inbound_id)
        if self.on_stored is not None:
            self.on_stored(inbound_id)
        ok = "250 2.0.0 stored as inbound #%d" % inbound_id
        if self.protocol == "lmtp":  # LMTP answers once per accepted recipient
            return "\r\n".join([ok] * max(len(envelope.rcpt_tos), 1))
        return ok


class _TolerantSMTP(SMTP):
    # RFC 5321 caps lines at 1000 octets, but real mail breaks it (long HTML lines from
    # some clients). Refusing with 500 would bounce a participant's reply: accept it.
    line_length_limit = 1 << 20


class _TolerantLMTP(LMTP):
    line_length_limit = 1 << 20


class _Controller(Controller):
    def __init__(self, handler: StoringHandler, protocol: str, **kw):
        self.protocol = protocol
        super().__init__(handler, **kw)

    def factory(self):
        cls = _TolerantLMTP if self.protocol == "lmtp" else _TolerantSMTP
        return cls(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        # The stock readiness probe speaks SMTP; a plain connect and greeting is enough.
        with socket.create_connection((self.hostname, self.port), 1.0) as s:
            s.recv(1024)


class Listener:
    """Runs the listener in a background thread. ``start()`` returns once it answers."""

    def __init__(self, config: Config, clock: Clock, *, host: str | None = None, port: int | None = None,
                 protocol: str | None = None):
        self.protocol = protocol or config.listener.protocol
        self.handler = StoringHandler(config, clock, self.protocol)
        self.host = host or config.listener.host
        self.port = port or config.listener.port
        self.controller = _Controller(self.handler, self.protocol, hostname=self.host, port=self.port,
                                      server_hostname=config.scheme.domain,
                                      data_size_limit=config.imap.max_message_mb * 1024 * 1024)

    def start(self) -> None:
        self.controller.start()
        log.info("%s listener on %s:%d", self.protocol.upper(), self.host, self.port)

    def stop(self) -> None:
        self.controller.stop()
        if self.handler._store is not None:
            try:
                self.handler._store.close()
            except Exception:  # opened in the listener's thread; the process is ending anyway
                pass
