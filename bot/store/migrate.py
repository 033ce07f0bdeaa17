"""Bring a database's tables up to date with Alembic, configured in code from the migrations in this package.

`platbot db upgrade` and server start call `upgrade`; it is safe to repeat, and on PostgreSQL safe
for several hosts at once (they take turns on an advisory lock). Run it once per host, before
forking workers: SQLite has no such lock, and Alembic's global state makes two upgrades in one
process at once unsafe.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import make_engine, store_error

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(extra_versions: Sequence[Path] = ()) -> Config:
    """Alembic's configuration without an ini file; `extra_versions` adds revision folders (tests do)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if extra_versions:
        # Folders separated by spaces: what `path_separator = space` means in recent Alembic releases,
        # and how older ones split the list anyway.
        config.set_main_option("path_separator", "space")
        folders = [MIGRATIONS / "versions", *extra_versions]
        config.set_main_option("version_locations", " ".join(str(folder) for folder in folders))
    return config


def upgrade(database: str | Engine, revision: str = "head", *, config: Config | None = None) -> None:
    """Apply every migration up to `revision` (a URL opens its own engine, an engine is reused)."""
    engine = make_engine(database) if isinstance(database, str) else database
    config = config or alembic_config()
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    except SQLAlchemyError as error:
        raise store_error(error, engine, "migrate") from None
    finally:
        config.attributes.pop("connection", None)
        if isinstance(database, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None before the first upgrade."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None
