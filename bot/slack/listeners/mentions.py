"""@platbot in a channel: the answer goes in a thread under the question, never top level."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.render import blocks
from bot.slack import parse
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge


def register(app: App, deps: Deps) -> None:
    def answer_mention(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        if not parse.is_from_person(event) or parse.is_direct_message(event):
            return  # DMs are answered by messages.py, once
        question = parse.question_from_mention(event.get("text", ""), context.bot_user_id)
        result = deps.matcher.match(question)
        message = blocks.reply(deps.kb, result, question, command=deps.command)
        client.chat_postMessage(channel=event["channel"], thread_ts=parse.reply_thread(event), **message.as_kwargs())

    app.event("app_mention")(ack=acknowledge, lazy=[guarded(answer_mention, deps.kb, deps.log)])
