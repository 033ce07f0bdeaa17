"""Block Kit for every message platbot sends to Slack, built from the engine's results.

Pure functions: knowledge and match results in, `Message` (blocks + plain-text fallback) out;
no Slack I/O. Blocks come from slack_sdk's model classes, whose `to_dict()` checks Slack's
limits; what the classes do not check (blocks per message, echoed text) is cut here.

Buttons carry a `TopicRef` as their value, so a click can be answered without any state on
the server: that is what lets the same handlers run under Lambda and behind gunicorn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.kb.model import LANGS, KnowledgeBase, Lang, Link, Topic
from bot.matcher import MatchResult
from bot.normalize import printable

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
SECTION_CHARS = 3000
HEADER_CHARS = 150
BUTTON_TEXT_CHARS = 75
BUTTON_VALUE_CHARS = 2000
# An echoed question is a reminder, not a transcript; escaping can grow it five-fold.
ECHO_CHARS = 300
REF_CHARS = 32  # a recorded question's id (bot/store): short and random, never user text
MAX_RELATED = 5
MAX_EXAMPLES = 4
# Answers about choosing a platform offer the advisor ("Help me choose", bot/render/advice.py).
CHOOSING_AREA = "choosing"

ACTION_PICK = "platbot.pick"  # a "did you mean" button
ACTION_SEE_ALSO = "platbot.seealso"  # another topic that fits the question, under an answer
ACTION_RELATED = "platbot.related"
ACTION_FEEDBACK = "platbot.feedback"
ACTION_SHARE = "platbot.share"
ACTION_ESCALATE = "platbot.escalate"
ACTION_CHOOSE = "platbot.choose"  # "Help me choose": opens the platform advisor's modal
VIEW_FEEDBACK = "platbot.feedback_comment"  # the modal a 👎 opens: "what was wrong?"
FEEDBACK_BLOCK, FEEDBACK_INPUT = "what", "comment"
COMMENT_CHARS = 1000  # "Ask the platform team", under a decline or a did-you-mean
# Action ids carry a suffix because they must be unique within a block.
SHOW_TOPIC_ACTIONS = re.compile(r"^platbot\.(?:pick|seealso|related):\d+$")
FEEDBACK_ACTIONS = re.compile(r"^platbot\.feedback:(?:up|down)$")

Vote = Literal["up", "down"]
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")  # fullmatch: `$` would let "U123\n" through


def escape(text: str) -> str:
    """Slack's three entities, `&` first: `<!channel>` then shows as typed and pings no one."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Message:
    """Blocks plus the plain-text fallback that notifications and screen readers use."""

    blocks: tuple[Block, ...]
    text: str

    def as_kwargs(self) -> dict[str, Any]:
        """Arguments for chat.postMessage, respond() and friends; validates every block."""
        return {"blocks": [block.to_dict() for block in self.blocks], "text": self.text}

    def as_home_view(self) -> dict[str, Any]:
        return {"type": "home", "blocks": [block.to_dict() for block in self.blocks]}


@dataclass(frozen=True)
class TopicRef:
    """What a button needs to answer its click: topic, language, the asker's question, and
    the recorded question it belongs to (`ref`, for the curator store; empty when not kept)."""

    topic_id: str
    lang: Lang
    question: str = ""
    ref: str = ""

    def to_value(self) -> str:
        # Stripped, so that a ref read back from its value writes the same value again.
        question = _one_line(printable(self.question))[:ECHO_CHARS].rstrip()
        while True:
            fields: dict[str, str] = {"t": self.topic_id, "l": self.lang, "q": question}
            if self.ref:
                fields["r"] = self.ref[:REF_CHARS]
            value = json.dumps(
                fields,
                ensure_ascii=False,
                separators=(",", ":"),
            )
            if len(value) <= BUTTON_VALUE_CHARS:
                return value
            question = question[: len(question) - (len(value) - BUTTON_VALUE_CHARS)].rstrip()

    @classmethod
    def from_value(cls, value: str | None) -> TopicRef | None:
        """The ref in a button value, or None for anything platbot did not write."""
        try:
            data = json.loads(value or "")
        except (ValueError, RecursionError):  # "[[[[..." nests deeper than the parser recurses
            return None
        if not isinstance(data, dict):
            return None
        topic_id, lang, question, ref = data.get("t"), data.get("l"), data.get("q", ""), data.get("r", "")
        if not isinstance(topic_id, str) or lang not in LANGS or not isinstance(question, str):
            return None
        return cls(topic_id, lang, question, ref[:REF_CHARS] if isinstance(ref, str) else "")


# --- replies to a question ----------------------------------------------------------------


def reply(
    kb: KnowledgeBase,
    result: MatchResult,
    question: str,
    *,
    command: str,
    private: bool = False,
    ref: str = "",
    escalate: bool = False,
) -> Message:
    """The reply to one question: help when it is empty, a greeting back, else the answer,
    the choices, or a decline.

    `private` is for the slash command's ephemeral reply: it echoes the question (Slack does
    not show the command text) and offers "Share in channel". `ref` names the recorded
    question, carried by every button so a click is recorded against it. `escalate` adds
    "Ask the platform team" where platbot has no answer (a decline, a did-you-mean).
    """
    if not question.strip():
        return help_message(kb, result.lang, command=command)
    if result.topic is not None:
        see_also = tuple(s.topic for s in result.see_also)
        return answer_message(
            kb, result.topic, result.lang, question=question, private=private, see_also=see_also, ref=ref
        )
    if result.outcome == "smalltalk":
        return smalltalk_message(kb, result.lang, command=command)
    if result.suggestions:
        return did_you_mean_message(kb, result, question, private=private, ref=ref, escalate=escalate)
    return decline_message(kb, question, result.lang, command=command, ref=ref, escalate=escalate)


def answer_message(
    kb: KnowledgeBase,
    topic: Topic,
    lang: Lang,
    *,
    question: str = "",
    private: bool = False,
    see_also: Sequence[Topic] = (),
    ref: str = "",
) -> Message:
    """The answer; other topics that fit the question too ("See also") come before the
    topic's own related ones, as buttons that carry the question along."""
    blocks: list[Block] = [_header(topic.title_in(lang))]
    if private and question.strip():
        blocks.append(_context(kb.message("you_asked", lang, question=_echo(question))))
    blocks += _answer_body(kb, topic, lang, see_also=see_also, question=question if private else "", ref=ref)
    blocks += _advisor_offer(kb, topic, lang)
    blocks.append(_feedback_actions(kb, topic, lang, share_question=question if private else None, ref=ref))
    fallback = _answer_fallback(topic, lang)
    if see_also:
        titles = ", ".join(t.title_in(lang) for t in see_also[:MAX_RELATED])
        fallback = _clip(f"{fallback}\n{kb.message('see_also', lang)}: {titles}", SECTION_CHARS)
    return _message(blocks, fallback)


def shared_message(kb: KnowledgeBase, topic: Topic, lang: Lang, *, user_id: str, question: str = "") -> Message:
    """An answer posted for everyone after "Share in channel", naming who asked."""
    if _USER_ID.fullmatch(user_id):
        if question.strip():
            credit = kb.message("asked_by", lang, user=user_id, question=_echo(question))
        else:
            credit = kb.message("shared_by", lang, user=user_id)
        blocks: list[Block] = [_context(credit), _header(topic.title_in(lang))]
    else:
        credit, blocks = "", [_header(topic.title_in(lang))]
    blocks += _answer_body(kb, topic, lang)
    blocks += _advisor_offer(kb, topic, lang)
    blocks.append(_feedback_actions(kb, topic, lang, share_question=None))
    fallback = f"{credit}\n{_answer_fallback(topic, lang)}" if credit else _answer_fallback(topic, lang)
    return _message(blocks, fallback)


def did_you_mean_message(
    kb: KnowledgeBase,
    result: MatchResult,
    question: str,
    *,
    private: bool = False,
    ref: str = "",
    escalate: bool = False,
) -> Message:
    """Buttons for the plausible topics instead of a guess, under the question as typed."""
    lang = result.lang
    lead = kb.message("clarify", lang)
    buttons = [
        _button(
            s.topic.title_in(lang),
            f"{ACTION_PICK}:{i}",
            TopicRef(s.topic.id, lang, question if private else "", ref).to_value(),
        )
        for i, s in enumerate(result.suggestions[:MAX_RELATED])
    ]
    if escalate:
        buttons.append(_escalate_button(kb, lang, question, ref))
    blocks: list[Block] = [
        _section(lead),
        _context(kb.message("you_asked", lang, question=_echo(question))),
        ActionsBlock(elements=buttons),
    ]
    titles = "\n".join(f"• {escape(s.topic.title_in(lang))}" for s in result.suggestions)
    return _message(blocks, f"{lead}\n{titles}")


def decline_message(
    kb: KnowledgeBase, question: str, lang: Lang, *, command: str, ref: str = "", escalate: bool = False
) -> Message:
    lead = f"{kb.message('unknown', lang)} {kb.message('ask_hint', lang)}"
    blocks: list[Block] = [
        _section(lead),
        _context(kb.message("you_asked", lang, question=_echo(question))),
        _context(kb.message("help_hint", lang, command=command)),
    ]
    if escalate:
        blocks.append(ActionsBlock(elements=[_escalate_button(kb, lang, question, ref)]))
    return _message(blocks, lead)


def _escalate_button(kb: KnowledgeBase, lang: Lang, question: str, ref: str) -> ButtonElement:
    # The question goes along: the platform team needs the asker's own words (no topic: none fits).
    return _button(kb.message("escalate", lang), ACTION_ESCALATE, TopicRef("", lang, question, ref).to_value())


def escalation_message(kb: KnowledgeBase, lang: Lang, *, user_id: str, question: str, where: str) -> Message:
    """What the platform team's channel gets when someone asks for a person."""
    text = kb.message("escalated", lang, user=user_id, question=_echo(question), where=where)
    return _message([_section(text)], text)


def smalltalk_message(kb: KnowledgeBase, lang: Lang, *, command: str) -> Message:
    """A greeting or a thanks: greet back, say what platbot answers and how to ask."""
    text = kb.message("smalltalk", lang)
    return _message([_section(text), _context(kb.message("help_hint", lang, command=command))], text)


def notice(kb: KnowledgeBase, key: str, lang: Lang, **values: object) -> Message:
    """A one-line message from knowledge/messages.yaml."""
    text = kb.message(key, lang, **values)
    return _message([_section(text)], text)


def feedback_thanks(kb: KnowledgeBase, lang: Lang, vote: Vote) -> Message:
    return notice(kb, f"feedback_thanks_{vote}", lang)


def feedback_modal(kb: KnowledgeBase, lang: Lang, ref_value: str) -> dict[str, Any]:
    """The modal a 👎 opens: one optional text box. It carries the button's value, so what is
    written (or the modal's closing) is recorded against the same question."""
    view = View(
        type="modal",
        callback_id=VIEW_FEEDBACK,
        title=PlainTextObject(text=_clip(kb.message("feedback_modal_title", lang), 24)),
        submit=PlainTextObject(text=_clip(kb.message("feedback_modal_submit", lang), 24)),
        close=PlainTextObject(text=_clip(kb.message("feedback_modal_close", lang), 24)),
        notify_on_close=True,  # a skipped modal is still a 👎
        private_metadata=ref_value,
        blocks=[
            InputBlock(
                block_id=FEEDBACK_BLOCK,
                label=PlainTextObject(text=_clip(kb.message("feedback_modal_label", lang), 2000)),
                hint=PlainTextObject(text=_clip(kb.message("feedback_modal_hint", lang), 2000)),
                element=PlainTextInputElement(action_id=FEEDBACK_INPUT, multiline=True, max_length=COMMENT_CHARS),
                optional=True,
            )
        ],
    )
    return view.to_dict()


def feedback_comment(view: Mapping[str, Any]) -> str | None:
    """The text written in the feedback modal, or None."""
    try:
        value = view["state"]["values"][FEEDBACK_BLOCK][FEEDBACK_INPUT]["value"]
    except (KeyError, TypeError):
        return None
    if not isinstance(value, str):
        return None
    return value.strip()[:COMMENT_CHARS] or None


def error_message(kb: KnowledgeBase, lang: Lang) -> Message:
    return notice(kb, "error", lang)


# --- help and App Home --------------------------------------------------------------------


def help_message(kb: KnowledgeBase, lang: Lang, *, command: str) -> Message:
    """Usage and the topic list, as `/platform help` shows it."""
    usage = kb.message("usage", lang, command=command)
    blocks: list[Block] = [
        _header(kb.message("usage_title", lang)),
        _section(usage),
        DividerBlock(),
        _header(kb.message("topics_title", lang)),
    ]
    blocks += _topic_sections(kb, (lang,), MAX_BLOCKS - len(blocks))
    titles = ", ".join(t.title_in(lang) for t in kb.topics)
    return _message(blocks, _clip(f"{usage}\n\n{kb.message('topics_title', lang)}: {titles}", SECTION_CHARS))


def home_view(kb: KnowledgeBase, *, command: str) -> Message:
    """The App Home tab, in both languages: Slack does not say which one the viewer reads."""
    blocks: list[Block] = [_header("platbot")]
    for lang in LANGS:
        blocks += [
            _section(kb.message("ask_hint", lang)),
            _header(kb.message("usage_title", lang)),
            _section(kb.message("usage", lang, command=command)),
            choose_button(kb, lang),
            _header(kb.message("examples_title", lang)),
            _section("\n".join(f"• {escape(q)}" for q in _examples(kb, lang)) or "•"),
            DividerBlock(),
        ]
    blocks.append(_header(" / ".join(kb.message("topics_title", lang) for lang in LANGS)))
    blocks += _topic_sections(kb, LANGS, MAX_HOME_BLOCKS - len(blocks))
    return _message(blocks, kb.message("ask_hint", "en"), limit=MAX_HOME_BLOCKS)


def _examples(kb: KnowledgeBase, lang: Lang) -> list[str]:
    """The first example question of one topic per area: a spread, and stable across loads."""
    firsts = [topics[0].questions[lang][0] for topics in kb.areas().values() if topics]
    return firsts[:MAX_EXAMPLES]


def _topic_sections(kb: KnowledgeBase, langs: Sequence[Lang], budget: int) -> list[Block]:
    """Topics grouped by area, packed into sections; past `budget` blocks, a count of the rest."""
    sections: list[Block] = []
    areas = list(kb.areas().items())
    for n, (area, topics) in enumerate(areas):
        name = " / ".join(escape(area_name(kb, area, lang)) for lang in langs)
        lines = [f"*{name}*"] + [f"• {_topic_line(t, langs)}" for t in topics]
        for chunk in _chunks(lines, SECTION_CHARS):
            if len(sections) == budget - 1:
                rest = sum(len(ts) for _, ts in areas[n:])
                sections.append(_context(kb.message("more_topics", langs[0], count=rest)))
                return sections
            sections.append(_section(chunk))
    return sections


def _topic_line(topic: Topic, langs: Sequence[Lang]) -> str:
    first, *others = (escape(topic.title_in(lang)) for lang in langs)
    return first + "".join(f"  _{other}_" for other in others)


def area_name(kb: KnowledgeBase, area: str, lang: Lang) -> str:
    """The area's display name from messages, or its folder name if nobody named it yet."""
    try:
        return kb.message(f"area.{area}", lang)
    except KeyError:
        return area.replace("-", " ").capitalize()


# --- building blocks ----------------------------------------------------------------------


def _answer_body(
    kb: KnowledgeBase, topic: Topic, lang: Lang, *, see_also: Sequence[Topic] = (), question: str = "", ref: str = ""
) -> list[Block]:
    blocks: list[Block] = [_section(chunk) for chunk in _chunks(topic.answer_in(lang).splitlines(), SECTION_CHARS)]
    if topic.links:
        blocks.append(docs_section(kb, topic.links, lang))
    see_also = [t for t in see_also if t.id != topic.id][:MAX_RELATED]
    if see_also:
        blocks.append(_context(kb.message("see_also", lang)))
        blocks.append(
            ActionsBlock(
                elements=[
                    _button(t.title_in(lang), f"{ACTION_SEE_ALSO}:{i}", TopicRef(t.id, lang, question, ref).to_value())
                    for i, t in enumerate(see_also)
                ]
            )
        )
    shown = {t.id for t in see_also}
    related = [r for r in (kb.get(i) for i in topic.related) if r is not None and r.id not in shown][:MAX_RELATED]
    if related:
        blocks.append(_context(kb.message("related", lang)))
        blocks.append(
            ActionsBlock(
                elements=[
                    _button(r.title_in(lang), f"{ACTION_RELATED}:{i}", TopicRef(r.id, lang, ref=ref).to_value())
                    for i, r in enumerate(related)
                ]
            )
        )
    return blocks


def _advisor_offer(kb: KnowledgeBase, topic: Topic, lang: Lang) -> list[Block]:
    """ "Help me choose" under an answer about choosing a platform; nothing under the others."""
    return [choose_button(kb, lang)] if topic.area == CHOOSING_AREA else []


def choose_button(kb: KnowledgeBase, lang: Lang) -> ActionsBlock:
    """ "Help me choose": opens the platform advisor (bot/render/advice.py), for answers about
    choosing a platform and for App Home. Its value carries the language and no answers yet."""
    value = encode_answers({}, lang)
    return ActionsBlock(elements=[_button(kb.message("advisor_button", lang), ACTION_CHOOSE, value, style="primary")])


def encode_answers(answers: Mapping[str, Sequence[str]], lang: Lang, **extra: str) -> str:
    """The advisor's answers and language as a short JSON string (a button value holds 2,000
    characters): `{"l": "en", "a": "workloads=web_api,batch_hpc;operators=nobody"}`."""
    fields = {"l": lang, "a": ";".join(f"{q}={','.join(a)}" for q, a in answers.items()), **extra}
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[:BUTTON_VALUE_CHARS]


def docs_section(kb: KnowledgeBase, links: Sequence[Link], lang: Lang) -> SectionBlock:
    """ "Docs" and the links under it, each title escaped (a `|` would end Slack's link label)."""
    lines = "\n".join(f"• <{link.url}|{escape(link.title).replace('|', '¦')}>" for link in links)
    return _section(f"*{kb.message('docs', lang)}*\n{lines}")


def _feedback_actions(kb: KnowledgeBase, topic: Topic, lang: Lang, share_question: str | None, ref: str = "") -> Block:
    value = TopicRef(topic.id, lang, ref=ref).to_value()
    buttons = [
        _button(kb.message("feedback_up", lang), f"{ACTION_FEEDBACK}:up", value),
        _button(kb.message("feedback_down", lang), f"{ACTION_FEEDBACK}:down", value),
    ]
    if share_question is not None:
        share_ref = TopicRef(topic.id, lang, share_question, ref).to_value()
        buttons.append(_button(kb.message("share", lang), ACTION_SHARE, share_ref, style="primary"))
    return ActionsBlock(elements=buttons)


def _answer_fallback(topic: Topic, lang: Lang) -> str:
    return _clip(f"{topic.title_in(lang)}\n{topic.answer_in(lang)}", SECTION_CHARS)


def _message(blocks: list[Block], text: str, limit: int = MAX_BLOCKS) -> Message:
    if len(blocks) > limit:  # the builders stay within the limit; this is the last guard
        blocks = blocks[:limit]
    return Message(tuple(blocks), text)


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=_clip(_one_line(text), HEADER_CHARS), emoji=True))


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(mrkdwn, SECTION_CHARS)))


def _context(mrkdwn: str) -> ContextBlock:
    # verbatim: Slack must not turn words in echoed text into links or mentions.
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(mrkdwn, SECTION_CHARS), verbatim=True)])


def _button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=_clip(_one_line(text), BUTTON_TEXT_CHARS), emoji=True),
        action_id=action_id,
        value=value,
        style=style,
    )


def _echo(question: str) -> str:
    """User text made safe to show: printable, one line, clipped, then escaped (so no entity is cut)."""
    return escape(_clip(_one_line(printable(question)), ECHO_CHARS))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _chunks(lines: Iterable[str], limit: int) -> list[str]:
    """Join lines into texts of at most `limit` characters, breaking only between lines."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = _clip(line, limit)
    if current:
        chunks.append(current)
    return chunks
