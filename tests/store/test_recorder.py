"""The recorder: questions and actions written in the background, kept through an outage, never raised
to the caller; and the shared check that an event is seen for the first time."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from bot.store.db import make_engine
from bot.store.migrate import upgrade
from bot.store.models import Base
from bot.store.privacy import user_hash
from bot.store.recorder import Recorder, new_question_ref
from tests.store.conftest import KEY, ThrowawayPostgres, count, wait_until

QUESTIONS = Base.metadata.tables["questions"]
ACTIONS = Base.metadata.tables["actions"]
ASKED_AT = datetime(2025, 6, 30, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = ASKED_AT

    def __call__(self) -> datetime:
        return self.now


def ask(recorder: Recorder, text: str = "ecs cron?", **fields: Any) -> str:
    question = {"surface": "command", "workspace_id": "T1", "user_id": "U1", "lang": "en", "text": text}
    return recorder.record_question(**question | {"outcome": "answered", "latency_ms": 12.5} | fields)


def store_logs(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [entry.getMessage() for entry in caplog.records if entry.name == "platbot.store" and entry.levelno == level]


def stored_texts(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(QUESTIONS.c.text).order_by(QUESTIONS.c.id)))


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite database in a folder that does not exist (yet): every write fails, as if it were down."""
    engine = make_engine(f"sqlite:///{tmp_path / 'not-yet' / 'platbot.db'}")
    yield engine
    engine.dispose()


def test_a_question_is_written_with_everything_the_report_needs(engine: Engine, recorder: Recorder) -> None:
    ref = ask(
        recorder, channel_id="C1", topic_id="ecs-cron", confidence=0.91, offered=["ecs-cron", "batch-jobs"],
        event_key="Ev1", request_id="req-1", knowledge_version="abc123", asked_at=ASKED_AT, outcome="see_also",
    )  # fmt: skip
    assert recorder.flush()

    with engine.connect() as connection:
        row = connection.execute(select(QUESTIONS)).one()._asdict()
    assert row.pop("id") > 0
    assert row == {
        "ref": ref,
        "asked_at": ASKED_AT,
        "surface": "command",
        "workspace_id": "T1",
        "channel_id": "C1",
        "user_hash": user_hash(KEY, "T1", "U1"),
        "lang": "en",
        "text": "ecs cron?",
        "outcome": "see_also",
        "topic_id": "ecs-cron",
        "confidence": 0.91,
        "offered": ["ecs-cron", "batch-jobs"],
        "latency_ms": 12.5,
        "event_key": "Ev1",
        "request_id": "req-1",
        "knowledge_version": "abc123",
    }


def test_times_are_utc_from_the_recorders_clock_whatever_zone_they_came_in(engine: Engine) -> None:
    clock = Clock()
    recorder = Recorder(engine, user_hash_key=KEY, now=clock)
    ask(recorder, "default time")
    ask(recorder, "tokyo time", asked_at=datetime(2025, 7, 1, 3, 30, tzinfo=timezone(timedelta(hours=9))))
    recorder.close()

    with engine.connect() as connection:
        times = connection.scalars(select(QUESTIONS.c.asked_at).order_by(QUESTIONS.c.id)).all()
    assert times == [ASKED_AT, datetime(2025, 6, 30, 18, 30, tzinfo=UTC)]
    assert all(moment.tzinfo is UTC for moment in times)


def test_an_action_is_linked_to_its_question_even_when_written_before_it(engine: Engine, recorder: Recorder) -> None:
    ref = new_question_ref()  # the buttons carry it before the question is recorded
    recorder.record_action(question_ref=ref, kind="pick", workspace_id="T1", user_id="U2", topic_id="ecs-cron")
    assert recorder.flush()
    ask(recorder, ref=ref, outcome="did_you_mean")
    recorder.record_action(question_ref=ref, kind="feedback_down", workspace_id="T1", user_id="U1", comment="stale")
    assert recorder.flush()

    with engine.connect() as connection:
        question_id = connection.scalar(select(QUESTIONS.c.id))
        actions = connection.execute(select(ACTIONS.c.kind, ACTIONS.c.question_id, ACTIONS.c.comment)).all()
    assert sorted(actions) == [("feedback_down", question_id, "stale"), ("pick", question_id, None)]


def test_with_text_storage_off_no_question_or_comment_text_is_kept(engine: Engine) -> None:
    recorder = Recorder(engine, user_hash_key=KEY, store_text=False)
    ref = ask(recorder, "my secret project name", topic_id="ecs-cron")
    recorder.record_action(question_ref=ref, kind="feedback_down", workspace_id="T1", user_id="U1", comment="wrong")
    recorder.close()

    with engine.connect() as connection:
        assert connection.execute(select(QUESTIONS.c.text, QUESTIONS.c.topic_id)).one() == (None, "ecs-cron")
        assert connection.execute(select(ACTIONS.c.comment, ACTIONS.c.kind)).one() == (None, "feedback_down")


def test_a_repeated_event_is_written_once(engine: Engine, recorder: Recorder) -> None:
    ask(recorder, "first delivery", event_key="Ev9")
    ask(recorder, "Slack's retry", event_key="Ev9")
    ask(recorder, "another event", event_key="Ev10")
    assert recorder.flush()

    assert stored_texts(engine) == ["first delivery", "another event"]


def test_a_record_the_database_refuses_is_dropped_alone(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # One connection, held by the test: the writer waits for it, and the records queue up into a batch.
    single = create_engine(engine.url, pool_size=1, max_overflow=0)
    recorder = Recorder(single, user_hash_key=KEY)
    with single.connect():
        ask(recorder, "before")
        ask(recorder, "unserialisable", offered=[object()])
        ask(recorder, "after")
    recorder.close()
    single.dispose()

    assert stored_texts(engine) == ["before", "after"]
    assert len(store_logs(caplog, logging.ERROR)) == 1


def test_when_the_buffer_is_full_the_oldest_records_go(unreachable: Engine, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(unreachable, user_hash_key=KEY, max_buffer=5)
    for n in range(20):
        ask(recorder, f"q{n}")
    wait_until(lambda: not recorder.healthy, "the writer finds the database down")

    Path(unreachable.url.database).parent.mkdir()
    upgrade(unreachable)
    assert recorder.flush(timeout=30)
    recorder.close()

    assert stored_texts(unreachable) == [f"q{n}" for n in range(15, 20)]
    assert recorder.dropped == 15
    full = [message for message in store_logs(caplog, logging.WARNING) if "buffer is full" in message]
    assert 1 <= len(full) <= 2  # the first drops at once, the rest within the minute at close: not one per record


def test_flush_and_close_report_what_was_not_written(unreachable: Engine, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(unreachable, user_hash_key=KEY)
    for n in range(3):
        ask(recorder, f"q{n}")

    assert recorder.flush(timeout=0.2) is False
    recorder.close(timeout=0.1)
    ask(recorder, "after close")  # dropped and counted, never raised

    assert recorder.pending == 3
    assert recorder.dropped == 1
    assert "3 record(s) not written before shutdown" in store_logs(caplog, logging.WARNING)[-1]


def test_a_flush_told_to_stop_at_failure_returns_at_the_first_failed_write(unreachable: Engine) -> None:
    recorder = Recorder(unreachable, user_hash_key=KEY)
    ask(recorder, "asked while the database is down")

    started = time.monotonic()
    assert recorder.flush(timeout=10, stop_at_failure=True) is False
    assert time.monotonic() - started < 2  # one failed attempt, not the ten seconds allowed
    assert recorder.pending == 1  # kept for the next flush

    Path(unreachable.url.database).parent.mkdir()
    upgrade(unreachable)
    assert recorder.flush(timeout=10, stop_at_failure=True) is True  # a writer waiting to retry tries at once
    assert stored_texts(unreachable) == ["asked while the database is down"]
    recorder.close()


@contextmanager
def unwritable(database: Path) -> Iterator[None]:
    """The database file and its folder made read-only; root ignores permissions, so root sets the
    immutable attribute instead."""
    paths = [database, database.parent]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    else:
        database.chmod(0o444)
        database.parent.chmod(0o555)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        else:
            database.parent.chmod(0o755)
            database.chmod(0o644)


def test_records_made_while_the_sqlite_file_is_unwritable_are_all_written_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="platbot.store")
    database = tmp_path / "platbot.db"
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    recorder = Recorder(engine, user_hash_key=KEY)

    with unwritable(database):
        for n in range(100):
            recorder.record_action(question_ref=ask(recorder, f"q{n}"), kind="share", workspace_id="T1", user_id="U1")
        wait_until(lambda: not recorder.healthy, "the writer finds the file unwritable")
        assert recorder.pending == 200
    assert recorder.flush(timeout=30)
    recorder.close()

    assert (count(engine, "questions"), count(engine, "actions")) == (100, 100)
    assert len(store_logs(caplog, logging.WARNING)) == 1
    assert len(store_logs(caplog, logging.INFO)) == 1
    engine.dispose()


def test_records_made_while_postgresql_is_stopped_are_all_written_after_it_restarts(
    own_postgres: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="platbot.store")
    engine = make_engine(own_postgres.new_database("platbot"))
    upgrade(engine)
    recorder = Recorder(engine, user_hash_key=KEY)
    for n in range(50):
        ask(recorder, f"before {n}")
    assert recorder.flush()

    own_postgres.stop()
    for n in range(500):
        recorder.record_action(question_ref=ask(recorder, f"during {n}"), kind="pick", workspace_id="T1", user_id="U1")
    wait_until(lambda: not recorder.healthy, "the writer finds the server stopped")
    own_postgres.start()
    assert recorder.flush(timeout=60)
    recorder.close()

    assert (count(engine, "questions"), count(engine, "actions")) == (550, 500)
    assert len(store_logs(caplog, logging.WARNING)) == 1
    assert len(store_logs(caplog, logging.INFO)) == 1
    engine.dispose()


def test_an_event_is_new_once_across_hosts(engine: Engine) -> None:
    one_host, another = Recorder(engine, user_hash_key=KEY), Recorder(engine, user_hash_key=KEY)

    assert one_host.first_time("Ev1") is True
    assert another.first_time("Ev1") is False
    assert another.first_time("Ev2") is True
    one_host.close()
    another.close()


def test_concurrent_deliveries_of_one_event_let_exactly_one_through(engine: Engine) -> None:
    hosts = [Recorder(engine, user_hash_key=KEY) for _ in range(2)]
    start = threading.Barrier(8)
    results: list[bool] = []

    def deliver(host: Recorder) -> None:
        start.wait()
        results.append(host.first_time("EvSAME"))

    threads = [threading.Thread(target=deliver, args=(hosts[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    for host in hosts:
        host.close()


def test_an_event_is_forgotten_after_an_hour(engine: Engine) -> None:
    clock = Clock()
    recorder = Recorder(engine, user_hash_key=KEY, now=clock)
    recorder.first_time("Ev1")

    clock.now += timedelta(minutes=59)
    assert recorder.first_time("Ev1") is False
    clock.now += timedelta(minutes=61)
    assert recorder.first_time("Ev1") is True
    recorder.close()


def test_when_the_database_fails_every_event_is_answered_with_one_warning(
    unreachable: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(unreachable, user_hash_key=KEY)

    assert [recorder.first_time("Ev1") for _ in range(3)] == [True, True, True]
    assert len(store_logs(caplog, logging.WARNING)) == 1
    recorder.close()
