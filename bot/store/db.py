"""Where the curator store lives, and an engine set up for it: SQLite by default, PostgreSQL on request.

    PLATBOT_DATABASE_URL   a SQLAlchemy URL; wins over DATABASE_URL
    DATABASE_URL           as PaaS set it (`postgres://...`); read when the first is unset
    PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE
                           libpq's own variables, read when neither URL is set and PGHOST is
                           (the password may instead come from a secret: bot.store.credentials)
    (none of these)        sqlite:///$XDG_DATA_HOME/platbot/platbot.db (~/.local/share/platbot/...)

`postgres://` and `postgresql://` mean psycopg 3 (the `postgres` extra). Errors are `StoreError`,
one line that names the database with its password masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from bot.errors import PlatbotError, SettingsError

SQLITE_BUSY_TIMEOUT_MS = 5_000
# Bounds the wait for an unreachable server; the recorder retries later, dedupe answers anyway.
POSTGRES_CONNECT_TIMEOUT_S = 5


class StoreError(PlatbotError):
    """The store cannot be used: a bad URL, a missing driver, an unreachable or broken database."""


def database_url(env: Mapping[str, str]) -> str:
    """The URL to use, from the environment; creates the default SQLite file's directory."""
    url = env.get("PLATBOT_DATABASE_URL") or env.get("DATABASE_URL")
    if url:
        return _with_psycopg(url.strip())
    if env.get("PGHOST", "").strip():
        return _from_libpq_variables(env)
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    directory = base / "platbot"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'platbot.db'}"


def _from_libpq_variables(env: Mapping[str, str]) -> str:
    def value(name: str) -> str | None:
        return env.get(name, "").strip() or None

    port = value("PGPORT")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise SettingsError("PGPORT must be a port number")
    url = URL.create(
        "postgresql+psycopg",
        username=value("PGUSER"),
        password=value("PGPASSWORD"),
        host=value("PGHOST"),
        port=int(port) if port else None,
        database=value("PGDATABASE"),
        query={"sslmode": sslmode} if (sslmode := value("PGSSLMODE")) else {},
    )
    return url.render_as_string(hide_password=False)


def _with_psycopg(url: str) -> str:
    # SQLAlchemy reads a bare postgresql:// as psycopg2, which platbot does not install.
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def mask(url: str | URL) -> str:
    """The URL as it may be printed: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a malformed database URL)"


def make_engine(url: str | URL) -> Engine:
    """An engine for `url`: SQLite in WAL mode, waiting for locks, enforcing foreign keys; PostgreSQL
    with connections checked before use, so a restarted server costs no failed write."""
    try:
        parsed = make_url(_with_psycopg(url) if isinstance(url, str) else url)
    except ArgumentError:
        raise StoreError("the database URL is malformed: expected sqlite:///PATH or postgresql://...") from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        if backend == "postgresql":
            return create_engine(
                parsed, pool_pre_ping=True, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
            )
    except (ImportError, NoSuchModuleError):
        raise StoreError(
            f"no driver for {mask(parsed)}: install PostgreSQL support with pip install 'platbot[postgres]'"
        ) from None
    raise StoreError(f"unsupported database {mask(parsed)}: use sqlite:///PATH or postgresql://...")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer thread, and the writer rarely waits for readers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def store_error(error: Exception, engine: Engine, doing: str) -> StoreError:
    """A one-line StoreError for `error`, raised while `doing` something with `engine`'s database."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    detail = lines[0]
    password = engine.url.password
    if password:
        detail = detail.replace(str(password), "***")
    return StoreError(f"cannot {doing} {mask(engine.url)}: {detail}")


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None (another database, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(os.path.expanduser(parsed.database))
