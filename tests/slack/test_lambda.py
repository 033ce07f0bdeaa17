"""The AWS Lambda handler with Function URL / API Gateway v2 events, ack and lazy phases.

On Lambda, bolt acks in the first invocation and starts each lazy listener by invoking the
function again, asynchronously, with the same request. `FakeLambda` records that invoke
instead of calling AWS; the tests then play the second invocation themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.config import Settings
from bot.slack.aws_lambda import build_handler
from tests.slack.fakes import (
    FakeSlack,
    command_body,
    event_body,
    mention,
    signed_headers,
)

FUNCTION_ARN = "arn:aws:lambda:ap-northeast-1:123456789012:function:platbot"


@dataclass
class FakeLambda:
    """Stands in for boto3's "lambda" client (hence its argument names): records `invoke` calls."""

    invocations: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        self.invocations.append({"FunctionName": FunctionName, "InvocationType": InvocationType, "Payload": Payload})
        return {"StatusCode": 202}


@dataclass(frozen=True)
class Context:
    function_name: str = "platbot"
    invoked_function_arn: str = FUNCTION_ARN


def function_url_event(body: str, content_type: str, encode: bool = False, **signing: Any) -> dict[str, Any]:
    """An HTTP request as a Lambda Function URL (payload format 2.0, like API Gateway v2) delivers it."""
    headers = {k.lower(): v for k, v in signed_headers(body, content_type, **signing).items()}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/slack/events",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/slack/events", "sourceIp": "192.0.2.1"}},
        "body": base64.b64encode(body.encode()).decode() if encode else body,
        "isBase64Encoded": encode,
    }


@pytest.fixture
def aws() -> FakeLambda:
    return FakeLambda()


@pytest.fixture
def handler(settings: Settings, fake_slack: FakeSlack, aws: FakeLambda) -> Callable[..., dict[str, Any]]:
    built = build_handler(settings, lambda_client=aws)
    fake_slack.reset()  # forget the auth.test made while building
    return built


def test_a_slash_command_is_acked_at_once_and_answered_by_the_lazy_invocation(
    handler: Callable[..., dict[str, Any]], aws: FakeLambda, fake_slack: FakeSlack
) -> None:
    body = command_body("how do I schedule jobs on ECS?", fake_slack.response_url("lambda-cmd"))

    ack = handler(function_url_event(body, "application/x-www-form-urlencoded"), Context())

    assert ack["statusCode"] == 200
    assert fake_slack.calls() == []  # the first invocation only acks...
    [invoke] = aws.invocations  # ...and starts the work as an asynchronous invocation of itself
    assert invoke["FunctionName"] == FUNCTION_ARN
    assert invoke["InvocationType"] == "Event"

    handler(json.loads(invoke["Payload"]), Context())  # what AWS does with that invocation

    [answer] = fake_slack.wait_for("lambda-cmd", timeout=1)
    assert answer.body["response_type"] == "ephemeral"
    assert "ecs-scheduled-tasks" in answer.text_everywhere()


def test_a_mention_in_a_base64_body_is_answered_in_its_thread(
    handler: Callable[..., dict[str, Any]], aws: FakeLambda, fake_slack: FakeSlack
) -> None:
    body = event_body(mention("ECSでバッチを定期実行したい", ts="1700000300.000100"), "EvLAMBDA1")

    ack = handler(function_url_event(body, "application/json", encode=True), Context())
    assert ack["statusCode"] == 200
    [invoke] = aws.invocations
    # The lazy invocation repeats the event's id; the retry dedupe must let it through.
    handler(json.loads(invoke["Payload"]), Context())

    [answer] = fake_slack.wait_for("chat.postMessage", timeout=1)
    assert answer.body["thread_ts"] == "1700000300.000100"


def test_a_retry_of_a_handled_event_starts_no_second_invocation(
    handler: Callable[..., dict[str, Any]], aws: FakeLambda
) -> None:
    body = event_body(mention("how do I schedule jobs on ECS?"), "EvLAMBDA2")
    handler(function_url_event(body, "application/json"), Context())

    retry = function_url_event(body, "application/json")
    retry["headers"]["x-slack-retry-num"] = "1"
    assert handler(retry, Context())["statusCode"] == 200

    assert len(aws.invocations) == 1


def test_a_bad_signature_gets_401_and_invokes_nothing(
    handler: Callable[..., dict[str, Any]], aws: FakeLambda, fake_slack: FakeSlack
) -> None:
    body = command_body("how do I schedule jobs on ECS?", fake_slack.response_url("lambda-forged"))
    event = function_url_event(body, "application/x-www-form-urlencoded", secret="wrong-secret")

    assert handler(event, Context())["statusCode"] == 401
    assert aws.invocations == []
    assert fake_slack.calls() == []
