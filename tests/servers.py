"""Real mail servers for the tests: a Dovecot IMAP server and an aiosmtpd SMTP sink.

Nothing here mocks a protocol. :class:`Dovecot` runs the system's ``dovecot`` binary
in the foreground with a throwaway config, and :class:`SmtpSink` runs an aiosmtpd
``Controller`` in a thread. Both listen on free loopback ports, so they never clash
with a system instance or with each other.

The Dovecot setup follows ``../shared/design/dovecot-for-tests.md``; each non-obvious
setting below says which pitfall it avoids. A missing or broken server is an error,
never a skip: mailflow's integration tests are worthless without one.
"""

from __future__ import annotations

import ctypes
import email
import email.policy
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient

HOST = "127.0.0.1"
DOVECOT_MISSING = (
    "Dovecot is not installed: run `apt-get install -y dovecot-imapd` "
    "(the tests never skip it)"
)


class ServerError(RuntimeError):
    """A test server could not be started; the message includes its log."""


# region helpers


def free_ports(n: int = 1) -> list[int]:
    """Return ``n`` distinct free loopback ports.

    aiosmtpd's ``Controller(port=0)`` fails its own readiness probe, and Dovecot
    needs the port in its config, so both get a port chosen here. All sockets are
    held open until every port is picked, so the ports differ from each other.
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost; return (cert, key).

    The certificate is its own CA, so ``cert`` is also the ``cafile`` a client trusts.
    An EC key keeps this to a few milliseconds.
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServerError("openssl is not installed: run `apt-get install -y openssl`")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the test process dies (Linux only).

    This is what keeps a hard-killed pytest (a thread-method timeout, a SIGKILL)
    from leaving a Dovecot behind.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# endregion
# region Dovecot

DOVECOT_CONF = """\
# Written by tests/servers.py for one test session. Dovecot 2.3 syntax.
protocols = imap
listen = {host}
base_dir = {tmp}/run
state_dir = {tmp}/run/state
log_path = /dev/stderr
auth_verbose = yes
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{tmp}/mail/%u
mail_fsync = never
# imap-login refuses to run as root.
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
mail_uid = {user}
mail_gid = {group}
# The default of 500 lets LOGIN succeed and then fails SELECT with "Internal error".
first_valid_uid = 1
protocol imap {{
  mail_max_userip_connections = 1000
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
{imaps}
  chroot =
}}
service anvil {{
  chroot =
  # auth_failure_delay = 0 does not cover anvil's per-IP penalty: after a failed
  # login, the next login from 127.0.0.1 waits 2-15 s. A socket the auth process
  # cannot open turns the penalty off.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  # One file per user: Dovecot re-reads a changed passwd-file at most once a
  # second, so a user appended to a shared file right after a login is unknown.
  args = scheme=PLAIN username_format=%u {tmp}/users/%u
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={tmp}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
"""

IMAPS_LISTENER = """\
  inet_listener imaps {{
    address = {host}
    port = {port}
    ssl = yes
  }}"""


def dovecot_binary() -> str:
    """Path of the ``dovecot`` binary; :class:`ServerError` if it is not installed."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServerError(DOVECOT_MISSING)
    return found


def _users() -> dict[str, str]:
    """Who Dovecot's processes run as: the package's users under root, else ourselves."""
    if os.geteuid() == 0:
        return {"user": "dovecot", "group": "dovecot", "login_user": "dovenull"}
    me = pwd.getpwuid(os.geteuid()).pw_name
    return {"user": me, "group": grp.getgrgid(os.getegid()).gr_name, "login_user": me}


@dataclass(frozen=True)
class Account:
    """One mailbox user on a :class:`Dovecot`, with helpers that each use a fresh login.

    The helpers read with ``EXAMINE`` and ``BODY.PEEK[]``, so they never change
    flags: what a test sees is what the code under test left behind.
    """

    host: str
    port: int
    username: str
    password: str
    imaps_port: int | None = None
    cafile: str | None = None

    def client(self, *, tls: bool = False, timeout: float = 10) -> IMAPClient:
        """A logged-in client; use it in a ``with`` block to log out afterwards.

        ``tls=True`` connects to the implicit-TLS port, trusting only ``cafile``.
        """
        if tls:
            if self.imaps_port is None:
                raise ServerError("this Dovecot was started without tls=True")
            context = ssl.create_default_context(cafile=self.cafile)
            imap = IMAPClient(self.host, self.imaps_port, ssl=True, ssl_context=context,
                              timeout=timeout)
        else:
            imap = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        try:
            imap.login(self.username, self.password)
        except BaseException:
            imap.shutdown()
            raise
        return imap

    @contextmanager
    def _folder(self, folder: str) -> Iterator[IMAPClient]:
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            yield imap

    def append(self, raw: bytes | Message, folder: str = "INBOX",
               flags: Iterable[str] = ()) -> int:
        """Append one message; return its UID."""
        with self.client() as imap:
            reply = imap.append(folder, _as_bytes(raw), flags=tuple(flags))
        return _appenduid(reply)[0]

    def append_many(self, raws: Iterable[bytes | Message], folder: str = "INBOX") -> list[int]:
        """Append many messages in one MULTIAPPEND (about 5x faster than one by one)."""
        with self.client() as imap:
            _typ, data = imap.multiappend(folder, [_as_bytes(r) for r in raws])
        return _appenduid(data[-1])

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self._folder(folder) as imap:
            return sorted(imap.search("ALL"))

    def flags(self, uid: int, folder: str = "INBOX") -> frozenset[str]:
        """The message's flags as strings, such as ``\\Seen``; KeyError if no such UID.

        ``\\Recent`` is left out: it belongs to whichever session saw the message
        first, so it says nothing about what the code under test did.
        """
        with self._folder(folder) as imap:
            found = imap.get_flags([uid])
        flags = (f.decode() if isinstance(f, bytes) else f for f in found[uid])
        return frozenset(f for f in flags if f != "\\Recent")

    def fetch_all(self, folder: str = "INBOX") -> dict[int, bytes]:
        """Every message in ``folder`` as ``{uid: raw bytes}``, without setting \\Seen."""
        with self._folder(folder) as imap:
            uids = imap.search("ALL")
            if not uids:
                return {}
            got = imap.fetch(uids, ["BODY.PEEK[]"])
        return {uid: data[b"BODY[]"] for uid, data in sorted(got.items())}

    def folders(self) -> list[str]:
        with self.client() as imap:
            return sorted(name for _flags, _sep, name in imap.list_folders())


def _as_bytes(raw: bytes | Message) -> bytes:
    return raw if isinstance(raw, bytes) else raw.as_bytes()


def _appenduid(reply: bytes) -> list[int]:
    """UIDs from an APPEND reply such as ``[APPENDUID 1700000000 4:6] Append completed.``"""
    m = re.search(rb"\[APPENDUID \d+ ([\d:,]+)\]", reply)
    if m is None:
        raise ServerError(f"no APPENDUID in the server's reply: {reply!r}")
    uids = []
    for part in m.group(1).split(b","):
        lo, _, hi = part.partition(b":")
        uids.extend(range(int(lo), int(hi or lo) + 1))
    return uids


class Dovecot:
    """A private Dovecot IMAP server on loopback, for one test session.

    ``Dovecot(tls=True)`` also opens an implicit-TLS port (``imaps_port``) and offers
    STARTTLS on ``port``, with a self-signed certificate at ``cafile``. Use as a
    context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, *, tls: bool = False, start_timeout: float = 15, oauth2_introspection_url: str | None = None):
        self.tls = tls
        # With a URL: XOAUTH2 and OAUTHBEARER are offered too, each token checked by
        # Dovecot's oauth2 passdb against this RFC 7662 introspection endpoint.
        self.oauth2_introspection_url = oauth2_introspection_url
        self.start_timeout = start_timeout
        self.host = HOST
        self.port = 0
        self.imaps_port: int | None = None
        self.cafile: str | None = None
        self.tmp: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._usernames: set[str] = set()
        self._users: dict[str, str] = {}
        self._counter = itertools.count(1)

    # -- lifecycle

    def start(self) -> Dovecot:
        binary = dovecot_binary()
        # Short (sockets live in base_dir) and world-traversable (pytest's tmp_path
        # sits under a 0700 directory the dovecot user cannot enter).
        self.tmp = Path(tempfile.mkdtemp(prefix="mf-dc-", dir="/tmp"))
        try:
            self._start(binary)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, binary: str) -> None:
        tmp = self.tmp
        assert tmp is not None
        tmp.chmod(0o755)
        self._users = _users()
        mail = tmp / "mail"
        mail.mkdir()
        users = tmp / "users"
        users.mkdir(mode=0o750)
        shutil.chown(mail, self._users["user"], self._users["group"])
        shutil.chown(users, group=self._users["group"])  # read by the auth process
        ports = free_ports(2 if self.tls else 1)
        self.port = ports[0]
        ssl_lines, imaps = "ssl = no", ""
        if self.tls:
            cert, key = make_cert(tmp)
            self.cafile = str(cert)
            self.imaps_port = ports[1]
            ssl_lines = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
            imaps = IMAPS_LISTENER.format(host=self.host, port=self.imaps_port)
        conf = tmp / "dovecot.conf"
        text = DOVECOT_CONF.format(host=self.host, tmp=tmp, port=self.port, ssl=ssl_lines, imaps=imaps, **self._users)
        if self.oauth2_introspection_url:
            (tmp / "oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth2_introspection_url}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                "force_introspection = yes\n")
            text = text.replace("auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2 oauthbearer")
            text += ("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                     f"  args = {tmp}/oauth2.conf.ext\n}}\n")
        conf.write_text(text)
        self.log_path = tmp / "dovecot.log"
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        self._wait_for_greeting()

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise ServerError(f"dovecot exited with status {self._proc.returncode} "
                                  f"while starting.\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    greeting = s.recv(1024)
                if greeting.startswith(b"* OK"):
                    return
                last_error = ServerError(f"unexpected greeting {greeting!r}")
            except OSError as e:
                last_error = e
            time.sleep(0.02)
        raise ServerError(f"dovecot did not greet on {self.host}:{self.port} within "
                          f"{self.start_timeout} s ({last_error}).\n{self.log_text()}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, wait for exit (SIGKILL after ``timeout``), then remove the temp dir.

        Waiting matters: the temp dir is Dovecot's base_dir, and a new instance on a
        base_dir whose master.pid is still there refuses to start.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self, last_lines: int | None = None) -> str:
        """Dovecot's own log (stderr) so far, or its last lines."""
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""
        if last_lines is not None:
            text = "\n".join(text.splitlines()[-last_lines:])
        return text

    # -- users

    def add_user(self, name: str | None = None, password: str | None = None) -> Account:
        """Add a mailbox user and return its :class:`Account`.

        ``name`` defaults to a fresh ``scheme-<n>@example.test`` and ``password`` to a
        random one. Each user gets a passwd-file of its own, which Dovecot has never
        read, so the user can log in at once.
        """
        if self.tmp is None:
            raise ServerError("Dovecot is not started")
        password = secrets.token_urlsafe(12) if password is None else password
        with self._lock:
            if name is None:
                name = next(n for n in (f"scheme-{i}@example.test" for i in self._counter)
                            if n not in self._usernames)
            for value in (name, password):
                if not value or re.search(r"[:/\s]", value):
                    raise ValueError(f"no colon, slash or whitespace allowed: {value!r}")
            if name in self._usernames:
                raise ValueError(f"user {name!r} already exists")
            # Written whole, then renamed, so the auth process never reads half a file.
            part = self.tmp / "users" / f".{name}.part"
            part.write_text(f"{name}:{{PLAIN}}{password}\n")
            part.chmod(0o640)
            shutil.chown(part, group=self._users["group"])
            part.rename(part.with_name(name))
            self._usernames.add(name)
        return Account(self.host, self.port, name, password, self.imaps_port, self.cafile)


# endregion
# region OAuth2 introspection


class Introspection:
    """An RFC 7662 token introspection endpoint on loopback, for Dovecot's oauth2
    passdb: a token in ``tokens`` is active for its user; any other is not."""

    def __init__(self):
        import http.server
        import json
        import urllib.parse

        self.tokens: dict[str, str] = {}  # token -> username
        self.asked: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keep-alive, as Dovecot's HTTP client expects: with HTTP/1.0 the server
            # closes each connection, and a request Dovecot sends on one just being
            # closed fails as "Temporary authentication failure".
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                outer.asked.append(token)
                user = outer.tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = free_ports()[0]
        self.url = f"http://{HOST}:{self.port}/introspect"
        self._server = http.server.ThreadingHTTPServer((HOST, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Introspection:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# endregion
# region black hole


class BlackHole:
    """A TCP port that accepts connections and never says a word (a relay behind a
    firewall that drops packets, a hung server)."""

    def __init__(self):
        self.host = HOST
        self.port = free_ports()[0]
        self.accepted = 0
        self._server = socket.create_server((self.host, self.port))
        self._conns: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._server.close()
        for c in self._conns:
            c.close()


# endregion
# region SMTP sink


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    auth_login: str | None = None  # the AUTH username, if the client logged in
    tls: bool = False  # whether the transaction ran over TLS (STARTTLS or implicit)
    mail_options: tuple[str, ...] = ()  # MAIL FROM parameters, e.g. ("SMTPUTF8",)


@dataclass
class _Fault:
    command: str
    status: str
    times: int


@dataclass
class _SinkHandler:
    """aiosmtpd handler: records messages and answers with injected faults."""

    received: list[ReceivedMail] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    auth_required: bool = False
    on_data: object = None  # called with the envelope before DATA is answered (a slow relay, a clock)

    def _fault(self, command: str) -> str | None:
        with self.cond:
            for fault in self.faults:
                if fault.command == command:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault.status
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        status = self._fault("MAIL")
        if status:
            return status
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.cond:
            refused = self.refused.get(address.lower())
        status = refused or self._fault("RCPT")
        if status:
            return status
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.on_data is not None:
            self.on_data(envelope)
        status = self._fault("DATA")
        if status == "DROP":  # cut the connection in the middle of DATA, answering nothing
            server.transport.abort()
            return "421 dropped"
        if status:
            return status
        raw = envelope.original_content or envelope.content
        login = session.auth_data.login.decode() if session.authenticated else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),
            auth_login=login,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            mail_options=tuple(envelope.mail_options),
        )
        with self.cond:
            self.received.append(mail)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


class _OAuthSinkHandler(_SinkHandler):
    """Also offers AUTH XOAUTH2 and OAUTHBEARER, accepting the tokens in ``tokens``."""

    tokens: dict = None  # token -> username

    async def _oauth(self, server, args, mechanism: str):
        import base64

        try:
            if len(args) > 1:
                text = base64.b64decode(args[1]).decode()
            else:
                text = bytes(await server.challenge_auth("")).decode()
        except Exception:
            return AuthResult(success=False, handled=False)
        fields = dict(f.split("=", 1) for f in text.split("\x01") if "=" in f)
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":
            user = next((p[2:] for p in text.split("\x01")[0].split(",") if p.startswith("a=")), "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        ok = bool(user) and (self.tokens or {}).get(token) == user
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b"") if ok else None)

    async def auth_XOAUTH2(self, server, args):
        return await self._oauth(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self._oauth(server, args, "OAUTHBEARER")


class SmtpSink:
    """A real aiosmtpd SMTP server on loopback that keeps what it receives.

    - ``auth=("user", "secret")``: AUTH PLAIN/LOGIN is offered (without TLS, as on
      loopback) and required before MAIL.
    - ``tls="starttls"``: STARTTLS is offered (not required); ``tls="implicit"``:
      the port speaks TLS from the first byte. Clients trust ``cafile``.

    Faults: :meth:`fail_next` answers the next MAIL, RCPT or DATA commands with a
    given code; :meth:`refuse_recipient` refuses one address for the sink's life.
    """

    def __init__(self, *, auth: tuple[str, str] | None = None, tls: str | None = None, smtputf8: bool = False,
                 oauth2_tokens: dict[str, str] | None = None):
        if tls not in (None, "starttls", "implicit"):
            raise ValueError(f"tls must be None, 'starttls' or 'implicit', not {tls!r}")
        self.host = HOST
        self.port = 0
        self.auth = auth
        self.tls = tls
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531)
        self.cafile: str | None = None
        self._tmp: Path | None = None
        self._handler = _SinkHandler()
        if oauth2_tokens is not None:  # AUTH XOAUTH2 / OAUTHBEARER, required, with these token -> user
            self._handler = _OAuthSinkHandler(auth_required=True)
            self._handler.tokens = oauth2_tokens
        self.oauth2_tokens = oauth2_tokens
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        kwargs: dict = {}
        if self.tls:
            self._tmp = Path(tempfile.mkdtemp(prefix="mf-smtp-", dir="/tmp"))
            cert, key = make_cert(self._tmp)
            self.cafile = str(cert)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs["ssl_context" if self.tls == "implicit" else "tls_context"] = context
        if self.auth:
            # AUTH is offered without TLS (loopback). It is required by handle_MAIL,
            # not by aiosmtpd's auth_required, which warns on every connection
            # when combined with auth_require_tls=False.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
            self._handler.auth_required = True
        if self.oauth2_tokens is not None:
            kwargs.update(auth_require_tls=False, auth_exclude_mechanism=["PLAIN", "LOGIN"])
        self.port = free_ports()[0]
        # server_hostname: otherwise aiosmtpd calls socket.getfqdn(), which can
        # wait seconds for DNS.
        self._controller = Controller(self._handler, hostname=self.host, port=self.port,
                                      server_hostname="sink.mailflow.test", enable_SMTPUTF8=self.smtputf8,
                                      **kwargs)
        try:
            self._controller.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.auth is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        # handled=False: otherwise aiosmtpd assumes we already sent the 535 and
        # sends nothing, and the client waits until it times out.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this sink's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=self.cafile)

    # -- what arrived

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._handler.cond:
            return list(self._handler.received)

    def wait_for(self, n: int = 1, timeout: float = 10) -> list[ReceivedMail]:
        """Block until at least ``n`` messages arrived; return all of them.

        Raises AssertionError after ``timeout`` seconds, saying how many came.
        """
        cond = self._handler.cond
        with cond:
            if not cond.wait_for(lambda: len(self._handler.received) >= n, timeout):
                raise AssertionError(f"expected {n} message(s) within {timeout} s, "
                                     f"got {len(self._handler.received)}")
            return list(self._handler.received)

    def clear(self) -> None:
        """Forget the messages received so far (injected faults stay in force)."""
        with self._handler.cond:
            self._handler.received.clear()

    def drop(self, template: str) -> list[ReceivedMail]:
        """Forget the messages made from ``template`` (X-Mailflow-Template); return them."""
        with self._handler.cond:
            gone = [m for m in self._handler.received if m.message["X-Mailflow-Template"] == template]
            self._handler.received[:] = [m for m in self._handler.received if m not in gone]
            return gone

    # -- fault injection

    def fail_next(self, code: int, times: int = 1, message: str | None = None,
                  command: str = "DATA") -> None:
        """Answer the next ``times`` commands of kind ``command`` (MAIL, RCPT or DATA)
        with ``code``, e.g. ``fail_next(451)`` then a retry succeeds."""
        command = command.upper()
        if command not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"command must be MAIL, RCPT or DATA, not {command!r}")
        if message is None:
            message = "Injected temporary failure" if code < 500 else "Injected failure"
        with self._handler.cond:
            self._handler.faults.append(_Fault(command, f"{code} {message}", times))

    def on_data(self, callback) -> None:
        """Call ``callback(envelope)`` in the server's thread before each DATA is answered."""
        self._handler.on_data = callback

    def drop_next(self, times: int = 1) -> None:
        """Cut the connection after the next ``times`` DATA transfers, answering nothing."""
        with self._handler.cond:
            self._handler.faults.append(_Fault("DATA", "DROP", times))

    def refuse_recipient(self, address: str, code: int = 550,
                         message: str = "5.1.1 No such user here") -> None:
        """Answer RCPT for ``address`` (case-insensitive) with ``code``, every time."""
        with self._handler.cond:
            self._handler.refused[address.lower()] = f"{code} {message}"


# endregion
