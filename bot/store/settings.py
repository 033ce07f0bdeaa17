"""The store's settings, read from an environment mapping (tests pass a dict, platbot passes os.environ).

    PLATBOT_DATABASE_URL / DATABASE_URL   where the records go (see bot.store.db; or libpq's PG* variables)
    PLATBOT_DATABASE_SECRET_ARN           the login, from Secrets Manager (see bot.store.credentials)
    PLATBOT_USER_HASH_KEY                 the secret that user ids are hashed with (16+ characters)
    PLATBOT_STORE_TEXT                    false: keep no question text, only what it led to
    PLATBOT_RETENTION_DAYS                records older than this are pruned (default 90)

Without PLATBOT_USER_HASH_KEY, a SQLite store keeps a random key of its own in a file beside the
database (zero set-up on one machine). PostgreSQL needs the variable: every host writing to one
database must hash a user the same way, or counts split and `forget` misses records.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from bot.config import Secret
from bot.errors import SettingsError
from bot.store.credentials import SecretLogin, log_in_with, secret_login
from bot.store.db import database_url, make_engine, sqlite_path

DEFAULT_RETENTION_DAYS = 90
MIN_KEY_LENGTH = 16
_NEW_KEY = "generate one with: openssl rand -hex 32"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class StoreSettings:
    url: str
    user_hash_key: Secret
    store_text: bool = True
    retention_days: int = DEFAULT_RETENTION_DAYS
    login: SecretLogin | None = field(default=None, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StoreSettings:
        url = database_url(env)
        return cls(
            url=url,
            user_hash_key=_hash_key(env, url),
            store_text=_flag(env, "PLATBOT_STORE_TEXT", default=True),
            retention_days=_retention_days(env),
            login=secret_login(env),
        )

    def engine(self) -> Engine:
        """A new engine for the store, logging in from the secret when one is set."""
        engine = make_engine(self.url)
        return log_in_with(engine, self.login) if self.login is not None else engine


def engine_from_env(env: Mapping[str, str]) -> Engine:
    """The store's engine, for reading it: what StoreSettings.engine() opens, without the user
    hash key that only writing needs."""
    engine = make_engine(database_url(env))
    login = secret_login(env)
    return log_in_with(engine, login) if login is not None else engine


def _hash_key(env: Mapping[str, str], url: str) -> Secret:
    key = env.get("PLATBOT_USER_HASH_KEY", "").strip()
    if key:
        if len(key) < MIN_KEY_LENGTH:
            raise SettingsError(f"PLATBOT_USER_HASH_KEY is shorter than {MIN_KEY_LENGTH} characters: {_NEW_KEY}")
        return Secret(key)
    database = sqlite_path(url)
    if database is None:
        raise SettingsError(f"PLATBOT_USER_HASH_KEY is not set, and a shared database needs it: {_NEW_KEY}")
    path = database.with_name("user-hash.key")
    try:
        return Secret(_local_key(path))
    except OSError as error:
        raise SettingsError(f"cannot keep the user hash key in {path}: {error.strerror}") from None


def _local_key(path: Path) -> str:
    """The key in `path`, created once; two processes starting together end up with the same key."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(32) + "\n")
    try:
        os.link(draft, path)  # atomic: fails if another process made the key first, and we read theirs
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise SettingsError(f"{name} must be true or false")


def _retention_days(env: Mapping[str, str]) -> int:
    value = env.get("PLATBOT_RETENTION_DAYS", "").strip()
    if not value:
        return DEFAULT_RETENTION_DAYS
    if not value.isdigit() or int(value) < 1:
        raise SettingsError("PLATBOT_RETENTION_DAYS must be a whole number of days, 1 or more")
    return int(value)
