"""Reload the knowledge while serving, without ever serving a broken version.

A new version is loaded and checked before it replaces the one in use: a topic file with a
problem is left out with a warning, as at start-up, but a load that fails, finds no topic,
or finds a problem in a shared file (vocabulary, messages, out-of-scope questions, tuning)
is refused with one log line naming the file and line, and the previous version keeps
serving. A good version replaces the old one by swapping a single reference: a request
reads it once, when it arrives, and keeps that version to the end (`PinningExecutor`).

    engine = LiveEngine(layers, kb, matcher)
    engine.reload()                                     # True once the new version serves
    Watcher(layers, engine.reload, every=2.0).start()   # reload whenever a knowledge file changes
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.cache import fingerprint, load_matcher
from bot.errors import KnowledgeError, PlatbotError, Problem
from bot.kb.layers import Layers
from bot.kb.load import DECLINED_FILE, MESSAGES_FILE, TUNING_FILE, VOCABULARY_FILE
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.backlog import BoundedExecutor
from bot.slack.deps import Deps, RecorderSource
from bot.slack.ratelimit import RateLimiter

SHARED_FILES = frozenset({VOCABULARY_FILE, MESSAGES_FILE, DECLINED_FILE, TUNING_FILE})
DEFAULT_WATCH_SECONDS = 2.0
log = logging.getLogger("platbot.slack.reload")
T = TypeVar("T")


@dataclass(frozen=True)
class Engine:
    """One version of the knowledge: the knowledge base and the matcher built from it."""

    kb: KnowledgeBase
    matcher: Matcher


class LiveEngine:
    """The engine in use, replaced whole by `reload` once a new version has passed its checks."""

    def __init__(self, knowledge: Path | Layers, kb: KnowledgeBase, matcher: Matcher) -> None:
        self.layers = knowledge if isinstance(knowledge, Layers) else Layers.single(knowledge)
        self._current = Engine(kb, matcher)
        self._reloading = threading.Lock()  # one load at a time: a signal and the watcher may coincide
        self._pinned = threading.local()

    def after_fork(self) -> None:
        """In a forked worker: the parent may have been mid-reload, its lock held by a thread
        the child does not have."""
        self._reloading = threading.Lock()

    @property
    def current(self) -> Engine:
        """The version this thread's request started with, else the newest good one."""
        return getattr(self._pinned, "engine", None) or self._current

    @contextmanager
    def pinned(self, engine: Engine) -> Iterator[None]:
        """Within the block, this thread reads `engine`, whatever reloads happen meanwhile."""
        self._pinned.engine = engine
        try:
            yield
        finally:
            self._pinned.engine = None

    def reload(self) -> bool:
        """Load the knowledge again; True when the new version now serves, False (one log line
        with file:line) when it was refused and the previous one still serves."""
        with self._reloading:
            try:
                kb, problems, matcher = load_matcher(self.layers)
            except KnowledgeError as exc:
                _refuse(exc.problems[0] if exc.problems else exc)
                return False
            except (PlatbotError, OSError) as exc:
                _refuse(exc)
                return False
            if shared := [p for p in problems if Path(p.path).name in SHARED_FILES]:
                _refuse(shared[0])
                return False
            for problem in problems:
                log.warning("knowledge: %s (topic left out; run `platbot check`)", problem)
            self._current = Engine(kb, matcher)  # one reference: requests see the old or the new, whole
        log.info("knowledge reloaded from %s: %d topics", self.layers.describe(), len(kb.topics))
        return True


def _refuse(reason: Problem | BaseException) -> None:
    text = " ".join(str(reason).split())  # one line, whatever the YAML parser said
    log.error("knowledge reload refused, still serving the previous version: %s", text)


class LiveDeps(Deps):
    """`Deps` whose knowledge base and matcher are those of `engine.current`, read on each use."""

    def __init__(
        self,
        engine: LiveEngine,
        *,
        command: str,
        log: logging.Logger,
        limiter: RateLimiter | None = None,
        recorder: RecorderSource | None = None,
        escalation_channel: str | None = None,
    ) -> None:
        # Deps is frozen; its fields are set the way dataclasses set them.
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "log", log)
        object.__setattr__(self, "limiter", limiter)
        object.__setattr__(self, "recorder", recorder)
        object.__setattr__(self, "escalation_channel", escalation_channel)

    @property  # type: ignore[override]
    def kb(self) -> KnowledgeBase:
        return self.engine.current.kb  # type: ignore[attr-defined, no-any-return]

    @property  # type: ignore[override]
    def matcher(self) -> Matcher:
        return self.engine.current.matcher  # type: ignore[attr-defined, no-any-return]


class PinningExecutor(BoundedExecutor):
    """bolt's pool for lazy listeners, bounded. Work is submitted while its request is handled,
    so each listener runs on the version current when its request arrived, even if a reload
    lands before it finishes: the matcher and the knowledge base it renders with always agree."""

    def __init__(self, engine: LiveEngine, **bounds: Any) -> None:
        super().__init__(**bounds)
        self._engine = engine

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        version = self._engine.current

        def run_pinned() -> T:
            with self._engine.pinned(version):
                return fn(*args, **kwargs)

        return super().submit(run_pinned)


class Watcher(threading.Thread):
    """Calls `on_change` when the knowledge directory's fingerprint changes, checking every
    `every` seconds. A change is reported once, so a broken edit logs once, not on each check."""

    def __init__(
        self,
        knowledge: Path | Layers,
        on_change: Callable[[], object],
        every: float = DEFAULT_WATCH_SECONDS,
        *,
        seen: str | None = None,  # the fingerprint of the version loaded, taken before loading it
    ) -> None:
        super().__init__(name="platbot-knowledge-watcher", daemon=True)
        self.layers = knowledge if isinstance(knowledge, Layers) else Layers.single(knowledge)
        self.every = every
        self._on_change = on_change
        self._seen = seen if seen is not None else fingerprint(self.layers)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.every):
            try:
                now = fingerprint(self.layers)
            except OSError as exc:  # a directory itself gone or unreadable: keep serving, keep checking
                log.warning("knowledge watch: cannot read %s (%s)", self.layers.describe(), type(exc).__name__)
                continue
            if now != self._seen:
                self._seen = now
                log.info("knowledge changed in %s: reloading", self.layers.describe())
                try:
                    self._on_change()
                except Exception:  # the watcher must outlive any one reload
                    log.exception("knowledge reload failed")

    def stop(self) -> None:
        self._stopped.set()
