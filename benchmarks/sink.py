"""A real aiosmtpd SMTP sink (tests/servers.py) in a process of its own, for the
benchmarks: the server's work must not share the measured process's interpreter.

    python benchmarks/sink.py      # prints "PORT <n>", then answers "count" on stdin
                                   # with the number of messages received; exits on EOF
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import SmtpSink  # noqa: E402


def main() -> None:
    sink = SmtpSink().start()
    received = sink._handler.received

    class _List(list):  # counts messages and keeps none (a backlog's answers would fill memory)
        def append(self, item):  # count, and drop the message
            self.n = getattr(self, "n", 0) + 1

        def __len__(self):
            return getattr(self, "n", 0)

    counter = _List()
    with sink._handler.cond:
        sink._handler.received = counter
    del received
    print(f"PORT {sink.port}", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(len(counter), flush=True)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
