"""Every email in a real browser: Debian's Chromium, headless, through chromium-driver,
at 600 and 375 px, in light and dark mode (preview.py says what is checked).

The PNGs are kept in build/emails/ for a person to look at; ``scripts/emails
[TEMPLATE ...]`` makes them again for any template.
"""

from __future__ import annotations

import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

import preview
from mailflow.render import Renderer, flowed
from servers import free_ports

TEMPLATES = Renderer().names()
# Each preset's own templates (rules/NAME/templates/), rendered in that preset.
ROOT = Path(__file__).resolve().parent.parent
PRESET_TEMPLATES = [(preset.name, name) for preset in sorted((ROOT / "rules").iterdir())
                    if (preset / "templates").is_dir()
                    for name in Renderer(None, extra=[preset / "templates"]).names()
                    if (preset / "templates" / f"{name}.txt").is_file()]


@pytest.fixture(scope="module")
def browser():
    with preview.Browser() as b:
        yield b


@pytest.fixture(scope="module")
def emails() -> list[preview.Email]:
    return preview.render()


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_email_reads_well_in_a_browser(template, browser, emails):
    mails = [m for m in emails if m.template == template]
    assert mails, f"{template} was not rendered"
    for mail in mails:
        for png in (f"{mail.slug}-600.png", f"{mail.slug}-375.png", f"{mail.slug}-375-dark.png"):
            (preview.OUT / png).unlink(missing_ok=True)
        assert preview.check(mail, browser, preview.OUT) == [], mail.slug
        for png in (f"{mail.slug}-600.png", f"{mail.slug}-375.png", f"{mail.slug}-375-dark.png"):
            assert (preview.OUT / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


_PRESET_EMAILS: dict[str, list[preview.Email]] = {}


@pytest.mark.parametrize("preset, template", PRESET_TEMPLATES)
def test_every_preset_email_reads_well_in_a_browser(preset, template, browser):
    if preset not in _PRESET_EMAILS:
        names = [n for p, n in PRESET_TEMPLATES if p == preset]
        _PRESET_EMAILS[preset] = preview.render(names, rules=preset)
    mails = [m for m in _PRESET_EMAILS[preset] if m.template == template]
    assert mails, f"{preset}: {template} was not rendered"
    out = preview.OUT / preset
    for mail in mails:
        assert preview.check(mail, browser, out) == [], f"{preset}: {mail.slug}"


_TRANSLATED: dict[str, list[preview.Email]] = {}


def translated(language: str) -> list[preview.Email]:
    if language not in _TRANSLATED:
        _TRANSLATED[language] = preview.render(language=language)
    return _TRANSLATED[language]


@pytest.mark.parametrize("language", ["fr", "es", "pt"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_email_reads_well_in_each_language_on_a_phone(template, language, browser):
    """Translations run longer than English: each email at 375 px (light and dark),
    its command lines buttons with the words of its reader's language."""
    mails = [m for m in translated(language) if m.template == template]
    assert mails, f"{template} was not rendered"
    for mail in mails:
        assert preview.check(mail, browser, None, widths=(375,)) == [], mail.slug


def broken(html: str, text: str) -> preview.Email:
    msg = EmailMessage()
    msg["From"] = "Scheme <scheme@scheme.test>"
    msg["To"] = "ada@hospital.test"
    msg["Reply-To"] = "scheme+right@scheme.test"
    msg["Subject"] = "Introducing you to Sam"
    msg.set_content(flowed(text), params={"format": "flowed"})
    msg.add_alternative(html, subtype="html")
    return preview.Email("broken", "", "mentor", msg.as_bytes(), {"accept": ["accept"], "decline": ["decline"]},
                         "introduction")


def test_the_checks_find_what_they_look_for(browser, tmp_path):
    """Each check fails on an email that breaks its rule (so a pass means something)."""
    [port] = free_ports()  # nothing listens there: the request is made, and refused
    html = f"""<!DOCTYPE html><html><head><script>var x = 1;</script></head><body>
        <p style="color:#aaaaaa;background-color:#bbbbbb">grey on grey</p>
        <div style="width:900px">far too wide</div>
        <img src="http://127.0.0.1:{port}/pixel.png" alt="">
        <a data-command="DECLINE" href="mailto:scheme+wrong@scheme.test?subject=Introducing%20you%20to%20Sam&amp;body=NO">DECLINE</a>
        <a data-command="ACCEPT" style="display:none" href="mailto:scheme+right@scheme.test?subject=Re%3A%20Introducing%20you%20to%20Sam&amp;body=ACCEPT">ACCEPT</a>
        </body></html>"""
    text = "Dear Ada,\n\n    ACCEPT   if you can\n    DECLINE  if you cannot\n    MAYBE  not a command"
    problems = "\n".join(preview.check(broken(html, text), browser, tmp_path, widths=(375,)))
    for expected in ("the HTML has a script", "no lang", "no <h1>",
                     "375 px: 9", "wider than the 375 px viewport",
                     f"375 px: requested http://127.0.0.1:{port}/pixel.png",
                     "375 px: contrast 1.", "375 px dark: contrast 1.",
                     "the ACCEPT link is not visible",
                     "the DECLINE link goes to scheme+wrong@scheme.test, not the Reply-To scheme+right@scheme.test",
                     "the DECLINE link's subject is 'Introducing you to Sam', not 'Re: Introducing you to Sam'",
                     "the DECLINE link's body is 'NO', not 'DECLINE'"):
        assert expected in problems, f"{expected!r} not reported in:\n{problems}"
    assert "MAYBE" not in problems, "a word that is not a command of the reply context is no command line"

    missing = broken('<html lang="en"><body><h1>x</h1><p>no links</p></body></html>', "Dear Ada,\n\n    ACCEPT   yes")
    assert "375 px: the command line ACCEPT has no link" in preview.check(missing, browser, tmp_path, widths=(375,))


def test_one_command_checks_and_pictures_any_template(tmp_path):
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([str(root / "scripts" / "emails"), "introduction/reminder", "notes/clarify", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok    introduction--reminder  (mentor)" in proc.stdout
    assert "3 emails, 0 with problems" in proc.stdout  # notes/clarify has two variants
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{slug}-{suffix}.png" for slug in ("introduction--reminder", "notes--clarify",
                                            "notes--clarify@agreement-confirm")
        for suffix in ("600", "375", "375-dark"))
