"""Answers as text: Slack mrkdwn (the fallback and `--json`), and plain text for terminals."""

from __future__ import annotations

import html
import re

from bot.kb.model import KnowledgeBase, Lang, Topic
from bot.matcher import MatchResult

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>|<(https?://[^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_BOLD_ON, _BOLD_OFF = "\033[1m", "\033[0m"


def reply_mrkdwn(kb: KnowledgeBase, result: MatchResult) -> str:
    """What the bot says, as mrkdwn: the answer, or the honest "don't know" with guesses."""
    if result.topic is not None:
        return result.topic.answer[result.lang]
    lines = [kb.message("unknown", result.lang)]
    if result.suggestions:
        lines.append(kb.message("did_you_mean", result.lang))
        lines += [f"• {s.topic.title[result.lang]}" for s in result.suggestions]
    else:
        lines.append(kb.message("ask_hint", result.lang))
    return "\n".join(lines)


def mrkdwn_to_plain(text: str, color: bool = False) -> str:
    """Slack mrkdwn for a terminal: links spelled out, emphasis as bold or dropped."""

    def link(match: re.Match[str]) -> str:
        url, label, bare = match.groups()
        return bare if bare else f"{label} ({url})"

    text = _LINK.sub(link, text)
    text = _BOLD.sub(rf"{_BOLD_ON}\1{_BOLD_OFF}" if color else r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    return html.unescape(text)


def topic_for_terminal(kb: KnowledgeBase, topic: Topic, lang: Lang, color: bool = False) -> str:
    """A topic's answer followed by its doc links and related topics."""
    parts = [mrkdwn_to_plain(topic.answer[lang], color), "", f"{kb.message('docs', lang)}:"]
    parts += [f"  - {link.title}: {link.url}" for link in topic.links]
    related = [kb.get(r) for r in topic.related]
    titles = [f"  - {r.title[lang]} ({r.id})" for r in related if r is not None]
    if titles:
        parts += ["", f"{kb.message('related', lang)}:", *titles]
    return "\n".join(parts)


def result_for_terminal(kb: KnowledgeBase, result: MatchResult, color: bool = False) -> str:
    """The whole reply for a terminal; suggestions are numbered so `chat` can pick one."""
    if result.topic is not None:
        return topic_for_terminal(kb, result.topic, result.lang, color)
    lines = [kb.message("unknown", result.lang)]
    if result.suggestions:
        lines.append(kb.message("did_you_mean", result.lang))
        lines += [
            f"  {n}. {s.topic.title[result.lang]} ({s.topic.id})" for n, s in enumerate(result.suggestions, start=1)
        ]
    else:
        lines.append(kb.message("ask_hint", result.lang))
    return "\n".join(lines)
