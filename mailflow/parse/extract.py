r"""The new text a person wrote, cut out of a plain-text reply, and split in three.

:func:`extract_parts` takes a body as :func:`mailflow.parse.mime.body_text` produces
it (quoting as ``>`` lines, ``\n`` line endings; HTML already converted, with
Outlook's reply header preceded by a ``____`` line) and returns what its author
wrote as :class:`Parts`: the **body** (the author's own words), the **closing** (the
valediction and the name under it) and the **signature** block, plus ``text`` (the
body with the quoted context of inline answers, then the closing) and ``own`` (the
same without the quoted lines). :func:`extract_new_text` returns ``text`` (or
``own``); :func:`extract_reply` returns the body, from the raw message bytes.

The text is read from the top, line by line. A line is *quoted* if it starts with
``>`` after at most three spaces (except ``> wrote:`` / ``>:``, which are the end of
an address wrapped inside a reply header). Other lines are the author's *text*,
unless they are one of the *markers* below.

1. Markers: where the new text ends
-----------------------------------
Everything from the first of these on is dropped:

* **A reply header followed by unquoted history.** A reply header (an
  *attribution*) is one line, or up to six lines joined (clients wrap long ones),
  that

  - ends in "wrote" in one of ~40 languages ("a écrit", "schrieb", "escribió",
    "schreef", "ha scritto", "escreveu", "skrev", "napisał(a)", "napsal",
    "написал", "пише", "írta", "kirjoitti", "yazdı", "写道", "작성", ...), then an
    optional colon, *and* holds a date, a time or an e-mail address — so "My
    manager wrote:" and "Something wrote:" are prose; or
  - holds such a verb elsewhere, ends in a colon, holds a date, and either starts
    like a header ("On", "Le", "Am", "El", "Op", "Den", "Dnia", a weekday, a digit)
    or has the address before the verb ("Am 2.3.2026 um 9:15 schrieb Sam:",
    "Sam <s@x> schrieb am Mo., 2. März 2026:"); or
  - ends in ``<address>:`` and holds a date (Gmail in Russian, Japanese...:
    "пн, 2 мар. 2026 г. в 09:15, Sam <s@x>:"); or
  - is Gmail's "2016-03-03 17:21 GMT+01:00 Name ..." or "2013/7/20 Name <addr>"; or
  - is "Quoting Name <addr>:" (Horde) and its translations; or
  - is mutt's "* Name <addr> [2026-03-02 09:15]:" (an address, then a bracketed
    date, then a colon); or "... <addr> sent:"; or
  - is "---- Name wrote ----" (dashes on both sides); or
  - is a short "Name wrote:" line with nothing else, directly above a quote.

  "wrote" without a colon counts only where the line starts like a header or
  holds an address. Lines of a wrapped header are joined with spaces, except
  inside ``<...>`` holding an address ("<sam@exa" + "mple.org>"). If the header's
  first line starts with text of the author's ("Yes, fine. On Mon, ... wrote:"),
  the line is split there and the text kept.

  A wrapped header starts at the nearest line above that starts like one, and
  never reaches above a line that ends a sentence.
* **An Outlook-style header block**: a "From:" line in any of ~25 languages
  ("Von:", "De :", "Van:", "Da:", "Od:", "Fra:", "Från:", "发件人:", "差出人:",
  "Oddi wrth:", also as ``*From:*``) whose value looks like a sender (not a date
  or a weekday), with a Sent/Date/Subject/Cc/Reply-To line, or a To line holding
  an address; or any three such fields including Sent/Date or Subject; or, without
  a From line, a dated Sent/Date line with a To line holding an address or a
  Subject line. Fields run onto one line by an HTML conversion ("From: Sam <s@x>
  Sent: Monday ... To: ...") count as lines of their own. "From: 3 March" /
  "To: 10 March" is the author's text.
* **Separators**: "-----Original Message-----", "-----Reply Message-----",
  "---------- Forwarded message ---------", "Begin forwarded message:",
  "Forwarded message:" and their translations ("Ursprüngliche Nachricht",
  "Antwort Nachricht", "Message transféré", "Mensaje original", "Neges
  wreiddiol", "Début du message réexpédié :", ...), between dashes, en or em
  dashes or "="; also when they open a quote.
* **A line of five or more underscores** (Outlook's separator; list footers).
* **A signature separator**: ``--`` alone on a line (``-- `` before stripping). The
  lines under it, up to the next marker or quote, are the signature (without
  trailing legal notices or list footers).
* **A device footer**: "Sent from my <up to five words>" (optionally ", please
  excuse typos"), "Sent from/with/via <a known app or device>" ("Sent from Outlook
  for iOS", "Sent with Airmail", "Sent from Yahoo Mail on Android"), "Get Outlook
  for Android", and the same in other languages ("Envoyé de mon iPhone", "Von
  meinem iPhone gesendet", "Enviado desde mi iPhone", "Inviato da iPhone",
  "Verzonden vanaf mijn iPad", "Sendt fra min iPad", "Skickat från min iPhone",
  "Wysłane z mojego iPhone'a", "Отправлено с iPhone", "iPhoneから送信",
  "从我的iPhone发送", "Anfonwyd o fy iPhone", "Lähetetty iPhonesta", "Von Yahoo Mail
  auf Android gesendet"), and "Get Outlook for iOS" in other languages ("Outlook
  für iOS herunterladen", "Obtener Outlook para iOS", "Hent Outlook til iOS", ...).
  "Sent from my desk, which is easier" and "Sent from a magnificent torch of
  pixels" are prose.
* **"Reply above this line"** markers of ticketing systems.

2. When a marker comes first
----------------------------
* A separator, ``____`` line, signature separator or device footer before any
  text: the author wrote nothing (a forward without a note, an empty reply from a
  phone). The result is "".
* A reply header ("On ... wrote:") before any text, followed by unquoted text: the
  same. What follows is the message being answered, quoted without ``>`` (an
  empty reply; never the author's text: a reply header always introduces someone
  else's message).
* A header block before any text, without a separator: unlike a reply header, this
  can be the message's own header, pasted or exported with it (printed mail,
  some gateways). It is skipped and reading goes on below it.

So a **forwarded message** gives the note written above the forward separator; the
forwarded message itself is never part of the new text.

3. Quoted blocks
----------------
A quoted block is a run of quoted lines (blank lines inside the run included, and
an unquoted line squeezed between two quoted lines that is the tail of a long
quoted line hard-wrapped without its ``>``: the line above is 50 characters or
more and stops mid-sentence, and this one goes on in lower case), together with
the reply header directly above it, if any (its *attribution*). A block is
*attributed* if it has such a header, or if it opens with one (or with an Outlook
header block).

* **Quoted history**: a block with no new text after it (only blank lines, a
  signature, a footer, further quotes, or paragraphs that are legal notices or
  mailing-list footers added by a server) is dropped, with everything after it.
  This is the usual top-posted reply.
* **Inline answers**: a block with new text both before and after it is kept in
  ``text`` (``Mail.new_text``), with its attribution, as the context of the
  answers (the question each answer answers). The body, and ``own``, hold only
  the lines the author typed.
* **A block at the very top** (before any new text): attributed, it is the message
  being answered below (a bottom-posted reply) and is dropped — unless the author
  answered below two or more blocks (an interleaved reply), in which case it is
  kept as context like any inline block. Unattributed, it is something the author
  chose to cite, and is kept.
* **A reply that is only quotes**: "" if the first block is attributed (someone
  pressed reply and sent); otherwise the quote itself is the body (something the
  author chose to send; ``own`` is "").

4. Body, closing and signature
------------------------------
The author's lines after the last quote (all of them when there is none) end with
what :func:`mailflow.parse.signoff.split_tail` finds, read from the end upwards
(its docstring has the details):

* trailing lines without letters or digits ("***", "====", "[...]", the "ᐧ" of
  mail trackers) and trailing paragraphs that are legal notices or mailing-list
  footers are dropped; a paragraph with two or more ``Label: value`` lines is a
  filled form, never a notice, and a notice needs a notice phrase ("intended
  recipient", "received this e-mail in error", "confidential and may be
  privileged", ...): "confidential" alone is someone's word;
* the **closing** is a valediction in one of the schemes' languages ("Kind
  regards,", "Diolch / Thanks,", "Mit freundlichen Grüßen", "Met vriendelijke
  groet", "Un saludo", "Atenciosamente", "Cordiali saluti", "Med vänlig hälsning",
  "Mvh", ...; two of them for a bilingual sign-off; "Thanks, Ann" on one line)
  with only signature-shaped lines under it, together with the name under it; or
  a name glued to a dash or slash ("-Ann", "—Ryan", "//Jef"); or a last line that
  is the sender's own first name, full name or initials (the From display name,
  and in :func:`mailflow.parse.understand` the enrolled name, are the evidence).
  A valediction with nothing under it ("Thanks!") is the author's words and stays
  in the body; "Thank you" with text after it is never a closing;
* the **signature** is what follows the name under a closing, or a last paragraph
  that starts with a name and holds contact details (phone, e-mail, URL, address,
  job title, organisation, "|" separators), and the lines under a ``--`` line.

None of these rules empties the body: a valediction with nothing above it stays
in the body (its name is the closing), and a signature block or a bare name needs
text above it. In an interleaved reply a name (or valediction and name) ending
the note above the first quote is the closing when nothing closes the reply at
the end ("Our answers are below.\n\nRenée").

5. Output
---------
Each part: the kept lines, trailing spaces removed, zero-width and bidirectional
marks removed, leading and trailing blank lines dropped. In ``body`` and ``own``,
runs of blank lines left where quotes were are squeezed to one.

Note for consumers: in the inline-answer and interleaved cases ``text`` holds
``>`` lines and a reply-header line; read commands from ``own``, and pass on only
``body``.

Performance
-----------
One pass over the lines, stopping at the first marker; each line is tested with a
few anchored regular expressions, only if it is shorter than 1,000 characters
(reply headers: 300 per line, 500 joined), after cheap checks on its first and last
characters. No pattern nests quantifiers over overlapping classes; the few that
could backtrack over a run are possessive. The sign-off rules look at no more than
the last 200 of the author's lines. Time is linear in the size of the text, and at
most :data:`MAX_CHARS` characters are read.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailflow.parse.signoff import Names, is_notice, split_tail

__all__ = ["MAX_CHARS", "Parts", "extract_new_text", "extract_parts", "extract_reply", "starts_history"]

MAX_CHARS = 2 * 1024 * 1024
MAX_LINES = 6000  # lines read of a longer body: its first and last 3,000 (see _extract)
_MAX_LINE = 1000  # longer lines are never tested against marker patterns
_MAX_MARKER_LINE = 200  # one-line markers (footers, forward intros) are short
_MAX_ATTR_LINE = 300
_MAX_ATTR_JOINED = 500
_ATTR_LOOKBACK = 6  # physical lines an attribution may span
_MAX_SHORT_ATTR = 100  # "Name wrote:" just above a quote

# --------------------------------------------------------------------------- vocabulary

# "wrote" in the languages mail clients write attributions in. Words of scripts that
# separate words by spaces need a boundary before them; CJK ones do not.
_VERBS = (
    r"wrote|writes|has written|a écrit|a ecrit|écrit|schrieb|hat geschrieben|escribió|escribio|ha escrito|"
    r"ha escrit|va escriure|escreveu|ha scritto|scrisse|schreef|het volgende geschreven|geschreven|skrev|"
    r"skriver|skrifaði|kirjoitti|kirjutas|napisał\(a\)|napisała|napisał|napisal\(a\)|napisala|napisal|pisze|"
    r"napsal\(a\)|napsala|napsal|napísal|написал\(а\)|написала|написал|написав|написа|пише|пишет|írta|"
    r"a scris|je napisal|je napisao|napisao je|rašė|rakstīja|yazdı|έγραψε|כתב|כתבה|كتب|نوشت|đã viết|"
    r"menulis|เขียน"
)
_CJK_VERBS = r"写道|寫道|작성|のメッセージ|が書きました"
_VERB_WORDS = tuple(v.replace("\\", "") for v in _VERBS.split("|"))
_CJK_VERB_WORDS = tuple(_CJK_VERBS.split("|"))
_VERB_LAST = frozenset(v.split()[-1].split("(")[0] for v in _VERB_WORDS) | frozenset(
    v.split()[-1] for v in _VERB_WORDS)
_VERB_BOUNDARY = frozenset(" \t\"'>)],;、，(")
_VERB_ANY = re.compile(
    r"(?:^|[\s\"'>)\],;、，(])(?:" + _VERBS + r")(?=[\s:：,(]|$)|(?:" + _CJK_VERBS + r")", re.I
)
_STARTERS = r"on|le|am|el|em|il|op|den|dnia|w dniu|dne|på|at|in|en|o|pe|στις|в|у|在|kl|bij"
_WEEKDAYS = (
    r"mon|tue|wed|thu|fri|sat|sun|lun|mar|mer|mié|mie|jeu|ven|sam|dim|lu|ma|mi|ju|vi|sá|sa|do|"
    r"mo|di|fr|so|ti|on|to|lø|sø|må|tis|ons|tor|fre|lör|sön|man|tir|lør|søn|wo|vr|za|zo|"
    r"pon|wt|śr|czw|pt|sob|niedz|po|út|st|čt|pá|ne|пн|вт|ср|чт|пт|сб|вс|понедельник|вторник|среда|"
    r"четверг|пятница|суббота|воскресенье|seg|ter|qua|qui|sex|sáb|dom"
)
_STRONG_START = re.compile(
    r"^[-*\s]*+(?:(?:" + _STARTERS + r")(?=[\s,])|(?:" + _WEEKDAYS + r")(?:\.?,?\s+\d|[.,])|\d)", re.I
)
_EMAIL_DOMAIN = re.compile(r"[\w-]{1,63}+(?:\.[\w-]{1,63}+){1,8}")
_DATE = re.compile(
    r"\d{1,2}[:.h]\d{2}(?!\d)|(?<!\d)(?:19|20)\d\d(?!\d)|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,4} ?[年月]"
)
_ANGLE_EMAIL_COLON = re.compile(r"<\s?(?:mailto:)?[^<>\s@]{1,64}@[^<>\s]{1,255}\s?>\s?[:：]$")
_GMAIL_DATE_LINE = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\.? {1,3}\d{1,2}:\d{2}(?::\d{2})? ?(?:GMT|UTC) ?[+-]\d{1,2}(?::?\d{2})?(?:\s|$)"
)
_DATE_EMAIL_LINE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,200}<[^<>\s@]{1,64}@[^<>\s]{1,255}>\s?[:：]?$")
_QUOTING = re.compile(r"^(?:quoting|zitat von|citando|citation de|cytując|citerar)\s.{1,200}[:：]$", re.I)
_DECORATION = " \t-*_=~"
_MUTT_TAIL = re.compile(r"<[^<>\s@]{1,64}@[^<>\s]{1,255}>\s?[\[(][^\[\]()]{0,60}\d[^\[\]()]{0,60}[\])]\s?[:：]$")
_ADDR_SENT = re.compile(
    r"(?:<[^<>\s@]{1,64}@[^<>\s]{1,255}>|[^\s@<>]{1,64}@[\w.-]{1,255}\)?)\s?(?:sent|has sent|a envoyé|hat gesendet|"
    r"envió|ha enviado|ha inviato|heeft verzonden|heeft gestuurd|enviou|skickade|sendte|anfonodd)\s?[:：]?$",
    re.I,
)

# One-line markers, tested on a cleaned line shorter than _MAX_MARKER_LINE.
_FORWARD_WORDS = (
    r"original message|forwarded message|forwarded e-?mail|ursprüngliche nachricht|weitergeleitete nachricht|"
    r"originalnachricht|message d'origine|message d’origine|message original|message transféré|"
    r"mensaje original|mensaje reenviado|messaggio originale|messaggio inoltrato|"
    r"oorspronkelijk bericht|origineel bericht|doorgestuurd bericht|oprindelig meddelelse|"
    r"videresendt meddelelse|videresendt besked|opprinnelig melding|videresendt melding|"
    r"ursprungligt meddelande|vidarebefordrat meddelande|wiadomość oryginalna|oryginalna wiadomość|"
    r"przekazana wiadomość|wiadomość przekazana|původní zpráva|přeposlaná zpráva|pôvodná správa|"
    r"eredeti üzenet|továbbított üzenet|alkuperäinen viesti|välitetty viesti|исходное сообщение|"
    r"пересылаемое сообщение|оригинальное сообщение|пересланное сообщение|mensagem original|"
    r"mensagem encaminhada|原始邮件|转发的邮件|原始郵件|轉寄的郵件|元のメッセージ|転送されたメッセージ|"
    r"원본 메시지|전달된 메시지|orijinal ileti|iletilen ileti|mesaj original|αρχικό μήνυμα|"
    r"reply message|antwort nachricht|antwortnachricht|antwort-nachricht|message de réponse|"
    r"mensaje de respuesta|messaggio di risposta|mensagem de resposta|antwoordbericht|svarmeddelande|"
    r"svarmelding|svarmeddelelse|vastausviesti|neges wreiddiol|neges wedi'i hanfon ymlaen|"
    r"neges a anfonwyd ymlaen|original e-?mail|e-mail d'origine|originalmeddelande|originalmelding|"
    r"oorspronkelijke e-?mail|messaggio originale inoltrato|ursprüngliche e-?mail"
)
_FORWARD_LINE = re.compile(
    r"^[*_]{0,2} ?[-—–=]{2,}+ ?(?:(?:" + _FORWARD_WORDS + r") ?[-—–=]* ?[*_]{0,2}|forwarded by .{1,150})$"
)
_FORWARD_INTRO = (
    r"[*_]{0,2} ?(?:begin forwarded message|forwarded message|début du message réexpédié|"
    r"début du message transféré|anfang der weitergeleiteten nachricht|weitergeleitete nachricht|"
    r"inicio del mensaje reenviado|mensaje reenviado|inizio messaggio inoltrato|messaggio inoltrato|"
    r"begin doorgestuurd bericht|doorgestuurd bericht|início da mensagem reencaminhada|"
    r"mensagem encaminhada|vidarebefordrat meddelande|videresendt meddelelse|videresendt melding|"
    r"начало переадресованного сообщения|пересылаемое сообщение|転送されたメッセージ|"
    r"forwarded e-?mail) ?[:：] ?[*_]{0,2}$"
)
_SENT = (
    r"sent|envoyé|gesendet|enviado|enviada|inviato|verzonden|verstuurd|sendt|skickat|lähetetty|"
    r"wysłane|wysłano|odesláno|отправлено|надіслано|gönderildi|anfonwyd|enviat|trimis|odesláno"
)
_PREP = (
    r"from|with|via|using|by|on|de|depuis|à partir de|avec|von|mit|vom|über|desde|do|dal|da|com|con|"
    r"vanaf|met|van|fra|från|z|ze|s|с|из|со|з|o|oddi ar|des de|dalla|dallo|frá"
)
_MY = (
    r"my|mon|ma|meinem|meiner|mein|mi|meu|minha|o meu|a minha|mio|mia|il mio|mijn|min|mitt|mojego|"
    r"mého|мого|моего|моей|fy|el meu|la meva|mea|mín"
)
_DEVICES = (
    r"iphone|ipad|ipod|android|blackberry|samsung|galaxy|mobile|mobil|outlook|yahoo|mail|mailbox|airmail|"
    r"gmail|aol|windows|proton|protonmail|spark|newton|bluemail|edison|huawei|xiaomi|nokia|motorola|htc|"
    r"sony|pixel|tablet|phone|cell|smartphone|superhuman|fastmail|thunderbird|handy|mobilgerät|"
    r"téléphone|teléfono|telefone|telefono|telefoon|telefon|телефона|мобильного"
)
_FOOTERS = (
    # "Sent from my <up to five words>", optionally "please excuse typos"
    r"[(<\[]* ?(?:" + _SENT + r") (?:" + _PREP + r") (?:" + _MY + r")(?: +[\w\-.&+'’]+){1,5}[.!]?"
    r"(?:(?: ?[,.;:—–-])? ?(?:please +)?(?:excuse|pardon|forgive|sorry|apologies|disculpa|désolé|entschuldig)"
    r"\b.{0,60})? ?[)>\]]*",
    # "Sent from Outlook for iOS", "Sent with Airmail", "Sent from [mail](...) for windows 10"
    r"[(<\[]* ?(?:" + _SENT + r") (?:" + _PREP + r") (?:an? |the |el |la |le |il |o |mi |my )?[\[(]?(?:"
    + _DEVICES + r")\b.{0,80}",
    r"(?:get|download|obtenir|télécharger|holen sie sich|descargar|descarga|obtener|obtén|scarica|baixe|"
    r"baixar|obter|obtenha|hent|skaffa|hämta|hanki|lataa|pobierz|cael|få|aconsegueix|ia) "
    r"(?:(?:the|l'application|la aplicación|o|a|aplikację|app(?:en)?) )?\[?outlook\b.{0,80}",
    r"\[?outlook (?:for|für|voor|til|för) .{1,40} (?:herunterladen|downloaden|abrufen|beziehen|hentes|laden)",
    r"(?:von|van|fra|från) .{0,40}\b(?:iphone|ipad|android|samsung|galaxy|outlook|yahoo|proton|mail)\b.{0,40} "
    r"(?:gesendet|verzonden|verstuurd|sendt|skickat)\.?",
    r"lähetetty \S{1,30}(?:sta|stä)(?: .{1,40})?",
    r"(?:from|von|de|desde) (?:my|meinem|mon|mi) (?:iphone|ipad|android|phone|mobile|samsung|galaxy|"
    r"blackberry|handy|mobilgerät)\b.{0,30}",
    r"<<\s?sent by .{1,40}>>",
    r"(?:von|van|fra|från) (?:meinem|mijn|min) .{1,60} (?:gesendet|verzonden|verstuurd|sendt|skickat)\.?",
    r"diese nachricht wurde von meinem .{1,80} gesendet\.?",
    r"從我的 ?\S{1,30} ?傳送",
    r"(?:从|发自|来自)我的 ?\S{1,30}(?: ?发送)?",
    r"\S{1,30}から送信",
)
# Applied to the lower-cased line (case-sensitive matching of lower-case patterns is
# several times faster than re.IGNORECASE).
_LINE_MARKER = re.compile(
    r"^(?:(?P<forward>" + _FORWARD_INTRO + r")|(?P<footer>(?:" + "|".join(_FOOTERS) + r")$))"
)
_REPLY_ABOVE = re.compile(
    r"^.{0,60}(?:reply|write|respond|type your (?:reply|response)|antworten sie|répondez|responda)"
    r".{0,30}(?:above this line|über dieser zeile|au-dessus de cette ligne|por encima de esta línea)"
)
_UNDERSCORES = re.compile(r"^_{5,}$")

# Header fields of Outlook/forward blocks, by category.
_F_FROM = (
    r"from|von|de|van|da|od|fra|från|frå|lähettäjä|feladó|от|від|kimden|από|remetente|mittente|"
    r"afzender|absender|expéditeur|expediteur|nadawca|odesílatel|发件人|發件人|寄件者|寄件人|差出人|送信者|"
    r"보낸 사람|보낸사람|oddi wrth|oddiwrth"
)
_F_SENT = (
    r"sent|date|datum|data|fecha|gesendet|envoyé|envoyé le|enviado|enviada|enviado el|inviato|verzonden|"
    r"verstuurd|wysłano|wysłane|sendt|skickat|lähetetty|päivämäärä|elküldve|dátum|отправлено|дата|надіслано|"
    r"gönderildi|tarih|发送时间|發送時間|日期|時間|送信日時|日時|보낸 날짜|날짜|message du|sent at|ημερομηνία|"
    r"anfonwyd|dyddiad"
)
_F_TO = (
    r"to|an|à|a|para|aan|til|till|do|vastaanottaja|címzett|кому|komu|kime|收件人|收件者|宛先|받는 사람|"
    r"받는사람|pour|destinataire|προς|at"
)
_F_CC = r"cc|kopie|copie à|copie|kopia|kopio|копия|抄送|副本|참조|bcc"
_F_SUBJECT = (
    r"subject|betreff|objet|sujet|asunto|assunto|oggetto|onderwerp|emne|ämne|temat|aihe|tárgy|тема|"
    r"konu|předmět|predmet|主题|主題|主旨|件名|제목|θέμα|pwnc"
)
_F_REPLY = r"reply-to|reply to|répondre à|antwort an|risposta|responder a|rispondi a|svara till"
_FIELD_KINDS = ("f_from", "f_sent", "f_to", "f_cc", "f_subject", "f_reply")
_FIELD = re.compile(
    r"^[*_]{0,2} ?(?:" + "|".join(
        f"(?P<{k}>{v})" for k, v in zip(_FIELD_KINDS, (_F_FROM, _F_SENT, _F_TO, _F_CC, _F_SUBJECT, _F_REPLY))
    ) + r")[ \t]*(?:[*_]{1,2}[ \t]*)?[:：][ \t]*(?:[*_]{1,2})?(?P<value>.*)$",
    re.I,
)
_RUN_ON = re.compile(
    r"(?:^|\s|>)((?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|objet|à|enviado|fecha|asunto|"
    r"para|inviato|data|oggetto|verzonden|aan|onderwerp|skickat|till|ämne|sendt|til|emne)[ \t]?[:：])\s",
    re.I,
)
_NOT_SENDER = re.compile(
    r"^\W*(?:\d|(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b)",
    re.I,
)

_ALNUM = re.compile(r"[^\W_]")
_DIGIT = re.compile(r"\d")
_ZERO_WIDTH = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u00ad\u202a\u202b\u202c\u202d\u202e"
             "\u2066\u2067\u2068\u2069\u1427"),
    None,
)
_BROKEN_ADDR_TAIL = re.compile(r"^>[ \t]*+(?:(?:" + _VERBS + r")[ \t]?)?[:：]?$", re.I)


# --------------------------------------------------------------------------- line tests


def _clean(line: str) -> str:
    """The line as markers see it: stripped; zero-width and bidi marks removed; NBSP a space."""
    c = line.strip()
    if c and not c.isascii():
        c = c.translate(_ZERO_WIDTH).replace("\xa0", " ").strip()
    return c


def _is_quoted(line: str) -> bool:
    """A ``>`` line (at most three spaces before the ``>``)."""
    if not line:
        return False
    first = line[0]
    if first != ">":
        if first not in " \t":
            return False
        s = line.lstrip(" \t")
        if not s.startswith(">") or len(line) - len(s) > 3:
            return False
    else:
        s = line
    # "<addr\n> wrote:" and "<addr\n>:" are a wrapped attribution, not a quote.
    if len(s) < 40:
        t = s.rstrip()
        if len(t) > 1 and (t[-1] in ":：" or t[-1].isalpha()) and _BROKEN_ADDR_TAIL.match(t):
            return False
    return True


def _is_junk(line: str) -> bool:
    """No letters or digits: decoration lines, tracking marks, stray punctuation."""
    return _ALNUM.search(line if line.isascii() else _clean(line)) is None


def _unquote(line: str) -> str:
    s = line.lstrip(" \t")
    while s.startswith(">"):
        s = s[1:].lstrip(" \t")
    return s


def _hard_marker(c: str) -> str | None:
    """The kind of one-line marker the cleaned line ``c`` is, or None."""
    if not c or len(c) >= _MAX_LINE:
        return None
    lc = c.lower()
    if lc[0] in "-*_—–=":
        if c == "--":
            return "signature"
        if _UNDERSCORES.match(c):
            return "separator"
        if _FORWARD_LINE.match(lc):
            return "forward"
    if len(c) <= _MAX_MARKER_LINE:
        m = _LINE_MARKER.match(lc)
        if m is not None:
            return "forward" if m.group("forward") else "footer"
        if ("line" in lc or "zeile" in lc or "ligne" in lc or "línea" in lc) and _REPLY_ABOVE.match(lc):
            return "separator"
    return None


def _field(c: str):
    if len(c) > _MAX_LINE or (":" not in c[:60] and "：" not in c[:60]):
        return None
    return _FIELD.match(c)


def _header_block(lines: list[str], i: int, c: str | None = None) -> int:
    """End (exclusive) of an Outlook/forward header block starting at line i, or -1."""
    m = _field(_clean(lines[i]) if c is None else c)
    if m is None:
        return -1
    kinds: dict[str, str] = {}
    j = end = i
    blanks = 0
    n = len(lines)
    while j < n and j - i < 14:
        c = _clean(lines[j])
        if not c:
            blanks += 1
            if blanks > 2:
                break
            j += 1
            continue
        m = _field(c)
        if m is None:
            # a wrapped value ("Subject: a long subject\nthat goes on") continues a field
            if end == j and kinds and len(c) < 120 and blanks == 0 and not _is_quoted(lines[j]):
                j = end = j + 1
                continue
            break
        kind = next(k for k in _FIELD_KINDS if m.group(k))
        value = m.group("value").strip()
        if ":" in value or "：" in value:
            # fields run onto one line by an HTML conversion: "From: Sam <s@x> Sent: Monday ..."
            cut = len(value)
            for r in _RUN_ON.finditer(value):
                f = _FIELD.match(r.group(1).rstrip(":： \t") + ": x")
                if f is not None:
                    cut = min(cut, r.start())
                    other = next(k for k in _FIELD_KINDS if f.group(k))
                    kinds.setdefault(other, value[r.end():].strip())
            value = value[:cut].strip()
        kinds.setdefault(kind, value)
        blanks = 0
        j = end = j + 1
    if len(kinds) < 2:
        return -1
    sender = kinds.get("f_from")
    if sender is not None and ("@" in sender or "<" in sender or (sender and not _NOT_SENDER.match(sender))):
        if kinds.keys() & {"f_sent", "f_subject", "f_cc", "f_reply"}:
            return end
        if "@" in kinds.get("f_to", "") or "<" in kinds.get("f_to", ""):
            return end
    if len(kinds) >= 3 and (kinds.keys() & {"f_sent", "f_subject"}):
        return end
    sent = kinds.get("f_sent")
    if sent is not None and sender is None and (_DIGIT.search(sent) or _NOT_SENDER.match(sent)):
        # "Date: ... / To: <address>" or "Date: ... / Subject: ..." without a From line
        if "@" in kinds.get("f_to", "") or "<" in kinds.get("f_to", "") or "f_subject" in kinds:
            return end
    return -1


def _email_at(s: str) -> int:
    """Position of the first e-mail address in ``s`` (its "@"), or -1. Linear."""
    i = s.find("@")
    tries = 0
    while i > 0 and tries < 10:
        before = s[i - 1]
        if (before.isalnum() or before in "._+-'") and _EMAIL_DOMAIN.match(s, i + 1):
            return i
        i = s.find("@", i + 1)
        tries += 1
    return -1


def _is_attribution(joined: str) -> bool:
    """Whether a (possibly joined) line is a reply header such as "On ..., X wrote:"."""
    s = joined.strip(_DECORATION)
    if not s or len(s) > _MAX_ATTR_JOINED:
        return False
    j = joined.strip()
    if j.startswith("--") and j.endswith("--") and len(s.split()) <= 12 and _verb_at_end(s):
        return True  # "---- Ann Lee wrote ----"
    if "@" not in s and _DIGIT.search(s) is None:
        return s[-1] in ":：" and _QUOTING.match(s) is not None
    at = _email_at(s)
    has_date = _DATE.search(s) is not None
    if (has_date or at >= 0) and _verb_at_end(s):
        # "wrote" without a colon: only where it starts like a header or names an address
        if s[-1] in ":：" or at >= 0 or _STRONG_START.match(s):
            return True
    if at >= 0 and s[-1] in ":：]" and (_MUTT_TAIL.search(s) or _ADDR_SENT.search(s)):
        return True  # "* Ann Lee <ann@x> [2026-03-02 09:15]:", "... <ann@x> sent:"
    if at >= 0 and _ADDR_SENT.search(s) and (has_date or _STRONG_START.match(s)):
        return True
    if s[-1] in ":：":
        if has_date:
            verb = _VERB_ANY.search(s)
            if verb is not None and (_STRONG_START.match(s) or 0 <= at < verb.start()
                                     or s[verb.end():].lstrip().lower().startswith(("on ", "am "))):
                return True
            if at >= 0 and _ANGLE_EMAIL_COLON.search(s):
                return True
        if _QUOTING.match(s):
            return True
    if s[0].isdigit() and (_GMAIL_DATE_LINE.match(s) or _DATE_EMAIL_LINE.match(s)):
        return True
    return False


def _attribution(lines: list[str], e: int, floor: int, c: str) -> int:
    """Start of an attribution ending at line e (cleaned: ``c``), not above ``floor``; or -1.

    The line alone is tried first: if it is an attribution that starts like one (a
    starter word such as "On"/"Le"/"Am", a weekday, a digit) it is the whole
    header. Otherwise up to five lines above are joined to it (blank lines skipped,
    never across a quoted line or the end of a sentence); the shortest join whose
    first line starts like an attribution wins, else the shortest that is one at all
    (its first line holding an address).
    """
    if len(c) > _MAX_ATTR_LINE or not (c[-1] in ":：-]" or c[0].isdigit() or (c[-1].isalpha() and _verb_at_end(c))):
        return -1
    single = _is_attribution(c)
    if single and _STRONG_START.match(c):
        return e
    if not single and not (_verb_at_end(c) or ">" in c[-3:] or _DATE.search(c)):
        return -1  # a wrapped attribution ends with "wrote:", "<addr>:" or a date
    weak = e if single else -1
    pieces = [c]
    total = len(c)
    s = e - 1
    while s >= floor and e - s < _ATTR_LOOKBACK:
        raw = lines[s]
        if _is_quoted(raw):
            break
        p = _clean(raw)
        s -= 1
        if not p:
            continue
        if len(p) > _MAX_ATTR_LINE:
            break
        total += len(p) + 1
        if total > _MAX_ATTR_JOINED:
            break
        if p[-1] in ".!?…" and not (len(p) > 1 and p[-2].isdigit()):
            break  # a sentence ends here: the attribution cannot reach above it
        pieces.append(p)
        strong = _STRONG_START.match(p) is not None
        if not strong and " " in p and _inner_attribution(p, lines, s + 1, e) > 0:
            return s + 1  # "Yes, fine. On Mon, 2 Mar 2026, Sam" + "<s@x> wrote:"
        if not strong and weak >= 0:
            continue
        if (strong or "@" in p or "<" in p) and _is_attribution(_join(pieces)):
            if strong:
                return s + 1
            weak = s + 1
    return weak


def _join(pieces: list[str]) -> str:
    """Lines of a wrapped attribution (given last first) joined; no space is put into
    an address broken inside its angle brackets ("<sam@exa" + "mple.org>")."""
    out = pieces[-1]
    for k in range(len(pieces) - 2, -1, -1):
        p = pieces[k]
        lt = out.rfind("<")
        if lt >= 0 and lt > out.rfind(">") and lt < len(out) - 1 and ("@" in out[lt:] or "@" in p.split(">", 1)[0]):
            out += p
        else:
            out += " " + p
    return out


def _verb_at_end(s: str) -> bool:
    """Whether ``s`` ends with "wrote" (any language), then at most a colon."""
    tail = s[-40:].rstrip(" \t:：")
    if tail.isascii() and not tail.endswith(")"):
        # cheap test first: the last word must end a verb ("wrote", "schrieb", "skrev")
        k = len(tail)
        while k > 0 and tail[k - 1] not in _VERB_BOUNDARY:
            k -= 1
        if tail[k:].lower() not in _VERB_LAST:
            return False
    t = s.rstrip(" \t:：").lower()
    if t.endswith(_CJK_VERB_WORDS):
        return True
    if not t.endswith(_VERB_WORDS):
        return False
    for verb in _VERB_WORDS:
        if t.endswith(verb) and (len(t) == len(verb) or t[-len(verb) - 1] in _VERB_BOUNDARY):
            return True
    return False


def _short_attribution(c: str) -> bool:
    """"Name wrote:" with no date or address: an attribution only right above a quote."""
    return len(c) <= _MAX_SHORT_ATTR and c[-1] in ":：" and len(c.split()) <= 10 and _verb_at_end(c)


# --------------------------------------------------------------------------- extraction


class _Quote:
    __slots__ = ("attr", "start", "end", "attributed")

    def __init__(self, attr: tuple[int, int] | None, start: int, end: int, attributed: bool):
        self.attr = attr
        self.start = start
        self.end = end
        self.attributed = attributed


def _quote_block_end(lines: list[str], i: int) -> int:
    """End (exclusive) of the quoted run starting at line i; blank lines inside count."""
    n = len(lines)
    j = end = i + 1
    while j < n:
        line = lines[j]
        if _is_quoted(line):
            j = end = j + 1
        elif not line.strip() or not _clean(line):
            j += 1
        elif j == end and j + 1 < n and _is_quoted(lines[j + 1]) and _wrap_fragment(lines[j - 1], line):
            j = end = j + 1  # a quoted line's tail, wrapped without its ">" by the replier's client
        else:
            break
    return end


def _wrap_fragment(above: str, line: str) -> bool:
    """Whether ``line`` (unquoted, between two quoted lines) is the end of the quoted
    line above it, hard-wrapped after quoting: that line is long and stops mid-sentence,
    and this one goes on in lower case."""
    prev = _unquote(above).rstrip()
    c = line.strip()
    return (len(prev) >= 50 and prev[-1] not in ".!?:;" and 0 < len(c) <= 80 and c[0].islower()
            and len(prev) + len(c) >= 66)


def _quote_opening(lines: list[str], start: int, end: int, full: bool = True) -> str | None:
    """How a quoted block opens: "forward" (a forwarded message), "attribution", or None.

    Whether it is attributed only matters for a quote at the top; ``full=False``
    checks for a forwarded message only.
    """
    inner: list[str] = []
    for k in range(start, min(end, start + 16)):
        content = _unquote(lines[k])
        if inner or _clean(content):
            inner.append(content)
            if not full:
                break
    if not inner:
        return None
    first = _clean(inner[0])
    kind = _hard_marker(first)
    if kind in ("forward", "separator"):
        return "forward"
    if not full:
        return None
    if _header_block(inner, 0, first) > 0:
        return "attribution"
    for k in range(min(len(inner), 4)):
        c = _clean(inner[k])
        if c and _attribution(inner, k, 0, c) >= 0:
            return "attribution"
    return None


def starts_history(lines: Sequence[str], i: int) -> bool:
    """Whether line ``i`` starts what :func:`extract_new_text` cuts away: a reply header
    ("On ... wrote:" and its translations), an Outlook From:/Sent: block, a separator,
    a forward, a signature or a device footer. Other readers of a reply (the form
    reader) use it to stop where the new text ends."""
    c = _clean(lines[i])
    if not c:
        return False
    return _hard_marker(c) is not None or _header_block(lines, i, c) >= 0 or _is_attribution(c)


@dataclass(frozen=True)
class Parts:
    """What the author of a reply wrote, split up (see the module docstring, rule 4).

    ``body``       the author's own words: no quoted lines, no closing, no signature,
                   no footer or disclaimer. What mailflow passes on or aggregates.
    ``closing``    the valediction and the name under it ("Best regards,\\nAnn"), or a
                   name alone ("-Ann", "Ann" where Ann is the sender); "" when none.
    ``signature``  the signature block: the lines under a ``-- `` line, or name, job
                   title, organisation, phone, address lines under the text; "".
    ``text``       the body with the quoted context of inline answers (the quoted
                   lines and their reply header) kept where they were, then the
                   closing: ``Mail.new_text``.
    ``own``        ``text`` without the quoted lines: the body, then the closing
                   (``Mail.own_text``).
    """

    body: str = ""
    closing: str = ""
    signature: str = ""
    text: str = ""
    own: str = ""


def extract_new_text(text: str, *, keep_quotes: bool = True) -> str:
    """The new text the author wrote, from a plain-text body. Never raises.

    ``keep_quotes=True`` gives :attr:`Parts.text` (inline answers keep their quoted
    context), ``keep_quotes=False`` :attr:`Parts.own` (only lines the author typed).
    Both end with the closing, if any; see :func:`extract_parts` for the body alone.
    """
    parts = extract_parts(text)
    return parts.text if keep_quotes else parts.own


def extract_parts(text: str, *, names: Iterable[str] = ()) -> Parts:
    """The body, closing and signature the author wrote, from a plain-text body.

    ``names`` are the sender's names (the From display name, the enrolled name):
    evidence that a lone first name or initials on the last line is a sign-off.
    Never raises.
    """
    try:
        return _extract(text, Names(names))
    except Exception:  # pragma: no cover - defensive: a bug must not lose the message
        t = (text or "").strip()
        return Parts(body=t, text=t, own=t)


def _signature_end(lines: list[str], i: int) -> int:
    """End (exclusive) of the signature that starts at line i (after a ``--`` line)."""
    n = len(lines)
    j = i
    blanks = 0
    while j < n and j - i < 20:
        line = lines[j]
        c = _clean(line)
        if not c:
            blanks += 1
            if blanks > 2:
                break
            j += 1
            continue
        blanks = 0
        if _is_quoted(line) or _hard_marker(c) is not None or _is_attribution(c):
            break
        if (":" in c[:60] or "：" in c[:60]) and _header_block(lines, j, c) > 0:
            break
        if _STRONG_START.match(c) and _attribution_starts(lines, j):
            break  # a reply header wrapped over lines: "On Mon, ... <" / "s@x> wrote:"
        j += 1
    return j


def _attribution_starts(lines: list[str], j: int) -> bool:
    """Whether an attribution wrapped over up to four lines starts at line j."""
    for k in range(j, min(j + 4, len(lines))):
        ck = _clean(lines[k])
        if ck and (ck[-1] in ":：-]" or (ck[-1].isalpha() and _verb_at_end(ck))) and _attribution(lines, k, j, ck) == j:
            return True
    return False


def _extract(text: str, names: Names) -> Parts:
    if not text:
        return Parts()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        # A bound on the work (issue 12: 40,000 alternating quote/answer pairs took
        # 0.4 s): the first and the last MAX_LINES / 2 lines are read, where a reply
        # written on top of, or under, its history is; the middle is left out.
        lines = lines[:MAX_LINES // 2] + lines[-(MAX_LINES // 2):]
    n = len(lines)

    units: list[object] = []  # list[int] for runs of text lines, _Quote for quotes
    cur: list[int] = []
    real_text = False  # author text met so far
    floor = 0  # attributions may not reach above this line
    pending_attr: tuple[int, int] | None = None
    signature: tuple[int, int] | None = None
    split_done: set[int] = set()
    i = 0
    while i < n:
        line = lines[i]
        c = _clean(line)
        if not c:
            cur.append(i)
            i += 1
            continue
        if c[0] == ">" and _is_quoted(line):
            end = _quote_block_end(lines, i)
            opening = _quote_opening(lines, i, end, full=not units and not real_text)
            if opening == "forward":
                break
            if cur:
                units.append(cur)
                cur = []
            units.append(_Quote(pending_attr, i, end, pending_attr is not None or opening == "attribution"))
            pending_attr = None
            i = floor = end
            continue
        at_top = not real_text and not units
        kind = _hard_marker(c)
        if kind is not None:
            if kind == "signature":
                signature = (i + 1, _signature_end(lines, i + 1))
            break
        if ":" in c[:60] or "：" in c[:60]:
            block_end = _header_block(lines, i, c)
            if block_end > 0:
                if at_top:  # the message's own header, pasted or forwarded: skip it
                    i = floor = block_end
                    cur = []
                    continue
                break
        last = c[-1]
        start = -1
        next_quoted = False
        if last in ":：-]" or "0" <= c[0] <= "9" or (last.isalpha() and _verb_at_end(c)):
            start = _attribution(lines, i, floor, c)
        if start >= 0 or (last in ":：" and _short_attribution(c)):
            j = i + 1
            while j < n and not _clean(lines[j]):
                j += 1
            next_quoted = j < n and _is_quoted(lines[j])
            if start < 0 and next_quoted:
                start = i
        if start >= 0 and start not in split_done:
            # Reply text on the attribution's first line: "Yes, fine. On Mon, ... wrote:"
            head = _clean(lines[start])
            cut = _inner_attribution(head, lines, start, i)
            if cut > 0:
                split_done.add(start)
                lines[start:start + 1] = [head[:cut].rstrip(), head[cut:]]
                n += 1
                split_done.add(start + 1)
                while cur and cur[-1] >= start:
                    cur.pop()
                i = start
                continue
        if start >= 0:
            while cur and cur[-1] >= start:  # lines above that belong to the attribution
                cur.pop()
            if not units:
                real_text = any(not _is_junk(lines[k]) for k in cur)
            if next_quoted:
                pending_attr = (start, i + 1)
                if cur:
                    units.append(cur)
                    cur = []
                i = j
                continue
            break
        cur.append(i)
        if not real_text and not _is_junk(line):
            real_text = True
        i += 1
    if cur:
        units.append(cur)

    def real(unit: object) -> bool:
        return isinstance(unit, list) and any(not _is_junk(lines[k]) for k in unit)

    first_quote = next((u for u in units if isinstance(u, _Quote)), None)
    # Trailing quotes, text runs with nothing in them, and notices or list footers
    # after a quote are history.
    while units and (not real(units[-1]) or (len(units) > 1 and isinstance(units[-2], _Quote)
                                             and _only_notices(lines, units[-1]))):
        units.pop()
    sig_text = _signature_text(lines, signature, names)
    if not units:
        if first_quote is not None and not first_quote.attributed:
            quote = _finish(lines, [(first_quote.start, first_quote.end)])
            return Parts(body=quote, signature=sig_text, text=quote, own="")
        return Parts(signature=sig_text)
    if isinstance(units[0], _Quote):
        answers = sum(1 for k in range(1, len(units)) if isinstance(units[k - 1], _Quote) and real(units[k]))
        if units[0].attributed and answers < 2:
            units.pop(0)  # bottom-posted: the quote is the message being answered
    seq: list[tuple[int, int, bool]] = []  # (start, end, quoted) line ranges, in order
    for unit in units:
        if isinstance(unit, _Quote):
            if unit.attr is not None:
                seq.append((*unit.attr, True))
            seq.append((unit.start, unit.end, True))
        else:
            seq.append((unit[0], unit[-1] + 1, False))
    own = [(a, b) for a, b, quoted in seq if not quoted]
    # The tail rules look at the author's lines after the last quote, and at most the
    # last _TAIL_WINDOW of them.
    last_quoted = max((p for p, r in enumerate(seq) if r[2]), default=-1)
    window: list[int] = []
    for p in range(len(seq) - 1, last_quoted, -1):
        a, b, _q = seq[p]
        window[:0] = range(max(a, b - (_TAIL_WINDOW - len(window))), b)
        if len(window) >= _TAIL_WINDOW:
            break
    before = window[0] if window else n
    text_before = any(not _is_junk(lines[k]) for a, b in own for k in range(a, min(b, before)) if a < before)
    cleaned = [_clean(lines[k]) for k in window]
    body_end, closing_end, sig_start, end = split_tail(cleaned, 0, names, signed_below=bool(sig_text),
                                                       text_before=text_before)
    closing = _finish(lines, _runs(window[body_end:closing_end]))
    sig_block = _finish(lines, _runs(window[sig_start:end]))
    if sig_block and sig_text:
        sig_text = sig_block + "\n\n" + sig_text
    else:
        sig_text = sig_block or sig_text
    body_stop = window[body_end] if body_end < len(window) else n
    stop = window[closing_end] if closing_end < len(window) else n  # the first line after the closing
    body_ranges = _cut(own, body_stop)
    if not closing and not sig_block and last_quoted >= 0 and not isinstance(units[0], _Quote):
        # Inline answers: a sign-off can end the note above the first quote
        # ("Our answers are below.\n\nRenée").
        a, b, _q = seq[0]
        head = list(range(a, b))
        cl = [_clean(lines[k]) for k in head]
        h_body, h_closing, h_sig, h_end = split_tail(cl, 0, names)
        if h_closing > h_body and h_sig == h_end:
            closing = _finish(lines, _runs(head[h_body:h_closing]))
            drop = set(head[h_body:h_end])
            body_ranges = [r for k in range(len(body_ranges)) for r in _minus(body_ranges[k], drop)]
    return Parts(
        body=_finish(lines, body_ranges, squeeze=True, junk=True),
        closing=closing,
        signature=sig_text,
        text=_finish(lines, _cut([(a, b) for a, b, _q in seq], stop)),
        own=_finish(lines, _cut(own, stop), squeeze=True),
    )


_TAIL_WINDOW = 200


def _minus(r: tuple[int, int], drop: set[int]) -> list[tuple[int, int]]:
    """The range ``r`` without the lines in ``drop``."""
    return _runs([k for k in range(*r) if k not in drop]) if any(k in drop for k in range(*r)) else [r]


def _runs(ks: list[int]) -> list[tuple[int, int]]:
    """Sorted line numbers as ranges of consecutive lines."""
    out: list[tuple[int, int]] = []
    for k in ks:
        if out and out[-1][1] == k:
            out[-1] = (out[-1][0], k + 1)
        else:
            out.append((k, k + 1))
    return out


def _cut(ranges: list[tuple[int, int]], stop: int) -> list[tuple[int, int]]:
    """The ranges, up to (not including) line ``stop``."""
    out = []
    for a, b in ranges:
        if a >= stop:
            break
        out.append((a, min(b, stop)))
    return out


def _inner_attribution(head: str, lines: list[str], start: int, i: int) -> int:
    """Where an attribution starts inside the line ``head`` that holds text before it
    ("Yes, fine. On Mon, 2 Mar 2026 ... wrote:"), or -1."""
    if _STRONG_START.match(head) or len(head) > _MAX_ATTR_LINE:
        return -1
    rest = [_clean(lines[k]) for k in range(start + 1, i + 1)]
    for m in _INNER_START.finditer(head):
        p = m.start(1)
        if p == 0:
            continue
        tail = head[p:]
        if _STRONG_START.match(tail) and _is_attribution(_join(list(reversed([tail, *[r for r in rest if r]])))):
            return p
    return -1


def _only_notices(lines: list[str], unit: list[int]) -> bool:
    """A text run made only of legal notices or mailing-list footers."""
    paras: list[list[str]] = [[]]
    for k in unit:
        c = _clean(lines[k])
        if c:
            paras[-1].append(c)
        elif paras[-1]:
            paras.append([])
    paras = [p for p in paras if p and any(not _is_junk(x) for x in p)]
    return bool(paras) and all(is_notice(p) for p in paras)


def _signature_text(lines: list[str], signature: tuple[int, int] | None, names: Names) -> str:
    """The lines under a ``--`` line, without trailing notices or list footers."""
    if signature is None:
        return ""
    a, b = signature
    cleaned = [_clean(lines[k]) for k in range(a, b)]
    _body_end, _closing_end, _sig_start, end = split_tail(cleaned, 0, None)
    # split_tail's notice rule never empties a text; a signature can be all notice
    k = 0
    while k < end and not cleaned[k]:
        k += 1
    if k < end and is_notice([x for x in cleaned[k:end] if x]):
        return ""
    return _finish(lines, [(a, a + end)])


_INNER_START = re.compile(r"(?:^|[.!?…)\]]\s+|\s)((?:on|le|am|el|em|il|op|den|w dniu|dne|på|o)\s)", re.I)


def _finish(lines: list[str], ranges: list[tuple[int, int]], squeeze: bool = False, junk: bool = False) -> str:
    out = [lines[k].rstrip() for a, b in ranges for k in range(a, b)]
    if squeeze:  # quotes were left out: do not leave runs of blank lines where they were
        out = [line for k, line in enumerate(out) if line.strip() or k == 0 or out[k - 1].strip()]
    while out and (not out[-1].strip() or (junk and len(out) > 1 and _is_junk(out[-1]))):
        out.pop()
    start = 0
    while start < len(out) and not out[start].strip():
        start += 1
    return "\n".join(out[start:]).translate(_ZERO_WIDTH)


def extract_reply(raw: bytes) -> str:
    """The body of a raw message (:attr:`Parts.body`, the From display name as the
    sender's name). Never raises."""
    from mailflow.parse.mime import body_text, header, load

    try:
        msg = load(raw)
        name = email.utils.parseaddr(header(msg, "From"))[0]
        return extract_parts(body_text(msg), names=(name,) if name else ()).body
    except Exception:  # pragma: no cover - defensive
        return ""
