"""Store settings from the environment: defaults for one machine, a key required for a shared database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.errors import SettingsError
from bot.store.settings import StoreSettings

KEY = "0123456789abcdef0123"


def test_defaults_keep_text_for_90_days_in_a_local_sqlite_file(tmp_path: Path) -> None:
    settings = StoreSettings.from_env({"XDG_DATA_HOME": str(tmp_path)})

    assert settings.url == f"sqlite:///{tmp_path}/platbot/platbot.db"
    assert settings.store_text is True
    assert settings.retention_days == 90


def test_without_a_key_a_local_database_makes_one_private_key_and_keeps_it(tmp_path: Path) -> None:
    first = StoreSettings.from_env({"XDG_DATA_HOME": str(tmp_path)})
    again = StoreSettings.from_env({"XDG_DATA_HOME": str(tmp_path)})

    key_file = tmp_path / "platbot" / "user-hash.key"
    assert first.user_hash_key == again.user_hash_key
    assert first.user_hash_key.reveal() == key_file.read_text().strip()
    assert len(first.user_hash_key.reveal()) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in key_file.parent.iterdir() if path.name.startswith(".")] == []


def test_a_shared_database_needs_the_key_from_the_environment() -> None:
    with pytest.raises(SettingsError, match="PLATBOT_USER_HASH_KEY is not set") as raised:
        StoreSettings.from_env({"DATABASE_URL": "postgres://app:hunter2@db/platbot"})

    assert "hunter2" not in str(raised.value)
    settings = StoreSettings.from_env({"DATABASE_URL": "postgres://app@db/platbot", "PLATBOT_USER_HASH_KEY": KEY})
    assert settings.user_hash_key.reveal() == KEY
    assert KEY not in repr(settings)


def test_a_short_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="shorter than 16") as raised:
        StoreSettings.from_env({"XDG_DATA_HOME": str(tmp_path), "PLATBOT_USER_HASH_KEY": "tiny"})

    assert "tiny" not in str(raised.value)


def test_text_storage_and_retention_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path), "PLATBOT_STORE_TEXT": "false", "PLATBOT_RETENTION_DAYS": "30"}

    settings = StoreSettings.from_env(env)

    assert (settings.store_text, settings.retention_days) == (False, 30)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PLATBOT_STORE_TEXT", "maybe"), ("PLATBOT_RETENTION_DAYS", "0"), ("PLATBOT_RETENTION_DAYS", "90d")],
)
def test_a_malformed_setting_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        StoreSettings.from_env({"XDG_DATA_HOME": str(tmp_path), name: value})
