"""Structured logs: `LOG_FORMAT=json` writes one JSON object per line, redacted, and a request id
follows a question from the HTTP edge's ack to the lazy listener that answers it."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.slack.redact import (
    TRACEBACK_LINES,
    JsonFormatter,
    RedactingFilter,
    RequestIdFilter,
    current_request_id,
    request_id_set,
)
from tests.slack.conftest import REPO, RunningServer, serving
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSender, mention

# --- the formatter and the filters ------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a string, with the filters configure_logging installs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter([SIGNING_SECRET]))
    logger = logging.getLogger(f"platbot.test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    """Each line as JSON: fails on any line that is not one whole JSON object."""
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def test_each_record_is_one_json_line_with_time_level_logger_and_message(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    logger.info("answered %s in %d ms", "ecs-scheduled-tasks", 12)
    logger.warning("second")

    first, second = lines_of(stream)
    assert first.keys() == {"time", "level", "logger", "message"}  # no request id outside a request
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        logger.name,
        "answered ecs-scheduled-tasks in 12 ms",
    )
    assert second["level"] == "WARNING"
    assert first["time"].endswith("Z")
    when = datetime.fromisoformat(first["time"])
    assert when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)  # the record's time, not a placeholder


def test_a_request_id_is_on_the_lines_inside_its_request_and_gone_after(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    with request_id_set("abc123"):
        logger.info("inside")
        with request_id_set("nested"):
            logger.info("nested")
        logger.info("inside again")
    logger.info("after")

    assert [line.get("request_id") for line in lines_of(stream)] == ["abc123", "nested", "abc123", None]
    assert current_request_id.get() is None


def test_an_exception_is_an_error_field_with_its_type_and_the_end_of_its_traceback(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log

    def ping(n: int) -> None:  # two functions in turn: Python folds only repeats of one frame
        if n == 0:
            raise KeyError("missing")
        pong(n - 1)

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(30)
    except KeyError:
        logger.exception("failed to handle event app_mention Ev1")

    [line] = lines_of(stream)
    assert line["message"] == "failed to handle event app_mention Ev1"
    assert line["error"]["type"] == "KeyError"
    trace = line["error"]["traceback"].split("\n")
    assert trace[0] == "..." and len(trace) == TRACEBACK_LINES + 1  # cut, keeping the innermost frames
    assert trace[-1] == "KeyError: 'missing'"
    assert trace[-3].endswith("in ping") and trace[-2].strip() == 'raise KeyError("missing")'


def test_tokens_and_secrets_are_masked_in_the_message_and_the_traceback(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    try:
        raise RuntimeError(f"auth failed for {BOT_TOKEN} and {APP_TOKEN}")
    except RuntimeError:
        logger.error("secret %s in the message", SIGNING_SECRET, exc_info=True)

    raw = stream.getvalue()
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in raw
    [line] = lines_of(stream)
    assert line["message"] == "secret [redacted] in the message"
    assert line["error"]["traceback"].endswith("RuntimeError: auth failed for [redacted] and [redacted]")


def test_bolts_quoted_request_body_is_still_cut(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    bolt = logging.getLogger("slack_bolt.App")
    bolt.propagate = False
    bolt.addHandler(logger.handlers[0])
    try:
        bolt.warning("Invalid request signature detected (signature: v0=1, timestamp: 1, body: text=my+question)")
    finally:
        bolt.removeHandler(logger.handlers[0])
        bolt.propagate = True

    [line] = lines_of(stream)
    assert line["message"] == "Invalid request signature detected"


@pytest.mark.parametrize(
    "text",
    [
        "EKSでALBを消さずにクラスタを作り直すには?",
        "line one\nline two\r\n\ttabbed",
        "nul \x00 escape \x1b[31m del \x7f nel \x85 separators \u2028 \u2029",
        "a lone surrogate \udc80 and an emoji 👍",
        'quotes " and \\ backslashes',
    ],
)
def test_any_characters_stay_inside_one_ascii_line_and_read_back_exactly(
    json_log: tuple[logging.Logger, io.StringIO], text: str
) -> None:
    logger, stream = json_log
    logger.info("question: %s", text)

    raw = stream.getvalue()
    assert raw.isascii()  # encodes on any stream, whatever its encoding
    assert len(raw.splitlines()) == 1  # splitlines also splits on \x85, \u2028...
    [line] = lines_of(stream)
    assert line["message"] == f"question: {text}"


# --- configure_logging, in a process of its own (it sets up the root logger) -----------------

_LOGGING_SCRIPT = f"""
import logging, warnings
from bot.slack.redact import configure_logging
configure_logging("INFO", ["{SIGNING_SECRET}"])
logging.getLogger("platbot.check").info("hello %s", "{SIGNING_SECRET}")
warnings.warn("an old API")
"""


def run_logging_script(log_format: str | None) -> list[str]:
    env = {"PATH": os.environ.get("PATH", ""), **({"LOG_FORMAT": log_format} if log_format is not None else {})}
    done = subprocess.run(
        [sys.executable, "-c", _LOGGING_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_log_format_json_in_the_environment_makes_every_stderr_line_json() -> None:
    lines = [json.loads(line) for line in run_logging_script(" JSON ")]

    assert [(line["logger"], line["level"]) for line in lines] == [
        ("platbot.check", "INFO"),
        ("py.warnings", "WARNING"),
    ]
    assert lines[0]["message"] == "hello [redacted]"
    assert "an old API" in lines[1]["message"]


def test_the_default_format_is_still_text() -> None:
    hello, *_ = run_logging_script(None)

    assert hello.endswith(" INFO platbot.check: hello [redacted]")
    assert not hello.startswith("{")


def test_an_unknown_log_format_is_text_with_a_warning_naming_the_variable() -> None:
    lines = run_logging_script("xml")

    assert any("WARNING platbot: LOG_FORMAT must be one of text, json, not 'xml'" in line for line in lines)
    assert any(line.endswith(" INFO platbot.check: hello [redacted]") for line in lines)


# --- the real server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_server(fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`platbot serve http` with LOG_FORMAT=json at DEBUG (bolt then logs its ack); its stderr alone
    in the log file."""
    log_path = tmp_path_factory.mktemp("json-logs") / "stderr.log"
    with serving(fake_slack.api_url, log_path, "--log-level=DEBUG", stderr_only=True, LOG_FORMAT="json") as server:
        yield server


def json_lines(server: RunningServer) -> list[dict[str, Any]]:
    """Every complete line of the server's stderr, each required to be one JSON object."""
    text = server.log()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def wait_for_line(server: RunningServer, text: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not (found := [line for line in json_lines(server) if text in line["message"]]):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the server log:\n{server.log()}")
        time.sleep(0.02)
    return found[0]


def test_the_ack_and_the_failed_answer_of_one_mention_carry_the_same_request_id(
    json_server: RunningServer, fake_slack: FakeSlack
) -> None:
    fake_slack.reset()
    slack = SlackSender(json_server.port)
    fake_slack.script("CLOGS", status=500, times=2)  # the answer fails, after its one retry
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    assert slack.event(mention("how do I schedule jobs on ECS?", channel="CLOGS"), event_id).status == 200
    refused = slack.request("POST", "/slack/events", '{"type": "event_callback"}', {"Content-Type": "application/json"})
    assert refused.status == 401

    failure = wait_for_line(json_server, f"failed to handle event app_mention {event_id}")
    refusal = wait_for_line(json_server, "POST /slack/events -> 401")
    request_id = failure.get("request_id")
    lines = json_lines(json_server)  # every stderr line parses as JSON
    same_request = [line["message"] for line in lines if line.get("request_id") == request_id]

    assert request_id is not None and failure["level"] == "ERROR" and failure["logger"] == "platbot.slack"
    # bolt's ack, in the request's thread, and the answer, in a lazy listener thread:
    assert any(message.startswith("Running listener: acknowledge") for message in same_request)
    assert any(message.startswith('Responding with status: 200 body: ""') for message in same_request)
    assert "Slack answered chat.postMessage with HTTP 500: retrying once" in same_request
    assert refusal["request_id"] not in (None, request_id)  # each request has its own id
    assert sum(message.startswith("Responding with status") for message in same_request) == 1
    assert not [line for line in lines if BOT_TOKEN in json.dumps(line) or SIGNING_SECRET in json.dumps(line)]
