"""Where the store lives and how its engine is set up; errors are one line with no password."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.errors import PlatbotError, SettingsError
from bot.store.db import StoreError, database_url, make_engine, mask
from bot.store.migrate import upgrade


def test_platbot_database_url_wins_over_database_url() -> None:
    env = {"PLATBOT_DATABASE_URL": "sqlite:////srv/platbot.db", "DATABASE_URL": "postgres://u:p@db/app"}

    assert database_url(env) == "sqlite:////srv/platbot.db"


@pytest.mark.parametrize(
    "given",
    ["postgres://app:pw@db.internal:5432/platbot", "postgresql://app:pw@db.internal:5432/platbot"],
)
def test_a_paas_database_url_is_read_with_psycopg(given: str) -> None:
    assert database_url({"DATABASE_URL": given}) == "postgresql+psycopg://app:pw@db.internal:5432/platbot"


def test_an_explicit_driver_is_kept() -> None:
    url = "postgresql+psycopg://app@db/platbot"

    assert database_url({"PLATBOT_DATABASE_URL": url}) == url


def test_libpq_variables_name_postgresql_when_no_url_is_set() -> None:
    env = {
        "PGHOST": "db.internal",
        "PGPORT": "6432",
        "PGDATABASE": "platbot",
        "PGUSER": "bot",
        "PGPASSWORD": "p@ss/word",
        "PGSSLMODE": "require",
    }

    url = make_url(database_url(env))

    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db.internal", 6432, "platbot", "bot")
    assert url.password == "p@ss/word"  # escaped in the URL, intact once read back
    assert url.query == {"sslmode": "require"}


def test_a_url_wins_over_libpq_variables() -> None:
    env = {"PLATBOT_DATABASE_URL": "postgresql://a@x/db", "PGHOST": "y"}
    assert database_url(env) == "postgresql+psycopg://a@x/db"


def test_a_malformed_pgport_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"^PGPORT must be a port number$"):
        database_url({"PGHOST": "db.internal", "PGPORT": "54 32"})


def test_the_default_is_a_sqlite_file_under_xdg_data_home(tmp_path: Path) -> None:
    url = database_url({"XDG_DATA_HOME": str(tmp_path / "data")})

    assert url == f"sqlite:///{tmp_path}/data/platbot/platbot.db"
    assert (tmp_path / "data" / "platbot").is_dir()


def test_without_xdg_data_home_the_file_goes_under_local_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert database_url({}) == f"sqlite:///{tmp_path}/.local/share/platbot/platbot.db"


def test_sqlite_connections_use_wal_wait_for_locks_and_enforce_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'platbot.db'}")
    with engine.connect() as connection:
        pragmas = ("journal_mode", "busy_timeout", "foreign_keys")
        settings = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in pragmas}
    engine.dispose()

    assert settings == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}


def test_mask_hides_the_password() -> None:
    assert mask("postgresql+psycopg://app:hunter2@db:5432/platbot") == "postgresql+psycopg://app:***@db:5432/platbot"


def test_an_unsupported_database_is_refused_by_name_without_its_password() -> None:
    with pytest.raises(StoreError) as raised:
        make_engine("mysql://app:hunter2@db/platbot")

    assert (
        str(raised.value) == "unsupported database mysql://app:***@db/platbot: use sqlite:///PATH or postgresql://..."
    )
    assert isinstance(raised.value, PlatbotError)


def test_a_malformed_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(StoreError, match="malformed") as raised:
        make_engine("not a url :hunter2")

    assert "hunter2" not in str(raised.value)


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    # Nothing listens on port 1 of the loopback interface: the connection is refused at once.
    with pytest.raises(StoreError) as raised:
        upgrade("postgresql://app:hunter2@127.0.0.1:1/platbot")

    message = str(raised.value)
    assert message.startswith("cannot migrate postgresql+psycopg://app:***@127.0.0.1:1/platbot: ")
    assert "hunter2" not in message
    assert "\n" not in message
