"""What the Slack app keeps in the curator store (bot/store): each question, and each click on
its answer, written off the request path by the store's Recorder.

    recorder = ProcessRecorder(StoreSettings.from_env(os.environ))
    ref = new_question_ref()                      # before rendering: the buttons carry it
    ...reply, with ref...
    record_question(deps, context, ref=ref, surface="command", text=text, result=result, started=t0)
    record_action(deps, body, "feedback_down", TopicRef.from_value(value))

Nothing here can fail an answer: with no store configured, or one that cannot be opened, the
functions do nothing (one warning per process says why).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from bot.errors import PlatbotError
from bot.matcher import MatchResult
from bot.render.blocks import TopicRef
from bot.slack.dedupe import EventLog
from bot.slack.deps import Deps
from bot.store import Recorder, StoreError, StoreSettings, mask, new_question_ref, prune, upgrade
from bot.store.answers import answer_fields
from bot.store.models import ActionKind, Surface

log = logging.getLogger("platbot.slack.recording")


class ProcessRecorder:
    """One Recorder per process, made on first use. gunicorn forks its workers after the app is
    built, and neither a writer thread nor a database connection survives a fork."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self._pid: int | None = None
        self._recorder: Recorder | None = None
        self._lock = threading.Lock()

    def get(self) -> Recorder | None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._recorder = os.getpid(), self._open()
            return self._recorder

    def _open(self) -> Recorder | None:
        try:
            engine = self.settings.engine()
        except PlatbotError as exc:
            log.warning("questions are not recorded: %s", exc)
            return None
        return Recorder(engine, user_hash_key=self.settings.user_hash_key.reveal(), store_text=self.settings.store_text)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is buffered (within `timeout`), in this process only."""
        with self._lock:
            if self._recorder is not None and self._pid == os.getpid():
                self._recorder.close(timeout)
                self._recorder = None


def open_store(store: StoreSettings) -> ProcessRecorder:
    """Migrate the store to this version's schema (safe to repeat, never dropping data; on
    PostgreSQL, processes starting together take turns), then a recorder that each process opens
    on first use. A database that cannot be migrated now costs a warning, not the answers: the
    recorder keeps its records until the database takes them."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin and step, at INFO
    try:
        engine = store.engine()
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # before gunicorn forks: no child inherits a live connection
    except StoreError as exc:
        log.warning("%s; answering anyway, records wait for the database", exc)
    else:
        log.info("recording questions in %s", mask(store.url))
    return ProcessRecorder(store)


class DailyPrune(threading.Thread):
    """Deletes the records older than the retention (PLATBOT_RETENTION_DAYS): at start, then
    every `every` seconds. It opens the database only while pruning, so a process that forks
    meanwhile (gunicorn's master) almost never hands a live connection to a child."""

    def __init__(self, settings: StoreSettings, every: float = 24 * 3600) -> None:
        super().__init__(name="platbot-store-prune", daemon=True)
        self.settings = settings
        self.every = every
        self._stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.prune_once()
            if self._stopped.wait(self.every):
                return

    def prune_once(self) -> None:
        try:
            engine = self.settings.engine()
            try:
                deleted = prune(engine, self.settings.retention_days)
            finally:
                engine.dispose()
        except PlatbotError as exc:  # the database is down: try again at the next turn
            log.warning("pruning old records failed: %s", exc)
            return
        if deleted.questions or deleted.actions:
            log.info(
                "pruned %d questions and %d actions older than %d days",
                deleted.questions,
                deleted.actions,
                self.settings.retention_days,
            )

    def stop(self) -> None:
        self._stopped.set()


class StoreSeenEvents:
    """Slack's retries recognised through the store's `events` table: every process and every
    host writing to one database agrees on what was answered (bot/slack/dedupe.py's EventLog).
    A database that fails the check lets the event through: answering twice beats not at all."""

    def __init__(self, recorder: ProcessRecorder, fallback: EventLog) -> None:
        self._recorder = recorder
        self._fallback = fallback  # for a process whose store could not be opened

    def first_time(self, key: str) -> bool:
        recorder = self._recorder.get()
        return recorder.first_time(key) if recorder is not None else self._fallback.first_time(key)


def record_question(
    deps: Deps,
    context: Mapping[str, Any],
    *,
    ref: str,
    surface: Surface,
    text: str,
    result: MatchResult,
    started: float,
    event_key: str | None = None,
) -> None:
    """Keep one question and what platbot made of it; `started` is its time.monotonic() on arrival."""
    recorder = deps.recorder.get() if deps.recorder is not None else None
    if recorder is None or not ref:
        return
    recorder.record_question(
        ref=ref,
        surface=surface,
        workspace_id=_workspace(context),
        user_id=str(context.get("user_id") or ""),
        channel_id=context.get("channel_id"),
        text=text,
        **answer_fields(result),
        latency_ms=(time.monotonic() - started) * 1000,
        event_key=event_key,
        request_id=context.get("request_id"),
    )


def record_action(
    deps: Deps, body: Mapping[str, Any], kind: ActionKind, ref: TopicRef | None, comment: str | None = None
) -> None:
    """Keep what someone did with an answer, when its button names the recorded question."""
    recorder = deps.recorder.get() if deps.recorder is not None else None
    if recorder is None or ref is None or not ref.ref:
        return
    team = body.get("team") or {}
    recorder.record_action(
        question_ref=ref.ref,
        kind=kind,
        workspace_id=str(team.get("id") or body.get("enterprise", {}).get("id") or ""),
        user_id=str((body.get("user") or {}).get("id") or ""),
        topic_id=ref.topic_id if deps.kb.get(ref.topic_id) else None,  # only known ids are kept
        comment=comment,
    )


def new_ref(deps: Deps) -> str:
    """A ref for a question about to be answered, or "" when nothing is recorded."""
    return new_question_ref() if deps.recorder is not None else ""


def _workspace(context: Mapping[str, Any]) -> str:
    return str(context.get("team_id") or context.get("enterprise_id") or "")


def record_advice(
    deps: Deps,
    context: Mapping[str, Any],
    *,
    surface: Surface,
    lang: str,
    text: str,
    started: float,
    channel_id: str | None = None,
) -> None:
    """Keep one recommendation of the platform advisor: a question answered with no topic,
    whose `text` says what was answered (`choose workloads=web_api,batch_hpc operators=nobody`)."""
    recorder = deps.recorder.get() if deps.recorder is not None else None
    if recorder is None:
        return
    recorder.record_question(
        surface=surface,
        workspace_id=_workspace(context),
        user_id=str(context.get("user_id") or ""),
        channel_id=channel_id,
        lang=lang,
        text=text,
        outcome="answered",
        latency_ms=(time.monotonic() - started) * 1000,
        request_id=context.get("request_id"),
    )
