"""Stores of handled event ids: repeats within the TTL are refused, then forgotten."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from bot.slack.dedupe import SeenEvents, SharedSeenEvents


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_event_id_is_new_once_within_the_ttl() -> None:
    clock = Clock()
    seen = SeenEvents(ttl=600, clock=clock)

    assert seen.first_time("Ev1") is True
    clock.now += 599
    assert seen.first_time("Ev1") is False
    assert seen.first_time("Ev2") is True


def test_an_event_id_is_forgotten_after_the_ttl() -> None:
    clock = Clock()
    seen = SeenEvents(ttl=600, clock=clock)
    seen.first_time("Ev1")

    clock.now += 600
    assert seen.first_time("Ev1") is True
    assert len(seen) == 1  # the expired entry was dropped, not kept beside the new one


def test_memory_is_bounded_by_dropping_the_oldest() -> None:
    seen = SeenEvents(ttl=600, max_entries=3, clock=Clock())
    for n in range(5):
        seen.first_time(f"Ev{n}")

    assert len(seen) == 3
    assert seen.first_time("Ev4") is False
    assert seen.first_time("Ev0") is True


def test_concurrent_deliveries_of_one_event_let_exactly_one_through() -> None:
    seen = SeenEvents()
    results: list[bool] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        results.append(seen.first_time("EvSAME"))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


def test_shared_ids_are_seen_by_every_process_on_the_host(tmp_path: Path) -> None:
    first_worker, second_worker = SharedSeenEvents(tmp_path), SharedSeenEvents(tmp_path)

    assert first_worker.first_time("Ev1") is True
    assert second_worker.first_time("Ev1") is False  # the retry reached the other worker


def test_shared_ids_expire_and_are_swept(tmp_path: Path) -> None:
    clock = Clock()
    seen = SharedSeenEvents(tmp_path, ttl=600, clock=clock, sweep_every=2)
    seen.first_time("Ev1")

    clock.now += 600
    assert seen.first_time("Ev1") is True  # expired: a new delivery, not a retry (and a sweep)
    seen.first_time("Ev2")
    assert len(seen) == 2  # Ev1 was renewed before the sweep looked at it
    clock.now += 600
    seen.first_time("Ev3")  # the fourth addition sweeps: Ev1 and Ev2 are 600 s old

    assert len(seen) == 1


def test_concurrent_processes_let_exactly_one_delivery_through(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from bot.slack.dedupe import SharedSeenEvents; "
        "print(SharedSeenEvents(Path(sys.argv[1])).first_time('EvSAME'))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=30)[0].strip() for p in processes]

    assert sorted(outputs) == ["False"] * 3 + ["True"]
