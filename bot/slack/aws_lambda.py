"""AWS Lambda entry point (`bot.slack.aws_lambda.handler`): Function URL or API Gateway events.

Bolt's Lambda adapter with `process_before_response=True`: Lambda may freeze the process once
the response is returned, so nothing may run after it. Every listener acks at once and does
its work in a lazy listener, which bolt starts as a second, asynchronous invocation of this
same function (`lambda:InvokeFunction` on itself), so Slack gets its ack within 3 seconds
however long the work takes.

Secrets stay in Secrets Manager: the function's environment holds their ARNs
(`SLACK_BOT_TOKEN_SECRET_ARN`, `SLACK_SIGNING_SECRET_SECRET_ARN`), and the values are read once
per execution environment, while the handler is built in the init phase, into this process's
memory only (not os.environ). The trade-off: a new value reaches the function when Lambda starts
a new execution environment (after any update to the function, or as it scales out or replaces
an idle one), never within a warm one. The curator store's URL and user hash key may come the
same way (`PLATBOT_DATABASE_URL_SECRET_ARN`, `PLATBOT_USER_HASH_KEY_SECRET_ARN`).

Questions are recorded only when a database URL is set: the SQLite default would sit in /tmp,
which belongs to one execution environment and goes with it. With a store, Slack's retries are
recognised through its `events` table, so two execution environments never answer one event
twice. Lambda freezes the process as soon as an invocation returns, the recorder's writer thread
with it, so each invocation writes what the recorder holds before it returns, waiting at most
`FLUSH_S`; a database that is down costs one failed attempt, and the records wait in memory for
the next invocation.

The same handler runs the weekly digest: an EventBridge Scheduler schedule invokes the function
with `{"platbot": "digest"}` (`"lang": "ja"` for Japanese), and the handler posts the week to
`PLATBOT_CURATOR_CHANNEL` as `platbot digest` does. Any event without a "platbot" key goes to bolt.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections import ChainMap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_sdk import WebClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings
from bot.errors import PlatbotError, SettingsError
from bot.kb.layers import Layers
from bot.kb.model import LANGS, KnowledgeBase
from bot.matcher import Matcher
from bot.slack.app import build_app, load_engine
from bot.slack.dedupe import EventLog, SeenEvents
from bot.slack.digest import EXIT_POSTED, run_digest
from bot.slack.recording import DailyPrune, ProcessRecorder, StoreSeenEvents, open_store
from bot.slack.redact import configure_logging
from bot.slack.redact import install as install_redaction
from bot.store import StoreSettings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Settings that may be given as a Secrets Manager ARN in NAME_SECRET_ARN instead of NAME.
SECRET_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PLATBOT_DATABASE_URL", "PLATBOT_USER_HASH_KEY")
# Seconds an invocation waits, before it returns, for the recorder to write what it holds. Slack
# wants its ack within 3 s; records that miss this wait are written by a later invocation.
FLUSH_S = 2.0
# A scheduled event names its task here ({"platbot": "digest"}); an event without it is Slack's.
TASK_KEY = "platbot"
# What to check for the errors people meet first; any other code is named as it is.
_HINTS = {
    "AccessDeniedException": "the function's role may not read this secret",
    "ResourceNotFoundException": "no such secret in this account and Region, or it has no value yet",
}

log = logging.getLogger("platbot.slack.aws_lambda")


class SecretsManagerClient(Protocol):
    """The one call platbot makes with boto3's "secretsmanager" client."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


def secrets_from_arns(env: Mapping[str, str], client: SecretsManagerClient | None = None) -> dict[str, str]:
    """{NAME: value} for each secret setting given only by NAME_SECRET_ARN, read with `client`
    (boto3's, made on first need, when None). A value set in NAME itself wins: its ARN is not read.

    Raises SettingsError naming the variable and the AWS error code, never a value."""
    values: dict[str, str] = {}
    for name in SECRET_SETTINGS:
        variable = f"{name}_SECRET_ARN"
        arn = env.get(variable, "").strip()
        if not arn or env.get(name, "").strip():
            continue
        try:
            client = client or boto3.client("secretsmanager")
            value = client.get_secret_value(SecretId=arn).get("SecretString")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "UnknownError")
            hint = f": {_HINTS[code]}" if code in _HINTS else ""
            raise SettingsError(f"{variable}: Secrets Manager refused GetSecretValue ({code}){hint}") from None
        except BotoCoreError as exc:  # no credentials, no Region, no route to the endpoint
            raise SettingsError(f"{variable}: could not ask Secrets Manager ({type(exc).__name__})") from None
        if not value or not value.strip():
            raise SettingsError(
                f"{variable}: the secret holds no text; put its value with aws secretsmanager put-secret-value"
            )
        values[name] = value.strip()
    return values


def environment_with_secrets(env: Mapping[str, str], client: SecretsManagerClient | None = None) -> Mapping[str, str]:
    """`env` with the values of the secrets given by ARN on top, in this process's memory only
    (os.environ is left alone). A problem is logged as one line, then raised, so the init phase
    fails with its reason."""
    try:
        return ChainMap(secrets_from_arns(env, client), env)
    except SettingsError as exc:
        log.error("%s", exc)
        raise


def settings_from_environment(env: Mapping[str, str], client: SecretsManagerClient | None = None) -> Settings:
    """The handler's settings: `env`, with the secrets read by ARN on top (and nowhere else).
    A problem is logged as one line, then raised, so the init phase fails with its reason."""
    environment = environment_with_secrets(env, client)
    try:
        return Settings.from_env(environment, mode="http")
    except SettingsError as exc:
        log.error("%s", exc)
        raise


# The ways bot.store.db names a database, in its order; with none of them it falls back to SQLite.
DATABASE_SETTINGS = ("PLATBOT_DATABASE_URL", "DATABASE_URL", "PGHOST")


def store_settings(env: Mapping[str, str]) -> StoreSettings | None:
    """Where the function records questions: the database the environment names (a URL, or
    libpq's PGHOST), or nowhere, with one info line saying so. Not the SQLite default: /tmp, the
    only place Lambda lets a function write, belongs to one execution environment and goes with
    it. A bad store setting is logged as one line, then raised, as the Slack ones are."""
    if not any((env.get(name) or "").strip() for name in DATABASE_SETTINGS):
        log.info(
            "questions are not recorded: set PLATBOT_DATABASE_URL (or PLATBOT_DATABASE_URL_SECRET_ARN) to keep them"
        )
        return None
    try:
        return StoreSettings.from_env(env)
    except SettingsError as exc:
        log.error("%s", exc)
        raise


def store_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """The store's secret values, for log redaction: the database password and the user hash key."""
    url = (env.get("PLATBOT_DATABASE_URL") or env.get("DATABASE_URL") or "").strip()
    try:
        password = make_url(url).password if url else None
    except ArgumentError:  # reported, without the URL, when the store is opened
        password = None
    values = (password, env.get("PGPASSWORD", "").strip(), env.get("PLATBOT_USER_HASH_KEY", "").strip())
    return tuple(str(value) for value in values if value)


class FunctionHandler:
    """The function's handler: a scheduled task when the event names one, anything else to bolt;
    and, before each invocation returns, the recorder's records written (within FLUSH_S)."""

    def __init__(
        self,
        slack: SlackRequestHandler,
        env: Mapping[str, str],
        kb: KnowledgeBase,
        matcher: Matcher,
        store: StoreSettings | None,
        recorder: ProcessRecorder | None,
    ) -> None:
        self.slack = slack
        self.env = env
        self.kb = kb
        self.matcher = matcher
        self.store = store
        self.recorder = recorder

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            if isinstance(event, dict) and TASK_KEY in event:
                return self.run_task(event)
            return self.slack.handle(event, context)
        finally:
            self.write_records()

    def close(self) -> None:
        """Write what the recorder holds, then let go of the database. Lambda never says when an
        execution environment ends; tests, which build several in one process, do."""
        recorder = self.recorder.get() if self.recorder is not None else None
        if self.recorder is not None and recorder is not None:
            self.recorder.close(FLUSH_S)
            recorder.engine.dispose()

    def write_records(self) -> None:
        """Write what the recorder holds before Lambda freezes the process: within FLUSH_S, and
        no longer than one failed attempt when the database is down (the records then wait)."""
        recorder = self.recorder.get() if self.recorder is not None else None
        if recorder is not None:
            recorder.flush(FLUSH_S, stop_at_failure=True)

    def run_task(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """{"platbot": "digest", "lang": "en"|"ja"}: post the week to the curators' channel. The
        outcome is one log line and {"ok": ...}: Slack refusing, a missing setting or a store that
        cannot be read is reported there, never raised."""
        task, lang = event.get(TASK_KEY), event.get("lang", "en")
        if task != "digest":
            return _failed(f'unknown task {str(task)[:40]!r}: a scheduled event asks for {{"{TASK_KEY}": "digest"}}')
        if lang not in LANGS:
            return _failed(f"the digest's lang must be one of {', '.join(LANGS)}, not {str(lang)[:40]!r}")
        if self.store is None:
            return _failed(
                "the digest reads the curator store: set PLATBOT_DATABASE_URL (or PLATBOT_DATABASE_URL_SECRET_ARN)"
            )
        self.write_records()  # what this environment still holds counts in the week too
        DailyPrune(self.store).prune_once()  # the schedule is Lambda's only clock: prune with it
        out, err = io.StringIO(), io.StringIO()
        try:
            status = run_digest(self.env, self.kb, self.matcher, lang=lang, out=out, err=err)
        except PlatbotError as exc:  # a bad setting, a store that cannot be read
            return _failed(f"digest not posted: {exc}")
        if status != EXIT_POSTED:
            return _failed(err.getvalue().strip().removeprefix("platbot: error: "))
        message = out.getvalue().strip()
        log.info("%s", message)
        return {"ok": True, "message": message}


def _failed(reason: str) -> dict[str, Any]:
    log.error("%s", reason)
    return {"ok": False, "error": reason}


def build_handler(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    client: WebClient | None = None,
    lambda_client: Any = None,
    knowledge: Path | Layers | None = None,
) -> FunctionHandler:
    """A Lambda handler for these settings. `env` is the function's environment with the secrets
    read by ARN (default: os.environ): the store, the curator channel and the per-user limit come
    from it. `lambda_client` stands in for boto3's "lambda" client, which bolt otherwise creates
    on the first lazy invocation."""
    env = os.environ if env is None else env
    store = store_settings(env)  # before anything slow: a bad setting stops the init at once
    kb, matcher = load_engine(knowledge)
    recorder = open_store(store) if store is not None else None
    # With a store, the database says which events were answered, across execution environments;
    # without one, each environment remembers its own.
    seen: EventLog = StoreSeenEvents(recorder, SeenEvents()) if recorder is not None else SeenEvents()
    app = build_app(settings, kb, matcher, client, seen=seen, env=env, recorder=recorder)
    slack = SlackRequestHandler(app)
    if lambda_client is not None:
        app.listener_runner.lazy_listener_runner = LambdaLazyListenerRunner(slack.logger, lambda_client)
    return FunctionHandler(slack, env, kb, matcher, store, recorder)


@functools.cache
def _handler_from_environment() -> LambdaHandler:
    # Built once per execution environment, in its init phase, and kept while the environment
    # stays warm: the secrets are read from Secrets Manager once per environment, not per event.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))  # first: a settings problem is logged as set up
    env = environment_with_secrets(os.environ)
    settings = settings_from_environment(env)  # the values are in `env` now: nothing is read twice
    install_redaction((*settings.secrets(), *store_secrets(env)))  # the values are known now: mask them too
    return build_handler(settings, env=env)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler_from_environment()(event, context)


if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    # On Lambda, build during the init phase: the first event then acks as fast as the rest.
    _handler_from_environment()
