"""Every participant in their own language: tags and chains, dates written out, the
CSV column, catalogues that fall back, whole templates per language, the rules'
translated words, and what `mailflow check` says is missing."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from mailflow import i18n
from mailflow.checks import run_checks
from mailflow.config import parse
from mailflow.enrol import parse_csv
from mailflow.errors import CsvError
from mailflow.outbox import Recipient
from mailflow.render import Renderer
from mailflow.workflow.loader import check_workflow, load_workflow

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "rules" / "default"


def test_tags_and_chains():
    assert i18n.normalise("PT_br") == "pt-BR" and i18n.normalise("fr") == "fr"
    assert i18n.chain("pt-BR", "fr") == ("pt-BR", "pt", "fr", "en")
    assert i18n.chain(None, "es") == ("es", "en")
    assert i18n.chain("en-GB") == ("en-GB", "en")
    with pytest.raises(ValueError):
        i18n.normalise("klingon")
    assert i18n.date_languages("pt-BR", "en", ("en", "fr")) == ("pt", "en", "fr")


def test_days_are_written_out_in_the_readers_language():
    day = dt.date(2026, 3, 3)
    assert i18n.format_day(day, "en") == "Tuesday 3 March 2026"
    assert i18n.format_day(day, "fr") == "mardi 3 mars 2026"
    assert i18n.format_day(day, "es") == "martes, 3 de marzo de 2026"
    assert i18n.format_day(day, "pt-BR") == "terça-feira, 3 de março de 2026"
    moment = dt.datetime(2026, 3, 3, 14, 0)
    assert i18n.format_moment(moment, "fr") == "mardi 3 mars 2026 à 14:00"
    assert i18n.format_moment(moment, "en") == "Tuesday 3 March 2026 at 14:00"
    shown = i18n.Day(day)
    assert shown == "Tuesday 3 March 2026", "reads as English until localized"
    assert i18n.localize({"a": [shown], "b": (shown,), "c": 1}, "es") == {
        "a": ["martes, 3 de marzo de 2026"], "b": ("martes, 3 de marzo de 2026",), "c": 1}


def test_the_csv_language_column_is_a_bcp47_tag():
    people = parse_csv("role,name,email,language\nmentor,Ada,ada@x.test,pt_br\nmentee,Sam,sam@x.test,\n")
    assert people[0].extra["language"] == "pt-BR" and people[1].extra["language"] == ""
    with pytest.raises(CsvError, match=r"CSV:3: language 'elvish' is not a language tag such as fr"):
        parse_csv("role,name,email,language\nmentor,Ada,ada@x.test,fr\nmentee,Sam,sam@x.test,elvish\n")


def test_the_rules_words_of_a_language_and_english_for_everyone():
    wf = load_workflow(DEFAULT)
    assert set(wf.translations) == {"fr", "es", "pt"}
    fr = wf.commands("introduction", ("fr", "en"))
    assert fr["accept"][0] == "accepter" and "accept" in fr["accept"] and "happy to" in fr["accept"]
    assert "deplacer" in wf.commands("review", ("fr", "en"))["move"], "accents may be left out"
    assert "accepter" not in wf.commands("introduction")["accept"], "only for those whose language it is"
    es = wf.commands("decision", ("es", "en"))
    assert "si" not in es["yes"], "Spanish 'si' means 'if': never read as yes"
    fields = {f.name: f for f in wf.form_fields("agreement", ("pt-BR", "pt", "en"))}
    assert fields["review_date"].label == "Data de revisão" and "Review date" in fields["review_date"].synonyms
    assert fields["frequency"].help.startswith("com que frequência")


def lang_rules(tmp_path: Path, text: str, name: str = "de.toml") -> Path:
    rules = tmp_path / "rules"
    (rules / "lang").mkdir(parents=True)
    (rules / "scheme.toml").write_text('[workflow]\nname = "mine"\nextends = "default"\n', encoding="utf-8")
    (rules / "lang" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return rules


@pytest.mark.parametrize("text, name, line, says", [
    ('[commands.introductio]\naccept = ["annehmen"]\n', "de.toml", 1, "did you mean 'introduction'"),
    ('[commands.introduction]\nacept = ["annehmen"]\n', "de.toml", 2, "'acept' is not a command of reply context"),
    ('[commands.introduction]\naccept = ["nein"]\ndecline = ["nein"]\n', "de.toml", 0,
     "'nein' means both 'accept' and 'decline'"),
    ('[commands.introduction]\naccept = ["annehmen"]\n', "deutsch-sprache.toml", 1, "must be a language tag"),
    ('[forms.agreement.colour]\nlabel = "Farbe"\n', "de.toml", 1, "has no field 'colour'"),
    ('[commands.introduction]\naccept = []\n', "de.toml", 2, "must be a non-empty list"),
])
def test_a_broken_translation_file_is_reported_with_file_and_line(tmp_path, text, name, line, says):
    # The folder's own file of the default scheme's name shadows nothing: scheme.toml is
    # replaced, so put the settings back by extending the default in a new file.
    rules = lang_rules(tmp_path, text, name)
    (rules / "scheme.toml").unlink()
    (rules / "mine.toml").write_text('[workflow]\nname = "mine"\nextends = "default"\n', encoding="utf-8")
    _wf, problems = check_workflow(rules)
    where = str(rules / "lang" / name)
    assert any(p.startswith(f"{where}:{line}:" if line else where) and says in p for p in problems), problems


def catalogue(folder: Path, lang: str, messages: dict[str, str]) -> None:
    cat = Catalog(locale=lang.replace("-", "_"), domain="messages")
    for msgid, msgstr in messages.items():
        cat.add(msgid, msgstr)
    path = folder / lang / "LC_MESSAGES"
    path.mkdir(parents=True)
    with (path / "messages.po").open("wb") as fh:
        write_po(fh, cat)


def render(renderer: Renderer, name: str, lang: str | None) -> str:
    from mailflow.checks import sample_context

    config = parse('[scheme]\nname = "S"\naddress = "m@s.test"\ncoordinators = ["c@s.test"]\n'
                   '[smtp]\nhost = "h"\n', ROOT / "x.toml")
    ctx = sample_context(config, load_workflow(DEFAULT))
    ctx["recipient"] = Recipient("sam@s.test", "Sam Lee", "mentee", 2, language=lang)
    return renderer.render(name, ctx).text


def test_a_missing_translation_falls_back_to_the_schemes_language_then_english(tmp_path):
    own = tmp_path / "templates"
    catalogue(own, "de", {"Dear %(greeting)s,": "Liebe(r) %(greeting)s,",
                          "Which email were you answering?": "Auf welche E-Mail antworten Sie?"})
    german_then_english = render(Renderer(own, "en"), "notes/no-token", "de")
    assert german_then_english.startswith("Liebe(r) Sam Lee,")
    assert "Thank you for your email. We could not tell which of our emails it answers" in german_then_english
    # With French as the scheme's language, what German lacks is said in French.
    german_then_french = render(Renderer(own, "fr"), "notes/no-token", "de")
    assert german_then_french.startswith("Liebe(r) Sam Lee,")
    assert "Merci de votre e-mail. Nous n'avons pas pu savoir à quel e-mail il répond" in german_then_french
    # And a participant with no language gets the scheme's.
    assert render(Renderer(own, "fr"), "notes/no-token", None).startswith("Bonjour Sam Lee,")


def test_a_scheme_catalogue_comes_before_the_shipped_one_and_a_whole_template_may_be_replaced(tmp_path):
    own = tmp_path / "templates"
    catalogue(own, "fr", {"Dear %(greeting)s,": "Chère, cher %(greeting)s,"})
    (own / "fr" / "notes").mkdir(parents=True)
    (own / "fr" / "notes" / "expired.txt").write_text(
        "Subject: Trop ancien\n\nBonjour {{ recipient.greeting }}, ce message est trop ancien.\n", encoding="utf-8")
    renderer = Renderer(own)
    text = render(renderer, "notes/no-token", "fr")
    assert text.startswith("Chère, cher Sam Lee,") and "Merci de votre e-mail" in text
    assert render(renderer, "notes/expired", "fr").startswith("Bonjour Sam Lee, ce message est trop ancien.")
    assert render(renderer, "notes/expired", "es").startswith("Estimado/a Sam Lee:")
    assert "fr/notes/expired" not in renderer.names()


def test_check_lists_what_each_language_is_missing(tmp_path):
    own = tmp_path / "templates"
    catalogue(own, "de", {"Dear %(greeting)s,": "Liebe(r) %(greeting)s,",
                          "ACCEPT   if you are happy to mentor %(mentee)s": "ANNEHMEN   wenn Sie %(mentee)s begleiten"})
    path = tmp_path / "mailflow.toml"
    path.write_text(textwrap.dedent(f"""\
        [scheme]
        name = "S"
        address = "m@scheme.test"
        coordinators = ["c@scheme.test"]
        templates = "{own}"
        languages = ["en", "de"]
        [smtp]
        host = "smtp.scheme.test"
        """), encoding="utf-8")
    lines = [(passed, line) for passed, line in run_checks(path, offline=True)]
    text = "\n".join(line for _, line in lines)
    german = [line for passed, line in lines if passed is None and line.startswith("language de:")]
    assert german and "template messages untranslated" in german[0] and "command(s) with no de words" in german[0]
    assert "    notes/no-action: “Your email has not been passed on”" in text, text
    assert "“ANNEHMEN   wenn Sie %(mentee)s begleiten” translates a command line, but “ANNEHMEN” is not a " \
           "command word of de or English in the rules" in text
    total = len({m for ms in i18n.template_messages([ROOT / "templates"], ["_footer", *Renderer().names()]).values()
                 for m in ms})
    for lang in ("es", "fr", "pt"):
        assert (True, f"language {lang}: all {total} template messages, every command word and form label "
                      "translated") in lines, text
    assert not [line for passed, line in lines if passed is False], text


def test_the_shipped_catalogues_are_complete_and_their_command_lines_use_the_rules_words():
    """Every message of the shipped templates is translated in fr, es and pt, with the
    same %(name)s variables, and every translated command line starts with a word the
    rules read in that language (so its button answers)."""
    import re

    from mailflow.checks import _COMMAND_HEAD, _TRANSLATED_HEAD

    wf = load_workflow(DEFAULT)
    folders = [ROOT / "templates"]
    messages = i18n.template_messages(folders, ["_footer", *Renderer().names()])
    for lang in ("fr", "es", "pt"):
        assert i18n.missing_messages(folders, lang, messages) == {}, lang
        words = {w for ctx in wf.replies for ws in wf.commands(ctx, (lang, "en")).values() for w in ws}
        for msgid, msgstr in i18n.messages_of(ROOT / "templates" / lang / "LC_MESSAGES" / "messages.po").items():
            assert set(re.findall(r"%\((\w+)\)", msgid)) <= set(re.findall(r"%\((\w+)\)", msgstr)) | {"num"}, msgid
            if _COMMAND_HEAD.match(msgid):
                head = _TRANSLATED_HEAD.match(msgstr)
                assert head and " ".join(head.group(1).lower().split()) in words, (lang, msgstr)
