"""Replies built the way real mail clients build them, for conversation tests.

Each builder takes the raw bytes of one of our emails and the person's answer, and
returns the raw reply: the subject, threading headers, quoting and layout that
client uses. (The golden corpus in ``tests/corpus/`` holds fixed examples; these
builders make live replies to whatever the service just sent.)
"""

from __future__ import annotations

import email
import email.policy
import html
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parsedate_to_datetime


def _original(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def _headers(original: EmailMessage, sender: str, subject_prefix: str, *, to: str | None = None,
             threaded: bool = True, date=None) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = to or original["Reply-To"] or original["From"]
    subject = str(original["Subject"])
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"{subject_prefix} {subject}"
    reply["Date"] = format_datetime(date or parsedate_to_datetime(str(original["Date"])))
    reply["Message-ID"] = make_msgid(domain=sender.split("@")[-1].strip(">"))
    if threaded:
        reply["In-Reply-To"] = original["Message-ID"]
        reply["References"] = original["Message-ID"]
    return reply


def outlook_reply(raw: bytes, answer: str, sender: str, **kw) -> bytes:
    """Outlook desktop: "RE:", answer on top, a rule, then the From:/Sent: block and the
    original unquoted; multipart/alternative with an HTML part."""
    original = _original(raw)
    reply = _headers(original, sender, "RE:", **kw)
    reply["Thread-Index"] = "AQHZ3k5bT0ZqQm9vS0t1dWJhQ0F3PT0="
    block = (f"From: {original['From']}\nSent: {original['Date']}\nTo: {original['To']}\n"
             f"Subject: {original['Subject']}\n")
    reply.set_content(f"{answer}\n\n________________________________\n{block}\n{_text(original)}")
    html_answer = "".join(f"<p class=MsoNormal>{html.escape(line) or '&nbsp;'}</p>" for line in answer.splitlines())
    html_orig = "<br>".join(html.escape(line) for line in _text(original).splitlines())
    reply.add_alternative(
        f"<html><body><div class=WordSection1>{html_answer}</div>"
        f'<div id="divRplyFwdMsg"><hr><b>From:</b> {html.escape(str(original["From"]))}<br>'
        f"<b>Sent:</b> {html.escape(str(original['Date']))}<br><b>Subject:</b> "
        f"{html.escape(str(original['Subject']))}</div><div>{html_orig}</div></body></html>",
        subtype="html",
    )
    return reply.as_bytes()


def gmail_reply(raw: bytes, answer: str, sender: str, **kw) -> bytes:
    """Gmail web: "Re:", answer on top, "On <date>, <name> wrote:", then "> " quoting."""
    original = _original(raw)
    reply = _headers(original, sender, "Re:", **kw)
    quoted = "\n".join("> " + line if line else ">" for line in _text(original).splitlines())
    name = original["From"].addresses[0].display_name
    addr = original["From"].addresses[0].addr_spec
    intro = f"On Mon, 2 Mar 2026 at 09:00, {name} <{addr}> wrote:"
    reply.set_content(f"{answer}\n\n{intro}\n\n{quoted}\n")
    html_quoted = "<br>".join(html.escape(line) for line in _text(original).splitlines())
    reply.add_alternative(
        f'<div dir="ltr">{"<br>".join(html.escape(l) for l in answer.splitlines())}</div><br>'
        f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">{html.escape(intro)}<br></div>'
        f'<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
        f'rgb(204,204,204);padding-left:1ex">{html_quoted}</blockquote></div>',
        subtype="html",
    )
    return reply.as_bytes()


def inline_reply(raw: bytes, answers: dict[str, str], sender: str, **kw) -> bytes:
    """A plain-text client answering inline: the original quoted with "> ", and each
    answer written under the quoted line that starts with one of ``answers``' keys."""
    original = _original(raw)
    reply = _headers(original, sender, "Re:", **kw)
    out = [f"On 02/03/2026 09:00, {original['From']} wrote:"]
    for line in _text(original).splitlines():
        out.append("> " + line if line else ">")
        for label, answer in answers.items():
            if line.strip().lower().startswith(label.lower()):
                out.append(answer)
    reply.set_content("\n".join(out) + "\n")
    return reply.as_bytes()


def mutt_reply(raw: bytes, answer: str, sender: str, **kw) -> bytes:
    """mutt: plain text, "On <date>, <name> wrote:", the original quoted with "> ", and
    the answer written below the quote (bottom-posted), then a "-- " signature."""
    original = _original(raw)
    reply = _headers(original, sender, "Re:", **kw)
    name = original["From"].addresses[0].display_name
    quoted = "\n".join("> " + line if line else ">" for line in _text(original).splitlines())
    reply["User-Agent"] = "Mutt/2.2.9 (2022-11-12)"
    reply.set_content(f"On Mon, Mar 02, 2026 at 09:00:00AM +0000, {name} wrote:\n{quoted}\n\n{answer}\n\n-- \n"
                      f"{sender.split('<')[0].strip()}\n")
    return reply.as_bytes()


def new_email(to: str, answer: str, sender: str, subject: str = "Mentoring", date=None) -> bytes:
    """A new email (not a reply) from a participant to the scheme's address."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date) if date else format_datetime(parsedate_to_datetime("Mon, 2 Mar 2026 09:00:00 +0000"))
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1].strip(">"))
    msg.set_content(answer + "\n")
    return msg.as_bytes()
