"""Reading Slack payloads: the question in a mention, help requests, events to leave alone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.kb.model import Lang
from bot.normalize import detect_lang

_HELP_WORDS = frozenset({"help", "-h", "--help", "?", "ヘルプ", "使い方", "つかいかた"})


def question_from_mention(text: str, bot_user_id: str | None) -> str:
    """The text of a mention without the bot's own `<@U…>`; other mentions stay (escaped later)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return text.strip()


def is_help(text: str) -> bool:
    """`/platform`, `/platform help` (or ヘルプ) ask for usage rather than an answer."""
    return text.strip().casefold() in _HELP_WORDS or not text.strip()


def help_lang(text: str) -> Lang:
    return detect_lang(text)


def is_from_person(event: Mapping[str, Any]) -> bool:
    """A new message a person typed: not a bot (this one included), not an edit, deletion,
    join or any other subtype, which Slack delivers on the same subscription."""
    return bool(event.get("user")) and not (
        event.get("bot_id") or event.get("subtype") or event.get("edited") or event.get("hidden")
    )


def reply_thread(event: Mapping[str, Any]) -> str:
    """The thread to answer in: the existing thread, or a new one under the question."""
    return str(event.get("thread_ts") or event["ts"])


def is_direct_message(event: Mapping[str, Any]) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")
