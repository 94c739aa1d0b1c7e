"""Read and validate ``mailflow.toml``.

The config is TOML, read with :mod:`tomllib`, into frozen dataclasses. Every key is
declared once in :data:`SCHEMA` with its type, default and what is allowed; every
error names the file, the key and what is allowed. ``config.example.toml`` documents
every key, and a test keeps the two in step.

Secrets are never read from the config file itself: a ``password`` key is refused
with a message saying how to supply it (``password_env`` or ``password_file``).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
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


class _Reader:
    """Validates one parsed TOML document against :data:`SCHEMA`."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}")

    def check_shape(self) -> None:
        for section, body in self.data.items():
            if section not in SCHEMA:
                raise self.fail(
                    f"[{section}]",
                    f"unknown section.{_suggest(section, SCHEMA)} "
                    f"Allowed sections: {', '.join(SCHEMA)}.",
                )
            if not isinstance(body, dict):
                raise self.fail(section, f"must be a table ([{section}]), not a single value.")
            for key in body:
                if key.lower() in _SECRET_KEYS:
                    raise self.fail(
                        f"[{section}] {key}",
                        "passwords are not written in the config file. Put the password in "
                        "an environment variable and set password_env = \"ITS_NAME\", or in a "
                        "file readable only by mailflow and set password_file = \"/path\".",
                    )
                if key not in SCHEMA[section]:
                    raise self.fail(
                        f"[{section}] {key}",
                        f"unknown key.{_suggest(key, SCHEMA[section])} "
                        f"Allowed keys in [{section}]: {', '.join(SCHEMA[section])}.",
                    )

    def get(self, section: str, key: str) -> Any:
        typ, default, check = SCHEMA[section][key]
        where = f"[{section}] {key}"
        body = self.data.get(section, {})
        if key not in body:
            if default is ...:
                raise self.fail(where, "is required. See config.example.toml for an example.")
            return default
        value = body[key]
        if typ is int and isinstance(value, bool) or not isinstance(value, typ):
            raise self.fail(where, f"must be {_typename(typ)}, not {_typename(type(value))} ({value!r}).")
        self._check(where, value, check)
        return value

    def _check(self, where: str, value: Any, check: Any) -> None:
        if check is None:
            return
        if isinstance(check, tuple):
            if value not in check:
                raise self.fail(
                    where, f"is {value!r}; allowed: {', '.join(repr(c) for c in check)}.{_suggest(str(value), check)}"
                )
        elif check == "nonempty" and not value.strip():
            raise self.fail(where, "must not be empty.")
        elif check == "nonempty" and _BREAKS_LINE.search(value):
            raise self.fail(where, "holds a line break or control character; write it on one line.")
        elif check == "address" and not _ADDR.match(value):
            raise self.fail(
                where,
                f"{value!r} is not a plain email address like mentoring@example.org "
                "(no display name, and no '+': mailflow adds its own plus-part for replies).",
            )
        elif check == "addresses":
            if not value:
                raise self.fail(where, "needs at least one address.")
            for item in value:
                if not isinstance(item, str) or not _ADDR.match(parseaddr(item)[1]):
                    raise self.fail(where, f"{item!r} is not an email address.")
        elif check == "address-list":  # like "addresses", but may be empty
            for item in value:
                if not isinstance(item, str) or not _ADDR.match(parseaddr(item)[1]):
                    raise self.fail(where, f"{item!r} is not an email address.")
        elif check == "timezone":
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise self.fail(where, f"{value!r} is not an IANA time zone name such as 'Europe/London'.") from None
        elif check == "languages":
            if not value:
                raise self.fail(where, 'needs at least one language code, e.g. ["en"] or ["en", "cy"].')
            from dateparser.data.languages_info import language_order

            for item in value:
                if not isinstance(item, str) or item not in language_order:
                    raise self.fail(
                        where, f"{item!r} is not a language code mailflow can read dates in. Use two-letter "
                        'codes such as "en", "cy", "fr", "de", "nl", "es", "pt", "it", "sv", "da", "nb", "fi".'
                        f"{_suggest(str(item), language_order)}",
                    )
        elif check == "port" and not 0 < value < 65536:
            raise self.fail(where, f"{value} is not a port number (1-65535).")
        elif check == "nonnegative" and value < 0:
            raise self.fail(where, f"must be 0 or more, not {value}.")
        elif check == "positive" and value <= 0:
            raise self.fail(where, f"must be a positive number, not {value}.")
        elif check == "nonnegative" and value < 0:
            raise self.fail(where, f"must be 0 or more, not {value}.")
        elif check == "weekday" and value.lower() not in WEEKDAYS:
            raise self.fail(where, f"is {value!r}; allowed: {', '.join(WEEKDAYS)}.{_suggest(value.lower(), WEEKDAYS)}")
        elif check == "time" and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise self.fail(where, f"is {value!r}; write a time of day as HH:MM on the 24-hour clock, e.g. \"08:00\".")

    def path_value(self, section: str, key: str) -> Path | None:
        value = self.get(section, key)
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    def build(self, section: str, cls):
        """The section as its dataclass: paths resolved, password_env/file as one Secret."""
        values: dict[str, Any] = {}
        for key, (_typ, _default, check) in SCHEMA[section].items():
            if key in ("password_env", "password_file", "oauth2_token_command", "oauth2_token_file"):
                continue
            values[key] = self.path_value(section, key) if check == "path" else self.get(section, key)
        if "password_env" in SCHEMA[section]:
            values["password"] = self.secret(section)
        if "oauth2_token_command" in SCHEMA[section]:
            values["oauth2_token"] = self.oauth2(section, values.get("auth", "password"))
        return cls(**values)

    def oauth2(self, section: str, auth: str) -> OAuth2Token | None:
        command = self.get(section, "oauth2_token_command")
        file = self.path_value(section, "oauth2_token_file")
        if auth == "password":
            if command or file:
                raise self.fail(f"[{section}] auth", 'is "password", but an oauth2_token_command or '
                                'oauth2_token_file is set: set auth = "xoauth2" (or "oauthbearer") to use it.')
            return None
        if bool(command) == bool(file):
            raise self.fail(f"[{section}] auth", f"is {auth!r}: set oauth2_token_command (a command that prints "
                            "an access token) or oauth2_token_file (a file holding one), exactly one of the two.")
        return OAuth2Token(section=section, command=command, file=file, config_path=self.path)

    def plaintext(self, section: str, host: str, tls: str, allowed: bool) -> None:
        """Refuse tls = "none" to a host that is not this machine, unless allowed."""
        if tls == "none" and host and not _loopback(host) and not allowed:
            raise self.fail(f"[{section}] tls", f'is "none", which would send the password (and every email) '
                            f"unencrypted to {host}. Use \"ssl\" or \"starttls\", or, if the network between "
                            "them is trusted, set allow_plaintext = true.")

    def secret(self, section: str) -> Secret:
        env = self.get(section, "password_env")
        file = self.path_value(section, "password_file")
        if env and file:
            raise self.fail(f"[{section}]", "set password_env or password_file, not both.")
        return Secret(section=section, env=env, file=file, config_path=self.path)


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


def parse(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Compare with config.example.toml.") from None
    r = _Reader(path.resolve(), data)
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
    if imap.enabled and not imap.username:
        raise r.fail("[imap] username", "is required when [imap] host is set.")
    r.plaintext("imap", imap.host, imap.tls, imap.allow_plaintext)
    if outbox.transport == "smtp":
        r.plaintext("smtp", smtp.host, smtp.tls, smtp.allow_plaintext)
    if smtp.auth != "password" and not smtp.username:
        raise r.fail("[smtp] username", f"is required with auth = {smtp.auth!r}.")
    if outbox.transport == "smtp" and not smtp.host:
        raise r.fail("[smtp] host", 'is required when [outbox] transport = "smtp".')
    if outbox.transport == "maildir" and outbox.maildir is None:
        raise r.fail("[outbox] maildir", 'is required when [outbox] transport = "maildir".')
    if imap.processed_folder and imap.processed_folder == imap.folder:
        raise r.fail("[imap] processed_folder", "must differ from [imap] folder (or be empty).")
    return Config(
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
