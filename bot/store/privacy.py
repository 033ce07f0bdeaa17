"""What the store keeps about people, and how it lets go of it.

A user is stored as an HMAC-SHA256 of their workspace and user ids under a secret key: the same
person gets the same hash (so counts and `forget` work), but the ids cannot be read back, nor
guessed by hashing every id, without the key. `prune` enforces the retention period; `forget`
removes one person's questions, their clicks, and the clicks on their questions.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import store_error
from bot.store.models import Action, Question


@dataclass(frozen=True)
class Deleted:
    questions: int
    actions: int


def user_hash(key: str | bytes, workspace: str, user: str) -> str:
    """The stored form of a user: 64 hex characters."""
    secret = key.encode() if isinstance(key, str) else key
    # The separator keeps ("T1", "2U") and ("T12", "U") apart.
    return hmac.new(secret, f"{workspace}\x1f{user}".encode(), hashlib.sha256).hexdigest()


def prune(engine: Engine, days: int, *, now: datetime | None = None) -> Deleted:
    """Delete the questions and actions older than `days`, and the actions on those questions."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    return _delete(engine, Question.asked_at < cutoff, Action.at < cutoff, "prune")


def forget(engine: Engine, key: str | bytes, user: str, workspace: str | None = None) -> Deleted:
    """Delete everything recorded about `user`: in `workspace`, or in every workspace on record
    (a Slack user id is the same across an Enterprise Grid's workspaces)."""
    try:
        with engine.connect() as connection:
            workspaces = (
                [workspace]
                if workspace is not None
                else connection.scalars(select(Question.workspace_id).distinct()).all()
            )
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None
    hashes = [user_hash(key, each, user) for each in workspaces]
    return _delete(engine, Question.user_hash.in_(hashes), Action.user_hash.in_(hashes), "forget records in")


def _delete(engine: Engine, questions: ColumnElement[bool], actions: ColumnElement[bool], doing: str) -> Deleted:
    doomed_refs = select(Question.ref).where(questions)
    try:
        with engine.begin() as connection:
            # Actions first: those whose question goes too, even when their question_id is not set yet.
            gone_actions = connection.execute(delete(Action).where(or_(actions, Action.question_ref.in_(doomed_refs))))
            gone_questions = connection.execute(delete(Question).where(questions))
    except SQLAlchemyError as error:
        raise store_error(error, engine, doing) from None
    return Deleted(questions=gone_questions.rowcount, actions=gone_actions.rowcount)
