#!/usr/bin/env python3
"""Benchmark reply extraction: ``extract_reply`` (and ``read_mail``) on realistic mail.

    .venv/bin/python benchmarks/bench_extract.py [--rounds N] [--converters]

Messages: **the corpora** — every case of the reply corpus (``../shared/corpus/replies``
beside the repository, wrapped exactly as its scorer wraps them) and every reply of
the golden corpus (``tests/corpus/*/message.eml``, real-client replies to mailflow's
own emails) — plus generated ones: a plain top-posted reply, Outlook and Gmail HTML
replies, a 95 kB HTML reply above a quoted newsletter of nested tables, a 1 MB
plain-text reply (a short answer over a long quoted thread), a 1 MB HTML reply, and
pathological inputs (100k ``>`` lines, one 500k-character line without spaces, 1 MB
of prose without any marker, 40k alternating quote/answer pairs, lines of 300 dashes
ending in a colon, 100 nested multiparts).

Prints messages per second, **the slowest message of the corpora** (its name, size
and time with ``extract_reply`` and with ``read_mail``), the slowest generated
message, and the times for the 1 MB messages. ``--converters`` also times the HTML
converter against html2text and inscriptis (when installed) on every HTML body of
the corpora and the generated HTML. Exits with status 2 if a corpus cannot be found.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "replies"
GOLDEN = REPO / "tests" / "corpus"
sys.path.insert(0, str(REPO))

from mailflow.parse.extract import extract_reply  # noqa: E402
from mailflow.parse.mime import read_mail  # noqa: E402

ONE_MB = 1_000_000


def corpus_messages() -> list[tuple[str, bytes]]:
    score_py = CORPUS / "score.py"
    if not score_py.is_file():
        print(f"reply corpus not found at {CORPUS}", file=sys.stderr)
        sys.exit(2)
    spec = importlib.util.spec_from_file_location("reply_corpus_score", score_py)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    out = []
    for cdir in sorted(p for p in CORPUS.iterdir() if (p / "cases.json").is_file()):
        for case in json.loads((cdir / "cases.json").read_text(encoding="utf-8"))["cases"]:
            raw = (cdir / case["input"]).read_bytes()
            out.append((f"corpus/{cdir.name}/{case['id']}", score.wrap(raw, case["kind"])))
    golden = sorted(GOLDEN.glob("*/message.eml"))
    if not golden:
        print(f"golden corpus not found in {GOLDEN}", file=sys.stderr)
        sys.exit(2)
    out.extend((f"golden/{path.parent.name}", path.read_bytes()) for path in golden)
    return out


def mail(body: bytes, ctype: str = "text/plain", cte: str = "8bit") -> bytes:
    head = (
        "From: Ann Lee <ann@example.org>\r\nTo: scheme@example.org\r\nSubject: Re: Your first meeting\r\n"
        "Message-ID: <bench@example.org>\r\nDate: Tue, 03 Mar 2026 10:15:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body


def prose(size: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    words = ("the mentoring scheme meets every second week at the library and we talk about goals progress "
             "and next steps for the project while coffee is served").split()
    out, n = [], 0
    while n < size:
        line = " ".join(rnd.choice(words) for _ in range(rnd.randint(6, 13))) + rnd.choice([".", ",", "", "?"])
        out.append(line)
        n += len(line) + 1
        if rnd.random() < 0.2:
            out.append("")
    return "\n".join(out)


def generated() -> list[tuple[str, bytes]]:
    attribution = "On Mon, 2 Mar 2026 at 09:15, Mentoring Scheme <scheme@example.org> wrote:"
    thread = "\n".join("> " + line for line in prose(ONE_MB).split("\n"))
    outlook = (
        '<html><body><div class="WordSection1"><p class="MsoNormal">Accept<o:p></o:p></p>'
        '<p class="MsoNormal">Review date: Tuesday 10 March<o:p></o:p></p><p class="MsoNormal">Thanks,</p>'
        '<p class="MsoNormal">Ann</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<p class="MsoNormal"><b>From:</b> Mentoring Scheme &lt;scheme@example.org&gt;<br><b>Sent:</b> 02 March '
        '2026 09:15<br><b>To:</b> Ann<br><b>Subject:</b> Your first meeting</p></div>'
        + "".join(f'<p class="MsoNormal">{line}</p>' for line in prose(20_000, 2).split("\n")) + "</div></body></html>"
    )
    gmail = (
        '<div dir="ltr">Yes, happy to.<div>Location: the library</div></div><div class="gmail_quote">'
        f'<div class="gmail_attr">{attribution.replace("<", "&lt;").replace(">", "&gt;")}</div>'
        '<blockquote class="gmail_quote">' + "<br>".join(prose(8_000, 3).split("\n")) + "</blockquote></div>"
    )
    html_1mb = (
        "<html><body><div>Decline, sorry - away that week.</div><div><br></div><div class=\"gmail_quote\">"
        f"{attribution.replace('<', '&lt;').replace('>', '&gt;')}<blockquote>"
        + "".join(f"<div>{line}</div>" for line in prose(ONE_MB - 400, 4).split("\n"))
        + "</blockquote></div></body></html>"
    )
    cells = prose(60_000, 6).split()
    newsletter = (
        "<html><body><div>Accept - see you on Tuesday.</div><div><br></div><div>Thanks,</div><div>Ann</div>"
        f"<div class=\"gmail_quote\">{attribution.replace('<', '&lt;').replace('>', '&gt;')}<blockquote>"
        "<table width=\"600\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">"
        + "".join(
            f"<tr><td style=\"padding:4px 8px;font-family:Arial;font-size:13px;color:#333\"><table><tr>"
            f"<td style=\"color:#555\"><span style=\"font-weight:bold\">{cells[i]}</span> {cells[i + 1]}</td>"
            f"<td><a href=\"https://news.example/{i}?utm_source=mail\" style=\"color:#06c\">{cells[i + 2]}</a>"
            "</td></tr></table></td></tr>"
            for i in range(0, 1230, 3)
        )
        + "</table></blockquote></div></body></html>"
    )
    nested = b"Content-Type: text/plain\r\n\r\ndeep"
    for level in range(100):
        nested = (f"Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n".encode()
                  + nested + f"\r\n--b{level}--\r\n".encode())
    head = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    return [
        ("plain reply", mail(f"Accept\n\nThanks,\nAnn\n\n{attribution}\n{thread[:6000]}\n".encode())),
        ("Outlook HTML reply", mail(base64.encodebytes(outlook.encode()), "text/html", "base64")),
        ("Gmail HTML reply", mail(gmail.encode(), "text/html")),
        ("95 kB HTML reply over a newsletter", mail(newsletter.encode(), "text/html")),
        ("1 MB plain reply (quoted thread)", mail(f"Yes please.\n\n{attribution}\n{thread}\n".encode())),
        ("1 MB plain, no markers", mail(prose(ONE_MB, 5).encode())),
        ("1 MB HTML reply", mail(html_1mb.encode(), "text/html")),
        ("100k '>' lines", mail(b">\n" * 100_000)),
        ("500k-char line without spaces", mail(b"x" * 500_000)),
        ("40k quote/answer pairs", mail(b"> q\n\nanswer\n\n" * 40_000)),
        ("10k lines of dashes and colons", mail((("-" * 300 + "x:\n") * 10_000).encode())),
        ("100 nested multiparts", head + nested),
    ]


def timed(func, raw: bytes) -> float:
    start = time.perf_counter()
    func(raw)
    return time.perf_counter() - start


def html_bodies(messages: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    from mailflow.parse.mime import _leaves, _part_text, load

    out = []
    for name, raw in messages:
        for leaf in _leaves(load(raw)):
            if leaf.ctype == "text/html" and not leaf.attachment:
                out.append((name, _part_text(leaf, None)))
                break
    return out


def converters(messages: list[tuple[str, bytes]]) -> None:
    from mailflow.parse.htmltext import html_to_text

    tools = [("mailflow (Lexbor)", html_to_text)]
    try:
        import html2text

        def h2t(html: str) -> str:
            conv = html2text.HTML2Text(bodywidth=0)
            conv.ignore_links = conv.ignore_images = conv.ignore_emphasis = conv.ignore_tables = True
            return conv.handle(html)

        tools.append(("html2text", h2t))
    except ImportError:
        print("html2text not installed: not compared")
    try:
        import inscriptis

        tools.append(("inscriptis", inscriptis.get_text))
    except ImportError:
        print("inscriptis not installed: not compared")
    bodies = html_bodies(messages)
    print()
    print(f"HTML converters on {len(bodies)} HTML bodies (best of 3 per body)")
    print(f"{'converter':<20} {'total':>10} {'slowest':>10}  slowest body")
    for label, func in tools:
        times = []
        for name, html in bodies:
            times.append((min(timed(func, html) for _ in range(3)), name, len(html)))
        worst = max(times)
        print(f"{label:<20} {sum(t for t, _n, _s in times) * 1000:>7.1f} ms {worst[0] * 1000:>7.1f} ms  "
              f"{worst[1]} ({worst[2]:,} characters)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="passes over the corpus messages (default 5)")
    ap.add_argument("--converters", action="store_true", help="also compare HTML converters")
    args = ap.parse_args()

    corpus = corpus_messages()
    extra = generated()
    for _name, raw in corpus[:20]:  # warm up (imports, regex compilation)
        extract_reply(raw)

    start = time.perf_counter()
    for _ in range(args.rounds):
        for _name, raw in corpus:
            extract_reply(raw)
    corpus_time = time.perf_counter() - start
    corpus_n = len(corpus) * args.rounds
    print(f"corpus: {len(corpus)} messages x {args.rounds} rounds: "
          f"{corpus_n / corpus_time:,.0f} messages/s with extract_reply")
    start = time.perf_counter()
    for _name, raw in corpus:
        read_mail(raw)
    print(f"corpus: {len(corpus) / (time.perf_counter() - start):,.0f} messages/s with read_mail")

    print()
    print(f"{'message':<40} {'size':>10} {'extract_reply':>14} {'read_mail':>10}")
    results = []
    for name, raw in extra:
        t_extract = min(timed(extract_reply, raw) for _ in range(3))
        t_read = timed(read_mail, raw)
        results.append((name, len(raw), t_extract))
        print(f"{name:<40} {len(raw):>10,} {t_extract * 1000:>11.1f} ms {t_read * 1000:>7.1f} ms")

    # best of 3 per corpus message, so a pause of the machine does not name the slowest
    real = [(name, raw, min(timed(extract_reply, raw) for _ in range(3))) for name, raw in corpus]
    every = [(name, len(raw), t) for name, raw, t in real] + results
    total = sum(t for _n, _s, t in every)
    name, raw, t = max(real, key=lambda r: r[2])
    t_read = min(timed(read_mail, raw) for _ in range(3))
    gen = max(results, key=lambda r: r[2])
    print()
    print(f"all {len(every)} messages: {len(every) / total:,.0f} messages/s")
    print(f"slowest message of the corpora: {name} ({len(raw):,} bytes): {t * 1000:.1f} ms extract_reply, "
          f"{t_read * 1000:.1f} ms read_mail")
    print(f"slowest generated message: {gen[0]} ({gen[1]:,} bytes): {gen[2] * 1000:.1f} ms")
    for name, size, t in results:
        if name.startswith("1 MB"):
            print(f"{name}: {t * 1000:.1f} ms for {size:,} bytes")
    if args.converters:
        converters(corpus + extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
