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
an idle one), never within a warm one.
"""

from __future__ import annotations

import functools
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

from bot.config import Settings
from bot.errors import SettingsError
from bot.kb.layers import Layers
from bot.slack.app import build_app, load_engine
from bot.slack.redact import configure_logging
from bot.slack.redact import install as install_redaction

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Settings that may be given as a Secrets Manager ARN in NAME_SECRET_ARN instead of NAME.
SECRET_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
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


def settings_from_environment(env: Mapping[str, str], client: SecretsManagerClient | None = None) -> Settings:
    """The handler's settings: `env`, with the secrets read by ARN on top (and nowhere else).
    A problem is logged as one line, then raised, so the init phase fails with its reason."""
    try:
        return Settings.from_env(ChainMap(secrets_from_arns(env, client), env), mode="http")
    except SettingsError as exc:
        log.error("%s", exc)
        raise


def build_handler(
    settings: Settings,
    *,
    client: WebClient | None = None,
    lambda_client: Any = None,
    knowledge: Path | Layers | None = None,
) -> LambdaHandler:
    """A Lambda handler for these settings. `lambda_client` stands in for boto3's "lambda"
    client, which bolt otherwise creates on the first lazy invocation."""
    kb, matcher = load_engine(knowledge)
    app = build_app(settings, kb, matcher, client)
    slack = SlackRequestHandler(app)
    if lambda_client is not None:
        app.listener_runner.lazy_listener_runner = LambdaLazyListenerRunner(slack.logger, lambda_client)
    return slack.handle


@functools.cache
def _handler_from_environment() -> LambdaHandler:
    # Built once per execution environment, in its init phase, and kept while the environment
    # stays warm: the secrets are read from Secrets Manager once per environment, not per event.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))  # first: a settings problem is logged as set up
    settings = settings_from_environment(os.environ)
    install_redaction(settings.secrets())  # the values are known now: mask them too
    return build_handler(settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler_from_environment()(event, context)


if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    # On Lambda, build during the init phase: the first event then acks as fast as the rest.
    _handler_from_environment()
