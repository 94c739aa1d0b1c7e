"""The scheme presets shipped with mailflow, for ``mailflow init --scheme NAME``.

A preset is a folder of rule files under ``rules/`` that extends the default scheme,
with its own ``templates/`` and a ``README.md`` saying what it does. ``init --scheme``
writes the starter config with ``rules = "NAME"`` and says what the preset needs
from the enrolment CSV and the config.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ConfigError
from .resources import shipped
from .workflow.loader import load_workflow


def presets() -> list[str]:
    """The shipped schemes other than the default one."""
    return sorted(p.name for p in shipped("rules").iterdir()
                  if p.is_dir() and p.name != "default" and any(p.glob("*.toml")))


def _folder(name: str) -> Path:
    folder = shipped("rules") / name
    if name == "default" or name not in presets():
        raise ConfigError(f"--scheme {name!r}: there is no such preset. Shipped presets: {', '.join(presets())} "
                          "(leave --scheme out for the default scheme).")
    return folder


def preset_config(name: str) -> str:
    """The starter config (config.example.toml) with ``rules = "NAME"``."""
    load_workflow(_folder(name))  # a broken preset is reported before anything is written
    text = shipped("config.example.toml").read_text(encoding="utf-8")
    new, n = re.subn(r'(?m)^rules = "default"$', f'rules = "{name}"', text)
    assert n == 1, "config.example.toml has no rules = \"default\" line"
    return new


def describe(name: str) -> list[str]:
    """What the preset is, and what it needs: lines for the person setting it up."""
    folder = _folder(name)
    wf = load_workflow(folder)
    readme = folder / "README.md"
    lines = [f"scheme {name}: {_summary(readme)}", f"  what it does: {readme}"]
    columns = ["role", "name", "email", "greeting", "timezone", "conflicts (reason:email;...)"]
    if wf.settings.get("mentor_registration_required") is True:
        columns.append("registration (required of every mentor, e.g. HCPC PYL12345)")
    fields = [c for c in wf.settings.get("directory_fields", []) if isinstance(c, str)]
    if fields:
        columns.append(f"{', '.join(fields)} (shown in the mentors' directory)")
        columns.append("capacity (mentors)")
    lines.append(f"  enrolment CSV columns: {'; '.join(columns)}")
    keys = ["support (the referral contacts HELP returns)"]
    if wf.settings.get("pair_list_stages"):
        keys.append("pair_list_to (who is told who mentors whom)")
    lines.append(f"  in [scheme], also set: {'; '.join(keys)}")
    return lines


def _summary(readme: Path) -> str:
    """The first paragraph of a preset's README, on one line."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return "(no README.md)"
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip() and not p.lstrip().startswith("#")]
    return " ".join(paragraphs[0].split()) if paragraphs else ""
