"""Record questions and what people did with the answers, without ever slowing or breaking an answer.

`record_question` and `record_action` only append to a buffer in memory and return; a writer
thread writes the buffer in batches, one transaction each. When the database cannot be reached
(or written), the records wait and the writer retries with a growing pause, logging one warning
when the database goes away and one line when it is back.

The buffer is bounded (`max_buffer` records). When it is full, the OLDEST record goes to make room
for the new one. Both choices lose a stretch of records in a long outage; keeping the newest
keeps the records next to the moment the database returns, which are the ones the clicks that
follow will refer to, and the freshest view of what people ask. Drops are counted and logged at
most once a minute. A process that exits (or is killed) loses what it still holds: `close()`
at shutdown writes what it can within its timeout.

`first_time(event_key)` is the other use: a synchronous check, shared by every host through the
`events` table, that a Slack event is seen for the first time (see bot.slack.dedupe).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Insert, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot.store.db import store_error
from bot.store.models import ActionKind, Base, Outcome, Surface
from bot.store.privacy import user_hash

log = logging.getLogger("platbot.store")

GATHER_S = 0.25  # how long a record may wait for others to share its transaction
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0
REPORT_DROPS_EVERY_S = 60.0
# Slack's last retry of an event comes about five minutes after the first delivery; an hour also
# covers hosts whose clocks disagree by minutes.
EVENT_TTL = timedelta(hours=1)
SWEEP_EVENTS_EVERY_S = 600.0
# After a failed check, answer without checking for a while rather than wait on a dead database.
DEDUPE_PAUSE_S = 5.0

QUESTIONS = Base.metadata.tables["questions"]
ACTIONS = Base.metadata.tables["actions"]
EVENTS = Base.metadata.tables["events"]


def new_question_ref() -> str:
    """A short random id for a question (72 bits), for its answer's buttons to carry."""
    return secrets.token_urlsafe(9)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pending:
    table: Table
    row: dict[str, Any]


class Outage(Exception):
    """The database cannot be reached or written; `unwritten` are the records to keep for later."""

    def __init__(self, error: Exception, unwritten: list[Pending]) -> None:
        super().__init__(str(error))
        self.error = error
        self.unwritten = unwritten


def is_outage(error: Exception) -> bool:
    """True when `error` says the database is away (down, unreachable, locked, read-only), not that a
    record is bad: the first is worth waiting for, the second never gets better."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class Recorder:
    """Buffers records and writes them from a thread of its own: make one per process, after any fork
    (a gunicorn worker's post_fork, not the master), and close it at exit."""

    def __init__(
        self,
        engine: Engine,
        *,
        user_hash_key: str | bytes,
        store_text: bool = True,
        max_buffer: int = 10_000,
        batch: int = 500,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self._key = user_hash_key
        self._store_text = store_text
        self._max_buffer = max_buffer
        self._batch = batch
        self._now = now
        self._insert_questions = insert_ignoring_duplicates(engine, QUESTIONS)
        self._insert_event = insert_ignoring_duplicates(engine, EVENTS).returning(EVENTS.c.key)

        self._pending: deque[Pending] = deque()
        self._in_flight = 0
        self._changed = threading.Condition()
        self._kicked = False
        self._closed = False
        self.written = 0
        self.dropped = 0
        self._drops_to_report = 0
        self._drops_reported_at = float("-inf")
        self._down = False
        self._failed_writes = 0

        self._dedupe_down = False
        self._dedupe_paused_until = float("-inf")
        self._events_swept_at = float("-inf")

        self._writer = threading.Thread(target=self._write_until_closed, name="platbot-store-writer", daemon=True)
        self._writer.start()

    # -- recording: called on the answer's path, so they only append -----------------------------

    def record_question(
        self,
        *,
        surface: Surface,
        workspace_id: str,
        user_id: str,
        lang: str,
        text: str,
        outcome: Outcome,
        latency_ms: float,
        channel_id: str | None = None,
        topic_id: str | None = None,
        confidence: float | None = None,
        offered: Sequence[str] = (),
        event_key: str | None = None,
        request_id: str | None = None,
        knowledge_version: str | None = None,
        ref: str | None = None,
        asked_at: datetime | None = None,
    ) -> str:
        """Queue a question for writing and return its ref (pass `ref` when the answer's buttons
        already carry one from `new_question_ref()`)."""
        ref = ref or new_question_ref()
        row = {
            "ref": ref,
            "asked_at": asked_at or self._now(),
            "surface": surface,
            "workspace_id": workspace_id,
            "channel_id": channel_id,
            "user_hash": user_hash(self._key, workspace_id, user_id),
            "lang": lang,
            "text": text if self._store_text else None,
            "outcome": outcome,
            "topic_id": topic_id,
            "confidence": confidence,
            "offered": list(offered),
            "latency_ms": latency_ms,
            "event_key": event_key,
            "request_id": request_id,
            "knowledge_version": knowledge_version,
        }
        self._append(Pending(QUESTIONS, row))
        return ref

    def record_action(
        self,
        *,
        question_ref: str,
        kind: ActionKind,
        workspace_id: str,
        user_id: str,
        topic_id: str | None = None,
        comment: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Queue what someone did with an answer: a pick, a related topic, a vote (and its comment)..."""
        row = {
            "question_id": None,  # linked by question_ref when written
            "question_ref": question_ref,
            "at": at or self._now(),
            "kind": kind,
            "topic_id": topic_id,
            "comment": comment if self._store_text else None,
            "user_hash": user_hash(self._key, workspace_id, user_id),
        }
        self._append(Pending(ACTIONS, row))

    def _append(self, record: Pending) -> None:
        with self._changed:
            if self._closed:
                self.dropped += 1
                return
            if len(self._pending) >= self._max_buffer:
                self._pending.popleft()
                self.dropped += 1
                self._drops_to_report += 1
            self._pending.append(record)
            self._changed.notify_all()

    @property
    def pending(self) -> int:
        """Records not written yet: buffered, or being written now."""
        with self._changed:
            return len(self._pending) + self._in_flight

    @property
    def healthy(self) -> bool:
        """False from a failed write until the next one succeeds."""
        return not self._down

    # -- shutdown -------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0, *, stop_at_failure: bool = False) -> bool:
        """Wait until every record queued so far is written (True) or `timeout` seconds pass (False).
        A writer waiting to retry tries again at once. With `stop_at_failure`, a write that fails
        meanwhile ends the wait too (False): the database is down, and waiting longer only delays
        the caller (a Lambda invocation, which must return before its process is frozen)."""
        with self._changed:
            failures = self._failed_writes
            self._kicked = True
            self._changed.notify_all()

            def written() -> bool:
                return not self._pending and not self._in_flight

            self._changed.wait_for(lambda: written() or (stop_at_failure and self._failed_writes > failures), timeout)
            return written()

    def close(self, timeout: float = 5.0) -> None:
        """Write what can be written within `timeout` seconds, then stop; later records are dropped."""
        if self._closed:
            return
        self.flush(timeout)
        with self._changed:
            self._closed = True
            left = len(self._pending) + self._in_flight
            self._changed.notify_all()
        self._writer.join(timeout=1.0)
        self._report_drops(now=True)
        if left:
            log.warning("the store is unreachable: %d record(s) not written before shutdown", left)

    # -- the writer thread ----------------------------------------------------------------------

    def _write_until_closed(self) -> None:
        retry_in = 0.0
        while True:
            with self._changed:
                if retry_in:
                    self._changed.wait_for(lambda: self._kicked or self._closed, timeout=retry_in)
                else:
                    self._changed.wait_for(lambda: self._pending or self._closed)
                    # Gather a batch before writing: one transaction for a few hundred records
                    # holds the interpreter lock, which the answers need, far less than one each.
                    self._changed.wait_for(
                        lambda: self._kicked or self._closed or len(self._pending) >= self._batch, timeout=GATHER_S
                    )
                self._kicked = False
                if self._closed:
                    return
                batch = [self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))]
                self._in_flight = len(batch)
            self._report_drops()
            if not batch:  # a flush with nothing left to write
                retry_in = 0.0
                continue
            try:
                self._write(batch)
            except Outage as outage:
                self._put_back(outage.unwritten, written=len(batch) - len(outage.unwritten), failed=True)
                retry_in = min(max(retry_in * 2, FIRST_RETRY_S), MAX_RETRY_S)
                if not self._down:
                    self._down = True
                    log.warning(
                        "%s; keeping records in memory (up to %d) and retrying",
                        store_error(outage.error, self.engine, "write to"),
                        self._max_buffer,
                    )
                continue
            self._put_back([], written=len(batch))
            if self._down:
                self._down, retry_in = False, 0.0
                log.info("the store is back: writing the %d record(s) kept meanwhile", len(batch) + self.pending)

    def _put_back(self, unwritten: list[Pending], *, written: int, failed: bool = False) -> None:
        with self._changed:
            if failed:
                self._failed_writes += 1
            # Oldest first: if the buffer filled up meanwhile, these are the records to drop.
            room = max(self._max_buffer - len(self._pending), 0)
            kept = unwritten[len(unwritten) - room :] if room < len(unwritten) else unwritten
            lost = len(unwritten) - len(kept)
            self.dropped += lost
            self._drops_to_report += lost
            self._pending.extendleft(reversed(kept))
            self._in_flight = 0
            self.written += written
            self._changed.notify_all()

    def _report_drops(self, *, now: bool = False) -> None:
        at = time.monotonic()
        with self._changed:
            due = now or at - self._drops_reported_at >= REPORT_DROPS_EVERY_S
            if not self._drops_to_report or not due:
                return
            dropped, self._drops_to_report, self._drops_reported_at = self._drops_to_report, 0, at
        log.warning("the store's buffer is full: dropped the %d oldest record(s) not written yet", dropped)

    def _write(self, batch: list[Pending]) -> None:
        """Write `batch`; raise Outage with the records still unwritten when the database is away."""
        try:
            self._insert(batch)
            return
        except Exception as error:
            if is_outage(error):
                raise Outage(error, batch) from error
        # A bad record (say, a value too long for its column) must not hold back the others.
        for index, record in enumerate(batch):
            try:
                self._insert([record])
            except Exception as error:
                if is_outage(error):
                    raise Outage(error, batch[index:]) from error
                log.error("dropped a %s record the store refused: %s", record.table.name, _first_line(error))

    def _insert(self, batch: list[Pending]) -> None:
        questions = [record.row for record in batch if record.table is QUESTIONS]
        actions = [record.row for record in batch if record.table is ACTIONS]
        refs = {row["ref"] for row in questions} | {row["question_ref"] for row in actions}
        with self.engine.connect() as connection:
            try:
                with connection.begin():
                    if questions:
                        connection.execute(self._insert_questions, questions)
                    if actions:
                        connection.execute(insert(ACTIONS), actions)
                    connection.execute(_link_actions(refs))
            except Exception as error:
                if is_outage(error):
                    # A connection that failed once (say, opened on a file that turned read-only)
                    # is not trusted again: the next try opens a new one.
                    connection.invalidate()
                raise

    # -- deduplication ----------------------------------------------------------------------------

    def first_time(self, event_key: str) -> bool:
        """True the first time any host asks about `event_key` within the TTL (an hour), False for a
        repeat. When the database fails, True: answering twice beats not answering."""
        if time.monotonic() < self._dedupe_paused_until:
            return True
        now = self._now()
        try:
            with self.engine.begin() as connection:
                connection.execute(delete(EVENTS).where(EVENTS.c.key == event_key, EVENTS.c.seen_at < now - EVENT_TTL))
                inserted = connection.execute(self._insert_event, {"key": event_key, "seen_at": now}).first()
                if time.monotonic() - self._events_swept_at > SWEEP_EVENTS_EVERY_S:
                    self._events_swept_at = time.monotonic()
                    connection.execute(delete(EVENTS).where(EVENTS.c.seen_at < now - EVENT_TTL))
        except Exception as error:
            self._dedupe_paused_until = time.monotonic() + DEDUPE_PAUSE_S
            if not self._dedupe_down:
                self._dedupe_down = True
                log.warning("%s; answering events without the repeat check", store_error(error, self.engine, "check"))
            return True
        if self._dedupe_down:
            self._dedupe_down = False
            log.info("the store is back: checking events for repeats again")
        return inserted is not None  # nothing comes back when the key was there already


def insert_ignoring_duplicates(engine: Engine, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING, which SQLite and PostgreSQL spell the same way."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def _link_actions(refs: set[str]) -> Any:
    """Set question_id on the actions of these questions that lack it: the question may have been
    written after its action (another host, or a later batch)."""
    question_id = select(QUESTIONS.c.id).where(QUESTIONS.c.ref == ACTIONS.c.question_ref).scalar_subquery()
    return (
        update(ACTIONS)
        .where(ACTIONS.c.question_id.is_(None), ACTIONS.c.question_ref.in_(refs))
        .values(question_id=question_id)
    )


def _first_line(error: Exception) -> str:
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
