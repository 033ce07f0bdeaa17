"""Users are stored as keyed hashes; old records are pruned; one person's records can be forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from bot.store.models import Base
from bot.store.privacy import Deleted, forget, prune, user_hash
from bot.store.recorder import Recorder
from tests.store.conftest import KEY, count

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def ask(recorder: Recorder, user: str, *, workspace: str = "T1", days_ago: float = 0, text: str = "") -> str:
    return recorder.record_question(
        surface="mention",
        workspace_id=workspace,
        user_id=user,
        lang="en",
        text=text or f"a question from {user}",
        outcome="answered",
        latency_ms=5,
        asked_at=NOW - timedelta(days=days_ago),
    )


def click(recorder: Recorder, ref: str, user: str, *, workspace: str = "T1", days_ago: float = 0) -> None:
    recorder.record_action(
        question_ref=ref, kind="feedback_up", workspace_id=workspace, user_id=user, at=NOW - timedelta(days=days_ago)
    )


def texts(engine: Engine) -> list[str]:
    questions = Base.metadata.tables["questions"]
    with engine.connect() as connection:
        return sorted(connection.scalars(select(questions.c.text)))


def test_a_user_hash_is_stable_for_one_key_and_differs_across_keys_and_workspaces() -> None:
    one = user_hash(KEY, "T1", "U1")

    assert one == user_hash(KEY, "T1", "U1")
    assert len(one) == 64 and int(one, 16) >= 0
    assert one != user_hash("another-key-0123456789", "T1", "U1")
    assert one != user_hash(KEY, "T2", "U1")
    assert user_hash(KEY, "T1", "2U") != user_hash(KEY, "T12", "U")


def test_the_raw_user_id_is_never_stored(engine: Engine, recorder: Recorder) -> None:
    click(recorder, ask(recorder, "U0SECRET", text="ecs cron?"), "U0SECRET")
    assert recorder.flush()

    with engine.connect() as connection:
        tables = [Base.metadata.tables[name] for name in ("questions", "actions")]
        stored = [str(row) for table in tables for row in connection.execute(select(table))]
    assert stored and not any("U0SECRET" in row for row in stored)


def test_prune_deletes_what_is_past_the_retention_and_the_clicks_on_it(engine: Engine, recorder: Recorder) -> None:
    old = ask(recorder, "U1", days_ago=91)
    click(recorder, old, "U2", days_ago=1)  # a recent click on an old question goes with it
    recent = ask(recorder, "U1", days_ago=89)
    click(recorder, recent, "U2", days_ago=89)
    click(recorder, recent, "U3", days_ago=95)  # clocks disagree: an old click on a kept question goes
    assert recorder.flush()

    deleted = prune(engine, 90, now=NOW)

    assert deleted == Deleted(questions=1, actions=2)
    assert count(engine, "questions") == 1
    assert count(engine, "actions") == 1


def test_forget_deletes_one_persons_questions_clicks_and_the_clicks_on_their_questions(
    engine: Engine, recorder: Recorder
) -> None:
    theirs = ask(recorder, "U1")
    click(recorder, theirs, "U2")  # someone else's vote on their question
    others = ask(recorder, "U2")
    click(recorder, others, "U1")  # their vote on someone else's question
    click(recorder, others, "U3")
    ask(recorder, "U1", workspace="T2")  # the same user id in another workspace is another person
    assert recorder.flush()

    deleted = forget(engine, KEY, "U1", workspace="T1")

    assert deleted == Deleted(questions=1, actions=2)
    assert texts(engine) == ["a question from U1", "a question from U2"]
    assert count(engine, "actions") == 1


def test_forget_without_a_workspace_covers_every_workspace_on_record(engine: Engine, recorder: Recorder) -> None:
    ask(recorder, "U1", workspace="T1")
    ask(recorder, "U1", workspace="T2")
    ask(recorder, "U2", workspace="T2")
    assert recorder.flush()

    deleted = forget(engine, KEY, "U1")

    assert deleted == Deleted(questions=2, actions=0)
    assert texts(engine) == ["a question from U2"]


def test_forgetting_with_another_key_finds_nobody(engine: Engine, recorder: Recorder) -> None:
    ask(recorder, "U1")
    assert recorder.flush()

    assert forget(engine, "not-the-key-0123456789", "U1", workspace="T1") == Deleted(questions=0, actions=0)
    assert count(engine, "questions") == 1
