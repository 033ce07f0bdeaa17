"""The AWS Lambda handler with Function URL / API Gateway v2 events, ack and lazy phases, and
the weekly digest on a schedule.

On Lambda, bolt acks in the first invocation and starts each lazy listener by invoking the
function again, asynchronously, with the same request. `FakeLambda` records that invoke
instead of calling AWS; the tests then play the second invocation themselves.

The Slack secrets, and the curator store's URL and user hash key, come from Secrets Manager by
ARN: `FakeSecretsManager` answers for it, as boto3's client would, values and errors alike. The
store is a real database: SQLite, and PostgreSQL when PLATBOT_TEST_POSTGRES_URL names a server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import Row, text

from bot.config import Settings
from bot.errors import SettingsError
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.aws_lambda import (
    FLUSH_S,
    FunctionHandler,
    build_handler,
    environment_with_secrets,
    secrets_from_arns,
    settings_from_environment,
    store_secrets,
    store_settings,
)
from bot.store import Recorder, make_engine, upgrade, user_hash
from tests.deploy.test_templates import DEPLOY, parse
from tests.slack.conftest import REPO
from tests.slack.fakes import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    command_body,
    event_body,
    mention,
    signed_headers,
)
from tests.slack.test_faults import SCHEDULE_EN, SCHEDULE_TOPIC, new_id
from tests.store.conftest import BACKENDS, KEY, empty_database

FUNCTION_ARN = "arn:aws:lambda:ap-northeast-1:123456789012:function:platbot"
BOT_TOKEN_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/slack-bot-token-Ab12Cd"
SIGNING_SECRET_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/slack-signing-secret-Ef34Gh"
DATABASE_URL_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/database-url-Ij56Kl"
HASH_KEY_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platbot/user-hash-key-Mn78Op"
CURATORS = "CCURATORS"
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


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

    [answer] = fake_slack.wait_for("lambda-cmd", timeout=10)
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

    [answer] = fake_slack.wait_for("chat.postMessage", timeout=10)
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
    [answer] = fake_slack.wait_for("lambda-arn", timeout=10)
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
    fake_slack.wait_for("lambda-quiet", timeout=10)

    assert caplog.records  # bolt and slack_sdk did log, at DEBUG...
    assert BOT_TOKEN not in caplog.text  # ...but neither value
    assert SIGNING_SECRET not in caplog.text


# --- the curator store: questions recorded before each invocation returns -------------------------


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, which the handler migrates while it is built (Lambda's init phase)."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store_env(arn_env: dict[str, str], secretsmanager: FakeSecretsManager, database: str) -> Mapping[str, str]:
    """The function's environment as deploy/lambda.yaml sets it with a store, read as at init:
    the database URL and the user hash key by ARN like the Slack secrets, and a curator channel."""
    secretsmanager.values |= {DATABASE_URL_ARN: database, HASH_KEY_ARN: KEY}
    env = {
        **arn_env,
        "PLATBOT_DATABASE_URL_SECRET_ARN": DATABASE_URL_ARN,
        "PLATBOT_USER_HASH_KEY_SECRET_ARN": HASH_KEY_ARN,
        "PLATBOT_CURATOR_CHANNEL": CURATORS,
    }
    return environment_with_secrets(env, secretsmanager)


@pytest.fixture
def lambda_function(store_env: Mapping[str, str]) -> Iterator[Callable[[FakeLambda], FunctionHandler]]:
    """lambda_function(aws) -> a handler as Lambda's init phase builds it from `store_env`: one
    execution environment. Each is closed after the test, before its database is dropped."""
    built: list[FunctionHandler] = []

    def build(aws: FakeLambda) -> FunctionHandler:
        built.append(build_handler(settings_from_environment(store_env), env=store_env, lambda_client=aws))
        return built[-1]

    yield build
    for handler in built:
        handler.close()


def ask(handler: Callable[..., dict[str, Any]], aws: FakeLambda, body: str, content_type: str) -> float:
    """Slack's request, then the lazy invocation it starts, as AWS runs both; the seconds the
    lazy one took (it answers, records, and writes the records before it returns)."""
    assert handler(function_url_event(body, content_type), Context())["statusCode"] == 200
    started = time.monotonic()
    handler(json.loads(aws.invocations[-1]["Payload"]), Context())
    return time.monotonic() - started


def stored(url: str, query: str) -> list[Row[Any]]:
    """What the database holds now, read at once: no waiting for a writer thread."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query)))
    finally:
        engine.dispose()


def test_a_question_is_in_the_store_when_the_invocation_that_answered_it_returns(
    lambda_function: Callable[[FakeLambda], FunctionHandler],
    secretsmanager: FakeSecretsManager,
    database: str,
    aws: FakeLambda,
    fake_slack: FakeSlack,
) -> None:
    handler = lambda_function(aws)
    user = new_id("U")

    ask(handler, aws, command_body(SCHEDULE_EN, fake_slack.response_url("lambda-recorded"), user=user), FORM)

    fake_slack.wait_for("lambda-recorded", timeout=10)
    # Right away: Lambda may freeze the process, writer thread and all, once the handler returns.
    [question] = stored(database, "SELECT surface, topic_id, text, user_hash FROM questions")
    assert (question.surface, question.topic_id, question.text) == ("command", SCHEDULE_TOPIC, SCHEDULE_EN)
    assert question.user_hash == user_hash(KEY, TEAM, user)  # hashed with the key read by ARN
    assert secretsmanager.reads == [BOT_TOKEN_ARN, SIGNING_SECRET_ARN, DATABASE_URL_ARN, HASH_KEY_ARN]


def test_a_retry_delivered_to_another_execution_environment_is_not_answered_again(
    lambda_function: Callable[[FakeLambda], FunctionHandler], database: str, fake_slack: FakeSlack
) -> None:
    first_aws, second_aws = FakeLambda(), FakeLambda()
    first, second = lambda_function(first_aws), lambda_function(second_aws)  # two environments, one database
    channel, event_id = new_id("C"), new_id("Ev")
    body = event_body(mention(SCHEDULE_EN, ts="1700000400.000100", channel=channel), event_id)
    ask(first, first_aws, body, JSON)

    retry = function_url_event(body, JSON)
    retry["headers"] |= {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    assert second(retry, Context())["statusCode"] == 200

    assert second_aws.invocations == []  # no lazy invocation, so nothing that could answer it again
    answers = [c for c in fake_slack.calls("chat.postMessage") if c.body.get("channel") == channel]
    assert len(answers) == 1
    assert [row.event_key for row in stored(database, "SELECT event_key FROM questions")] == [event_id]


def test_a_database_that_is_down_holds_up_no_invocation_and_its_records_wait_for_a_later_one(
    settings: Settings, aws: FakeLambda, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    database = tmp_path / "not-yet" / "platbot.db"  # its folder does not exist: every connection fails
    url = f"sqlite:///{database}"
    env = {"SLACK_API_URL": fake_slack.api_url, "PLATBOT_DATABASE_URL": url, "PLATBOT_USER_HASH_KEY": KEY}
    with contextlib.closing(build_handler(settings, env=env, lambda_client=aws)) as handler:  # answers anyway
        took = ask(handler, aws, command_body(SCHEDULE_EN, fake_slack.response_url("lambda-down")), FORM)

        fake_slack.wait_for("lambda-down", timeout=10)
        assert took < FLUSH_S  # one failed write, not the whole wait allowed for a slow one
        database.parent.mkdir()
        upgrade(url)  # the database is back
        ask(handler, aws, command_body("what should we eat for lunch?", fake_slack.response_url("lambda-up")), FORM)
        assert sorted(row.text for row in stored(url, "SELECT text FROM questions")) == [
            SCHEDULE_EN,  # kept in memory through the outage, written by a later invocation
            "what should we eat for lunch?",
        ]


def test_without_a_database_url_nothing_is_recorded_and_one_line_says_so(
    settings: Settings, aws: FakeLambda, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="platbot.slack.aws_lambda")
    handler = build_handler(settings, env={"SLACK_API_URL": fake_slack.api_url}, lambda_client=aws)

    ask(handler, aws, command_body(SCHEDULE_EN, fake_slack.response_url("lambda-unrecorded")), FORM)

    fake_slack.wait_for("lambda-unrecorded", timeout=10)
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "platbot.slack.aws_lambda"] == [
        (
            "INFO",
            "questions are not recorded: set PLATBOT_DATABASE_URL (or PLATBOT_DATABASE_URL_SECRET_ARN) to keep them",
        )
    ]
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "platbot").exists()  # no SQLite default in a passing /tmp


@pytest.mark.parametrize(
    "named",
    [
        {"PLATBOT_DATABASE_URL": "postgresql://platbot:Pa55word-for-tests@db.internal:5432/platbot"},
        {"DATABASE_URL": "postgres://platbot:Pa55word-for-tests@db.internal:5432/platbot"},
        {"PGHOST": "db.internal", "PGDATABASE": "platbot", "PGPASSWORD": "Pa55word-for-tests"},
    ],
    ids=["PLATBOT_DATABASE_URL", "DATABASE_URL", "PGHOST"],
)
def test_a_database_named_any_way_platbot_reads_one_is_where_the_function_records(named: dict[str, str]) -> None:
    env = {**named, "PLATBOT_USER_HASH_KEY": KEY}

    store = store_settings(env)

    assert store is not None and store.url.startswith("postgresql+psycopg://")
    assert set(store_secrets(env)) == {"Pa55word-for-tests", KEY}  # masked in every log line


# --- the weekly digest: EventBridge Scheduler invokes the same handler ------------------------------

# What the deployed schedule sends: its Target's Input in deploy/lambda.yaml.
SCHEDULED = json.loads(
    parse((DEPLOY / "lambda.yaml").read_text(encoding="utf-8"))["Resources"]["WeeklyDigest"]["Properties"]["Target"][
        "Input"
    ]
)


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "platbot.slack.aws_lambda"]


@pytest.mark.parametrize(("event", "lang"), [(SCHEDULED, "en"), ({**SCHEDULED, "lang": "ja"}, "ja")])
def test_the_schedule_posts_the_week_with_the_questions_asked_through_the_function(
    lambda_function: Callable[[FakeLambda], FunctionHandler],
    aws: FakeLambda,
    fake_slack: FakeSlack,
    engine: tuple[KnowledgeBase, Matcher],
    caplog: pytest.LogCaptureFixture,
    event: dict[str, str],
    lang: str,
) -> None:
    handler = lambda_function(aws)
    ask(handler, aws, command_body(SCHEDULE_EN, fake_slack.response_url("lambda-counted")), FORM)
    fake_slack.reset()
    caplog.set_level(logging.INFO, logger="platbot.slack.aws_lambda")

    outcome = handler(event, Context())

    assert outcome == {"ok": True, "message": f"posted the digest of 1 questions to {CURATORS}"}
    [posted] = fake_slack.calls("chat.postMessage")
    assert posted.body["channel"] == CURATORS
    kb, _ = engine
    assert posted.blocks()[0]["text"]["text"] == kb.message("stats_title", lang)  # type: ignore[arg-type]
    assert logged(caplog) == [("INFO", outcome["message"])]


def test_a_refused_digest_is_one_line_and_ok_false_never_an_exception(
    lambda_function: Callable[[FakeLambda], FunctionHandler],
    aws: FakeLambda,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = lambda_function(aws)
    fake_slack.script(CURATORS, error="not_in_channel")
    caplog.set_level(logging.INFO, logger="platbot.slack.aws_lambda")

    outcome = handler(SCHEDULED, Context())

    reason = f"Slack refused the digest for {CURATORS} (not_in_channel): invite platbot to that channel"
    assert outcome == {"ok": False, "error": reason}
    assert logged(caplog) == [("ERROR", reason)]


@pytest.mark.parametrize(
    ("unset", "event", "reason"),
    [
        (
            "PLATBOT_DATABASE_URL",
            SCHEDULED,
            "the digest reads the curator store: set PLATBOT_DATABASE_URL (or PLATBOT_DATABASE_URL_SECRET_ARN)",
        ),
        (
            "PLATBOT_CURATOR_CHANNEL",
            SCHEDULED,
            "digest not posted: PLATBOT_CURATOR_CHANNEL is not set: give the id of the channel the digest goes to",
        ),
        (None, {**SCHEDULED, "lang": "fr"}, "the digest's lang must be one of en, ja, not 'fr'"),
        (None, {"platbot": "report"}, """unknown task 'report': a scheduled event asks for {"platbot": "digest"}"""),
    ],
)
def test_a_digest_that_cannot_be_posted_says_why_in_one_line(
    settings: Settings,
    aws: FakeLambda,
    fake_slack: FakeSlack,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    unset: str | None,
    event: dict[str, str],
    reason: str,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PLATBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'platbot.db'}",
        "PLATBOT_CURATOR_CHANNEL": CURATORS,
    }
    env.pop(unset or "", None)
    with contextlib.closing(build_handler(settings, env=env, lambda_client=aws)) as handler:
        fake_slack.reset()
        caplog.set_level(logging.WARNING, logger="platbot.slack.aws_lambda")

        assert handler(event, Context()) == {"ok": False, "error": reason}
    assert logged(caplog) == [("ERROR", reason)]
    assert fake_slack.calls("chat.postMessage") == []


def test_the_digest_also_deletes_records_past_the_retention(
    lambda_function: Callable[[FakeLambda], FunctionHandler], database: str, aws: FakeLambda
) -> None:
    # Lambda has no timer between invocations: the weekly schedule is its only clock.
    upgrade(database)
    store = make_engine(database)
    recorder = Recorder(store, user_hash_key=KEY)
    for days_ago in (91, 1):
        recorder.record_question(
            surface="command", workspace_id=TEAM, user_id="U1", lang="en", text=f"{days_ago} days ago",
            outcome="declined", latency_ms=1.0, asked_at=datetime.now(UTC) - timedelta(days=days_ago),
        )  # fmt: skip
    recorder.close()
    store.dispose()

    assert lambda_function(aws)(SCHEDULED, Context())["ok"] is True

    assert [row.text for row in stored(database, "SELECT text FROM questions")] == ["1 days ago"]


def test_any_other_event_goes_to_slack_as_before(handler: Callable[..., dict[str, Any]], fake_slack: FakeSlack) -> None:
    # EventBridge's own scheduled event, with no "platbot" key: bolt finds no HTTP request in it.
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

    assert handler(event, Context())["statusCode"] == 404
    assert fake_slack.calls() == []


# --- on Lambda: the handler is built at import, in the init phase ----------------------------------

# Run in a process of its own, as Lambda runs the module: imported with AWS_LAMBDA_FUNCTION_NAME
# set, it builds the handler at once. boto3.client hands out the fake instead of a real client.
_LAMBDA_SCRIPT = """
import json, os, sys
import boto3
from tests.slack.fakes import BOT_TOKEN, SIGNING_SECRET
from tests.slack.test_lambda import (  # imports bot.slack.aws_lambda off Lambda: nothing built yet
    BOT_TOKEN_ARN, DATABASE_URL_ARN, HASH_KEY_ARN, KEY, SIGNING_SECRET_ARN, Context, FakeSecretsManager,
    function_url_event,
)

errors = {BOT_TOKEN_ARN: sys.argv[1]} if len(sys.argv) > 1 else {}
values = {BOT_TOKEN_ARN: BOT_TOKEN, SIGNING_SECRET_ARN: SIGNING_SECRET}
if "STORE_URL" in os.environ:  # the store's URL and user hash key, in Secrets Manager too
    values |= {DATABASE_URL_ARN: os.environ.pop("STORE_URL"), HASH_KEY_ARN: KEY}
secrets = FakeSecretsManager(values, errors)
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
    fake_slack: FakeSlack, tmp_path: Path, *args: str, store_url: str | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """The script above with the function's environment (ARNs only); its output and what it saw.
    With `store_url`, the environment deploy/lambda.yaml sets with DatabaseUrlSecretArn."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PLATBOT_CACHE_DIR": str(tmp_path),
        "SLACK_BOT_TOKEN_SECRET_ARN": BOT_TOKEN_ARN,
        "SLACK_SIGNING_SECRET_SECRET_ARN": SIGNING_SECRET_ARN,
        "SLACK_API_URL": fake_slack.api_url,
    }
    if store_url is not None:
        env |= {
            "PLATBOT_DATABASE_URL_SECRET_ARN": DATABASE_URL_ARN,
            "PLATBOT_USER_HASH_KEY_SECRET_ARN": HASH_KEY_ARN,
            "STORE_URL": store_url,  # what the fake Secrets Manager holds for that ARN
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


def test_on_lambda_the_store_is_read_by_arn_and_migrated_at_init(fake_slack: FakeSlack, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"

    done, seen = run_on_lambda(fake_slack, tmp_path, store_url=url)

    assert done.returncode == 0, done.stderr
    assert seen["reads_at_init"] == [BOT_TOKEN_ARN, SIGNING_SECRET_ARN, DATABASE_URL_ARN, HASH_KEY_ARN]
    assert seen["reads"] == seen["reads_at_init"]  # once each, at init
    assert stored(url, "SELECT version_num FROM alembic_version")  # migrated before the first event
    assert "questions are not recorded" not in done.stderr
    assert KEY not in done.stderr
