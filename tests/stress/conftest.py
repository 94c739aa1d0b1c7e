"""Options for the stress proofs (``tests/stress/``). The defaults are the short
versions CI runs; ``scripts/stress`` runs the long ones:

    scripts/stress kill     # --kills 100 --replies 3000
    scripts/stress fuzz     # --fuzz-messages 10000
    scripts/stress faults   # every scripted fault, as in CI
"""

from __future__ import annotations

# The options (--kills, --replies, --fuzz-messages, --seed) are declared in
# tests/conftest.py: pytest reads options only from the first conftest files it loads.


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the figures the stress proofs reported (tests/stress/figures.py)."""
    for line in getattr(config, "_mailflow_figures", []):
        terminalreporter.write_line(line)
