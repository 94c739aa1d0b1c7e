"""The benchmark suite's small version runs in CI so that it cannot rot (issue 12).

It checks that every figure is measured and that the work the suite times was done
right (every reply of the backlog processed, two answers sent for each); it never
checks a speed: slowness is reported by ``scripts/bench``, not failed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_small_benchmark_measures_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "suite.py"), "--small", "--replies", "60",
                           "--participants", "1000", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    rows = {r["name"]: r for r in data["rows"]}
    for prefix in ("raw limit", "naive poller", "backlog: mailflow run-once", "peak RSS", "hot-path queries",
                   "run-once, nothing due", "tick:", "status EMAIL --json", "status EMAIL: work",
                   "status, everyone", "pair: work", "pair --csv", "enrol --csv", "mailflow --help",
                   "--help imports none", "IDLE: burst", "IDLE: single", "slowest reply read"):
        assert any(name.startswith(prefix) for name in rows), f"no figure for {prefix!r}: {sorted(rows)}"
    backlog = rows["backlog: mailflow run-once"]
    assert "processed 60, sent 120" in backlog["note"], backlog["note"]
    assert rows["hot-path queries with a full scan"]["value"] == 0, data["plans"]
    assert rows["--help imports none of the mail machinery"]["ok"], rows["--help imports none of the mail machinery"]
    assert "| figure | value | unit | target | ratio | met | note |" in proc.stdout
    assert data["machine"]["cores"] and "load_after" in data["machine"]


@pytest.mark.parametrize("script", [["bench_summary.py", "--pairs", "20"], ["bench_understand.py", "--rounds", "1"],
                                    ["bench_extract.py", "--rounds", "1"]])
def test_each_stage_benchmark_still_runs(script):
    """The one-stage benchmarks, on the least data, so that a change to the service
    (the welcome's consent once stopped bench_summary.py from pairing) is seen here."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script[0]), *script[1:]], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " ms" in proc.stdout, proc.stdout
