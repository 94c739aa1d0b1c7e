"""The figures a stress proof reports: printed at the end of the run (see conftest.py)."""

from __future__ import annotations

import pytest


def report(request: pytest.FixtureRequest, text: str) -> None:
    request.config._mailflow_figures = getattr(request.config, "_mailflow_figures", []) + [text]
