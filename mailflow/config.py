"""Read and validate ``mailflow.toml``.

The config is TOML, read with :mod:`tomllib`, into frozen dataclasses. Every key is
declared once in :data:`SCHEMA` with its type, default and what is allowed; every
error names the file, the key and what is allowed. ``config.example.toml`` documents
every key, and a test keeps the two in step.

Every problem is found in one pass (:func:`find_problems`, :func:`read`): each is a
:class:`Problem` with the file, the line, the key and what is allowed, an error or a
warning (a TLS mode that does not fit its port). The checks are generic over
:data:`SCHEMA` (a key added there is checked like the others; a check may also be a
function returning what is wrong), and rules between keys are small functions
registered with :func:`rule`. :func:`load` and :func:`parse` raise the first error,
saying how many more there are. :func:`environment_problems` checks what the file
leaves to the machine: password variables that are unset, hosts still the example's.

Secrets are never read from the config file itself: a ``password`` key is refused
with a message saying how to supply it (``password_env`` or ``password_file``).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, fields, replace
from datetime import time as dt_time
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_PATH = "mailflow.toml"
ENV_VAR = "MAILFLOW_CONFIG"

_ADDR = re.compile(r"^[^@\s+]+@[^@\s]+\.[^@\s]+$")
_BREAKS_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# ----------------------------------------------------------------------- the values


@dataclass(frozen=True)
class Secret:
    """Where a password lives: an environment variable or a file. Read when used."""

    section: str
    env: str = ""
    file: Path | None = None
    config_path: Path | None = None

    def value(self) -> str:
        where = f"{self.config_path or 'config'}: [{self.section}]"
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    f"{where} password_env = {self.env!r}, but that environment variable is "
                    f"not set. Export it before starting mailflow (export {self.env}=...)."
                )
            return value
        if self.file is not None:
            warn_if_readable_by_others(self.file, f"[{self.section}] password_file")
            try:
                return self.file.read_text(encoding="utf-8").strip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"{where} password_file = {str(self.file)!r} cannot be read ({exc.strerror}). "
                    "Point it at a file holding only the password, readable by mailflow."
                ) from None
        return ""

    def __repr__(self) -> str:  # never show a password, only where it comes from
        return f"Secret(env={self.env!r}, file={str(self.file) if self.file else None!r})"


@dataclass(frozen=True)
class OAuth2Token:
    """Where an OAuth2 access token comes from, for XOAUTH2 / OAUTHBEARER sign-in: a
    command that prints it (run at each login, so it can refresh it) or a file that
    another program keeps fresh. Read when used, never stored."""

    section: str
    command: str = ""
    file: Path | None = None
    config_path: Path | None = None

    def value(self) -> str:
        where = f"{self.config_path or 'config'}: [{self.section}]"
        if self.command:
            import shlex
            import subprocess

            try:
                proc = subprocess.run(shlex.split(self.command), capture_output=True, text=True, timeout=60)
            except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"{where} oauth2_token_command could not be run ({exc}). "
                                  "Give a command that prints an access token.") from None
            if proc.returncode != 0:
                err = (proc.stderr.strip().splitlines() or [""])[-1][:200]
                raise ConfigError(f"{where} oauth2_token_command exited {proc.returncode}: {err}. "
                                  "Run it by hand to see why (an expired refresh token?).")
            token = proc.stdout.strip()
        elif self.file is not None:
            try:
                token = self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{where} oauth2_token_file = {str(self.file)!r} cannot be read "
                                  f"({exc.strerror}).") from None
            warn_if_readable_by_others(self.file, f"[{self.section}] oauth2_token_file")
        else:
            return ""
        if not token or any(c.isspace() for c in token):
            raise ConfigError(f"{where}: the OAuth2 token is empty or not one word; "
                              "the command or file must give only the access token.")
        return token

    def __repr__(self) -> str:
        return f"OAuth2Token(command={self.command!r}, file={str(self.file) if self.file else None!r})"


_warned: set[str] = set()


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o044)
    except OSError:
        return False


def warn_if_readable_by_others(path: Path, what: str) -> None:
    """Log once that a secret's file is readable by other users of the machine."""
    if readable_by_others(path) and str(path) not in _warned:
        _warned.add(str(path))
        import logging

        logging.getLogger("mailflow").warning(
            "%s %s is readable by other users of this machine; make it private: chmod 600 %s", what, path, path)


@dataclass(frozen=True)
class SchemeConfig:
    name: str
    address: str
    coordinators: tuple[str, ...]
    timezone: str
    date_order: str
    rules: str
    templates: Path | None
    support: str = ""
    languages: tuple[str, ...] = ("en",)  # what replies are written in (dates are read in these)
    consent: str = "required"  # required: a welcome asks for YES; implied: the welcome only informs
    language: str = "en"  # the language of participants with no CSV language column (BCP 47)
    # Addresses told only who mentors whom (the list of current pairs), whenever it changes.
    pair_list_to: tuple[str, ...] = ()

    @property
    def local_part(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.split("@", 1)[1]

    def reply_address(self, token: str) -> str:
        """The plus-address that carries a reply token back to us."""
        return f"{self.local_part}+{token}@{self.domain}"


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: Secret
    tls: str
    ca_file: Path | None
    folder: str
    processed_folder: str
    idle: bool
    poll_seconds: int
    timeout_seconds: int
    trusted_authserv_id: str = ""
    max_message_mb: int = 10
    auth: str = "password"
    oauth2_token: OAuth2Token | None = None
    allow_plaintext: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str
    password: Secret
    tls: str
    ca_file: Path | None
    timeout_seconds: int
    auth: str = "password"
    oauth2_token: OAuth2Token | None = None
    allow_plaintext: bool = False


@dataclass(frozen=True)
class OutboxConfig:
    transport: str
    maildir: Path | None
    retry_first_seconds: int
    retry_max_seconds: int
    give_up_after_hours: int
    daily_cap_per_recipient: int
    daily_hard_cap_per_recipient: int = 30
    stranger_notes_per_day: int = 10


@dataclass(frozen=True)
class ListenerConfig:
    enabled: bool
    protocol: str
    host: str
    port: int


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class SummaryConfig:
    """When the coordinators' weekly summary is sent, in the scheme's time zone."""

    enabled: bool = True
    day: str = "monday"
    time: str = "08:00"

    @property
    def weekday(self) -> int:
        """Monday is 0."""
        return WEEKDAYS.index(self.day.lower())

    @property
    def at(self) -> dt_time:
        hours, minutes = self.time.split(":")
        return dt_time(int(hours), int(minutes))


@dataclass(frozen=True)
class RetentionConfig:
    raw_mail_days: int = 0  # 0: keep raw mail for as long as the database


@dataclass(frozen=True)
class Config:
    path: Path
    scheme: SchemeConfig
    database_path: Path
    imap: ImapConfig
    smtp: SmtpConfig
    outbox: OutboxConfig
    listener: ListenerConfig
    token_valid_days: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    lock_wait_seconds: int = 10
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)


# ----------------------------------------------------------------------- the schema

# section -> key -> (type, default, check or None). A default of ... means required.
_TLS = ("ssl", "starttls", "none")
_AUTH = ("password", "xoauth2", "oauthbearer")
SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any, Any]]] = {
    "scheme": {
        "name": (str, ..., "nonempty"),
        "address": (str, ..., "address"),
        "coordinators": (list, ..., "addresses"),
        "timezone": (str, "UTC", "timezone"),
        "date_order": (str, "DMY", ("DMY", "MDY", "YMD", "auto")),
        "rules": (str, "default", "nonempty"),
        "templates": (str, "", "path"),
        "support": (str, "", None),
        "languages": (list, ["en"], "languages"),
        "language": (str, "en", "language"),
        "consent": (str, "required", ("required", "implied")),
        "pair_list_to": (list, [], "address-list"),
    },
    "database": {"path": (str, "mailflow.db", "path"), "lock_wait_seconds": (int, 10, "nonnegative")},
    "imap": {
        "host": (str, "", None),
        "port": (int, 993, "port"),
        "username": (str, "", None),
        "password_env": (str, "", None),
        "password_file": (str, "", "path"),
        "tls": (str, "ssl", _TLS),
        "ca_file": (str, "", "path"),
        "folder": (str, "INBOX", "nonempty"),
        "processed_folder": (str, "Processed", None),
        "idle": (bool, True, None),
        "poll_seconds": (int, 60, "positive"),
        "timeout_seconds": (int, 60, "positive"),
        "trusted_authserv_id": (str, "", None),
        "max_message_mb": (int, 10, "positive"),
        "auth": (str, "password", _AUTH),
        "oauth2_token_command": (str, "", None),
        "oauth2_token_file": (str, "", "path"),
        "allow_plaintext": (bool, False, None),
    },
    "smtp": {
        "host": (str, "", None),
        "port": (int, 465, "port"),
        "username": (str, "", None),
        "password_env": (str, "", None),
        "password_file": (str, "", "path"),
        "tls": (str, "ssl", _TLS),
        "ca_file": (str, "", "path"),
        "timeout_seconds": (int, 60, "positive"),
        "auth": (str, "password", _AUTH),
        "oauth2_token_command": (str, "", None),
        "oauth2_token_file": (str, "", "path"),
        "allow_plaintext": (bool, False, None),
    },
    "outbox": {
        "transport": (str, "smtp", ("smtp", "maildir")),
        "maildir": (str, "", "path"),
        "retry_first_seconds": (int, 60, "positive"),
        "retry_max_seconds": (int, 3600, "positive"),
        "give_up_after_hours": (int, 48, "positive"),
        "daily_cap_per_recipient": (int, 20, "positive"),
        "daily_hard_cap_per_recipient": (int, 30, "positive"),
        "stranger_notes_per_day": (int, 10, "nonnegative"),
    },
    "listener": {
        "enabled": (bool, False, None),
        "protocol": (str, "lmtp", ("lmtp", "smtp")),
        "host": (str, "127.0.0.1", "nonempty"),
        "port": (int, 8024, "port"),
    },
    "tokens": {"valid_days": (int, 365, "positive")},
    "summary": {
        "enabled": (bool, True, None),
        "day": (str, "monday", "weekday"),
        "time": (str, "08:00", "time"),
    },
    "retention": {"raw_mail_days": (int, 0, "nonnegative")},
}

_SECRET_KEYS = {"password", "pass", "passwd", "secret"}


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


# ----------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file: where (file, line, key), what, and how bad.

    ``severity`` is ``error`` (mailflow cannot run like this) or ``warning`` (it can,
    but probably not as meant: a TLS mode that does not fit the port, say)."""

    path: Path
    line: int
    key: str  # "[imap] port", "[imap]", or "" for the file as a whole
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class _Lines:
    """Finds the line of a [section] or a key in it (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def section(self, section: str) -> int:
        pat = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]\s*(#.*)?$")
        return next((i for i, line in enumerate(self.lines, 1) if pat.match(line)), 0)

    def key(self, section: str, key: str) -> int:
        start = self.section(section)
        if not start:
            return 0
        pat = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for i in range(start + 1, len(self.lines) + 1):
            line = self.lines[i - 1]
            if re.match(r"^\s*\[", line):
                break
            if pat.match(line):
                return i
        return start


# Cross-key rules: each is called with the reader once every key has been read and
# reports what it finds with reader.problem(). Other modules may append their own.
RULES: list[Any] = []


def rule(fn):
    """Register a cross-key rule (see :data:`RULES`)."""
    RULES.append(fn)
    return fn


class _Reader:
    """Validates one parsed TOML document against :data:`SCHEMA`, collecting every
    problem (:attr:`problems`) instead of stopping at the first."""

    def __init__(self, path: Path, data: dict[str, Any], text: str = ""):
        self.path = path
        self.data = data
        self.where = _Lines(text)
        self.problems: list[Problem] = []
        self._bad: set[tuple[str, str]] = set()  # keys already reported: read as their default

    def problem(self, section: str, key: str | None, message: str, severity: str = "error") -> None:
        line = self.where.key(section, key) if key else self.where.section(section)
        label = f"[{section}] {key}" if key else f"[{section}]"
        self.problems.append(Problem(self.path, line, label, message, severity))
        if key:
            self._bad.add((section, key))

    def fail(self, where: str, message: str) -> ConfigError:  # kept for callers of the old reader
        return ConfigError(f"{self.path}: {where}: {message}")

    def check_shape(self) -> None:
        for section, body in list(self.data.items()):
            if section not in SCHEMA:
                self.problem(section, None, f"unknown section.{_suggest(section, SCHEMA)} "
                                            f"Allowed sections: {', '.join(SCHEMA)}.")
                continue
            if not isinstance(body, dict):
                self.problems.append(Problem(self.path, self.where.key("", section) or 1, section,
                                             f"must be a table ([{section}]), not a single value."))
                self.data[section] = {}
                continue
            for key in body:
                if key.lower() in _SECRET_KEYS:
                    self.problem(
                        section, key,
                        "passwords are not written in the config file. Put the password in "
                        "an environment variable and set password_env = \"ITS_NAME\", or in a "
                        "file readable only by mailflow and set password_file = \"/path\".",
                    )
                elif key not in SCHEMA[section]:
                    self.problem(section, key, f"unknown key.{_suggest(key, SCHEMA[section])} "
                                               f"Allowed keys in [{section}]: {', '.join(SCHEMA[section])}.")

    def get(self, section: str, key: str) -> Any:
        """The key's value, or its default when it is missing or wrong (reported once)."""
        typ, default, check = SCHEMA[section][key]
        body = self.data.get(section, {})
        fallback = _placeholder(typ, check) if default is ... else default
        if (section, key) in self._bad:
            return fallback
        if key not in body:
            if default is ...:
                self.problem(section, key, "is required. See config.example.toml for an example.")
            return fallback
        value = body[key]
        if typ is int and isinstance(value, bool) or not isinstance(value, typ):
            self.problem(section, key, f"must be {_typename(typ)}, not {_typename(type(value))} ({value!r}).")
            return fallback
        message = _check(value, check)
        if message:
            self.problem(section, key, message)
            return fallback
        return value

    def path_value(self, section: str, key: str) -> Path | None:
        value = self.get(section, key)
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    def build(self, section: str, cls):
        """The section as its dataclass: paths resolved, password_env/file as one Secret.
        Keys of the section that the dataclass does not declare are read (and checked)
        but not passed on, so a key can be added to the schema before its dataclass."""
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for key, (_typ, _default, check) in SCHEMA[section].items():
            if key in ("password_env", "password_file", "oauth2_token_command", "oauth2_token_file"):
                continue
            value = self.path_value(section, key) if check == "path" else self.get(section, key)
            if key in names:
                values[key] = value
        if "password_env" in SCHEMA[section]:
            values["password"] = self.secret(section)
        if "oauth2_token_command" in SCHEMA[section] and "oauth2_token" in names:
            values["oauth2_token"] = self.oauth2(section, values.get("auth", "password"))
        return cls(**values)

    def oauth2(self, section: str, auth: str) -> OAuth2Token | None:
        command = self.get(section, "oauth2_token_command")
        file = self.path_value(section, "oauth2_token_file")
        if auth == "password":
            if command or file:
                self.problem(section, "auth", 'is "password", but an oauth2_token_command or oauth2_token_file '
                             'is set: set auth = "xoauth2" (or "oauthbearer") to use it.')
            return None
        if bool(command) == bool(file):
            self.problem(section, "auth", f"is {auth!r}: set oauth2_token_command (a command that prints an "
                         "access token) or oauth2_token_file (a file holding one), exactly one of the two.")
            return None
        return OAuth2Token(section=section, command=command, file=file, config_path=self.path)

    def secret(self, section: str) -> Secret:
        env = self.get(section, "password_env")
        file = self.path_value(section, "password_file")
        if env and file:
            self.problem(section, None, "set password_env or password_file, not both.")
        return Secret(section=section, env=env, file=file, config_path=self.path)


def _placeholder(typ, check: Any = None) -> Any:
    """A value of the right type for a required key that is missing or wrong, so that
    reading (and the checks after it) can go on and find the other problems."""
    if check == "address":
        return "mentoring@example.invalid"
    if check == "addresses":
        return ["coordinator@example.invalid"]
    if check == "nonempty":
        return "unnamed"
    return {str: "", int: 0, bool: False, list: []}.get(typ, None)


def _check(value: Any, check: Any) -> str:
    """What is wrong with ``value`` under ``check`` ("" when nothing is)."""
    if check is None:
        return ""
    if isinstance(check, tuple):
        if value not in check:
            return f"is {value!r}; allowed: {', '.join(repr(c) for c in check)}.{_suggest(str(value), check)}"
        return ""
    if callable(check):  # a check of its own, for keys added later: returns what is wrong, or ""
        return check(value) or ""
    if check == "nonempty" and not value.strip():
        return "must not be empty."
    if check == "nonempty" and _BREAKS_LINE.search(value):
        return "holds a line break or control character; write it on one line."
    if check == "address" and not _ADDR.match(value):
        return (f"{value!r} is not a plain email address like mentoring@example.org "
                "(no display name, and no '+': mailflow adds its own plus-part for replies).")
    if check == "addresses":
        if not value:
            return "needs at least one address."
        for item in value:
            if not isinstance(item, str) or not _ADDR.match(parseaddr(item)[1]):
                return f"{item!r} is not an email address."
    if check == "address-list":  # like "addresses", but may be empty
        for item in value:
            if not isinstance(item, str) or not _ADDR.match(parseaddr(item)[1]):
                return f"{item!r} is not an email address."
    if check == "timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return f"{value!r} is not an IANA time zone name such as 'Europe/London'."
    if check == "languages":
        if not value:
            return 'needs at least one language code, e.g. ["en"] or ["en", "cy"].'
        from dateparser.data.languages_info import language_order

        for item in value:
            if not isinstance(item, str) or item not in language_order:
                return (f"{item!r} is not a language code mailflow can read dates in. Use two-letter "
                        'codes such as "en", "cy", "fr", "de", "nl", "es", "pt", "it", "sv", "da", "nb", "fi".'
                        f"{_suggest(str(item), language_order)}")
    if check == "language":
        from .i18n import language_problem

        return language_problem(value)
    if check == "port" and not 0 < value < 65536:
        return f"{value} is not a port number (1-65535)."
    if check == "positive" and value <= 0:
        return f"must be a positive number, not {value}."
    if check == "nonnegative" and value < 0:
        return f"must be 0 or more, not {value}."
    if check == "weekday" and value.lower() not in WEEKDAYS:
        return f"is {value!r}; allowed: {', '.join(WEEKDAYS)}.{_suggest(value.lower(), WEEKDAYS)}"
    if check == "time" and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
        return f"is {value!r}; write a time of day as HH:MM on the 24-hour clock, e.g. \"08:00\"."
    return ""


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_warnings(config: Config) -> list[str]:
    """Things that work but should be fixed, for `mailflow check` to show."""
    out = []
    for section in (config.imap, config.smtp):
        name = "imap" if section is config.imap else "smtp"
        for what, path in (("password_file", section.password.file),
                           ("oauth2_token_file", section.oauth2_token.file if section.oauth2_token else None)):
            if path is not None and readable_by_others(path):
                out.append(f"[{name}] {what} {path} is readable by other users of this machine: chmod 600 {path}")
    return out


def _typename(typ) -> str:
    names = {str: "a string", int: "a whole number", bool: "true or false", list: "a list"}
    return names.get(typ, getattr(typ, "__name__", str(typ)))


# ----------------------------------------------------------------------- cross-key rules


@rule
def _imap_needs_username(r: _Reader) -> None:
    if r.get("imap", "host") and not r.get("imap", "username"):
        r.problem("imap", "username", "is required when [imap] host is set.")


@rule
def _outbox_needs_its_transport(r: _Reader) -> None:
    transport = r.get("outbox", "transport")
    if transport == "smtp" and not r.get("smtp", "host"):
        r.problem("smtp", "host", 'is required when [outbox] transport = "smtp".')
    if transport == "maildir" and not r.get("outbox", "maildir"):
        r.problem("outbox", "maildir", 'is required when [outbox] transport = "maildir".')


@rule
def _no_plaintext_to_another_machine(r: _Reader) -> None:
    """tls = "none" to a host that is not this machine is refused, unless allowed."""
    for section in ("imap", "smtp"):
        host, tls = r.get(section, "host"), r.get(section, "tls")
        if section == "smtp" and r.get("outbox", "transport") != "smtp":
            continue
        if tls == "none" and host and not _loopback(host) and not r.get(section, "allow_plaintext"):
            r.problem(section, "tls", f'is "none", which would send the password (and every email) unencrypted '
                      f'to {host}. Use "ssl" or "starttls", or, if the network between them is trusted, set '
                      "allow_plaintext = true.")


@rule
def _oauth_needs_a_username(r: _Reader) -> None:
    if r.get("smtp", "auth") != "password" and not r.get("smtp", "username"):
        r.problem("smtp", "username", f"is required with auth = {r.get('smtp', 'auth')!r}.")


@rule
def _processed_folder_differs(r: _Reader) -> None:
    processed = r.get("imap", "processed_folder")
    if processed and processed == r.get("imap", "folder"):
        r.problem("imap", "processed_folder", "must differ from [imap] folder (or be empty).")


# The usual port of each TLS mode, and ports that belong to the other protocol.
_PORTS = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143, "other": {25, 465, 587, 2525}, "other_name": "SMTP"},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25, "other": {143, 993}, "other_name": "IMAP"},
}


@rule
def _tls_fits_port(r: _Reader) -> None:
    """Warnings, not errors: a server may listen anywhere, but these are usually mistakes."""
    for section, ports in _PORTS.items():
        if not r.get(section, "host"):
            continue
        tls, port = r.get(section, "tls"), r.get(section, "port")
        name = section.upper()
        if port in ports["other"]:
            r.problem(section, "port", f"{port} is an {ports['other_name']} port, not an {name} one ({name} "
                      f"uses {ports['ssl']} with tls = \"ssl\", {ports['starttls']} with tls = \"starttls\").",
                      "warning")
        elif tls in ("starttls", "none") and port == ports["ssl"]:
            r.problem(section, "tls", f"is {tls!r}, but port {port} expects TLS from the start: use "
                      f"tls = \"ssl\" on {port}, or port {ports[tls]} for {tls}.", "warning")
        elif tls == "ssl" and port in (ports["starttls"], ports["none"]):
            r.problem(section, "tls", f"is 'ssl', but port {port} starts in plain text: use "
                      f"tls = \"starttls\" on {port}, or port {ports['ssl']} for ssl.", "warning")


# ----------------------------------------------------------------------- loading


def find_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config path: --config, then $MAILFLOW_CONFIG, then ./mailflow.toml."""
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load(path: str | os.PathLike) -> Config:
    """Read and validate a config file. Raises :class:`ConfigError` naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file. Run `mailflow init` to write a starter config, "
            f"or pass --config PATH (or set ${ENV_VAR})."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}).") from None
    return parse(text, path)


def read(path: str | os.PathLike) -> tuple[Config | None, list[Problem]]:
    """Like :func:`load`, but every problem of the file, not only the first."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(path, 0, "", "no such config file. Run `mailflow init` to write a starter config, "
                                           f"or pass --config PATH (or set ${ENV_VAR}).")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, 0, "", f"cannot read the config file ({exc}).")]
    return find_problems(text, path)


def parse(text: str, path: Path) -> Config:
    """Read a config from its text; raise :class:`ConfigError` on the first error (with
    how many more there are). :func:`find_problems` reports every problem at once."""
    config, found = find_problems(text, path)
    errors = [p for p in found if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more; `mailflow check` lists them all)" if len(errors) > 1 else ""
        raise ConfigError(str(errors[0]) + more)
    assert config is not None
    return config


def find_problems(text: str, path: Path) -> tuple[Config | None, list[Problem]]:
    """Every problem of a config file in one pass (errors and warnings), and the config
    as far as it could be read (None when the file is not TOML at all)."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [Problem(path.resolve(), int(m.group(1)) if m else 0, "",
                              f"not valid TOML: {exc}. Compare with config.example.toml.")]
    r = _Reader(path.resolve(), data, text)
    r.check_shape()

    scheme = r.build("scheme", SchemeConfig)
    scheme = replace(scheme, name=scheme.name.strip(), address=scheme.address.lower(),
                     coordinators=tuple(parseaddr(c)[1].lower() for c in scheme.coordinators),
                     languages=tuple(dict.fromkeys(scheme.languages)),
                     pair_list_to=tuple(parseaddr(a)[1].lower() for a in scheme.pair_list_to))
    imap = r.build("imap", ImapConfig)
    smtp = r.build("smtp", SmtpConfig)
    outbox = r.build("outbox", OutboxConfig)
    listener = r.build("listener", ListenerConfig)
    for section in SCHEMA:  # sections no dataclass reads yet: checked all the same
        for key in SCHEMA[section]:
            r.get(section, key)
    for fn in RULES:
        fn(r)
    config = Config(
        path=path.resolve(),
        scheme=scheme,
        database_path=r.path_value("database", "path") or r.path.parent / "mailflow.db",
        imap=imap,
        smtp=smtp,
        outbox=outbox,
        listener=listener,
        token_valid_days=r.get("tokens", "valid_days"),
        raw=data,
        lock_wait_seconds=r.get("database", "lock_wait_seconds"),
        summary=SummaryConfig(enabled=r.get("summary", "enabled"), day=r.get("summary", "day").lower(),
                              time=r.get("summary", "time").strip()),
        retention=RetentionConfig(raw_mail_days=r.get("retention", "raw_mail_days")),
    )
    return config, sorted(r.problems, key=lambda p: (p.line or 10**9, p.key))


def example_values() -> dict[tuple[str, str], Any]:
    """The values of ``config.example.toml``, by (section, key)."""
    from .resources import shipped

    data = tomllib.loads(shipped("config.example.toml").read_text(encoding="utf-8"))
    return {(s, k): v for s, body in data.items() if isinstance(body, dict) for k, v in body.items()}


def environment_problems(config: Config, environ: dict[str, str] | None = None) -> list[Problem]:
    """What the config file leaves to this machine, checked without a network: each
    password variable that is unset (and password file that cannot be read), and each
    host or address still the example's. For every section of :data:`SCHEMA` with
    ``password_env`` and every string key, so keys added later are covered too."""
    environ = dict(os.environ) if environ is None else environ
    text = config.path.read_text(encoding="utf-8") if config.path.is_file() else ""
    lines = _Lines(text)
    out: list[Problem] = []

    def add(section: str, key: str, message: str) -> None:
        out.append(Problem(config.path, lines.key(section, key), f"[{section}] {key}", message))

    raw = config.raw
    for section, keys in SCHEMA.items():
        if "password_env" not in keys or not _in_use(config, section):
            continue
        body = raw.get(section, {}) if isinstance(raw.get(section), dict) else {}
        env, file = body.get("password_env", ""), body.get("password_file", "")
        if env and env not in environ:
            add(section, "password_env", f"the environment variable {env} is not set: "
                                         f"export {env}=... before running mailflow.")
        elif file:
            p = Path(str(file)).expanduser()
            p = p if p.is_absolute() else config.path.parent / p
            if not os.access(p, os.R_OK):
                add(section, "password_file", f"{p} cannot be read: point it at a file holding only the "
                                              "password, readable by mailflow.")
    example = example_values()
    for (section, key), value in example.items():
        if not isinstance(value, (str, list)) or "example.org" not in str(value):
            continue
        body = raw.get(section, {}) if isinstance(raw.get(section), dict) else {}
        if key in body and body[key] == value and (section not in ("imap", "smtp") or _in_use(config, section)):
            what = "host" if key == "host" else "value"
            add(section, key, f"is still the example's {what} ({value!r}): set your own.")
    return out


def _in_use(config: Config, section: str) -> bool:
    if section == "imap":
        return config.imap.enabled
    if section == "smtp":
        return config.outbox.transport == "smtp" and bool(config.smtp.host)
    return True
