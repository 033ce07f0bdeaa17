"""Databases for the store tests: SQLite always, PostgreSQL when PLATBOT_TEST_POSTGRES_URL names a server.

That server's role must be allowed to create databases: each test module gets a fresh one,
dropped afterwards. With PLATBOT_PG_TEST=1 (CI), a missing URL fails the PostgreSQL tests
instead of skipping them, and the outage tests may start a PostgreSQL cluster of their own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.engine import make_url

from bot.store.db import database_url, make_engine
from bot.store.migrate import upgrade
from bot.store.models import Base
from bot.store.recorder import Recorder

KEY = "test-key-0123456789abcdef"
BACKENDS = ["sqlite", "postgresql"]


def postgres_server_url() -> str:
    url = os.environ.get("PLATBOT_TEST_POSTGRES_URL")
    if url:
        return database_url({"PLATBOT_DATABASE_URL": url})
    if os.environ.get("PLATBOT_PG_TEST") == "1":
        pytest.fail("PLATBOT_PG_TEST=1 but PLATBOT_TEST_POSTGRES_URL is not set")
    pytest.skip("set PLATBOT_TEST_POSTGRES_URL to run the PostgreSQL tests")


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped when the block ends (even with connections open)."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"platbot_test_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'platbot.db'}"
    else:
        with fresh_postgres_database(postgres_server_url()) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables, new for each test."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a database at the latest revision, shared by one test module."""
    with empty_database(request.param, tmp_path_factory.mktemp("store")) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def engine(migrated: Engine) -> Iterator[Engine]:
    """The module's migrated database, emptied after each test."""
    yield migrated
    with migrated.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def recorder(engine: Engine) -> Iterator[Recorder]:
    recorder = Recorder(engine, user_hash_key=KEY)
    yield recorder
    recorder.close()


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own, in a temporary folder on a free loopback port, which
    the test may stop and start (the shared server is never touched)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # initdb refuses to run as root: as root, run the tools as the postgres user.
        command = [str(_postgres_bin() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def create(self) -> ThrowawayPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self.start()

    def start(self) -> ThrowawayPostgres:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start")
        return self

    def new_database(self, name: str) -> str:
        """Create database `name` in the cluster; its URL."""
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def require_password(self, role: str) -> None:
        """Have TCP logins as `role` checked against its password (the cluster trusts everyone else)."""
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._run("pg_ctl", "-D", str(self.data), "reload")


def _postgres_bin() -> Path:
    """Debian keeps initdb and pg_ctl off the PATH, in /usr/lib/postgresql/VERSION/bin."""
    if found := shutil.which("initdb"):
        return Path(found).parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if not installed:
        pytest.fail("initdb not found: apt-get install postgresql")
    return installed[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    if os.environ.get("PLATBOT_PG_TEST") != "1":
        pytest.skip("set PLATBOT_PG_TEST=1 to let the test start and stop a PostgreSQL cluster of its own")
    # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="platbot-pg-"))
    cluster = ThrowawayPostgres(folder).create()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
