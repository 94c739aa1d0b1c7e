"""mailflow.parse.extract: one small realistic case per rule in the module docstring."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from mailflow.parse.extract import extract_new_text, extract_parts, extract_reply

CORPUS = Path(__file__).resolve().parents[3] / "shared/corpus/replies"

QUOTE = "> Hi Ann,\n> Can you meet on Tuesday? Reply ACCEPT or DECLINE.\n> \n> The mentoring team\n"


def x(text: str, **kw) -> str:
    return extract_new_text(text, **kw)


def parts(text: str, *names: str) -> tuple[str, str, str]:
    p = extract_parts(text, names=names)
    return p.body, p.closing, p.signature


# --------------------------------------------------------------------------- 1. reply headers

ATTRIBUTIONS = [
    "On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme <scheme@example.org> wrote:",
    "On 2 Mar 2026, at 09:15, Mentoring Scheme <scheme@example.org> wrote:",
    "On 02/03/2026 09:15, Mentoring Scheme wrote:",
    "On Monday, March 2, 2026, 9:15 AM, Mentoring Scheme <scheme@example.org> wrote:",
    "Le lun. 2 mars 2026 à 09:15, Mentoring Scheme <scheme@example.org> a écrit :",
    "Am Mo., 2. März 2026 um 09:15 Uhr schrieb Mentoring Scheme <scheme@example.org>:",
    "Am 02.03.2026 um 09:15 schrieb Mentoring Scheme:",
    "El lun, 2 mar 2026 a las 9:15, Mentoring Scheme (<scheme@example.org>) escribió:",
    "Op ma 2 mrt 2026 om 09:15 schreef Mentoring Scheme <scheme@example.org>:",
    "Il giorno lun 2 mar 2026 alle ore 09:15 Mentoring Scheme <scheme@example.org> ha scritto:",
    "Em seg., 2 de mar. de 2026 às 09:15, Mentoring Scheme <scheme@example.org> escreveu:",
    "Den mån 2 mars 2026 kl 09:15 skrev Mentoring Scheme <scheme@example.org>:",
    "man. 2. mar. 2026 kl. 09.15 skrev Mentoring Scheme <scheme@example.org>:",
    "W dniu pon., 2.03.2026 o 09:15 Mentoring Scheme <scheme@example.org> napisał(a):",
    "po 2. 3. 2026 v 9:15 odesílatel Mentoring Scheme <scheme@example.org> napsal:",
    "пн, 2 мар. 2026 г. в 09:15, Mentoring Scheme <scheme@example.org>:",
    "2 марта 2026 г., в 9:15, Mentoring Scheme <scheme@example.org> написал(а):",
    "2026年3月2日(月) 9:15 Mentoring Scheme <scheme@example.org>:",
    "Mentoring Scheme <scheme@example.org> 于2026年3月2日周一 09:15写道：",
    "2026년 3월 2일 (월) 오전 9:15, Mentoring Scheme <scheme@example.org>님이 작성:",
    "ma 2.3.2026 klo 9.15 Mentoring Scheme <scheme@example.org> kirjoitti:",
    "Mentoring Scheme <scheme@example.org>, 2 Mar 2026 Pzt, 09:15 tarihinde şunu yazdı:",
    "Mentoring Scheme <scheme@example.org> ezt írta (időpont: 2026. márc. 2., H, 9:15):",
    "2026-03-02 9:15 GMT+01:00 Mentoring Scheme <scheme@example.org>:",
    "Mentoring Scheme <scheme@example.org> wrote:",
    "---- On Mon, 02 Mar 2026 09:15:00 +0000 Mentoring Scheme <scheme@example.org> wrote ----",
    "Quoting Mentoring Scheme <scheme@example.org>:",
    "Mentoring Scheme/Acme wrote on 02/03/2026 09:15 AM:",
]


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_reply_header_and_quote_are_removed(attribution):
    assert x(f"Yes, Tuesday works.\n\n{attribution}\n{QUOTE}") == "Yes, Tuesday works."


@pytest.mark.parametrize("attribution", ATTRIBUTIONS[:6])
def test_reply_header_above_unquoted_history(attribution):
    body = f"Accept\n\n{attribution}\n\nHi Ann,\nCan you meet on Tuesday?\n"
    assert x(body) == "Accept"


@pytest.mark.parametrize("wrapped", [
    "On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme <\nscheme@example.org> wrote:",
    "On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme\n<scheme@example.org> wrote:",
    "On Mon, 2 Mar 2026 at 09:15 Mentoring Scheme <scheme@example.org>\nwrote:",
    "Le 2 mars 2026 09:15, \"Mentoring Scheme\"\n<scheme@example.org>\na écrit :",
    "Mentoring Scheme <scheme@example.org> schrieb am Mo., 2.\nMärz 2026 um 09:15 Uhr:",
    "Am 02.03.2026 09:15 schrieb \"Mentoring Scheme\" <scheme@example.org\n>:",
    "On Mon, 2 Mar 2026 at 09:15 Mentoring Scheme\n\n<\nmailto:scheme@example.org\n> wrote:",
])
def test_wrapped_reply_headers(wrapped):
    body = f"Decline, sorry.\n\nThanks,\nAnn\n\n{wrapped}\n\n{QUOTE}"
    assert x(body) == "Decline, sorry.\n\nThanks,\nAnn"
    assert parts(body) == ("Decline, sorry.", "Thanks,\nAnn", "")


def test_wrote_in_prose_is_not_a_header():
    body = "Accept.\n\nMy manager wrote:\nplease take Tuesday off for this.\n\nAnn"
    assert x(body) == body
    body = "I wrote to sam@example.org on 3/3/2026:\nhe said yes.\n\nAnn"
    assert x(body) == body


def test_name_wrote_right_above_a_quote_is_a_header():
    assert x("Sounds good.\n\nSam wrote:\n> Shall we meet on Tuesday?\n") == "Sounds good."


def test_outlook_header_block_removed():
    body = ("Accept\n\nFrom: Mentoring Scheme <scheme@example.org>\nSent: Monday, March 2, 2026 9:15 AM\n"
            "To: Ann Lee <ann@example.org>\nSubject: Your first meeting\n\nHi Ann,\nReply ACCEPT or DECLINE.\n")
    assert x(body) == "Accept"


@pytest.mark.parametrize("block", [
    "Von: Mentoring Scheme <scheme@example.org>\nGesendet: Montag, 2. März 2026 09:15\nAn: Ann\nBetreff: Treffen",
    "De : Mentoring Scheme <scheme@example.org>\nEnvoyé : lundi 2 mars 2026 09:15\nÀ : Ann\nObjet : Réunion",
    "Van: Mentoring Scheme <scheme@example.org>\nVerzonden: maandag 2 maart 2026 09:15\nAan: Ann\nOnderwerp: x",
    "Da: Mentoring Scheme <scheme@example.org>\nInviato: lunedì 2 marzo 2026 09:15\nA: Ann\nOggetto: x",
    "De: Mentoring Scheme <scheme@example.org>\nEnviado: lunes, 2 de marzo de 2026 9:15\nPara: Ann\nAsunto: x",
    "Från: Mentoring Scheme\nSkickat: den 2 mars 2026 09:15\nTill: Ann\nÄmne: x",
    "Od: Mentoring Scheme\nWysłano: poniedziałek, 2 marca 2026 09:15\nDo: Ann\nTemat: x",
    "发件人: Mentoring Scheme <scheme@example.org>\n发送时间: 2026年3月2日 9:15\n收件人: Ann\n主题: x",
    "*From:* Mentoring Scheme [mailto:scheme@example.org]\n*Sent:* Monday, March 2, 2026 9:15 AM\n*To:* Ann",
    "      De : Mentoring Scheme <scheme@example.org>\n À : Ann <ann@example.org>\n Envoyé le : lundi 2 mars",
])
def test_localised_outlook_blocks(block):
    assert x(f"OK pour mardi.\n\n{block}\n\nHello Ann,\nplease reply.\n") == "OK pour mardi."


def test_from_to_dates_are_not_a_header_block():
    body = "I'm available\nFrom: 3 March\nTo: 10 March\n\nAnn"
    assert x(body) == body


@pytest.mark.parametrize("separator", [
    "-----Original Message-----", "-------- Original Message --------", "---------- Forwarded message ---------",
    "-----Ursprüngliche Nachricht-----", "-------- Message transféré --------", "-----Mensaje original-----",
    "Begin forwarded message:", "Début du message réexpédié :", "> Begin forwarded message:",
    "________________________________", "## Please reply above this line ##",
    "----- Forwarded by Ann Lee/Acme on 02/03/2026 09:15 -----",
])
def test_history_separators(separator):
    body = f"Accept, thanks.\n\n{separator}\nFrom: Mentoring Scheme\nSubject: x\n\nOld text.\n"
    assert x(body) == "Accept, thanks."


def test_signature_separator():
    assert x("Yes please.\n\n-- \nAnn Lee\nMentor, Acme Ltd\n+44 20 7946 0000\n") == "Yes please."


@pytest.mark.parametrize("footer", [
    "Sent from my iPhone", "Sent from my Samsung Galaxy smartphone.", "Sent from Outlook for iOS",
    "Get Outlook for Android<https://aka.ms/ghei36>", "Sent from Yahoo Mail on Android", "Sent with Airmail",
    "Sent from my mobile, please excuse typos", "Envoyé de mon iPhone", "Von meinem iPhone gesendet",
    "Gesendet von meinem Huawei", "Enviado desde mi iPhone", "Inviato da iPhone", "Verzonden vanaf mijn iPad",
    "Sendt fra min iPad", "Skickat från min iPhone", "Wysłane z mojego iPhone'a", "Отправлено с iPhone",
    "iPhoneから送信", "从我的iPhone发送", "從我的 iPhone 傳送", "(Sent from a phone)",
])
def test_device_footers(footer):
    assert x(f"Decline - away that week.\n\n{footer}\n\nOn 2 Mar 2026, at 09:15, S <s@example.org> wrote:\n> x") \
        == "Decline - away that week."


def test_sent_from_in_a_sentence_is_kept():
    body = "Here is my answer.\n\nSent from my desk, which is much easier than my phone."
    assert x(body) == body
    body = "Yes.\n\nSent from a magnificent torch of pixels"
    assert x(body) == body


# --------------------------------------------------------------------------- 2. what comes first


@pytest.mark.parametrize("body", [
    "---------- Forwarded message ---------\nFrom: Sam <sam@example.org>\nSubject: x\n\nOld text",
    "Begin forwarded message:\n\nFrom: Sam\nSubject: x\n\nOld text",
    "________________________________\nFrom: Mentoring Scheme <s@example.org>\nSent: Monday\nTo: Ann\n\nReply",
    "Sent from my iPhone\n\n> On 2 Mar 2026, at 09:15, Scheme <s@example.org> wrote:\n> Reply ACCEPT",
    "-- \nAnn Lee",
])
def test_nothing_written_above_the_marker(body):
    assert x(body) == ""


def test_bare_header_block_at_the_top_is_skipped():
    body = ("From: Ann Lee <ann@example.org>\nSent: Tuesday, 3 March 2026 10:15\nSubject: Intro\n\n"
            "Hello Sam,\nTuesday suits me.\n\nOn Mon, 2 Mar 2026 at 09:15, Sam <sam@example.org> wrote:\n> x")
    assert x(body) == "Hello Sam,\nTuesday suits me."


def test_reply_header_at_the_top_above_unquoted_history_means_nothing_new():
    body = "On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n\nHi Ann,\nReply ACCEPT or DECLINE."
    assert x(body) == ""


# --------------------------------------------------------------------------- 3. quoted blocks


def test_trailing_quote_dropped_even_when_followed_by_signature():
    body = "Accept\n\n> Reply ACCEPT or DECLINE.\n> Thanks\n\n-- \nAnn\n"
    assert x(body) == "Accept"


def test_inline_answers_keep_their_questions():
    body = ("Hi,\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n"
            "> Location:\n\nThe library\n\n> Review date:\n\n3 March\n\n> Thanks, the team\n")
    assert x(body) == ("Hi,\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n"
                       "> Location:\n\nThe library\n\n> Review date:\n\n3 March")
    assert x(body, keep_quotes=False) == "Hi,\n\nThe library\n\n3 March"


def test_bottom_post_drops_the_attributed_quote():
    body = f"On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n{QUOTE}\nAccept\n\nAnn\n"
    assert x(body) == "Accept\n\nAnn"


def test_interleaved_reply_keeps_the_leading_quote():
    body = ("On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n> Location:\nThe library\n"
            "> Review date:\n3 March\n> The mentoring team\n")
    assert x(body) == ("On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n> Location:\n"
                       "The library\n> Review date:\n3 March")
    assert x(body, keep_quotes=False) == "The library\n3 March"


def test_unattributed_quote_at_the_top_is_kept():
    body = "> the library is closed on Tuesdays\n\nThen let's meet at the café."
    assert x(body) == body
    assert x(body, keep_quotes=False) == "Then let's meet at the café."


def test_only_a_quote():
    assert x(f"On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n{QUOTE}") == ""
    assert x("> Reply ACCEPT or DECLINE.\n") == "> Reply ACCEPT or DECLINE."
    assert x("> Reply ACCEPT or DECLINE.\n", keep_quotes=False) == ""
    assert x("> On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n>> x\n") == ""


# --------------------------------------------------------------------------- 4. signatures, disclaimers


def test_disclaimer_dropped():
    body = ("Accept - see you Tuesday.\n\nCONFIDENTIALITY NOTICE: This e-mail and any attachments are intended "
            "only for the named recipient and may contain privileged information.\n\n"
            "Please consider the environment before printing this email.")
    assert x(body) == "Accept - see you Tuesday."


def test_closing_with_name_block():
    assert parts("Tuesday is fine.\n\nBest regards,\nAnn Lee\nSenior Engineer | Acme\n+44 20 7946 0000") \
        == ("Tuesday is fine.", "Best regards,\nAnn Lee", "Senior Engineer | Acme\n+44 20 7946 0000")
    assert parts("Tuesday is fine.\n\nMed venlig hilsen\nAnders") == ("Tuesday is fine.", "Med venlig hilsen\nAnders", "")
    assert parts("Tuesday is fine.\n\nBest regards,\n\nAnn") == ("Tuesday is fine.", "Best regards,\n\nAnn", "")
    assert parts("Tuesday is fine.\n\nCheers,\n\nAnn Lee\nwww.example.org") == \
        ("Tuesday is fine.", "Cheers,\n\nAnn Lee", "www.example.org")
    # new_text keeps the closing (the author's words), never the signature block
    assert x("Tuesday is fine.\n\nBest regards,\nAnn Lee\nSenior Engineer | Acme") == \
        "Tuesday is fine.\n\nBest regards,\nAnn Lee"


@pytest.mark.parametrize("closing", [
    "Kind regards,", "Diolch,", "Cofion gorau,", "Diolch / Thanks,", "Cordialement,", "Bien à vous,",
    "Mit freundlichen Grüßen", "Mit freundlichen Grüßen / Kind regards", "Viele Grüße", "Met vriendelijke groet,",
    "Hartelijke groeten", "Un saludo,", "Saludos cordiales", "Atenciosamente,", "Cumprimentos,",
    "Cordiali saluti", "Un caro saluto", "Med vänlig hälsning", "Vennlig hilsen", "Med venlig hilsen", "Mvh",
    "Ystävällisin terveisin", "Kveðja", "Pozdrawiam", "S pozdravem", "Thanks so much!", "Cheers 🙂", "/ Greetings",
    "Mit freundlichen Grüßen\nKind regards",
])
def test_valedictions_in_the_schemes_languages(closing):
    body = f"Ja, Dienstag passt.\n\n{closing}\nSam Jones"
    assert parts(body) == ("Ja, Dienstag passt.", f"{closing}\nSam Jones", "")


def test_name_on_the_valediction_line():
    assert parts("Yes, Tuesday.\n\nThanks, Ann") == ("Yes, Tuesday.", "Thanks, Ann", "")
    assert parts("Yes, Tuesday.\nCheers Sam") == ("Yes, Tuesday.", "Cheers Sam", "")
    assert parts("Yes, Tuesday.\nThanks, I will be there.") == ("Yes, Tuesday.\nThanks, I will be there.", "", "")


def test_a_valediction_without_a_name_is_the_authors_words():
    assert parts("Yes, Tuesday.\n\nThanks!") == ("Yes, Tuesday.\n\nThanks!", "", "")
    # ... unless a signature follows it
    assert parts("Yes, Tuesday.\n\nCheers\n\n-- \nAnn Lee\nhttp://x.example") == \
        ("Yes, Tuesday.", "Cheers", "Ann Lee\nhttp://x.example")


def test_words_under_a_valediction_are_not_a_signature():
    assert parts("Yes.\n\nThanks,\nTuesday 3pm works") == ("Yes.\n\nThanks,\nTuesday 3pm works", "", "")
    assert parts("Yes.\n\nBest,\nAnn\n\nLocation: the library") == ("Yes.\n\nBest,\nAnn\n\nLocation: the library", "", "")


def test_thank_you_followed_by_text_is_not_a_closing():
    assert parts("Hi Sam,\nThanks,\nI will be there.\nSee you Tuesday at the library.") == \
        ("Hi Sam,\nThanks,\nI will be there.\nSee you Tuesday at the library.", "", "")
    assert parts("Thanks!\nYes") == ("Thanks!\nYes", "", "")
    assert parts("Thank you!\n\nP.S. I can't do Fridays.") == ("Thank you!\n\nP.S. I can't do Fridays.", "", "")


def test_a_wrapped_sentence_ending_in_a_sign_off_word_is_the_authors_words():
    # discourse's embedded_email_19: "appreciated!" ends the sentence above it
    assert parts("Let me know if you like it - any feedback is highly\nappreciated!\n\n—Ryan") == \
        ("Let me know if you like it - any feedback is highly\nappreciated!", "—Ryan", "")
    assert parts("See you then, and\nthanks\nAnn", "Ann Lee") == ("See you then, and\nthanks", "Ann", "")
    # a sign-off after a finished sentence is still one
    assert parts("See you then.\nthanks\nAnn", "Ann Lee") == ("See you then.", "thanks\nAnn", "")
    assert parts("See you then\n\nthanks,\nAnn", "Ann Lee") == ("See you then", "thanks,\nAnn", "")


def test_name_only_sign_off_needs_the_senders_name():
    assert parts("Accept\n\nAnn", "Ann Lee") == ("Accept", "Ann", "")
    assert parts("Accept\nAL", "Lee, Ann") == ("Accept", "AL", "")
    assert parts("Accept\n\nj.w.", "Dr. Jürgen Weiß") == ("Accept", "j.w.", "")
    assert parts("Accept\n\nAnn") == ("Accept\n\nAnn", "", "")  # no evidence: it stays
    assert parts("Accept\n\nTuesday", "Ann Lee") == ("Accept\n\nTuesday", "", "")


def test_signature_block_without_dashes():
    assert parts("Happy to help.\n\nAnn Lee\nSenior Lecturer\nSchool of Nursing\nRiverside University") == \
        ("Happy to help.", "", "Ann Lee\nSenior Lecturer\nSchool of Nursing\nRiverside University")
    assert parts("Happy to help.\n\nAnn Lee | Consultant | +44 20 7946 0000") == \
        ("Happy to help.", "", "Ann Lee | Consultant | +44 20 7946 0000")
    # contact lines alone are not a signature when they are all the author wrote
    assert parts("Phone: 12345\nFax: 67890\nSkype: foobar") == ("Phone: 12345\nFax: 67890\nSkype: foobar", "", "")
    # a sentence under a name is text
    assert parts("Happy to help.\n\nAnn Lee\nI can do Tuesdays at the hospital library.")[1:] == ("", "")


def test_signature_after_dashes():
    assert parts("Yes please.\n\n-- \nAnn Lee\nMentor, Acme Ltd\n+44 20 7946 0000\n") == \
        ("Yes please.", "", "Ann Lee\nMentor, Acme Ltd\n+44 20 7946 0000")


def test_dash_name_signature():
    assert parts("Works for me.\n\n-Ann") == ("Works for me.", "-Ann", "")
    assert parts("Works for me.\n\n/Ann Lee") == ("Works for me.", "/Ann Lee", "")
    assert parts("Works for me.\n\n—Ryan") == ("Works for me.", "—Ryan", "")
    assert parts("Best regards,\n\n//Jef") == ("Best regards,", "//Jef", "")  # nothing above: the body keeps it
    assert parts("My goals:\n- Python\n- Public speaking") == ("My goals:\n- Python\n- Public speaking", "", "")


def test_trailing_decoration_dropped():
    assert x("Accept\n\n***\n====\n\u1427\n") == "Accept"


def test_rules_never_empty_the_reply():
    assert parts("Thanks,") == ("Thanks,", "", "")
    assert parts("Best regards,\nAnn Lee") == ("Best regards,", "Ann Lee", "")  # the name never in the body
    assert parts("-Ann") == ("-Ann", "", "")


# --------------------------------------------------------------------------- 5. output


def test_output_normalisation():
    assert x("Yes\r\n\r\nplease   \r\n") == "Yes\n\nplease"
    assert x("Y\u200bes\x00 please\ufeff") == "Yes please"
    assert x("") == "" and x("   \n\n ") == ""


def test_extract_reply_on_raw_message():
    raw = (b"From: Ann <ann@example.org>\r\nTo: scheme@example.org\r\nSubject: Re: x\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Accept\r\n\r\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\r\n> x\r\n")
    assert extract_reply(raw) == "Accept"
    assert extract_reply(b"") == ""


# --------------------------------------------------------------------------- the reply corpus


def _load_scorer():
    score_py = CORPUS / "score.py"
    if not score_py.is_file():
        pytest.fail(f"reply corpus not found: {score_py} (../shared beside the repository; always present in CI)")
    spec = importlib.util.spec_from_file_location("reply_corpus_score", score_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Checks of the shared corpus that contradict mailflow's product rules, and why. The
# test fails if any other check fails, or if one of these starts to pass (then the
# list is out of date).
CONTRADICTS = {
    "fiedl-extended_email_reply_parser/email_de_1":
        "wants the quoted block (and its reply header) of an inline reply in the output; "
        "extract_reply returns the author's lines only",
    "fiedl-extended_email_reply_parser/email_1_2":
        "wants the quoted question of an inline answer in the output; extract_reply returns the author's lines only",
    "fiedl-extended_email_reply_parser/email_de_9":
        "wants the valediction ('Viele Grüße') above the name in the output; extract_reply returns the body "
        "without the closing",
}


def test_reply_corpus_score():
    score = _load_scorer()
    seen: dict[tuple, bool] = {}
    checks_total = checks_ok = 0
    failed_checks = []
    for corpus in sorted(os.listdir(CORPUS)):
        cdir = CORPUS / corpus
        if not (cdir / "cases.json").is_file():
            continue
        cases = json.loads((cdir / "cases.json").read_text(encoding="utf-8"))["cases"]
        for case in cases:
            out, err = score.run_case(extract_reply, case, str(cdir))
            assert err is None, f"{corpus}/{case['id']}: {err}"
            result = score.judge(case, out, str(cdir))
            if "ws" in result:
                expected = (cdir / case["expected"]).read_text(encoding="utf-8")
                seen[(case["input_sha1"], score._ws(expected))] = result["ws"]
            if "checks" in result:
                checks_total += 1
                checks_ok += result["checks"]
                if not result["checks"]:
                    failed_checks.append(f"{corpus}/{case['id']}")
    ws = sum(seen.values()) / len(seen)
    assert ws >= 0.90, f"ws={ws:.4f}"
    assert set(failed_checks) == set(CONTRADICTS), f"failed checks: {failed_checks}"


# --------------------------------------------------------------------------- more reply-header shapes

SHAPES = [
    # mutt's common attribution
    "* Mentoring Scheme <scheme@example.org> [2026-03-02 09:15]:",
    "* Mentoring Scheme <scheme@example.org> [260302 09:15]:",
    # Zoho's short one
    "---- Mentoring Scheme wrote ----",
    # "sent" after the address
    "On 2 Mar 2026, Mentoring Scheme <scheme@example.org> sent:",
    "Mentoring Scheme <scheme@example.org> sent:",
    # "wrote" without a colon
    "On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme <scheme@example.org> wrote",
    # wrapped over three lines, broken inside the address
    "On Mon, 2 Mar 2026 at 09:15,\nMentoring Scheme <scheme@exa\nmple.org> wrote:",
    # localised rules
    "-----Reply Message-----", "-----Antwort Nachricht-----", "-------- Neges wreiddiol --------",
    "===== Original Message =====", "—— Mensaje original ——",
    # Date:/To: without From:
    "Date: Mon, 2 Mar 2026 09:15\nTo: Ann Lee <ann@example.org>",
    "Date: Monday, 2 March 2026 09:15\nSubject: Your first meeting",
    # From: and Date: run onto one line by an HTML conversion
    "From: Mentoring Scheme <scheme@example.org> Sent: Monday, 2 March 2026 09:15 To: Ann Subject: Meeting",
    "From: Mentoring Scheme <scheme@example.org>Date: Monday, 2 March 2026 09:15",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_more_reply_header_shapes_above_unquoted_history(shape):
    assert parts(f"Decline, sorry.\n\n{shape}\n\nHi Ann,\nCan you meet on Tuesday?\n") == ("Decline, sorry.", "", "")


@pytest.mark.parametrize("shape", SHAPES[:7])
def test_more_reply_header_shapes_above_a_quote(shape):
    assert parts(f"Decline, sorry.\n\n{shape}\n{QUOTE}") == ("Decline, sorry.", "", "")


def test_reply_text_on_the_attributions_line():
    body = f"Yes, happy to. On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme <scheme@example.org> wrote:\n{QUOTE}"
    assert parts(body) == ("Yes, happy to.", "", "")
    body = ("Yes, happy to. On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme\n<scheme@example.org> wrote:\n\n"
            "Hi Ann,\nCan you meet on Tuesday?")
    assert parts(body) == ("Yes, happy to.", "", "")


def test_quoted_history_broken_by_a_hard_wrapped_line():
    body = ("Accept\n\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n"
            "> Could you let us know whether you are able to take this on? Just reply to\n"
            "this email with one word on the first line:\n> ACCEPT   if you are happy to mentor Lena\n"
            "> DECLINE  if you are not able to at the moment\n")
    assert parts(body) == ("Accept", "", "")
    # an answer under a short quoted line is an answer
    body = ("On Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n> Location:\nthe library\n"
            "> Review date:\n3 June\n> Thanks\n")
    assert parts(body)[0] == "the library\n3 June"


@pytest.mark.parametrize("footer", [
    "_______________________________________________\nMentors mailing list\nmentors@lists.example",
    "This email and any attachments are confidential and intended solely for the addressee. If you have "
    "received this email in error please notify the sender.",
    "You received this message because you are subscribed to the Google Groups \"mentors\" group.\n"
    "To unsubscribe from this group and stop receiving emails from it, send an email to x@example.org.",
])
def test_a_footer_after_the_history_does_not_make_it_an_inline_answer(footer):
    body = f"Accept\n\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n{QUOTE}\n{footer}\n"
    assert parts(body) == ("Accept", "", "")


def test_a_filled_form_is_never_a_disclaimer():
    form = ("Location: the hospital library\nFrequency: monthly\n"
            "Confidentiality: what we discuss is confidential and stays between us, unless there is a "
            "safety concern; this email and any notes are private to the two of us")
    assert parts(form) == (form, "", "")
    single = "Thanks.\n\nConfidentiality: nothing we discuss leaves the pair, confidential unless safety."
    assert parts(single)[0] == single


@pytest.mark.parametrize("footer", [
    "Sent from my iPhone", "Anfonwyd o fy iPhone", "Inviato dal mio iPhone", "Enviado do meu iPhone",
    "Verstuurd vanaf mijn iPhone", "Lähetetty iPhonesta", "Von Yahoo Mail auf Android gesendet",
    "Outlook für iOS herunterladen", "Télécharger Outlook pour iOS", "Obtener Outlook para iOS",
    "Hent Outlook til iOS", "Skaffa Outlook för iOS", "Sent with Proton Mail secure email.",
    "Envoyé avec Proton Mail", "Baixe o Outlook para Android",
])
def test_device_footers_in_other_languages(footer):
    assert parts(f"Decline - away that week.\n\n{footer}\n") == ("Decline - away that week.", "", "")


def test_inline_answers_body_is_the_authors_lines_only():
    body = ("Hi,\nOn Mon, 2 Mar 2026 at 09:15, Scheme <scheme@example.org> wrote:\n"
            "> Location:\n\nThe library\n\n> Review date:\n\n3 March\n\n> Thanks, the team\n\nCheers,\nAnn")
    p = extract_parts(body)
    assert (p.body, p.closing) == ("Hi,\n\nThe library\n\n3 March", "Cheers,\nAnn")
    assert "> Location:" in p.text and p.text.endswith("Cheers,\nAnn")


def test_extract_reply_uses_the_from_name():
    raw = (b"From: Ann Lee <ann@example.org>\r\nTo: scheme@example.org\r\nSubject: Re: x\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nAccept\r\n\r\nAnn\r\n")
    assert extract_reply(raw) == "Accept"
    assert extract_reply(raw.replace(b"Ann Lee <", b"Sam Jones <")) == "Accept\n\nAnn"
