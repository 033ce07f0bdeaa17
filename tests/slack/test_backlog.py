"""The pool behind the acks holds a bounded backlog: a full one makes the next ack wait."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from bot.slack.backlog import BoundedExecutor


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Jobs that wait on it hold their place in the backlog until the test opens it."""
    event = threading.Event()
    yield event
    event.set()  # never leave a pool thread waiting


def submit_in_thread(pool: BoundedExecutor, job: object) -> threading.Thread:
    thread = threading.Thread(target=pool.submit, args=(job,), daemon=True)
    thread.start()
    return thread


def test_a_full_backlog_holds_the_next_submit_until_a_job_finishes(gate: threading.Event) -> None:
    pool = BoundedExecutor(max_workers=1, max_backlog=2, max_wait=30)
    ran: list[str] = []
    first = pool.submit(gate.wait)
    pool.submit(lambda: ran.append("queued"))

    waiting = submit_in_thread(pool, lambda: ran.append("third"))
    waiting.join(timeout=0.3)
    assert waiting.is_alive()  # no room: the request thread waits instead of queueing

    gate.set()
    first.result(timeout=10)
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    pool.shutdown(wait=True)
    assert ran == ["queued", "third"]


def test_past_the_wait_the_job_is_queued_anyway_with_one_warning(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    pool = BoundedExecutor(max_workers=1, max_backlog=1, max_wait=0.05)
    ran: list[int] = []
    pool.submit(gate.wait)

    with caplog.at_level(logging.WARNING, logger="platbot.slack.backlog"):
        late = [pool.submit(ran.append, n) for n in range(3)]
    gate.set()
    for future in late:
        future.result(timeout=10)

    assert ran == [0, 1, 2]  # nothing is dropped
    [warning] = caplog.records
    assert "falling behind: 1 request(s) queued over the backlog of 1" in warning.getMessage()


def test_room_comes_back_when_jobs_fail(gate: threading.Event) -> None:
    pool = BoundedExecutor(max_workers=1, max_backlog=1, max_wait=30)

    def fail() -> None:
        raise RuntimeError("a listener bug")

    for _ in range(5):  # each would wait forever if a failed job kept its room
        with pytest.raises(RuntimeError):
            pool.submit(fail).result(timeout=10)


def test_a_backlog_smaller_than_the_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="max_backlog"):
        BoundedExecutor(max_workers=5, max_backlog=4)
