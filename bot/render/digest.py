"""Block Kit for the curators' week in numbers: `/platform stats` and the digest `platbot digest` posts.

Pure, like bot.render.blocks: a `Week` (bot.store.digest) in, a `Message` out. Every string comes
from knowledge/messages.yaml (the `stats_*` keys); question text from the store is escaped,
made one line and clipped, since anyone could have typed it.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from bot.kb.model import KnowledgeBase, Lang
from bot.normalize import printable
from bot.render.blocks import Message, escape
from bot.store.digest import Week

SECTION_CHARS = 3000  # Slack's limits: https://docs.slack.dev/reference/block-kit/blocks/section-block
FIELD_CHARS = 2000
HEADER_CHARS = 150
SAMPLE_CHARS = 120  # one sample is a reminder of the wording, not the whole question


def week_message(kb: KnowledgeBase, week: Week, lang: Lang, *, with_actions: bool = False) -> Message:
    """The week's figures; `with_actions` adds how to act on them (the digest does)."""
    rate = _percent(week.answered_rate)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=kb.message("stats_title", lang)[:HEADER_CHARS], emoji=True)),
        _context(
            kb.message("stats_window", lang, since=f"{week.since:%Y-%m-%d %H:%M}", until=f"{week.until:%Y-%m-%d %H:%M}")
        ),
    ]
    if not week.questions:
        blocks.append(_section(kb.message("stats_none", lang)))
    else:
        blocks.append(SectionBlock(fields=[_field(text) for text in _figures(kb, week, lang)]))
        blocks.append(
            _listing(
                kb,
                lang,
                "stats_top_topics",
                [f"{_title(kb, t.topic_id, lang)}: {t.questions}" for t in week.top_topics],
            )
        )
        blocks.append(
            _listing(
                kb,
                lang,
                "stats_downvoted",
                [
                    f"{_title(kb, v.topic_id, lang)}: {kb.message('stats_votes', lang, down=v.down, up=v.up)}"
                    for v in week.most_downvoted
                ],
            )
        )
        blocks.append(
            _listing(
                kb,
                lang,
                "stats_unanswered",
                [
                    kb.message(
                        "stats_cluster",
                        lang,
                        count=c.questions,
                        sample=_sample(c.samples[0] if c.samples else ""),
                        closest=_title(kb, c.closest_topic_id, lang)
                        if c.closest_topic_id
                        else kb.message("stats_nothing", lang),
                    )
                    for c in week.unanswered
                ],
            )
        )
    if with_actions:
        blocks.append(_section(f"{kb.message('stats_act_title', lang)}\n{kb.message('stats_act', lang)}"))
    fallback = kb.message("stats_fallback", lang, count=week.questions, rate=rate)
    return Message(tuple(blocks), fallback)


def _figures(kb: KnowledgeBase, week: Week, lang: Lang) -> list[str]:
    change = week.answered_rate_change
    if change is None:
        answered = kb.message("stats_answered", lang, rate=_percent(week.answered_rate))
    else:
        answered = kb.message(
            "stats_answered_change", lang, rate=_percent(week.answered_rate), change=f"{change * 100:+.1f}"
        )
    return [
        kb.message("stats_questions", lang, count=f"{week.questions:,}", previous=f"{week.previous_questions:,}"),
        answered,
        kb.message("stats_escalations", lang, count=f"{week.escalations:,}"),
    ]


def _listing(kb: KnowledgeBase, lang: Lang, title_key: str, lines: Sequence[str]) -> SectionBlock:
    body = "\n".join(f"• {line}" for line in lines) or kb.message("stats_nothing", lang)
    return _section(f"{kb.message(title_key, lang)}\n{body}")


def _title(kb: KnowledgeBase, topic_id: str, lang: Lang) -> str:
    """The topic's title as Slack shows it; its id when the knowledge base no longer has it."""
    topic = kb.get(topic_id)
    return escape(topic.title_in(lang) if topic else topic_id)


def _sample(text: str) -> str:
    line = " ".join(printable(text).split())
    return escape(line if len(line) <= SAMPLE_CHARS else line[: SAMPLE_CHARS - 1].rstrip() + "…")


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(mrkdwn, SECTION_CHARS)))


def _field(mrkdwn: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(mrkdwn, FIELD_CHARS))


def _context(mrkdwn: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(mrkdwn, SECTION_CHARS))])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
