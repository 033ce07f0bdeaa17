"""A bounded pool for the work that follows an ack, so a burst slows acks instead of eating memory.

Every listener acks at once and leaves its answer to a pool thread. An unbounded queue lets
acks run ahead of answers: under a flood the backlog grows by hundreds of requests a second,
each holding a copy of its request, until the worker runs out of memory (measured: 45,000
queued, +240% RSS in 60 s with 50 clients sending back to back). Here the thread that submits
the work is the one about to send the ack, so waiting for room in the backlog paces acks to
the rate answers go out: backpressure.

The wait is bounded too (`max_wait`): Slack retries a request whose ack takes over 3 s, and
each retry is one more request. Past the wait the work is queued anyway, over the bound, with
a warning at most once a minute; with `threads` request threads, that lets in at most
`threads / max_wait` extra requests a second, far from a flood.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

DEFAULT_MAX_BACKLOG = 256  # per worker process: about two seconds of answers at full speed
DEFAULT_MAX_WAIT = 2.0  # seconds; below Slack's 3 s ack deadline
DEFAULT_POOL_THREADS = 5  # bolt's own default
WARN_EVERY = 60.0
log = logging.getLogger("platbot.slack.backlog")
T = TypeVar("T")


class BoundedExecutor(ThreadPoolExecutor):
    """A thread pool holding at most `max_backlog` jobs, queued or running; `submit` waits for
    room up to `max_wait` seconds, then queues the job regardless (see the module docstring)."""

    def __init__(
        self,
        max_workers: int = DEFAULT_POOL_THREADS,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        max_wait: float = DEFAULT_MAX_WAIT,
        thread_name_prefix: str = "platbot-listener",
    ) -> None:
        if max_backlog < max_workers:
            raise ValueError("max_backlog must leave room for every pool thread")
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.max_backlog = max_backlog
        self.max_wait = max_wait
        self._room = threading.Semaphore(max_backlog)
        self._overruns = 0
        self._warned_at = float("-inf")
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        held = self._room.acquire(timeout=self.max_wait)
        if not held:
            self._overrun()

        def run_and_release() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                if held:
                    self._room.release()

        try:
            return super().submit(run_and_release)
        except BaseException:  # shut down: the job never runs, so its room is free again
            if held:
                self._room.release()
            raise

    def _overrun(self) -> None:
        with self._lock:
            self._overruns += 1
            now = time.monotonic()
            if now - self._warned_at < WARN_EVERY:
                return
            self._warned_at, overruns, self._overruns = now, self._overruns, 0
        log.warning(
            "answers are falling behind: %d request(s) queued over the backlog of %d after waiting %.1f s",
            overruns,
            self.max_backlog,
            self.max_wait,
        )
