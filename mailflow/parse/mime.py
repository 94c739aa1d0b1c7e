"""Reading inbound messages: bytes in, a :class:`~mailflow.parse.result.Mail` out.

Everything here is defensive. Inbound mail is written by every mail client there
is, by list servers, by gateways and by spammers, so nothing in this module raises
on any input: broken MIME structure, unknown or lying charsets, invalid base64 or
quoted-printable, NUL bytes, bare LF or CR line endings, missing headers and
absurd nesting all produce *some* text plus a note in ``Mail.defects``.

Public functions
----------------
``load(raw)``
    Parse bytes into an :class:`email.message.Message` (``compat32`` policy: about
    ten times faster than the modern policy, and the decoding is done here anyway).
``header(msg, name)``
    One header, unfolded and RFC 2047-decoded, "" when absent.
``body_text(msg)``
    The body as plain text, with quoting kept as ``> `` lines.
``attachments(msg)``
    The non-body parts, with decoded filenames and bytes.
``read_mail(raw, msg=None)``
    All of the above in a :class:`Mail` (everything but ``machine``).

Helpers, public because they are useful alone: ``html_to_text(html)`` (the HTML
conversion ``body_text`` uses), ``decode_bytes(data, charset, where, defects)`` (the
charset fallback chain), ``decode_words(value)`` (RFC 2047) and ``unflow(text)``
(RFC 3676 format=flowed).

Limits (work is capped so a hostile message cannot stall the service)
--------------------------------------------------------------------
* at most :data:`MAX_RAW_BYTES` (32 MB) of a message are parsed;
* at most :data:`MAX_PARTS` (200) MIME parts are looked at, and none deeper than
  :data:`MAX_DEPTH` (50) levels of nesting;
* at most :data:`MAX_HTML_CHARS` (256 K characters) of an HTML body are converted
  to text (beyond that an HTML reply is quoted history);
* at most :data:`MAX_TEXT_CHARS` (2 M characters) of body text are decoded,
  converted from HTML or handed to reply extraction;
* charset detection looks at no more than the first 64 KB of a part.

Each cap that is hit is reported in ``Mail.defects``.

Speed: plain-text mail is read at thousands of messages a second and a 1 MB plain
message in about 15-30 ms. HTML is parsed by Lexbor (C, through selectolax) and
walked once in Python: about 15-25 ms per MB of HTML.
"""

from __future__ import annotations

import binascii
import codecs
import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import functools
import re
from email.header import Header
from email.message import Message

from mailflow.parse.result import Attachment, Mail

__all__ = [
    "MAX_DEPTH",
    "MAX_HTML_CHARS",
    "MAX_PARTS",
    "MAX_RAW_BYTES",
    "MAX_TEXT_CHARS",
    "attachments",
    "body_text",
    "decode_bytes",
    "decode_words",
    "header",
    "html_to_text",
    "load",
    "read_mail",
    "unflow",
]

MAX_RAW_BYTES = 32 * 1024 * 1024
MAX_PARTS = 200
MAX_DEPTH = 50
MAX_TEXT_CHARS = 2 * 1024 * 1024
MAX_HTML_CHARS = 256 * 1024  # HTML beyond this is not converted (it is quoted history)
_DETECT_SAMPLE = 64 * 1024
_MAX_HEADER_CHARS = 64 * 1024  # longer header values are cut before parsing
_MAX_DEFECTS = 30

# --------------------------------------------------------------------------- parsing

_SINGLE_PART_FROM = 64 * 1024
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _large_single_part(raw: bytes) -> Message | None:
    """A large message that is not multipart, parsed as the feed parser would parse
    it, but without reading its body line by line (issue 12: half a megabyte of
    short lines took 60 ms). Only its header block goes through the parser; the
    body becomes the payload as it is. None (use the parser) for anything else:
    a smaller message, a multipart or message/* one, or headers the parser finds
    a defect in."""
    if len(raw) < _SINGLE_PART_FROM:
        return None
    end = _BLANK_LINE.search(raw)
    if end is None:
        return None
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[:end.end()])
    if msg.defects or msg.get_content_maintype() in ("multipart", "message") or msg.get_payload():
        return None
    msg.set_payload(raw[end.end():].decode("ascii", "surrogateescape"))
    return msg



def load(raw: bytes) -> Message:
    """Parse ``raw`` into a message. Never raises.

    Uses the ``compat32`` policy (fast; headers and bodies are decoded by this
    module, not by the policy). Input beyond :data:`MAX_RAW_BYTES` is ignored. If the
    parser itself fails (it should not), an empty message is returned.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = str(raw).encode("utf-8", "surrogateescape")
        except Exception:  # pragma: no cover - defensive
            raw = b""
    raw = bytes(raw[:MAX_RAW_BYTES])
    try:
        return _large_single_part(raw) or email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # pragma: no cover - the feed parser is lenient; be safe anyway
        msg = Message()
        try:
            msg.set_payload(raw.decode("latin-1"))
        except Exception:
            pass
        return msg


# --------------------------------------------------------------------------- charsets

# Declared charsets decoded with a superset codec: mail software routinely declares
# the subset and sends bytes from the superset (smart quotes in "iso-8859-1", GBK
# characters in "gb2312", Windows extensions in "shift_jis", 8-bit text in "us-ascii").
_SUPERSETS = {
    "ascii": "utf-8",
    "iso8859_1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "iso2022_jp": "iso2022_jp_ext",
    "iso8859_11": "cp874",
    "tis_620": "cp874",
    "windows_874": "cp874",
}
# Names Python does not know, mapped to ones it does.
_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "x-gbk": "gbk",
    "x-euc-cn": "gb2312",
    "euc-cn": "gb2312",
    "x-sjis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic",
    "ansi_x3.4-1968": "ascii",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-windows-949": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "x-utf-8": "utf-8",
    "utf8mb4": "utf-8",
}
# Declared values that mean "no charset".
_NO_CHARSET = {"", "unknown-8bit", "x-unknown", "unknown", "default", "8bit", "binary", "none", "charset"}
# Codecs that are not text encodings, or that can misbehave on arbitrary bytes.
_NOT_TEXT = {
    "base64", "bz2", "hex", "quopri", "rot_13", "uu", "zlib", "idna", "punycode", "unicode_escape",
    "raw_unicode_escape", "undefined", "mbcs", "oem", "charmap",
}
_ASCII_BYTES = bytes(range(128))


def _codec_for(charset: str | None) -> tuple[str | None, bool]:
    """(python codec name or None, whether a charset was declared at all)."""
    if charset is None:
        return None, False
    name = str(charset).strip().strip("\"'").lower()
    if "*" in name:  # RFC 2231 language suffix, e.g. utf-8*en
        name = name.split("*", 1)[0]
    if name in _NO_CHARSET:
        return None, False
    if len(name) > 40:
        return None, True
    for candidate in (name, _ALIASES.get(name, ""), name[2:] if name.startswith("x-") else "",
                      name.replace("_", "-"), name.replace("-", "_")):
        if not candidate:
            continue
        candidate = _ALIASES.get(candidate, candidate)
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError, TypeError):
            continue
        key = info.name.replace("-", "_")
        if key in _NOT_TEXT or not getattr(info, "_is_text_encoding", True):
            return None, True
        return _SUPERSETS.get(key, info.name), True
    return None, True


def decode_bytes(data: bytes, charset: str | None, where: str, defects: list[str] | None = None) -> str:
    """Decode ``data`` that claims to be in ``charset``. Never raises.

    Order: a byte-order mark; UTF-8 when a single-byte charset is declared but the
    bytes are valid UTF-8 (a common lie); the declared charset, or the superset
    mail software really uses (Windows-1252 for Latin-1, GB18030 for GB2312/GBK,
    CP932 for Shift_JIS, CP949 for EUC-KR, Big5-HKSCS for Big5), and Latin-1 for a
    declared Latin-1 that is not Windows-1252; UTF-8; UTF-8 with replacements when
    at most one non-ASCII byte in twenty is broken; charset-normalizer's best guess
    on the first 64 KB (Windows-1252 among equal guesses); the declared charset with
    replacements; Latin-1. Unknown names ("x-bogus") and non-text codecs ("base64")
    count as undeclared. Every fallback is noted in ``defects``, in words.
    """
    if not data:
        return ""
    note = defects.append if defects is not None else (lambda _s: None)
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
                     (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except Exception:
                break
    codec, declared = _codec_for(charset)
    label = str(charset).strip()[:40] if charset is not None else ""
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    if codec and non_ascii and codec != "utf-8" and _single_byte(codec):
        # Text that is valid UTF-8 is UTF-8, whatever single-byte charset it claims
        # (a common lie); the reverse almost never happens by accident.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            note(f"{where} declared {label!r} is UTF-8; decoded as utf-8")
            return text
    if codec:
        try:
            return data.decode(codec)
        except Exception:
            pass
        if codec == "cp1252":  # declared Latin-1: every byte is valid Latin-1
            return data.decode("latin-1")
    if codec != "utf-8":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if declared and non_ascii:
                note(_charset_note(where, label, codec, "utf-8", replaced=False))
            return text
    # Mostly UTF-8 with a few broken sequences: keep UTF-8, replace the bad bytes.
    if non_ascii and (codec in (None, "utf-8")):
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        if bad * 20 <= non_ascii:
            note(_charset_note(where, label, codec, "utf-8", replaced=True))
            return text
    guess = _detect(data)
    if guess and guess != codec:
        try:
            text = data.decode(guess, "replace")
        except Exception:
            text = None
        if text is not None:
            note(_charset_note(where, label, codec, guess, replaced=False, detected=True))
            return text
    if codec:
        try:
            text = data.decode(codec, "replace")
            note(_charset_note(where, label, codec, codec, replaced=True))
            return text
        except Exception:
            pass
    note(_charset_note(where, label, codec, "latin-1", replaced=False))
    return data.decode("latin-1")


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """Whether ``codec`` maps each byte to one character (ISO 8859, Windows, KOI8...)."""
    try:
        return len(bytes(range(256)).decode(codec, "replace")) == 256
    except Exception:
        return False


def _charset_note(where: str, label: str, codec: str | None, used: str, replaced: bool, detected: bool = False) -> str:
    how = f"decoded as {used}" + (" (detected)" if detected else "") + (" with replacements" if replaced else "")
    if label and codec is None and label.lower() not in _NO_CHARSET:
        return f"unknown charset {label!r} in {where}; {how}"
    if label and label.lower() not in _NO_CHARSET:
        return f"{where} is not valid {label}; {how}"
    return f"{where} has no usable charset; {how}"


def _detect(data: bytes) -> str | None:
    """charset-normalizer's guess; among equally good guesses, Windows-1252 (the
    commonest legacy charset in mail; short Western texts otherwise often come out
    as Central European)."""
    try:
        from charset_normalizer import from_bytes

        results = from_bytes(data[:_DETECT_SAMPLE])
        best = results.best()
        if best is None or not best.encoding:
            return None
        encoding = best.encoding
        for match in results:
            if match.chaos == best.chaos and match.coherence == best.coherence and match.encoding == "cp1252":
                encoding = "cp1252"
                break
    except Exception:
        return None
    codec, _ = _codec_for(encoding)
    return codec


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([QqBb])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_CTL = re.compile(r"[\r\n\x00]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")


def _raw_header(msg: Message, name: str, every: bool = False, defects: list[str] | None = None) -> list[str]:
    """The stored (undecoded, folded) values of a header; 8-bit bytes decoded."""
    wanted = name.lower()
    out: list[str] = []
    try:
        items = msg.raw_items()
    except Exception:
        return out
    for key, value in items:
        try:
            if str(key).lower() != wanted:
                continue
            if isinstance(value, Header):
                value = str(value)
            value = str(value)[:_MAX_HEADER_CHARS]
            if any("\udc80" <= ch <= "\udcff" for ch in value):
                value = decode_bytes(value.encode("utf-8", "surrogateescape"), "utf-8", f"header {name}", defects)
            out.append(value)
        except Exception:
            continue
        if not every:
            break
    return out


def decode_words(value: str, defects: list[str] | None = None, where: str = "header") -> str:
    """Unfold ``value`` and decode its RFC 2047 encoded words. Never raises.

    Adjacent encoded words in the same charset are joined before decoding, so a
    multi-byte character split across two words survives. Whitespace between two
    encoded words is dropped, as RFC 2047 says. CR, LF and NUL are removed.
    """
    value = _FOLD.sub("", value)
    if "=?" not in value:
        return _CTL.sub("", value).strip()
    out: list[str] = []
    pending: list[bytes] = []
    pending_cs: str | None = None
    last_end = 0

    def flush() -> None:
        nonlocal pending, pending_cs
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_cs, where, defects))
        pending, pending_cs = [], None

    for m in _ENCODED_WORD.finditer(value):
        gap = value[last_end:m.start()]
        if gap and (gap.strip() or not pending):
            flush()
            out.append(gap)
        charset, enc, payload = m.group(1), m.group(2).upper(), m.group(3)
        data = _decode_word(enc, payload)
        cs = charset.split("*", 1)[0].lower()
        if pending and cs != pending_cs:
            flush()
        pending.append(data)
        pending_cs = cs
        last_end = m.end()
    flush()
    out.append(value[last_end:])
    return _CTL.sub("", "".join(out)).strip()


def _decode_word(enc: str, payload: str) -> bytes:
    try:
        if enc == "Q":
            return binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
        cleaned = _NOT_BASE64.sub("", payload)
        if len(cleaned) % 4 == 1:  # cannot be valid: drop the stray character
            cleaned = cleaned[:-1]
        cleaned += "=" * (-len(cleaned) % 4)
        return binascii.a2b_base64(cleaned.encode("ascii"))
    except Exception:
        return payload.encode("ascii", "replace")


def header(msg: Message, name: str) -> str:
    """The first ``name`` header, unfolded and decoded; "" when absent. Never raises.

    RFC 2047 encoded words are decoded (unknown or broken charsets fall back like
    bodies do, with replacement characters); raw 8-bit UTF-8 (RFC 6532) is accepted;
    CR, LF and NUL are stripped.
    """
    return _header(msg, name, None)


def headers(msg: Message, name: str) -> list[str]:
    """Every ``name`` header, each unfolded and decoded like :func:`header`. Never raises."""
    try:
        return [decode_words(v, None, f"header {name}") for v in _raw_header(msg, name, every=True)]
    except Exception:  # pragma: no cover - defensive
        return []


def _header(msg: Message, name: str, defects: list[str] | None) -> str:
    try:
        values = _raw_header(msg, name, defects=defects)
        if not values:
            return ""
        return decode_words(values[0], defects, f"header {name}")
    except Exception:  # pragma: no cover - defensive
        return ""


# --------------------------------------------------------------------------- MIME tree


class _Leaf:
    __slots__ = ("part", "ctype", "alt", "attachment", "filename")

    def __init__(self, part: Message, ctype: str, alt: int | None, attachment: bool, filename: str):
        self.part = part
        self.ctype = ctype
        self.alt = alt  # id of the nearest multipart/alternative ancestor
        self.attachment = attachment
        self.filename = filename


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _filename(part: Message) -> str:
    name = None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:
            name = None
    if not name:
        return ""
    try:
        return decode_words(str(name)).replace("\x00", "")[:255]
    except Exception:
        return ""


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
        return value.lower() if isinstance(value, str) else None
    except Exception:
        return None


def _leaves(msg: Message, defects: list[str] | None = None) -> list[_Leaf]:
    """The leaf parts in document order (iterative; capped in count and depth).

    ``message/rfc822`` parts are leaves: an attached message is not our body.
    """
    out: list[_Leaf] = []
    stack: list[tuple[Message, int, int | None]] = [(msg, 0, None)]
    seen = 0
    while stack:
        part, depth, alt = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            if defects is not None:
                defects.append(f"more than {MAX_PARTS} MIME parts; the rest were ignored")
            break
        ctype = _content_type(part)
        try:
            payload = part.get_payload()
        except Exception:
            payload = None
        if ctype.startswith("multipart/") and isinstance(payload, list):
            if depth >= MAX_DEPTH:
                if defects is not None:
                    defects.append(f"MIME nesting deeper than {MAX_DEPTH}; deeper parts were ignored")
                continue
            child_alt = id(part) if ctype == "multipart/alternative" else alt
            for child in reversed(payload):
                if isinstance(child, Message):
                    stack.append((child, depth + 1, child_alt))
            continue
        disposition = _disposition(part)
        filename = _filename(part)
        attachment = disposition == "attachment" or bool(filename) or ctype.startswith("message/")
        out.append(_Leaf(part, ctype, alt, attachment, filename))
    return out


def _payload_bytes(part: Message, defects: list[str] | None, where: str) -> bytes:
    before = len(getattr(part, "defects", []) or [])
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        try:
            payload = part.get_payload()
            if isinstance(payload, str):
                data = payload.encode("utf-8", "surrogateescape")
            elif isinstance(payload, list) and payload and isinstance(payload[0], Message):
                data = payload[0].as_bytes()
        except Exception:
            data = None
    if defects is not None:
        new = (getattr(part, "defects", []) or [])[before:]
        for defect in new:
            defects.append(f"{_defect_text(defect)} in {where}; decoded what could be")
    return bytes(data or b"")


def _defect_text(defect: object) -> str:
    name = type(defect).__name__
    return {
        "InvalidBase64PaddingDefect": "bad base64 padding",
        "InvalidBase64CharactersDefect": "invalid base64 characters",
        "InvalidBase64LengthDefect": "truncated base64",
        "StartBoundaryNotFoundDefect": "multipart boundary not found",
        "CloseBoundaryNotFoundDefect": "multipart close boundary missing",
        "MultipartInvariantViolationDefect": "multipart message without parts",
        "MissingHeaderBodySeparatorDefect": "no blank line between headers and body",
        "MisplacedEnvelopeHeaderDefect": "misplaced envelope header",
        "FirstHeaderLineIsContinuationDefect": "first header line is a continuation",
        "MalformedHeaderDefect": "malformed header",
        "NoBoundaryInMultipartDefect": "multipart without boundary",
    }.get(name, name)


def _part_charset(part: Message) -> str | None:
    try:
        cs = part.get_param("charset")
        if isinstance(cs, tuple):
            cs = email.utils.collapse_rfc2231_value(cs)
        return str(cs) if cs else None
    except Exception:
        return None


_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)


def _part_text(leaf: _Leaf, defects: list[str] | None) -> str:
    """A text leaf decoded to str (line endings normalised, NULs removed, capped)."""
    part = leaf.part
    data = _payload_bytes(part, defects, "body")
    charset = _part_charset(part)
    if charset is None and leaf.ctype == "text/html":
        m = _META_CHARSET.search(data[:4096])
        if m:
            charset = m.group(1).decode("ascii", "replace")
    if len(data) > MAX_TEXT_CHARS * 4:
        data = data[: MAX_TEXT_CHARS * 4]
    text = decode_bytes(data, charset, "body", defects)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        if defects is not None:
            defects.append(f"body longer than {MAX_TEXT_CHARS} characters; only the start was read")
    text = _normalise_newlines(text)
    if leaf.ctype == "text/plain":
        try:
            if str(part.get_param("format") or "").lower() == "flowed":
                delsp = str(part.get_param("delsp") or "").lower() == "yes"
                text = unflow(text, delsp)
        except Exception:
            pass
    return text


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


_FLOW_QUOTE = re.compile(r">+")


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth.

    A line ending in a space continues on the next line of the same quote depth
    (the signature separator ``-- `` never does). Space-stuffing is removed. Quoted
    lines are written back as ``> `` (one ``>`` per level, then a space).
    """
    out: list[str] = []
    buf: list[str] = []
    buf_depth = -1
    for line in text.split("\n"):
        m = _FLOW_QUOTE.match(line)
        depth = len(m.group(0)) if m else 0
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if buf and depth != buf_depth:
            out.append(_flow_line(buf_depth, "".join(buf)))
            buf = []
        soft = content.endswith(" ") and content != "-- "
        if soft:
            buf.append(content[:-1] if delsp else content)
            buf_depth = depth
            continue
        buf.append(content)
        out.append(_flow_line(depth, "".join(buf)))
        buf = []
        buf_depth = -1
    if buf:
        out.append(_flow_line(buf_depth, "".join(buf)))
    return "\n".join(out)


def _flow_line(depth: int, content: str) -> str:
    if depth <= 0:
        return content
    return ">" * depth + (" " + content if content else "")


# --------------------------------------------------------------------------- HTML


def html_to_text(html: str) -> str:
    """Convert an HTML body to plain text (:func:`mailflow.parse.htmltext.html_to_text`:
    quotes as ``> `` lines, the author's indented blockquotes and headings as plain
    lines, Outlook's reply header after a line of underscores). Never raises."""
    from mailflow.parse.htmltext import html_to_text as convert

    return convert(html)


# --------------------------------------------------------------------------- body


def _choose_body(leaves: list[_Leaf], defects: list[str] | None) -> tuple[_Leaf | None, str]:
    """The body leaf and its text.

    The first non-attachment text/plain or text/html leaf decides. When it sits in
    a multipart/alternative, that alternative's text/plain is preferred over its
    text/html. An empty text/plain falls back to HTML.
    """
    texts = [lf for lf in leaves if not lf.attachment and lf.ctype in ("text/plain", "text/html")]
    if not texts:
        # A broken multipart whose payload stayed a string, or a text/* oddity.
        for lf in leaves:
            if not lf.attachment and (lf.ctype.startswith("multipart/") or lf.ctype.startswith("text/")):
                if lf.ctype.startswith("multipart/") and defects is not None:
                    defects.append("broken multipart structure; read the body as plain text")
                return lf, _part_text(lf, defects)
        return None, ""
    first = texts[0]
    group = [lf for lf in texts if first.alt is not None and lf.alt == first.alt] or [first]
    ordered = [lf for lf in group if lf.ctype == "text/plain"] + [lf for lf in group if lf.ctype == "text/html"]
    ordered += [lf for lf in texts if lf not in ordered and lf.ctype == "text/html"]
    chosen, text = None, ""
    for lf in ordered:
        local: list[str] = []
        text = _part_text(lf, local)
        if lf.ctype == "text/html":
            if len(text) > MAX_HTML_CHARS:
                # What a person writes is at the top; what follows a huge HTML reply
                # is quoted history.
                cut = text.rfind(">", 0, MAX_HTML_CHARS) + 1 or MAX_HTML_CHARS
                local.append(f"HTML body of {len(text):,} characters; only the first {cut:,} were read")
                text = text[:cut]
            text = html_to_text(text)
        if text.strip():
            if defects is not None:
                defects.extend(local)
            return lf, text
        chosen = chosen or lf
    return chosen, text


def body_text(msg: Message) -> str:
    """The body as plain text; "" when there is none. Never raises.

    Prefers text/plain (the first non-attachment text/plain part; within a
    multipart/alternative the plain alternative), else converts the HTML part
    with :func:`html_to_text`. Decodes any charset (see :func:`decode_bytes`),
    survives bad transfer encodings, undoes format=flowed, normalises line endings
    to ``\\n``, strips NULs, and reads at most :data:`MAX_TEXT_CHARS` characters.
    """
    return _body_text(msg, None)[1]


def _body_text(msg: Message, defects: list[str] | None) -> tuple[_Leaf | None, str]:
    try:
        leaves = _leaves(msg, defects)
        return _choose_body(leaves, defects)
    except Exception as exc:  # pragma: no cover - defensive
        if defects is not None:
            defects.append(f"could not read the body: {type(exc).__name__}")
        return None, ""


# --------------------------------------------------------------------------- attachments


def attachments(msg: Message) -> tuple[Attachment, ...]:
    """The non-body parts, in order. Never raises.

    A part is an attachment when its Content-Disposition is ``attachment``, when it
    has a filename (so a text/csv file is one, inline or not), or when it is an
    attached message (``message/rfc822``; its bytes are the whole message). The part
    chosen as the body and its text alternatives are not attachments.
    """
    try:
        return _attachments(msg, _leaves(msg), None)
    except Exception:  # pragma: no cover - defensive
        return ()


def _attachments(msg: Message, leaves: list[_Leaf], body: _Leaf | None) -> tuple[Attachment, ...]:
    out: list[Attachment] = []
    for lf in leaves:
        if not lf.attachment or (body is not None and lf.part is body.part):
            continue
        try:
            if lf.ctype.startswith("message/"):
                payload = lf.part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    data = payload[0].as_bytes()
                else:
                    data = _payload_bytes(lf.part, None, "attachment")
            else:
                data = _payload_bytes(lf.part, None, "attachment")
        except Exception:
            data = b""
        out.append(Attachment(filename=lf.filename, content_type=lf.ctype, data=data))
    return tuple(out)


# --------------------------------------------------------------------------- addresses


_MSGID = re.compile(r"<([^<>\s]{1,998})>")


def _msgids(value: str) -> tuple[str, ...]:
    ids = _MSGID.findall(value)
    if not ids:
        ids = [tok.strip("<>,;") for tok in value.split() if "@" in tok]
    seen: dict[str, None] = {}
    for i in ids:
        if i and i not in seen:
            seen[i] = None
    return tuple(seen)


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    if not values:
        return []
    try:
        pairs = email.utils.getaddresses([_FOLD.sub("", v)[:_MAX_HEADER_CHARS] for v in values])
    except Exception:
        return []
    return [(n, a) for n, a in pairs]


def _date(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except Exception:
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)  # "-0000": time zone unknown, read as UTC
    return when


# --------------------------------------------------------------------------- read_mail


def read_mail(raw: bytes, msg: Message | None = None) -> Mail:
    """Everything the parser can know from the message alone. Never raises.

    Fills every :class:`Mail` field except ``machine`` (left None). Message-IDs lose
    their angle brackets; ``from_addr`` and ``to_addrs`` are lower-cased addr-specs
    (``to_addrs`` from To, Cc, Delivered-To and X-Original-To, deduplicated, in that
    order); ``date`` is timezone-aware or None; ``new_text``, ``own_text``, ``body``,
    ``closing`` and ``signature`` come from :func:`mailflow.parse.extract.extract_parts`
    of ``body_text`` (the From display name as the sender's name); ``defects``
    lists, in words, the problems met (bad charsets, bad base64, caps hit...).
    See the module docstring for the limits on work.
    """
    defects: list[str] = []
    try:
        if msg is None:
            if raw is not None and len(raw) > MAX_RAW_BYTES:
                defects.append(f"message larger than {MAX_RAW_BYTES} bytes; only the start was read")
            msg = load(raw if raw is not None else b"")
        return _read(msg, defects)
    except Exception as exc:  # pragma: no cover - defensive: never raise
        defects.append(f"could not read the message: {type(exc).__name__}")
        return Mail(message_id="", from_addr="", from_name="", to_addrs=(), subject="", date=None,
                    in_reply_to=(), references=(), body_text="", new_text="",
                    defects=tuple(_dedupe(defects)))


def _read(msg: Message, defects: list[str]) -> Mail:
    from mailflow.parse.extract import Parts, extract_parts

    for defect in getattr(msg, "defects", []) or []:
        defects.append(_defect_text(defect))
    message_id = _msgids(_header(msg, "Message-ID", defects))
    from_name, from_addr = "", ""
    for name, addr in _addresses(_raw_header(msg, "From")):
        if "@" in addr:
            from_addr = addr.strip().lower()
            from_name = decode_words(name, defects, "header From")
            break
    if not from_addr:
        from_name = _header(msg, "From", defects)
    to: dict[str, None] = {}
    for hname in ("To", "Cc", "Delivered-To", "X-Original-To"):
        for _name, addr in _addresses(_raw_header(msg, hname, every=True)):
            addr = addr.strip().lower()
            if "@" in addr and addr not in to:
                to[addr] = None
    leaves = _leaves(msg, defects)
    body_leaf, text = _choose_body(leaves, defects)
    try:
        parts = extract_parts(text, names=(from_name,) if from_name else ())
    except Exception as exc:  # pragma: no cover - extraction never raises either
        defects.append(f"could not extract the new text: {type(exc).__name__}")
        parts = Parts(body=text, text=text, own=text)
    return Mail(
        message_id=message_id[0] if message_id else "",
        from_addr=from_addr,
        from_name=from_name,
        to_addrs=tuple(to),
        subject=_header(msg, "Subject", defects),
        date=_date(_header(msg, "Date", defects)),
        in_reply_to=_msgids(_header(msg, "In-Reply-To", defects)),
        references=_msgids(_header(msg, "References", defects)),
        body_text=text,
        new_text=parts.text,
        own_text=parts.own,
        body=parts.body,
        closing=parts.closing,
        signature=parts.signature,
        attachments=_attachments(msg, leaves, body_leaf),
        machine=None,
        defects=tuple(_dedupe(defects)),
    )


def _dedupe(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item not in seen:
            seen[item] = None
        if len(seen) >= _MAX_DEFECTS:
            break
    return list(seen)
