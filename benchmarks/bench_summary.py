#!/usr/bin/env python3
"""Benchmark the coordinators' weekly summary on a large scheme.

    .venv/bin/python benchmarks/bench_summary.py [--pairs N]

Builds a scheme in a temporary folder, with every list of the summary longer than
the email shows (N pairs made a week ago with ``Service.pair``, two thirds of their
introductions unanswered, a third accepted with a review date within 14 days, a
tenth of those flagged silent, N/2 mentors, 50 mentees waiting), then times:
``summary.build`` (the data), the whole summary queued for one coordinator (data,
text and HTML rendered, CSS inlined, the CSV attached), ``export.pairs_csv`` alone,
one participant's export, and erasing one participant (with VACUUM). Prints the
sizes of the email and the CSV. Outgoing mail goes to a Maildir; nothing is sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailflow import privacy, summary  # noqa: E402
from mailflow.clock import FixedClock  # noqa: E402
from mailflow.config import load  # noqa: E402
from mailflow.enrol import parse_csv  # noqa: E402
from mailflow.export import export_zip, pairs_csv  # noqa: E402
from mailflow.service import Service  # noqa: E402
from mailflow.workflow.apply import Subject  # noqa: E402
from mailflow.workflow.decisions import SetFacts, Transition  # noqa: E402


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<44} {1000 * (time.perf_counter() - start):9.1f} ms")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    n = parser.parse_args().pairs
    with tempfile.TemporaryDirectory(prefix="mailflow-bench-") as tmp:
        d = Path(tmp)
        (d / "mailflow.toml").write_text('[scheme]\nname = "Bench"\naddress = "m@bench.example"\n'
                                         'coordinators = ["c@bench.example"]\ntimezone = "Europe/London"\nconsent = "implied"\n'
                                         '[outbox]\ntransport = "maildir"\nmaildir = "out"\n'
                                         'daily_cap_per_recipient = 100000\n')
        service = Service(load(d / "mailflow.toml"), clock=FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)))
        rows = ["role,name,email", "coordinator,Jo,c@bench.example"]
        rows += [f"mentor,Mentor {i},mentor{i}@bench.example" for i in range(n // 2)]
        rows += [f"mentee,Mentee {i},mentee{i}@bench.example" for i in range(n + 50)]  # 50 left waiting
        service.enrol(parse_csv("\n".join(rows) + "\n"))
        start = time.perf_counter()
        for i in range(n):
            pid = service.pair(f"mentee{i}@bench.example", f"mentor{i % (n // 2)}@bench.example")
            if i % 3 == 0:
                with service.store.transaction():
                    extra = [SetFacts({"flags": ["silent"]})] if i % 10 == 0 else []
                    extra.append(SetFacts({"review_date": "2026-03-20"}))
                    service.applier.apply([Transition("getting-to-know"), *extra],
                                          Subject(pair=service.store.pair(pid), key=f"b:{pid}"), service.clock.now())
        print(f"{n} pairs made in {time.perf_counter() - start:.1f} s")
        service.clock.advance(days=7)
        now = service.clock.now()
        data = timed("summary.build", lambda: summary.build(service, now))
        print(f"  {len(data['needs'])} lines need a coordinator")

        def queue():
            with service.store.transaction():
                return summary.queue(service, "coordinators", key="bench", kind="asked", week=now.date(), now=now)
        [oid] = timed("the summary queued (rendered, CSV attached)", queue)
        raw = service.store.scalar("SELECT raw FROM outbox WHERE id = ?", (oid,))
        csv = timed("export.pairs_csv", lambda: pairs_csv(service, now))
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        html = msg.get_body(("html",)).get_content().encode()
        text = msg.get_body(("plain",)).get_content().encode()
        print(f"  email {len(raw) / 1000:.0f} kB: HTML {len(html) / 1000:.0f} kB, text {len(text) / 1000:.0f} kB; "
              f"CSV {len(csv) / 1000:.0f} kB")
        timed("one participant's export (zip)", lambda: export_zip(service.store, "mentee1@bench.example", now))
        service.close_pair(2)
        timed("erase one participant (and VACUUM)", lambda: privacy.erase(service, "mentee1@bench.example"))
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
