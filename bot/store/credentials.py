"""PostgreSQL credentials kept in AWS Secrets Manager, read when a connection is opened.

    PLATBOT_DATABASE_SECRET_ARN   a secret holding {"username": ..., "password": ...}: the shape
                                  Amazon RDS keeps a managed master password in

RDS rotates a managed password (every 7 days unless changed), so a value read once at start, or
injected into the task's environment, stops working within the week. Here the secret is read
when the pool opens a connection, kept for a few minutes, and read again at once when a login
fails with what was kept: a rotation costs one retried connection, not a restart. Needs boto3
(the `aws` extra); the task role needs secretsmanager:GetSecretValue on the secret.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, event

from bot.errors import SettingsError
from bot.store.db import StoreError

SECRET_ARN_SETTING = "PLATBOT_DATABASE_SECRET_ARN"
# Long enough that a busy pool does not ask Secrets Manager per connection, short enough that a
# rotation is picked up without waiting for a failed login.
MAX_AGE_S = 300.0


class SecretsClient(Protocol):
    """The one call made with boto3's "secretsmanager" client."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def __repr__(self) -> str:  # never the password, in a traceback or a log line
        return f"Login(user={self.user!r}, password=***)"


class SecretLogin:
    """The login in one Secrets Manager secret, cached for `max_age` seconds."""

    def __init__(
        self,
        arn: str,
        client: SecretsClient | None = None,
        *,
        max_age: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.arn = arn
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._login: Login | None = None
        self._read_at = 0.0

    def current(self) -> Login:
        with self._lock:
            if self._login is None or self._clock() - self._read_at > self._max_age:
                self._login, self._read_at = self._read(), self._clock()
            return self._login

    def refresh(self) -> Login:
        """Read the secret again now (after a failed login)."""
        with self._lock:
            self._login, self._read_at = self._read(), self._clock()
            return self._login

    def _read(self) -> Login:
        try:
            client = self._client or _boto3_client()
            text = client.get_secret_value(SecretId=self.arn).get("SecretString") or ""
        except StoreError:
            raise
        except Exception as error:  # botocore's errors: no credentials, access denied, no route
            code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
            raise StoreError(f"{SECRET_ARN_SETTING}: Secrets Manager refused GetSecretValue ({code})") from None
        try:
            value = json.loads(text)
            return Login(user=str(value["username"]), password=str(value["password"]))
        except (ValueError, TypeError, KeyError):
            raise StoreError(
                f'{SECRET_ARN_SETTING}: the secret is not JSON with "username" and "password", as RDS keeps it'
            ) from None


def _boto3_client() -> SecretsClient:
    try:
        import boto3
    except ImportError:
        raise StoreError(f"{SECRET_ARN_SETTING} needs boto3: pip install 'platbot[aws]'") from None
    return boto3.client("secretsmanager")


def secret_login(env: Mapping[str, str], client: SecretsClient | None = None) -> SecretLogin | None:
    arn = env.get(SECRET_ARN_SETTING, "").strip()
    if not arn:
        return None
    if not arn.startswith("arn:"):
        raise SettingsError(f"{SECRET_ARN_SETTING} must be a secret's ARN (arn:aws:secretsmanager:...)")
    return SecretLogin(arn, client)


def log_in_with(engine: Engine, login: SecretLogin) -> Engine:
    """Have `engine` open each connection with the login from the secret, reading the secret
    again, and retrying once, when a connection fails with the login it had."""

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        kept = login.current()
        cparams.update(user=kept.user, password=kept.password)
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError:
            fresh = login.refresh()
            if fresh == kept:  # not a rotation: the server is down or refuses for another reason
                raise
            cparams.update(user=fresh.user, password=fresh.password)
            return dialect.connect(*cargs, **cparams)

    return engine
