"""Skip Slack's retries of an event already handled, so a slow moment never doubles a reply.

Slack resends an event (with `X-Slack-Retry-Num`) when the first delivery was not acknowledged
in 3 seconds or failed, up to three times over about five minutes, with the same `event_id`.
Two stores of seen ids, both local to one host and forgetting each id after a TTL:

- `SeenEvents`: a set in memory. One process: Socket Mode, or one Lambda execution
  environment (concurrent environments do not share it).
- `SharedSeenEvents`: a directory of empty files, for gunicorn's worker processes, which may
  each receive a retry of the other's event. Creating a file with O_EXCL is atomic across
  processes, and the directory outlives a worker restart.

Neither is shared between hosts: run one HTTP instance, or put a shared store behind
`first_time` (Redis `SET NX EX`, DynamoDB conditional put) before scaling out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from slack_bolt import BoltRequest, BoltResponse

# Slack's last retry comes about five minutes after the first delivery.
DEFAULT_TTL_SECONDS = 600.0
DEFAULT_MAX_ENTRIES = 50_000


class EventLog(Protocol):
    def first_time(self, key: str) -> bool:
        """True the first time `key` is seen within the TTL; records it."""
        ...


class SeenEvents:
    """A thread-safe set of keys that forgets each key after `ttl` seconds."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            # Insertion order is expiry order (one TTL for all), so expired keys are in front.
            while self._expiry and next(iter(self._expiry.values())) <= now:
                self._expiry.popitem(last=False)
            if key in self._expiry:
                return False
            self._expiry[key] = now + self._ttl
            if len(self._expiry) > self._max:
                self._expiry.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._expiry)


class SharedSeenEvents:
    """Seen keys as empty files in `directory`, shared by the processes of one host."""

    def __init__(
        self,
        directory: Path,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,  # compared with file times: wall clock
        sweep_every: int = 500,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ttl = ttl
        self._clock = clock
        self._sweep_every = sweep_every
        self._added = 0

    def first_time(self, key: str) -> bool:
        path = self.directory / hashlib.sha256(key.encode()).hexdigest()[:40]
        now = self._clock()
        try:
            self._create(path)
        except FileExistsError:
            try:
                if now - path.stat().st_mtime < self._ttl:
                    return False
            except FileNotFoundError:
                pass  # swept a moment ago: expired anyway
        os.utime(path, (now, now))
        self._added += 1
        if self._added % self._sweep_every == 0:
            self._sweep(now)
        return True

    def _create(self, path: Path) -> None:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileNotFoundError:  # someone removed the directory (a tmp cleaner): start again
            self.directory.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.iterdir())

    def _sweep(self, now: float) -> None:
        for entry in self.directory.iterdir():
            try:
                if now - entry.stat().st_mtime >= self._ttl:
                    entry.unlink()
            except FileNotFoundError:
                pass  # another worker swept it


def skip_repeats(seen: EventLog, log: logging.Logger) -> Callable[..., Any]:
    """A bolt global middleware: answers 200 to a repeated event and runs no listener."""

    def skip_repeated_events(req: BoltRequest, body: dict[str, Any], next_: Callable[[], None]) -> Any:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        # A lazy listener's own invocation (Lambda) carries the same body: let it through.
        if event_id and not req.lazy_only and not seen.first_time(str(event_id)):
            retry = (req.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("skipped repeated event %s (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
        return next_()

    return skip_repeated_events
