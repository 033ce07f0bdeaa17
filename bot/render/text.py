"""Answers as text: Slack mrkdwn (the fallback and `--json`), and plain text for terminals."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bot.kb.model import KnowledgeBase, Lang, Topic
from bot.matcher import MatchResult, Suggestion
from bot.normalize import printable

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>|<(https?://[^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_BOLD_ON, _BOLD_OFF = "\033[1m", "\033[0m"


def reply_mrkdwn(kb: KnowledgeBase, result: MatchResult) -> str:
    """What the bot says, as mrkdwn: the answer (and what else fits), the choices, a greeting
    back, or the honest "don't know"."""
    lang = result.lang
    if result.topic is not None:
        lines = [result.topic.answer[lang]]
        if result.see_also:
            lines += ["", kb.message("see_also", lang), *(f"• {s.topic.title[lang]}" for s in result.see_also)]
        return "\n".join(lines)
    if result.outcome == "smalltalk":
        return kb.message("smalltalk", lang)
    if result.suggestions:
        return "\n".join([kb.message("clarify", lang), *(f"• {s.topic.title[lang]}" for s in result.suggestions)])
    return "\n".join([kb.message("unknown", lang), kb.message("ask_hint", lang)])


def mrkdwn_to_plain(text: str, color: bool = False) -> str:
    """Slack mrkdwn for a terminal: links spelled out, emphasis as bold or dropped; printable, so
    neither a lone surrogate nor an escape sequence reaches the terminal."""

    def link(match: re.Match[str]) -> str:
        url, label, bare = match.groups()
        return bare if bare else f"{label} ({url})"

    text = _LINK.sub(link, printable(text))
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
    """The whole reply for a terminal; choices and "see also" topics are numbered so `chat`
    can open one."""
    lang = result.lang
    if result.topic is not None:
        text = topic_for_terminal(kb, result.topic, lang, color)
        if result.see_also:
            text += "\n\n" + kb.message("see_also", lang) + ":\n" + _numbered(result.see_also, lang)
        return text
    if result.outcome == "smalltalk":
        return mrkdwn_to_plain(kb.message("smalltalk", lang), color)
    if result.suggestions:
        return kb.message("clarify", lang) + "\n" + _numbered(result.suggestions, lang)
    return "\n".join([kb.message("unknown", lang), kb.message("ask_hint", lang)])


def choices(result: MatchResult) -> list[Topic]:
    """The topics a terminal reply numbered, in order."""
    return [s.topic for s in (result.suggestions or result.see_also)]


def _numbered(suggestions: Iterable[Suggestion], lang: Lang) -> str:
    return "\n".join(f"  {n}. {s.topic.title[lang]} ({s.topic.id})" for n, s in enumerate(suggestions, start=1))
