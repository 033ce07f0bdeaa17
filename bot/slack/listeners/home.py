"""The App Home tab: what the bot knows, example questions and how to ask."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.render import blocks
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge


def register(app: App, deps: Deps) -> None:
    def publish_home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") != "home":
            return  # the Messages tab is the DM, answered by messages.py
        view = blocks.home_view(deps.kb, command=deps.command)
        client.views_publish(user_id=event["user"], view=view.as_home_view())

    app.event("app_home_opened")(ack=acknowledge, lazy=[guarded(publish_home, deps)])
