"""The curator store: questions, actions on their answers, and seen events.

Revision 0001, the first. Written by hand to match bot/store/models.py (a test compares them).
Migrations only go forward and never drop data: add, copy, then stop using; never delete.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
utc_time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("asked_at", utc_time, nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("workspace_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("user_hash", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("topic_id", sa.String(128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("offered", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("event_key", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("knowledge_version", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_questions"),
        sa.UniqueConstraint("ref", name="uq_questions_ref"),
        sa.UniqueConstraint("event_key", name="uq_questions_event_key"),
    )
    op.create_index("ix_questions_asked_at", "questions", ["asked_at"])
    op.create_index("ix_questions_outcome_asked_at", "questions", ["outcome", "asked_at"])
    op.create_index("ix_questions_topic_id", "questions", ["topic_id"])
    op.create_index("ix_questions_user_hash", "questions", ["user_hash"])

    op.create_table(
        "actions",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("question_id", big_id, nullable=True),
        sa.Column("question_ref", sa.String(32), nullable=False),
        sa.Column("at", utc_time, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topic_id", sa.String(128), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_actions"),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name="fk_actions_question_id_questions", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_actions_at", "actions", ["at"])
    op.create_index("ix_actions_question_ref", "actions", ["question_ref"])
    op.create_index("ix_actions_question_id", "actions", ["question_id"])
    op.create_index("ix_actions_kind_topic_id", "actions", ["kind", "topic_id"])
    op.create_index("ix_actions_user_hash", "actions", ["user_hash"])

    op.create_table(
        "events",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("seen_at", utc_time, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_events"),
    )
    op.create_index("ix_events_seen_at", "events", ["seen_at"])


def downgrade() -> None:
    raise NotImplementedError("platbot's migrations only go forward: restore a backup to go back")
