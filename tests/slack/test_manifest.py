"""manifest.yml and the app agree: least scopes, and a listener for every subscribed event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App, BoltRequest

from bot.config import DEFAULT_COMMAND, Settings
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.app import build_app

MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text(encoding="utf-8"))


@pytest.fixture
def app(settings: Settings, engine: tuple[KnowledgeBase, Matcher]) -> App:
    return build_app(settings, *engine)


def test_the_bot_asks_for_the_least_scopes() -> None:
    # usergroups:read only tells whether someone is in a curators' user group (/platform stats).
    least = ["app_mentions:read", "chat:write", "commands", "im:history", "usergroups:read"]
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == least
    assert "user" not in MANIFEST["oauth_config"]["scopes"]


def test_dms_and_buttons_are_enabled() -> None:
    home = MANIFEST["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert home["messages_tab_read_only_enabled"] is False
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_the_slash_command_is_the_default_setting() -> None:
    assert [c["command"] for c in MANIFEST["features"]["slash_commands"]] == [DEFAULT_COMMAND]


@pytest.mark.parametrize("event_type", MANIFEST["settings"]["event_subscriptions"]["bot_events"])
def test_every_subscribed_event_has_a_listener(app: App, event_type: str) -> None:
    # An event no listener matches gets 404, and Slack retries it for nothing.
    event: dict[str, Any] = {
        "type": event_type.split(".")[0],
        "user": "UX",
        "channel": "DX",
        "ts": "1.0",
        "channel_type": "im",
        "tab": "messages",
        "text": "",
        "subtype": "bot_message",
    }
    body = {"type": "event_callback", "event_id": f"Ev-{event_type}", "team_id": "T0PLATBOT", "event": event}

    response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))

    assert response.status == 200
