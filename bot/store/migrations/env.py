"""Alembic's entry point for platbot's store, run by bot.store.migrate with a connection it opened.

There is no alembic.ini: bot.store.migrate builds the configuration in code and hands over its
connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from bot.store.models import Base

# Any number will do, as long as it is the same for every platbot host sharing the database.
POSTGRES_LOCK_ID = 0x706C6174626F74  # "platbot"


def run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table by copying it to a new one and dropping the old: with foreign keys
        # on, that drop would cascade to every action of every question. Off for the migration only.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
        with context.begin_transaction():
            if not sqlite:
                # Replicas starting together migrate one at a time; the others then find nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": POSTGRES_LOCK_ID})
            context.run_migrations()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


run(context.config.attributes["connection"])
