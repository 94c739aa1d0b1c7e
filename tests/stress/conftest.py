"""Options for the stress proofs (``tests/stress/``). The defaults are the short
versions CI runs; ``scripts/stress`` runs the long ones:

    scripts/stress kill     # --kills 100 --replies 1000
    scripts/stress fuzz     # --fuzz-messages 10000
    scripts/stress faults   # every scripted fault, as in CI
"""

from __future__ import annotations

import pytest

# The options (--kills, --replies, --fuzz-messages, --seed) are declared in
# tests/conftest.py: pytest reads options only from the first conftest files it loads.


def report(request: pytest.FixtureRequest, text: str) -> None:
    """Print a figure for the run's summary (shown with -s, or in the terminal summary)."""
    request.config._mailflow_figures = getattr(request.config, "_mailflow_figures", []) + [text]



def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    for line in getattr(config, "_mailflow_figures", []):
        terminalreporter.write_line(line)
