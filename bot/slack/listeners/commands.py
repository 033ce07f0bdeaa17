"""The slash command: a private answer via the response URL, which the asker may share.

The response URL posts wherever the command was typed, even in a channel the bot is not in.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond

from bot.render import blocks
from bot.slack import parse
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge, deliver


def register(app: App, deps: Deps) -> None:
    def answer_command(command: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        text = command.get("text") or ""
        if not deliver.within_limit(deps, context, text, deliver.tell_by_response_url(respond)):
            return
        if parse.is_help(text):
            message = blocks.help_message(deps.kb, parse.help_lang(text), command=deps.command)
        else:
            result = deps.matcher.match(text)
            message = blocks.reply(deps.kb, result, text, command=deps.command, private=True)
        respond(response_type="ephemeral", **message.as_kwargs())

    app.command(deps.command)(ack=acknowledge, lazy=[guarded(answer_command, deps)])
