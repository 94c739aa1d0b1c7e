"""Where the shipped templates, rules and example config live.

In a source checkout (and an editable install) they are the top-level folders
``templates/``, ``rules/`` and ``config.example.toml``; in a wheel they are packaged
under ``mailflow/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The shipped ``templates``, ``rules`` or ``config.example.toml``."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"mailflow's shipped {name} is missing from {_PACKAGE} (a broken install?)")
