"""AWS Lambda entry point (`bot.slack.aws_lambda.handler`): Function URL or API Gateway events.

Bolt's Lambda adapter with `process_before_response=True`: Lambda may freeze the process once
the response is returned, so nothing may run after it. Every listener acks at once and does
its work in a lazy listener, which bolt starts as a second, asynchronous invocation of this
same function (`lambda:InvokeFunction` on itself), so Slack gets its ack within 3 seconds
however long the work takes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_sdk import WebClient

from bot.config import Settings
from bot.kb.layers import Layers
from bot.slack.app import build_app, load_engine
from bot.slack.redact import configure_logging

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


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
    # Built once per execution environment and kept while it stays warm.
    settings = Settings.from_env(os.environ, mode="http")
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings.secrets())
    return build_handler(settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler_from_environment()(event, context)


if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    # On Lambda, build during the init phase: the first event then acks as fast as the rest.
    _handler_from_environment()
