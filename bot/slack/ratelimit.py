"""A per-user limit on questions: `PLATBOT_RATE_LIMIT="10/60"` lets each user of a workspace ask
10 questions at once, then one more every 6 seconds (a token bucket refilled at 10 per 60 s).

The bucket is kept as one number per user, the time at which it will be full again (the
"theoretical arrival time" of the generic cell rate algorithm), so `decide` is a pure function
of that state, the limit and the time. A refused question gets one friendly note; further ones
are dropped quietly until the user may ask again, so a question never causes more than one
post, and a flood never causes a flood of notes.

The state lives in a fixed table in shared memory, made before gunicorn forks its workers, so
the workers of one host count together (a worker restarted by gunicorn inherits it too). Each
process elsewhere (Socket Mode, one Lambda execution environment) counts on its own.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import math
import mmap
import os
import re
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bot.errors import SettingsError

ENV_VAR = "PLATBOT_RATE_LIMIT"
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*s?\s*$")


@dataclass(frozen=True)
class Limit:
    """At most `questions` at once, refilled at `questions` per `period` seconds."""

    questions: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds between two questions at the sustained rate."""
        return self.period / self.questions

    @classmethod
    def parse(cls, text: str | None) -> Limit | None:
        """`"10/60"` -> 10 questions per 60 s; unset, `off` or `0` -> no limit."""
        value = (text or "").strip().lower()
        if value in ("", "off", "0", "none"):
            return None
        match = _LIMIT.match(value)
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise SettingsError(f"{ENV_VAR} must be QUESTIONS/SECONDS, such as 10/60 (10 per minute per user), or off")
        return cls(int(match[1]), float(match[2]))


class Verdict(enum.Enum):
    ANSWER = "answer"
    NOTE = "note"  # refused: tell the user, once, when to ask again
    DROP = "drop"  # refused again before that time: say nothing


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    wait: float = 0.0  # seconds until the user may ask again

    @property
    def wait_seconds(self) -> int:
        """The wait as people read it: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.wait))


@dataclass(frozen=True)
class Bucket:
    """One user's state. A fresh user's bucket is full: every time in the past will do."""

    full_at: float = 0.0  # when the bucket is full again, if no question comes before
    quiet_until: float = 0.0  # refused questions before this time were already told when to ask


def decide(limit: Limit, bucket: Bucket, now: float) -> tuple[Decision, Bucket]:
    """Whether a question asked at `now` is answered, and the user's bucket after it."""
    full_at = max(bucket.full_at, now)
    # Each answered question pushes full_at one interval further; the bucket holds `period`.
    next_allowed = full_at - limit.period + limit.interval
    if now >= next_allowed:
        return Decision(Verdict.ANSWER), Bucket(full_at + limit.interval, bucket.quiet_until)
    wait = next_allowed - now
    if now >= bucket.quiet_until:
        return Decision(Verdict.NOTE, wait), Bucket(bucket.full_at, next_allowed)
    return Decision(Verdict.DROP, wait), bucket


class RateLimiter:
    """`decide` over a table of buckets shared by this process and the ones it forks later.

    The table is a fixed array in an anonymous shared mapping, indexed by a 64-bit hash of
    (workspace, user) with a short linear probe; a bucket that is full again is as good as
    empty and its slot is reused. If every slot in reach holds a user who is still being
    limited (thousands of users flooding at once), the question is answered: the limit is a
    courtesy, not a defence. Threads exclude each other with a lock, processes with a POSIX
    record lock on a temporary file, which the kernel releases if a worker dies holding it.
    """

    _SLOT = struct.Struct("<Qdd")  # key hash (0: never used), full_at, quiet_until

    def __init__(
        self,
        limit: Limit,
        *,
        clock: Callable[[], float] = time.monotonic,  # CLOCK_MONOTONIC is the same in every process
        slots: int = 16_384,
        probes: int = 32,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._slots = slots
        self._probes = min(probes, slots)
        self._table = mmap.mmap(-1, slots * self._SLOT.size)  # MAP_SHARED: forked workers see one table
        # A file only to lock: unlinked at once, so nothing is left behind; closed with the limiter.
        self._lock_fd, path = tempfile.mkstemp(prefix="platbot-ratelimit-")
        os.unlink(path)
        weakref.finalize(self, os.close, self._lock_fd)
        self._thread_lock = threading.Lock()

    def check(self, workspace: str, user: str) -> Decision:
        """Count one question from `user` of `workspace` and say what to do with it."""
        key = _key(workspace, user)
        with self._locked():
            now = self._clock()  # read under the lock, so the table only ever moves forward
            slot, bucket = self._find(key, now)
            if slot is None:
                return Decision(Verdict.ANSWER)
            decision, bucket = decide(self.limit, bucket, now)
            self._SLOT.pack_into(self._table, slot * self._SLOT.size, key, bucket.full_at, bucket.quiet_until)
        return decision

    def _find(self, key: int, now: float) -> tuple[int | None, Bucket]:
        """The slot holding `key` and its bucket, else a free slot and a fresh bucket."""
        free: int | None = None
        start = key % self._slots
        for step in range(self._probes):
            slot = (start + step) % self._slots
            held, full_at, quiet_until = self._SLOT.unpack_from(self._table, slot * self._SLOT.size)
            if held == key:
                return slot, Bucket(full_at, quiet_until)
            if free is None and (held == 0 or full_at <= now):
                free = slot
        return free, Bucket()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)


def _key(workspace: str, user: str) -> int:
    digest = hashlib.blake2b(f"{workspace}\0{user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1  # 0 marks a slot never used
