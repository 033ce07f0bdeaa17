"""Time `build_report` over a month of 1,000,000 recorded questions, and the size of its HTML and JSON.

    python benchmarks/report_speed.py [--questions 1000000] [--url sqlite:////tmp/platbot-report.db] [--runs 3]

The database is filled once with bot.store.traffic (bulk inserts, a fixed seed and date) and
reused while it holds exactly that many questions; `--url postgresql://...` times PostgreSQL.
Target on a 2-core machine: a report on 1,000,000 questions in under 10 s on SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from bot.store import make_engine, upgrade  # noqa: E402
from bot.store.models import Question  # noqa: E402
from bot.store.report import build_report, report_html, report_json  # noqa: E402
from bot.store.traffic import fill  # noqa: E402

DAYS = 30
NOW = datetime(2025, 6, 1, tzinfo=UTC)  # fixed: the same rows every time the file is made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--url", default="sqlite:////tmp/platbot-report.db")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    engine = make_engine(args.url)
    upgrade(engine)
    per_day = -(-args.questions // DAYS)  # rounded up
    with engine.connect() as connection:
        held = connection.scalar(select(func.count()).select_from(Question))
    if held != per_day * DAYS:
        if held:
            sys.exit(f"{args.url} holds {held:,} questions, not {per_day * DAYS:,}: use an empty database")
        start = time.perf_counter()
        traffic = fill(engine, days=DAYS, per_day=per_day, seed=0, now=NOW)
        took = time.perf_counter() - start
        print(f"filled {traffic.questions:,} questions and {sum(traffic.actions.values()):,} actions in {took:.1f} s")
        held = traffic.questions

    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        report = build_report(engine, NOW - timedelta(days=DAYS), NOW, now=NOW)
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    page, data = report_html(report), report_json(report)
    rendered = time.perf_counter() - start

    print(f"{engine.dialect.name}: {held:,} questions in the window, {report.questions:,} reported")
    print(f"build_report: best {min(timings):.2f} s, median {statistics.median(timings):.2f} s ({args.runs} runs)")
    print(f"HTML {len(page.encode()):,} bytes, JSON {len(data.encode()):,} bytes, made in {rendered * 1000:.0f} ms")
    print(f"median {report.latency_median_ms} ms, p95 {report.latency_p95_ms} ms, answered {report.answered_rate:.1%}")


if __name__ == "__main__":
    main()
