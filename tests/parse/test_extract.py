"""mailflow.parse.extract: one small realistic case per rule in the module docstring."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from mailflow.parse.extract import extract_new_text, extract_reply

CORPUS = Path(__file__).resolve().parents[3] / "shared/corpus/replies"

QUOTE = "> Hi Ann,\n> Can you meet on Tuesday? Reply ACCEPT or DECLINE.\n> \n> The mentoring team\n"


def x(text: str, **kw) -> str:
    return extract_new_text(text, **kw)


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
    assert x(body) == "Decline, sorry.\n\nThanks,"


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
    assert x("Tuesday is fine.\n\nBest regards,\nAnn Lee\nSenior Engineer | Acme\n+44 20 7946 0000") \
        == "Tuesday is fine.\n\nBest regards,"
    assert x("Tuesday is fine.\n\nMed venlig hilsen\nAnders") == "Tuesday is fine.\n\nMed venlig hilsen"
    # after a blank line a lone name stays; a block of two or more lines goes
    assert x("Tuesday is fine.\n\nBest regards,\n\nAnn") == "Tuesday is fine.\n\nBest regards,\n\nAnn"
    assert x("Tuesday is fine.\n\nCheers,\n\nAnn Lee\nwww.example.org") == "Tuesday is fine.\n\nCheers,"


def test_closing_followed_by_an_answer_is_not_a_signature():
    assert x("Thanks!\nYes") == "Thanks!\nYes"
    assert x("Hi Sam,\nThanks,\nI will be there.\nSee you Tuesday at the library.") == \
        "Hi Sam,\nThanks,\nI will be there.\nSee you Tuesday at the library."


def test_dash_name_signature():
    assert x("Works for me.\n\n-Ann") == "Works for me."
    assert x("Works for me.\n\n/Ann Lee") == "Works for me."
    assert x("My goals:\n- Python\n- Public speaking") == "My goals:\n- Python\n- Public speaking"


def test_trailing_decoration_dropped():
    assert x("Accept\n\n***\n====\n\u1427\n") == "Accept"


def test_rules_never_empty_the_reply():
    assert x("Thanks,") == "Thanks,"
    assert x("Best regards,\nAnn Lee") == "Best regards,\nAnn Lee"
    assert x("-Ann") == "-Ann"


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
    assert checks_ok == checks_total, f"failed checks: {failed_checks}"
