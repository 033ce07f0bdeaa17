"""Getting a reply to the asker, once: the per-user limit first, then the post, shortened when
Slack finds it too long, or sent privately when the bot cannot post where it was asked.

Each question leads to at most one message that arrives: a retry happens only after Slack said
the first try was not posted (`msg_too_long`, `not_in_channel`, `channel_not_found`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.kb.model import Lang
from bot.normalize import detect_lang
from bot.render import blocks
from bot.slack import failures
from bot.slack.deps import Deps
from bot.slack.ratelimit import Verdict

# chat.postMessage's answers for a channel the bot is not in, or cannot see.
CANNOT_POST_HERE = frozenset({"not_in_channel", "channel_not_found"})
# What is left of the prose of a message Slack refused as too long.
SHORT_SECTION_CHARS = 1000
SHORT_TEXT_CHARS = 1000
_URL = re.compile(r"<(https?://[^|>]+)")


def within_limit(
    deps: Deps,
    context: BoltContext,
    question: str,
    tell: Callable[[blocks.Message], Any],
) -> bool:
    """True when the user may ask now. Otherwise, the first refused question is answered by
    `tell` with a note saying when to ask again, in the question's language; later ones by
    nothing, until then."""
    user = context.user_id
    if deps.limiter is None or not user:
        return True
    workspace = context.team_id or context.enterprise_id or ""
    decision = deps.limiter.check(workspace, user)
    if decision.verdict is Verdict.ANSWER:
        return True
    if decision.verdict is Verdict.NOTE:
        limit = deps.limiter.limit
        deps.log.info(
            "rate limit: user %s of %s asked more than %d questions in %g s; told to wait %d s",
            user,
            workspace,
            limit.questions,
            limit.period,
            decision.wait_seconds,
        )
        tell(blocks.notice(deps.kb, "rate_limited", detect_lang(question), seconds=decision.wait_seconds))
    return False


def tell_in_channel(client: WebClient, event: dict[str, Any], thread_ts: str | None) -> Callable[[blocks.Message], Any]:
    """Say something to the asker alone, where they asked."""

    def tell(message: blocks.Message) -> None:
        client.chat_postEphemeral(
            channel=event["channel"], user=event["user"], thread_ts=thread_ts, **message.as_kwargs()
        )

    return tell


def tell_by_response_url(respond: Respond) -> Callable[[blocks.Message], Any]:
    def tell(message: blocks.Message) -> None:
        respond(response_type="ephemeral", **message.as_kwargs())

    return tell


def post_reply(
    deps: Deps,
    client: WebClient,
    body: dict[str, Any],
    event: dict[str, Any],
    message: blocks.Message,
    *,
    lang: Lang,
    thread_ts: str | None,
    bot_user_id: str | None = None,
    private_fallback: bool = False,
) -> None:
    """Post `message` where `event` was asked. With `private_fallback`, a channel the bot may
    not post in gets the answer to the asker alone: as an ephemeral message, else in a DM."""
    try:
        _post(deps, body, client.chat_postMessage, {"channel": event["channel"], "thread_ts": thread_ts}, message)
    except SlackApiError as error:
        if not private_fallback or failures.error_code(error) not in CANNOT_POST_HERE:
            raise
        how = _answer_privately(deps, client, body, event, message, lang=lang, thread_ts=thread_ts, bot=bot_user_id)
        failures.recovered(error, body, deps.log, f"answered the asker privately ({how})")


def _answer_privately(
    deps: Deps,
    client: WebClient,
    body: dict[str, Any],
    event: dict[str, Any],
    message: blocks.Message,
    *,
    lang: Lang,
    thread_ts: str | None,
    bot: str | None,
) -> str:
    """An ephemeral message in the channel works where the bot may not post but can still see
    the channel; a DM works everywhere. Returns which one carried the answer."""
    here = blocks.notice(deps.kb, "cannot_post_here", lang, bot=bot or "")
    where = {"channel": event["channel"], "user": event["user"], "thread_ts": thread_ts}
    try:
        _post(deps, body, client.chat_postEphemeral, where, with_note(here, message))
        return "chat.postEphemeral"
    except SlackApiError as error:
        if failures.error_code(error) not in CANNOT_POST_HERE:
            raise
    there = blocks.notice(deps.kb, "cannot_post_there", lang, channel=event["channel"], bot=bot or "")
    # A user id as the channel posts in the app's DM with that user.
    _post(deps, body, client.chat_postMessage, {"channel": event["user"]}, with_note(there, message))
    return "a DM"


def _post(
    deps: Deps,
    body: dict[str, Any],
    send: Callable[..., Any],
    where: dict[str, Any],
    message: blocks.Message,
) -> None:
    """`send` the message; if Slack refuses it as too long (so nothing was posted), once more, shortened."""
    content = message.as_kwargs()
    try:
        send(**where, **content)
        return
    except SlackApiError as error:
        if failures.error_code(error) != "msg_too_long":
            raise
        too_long = error
    send(**where, **shortened(content))  # a second refusal goes to the listener's report
    failures.recovered(too_long, body, deps.log, "posted a shortened answer")


def with_note(note: blocks.Message, message: blocks.Message) -> blocks.Message:
    """`message` under a one-line `note`, within Slack's block limit."""
    kept = message.blocks[: blocks.MAX_BLOCKS - len(note.blocks)]
    return blocks.Message(note.blocks + kept, f"{note.text}\n\n{message.text}")


def shortened(content: dict[str, Any]) -> dict[str, Any]:
    """Message arguments cut to fit after `msg_too_long`: the prose is cut to its first section,
    clipped; headers, context, buttons and every section that holds a link (the docs) are kept;
    the fallback text is clipped, with the first doc link after it."""
    kept: list[dict[str, Any]] = []
    links: list[str] = []
    prose_kept = False
    for block in content.get("blocks") or []:
        text = block.get("text", {}).get("text", "") if block.get("type") == "section" else ""
        if block.get("type") != "section" or _URL.search(text):
            kept.append(block)
            links += _URL.findall(text)
        elif not prose_kept:
            kept.append({**block, "text": {**block["text"], "text": _clip(text, SHORT_SECTION_CHARS)}})
            prose_kept = True
    text = _clip(str(content.get("text") or ""), SHORT_TEXT_CHARS)
    if links and links[0] not in text:
        text = f"{text}\n{links[0]}"
    return {**content, "blocks": kept, "text": text}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
