"""The slash command: a private answer via the response URL, which the asker may share.

The response URL posts wherever the command was typed, even in a channel the bot is not in.
"""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import App, BoltContext, Respond

from bot.render import blocks
from bot.slack import parse, recording
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge, deliver


def register(app: App, deps: Deps) -> None:
    def answer_command(command: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        started = time.monotonic()
        text = command.get("text") or ""
        if not deliver.within_limit(deps, context, text, deliver.tell_by_response_url(respond)):
            return
        if parse.is_help(text):
            help_message = blocks.help_message(deps.kb, parse.help_lang(text), command=deps.command)
            respond(response_type="ephemeral", **help_message.as_kwargs())
            return
        result = deps.matcher.match(text)
        ref = recording.new_ref(deps)
        message = blocks.reply(
            deps.kb,
            result,
            text,
            command=deps.command,
            private=True,
            ref=ref,
            escalate=deps.escalation_channel is not None,
        )
        respond(response_type="ephemeral", **message.as_kwargs())
        recording.record_question(deps, context, ref=ref, surface="command", text=text, result=result, started=started)

    app.command(deps.command)(ack=acknowledge, lazy=[guarded(answer_command, deps)])
