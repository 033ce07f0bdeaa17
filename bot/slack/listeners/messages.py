"""Direct messages to the bot, answered in the DM; everything but a person's new message is ignored."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.render import blocks
from bot.slack import parse, recording
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge, deliver


def register(app: App, deps: Deps) -> None:
    def answer_direct_message(
        event: dict[str, Any], context: BoltContext, client: WebClient, body: dict[str, Any]
    ) -> None:
        # Edits, deletions, joins and bot posts arrive here too; answering them would loop or spam.
        if not parse.is_direct_message(event) or not parse.is_from_person(event):
            return
        started = time.monotonic()
        question = parse.question_from_mention(event.get("text", ""), context.bot_user_id)
        thread = event.get("thread_ts")
        if not deliver.within_limit(deps, context, question, deliver.tell_in_channel(client, event, thread)):
            return
        result = deps.matcher.match(question)
        ref = recording.new_ref(deps) if question.strip() else ""
        message = blocks.reply(
            deps.kb, result, question, command=deps.command, ref=ref, escalate=deps.escalation_channel is not None
        )
        deliver.post_reply(deps, client, body, event, message, lang=result.lang, thread_ts=thread)
        recording.record_question(
            deps,
            context,
            ref=ref,
            surface="dm",
            text=question,
            result=result,
            started=started,
            event_key=body.get("event_id"),
        )

    # Every message event must be acknowledged, or Slack retries it: filter in the handler.
    app.event("message")(ack=acknowledge, lazy=[guarded(answer_direct_message, deps)])
