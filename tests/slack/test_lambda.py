"""The AWS Lambda handler with Function URL / API Gateway v2 events, ack and lazy phases.

On Lambda, bolt acks in the first invocation and starts each lazy listener by invoking the
function again, asynchronously, with the same request. `FakeLambda` records that invoke
instead of calling AWS; the tests then play the second invocation themselves.

The Slack secrets come from Secrets Manager by ARN: `FakeSecretsManager` answers for it, as
boto3's client would, values and errors alike.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bot.config import Settings
from bot.errors import SettingsError
from bot.slack.aws_lambda import build_handler, secrets_from_arns, settings_from_environment
from tests.slack.conftest import REPO
from tests.slack.fakes import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    command_body,
    event_body,
    mention,
    signed_headers,
)

FUNCTION_ARN = "arn:aws:lambda:ap-northeast-1:123456789012:function:platbot"
BOT_TOKEN_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/slack-bot-token-Ab12Cd"
SIGNING_SECRET_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/slack-signing-secret-Ef34Gh"


@dataclass
class FakeLambda:
    """Stands in for boto3's "lambda" client (hence its argument names): records `invoke` calls."""

    invocations: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        self.invocations.append({"FunctionName": FunctionName, "InvocationType": InvocationType, "Payload": Payload})
        return {"StatusCode": 202}


@dataclass
class FakeSecretsManager:
    """Stands in for boto3's "secretsmanager" client: `get_secret_value` answers from `values`
    by ARN, or raises the ClientError boto3 would for an ARN in `errors` (ARN -> error code)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        self.reads.append(SecretId)
        if SecretId in self.errors:
            code = self.errors[SecretId]
            message = f"User: arn:aws:sts::123456789012:assumed-role/platbot/platbot is refused {SecretId}"
            raise ClientError({"Error": {"Code": code, "Message": message}}, "GetSecretValue")
        if SecretId not in self.values:
            error = {"Code": "ResourceNotFoundException", "Message": "Secrets Manager can't find the specified secret."}
            raise ClientError({"Error": error}, "GetSecretValue")
        return {"ARN": SecretId, "SecretString": self.values[SecretId], "VersionStages": ["AWSCURRENT"]}


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
def secretsmanager() -> FakeSecretsManager:
    # Stored with a trailing newline, as `put-secret-value --secret-string "$(cat file)"` may leave one.
    return FakeSecretsManager({BOT_TOKEN_ARN: BOT_TOKEN + "\n", SIGNING_SECRET_ARN: f" {SIGNING_SECRET}\n"})


@pytest.fixture
def arn_env(fake_slack: FakeSlack) -> dict[str, str]:
    """The function's environment as deploy/lambda.yaml sets it: ARNs, no secret values."""
    return {
        "SLACK_BOT_TOKEN_SECRET_ARN": BOT_TOKEN_ARN,
        "SLACK_SIGNING_SECRET_SECRET_ARN": SIGNING_SECRET_ARN,
        "SLACK_API_URL": fake_slack.api_url,
    }


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


# --- the Slack secrets, read from Secrets Manager by ARN ------------------------------------------


def test_secrets_given_by_arn_are_read_and_a_signed_command_verifies_with_them(
    arn_env: dict[str, str], secretsmanager: FakeSecretsManager, aws: FakeLambda, fake_slack: FakeSlack
) -> None:
    settings = settings_from_environment(arn_env, secretsmanager)
    assert secretsmanager.reads == [BOT_TOKEN_ARN, SIGNING_SECRET_ARN]  # once each
    fake_slack.reset()
    handler = build_handler(settings, lambda_client=aws)

    [auth] = fake_slack.calls("auth.test")
    assert auth.headers["Authorization"] == f"Bearer {BOT_TOKEN}"  # the value read, whitespace stripped
    body = command_body("how do I schedule jobs on ECS?", fake_slack.response_url("lambda-arn"))
    assert handler(function_url_event(body, "application/x-www-form-urlencoded"), Context())["statusCode"] == 200
    [invoke] = aws.invocations
    handler(json.loads(invoke["Payload"]), Context())
    [answer] = fake_slack.wait_for("lambda-arn", timeout=1)
    assert "ecs-scheduled-tasks" in answer.text_everywhere()


def test_a_value_set_in_the_environment_wins_over_its_arn(
    arn_env: dict[str, str], secretsmanager: FakeSecretsManager
) -> None:
    plain = "xoxb-1111-2222-setinthefunctionitself"

    assert secrets_from_arns({**arn_env, "SLACK_BOT_TOKEN": plain}, secretsmanager) == {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET
    }
    assert secretsmanager.reads == [SIGNING_SECRET_ARN]  # the bot token's secret is not even read
    settings = settings_from_environment({**arn_env, "SLACK_BOT_TOKEN": plain}, secretsmanager)
    assert settings.bot_token.reveal() == plain


def test_without_arns_nothing_is_read(secretsmanager: FakeSecretsManager) -> None:
    assert secrets_from_arns({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}, None) == {}
    assert secrets_from_arns({"SLACK_BOT_TOKEN_SECRET_ARN": " "}, secretsmanager) == {}
    assert secretsmanager.reads == []


@pytest.mark.parametrize(
    ("code", "explained"),
    [
        ("AccessDeniedException", ": the function's role may not read this secret"),
        ("ResourceNotFoundException", ": no such secret in this account and Region, or it has no value yet"),
        ("DecryptionFailure", ""),
    ],
)
def test_a_secret_that_cannot_be_read_is_one_line_naming_the_variable_and_the_code(
    arn_env: dict[str, str],
    secretsmanager: FakeSecretsManager,
    caplog: pytest.LogCaptureFixture,
    code: str,
    explained: str,
) -> None:
    secretsmanager.errors[BOT_TOKEN_ARN] = code  # the value is there; the read fails
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SettingsError) as raised:
        settings_from_environment(arn_env, secretsmanager)

    line = f"SLACK_BOT_TOKEN_SECRET_ARN: Secrets Manager refused GetSecretValue ({code}){explained}"
    assert str(raised.value) == line
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("platbot.slack.aws_lambda", "ERROR", line)
    ]
    assert BOT_TOKEN not in caplog.text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no AWS traceback after it


def test_an_empty_or_binary_secret_is_named(arn_env: dict[str, str], secretsmanager: FakeSecretsManager) -> None:
    secretsmanager.values[SIGNING_SECRET_ARN] = " \n"

    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET_SECRET_ARN: the secret holds no text"):
        secrets_from_arns(arn_env, secretsmanager)


def test_values_read_by_arn_are_never_logged_even_when_wrong(
    arn_env: dict[str, str], secretsmanager: FakeSecretsManager, caplog: pytest.LogCaptureFixture
) -> None:
    # The signing secret pasted into the bot token's secret: the check names the setting only.
    secretsmanager.values[BOT_TOKEN_ARN] = SIGNING_SECRET
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SettingsError, match=r"^SLACK_BOT_TOKEN is malformed \(it must start with xoxb-\)"):
        settings_from_environment(arn_env, secretsmanager)

    assert len(caplog.records) == 1
    assert SIGNING_SECRET not in caplog.text


def test_values_read_by_arn_are_never_logged_while_serving(
    arn_env: dict[str, str],
    secretsmanager: FakeSecretsManager,
    aws: FakeLambda,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = build_handler(settings_from_environment(arn_env, secretsmanager), lambda_client=aws)
    body = command_body("how do I schedule jobs on ECS?", fake_slack.response_url("lambda-quiet"))
    handler(function_url_event(body, "application/x-www-form-urlencoded"), Context())
    [invoke] = aws.invocations
    handler(json.loads(invoke["Payload"]), Context())
    fake_slack.wait_for("lambda-quiet", timeout=1)

    assert caplog.records  # bolt and slack_sdk did log, at DEBUG...
    assert BOT_TOKEN not in caplog.text  # ...but neither value
    assert SIGNING_SECRET not in caplog.text


# --- on Lambda: the handler is built at import, in the init phase ----------------------------------

# Run in a process of its own, as Lambda runs the module: imported with AWS_LAMBDA_FUNCTION_NAME
# set, it builds the handler at once. boto3.client hands out the fake instead of a real client.
_LAMBDA_SCRIPT = """
import json, os, sys
import boto3
from tests.slack.fakes import BOT_TOKEN, SIGNING_SECRET
from tests.slack.test_lambda import (  # imports bot.slack.aws_lambda off Lambda: nothing built yet
    BOT_TOKEN_ARN, SIGNING_SECRET_ARN, Context, FakeSecretsManager, function_url_event
)

errors = {BOT_TOKEN_ARN: sys.argv[1]} if len(sys.argv) > 1 else {}
secrets = FakeSecretsManager({BOT_TOKEN_ARN: BOT_TOKEN, SIGNING_SECRET_ARN: SIGNING_SECRET}, errors)
boto3.client = lambda service, **kwargs: secrets if service == "secretsmanager" else None
os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "platbot"
del sys.modules["bot.slack.aws_lambda"]
try:
    import bot.slack.aws_lambda as aws_lambda  # a fresh import, as on Lambda: the init phase
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "reads": secrets.reads}))
    sys.exit(1)
reads_at_init = list(secrets.reads)
challenge = json.dumps({"type": "url_verification", "token": "t", "challenge": "c4ll3ng3"})
statuses = [
    aws_lambda.handler(function_url_event(challenge, "application/json", **signing), Context())["statusCode"]
    for signing in ({}, {}, {"secret": "forged-secret"})
]
print(json.dumps({"reads_at_init": reads_at_init, "reads": secrets.reads, "statuses": statuses}))
"""


def run_on_lambda(
    fake_slack: FakeSlack, tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """The script above with the function's environment (ARNs only); its output and what it saw."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PLATBOT_CACHE_DIR": str(tmp_path),
        "SLACK_BOT_TOKEN_SECRET_ARN": BOT_TOKEN_ARN,
        "SLACK_SIGNING_SECRET_SECRET_ARN": SIGNING_SECRET_ARN,
        "SLACK_API_URL": fake_slack.api_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", _LAMBDA_SCRIPT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    return done, json.loads(done.stdout)


def test_on_lambda_each_secret_is_read_once_at_init_for_every_later_event(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    done, seen = run_on_lambda(fake_slack, tmp_path)

    assert done.returncode == 0, done.stderr
    assert seen["reads_at_init"] == [BOT_TOKEN_ARN, SIGNING_SECRET_ARN]  # read during the init phase...
    assert seen["reads"] == seen["reads_at_init"]  # ...and not again while the environment is warm
    assert seen["statuses"] == [200, 200, 401]  # Slack's signature checks out with the secret read
    assert BOT_TOKEN not in done.stderr and SIGNING_SECRET not in done.stderr


def test_on_lambda_an_unreadable_secret_fails_the_init_with_one_log_line(fake_slack: FakeSlack, tmp_path: Path) -> None:
    done, seen = run_on_lambda(fake_slack, tmp_path, "AccessDeniedException")

    assert done.returncode == 1
    assert seen["error"].startswith("SettingsError: SLACK_BOT_TOKEN_SECRET_ARN: Secrets Manager refused")
    logged = [line for line in done.stderr.splitlines() if "platbot.slack.aws_lambda" in line]
    assert len(logged) == 1
    assert logged[0].endswith(
        " ERROR platbot.slack.aws_lambda: SLACK_BOT_TOKEN_SECRET_ARN: Secrets Manager refused GetSecretValue"
        " (AccessDeniedException): the function's role may not read this secret"
    )
    assert BOT_TOKEN not in done.stderr
