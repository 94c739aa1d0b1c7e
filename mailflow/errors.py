"""The one exception family of mailflow.

Every error a user can cause (a bad config key, a broken rule file, a bad CSV row,
a template that does not render) is a :class:`MailflowError` whose message names the
file, key, line or message concerned and says what to do. The CLI prints the message
and exits non-zero, with no traceback.
"""

from __future__ import annotations


class MailflowError(Exception):
    """Base class: something a user or operator can fix; the message says how."""


class ConfigError(MailflowError):
    """The config file is missing, unreadable, or has a bad key or value."""


class RuleError(MailflowError):
    """A workflow rule file is malformed or refers to something that does not exist."""


class TemplateError(MailflowError):
    """An email template is missing or does not render."""


class CsvError(MailflowError):
    """An enrolment CSV file has a bad row; nothing from the file was applied."""


class StateError(MailflowError):
    """A command asked for something the current state does not allow."""


class ConnectionFailed(MailflowError):
    """An IMAP or SMTP server could not be reached or refused the login."""
