"""How a person signs off: the closing and the signature block under their text.

:func:`split_tail` looks at the last lines an author wrote (after the last quote, if
any) and says where the **body** ends, where the **closing** (the valediction and
the name under it) is, and where the **signature block** (name, title,
organisation, phone, address) is. Trailing legal disclaimers and mailing-list
footers are found too; they belong to none of the three.

Rules, read from the end of the text upwards:

1. Lines without letters or digits at the end are dropped. So is a trailing
   paragraph that is a legal notice or a list footer: it must hold a notice phrase
   ("intended recipient", "received this e-mail in error", "please notify the
   sender", "confidential and may be privileged", "vertraulich", "destinataire",
   "think before you print", "you received this message because you are
   subscribed", ...; eight words or more). A paragraph with two or more
   ``Label: value`` lines is a filled form and never a notice, whatever it says.
2. A **valediction** is a line that is, as a whole, a sign-off phrase in one of
   the schemes' languages ("Best regards,", "Thanks!", "Diolch", "Cofion",
   "Cordialement", "Mit freundlichen Grüßen", "Met vriendelijke groet", "Un
   saludo", "Atenciosamente", "Cordiali saluti", "Med vänlig hälsning", "Mvh",
   "Ystävällisin terveisin", ...), possibly two of them ("Mit freundlichen Grüßen /
   Kind regards", "Diolch / Thanks,", or on two lines), possibly with the name on
   the same line ("Thanks, Ann", "Cheers Sam"), possibly after a dash or slash
   ("/ Greetings"). It is a closing only if every line under it is
   signature-shaped (below): "Thanks,\\nI will be there." is text. The first line
   under it, if it looks like a name, is part of the closing; the lines after that
   are the signature block.
3. Without a valediction: a last line that is a name glued to a dash or slash
   ("-Ann", "—Ryan", "//Jef", "~s") is the closing; a last paragraph of
   signature-shaped lines that starts with a name and holds contact details (a
   phone number, an address, a URL, a job title or an organisation, "|"
   separators) is a signature block; and a last line that is the sender's own
   first name, full name or initials (known from the From display name or the
   enrolled name) is the closing.
4. The body is never emptied by these rules: a valediction with nothing above it
   stays in the body (its name, if any, is the closing), and a signature block or
   a bare name needs text above it.

Signature-shaped: short (at most 80 characters and 10 words), not a question, not
a sentence of four or more words ending in "." or "!", not "P.S.", not an answer
word ("yes", "accept"), not a ``Label: value`` line unless the label is a contact
one ("Tel", "Mobile", "Email", "Web", ...); and either contact details, a name, or
mostly capitalised words ("Klinikum Nordstadt", "Riverside University Hospital").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

__all__ = ["Names", "split_tail", "is_notice", "is_valediction", "CLOSINGS"]

# --------------------------------------------------------------------------- vocabulary

CLOSINGS = frozenset({
    # English
    "best", "best regards", "best wishes", "kind regards", "kindest regards", "warm regards",
    "warmest regards", "regards", "many thanks", "thanks", "thank you", "thanks again", "thanks so much",
    "thank you so much", "thank you very much", "thanks very much", "thanks a lot", "thanks a million",
    "many thanks again", "thank you again", "thanks and regards", "thanks & regards", "thanks in advance",
    "thank you in advance", "many thanks in advance", "cheers", "cheers again", "sincerely", "yours sincerely",
    "sincerely yours", "yours truly", "yours faithfully", "yours", "all the best", "all best", "take care",
    "with thanks", "with many thanks", "with best wishes", "with kind regards", "with best regards",
    "with warm regards", "with regards", "respectfully", "cordially", "speak soon", "talk soon", "see you soon",
    "warm wishes", "kind wishes", "best wishes to you", "warmly", "thx", "ty", "tia", "br", "kr", "rgds",
    "regs", "ta", "greetings", "love", "lots of love", "much appreciated", "appreciated", "have a good day",
    "have a great day", "have a nice day", "have a good weekend", "have a great weekend", "thanks everyone",
    "thanks all", "thank you all", "best of luck", "good luck", "many thanks for your help",
    "thanks for your help", "thank you for your help",
    # Welsh
    "diolch", "diolch yn fawr", "diolch yn fawr iawn", "diolch o galon", "cofion", "cofion gorau",
    "cofion cynnes", "cofion caredig", "yn gywir", "yr eiddoch yn gywir", "hwyl", "hwyl fawr", "gyda diolch",
    "gyda chofion", "gyda chofion gorau", "dymuniadau gorau", "pob hwyl", "pob dymuniad da",
    # German
    "mit freundlichen grüßen", "mit freundlichen grüssen", "mit freundlichem gruß", "mit freundlichem gruss",
    "mfg", "viele grüße", "viele grüsse", "beste grüße", "beste grüsse", "liebe grüße", "liebe grüsse", "lg",
    "vg", "herzliche grüße", "herzliche grüsse", "freundliche grüße", "freundliche grüsse", "schöne grüße",
    "schöne grüsse", "gruß", "grüße", "grüsse", "gruss", "danke", "vielen dank", "besten dank", "danke schön",
    "danke und gruß", "danke und grüße", "herzlichen dank", "mit besten grüßen", "mit besten grüssen",
    "mit herzlichen grüßen", "mit herzlichen grüssen", "bis bald", "schönen tag noch", "tschüss",
    "mit kollegialen grüßen", "mit kollegialen grüssen", "hochachtungsvoll",
    # French
    "cordialement", "bien cordialement", "très cordialement", "bien à vous", "salutations",
    "meilleures salutations", "sincères salutations", "salutations distinguées", "bien sincèrement",
    "amicalement", "bonne journée", "bonne soirée", "belle journée", "merci", "merci beaucoup",
    "merci d'avance", "merci d’avance", "merci encore", "à bientôt", "a bientôt", "bises", "bisous",
    "bien à toi", "amitiés", "je vous remercie", "avec mes remerciements", "mes salutations",
    # Spanish / Catalan
    "saludos", "un saludo", "atentamente", "cordialmente", "muchas gracias", "gracias", "un abrazo",
    "abrazos", "saludos cordiales", "un cordial saludo", "reciba un cordial saludo", "besos", "gracias de antemano",
    "muchas gracias de antemano", "mil gracias", "hasta pronto", "salutacions", "una salutació", "moltes gràcies",
    "gràcies", "atentament", "cordialment",
    # Portuguese
    "atenciosamente", "abraços", "abraço", "um abraço", "obrigado", "obrigada", "muito obrigado",
    "muito obrigada", "cumprimentos", "melhores cumprimentos", "com os melhores cumprimentos",
    "saudações", "att", "att.", "beijos", "beijinhos", "até breve", "grato", "grata",
    # Italian
    "cordiali saluti", "saluti", "distinti saluti", "grazie", "un saluto", "grazie mille", "un caro saluto",
    "cari saluti", "saluti cordiali", "a presto", "buona giornata", "un abbraccio", "grazie ancora",
    "con i migliori saluti", "ti ringrazio", "la ringrazio",
    # Dutch
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "vriendelijke groeten",
    "groeten", "groet", "mvg", "hartelijke groet", "hartelijke groeten", "met hartelijke groet", "gr",
    "alvast bedankt", "bedankt", "dank je wel", "dank u wel", "dankjewel", "dank je", "dank u",
    "tot ziens", "tot snel", "fijne dag", "met groet", "hartelijk dank",
    # Danish / Norwegian / Swedish / Icelandic / Finnish
    "med venlig hilsen", "venlig hilsen", "vh", "mvh", "hilsen", "kærlig hilsen", "de bedste hilsner",
    "bedste hilsner", "bedste hilsen", "mange tak", "tak", "på forhånd tak", "med vennlig hilsen",
    "vennlig hilsen", "beste hilsen", "takk", "tusen takk", "kh", "med vänlig hälsning",
    "med vänliga hälsningar", "vänliga hälsningar", "vänlig hälsning", "hälsningar", "hälsning",
    "bästa hälsningar", "tack", "stort tack", "tack på förhand", "trevlig helg", "kveðja", "bestu kveðjur",
    "með kveðju", "takk fyrir", "ystävällisin terveisin", "terveisin", "parhain terveisin", "kiitos",
    "kiittäen", "yst. terv", "ystävällisesti",
    # Polish / Czech / Russian
    "pozdrawiam", "z poważaniem", "z powazaniem", "pozdrowienia", "dziękuję", "s pozdravem", "děkuji",
    "с уважением", "спасибо", "всего доброго", "с наилучшими пожеланиями",
})
_WEEKDAY_MONTH = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december mon tue wed thu fri sat sun".split()
)
# Words that are answers, never a name or a signature line.
ANSWER_WORDS = frozenset({
    "yes", "no", "ok", "okay", "sure", "accept", "accepted", "decline", "declined", "confirm", "agree",
    "agreed", "confirmed", "cancel", "stop", "pause", "resume", "done", "ja", "nein", "oui", "non", "si", "sí",
    "da", "nee", "nej", "tak", "nie", "yes please", "no thanks", "ie", "na", "sim", "não", "nao",
})
_PARTICLES = frozenset("van von de der den da di du la le dos das del della bin al ter ten y e zu af".split())
_TITLES = frozenset("dr dr. prof prof. mr mr. mrs mrs. ms ms. mx mx. med. med sir dame".split())

_NOTICE = re.compile(
    r"intended recipient|intended solely|intended only for|intended exclusively|not the intended|"
    r"received this (?:e-?mail|message|communication|transmission) (?:in error|by mistake)|"
    r"in error,? please|please notify the sender|notify (?:us|the sender) immediately|"
    r"legally privileged|privileged and confidential|confidential and (?:may|might) (?:be|contain)|"
    r"may (?:be|contain) (?:confidential|privileged)|contains? confidential|strictly confidential|"
    r"unauthori[sz]ed (?:use|review|disclosure|copying|distribution)|this (?:e-?mail|message) and any "
    r"(?:attachments?|files?)|disclaimer|nicht der (?:richtige|beabsichtigte) (?:adressat|empfänger)|"
    r"irrtümlich erhalten|vertraulich|destinataire|confidentiel|riservat|destinatario|vertrouwelijk|"
    r"fortrolig|konfidentiell|poufn|luottamuksellinen|cyfrinachol|environment before printing|"
    r"think before you print|virus(?:es)? (?:scanned|free|checked)|risultato non infetto|"
    r"you received this (?:message|e-?mail) because you are subscribed|to unsubscribe from this group|"
    r"unsubscribe|mailing list|listinfo|view this discussion on the web|to post to this group|"
    r"manage your (?:subscription|email preferences)|abmelden|se désabonner|se désinscrire|darse de baja|"
    r"uitschrijven",
    re.I,
)
_LABEL = re.compile(r"^[*_]{0,2}[^\W\d_][\w .'’/&()-]{0,40}?[*_]{0,2}\s?[:：]\s*\S")
_CONTACT_LABEL = re.compile(
    r"^(?:t|m|e|w|f|p|d|tel|tél|tlf|tfn|phone|telephone|téléphone|telefon|telefono|teléfono|telefone|"
    r"mob|mobile|mobil|móvil|cell|handy|fax|direct|direct line|ddi|ext|bleep|pager|email|e-mail|mail|"
    r"web|website|site|www|url|address|adresse|dirección|indirizzo|office|room|twitter|x|linkedin|skype|"
    r"teams|zoom|pronouns|puh|gsm|office hours|working days|orcid)\s?\.?\s?[:：]",
    re.I,
)
_PHONE = re.compile(r"(?:\+|\(0|\b0|\b)\d[\d ()./-]{6,}\d")
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://|\bwww\.|\b[\w-]+\.(?:com|org|net|edu|gov|ac\.uk|co\.uk|nhs\.uk|de|fr|nl|es|it|se|no|dk|fi|eu|io|example)\b", re.I)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|\b\d{4,5} [A-ZÄÖÜ][a-zäöüß]+")
_ROLE = re.compile(
    r"\b(?:professor|prof|dr|phd|md|mba|msc|frcp|frcs|mrcp|bsc|rn|lecturer|reader|researcher|fellow|"
    r"consultant|registrar|trainee|resident|nurse|midwife|physician|surgeon|doctor|manager|director|head of|"
    r"officer|coordinator|co-ordinator|administrator|engineer|developer|analyst|assistant|associate|"
    r"specialist|advisor|adviser|president|vice|ceo|cto|cfo|coo|founder|partner|chair|dean|mentor|student|"
    r"candidate|postdoc|university|universiteit|université|universität|universidad|università|universidade|"
    r"prifysgol|college|school|department|dept|faculty|institute|institut|instituto|hospital|hôpital|"
    r"krankenhaus|ziekenhuis|klinik|klinikum|clinic|clínica|nhs|trust|foundation|ltd|limited|inc|llc|gmbh|"
    r"plc|centre|center|laboratory|lab|division|unit|oberarzt|oberärztin|facharzt|fachärztin|arzt|ärztin|"
    r"abteilung|praxis|directeur|directrice|médecin|responsable|service|jefe|jefa|médico|médica|enfermera|"
    r"enfermeiro|dirigente|ricercatore|ricercatrice|hoogleraar|docent|arts|verpleegkundige|afdeling|"
    r"overlæge|läkare|lääkäri|ylilääkäri|sjuksköterska|sygeplejerske|avdeling|avdelning|osasto|"
    r"pronouns|she/her|he/him|they/them|ei/hi)\b|"
    r"\b(?:klinik|clinic|hospital|sjukhus|sykehus|sygehus|universit|institut|departement|abteilung|afdeling|"
    r"avdeling|avdelning|osasto|fakult|facult|laborator|överläk|specialistläk|läkar|lääkär|overlege|lege|"
    r"arzt|ärzt|ospedal|hôpital|ziekenhuis|hospital|centro|zentrum|centrum|yliopisto|sairaala)\w*",
    re.I,
)
_ITEM = re.compile(r"^(?:[-*•·]|\(?\d{1,2}[.)])\s")
_EMOJI_TAIL = re.compile(r"(?:\s*(?:[:;]-?[)(DPp]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]\ufe0f?))+\s*$")
_LEAD_MARK = " \t-—–―/\\~*_•·>"
_TRAIL_PUNCT = " \t,.!;:—–-…"


def _fold(s: str) -> str:
    """Lower-case without accents, for comparing names."""
    s = unicodedata.normalize("NFKD", s.casefold())
    return "".join(ch for ch in s if not unicodedata.combining(ch)).replace("ß", "ss")


def _norm(c: str) -> str:
    if len(c) > 120:
        return c.lower()
    s = _EMOJI_TAIL.sub("", c).strip(_LEAD_MARK).rstrip(_TRAIL_PUNCT).lower()
    return " ".join(s.replace("’", "'").split())


# --------------------------------------------------------------------------- names


class Names:
    """The sender's names, as evidence that a lone word on the last line is a signature.

    Built from display names ("Ann Lee", "Lee, Ann", "Dr. Ann Lee") and the enrolled
    name: every word, the full name, and the initials ("AL", "A.L.", "A").
    """

    __slots__ = ("words", "full", "initials")

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.words: set[str] = set()
        self.full: set[str] = set()
        self.initials: set[str] = set()
        for name in names:
            if not name or "@" in name:
                continue
            name = name.strip().strip("\"'")
            if name.count(",") == 1:  # "Lee, Ann"
                last, first = (p.strip() for p in name.split(","))
                name = f"{first} {last}"
            parts = [p for p in re.split(r"[\s.]+", name) if p and _fold(p) not in _TITLES and p[0].isalpha()]
            if not parts:
                continue
            folded = [_fold(p) for p in parts]
            self.words.update(f for f in folded if len(f) > 1)
            self.full.add(" ".join(folded))
            letters = "".join(f[0] for f in folded)
            self.initials.add(letters)
            self.initials.add(folded[0][0] + folded[-1][0])
            self.initials.add(folded[0][0])

    def __bool__(self) -> bool:
        return bool(self.words)

    def matches(self, c: str) -> bool:
        """Whether the line ``c`` is one of these names or initials (and nothing else)."""
        if len(c) > 80:
            return False
        s = _fold(_EMOJI_TAIL.sub("", c).strip(_LEAD_MARK).rstrip(_TRAIL_PUNCT))
        s = re.sub(r"\s*\([^)]{0,30}\)$", "", s).strip()
        if not s or len(s) > 60:
            return False
        if s in self.full or s in self.words:
            return True
        letters = s.replace(".", "").replace(" ", "")
        if len(letters) <= 3 and letters.isalpha() and letters in self.initials:
            return True
        words = [w for w in s.split() if w not in _TITLES and w + "." not in _TITLES]
        return 0 < len(words) <= 4 and all(w.strip(".") in self.words or len(w.strip(".")) == 1 for w in words) \
            and any(w in self.words for w in words)


# --------------------------------------------------------------------------- line tests


def _pure_valediction(c: str) -> bool:
    """A sign-off phrase alone (no name): "Best regards,", "Diolch / Thanks,"."""
    s = _norm(c)
    if not s:
        return False
    if s in CLOSINGS:
        return True
    for sep in (" / ", " | ", " – ", " - ", "/"):
        if sep in s:
            parts = [p.strip(" ,.!") for p in s.split(sep)]
            if len(parts) <= 3 and all(p in CLOSINGS for p in parts if p) and any(parts):
                return True
    return False


def is_valediction(c: str, names: Names | None = None) -> bool:
    """A sign-off line: "Best regards,", "Diolch / Thanks,", "Thanks, Ann", "/ Greetings"."""
    if not c or len(c) > 80:
        return False
    if _pure_valediction(c):
        return True
    # the name on the same line: "Thanks, Ann", "Cheers Sam", "Best, A."
    head, comma, tail = c.rpartition(",")
    if comma and _norm(head) in CLOSINGS and tail.strip() and is_name(tail.strip(), names):
        return True
    words = c.strip(_LEAD_MARK).split()
    for k in (1, 2, 3):
        if len(words) > k and len(words) - k <= 3 and _norm(" ".join(words[:k])) in CLOSINGS \
                and is_name(" ".join(words[k:]), names):
            return True
    return False


def is_name(c: str, names: Names | None = None) -> bool:
    """A line that looks like a person's name (or initials): "Ann Lee", "Dr. med. Jürgen
    Weiß", "A.", "J.W.", "-Ann", "//Jef"; or one of ``names``."""
    if len(c) > 80:
        return False
    if names and names.matches(c):
        return True
    s = _EMOJI_TAIL.sub("", c).strip(_LEAD_MARK).rstrip(" \t,;!")
    s = re.sub(r"\s*\([^)]{0,30}\)$", "", s).strip()
    if not s or len(s) > 50 or any(ch.isdigit() for ch in s) or "@" in s or ":" in s:
        return False
    words = s.split()
    if len(words) > 5:
        return False
    low = _fold(s)
    if low in ANSWER_WORDS or _norm(s) in CLOSINGS:
        return False
    named = 0
    for w in words:
        lw = _fold(w).strip(".,")
        if lw in _TITLES or lw + "." in _TITLES:
            continue
        if lw in _WEEKDAY_MONTH or lw in ANSWER_WORDS:
            return False
        if lw in _PARTICLES and named:
            continue
        core = w.strip(".,'’-")
        if not core or not core[0].isalpha():
            return False
        if not core[0].isupper():
            return False
        if core.isupper() and len(core) > 3 and len(words) == 1:
            return False  # "ACCEPT", "LOCATION"
        named += 1
    return named >= 1 and (len(words) <= 4 or named <= 4)


def _contact(c: str) -> bool:
    return bool(
        _CONTACT_LABEL.match(c) or _EMAIL.search(c) or _URL.search(c) or _PHONE.search(c)
        or ("|" in c and len(c) <= 120) or _POSTCODE.search(c) or _ROLE.search(c)
    )


def signature_shaped(c: str, names: Names | None = None) -> bool:
    """A line that can sit in a signature block (see the module docstring)."""
    if not c:
        return True
    if len(c) > 80 or c.endswith("?"):
        return False
    words = c.split()
    if len(words) > 10:
        return False
    low = c.lower()
    if low.startswith(("p.s", "ps:", "ps ", "pps")) or _ITEM.match(c):
        return False  # a postscript, a list item
    if _norm(c) in ANSWER_WORDS:
        return False
    if _LABEL.match(c) and not _CONTACT_LABEL.match(c.lstrip("*_")):
        return False
    strong = _EMAIL.search(c) or _URL.search(c) or _PHONE.search(c)
    if len(words) >= 4 and (c[-1] in ".!" or c[0].islower()) and not strong:
        return False  # a sentence
    if strong or _contact(c):
        return True
    if is_name(c, names):
        return True
    alpha = [w for w in words if w[:1].isalpha()]
    caps = sum(1 for w in alpha if w[0].isupper() or _fold(w) in _PARTICLES or w.lower() in ("of", "and", "for", "&"))
    # names of organisations: capitalised words ("Klinikum Nordstadt", "Riverside University Hospital")
    return bool(alpha) and caps == len(alpha) and any(w[0].isupper() for w in alpha)


def is_notice(lines: Sequence[str]) -> bool:
    """A paragraph that is a legal notice or a list footer (never a filled form)."""
    if sum(len(x) for x in lines) > 6000:
        return False  # notices are short; a long paragraph is someone's text
    labels = sum(1 for x in lines if _LABEL.match(x.strip()))
    if labels >= 2:
        return False
    para = " ".join(x.strip() for x in lines)
    if _NOTICE.search(para) is None:
        return False
    low = para.lower()
    return len(para.split()) >= 8 or "print" in low or "unsubscribe" in low or "virus" in low


# --------------------------------------------------------------------------- the tail


def _has_text(c: str) -> bool:
    return any(ch.isalnum() for ch in c)


def _continues(lines: Sequence[str], k: int) -> bool:
    """``lines[k]`` ends a sentence wrapped from the line above ("any feedback is
    highly" / "appreciated!"): it starts in lower case, and the line right above it
    has text that ends without a sentence's or a clause's punctuation."""
    c = lines[k].lstrip()
    above = lines[k - 1].rstrip() if k > 0 else ""
    return bool(c) and c[0].islower() and bool(above) and above[-1].isalnum()


def split_tail(lines: Sequence[str], lo: int, names: Names | None = None,
               signed_below: bool = False, text_before: bool = False) -> tuple[int, int, int, int]:
    """Where the body, closing and signature of ``lines`` are.

    ``lines`` are cleaned lines ("" for blank); ``lines[lo:]`` is the tail the rules
    may touch (the author's lines after the last quote). Returns ``(body_end,
    closing_end, signature_start, end)``: the body is ``lines[:body_end]``, the
    closing ``lines[body_end:closing_end]``, the signature
    ``lines[signature_start:end]`` (``closing_end <= signature_start <= end``);
    the lines after ``end`` (junk, notices, footers) belong to none of them.
    ``signed_below``: a signature (after a ``--`` line) follows these lines;
    ``text_before``: the author wrote text above ``lines[0]``.
    """
    n = len(lines)
    first = next((k for k in range(n) if _has_text(lines[k])), None)
    if first is None:
        return n, n, n, n
    if text_before:
        first = 0
    lo = max(lo, first)
    e = n
    while e > lo and not _has_text(lines[e - 1]):
        e -= 1
    # 1. notices and footers: trailing paragraphs (of at most 60 lines)
    while True:
        k = e
        while k > lo and lines[k - 1] and e - k <= 60:
            k -= 1
        if k <= first or (k > 0 and lines[k - 1]) or not is_notice(lines[k:e]):
            break
        e = k
        while e > lo and not _has_text(lines[e - 1]):
            e -= 1
    nb = [k for k in range(lo, e) if lines[k]]
    if not nb:
        return e, e, e, e

    def text_above(k: int) -> bool:
        return text_before or any(_has_text(lines[j]) for j in range(first, k))

    # 2. a valediction, with only signature-shaped lines under it
    for pos in range(len(nb) - 1, max(-1, len(nb) - 13), -1):
        k = nb[pos]
        c = lines[k]
        if is_valediction(c, names) and not _continues(lines, k):
            start = k
            if pos > 0 and nb[pos - 1] == k - 1 and is_valediction(lines[k - 1], names):
                start = k - 1  # bilingual, on two lines
            after = nb[pos + 1:]
            if not after and not signed_below and _pure_valediction(c):
                return e, e, e, e  # "Thanks!" with no name under it: the author's words
            closing_end = k + 1
            rest = after
            if after and is_name(lines[after[0]], names):
                closing_end = after[0] + 1
                rest = after[1:]
            sig_start = rest[0] if rest else e
            if not text_above(start):
                # nothing above: the valediction is the body; a name under it is the closing
                return k + 1, closing_end, sig_start, e
            return start, closing_end, sig_start, e
        if not signature_shaped(c, names):
            break

    # 3. no valediction
    last = nb[-1]
    c = lines[last]
    stripped = c.lstrip(_LEAD_MARK)
    if stripped != c and c[0] in "-—–―/~" and is_name(stripped, names) and len(stripped.split()) <= 4 \
            and text_above(last):
        return last, last + 1, e, e  # "-Ann", "—Ryan", "//Jef"
    # a signature block: the last paragraph, starting with a name, holding contact details
    p = len(nb) - 1
    while p > 0 and nb[p - 1] == nb[p] - 1:
        p -= 1
    block = nb[p:]
    if len(block) <= 8 and text_above(block[0]) and all(signature_shaped(lines[k], names) for k in block):
        head = lines[block[0]]
        has_contact = any(_contact(lines[k]) for k in block)
        own = bool(names) and names.matches(head)
        named = is_name(head, names) or is_name(re.split(r"\s[|,–-]\s?|,", head, maxsplit=1)[0], names)
        if named and has_contact:
            above = nb[:p]
            if above and own is not None and names and names.matches(lines[above[-1]]) and text_above(above[-1]):
                return above[-1], above[-1] + 1, block[0], e  # "Ann" then the block
            return block[0], block[0], block[0], e
        if p > 0 and has_contact and names:
            k = nb[p - 1]  # the name alone, a blank line, then the contact details
            if names.matches(lines[k]) and text_above(k) and (p < 2 or nb[p - 2] < k - 1):
                return k, k, k, e
    # a bare name (the sender's own) on the last line
    if names and names.matches(c) and text_above(last):
        return last, last + 1, e, e
    return e, e, e, e
