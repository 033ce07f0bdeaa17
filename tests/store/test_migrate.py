"""Migrations build the tables the models describe, upgrade a populated database without losing a row,
and can run from several hosts at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from bot.store.db import make_engine
from bot.store.migrate import alembic_config, current_revision, upgrade
from bot.store.models import Base
from bot.store.recorder import Recorder
from tests.store.conftest import KEY, count, fresh_postgres_database, postgres_server_url

REPO = Path(__file__).resolve().parents[2]

# A stand-in for a future revision: widening a column makes SQLite rebuild the table (copy the rows
# to a new table, drop the old one), the riskiest thing a migration does to existing data.
WIDEN_LANG = """
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.alter_column("lang", type_=sa.String(16), existing_type=sa.String(8), existing_nullable=False)
"""


def test_an_empty_database_gets_exactly_the_tables_the_models_describe(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert current_revision(engine) is None

    upgrade(engine)

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert current_revision(engine) == "0001"
    assert differences == []
    engine.dispose()


def test_upgrading_again_changes_nothing_and_keeps_the_records(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    recorder = Recorder(engine, user_hash_key=KEY)
    recorder.record_question(
        surface="cli", workspace_id="local", user_id="me", lang="en", text="ecs cron", outcome="answered", latency_ms=4
    )
    recorder.close()

    upgrade(engine)

    assert count(engine, "questions") == 1
    engine.dispose()


def test_a_populated_database_keeps_every_row_and_link_through_a_table_rebuild(empty_url: str, tmp_path: Path) -> None:
    later = tmp_path / "later_versions"
    later.mkdir()
    (later / "0002_widen_lang.py").write_text(WIDEN_LANG)
    engine = make_engine(empty_url)
    upgrade(engine, "0001")
    recorder = Recorder(engine, user_hash_key=KEY)
    for n in range(20):
        ref = recorder.record_question(
            surface="command", workspace_id="T1", user_id=f"U{n}", lang="ja", text=f"質問 {n}", outcome="answered",
            latency_ms=n, topic_id="ecs-cron", offered=["ecs-cron"],
        )  # fmt: skip
        recorder.record_action(question_ref=ref, kind="feedback_up", workspace_id="T1", user_id=f"U{n}")
    recorder.close()

    upgrade(engine, config=alembic_config(extra_versions=[later]))

    assert current_revision(engine) == "0002"
    questions, actions = Base.metadata.tables["questions"], Base.metadata.tables["actions"]
    with engine.connect() as connection:
        texts = connection.scalars(select(questions.c.text).order_by(questions.c.id)).all()
        linked = connection.execute(
            select(actions.c.question_id, questions.c.id).join(questions, questions.c.ref == actions.c.question_ref)
        ).all()
        lang = next(column for column in inspect(connection).get_columns("questions") if column["name"] == "lang")
    assert texts == [f"質問 {n}" for n in range(20)]
    # The rebuild dropped the old questions table: the actions survived it, still pointing at their questions.
    assert len(linked) == 20
    assert all(action_question == question for action_question, question in linked)
    assert lang["type"].length == 16
    engine.dispose()


def test_a_revision_drafted_from_the_packaged_template_applies(tmp_path: Path) -> None:
    config = alembic_config(extra_versions=[tmp_path])
    script = command.revision(config, "record the answer's source", rev_id="0002", version_path=str(tmp_path))
    engine = make_engine(f"sqlite:///{tmp_path / 'platbot.db'}")

    upgrade(engine, config=config)

    assert script is not None and 'down_revision = "0001"' in Path(script.path).read_text()
    assert current_revision(engine) == "0002"
    engine.dispose()


def test_hosts_upgrading_one_postgresql_database_at_once_take_turns() -> None:
    # (SQLite has no such lock: migrate once per host, before forking workers.)
    migrate = "import sys; from bot.store.migrate import upgrade; upgrade(sys.argv[1])"
    with fresh_postgres_database(postgres_server_url()) as url:
        hosts = [subprocess.Popen([sys.executable, "-c", migrate, url], cwd=REPO) for _ in range(4)]

        assert [host.wait(timeout=120) for host in hosts] == [0, 0, 0, 0]
        engine = make_engine(url)
        assert current_revision(engine) == "0001"
        engine.dispose()
