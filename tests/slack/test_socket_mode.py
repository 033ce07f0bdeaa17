"""Socket Mode start-up, short of opening the WebSocket: settings, listeners, envelope handling."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.config import Settings
from bot.slack import serve
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, FakeSlack, mention


class FakeSocket:
    """Where SocketModeHandler sends its acknowledgements; the real one is a WebSocket."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("fake-socket")
        self.acks: list[SocketModeResponse] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.acks.append(response)


@pytest.fixture(scope="module")
def socket_server(fake_slack: FakeSlack) -> Iterator[serve.SocketModeServer]:
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake_slack.api_url}
    )
    server = serve.prepare(settings)
    assert isinstance(server, serve.SocketModeServer)
    yield server
    server.handler.close()  # stops the client's threads (about a second); it never connected


@pytest.fixture(autouse=True)
def calls_start_empty(fake_slack: FakeSlack) -> None:
    fake_slack.reset()


def test_an_app_token_selects_socket_mode_without_a_signing_secret(socket_server: serve.SocketModeServer) -> None:
    assert socket_server.handler.app_token == APP_TOKEN
    assert socket_server.handler.client.current_session is None  # nothing was opened


def test_a_slash_command_envelope_is_acked_and_answered(
    socket_server: serve.SocketModeServer, fake_slack: FakeSlack
) -> None:
    socket = FakeSocket()
    payload = {
        "command": "/platform",
        "text": "how do I schedule jobs on ECS?",
        "user_id": "UASKER",
        "channel_id": "CGENERAL",
        "team_id": "T0PLATBOT",
        "response_url": fake_slack.response_url("socket-cmd"),
    }

    socket_server.handler.handle(socket, SocketModeRequest("slash_commands", "envelope-1", payload))

    assert [ack.envelope_id for ack in socket.acks] == ["envelope-1"]
    [answer] = fake_slack.wait_for("socket-cmd")
    assert answer.body["response_type"] == "ephemeral"


def test_a_retried_events_envelope_gets_no_second_reply(
    socket_server: serve.SocketModeServer, fake_slack: FakeSlack
) -> None:
    socket = FakeSocket()
    payload = {
        "type": "event_callback",
        "event_id": "EvSOCKET1",
        "team_id": "T0PLATBOT",
        "event": mention("how do I schedule jobs on ECS?", channel="CSOCKET"),
    }

    socket_server.handler.handle(socket, SocketModeRequest("events_api", "envelope-2", payload))
    fake_slack.wait_for("chat.postMessage")
    socket_server.handler.handle(socket, SocketModeRequest("events_api", "envelope-3", payload, retry_attempt=1))
    # A new event that is answered: once its reply is in, a second reply would be too.
    sentinel = {**payload, "event_id": "EvSOCKET2", "event": mention("how do I schedule jobs on ECS?", channel="CLAST")}
    socket_server.handler.handle(socket, SocketModeRequest("events_api", "envelope-4", sentinel))
    fake_slack.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == "CLAST")
    time.sleep(0.2)

    assert [ack.envelope_id for ack in socket.acks] == ["envelope-2", "envelope-3", "envelope-4"]
    assert [c.body["channel"] for c in fake_slack.calls("chat.postMessage")] == ["CSOCKET", "CLAST"]
