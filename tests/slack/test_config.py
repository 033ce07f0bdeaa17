"""Settings from the environment: what each mode needs, and errors that name the variable only."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import DEFAULT_API_URL, MAX_WORKERS, Secret, Settings, web_concurrency
from bot.errors import SettingsError
from bot.slack import serve
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, REVOKED_TOKEN, SIGNING_SECRET, FakeSlack

HTTP_ENV = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`serve.main` configures the root logger, as a process entry point does; undo it."""
    root = logging.getLogger()
    level, filters = root.level, {h: list(h.filters) for h in root.handlers}
    yield
    root.setLevel(level)
    for handler, kept in filters.items():
        handler.filters[:] = kept


def test_http_mode_defaults() -> None:
    settings = Settings.from_env(HTTP_ENV)

    assert settings.mode == "http"
    assert settings.bot_token.reveal() == BOT_TOKEN
    assert (settings.port, settings.api_url, settings.command) == (3000, DEFAULT_API_URL, "/platform")


def test_an_app_token_means_socket_mode_and_no_signing_secret_is_needed() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})

    assert settings.mode == "socket"


def test_http_mode_can_be_forced_with_an_app_token_set() -> None:
    settings = Settings.from_env({**HTTP_ENV, "SLACK_APP_TOKEN": APP_TOKEN}, mode="http")

    assert settings.mode == "http"


def test_everything_can_be_set() -> None:
    settings = Settings.from_env(
        {**HTTP_ENV, "PORT": "8080", "SLACK_API_URL": "https://slack-gov.com/api", "PLATBOT_COMMAND": "/aws-help"}
    )

    assert (settings.port, settings.api_url, settings.command) == (8080, "https://slack-gov.com/api/", "/aws-help")


@pytest.mark.parametrize(
    ("env", "mode", "variable"),
    [
        ({"SLACK_SIGNING_SECRET": SIGNING_SECRET}, None, "SLACK_BOT_TOKEN"),
        ({**HTTP_ENV, "SLACK_BOT_TOKEN": "xoxp-a-user-token-not-a-bot-token"}, None, "SLACK_BOT_TOKEN"),
        ({**HTTP_ENV, "SLACK_BOT_TOKEN": "  "}, None, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN}, None, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-pasted-the-wrong-token"}, None, "SLACK_APP_TOKEN"),
        (HTTP_ENV, "socket", "SLACK_APP_TOKEN"),
        ({**HTTP_ENV, "PORT": "eighty"}, None, "PORT"),
        ({**HTTP_ENV, "PORT": "70000"}, None, "PORT"),
        ({**HTTP_ENV, "PORT": "²"}, None, "PORT"),  # str.isdigit() says yes, int() says no
        ({**HTTP_ENV, "SLACK_API_URL": "ftp://example.org/api/"}, None, "SLACK_API_URL"),
        ({**HTTP_ENV, "PLATBOT_COMMAND": "Ask Platform"}, None, "PLATBOT_COMMAND"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_never_the_value(
    env: dict[str, str], mode: str | None, variable: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env, mode=mode)  # type: ignore[arg-type]

    message = str(raised.value)
    assert message.startswith(variable)
    assert "\n" not in message
    for value in env.values():
        if len(value.strip()) > 5:
            assert value not in message


def test_where_to_get_a_missing_token_is_in_the_message() -> None:
    with pytest.raises(SettingsError, match="OAuth & Permissions"):
        Settings.from_env({"SLACK_SIGNING_SECRET": SIGNING_SECRET})


def test_secrets_never_print() -> None:
    settings = Settings.from_env({**HTTP_ENV, "SLACK_APP_TOKEN": APP_TOKEN})

    for shown in (repr(settings), str(settings), f"{settings.bot_token}", repr(Secret("s3cr3t-value"))):
        assert BOT_TOKEN not in shown and SIGNING_SECRET not in shown and APP_TOKEN not in shown
        assert "s3cr3t-value" not in shown


def test_serve_with_a_missing_setting_prints_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    code = serve.main([], env={"SLACK_BOT_TOKEN": BOT_TOKEN})

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("platbot: error: SLACK_SIGNING_SECRET")
    assert BOT_TOKEN not in err


def test_serve_with_a_revoked_token_stops_before_serving(
    fake_slack: FakeSlack, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    env = {**HTTP_ENV, "SLACK_BOT_TOKEN": REVOKED_TOKEN, "SLACK_API_URL": fake_slack.api_url}

    code = serve.main(["http"], env=env)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "SLACK_BOT_TOKEN was rejected" in err and "invalid_auth" in err
    assert REVOKED_TOKEN not in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "chatty"),
        ("LOG_FORMAT", "xml"),
        ("WEB_CONCURRENCY", "many"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "5000"),
    ],
)
def test_serve_rejects_bad_process_settings_in_one_line(
    capsys: pytest.CaptureFixture[str], root_logging: None, variable: str, value: str
) -> None:
    code = serve.main(["http"], env={**HTTP_ENV, variable: value})

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"platbot: error: {variable}")


@pytest.mark.parametrize(
    ("value", "workers"), [(None, 2), ("4", 4), (" 3 ", 3), ("", 2), (str(MAX_WORKERS), MAX_WORKERS)]
)
def test_web_concurrency_is_the_number_of_http_workers(value: str | None, workers: int) -> None:
    env = {} if value is None else {"WEB_CONCURRENCY": value}

    assert web_concurrency(env) == workers


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.5", "²", str(MAX_WORKERS + 1)])
def test_a_bad_web_concurrency_is_one_line_naming_it(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^WEB_CONCURRENCY must be a whole number"):
        web_concurrency({"WEB_CONCURRENCY": value})


def test_serve_with_an_api_url_that_answers_html_says_so_and_blames_no_token(
    html_api_url: str, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    code = serve.main(["http"], env={**HTTP_ENV, "SLACK_API_URL": html_api_url})

    err = capsys.readouterr().err
    assert code == 1
    [line] = [line for line in err.splitlines() if line.startswith("platbot: error:")]
    host = html_api_url.split("/")[2]  # 127.0.0.1:PORT
    assert f"the Slack Web API at {host} answered auth.test with something unexpected" in line
    assert "text/html" in line and "check SLACK_API_URL" in line
    assert "reinstall" not in line and "SLACK_BOT_TOKEN" not in line
    assert BOT_TOKEN not in err and "<html>" not in line


def run_serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`platbot serve http` as its own process, as a platform starts it: gunicorn reads the
    real environment, which an in-process `serve.main(env=...)` would not show."""
    process_env = {
        "PATH": os.environ.get("PATH", ""),
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],  # a test's own (tests/conftest.py), not the user's
        **HTTP_ENV,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        **env,
    }
    argv = [sys.executable, "-m", "bot.slack.serve", "http", *args]
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(argv, cwd=repo, env=process_env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        ((), {"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY"),
        (("--workers", "2"), {"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY"),
        (("--bind", "127.0.0.1:http"), {}, "--bind"),
        # An empty WEB_CONCURRENCY counts as unset: gunicorn is imported without a traceback
        # and start-up goes on to the next check, the bind address.
        (("--bind", "nowhere"), {"WEB_CONCURRENCY": ""}, "--bind"),
    ],
    ids=["web-concurrency-abc", "web-concurrency-abc-with-workers", "bind-port", "empty-web-concurrency"],
)
def test_a_bad_server_setting_stops_start_up_in_one_line_without_a_gunicorn_traceback(
    args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    result = run_serve(*args, **env)

    assert result.returncode == 2
    assert result.stderr.startswith(f"platbot: error: {named}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [("--threads", "0"), ("--threads", "100000"), ("--workers", "two")])
def test_bad_thread_and_worker_options_are_usage_errors(args: tuple[str, ...]) -> None:
    result = run_serve(*args)

    assert result.returncode == 2
    assert f"argument {args[0]}: must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["#platform", "platform-team", "C12", "U0123ABCD"])
def test_the_escalation_channel_must_be_a_channel_id(value: str) -> None:
    with pytest.raises(SettingsError, match="PLATBOT_ESCALATION_CHANNEL must be a channel id"):
        Settings.from_env({**HTTP_ENV, "PLATBOT_ESCALATION_CHANNEL": value})
    assert (
        Settings.from_env({**HTTP_ENV, "PLATBOT_ESCALATION_CHANNEL": " C0123ABCD "}).escalation_channel == "C0123ABCD"
    )
