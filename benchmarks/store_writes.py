"""Records per second through the Recorder into SQLite and PostgreSQL, and what a record costs its caller.

    python benchmarks/store_writes.py [--records 50000] [--postgres postgresql://USER:PASSWORD@HOST/DB]

Each run records questions, each followed by a 👍 on it (two records), as fast as one thread can,
then waits for the writer to finish: the rate is records written over that whole time, so it is
the writer's rate, not the buffer's. The buffer is made large enough to hold every record, so
none is dropped and the count can be checked. SQLite writes to a fresh file in a temporary folder;
PostgreSQL writes to the database the URL names (use a scratch one: the benchmark creates the
tables if needed and deletes its own rows afterwards).

Also printed: the time one `record_question` call takes on the answer's path (median, p99, max),
which must stay in microseconds whatever the database does.

Target (issue 8), on the 2-core machine: >= 1,000 records/s into each database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, delete, func, select

from bot.store.db import make_engine, mask
from bot.store.migrate import upgrade
from bot.store.models import Base
from bot.store.recorder import Recorder

TARGET_PER_S = 1_000
WORKSPACE = "T0BENCHMARK"
QUESTIONS = Base.metadata.tables["questions"]
ACTIONS = Base.metadata.tables["actions"]


def run(engine: Engine, questions: int) -> tuple[float, list[float]]:
    """Record `questions` questions and a vote on each; the records/s and each record call's seconds."""
    recorder = Recorder(engine, user_hash_key="benchmark-key-0123456789", max_buffer=2 * questions)
    calls: list[float] = []
    start = time.perf_counter()
    for n in range(questions):
        before = time.perf_counter()
        ref = recorder.record_question(
            surface="command", workspace_id=WORKSPACE, user_id=f"U{n % 500}", channel_id="C1", lang="en",
            text=f"how do I schedule job {n} on ECS?", outcome="answered", topic_id="ecs-cron", confidence=0.9,
            offered=["ecs-cron", "batch-jobs"], latency_ms=12.0, event_key=f"Ev{n}-{start}",
        )  # fmt: skip
        calls.append(time.perf_counter() - before)
        recorder.record_action(question_ref=ref, kind="feedback_up", workspace_id=WORKSPACE, user_id=f"U{n % 500}")
    if not recorder.flush(timeout=600):
        raise SystemExit(f"the writer did not finish: {recorder.pending} record(s) left")
    elapsed = time.perf_counter() - start
    recorder.close()
    if recorder.dropped:
        raise SystemExit(f"{recorder.dropped} record(s) dropped: the buffer was too small")
    return 2 * questions / elapsed, calls


def check_and_clean(engine: Engine, questions: int) -> None:
    mine = select(QUESTIONS.c.ref).where(QUESTIONS.c.workspace_id == WORKSPACE)
    with engine.begin() as connection:
        written = connection.scalar(select(func.count()).select_from(mine.subquery()))
        votes = connection.scalar(select(func.count()).where(ACTIONS.c.question_ref.in_(mine)))
        connection.execute(delete(ACTIONS).where(ACTIONS.c.question_ref.in_(mine)))
        connection.execute(delete(QUESTIONS).where(QUESTIONS.c.workspace_id == WORKSPACE))
    if (written, votes) != (questions, questions):
        raise SystemExit(f"expected {questions} questions and votes, found {written} and {votes}")


def report(name: str, engine: Engine, questions: int) -> bool:
    upgrade(engine)
    rate, calls = run(engine, questions)
    check_and_clean(engine, questions)
    calls_us = sorted(1e6 * seconds for seconds in calls)
    p99 = calls_us[int(0.99 * (len(calls_us) - 1))]
    verdict = "ok" if rate >= TARGET_PER_S else f"BELOW the {TARGET_PER_S:,}/s target"
    print(f"{name}: {rate:,.0f} records/s ({2 * questions:,} records, all written) {verdict}")
    median = statistics.median(calls_us)
    print(f"  record_question call: median {median:.1f} us, p99 {p99:.1f} us, max {calls_us[-1]:.0f} us")
    return rate >= TARGET_PER_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records per database (half questions)")
    parser.add_argument("--postgres", metavar="URL", help="a scratch PostgreSQL database to write to as well")
    args = parser.parse_args()
    questions = args.records // 2
    results = []
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'platbot.db'}")
        results.append(report("SQLite (WAL, temporary file)", engine, questions))
        engine.dispose()
    if args.postgres:
        engine = make_engine(args.postgres)
        results.append(report(f"PostgreSQL ({mask(engine.url)})", engine, questions))
        engine.dispose()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
