"""@platbot in a channel: the answer goes in a thread under the question, never top level."""

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
    def answer_mention(event: dict[str, Any], context: BoltContext, client: WebClient, body: dict[str, Any]) -> None:
        if not parse.is_from_person(event) or parse.is_direct_message(event):
            return  # DMs are answered by messages.py, once
        started = time.monotonic()
        question = parse.question_from_mention(event.get("text", ""), context.bot_user_id)
        thread = parse.reply_thread(event)
        if not deliver.within_limit(deps, context, question, deliver.tell_in_channel(client, event, thread)):
            return
        result = deps.matcher.match(question)
        ref = recording.new_ref(deps) if question.strip() else ""
        message = blocks.reply(
            deps.kb, result, question, command=deps.command, ref=ref, escalate=deps.escalation_channel is not None
        )
        deliver.post_reply(
            deps,
            client,
            body,
            event,
            message,
            lang=result.lang,
            thread_ts=thread,
            bot_user_id=context.bot_user_id,
            private_fallback=True,  # a channel the bot is not in: the asker still gets the answer
        )
        recording.record_question(
            deps,
            context,
            ref=ref,
            surface="mention",
            text=question,
            result=result,
            started=started,
            event_key=body.get("event_id"),
        )

    app.event("app_mention")(ack=acknowledge, lazy=[guarded(answer_mention, deps)])
