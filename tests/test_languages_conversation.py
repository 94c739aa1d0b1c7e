"""The introduction and the agreement played in French, Spanish and Portuguese,
through a real Dovecot and aiosmtpd, on a fixed clock.

Each participant's CSV row has a ``language``. Their emails come in that language
(subjects, text, the form's labels and help, dates written out, the command words
on the buttons), and they answer in it: ``Oui, avec plaisir``, ``RENCONTRE 3 mars``,
the agreement form with its translated labels and a frequency such as ``une fois
par mois``, then ``CONFIRMER``. The English words keep working for them too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from clients import gmail_reply, outlook_reply
from harness import COORDINATOR, MENTEE, MENTOR, body
from journey import UTC, Journey

SAM = f"Sam Lee <{MENTEE}>"
ADA = f"Ada Byron <{MENTOR}>"

# What each language's emails say, and what its speakers write back.
CASES = {
    "fr": dict(
        intro_subject="Mise en relation avec Sam Lee, votre mentoré potentiel",
        intro_words=("ACCEPTER", "REFUSER"),
        accept="Oui, avec plaisir ! Je contacte Sam cette semaine.",
        accepted_subject="Bonne nouvelle : Dr Ada Byron souhaite être votre mentor",
        met="RENCONTRE 3 mars",
        met_echo="mardi 3 mars 2026",
        decide_words=("OUI", "NON", "PAS ENCORE"),
        yes_mentee="Oui, je veux continuer",
        yes_mentor="OUI",
        start_subject="Prochaine étape : votre accord de mentorat avec Dr Ada Byron",
        labels=("Lieu:", "Fréquence:", "Durée des rencontres:", "Objectifs:", "Date du bilan:"),
        form=("Lieu : en visio, ou à la bibliothèque\nFréquence : une fois par mois\n"
              "Durée des rencontres : 45 minutes\nDurée du mentorat : 12 mois\n"
              "Objectifs :\n1. Déposer ma première demande de financement\n2. Présenter au congrès régional\n"
              "Date du bilan : 3 juin 2026\n\nMerci, Sam"),
        proposed_subject="Merci de confirmer votre accord de mentorat avec Sam Lee (version 1)",
        confirm_word="CONFIRMER",
        confirm="Confirmer",
        agreed_subject="Votre accord de mentorat est confirmé",
        review_shown="mercredi 3 juin 2026",
        greeting="Bonjour Dr Ada Byron,",
    ),
    "es": dict(
        intro_subject="Le presentamos a Sam Lee, su posible persona mentorizada",
        intro_words=("ACEPTAR", "RECHAZAR"),
        accept="Sí, con mucho gusto. Escribiré a Sam esta semana.",
        accepted_subject="Buenas noticias: a Dr Ada Byron le gustaría ser su mentor",
        met="REUNIÓN 3 de marzo",
        met_echo="martes, 3 de marzo de 2026",
        decide_words=("SÍ", "NO", "TODAVÍA NO"),
        yes_mentee="Sí, quiero continuar",
        yes_mentor="SÍ",
        start_subject="Siguiente paso: su acuerdo de mentoría con Dr Ada Byron",
        labels=("Lugar:", "Frecuencia:", "Duración de las reuniones:", "Objetivos:", "Fecha de revisión:"),
        form=("Lugar: por videollamada, o en la biblioteca\nFrecuencia: una vez al mes\n"
              "Duración de las reuniones: 45 minutos\nDuración de la mentoría: 12 meses\n"
              "Objetivos:\n1. Presentar mi primera solicitud de financiación\n2. Presentar en el congreso regional\n"
              "Fecha de revisión: 3 de junio de 2026\n\nGracias, Sam"),
        proposed_subject="Confirme su acuerdo de mentoría con Sam Lee (versión 1)",
        confirm_word="CONFIRMAR",
        confirm="Confirmo",
        agreed_subject="Su acuerdo de mentoría está confirmado",
        review_shown="miércoles, 3 de junio de 2026",
        greeting="Estimado/a Dr Ada Byron:",
    ),
    "pt": dict(
        intro_subject="Apresentamos Sam Lee, sua possível pessoa mentorada",
        intro_words=("ACEITAR", "RECUSAR"),
        accept="Sim, com prazer! Vou escrever ao Sam esta semana.",
        accepted_subject="Boa notícia: Dr Ada Byron gostaria de ser seu mentor",
        met="REUNIÃO 3 de março",
        met_echo="terça-feira, 3 de março de 2026",
        decide_words=("SIM", "NÃO", "AINDA NÃO"),
        yes_mentee="Sim, quero continuar",
        yes_mentor="SIM",
        start_subject="Próximo passo: o seu acordo de mentoria com Dr Ada Byron",
        labels=("Local:", "Frequência:", "Duração das reuniões:", "Objetivos:", "Data de revisão:"),
        form=("Local: por vídeo, ou na biblioteca\nFrequência: uma vez por mês\n"
              "Duração das reuniões: 45 minutos\nDuração da mentoria: 12 meses\n"
              "Objetivos:\n1. Enviar o meu primeiro pedido de financiamento\n2. Apresentar no congresso regional\n"
              "Data de revisão: 3 de junho de 2026\n\nObrigado, Sam"),
        proposed_subject="Confirme o seu acordo de mentoria com Sam Lee (versão 1)",
        confirm_word="CONFIRMAR",
        confirm="Concordo",
        agreed_subject="O seu acordo de mentoria está confirmado",
        review_shown="quarta-feira, 3 de junho de 2026",
        greeting="Olá, Dr Ada Byron,",
    ),
}


def people(lang: str) -> str:
    return ("role,name,email,language\n"
            "coordinator,Jo Coordinator,coordinator@scheme.test,\n"
            f"mentor,Dr Ada Byron,{MENTOR},{lang}\n"
            f"mentee,Sam Lee,{MENTEE},{lang}\n")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("data-command") and "command-link" in (a.get("class") or ""):
            self.commands.append(a["data-command"])


def buttons(mail) -> list[str]:
    parser = _Links()
    parser.feed(mail.message.get_body(("html",)).get_content())
    return parser.commands


def subject(mail) -> str:
    return str(mail.message["Subject"])


@pytest.mark.parametrize("lang", sorted(CASES))
def test_the_introduction_and_the_agreement_in_their_language(lang, tmp_path, imap_account, smtp_sink):
    case = CASES[lang]
    j = Journey(tmp_path, imap_account, smtp_sink, people=people(lang),
                start=__import__("datetime").datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    try:
        # The welcome came in their language too (set aside by the journey).
        welcome = [m for m in smtp_sink.messages if m.message["X-Mailflow-Template"] == "welcome/welcome"]
        assert [str(m.message["Content-Language"]) for m in welcome] == [lang, lang]

        # 1. The introduction: a subject, a greeting and buttons in the mentor's language.
        j.service.pair(MENTEE, MENTOR)
        assert sorted(j.cycle()) == [("introduction/to-mentee", MENTEE), ("introduction/to-mentor", MENTOR)]
        intro = j.email("introduction/to-mentor", MENTOR)
        assert subject(intro) == case["intro_subject"]
        assert case["greeting"] in body(intro)
        assert buttons(intro) == list(case["intro_words"]) and str(intro.message["Content-Language"]) == lang
        assert 'lang="%s"' % lang in intro.message.get_body(("html",)).get_content()
        assert "Dear" not in body(intro) and "reply" not in body(intro).lower()

        # 2. The mentor accepts in their own words; both hear of it in their language.
        assert sorted(j.reply("introduction/to-mentor", MENTOR, outlook_reply, case["accept"], ADA)) == [
            ("introduction/accepted-mentee", MENTEE), ("introduction/accepted-mentor", MENTOR)]
        assert j.pair_state() == "getting-to-know"
        assert subject(j.email("introduction/accepted-mentee", MENTEE)) == case["accepted_subject"]

        # 3. They met (a date in their language, echoed written out in it), then both say yes.
        j.clock.advance(days=2)
        out = j.reply("introduction/accepted-mentee", MENTEE, gmail_reply, case["met"], SAM)
        assert sorted(out) == sorted([("getting-to-know/decide", MENTEE), ("getting-to-know/decide", MENTOR)])
        decide = j.email("getting-to-know/decide", MENTOR)
        assert case["met_echo"] in body(decide), body(decide)
        assert buttons(decide) == list(case["decide_words"])
        j.reply("getting-to-know/decide", MENTEE, gmail_reply, case["yes_mentee"], SAM)
        out = j.reply("getting-to-know/decide", MENTOR, outlook_reply, case["yes_mentor"], ADA)
        assert ("agreement/start-mentee", MENTEE) in out and j.pair_state() == "agreeing"

        # 4. The agreement form, its labels and help in the mentee's language; they fill it
        #    in with those labels and a frequency in their words.
        start = j.email("agreement/start-mentee", MENTEE)
        assert subject(start) == case["start_subject"]
        text = start.message.get_body(("plain",)).get_content()
        for label in case["labels"]:
            assert re.search(rf"^{re.escape(label)}", text, re.M), (label, text)
        assert "Location:" not in text and "Review date:" not in text
        out = j.reply("agreement/start-mentee", MENTEE, gmail_reply, case["form"], SAM)
        assert sorted(out) == [("agreement/proposed", MENTOR), ("agreement/sent", MENTEE)], out
        proposed = j.email("agreement/proposed", MENTOR)
        assert subject(proposed) == case["proposed_subject"]
        assert case["review_shown"] in body(proposed)
        assert case["confirm_word"] in buttons(proposed)

        # 5. The mentor confirms: in force, each told in their language, with the review date.
        out = j.reply("agreement/proposed", MENTOR, outlook_reply, case["confirm"], ADA)
        assert ("agreement/agreed", MENTOR) in out and ("agreement/agreed", MENTEE) in out
        assert ("agreement/agreed-coordinator", COORDINATOR) in out
        assert j.pair_state() == "active"
        agreed = j.email("agreement/agreed", MENTEE)
        assert subject(agreed) == case["agreed_subject"] and case["review_shown"] in body(agreed)
        facts = j.service.store.facts(1)
        assert facts["review_date"] == "2026-06-03" and facts["interval_days"] == 30
        assert facts["meeting_minutes"] == 45

        # The coordinators' language is the scheme's: their notice is in English.
        assert subject(j.email("agreement/agreed-coordinator", COORDINATOR)).startswith("Agreement confirmed")

        # 6. English still works for them: HELP answers, in their language.
        assert j.reply("agreement/agreed", MENTEE, gmail_reply, "HELP", SAM) == [("anytime/help", MENTEE)]
        help_mail = j.email("anytime/help", MENTEE)
        assert "Help and support" not in subject(help_mail) and case["greeting"].split()[0] in body(help_mail)
    finally:
        j.close()
