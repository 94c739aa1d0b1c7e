#!/usr/bin/env python3
"""How fast mailflow understands a reply, from raw bytes to a Reply, on the golden corpus.

    .venv/bin/python benchmarks/bench_understand.py [--rounds N]

For every case in tests/corpus/ (real-client replies to mailflow's own emails) it
times parse.read (MIME, extraction, machine-mail check) and parse.understand against
the case's reply context (commands, form, dates), and prints messages per second,
the slowest message, and the time of one date parse after warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailflow import parse  # noqa: E402
from mailflow.parse import dates  # noqa: E402
from mailflow.workflow import engine  # noqa: E402
from mailflow.workflow.loader import load_workflow, rules_folder  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    workflow = load_workflow(rules_folder("default"))
    cases = []
    for folder in sorted((ROOT / "tests" / "corpus").iterdir()):
        if (folder / "message.eml").is_file():
            spec = json.loads((folder / "expected.json").read_text())
            cases.append((folder.name, (folder / "message.eml").read_bytes(), spec))
    if not cases:
        print("no cases in tests/corpus", file=sys.stderr)
        return 2
    dates.warm_up()
    per_case: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    start = time.perf_counter()
    for _ in range(args.rounds):
        for name, raw, spec in cases:
            t = time.perf_counter()
            mail = parse.read(raw, tz="Europe/London")
            now = dt.datetime.fromisoformat(spec.get("now", "2026-03-02T10:00:00+00:00"))
            parse.understand(mail, engine.expectation(workflow, spec["context"]), now=now, tz="Europe/London",
                             date_order=spec.get("date_order", "DMY"), languages=spec.get("languages", ["en"]),
                             names=spec.get("names", []))
            per_case[name].append(time.perf_counter() - t)
    total = time.perf_counter() - start
    n = args.rounds * len(cases)
    print(f"{len(cases)} golden-corpus replies x {args.rounds} rounds: {n / total:,.0f} messages/s "
          f"(read + understand)")
    medians = sorted(((statistics.median(v), k) for k, v in per_case.items()), reverse=True)
    print(f"median per message: {statistics.median(m for m, _ in medians) * 1000:.2f} ms")
    print(f"slowest: {medians[0][1]} ({medians[0][0] * 1000:.2f} ms median)")
    base = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    texts = ["next Tuesday", "3 March 2027", "03/04", "in two weeks", "whenever"]
    t = time.perf_counter()
    for _ in range(200):
        for text in texts:
            dates.parse_date(text, base=base, tz="Europe/London", date_order="DMY")
    print(f"one date parse after warm-up: {(time.perf_counter() - t) / (200 * len(texts)) * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
