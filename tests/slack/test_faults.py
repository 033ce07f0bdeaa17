"""Slack Web API faults, end to end: signed requests into the running `platbot serve http`, a
fake Web API that fails on cue, and assertions on the calls it recorded and the server's log.

Every test checks the same three promises: the asker gets at most one post (never a second copy
after a retry), the failure leaves one short log line with no payload and no token, and the
next question is answered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config import Settings
from bot.errors import SettingsError
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.render.blocks import TopicRef
from bot.slack.app import client_timeout, make_client
from bot.slack.failures import ConnectionErrorHandler, RetryAfterHandler, ServerErrorHandler, guarded
from bot.slack.listeners.deliver import SHORT_SECTION_CHARS, SHORT_TEXT_CHARS, shortened
from bot.slack.reload import Engine, LiveDeps, LiveEngine
from tests.slack.conftest import REPO, RunningServer, serving
from tests.slack.fakes import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    SlackSender,
    direct_message,
    mention,
)

SCHEDULE_EN = "how do I schedule jobs on ECS?"
SCHEDULE_TOPIC = "ecs-scheduled-tasks"
SCHEDULE_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/tasks-scheduled.html"
CLIENT_TIMEOUT = 1.0  # seconds, for the server under test; the fake's slow answers take longer


class LogSince:
    """The server's log lines written since this was made: what one test caused."""

    def __init__(self, server: RunningServer) -> None:
        self._server = server
        self._start = len(server.log())

    def lines(self) -> list[str]:
        return self._server.log()[self._start :].splitlines()

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while not (found := [line for line in self.lines() if text in line]):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the server log:\n" + "\n".join(self.lines()))
            time.sleep(0.02)
        return found[0]

    def problems(self) -> list[str]:
        return [line for line in self.lines() if " WARNING " in line or " ERROR " in line]


@pytest.fixture(scope="module")
def api() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def server(api: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("faults") / "platbot.log"
    with serving(api.api_url, log_path, PLATBOT_SLACK_TIMEOUT=str(CLIENT_TIMEOUT)) as running:
        yield running


@pytest.fixture
def slack(server: RunningServer, api: FakeSlack) -> SlackSender:
    api.reset()
    return SlackSender(server.port)


@pytest.fixture
def log(server: RunningServer) -> LogSince:
    return LogSince(server)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


def topic_answered(call: Call) -> str | None:
    for button in call.buttons():
        if button["action_id"].startswith("platbot.feedback"):
            ref = TopicRef.from_value(button["value"])
            return ref.topic_id if ref else None
    return None


def next_question_is_answered(slack: SlackSender, api: FakeSlack) -> list[Call]:
    """Ask once more, in a DM, and wait for the answer: the server kept serving. Returns every
    call made before it (a reply to anything sent earlier would have arrived by then)."""
    channel = new_id("DNEXT")
    slack.event(direct_message(SCHEDULE_EN, channel=channel), new_id("Ev"))
    [answer] = api.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == channel)
    assert topic_answered(answer) == SCHEDULE_TOPIC
    time.sleep(0.2)
    return [c for c in api.calls() if c.body.get("channel") != channel]


def assert_short_and_clean(line: str) -> None:
    """A failure line names what failed and why: no question, no answer, no token."""
    assert len(line) < 400
    assert SCHEDULE_EN not in line and "schedule" not in line.lower()
    assert "xoxb-" not in line and BOT_TOKEN not in line


def ask_in_channel(slack: SlackSender, channel: str) -> str:
    event_id = new_id("Ev")
    assert slack.event(mention(SCHEDULE_EN, channel=channel, ts="1700000000.000100"), event_id).status == 200
    return event_id


class TestRateLimits:
    def test_a_429_is_waited_out_as_retry_after_says_and_retried_once(
        self, slack: SlackSender, api: FakeSlack, log: LogSince
    ) -> None:
        api.script("CBUSY", status=429, error="ratelimited", headers={"Retry-After": "1"})
        ask_in_channel(slack, "CBUSY")

        refused, answer = api.wait_for("chat.postMessage", count=2, where=lambda c: c.body["channel"] == "CBUSY")
        assert topic_answered(refused) == topic_answered(answer) == SCHEDULE_TOPIC
        assert [c.method for c in next_question_is_answered(slack, api)] == ["chat.postMessage"] * 2
        line = log.wait_for("Slack rate-limited chat.postMessage: retrying once in 1 s (Retry-After)")
        assert_short_and_clean(line)
        assert log.problems() == []  # the answer arrived: nothing failed

    def test_a_second_429_is_not_retried_again(self, slack: SlackSender, api: FakeSlack, log: LogSince) -> None:
        api.script("CBUSY", status=429, error="ratelimited", headers={"Retry-After": "0"}, times=2)
        event_id = ask_in_channel(slack, "CBUSY")

        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "SlackApiError ratelimited from chat.postMessage (HTTP 429)" in line
        calls = next_question_is_answered(slack, api)
        assert [c.body["channel"] for c in calls] == ["CBUSY", "CBUSY"]  # one retry; no apology through Slack
        assert log.problems() == [line]
        assert_short_and_clean(line)

    def test_a_retry_after_longer_than_the_asker_waits_is_not_waited_for(
        self, slack: SlackSender, api: FakeSlack, log: LogSince
    ) -> None:
        api.script("CBUSY", status=429, error="ratelimited", headers={"Retry-After": "3600"})
        event_id = ask_in_channel(slack, "CBUSY")

        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "ratelimited" in line
        assert [c.body["channel"] for c in next_question_is_answered(slack, api)] == ["CBUSY"]
        assert log.problems() == [line]
        assert not [entry for entry in log.lines() if "retrying" in entry]


class TestServerErrors:
    @pytest.mark.parametrize("status", [500, 503])
    def test_a_server_error_twice_is_retried_once_then_logged(
        self, slack: SlackSender, api: FakeSlack, log: LogSince, status: int
    ) -> None:
        api.script("CDOWN", status=status, times=2)
        event_id = ask_in_channel(slack, "CDOWN")

        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert f"SlackApiError http_{status} from chat.postMessage (HTTP {status})" in line
        assert [c.body["channel"] for c in next_question_is_answered(slack, api)] == ["CDOWN", "CDOWN"]
        assert log.problems() == [line]
        assert [entry for entry in log.lines() if "retrying" in entry] == [
            log.wait_for(f"Slack answered chat.postMessage with HTTP {status}: retrying once")
        ]
        assert "Traceback" not in "\n".join(log.lines())
        assert_short_and_clean(line)


class TestTimeouts:
    def test_a_call_that_times_out_is_not_sent_again(self, slack: SlackSender, api: FakeSlack, log: LogSince) -> None:
        # Slack may have posted it before the client gave up: a retry could double the answer.
        api.script("CSLOW", delay=CLIENT_TIMEOUT + 1.5)
        event_id = ask_in_channel(slack, "CSLOW")

        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "TimeoutError" in line and "not sent again" in line
        # A retry would have been sent before the failure was logged: there is none.
        assert [c.body["channel"] for c in next_question_is_answered(slack, api)] == ["CSLOW"]
        assert log.problems() == [line]
        assert_short_and_clean(line)


class TestRefusals:
    def test_a_revoked_token_is_logged_once_with_what_to_do(
        self, slack: SlackSender, api: FakeSlack, log: LogSince
    ) -> None:
        api.script("CAUTH", error="invalid_auth")
        event_id = ask_in_channel(slack, "CAUTH")

        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "SlackApiError invalid_auth from chat.postMessage (HTTP 200)" in line
        assert "SLACK_BOT_TOKEN" in line
        # No apology: with the token refused it could not get through either.
        assert [c.body["channel"] for c in next_question_is_answered(slack, api)] == ["CAUTH"]
        assert log.problems() == [line]
        assert_short_and_clean(line)

    def test_a_mention_where_the_bot_may_not_post_is_answered_to_the_asker_alone(
        self, slack: SlackSender, api: FakeSlack, log: LogSince, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, _ = engine
        api.script("CNOTIN", error="not_in_channel")
        event_id = ask_in_channel(slack, "CNOTIN")

        [private] = api.wait_for("chat.postEphemeral")
        assert (private.body["channel"], private.body["user"]) == ("CNOTIN", "UASKER")
        assert private.body["thread_ts"] == "1700000000.000100"
        assert topic_answered(private) == SCHEDULE_TOPIC
        assert private.blocks()[0]["text"]["text"] == kb.message("cannot_post_here", "en", bot=BOT_USER)
        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "not_in_channel" in line and "answered the asker privately (chat.postEphemeral)" in line
        calls = next_question_is_answered(slack, api)
        assert [c.method for c in calls] == ["chat.postMessage", "chat.postEphemeral"]
        assert log.problems() == [line]
        assert_short_and_clean(line)

    def test_a_channel_the_bot_cannot_see_gets_the_answer_in_a_dm(
        self, slack: SlackSender, api: FakeSlack, log: LogSince, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, _ = engine
        api.script("CHIDDEN", error="channel_not_found")
        api.script("CHIDDEN", method="chat.postEphemeral", error="channel_not_found")
        event_id = ask_in_channel(slack, "CHIDDEN")

        [dm] = api.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == "UASKER")
        assert topic_answered(dm) == SCHEDULE_TOPIC
        note = kb.message("cannot_post_there", "en", channel="CHIDDEN", bot=BOT_USER)
        assert dm.blocks()[0]["text"]["text"] == note
        assert dm.body["text"].startswith(note)
        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "channel_not_found" in line and "(a DM)" in line
        calls = next_question_is_answered(slack, api)
        assert [(c.method, c.body["channel"]) for c in calls] == [
            ("chat.postMessage", "CHIDDEN"),
            ("chat.postEphemeral", "CHIDDEN"),
            ("chat.postMessage", "UASKER"),
        ]
        assert log.problems() == [line]
        assert_short_and_clean(line)

    def test_a_slash_command_where_the_bot_is_not_a_member_is_answered_by_its_response_url(
        self, slack: SlackSender, api: FakeSlack, log: LogSince
    ) -> None:
        slack.command(SCHEDULE_EN, api.response_url("notin"), channel="CNOTIN")

        [answer] = api.wait_for("notin")
        assert topic_answered(answer) == SCHEDULE_TOPIC
        # Nothing through the Web API, which would answer not_in_channel for this channel.
        assert [c.method for c in next_question_is_answered(slack, api)] == ["notin"]
        assert log.problems() == []


class TestTooLong:
    def test_msg_too_long_is_posted_once_more_shortened_with_the_doc_link(
        self, slack: SlackSender, api: FakeSlack, log: LogSince
    ) -> None:
        api.script("CLONG", error="msg_too_long")
        event_id = ask_in_channel(slack, "CLONG")

        full, short = api.wait_for("chat.postMessage", count=2, where=lambda c: c.body["channel"] == "CLONG")
        assert len(short.text_everywhere()) < len(full.text_everywhere())
        assert len(short.body["text"]) < len(full.body["text"])
        assert len(short.body["text"]) <= 1000 + len(SCHEDULE_DOC) + 1
        assert SCHEDULE_DOC in short.body["text"]
        assert SCHEDULE_DOC in str(short.blocks())
        sections = [b["text"]["text"] for b in short.blocks() if b["type"] == "section"]
        assert all(len(text) <= 1000 or "<https://" in text for text in sections)
        assert short.blocks()[0] == full.blocks()[0]  # the title
        assert topic_answered(short) == SCHEDULE_TOPIC  # the buttons are kept
        line = log.wait_for(f"failed to handle event app_mention {event_id}")
        assert "msg_too_long" in line and "posted a shortened answer" in line
        assert [c.body["channel"] for c in next_question_is_answered(slack, api)] == ["CLONG", "CLONG"]
        assert log.problems() == [line]
        assert_short_and_clean(line)


class TestUnreachable:
    def test_a_closed_port_is_retried_once_logged_once_and_commands_still_answered(
        self, api: FakeSlack, tmp_path: Path
    ) -> None:
        gone = FakeSlack().start()  # answers auth.test at start-up, then goes away
        with serving(gone.api_url, tmp_path / "platbot.log") as server:
            gone.close()
            log = LogSince(server)
            slack = SlackSender(server.port)
            api.reset()
            event_id = ask_in_channel(slack, "CGENERAL")

            line = log.wait_for(f"failed to handle event app_mention {event_id}")
            assert "URLError: cannot reach the Slack Web API" in line and "Connection refused" in line
            retry = log.wait_for("cannot reach the Slack Web API for chat.postMessage")
            assert "retrying once" in retry
            # Slash commands answer through their response URL, which is elsewhere and up.
            slack.command(SCHEDULE_EN, api.response_url("still"))
            [answer] = api.wait_for("still")
            assert topic_answered(answer) == SCHEDULE_TOPIC
            assert log.problems() == [line]
            assert_short_and_clean(line)


# --- the pieces, without a server ----------------------------------------------------------


def rate_limited(retry_after: str | None) -> HttpResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return HttpResponse(status_code=429, headers=headers, body={"ok": False, "error": "ratelimited"})


POST = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})


class TestRetryPolicy:
    def test_the_client_retries_each_kind_of_fault_at_most_once(self) -> None:
        settings = Settings.from_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET})
        client = make_client(settings, timeout=2.5)

        kinds = {type(h): h.max_retry_count for h in client.retry_handlers}
        assert kinds == {RetryAfterHandler: 1, ServerErrorHandler: 1, ConnectionErrorHandler: 1}
        assert client.timeout == 2.5

    @pytest.mark.parametrize(("header", "wait"), [("7", 7.0), ("0", 0.0), ("1.5", 1.5), (None, 1.0), ("soon", 1.0)])
    def test_a_429_waits_as_long_as_retry_after_says_then_retries_once(self, header: str | None, wait: float) -> None:
        slept: list[float] = []
        handler = RetryAfterHandler(logging.getLogger("test"), sleep=slept.append)
        state = RetryState()

        assert handler.can_retry(state=state, request=POST, response=rate_limited(header))
        handler.prepare_for_next_attempt(state=state, request=POST, response=rate_limited(header))

        assert slept == [wait]
        assert not handler.can_retry(state=state, request=POST, response=rate_limited(header))  # once only

    def test_a_retry_after_past_the_limit_is_not_waited_for(self) -> None:
        handler = RetryAfterHandler(logging.getLogger("test"), max_wait=30.0, sleep=pytest.fail)
        assert not handler.can_retry(state=RetryState(), request=POST, response=rate_limited("31"))

    @pytest.mark.parametrize(
        ("error", "retried"),
        [
            (URLError(ConnectionRefusedError(111, "Connection refused")), True),
            (ConnectionResetError(104, "Connection reset by peer"), True),
            (TimeoutError("timed out"), False),  # the request may have reached Slack
            (URLError(TimeoutError("timed out")), False),
        ],
        ids=["refused", "reset", "read-timeout", "connect-timeout"],
    )
    def test_only_connections_that_never_carried_the_request_are_retried(self, error: Exception, retried: bool) -> None:
        handler = ConnectionErrorHandler(logging.getLogger("test"))
        assert handler.can_retry(state=RetryState(), request=POST, error=error) is retried

    @pytest.mark.parametrize(("value", "seconds"), [(None, 30.0), ("", 30.0), ("2", 2.0), ("0.5", 0.5)])
    def test_the_client_timeout_setting(self, value: str | None, seconds: float) -> None:
        env = {} if value is None else {"PLATBOT_SLACK_TIMEOUT": value}
        assert client_timeout(env) == seconds

    @pytest.mark.parametrize("value", ["0", "-1", "soon", "301"])
    def test_a_malformed_client_timeout_stops_start_up_naming_the_variable(self, value: str) -> None:
        with pytest.raises(SettingsError, match="PLATBOT_SLACK_TIMEOUT must be"):
            client_timeout({"PLATBOT_SLACK_TIMEOUT": value})


class TestShortened:
    def test_prose_is_cut_to_one_clipped_section_and_links_titles_and_buttons_are_kept(self) -> None:
        docs = "*Docs*\n• <https://docs.aws.amazon.com/a|A guide>"
        content = {
            "text": "Title\n" + "word " * 800,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "a" * 2900}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "b" * 2900}},
                {"type": "section", "text": {"type": "mrkdwn", "text": docs}},
                {"type": "actions", "elements": [{"type": "button", "action_id": "platbot.feedback:up"}]},
            ],
        }

        short = shortened(content)

        types = [b["type"] for b in short["blocks"]]
        assert types == ["header", "section", "section", "actions"]
        assert len(short["blocks"][1]["text"]["text"]) == SHORT_SECTION_CHARS
        assert short["blocks"][1]["text"]["text"].endswith("…")
        assert short["blocks"][2]["text"]["text"] == docs
        assert short["text"].endswith("\nhttps://docs.aws.amazon.com/a")
        assert len(short["text"]) <= SHORT_TEXT_CHARS + len("\nhttps://docs.aws.amazon.com/a")
        assert content["blocks"][1]["text"]["text"] == "a" * 2900  # the original is left alone


class TestGuarded:
    def test_the_apology_comes_from_the_knowledge_serving_when_the_listener_fails(
        self, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, matcher = engine
        reloaded = dataclasses.replace(kb, messages={**kb.messages, "error": {"en": "NEW-APOLOGY", "ja": "新"}})
        live = LiveEngine(REPO / "knowledge", kb, matcher)
        deps = LiveDeps(live, command="/platform", log=logging.getLogger("test.guarded"))
        said: list[dict[str, object]] = []

        def answer_command(command: dict[str, str]) -> None:
            raise RuntimeError("a bug in the listener")

        listener = guarded(answer_command, deps)
        live._current = Engine(reloaded, matcher)  # a reload lands after the listener was registered
        listener(
            command={"text": "how do I schedule jobs on ECS?"},
            body={"command": "/platform", "response_url": "https://hooks.slack.test/r"},
            event=None,
            respond=lambda **message: said.append(message),
            client=None,
            context={},
        )

        [apology] = said
        assert "NEW-APOLOGY" in str(apology["text"])
        assert apology["response_type"] == "ephemeral"
