"""The curator store's tables: every question asked, what people did with its answer, and seen events.

Column values that name a kind of thing (surface, outcome, action kind) are plain strings, typed
as `Literal`s in the code that writes them: a new kind then needs no migration. Times are
timezone-aware UTC on both databases (SQLite keeps them as UTC text, PostgreSQL as timestamptz).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

Surface = Literal["mention", "command", "dm", "home", "cli"]
Outcome = Literal["answered", "see_also", "did_you_mean", "declined", "smalltalk", "rate_limited", "error"]
ActionKind = Literal["pick", "related", "feedback_up", "feedback_down", "share", "escalate"]

# SQLite gives a table an auto-incrementing key only for a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out; a naive one is refused, as its zone is a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no time zone: pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite returns the UTC text it was given, without a zone.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints: a later migration can only drop or alter a constraint it can name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The id the answer's buttons carry, made before the row exists (see Recorder.record_question).
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    surface: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    user_hash: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    topic_id: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    offered: Mapped[list[Any]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    event_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    knowledge_version: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_questions_asked_at", "asked_at"),
        Index("ix_questions_outcome_asked_at", "outcome", "asked_at"),
        Index("ix_questions_topic_id", "topic_id"),
        Index("ix_questions_user_hash", "user_hash"),
    )


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Null while the question's row is not written yet (it may come from another host); question_ref
    # always links the two.
    question_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("questions.id", ondelete="CASCADE"))
    question_ref: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    topic_id: Mapped[str | None] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(Text)
    user_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_actions_at", "at"),
        Index("ix_actions_question_ref", "question_ref"),
        Index("ix_actions_question_id", "question_id"),
        Index("ix_actions_kind_topic_id", "kind", "topic_id"),
        Index("ix_actions_user_hash", "user_hash"),
    )


class SeenEvent(Base):
    """Keys of the Slack events already answered, shared by every host (see Recorder.first_time)."""

    __tablename__ = "events"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_events_seen_at", "seen_at"),)
