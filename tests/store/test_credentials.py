"""The store's PostgreSQL login read from a Secrets Manager secret, as RDS keeps a managed password."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.errors import SettingsError
from bot.store.credentials import Login, SecretLogin, log_in_with, secret_login
from bot.store.db import StoreError, make_engine
from bot.store.settings import StoreSettings
from tests.store.conftest import ThrowawayPostgres

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b2c-AbCdEf"


class FakeSecrets:
    """boto3's secretsmanager client, for one secret whose value the test rotates."""

    def __init__(self, username: str, password: str) -> None:
        self.value = json.dumps({"username": username, "password": password})
        self.reads = 0

    def rotate(self, password: str) -> None:
        self.value = json.dumps({**json.loads(self.value), "password": password})

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        assert SecretId == ARN
        self.reads += 1
        return {"ARN": ARN, "SecretString": self.value}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Refused:
    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]:
        error = Exception("An error occurred (AccessDeniedException) when calling GetSecretValue")
        error.response = {"Error": {"Code": "AccessDeniedException"}}  # type: ignore[attr-defined]
        raise error


def test_the_login_is_kept_for_a_while_then_read_again() -> None:
    secrets, clock = FakeSecrets("platbot", "one"), Clock()
    login = SecretLogin(ARN, secrets, max_age=300, clock=clock)

    assert login.current() == Login("platbot", "one")
    clock.now += 299
    secrets.rotate("two")
    assert login.current().password == "one"
    clock.now += 2
    assert login.current().password == "two"
    assert secrets.reads == 2


def test_the_password_never_shows_in_a_repr() -> None:
    assert "s3cret" not in repr(Login("platbot", "s3cret"))


def test_a_secret_without_username_and_password_is_one_line() -> None:
    secrets = FakeSecrets("platbot", "one")
    secrets.value = "just-a-password"
    with pytest.raises(StoreError, match='not JSON with "username" and "password"'):
        SecretLogin(ARN, secrets).current()


def test_a_refused_read_names_the_setting_and_the_aws_error() -> None:
    with pytest.raises(StoreError, match=r"^PLATBOT_DATABASE_SECRET_ARN: .*\(AccessDeniedException\)$"):
        SecretLogin(ARN, Refused()).current()


def test_the_setting_must_be_an_arn() -> None:
    assert secret_login({}) is None
    with pytest.raises(SettingsError, match="must be a secret's ARN"):
        secret_login({"PLATBOT_DATABASE_SECRET_ARN": "platbot/db"})


def test_store_settings_carry_the_secret_login() -> None:
    env = {
        "PGHOST": "db.internal",
        "PGDATABASE": "platbot",
        "PLATBOT_DATABASE_SECRET_ARN": ARN,
        "PLATBOT_USER_HASH_KEY": "k" * 32,
    }
    settings = StoreSettings.from_env(env)

    assert settings.login is not None and settings.login.arn == ARN
    assert make_url(settings.url).password is None  # the password is never in the URL


def test_a_rotated_password_costs_one_retried_connection(own_postgres: ThrowawayPostgres) -> None:
    admin = make_engine(own_postgres.url)
    with admin.begin() as connection:
        connection.execute(text("CREATE ROLE rotating LOGIN PASSWORD 'one'"))
    own_postgres.require_password("rotating")
    secrets = FakeSecrets("rotating", "one")
    url = make_url(own_postgres.url).set(username=None, password=None)
    engine = log_in_with(make_engine(url), SecretLogin(ARN, secrets))

    def who() -> str:
        with engine.connect() as connection:
            return connection.execute(text("SELECT current_user")).scalar_one()

    assert who() == "rotating"
    # What RDS does at a rotation: the new password, in the database and in the secret.
    with admin.begin() as connection:
        connection.execute(text("ALTER ROLE rotating PASSWORD 'two'"))
    secrets.rotate("two")
    engine.dispose()  # the pooled connection goes; the next one logs in anew

    assert who() == "rotating"
    assert secrets.reads == 2

    # A refusal that re-reading does not cure is raised, after one more read only.
    with admin.begin() as connection:
        connection.execute(text("ALTER ROLE rotating PASSWORD 'three'"))
    engine.dispose()
    with pytest.raises(OperationalError, match="password authentication failed"):
        who()
    assert secrets.reads == 3
    engine.dispose()
    admin.dispose()
