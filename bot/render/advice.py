"""The platform advisor's questions and advice, as Block Kit (a modal, a message) and as text.

Pure functions like bot/render/blocks.py: rules and advice in, views and messages out. The
answers travel in the modal's private_metadata and in the Share button's value, encoded
compactly (`workloads=web_api,batch_hpc;operators=nobody`), so no state is kept on a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    CheckboxesElement,
    DividerBlock,
    InputBlock,
    Option,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.advisor.decide import Advice, AnswersError, Ranked, checked_answers
from bot.advisor.model import Answers, Rules
from bot.kb.model import LANGS, KnowledgeBase, Lang
from bot.render.blocks import (
    ACTION_RELATED,
    MAX_RELATED,
    Message,
    TopicRef,
    _button,
    _clip,
    _context,
    _header,
    _message,
    _section,
    docs_section,
    encode_answers,
    escape,
)
from bot.render.text import mrkdwn_to_plain

ACTION_SHARE_ADVICE = "platbot.share_advice"
VIEW_ADVISOR = "platbot.advisor"
ANSWER_ACTION = "answer"  # each question's input element; its block id is the question id
MAX_RUNNERS_UP = 3
MODAL_TEXT_CHARS = 24  # a modal's title, submit and close texts
OPTION_TEXT_CHARS = 75
NONE_ANSWER = "none"  # in a `multiple` question, "none of these": alone or not at all


# --- answers, carried in a modal's metadata or a button's value --------------------------------


def decode_answers(rules: Rules, value: str | None) -> tuple[Answers, Lang, dict[str, str]] | None:
    """What encode_answers wrote, checked against the rules; None for anything else."""
    try:
        data = json.loads(value or "")
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("l") not in LANGS or not isinstance(data.get("a"), str):
        return None
    raw: dict[str, object] = {}
    for part in filter(None, data["a"].split(";")):
        question, _, picked = part.partition("=")
        raw[question] = [p for p in picked.split(",") if p]
    try:
        answers = checked_answers(rules, raw)
    except AnswersError:  # written under other rules: a team's layer changed since
        return None
    extra = {k: v for k, v in data.items() if k not in ("l", "a") and isinstance(v, str)}
    return answers, data["l"], extra


# --- the modal ----------------------------------------------------------------------------------


def advisor_modal(kb: KnowledgeBase, rules: Rules, lang: Lang, metadata: str) -> dict[str, Any]:
    """One optional input per question: a select for one answer, checkboxes for several."""
    blocks: list[Block] = [_context(kb.message("advisor_modal_intro", lang))]
    for question in rules.questions:
        choices = [
            Option(text=PlainTextObject(text=_clip(a.label[lang], OPTION_TEXT_CHARS)), value=a.id)
            for a in question.answers
        ]
        element = (
            CheckboxesElement(action_id=ANSWER_ACTION, options=choices[:10])
            if question.multiple
            else StaticSelectElement(
                action_id=ANSWER_ACTION,
                placeholder=PlainTextObject(text=kb.message("advisor_modal_skip", lang)),
                options=choices[:100],
            )
        )
        label = PlainTextObject(text=_clip(question.prompt[lang], 2000))
        blocks.append(InputBlock(block_id=question.id, label=label, element=element, optional=True))
    view = View(
        type="modal",
        callback_id=VIEW_ADVISOR,
        title=PlainTextObject(text=_clip(kb.message("advisor_modal_title", lang), MODAL_TEXT_CHARS)),
        submit=PlainTextObject(text=_clip(kb.message("advisor_modal_submit", lang), MODAL_TEXT_CHARS)),
        close=PlainTextObject(text=_clip(kb.message("advisor_modal_close", lang), MODAL_TEXT_CHARS)),
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


def answers_from_view(rules: Rules, view: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The answers picked in a submitted advisor modal (unknown ids are left out)."""
    values = (view.get("state") or {}).get("values") or {}
    answers: dict[str, tuple[str, ...]] = {}
    for question in rules.questions:
        state = (values.get(question.id) or {}).get(ANSWER_ACTION) or {}
        if question.multiple:
            picked = [o.get("value") for o in state.get("selected_options") or [] if isinstance(o, dict)]
        else:
            picked = [(state.get("selected_option") or {}).get("value")]
        ids = tuple(a for a in picked if isinstance(a, str) and question.answer(a) is not None)
        if ids:
            answers[question.id] = ids
    return answers


def modal_errors(kb: KnowledgeBase, rules: Rules, answers: Answers, advice: Advice, lang: Lang) -> dict[str, str]:
    """{question id: what is wrong} for answers that cannot stand, shown under those inputs."""
    errors: dict[str, str] = {}
    for question in rules.questions:
        picked = answers.get(question.id, ())
        if question.multiple and NONE_ANSWER in picked and len(picked) > 1:
            none = question.answer(NONE_ANSWER)
            label = none.label[lang] if none else NONE_ANSWER
            errors[question.id] = kb.message("advisor_error_none_with_others", lang, none=label)
    if not errors and advice.first is None:
        for ruled in advice.ruled_out:
            for reason in ruled.reasons:
                errors.setdefault(reason.question.id, kb.message("advisor_error_dead_end", lang))
    return errors


# --- the advice ---------------------------------------------------------------------------------


def advice_message(
    kb: KnowledgeBase,
    rules: Rules,
    advice: Advice,
    lang: Lang,
    *,
    shareable: bool = False,
    shared_by: str = "",
) -> Message:
    """The recommendation: the first choice with its reasons and running cost, what goes beside
    it, the runners-up, what was ruled out and why, what would change the call, and buttons to
    the topics to read next."""
    blocks: list[Block] = []
    if shared_by:
        blocks.append(_context(kb.message("advisor_shared_by", lang, user=shared_by)))
    blocks.append(_header(kb.message("advisor_title", lang)))
    blocks.append(_context(_answered_line(kb, rules, advice.answers, lang)))
    first = advice.first
    if first is None:
        blocks.append(_section(kb.message("advisor_nothing", lang)))
        blocks += [_section(line) for line in _ruled_out_lines(advice, lang)]
        return _message(blocks, kb.message("advisor_nothing", lang))
    blocks.append(_section(f"*{escape(first.option.title[lang])}*\n{escape(first.option.summary[lang])}"))
    if why := _reason_lines(first, lang, positive=True):
        blocks.append(_section(f"*{kb.message('advisor_why', lang)}*\n" + "\n".join(why)))
    if against := _reason_lines(first, lang, positive=False):
        blocks.append(_section(f"*{kb.message('advisor_against', lang)}*\n" + "\n".join(against)))
    blocks.append(_section(f"*{kb.message('advisor_cost', lang)}*\n{escape(first.option.running_cost[lang])}"))
    if advice.pairings:
        lines = [
            "• " + kb.message("advisor_pairing", lang, option=p.option.title[lang], work=_joined(p.work, lang))
            for p in advice.pairings
        ]
        blocks.append(_section(f"*{kb.message('advisor_alongside', lang)}*\n" + "\n".join(lines)))
    if runners_up := [_runner_up_line(r, lang) for r in advice.ranked[1 : 1 + MAX_RUNNERS_UP]]:
        blocks.append(_section(f"*{kb.message('advisor_runners_up', lang)}*\n" + "\n".join(runners_up)))
    if ruled_out := _ruled_out_lines(advice, lang):
        blocks.append(_context(f"*{kb.message('advisor_ruled_out', lang)}*\n" + "\n".join(ruled_out)))
    if advice.changes:
        changes = "\n".join(_change_lines(kb, advice, lang))
        blocks.append(_context(f"*{kb.message('advisor_changes', lang)}*\n{changes}"))
    if first.option.links:
        blocks.append(docs_section(kb, first.option.links, lang))
    next_topics = [t for t in (kb.get(i) for i in first.option.next_topics) if t is not None][:MAX_RELATED]
    if next_topics:
        blocks.append(_context(kb.message("advisor_next", lang)))
        buttons = [
            _button(t.title_in(lang), f"{ACTION_RELATED}:{i}", TopicRef(t.id, lang).to_value())
            for i, t in enumerate(next_topics)
        ]
        blocks.append(ActionsBlock(elements=buttons))
    if shareable:
        value = encode_answers(advice.answers, lang)
        blocks.append(DividerBlock())
        blocks.append(
            ActionsBlock(elements=[_button(kb.message("share", lang), ACTION_SHARE_ADVICE, value, style="primary")])
        )
    fallback = f"{kb.message('advisor_title', lang)}: {first.option.title[lang]}"
    return _message(blocks, fallback)


def advice_text(kb: KnowledgeBase, rules: Rules, advice: Advice, lang: Lang, color: bool = False) -> str:
    """The same advice for a terminal: the message's sections as plain text, links spelled out."""
    message = advice_message(kb, rules, advice, lang)
    parts: list[str] = []
    for block in message.blocks:
        data = block.to_dict()
        if data["type"] in ("header", "section"):
            parts.append(data["text"]["text"])
        elif data["type"] == "context":
            parts.append("\n".join(e["text"] for e in data["elements"]))
        elif data["type"] == "actions":
            titles = [e["text"]["text"] for e in data["elements"]]
            ids = [TopicRef.from_value(e.get("value")) for e in data["elements"]]
            parts.append(
                "\n".join(f"  - {t} ({r.topic_id})" if r else f"  - {t}" for t, r in zip(titles, ids, strict=True))
            )
    return mrkdwn_to_plain("\n\n".join(parts), color)


def _answered_line(kb: KnowledgeBase, rules: Rules, answers: Answers, lang: Lang) -> str:
    if not answers:
        return kb.message("advisor_default", lang)
    picked = []
    for question in rules.questions:
        labels = [a.label[lang] for i in answers.get(question.id, ()) if (a := question.answer(i)) is not None]
        if labels:
            picked.append(escape(" + ".join(labels)))
    return kb.message("advisor_answered", lang, answers=" · ".join(picked))


def _reason_lines(ranked: Ranked, lang: Lang, *, positive: bool) -> list[str]:
    reasons = ranked.for_it if positive else ranked.against_it
    seen: set[str] = set()
    lines = []
    for reason in reasons:
        text = reason.effect.reason[lang]
        if text in seen:
            continue
        seen.add(text)
        lines.append(f"• {escape(text)} _({escape(reason.answer.label[lang])})_")
    return lines


def _runner_up_line(ranked: Ranked, lang: Lang) -> str:
    top = ranked.for_it[0].effect.reason[lang] if ranked.for_it else ranked.option.summary[lang]
    return f"• *{escape(ranked.option.title[lang])}*: {escape(top)}"


def _ruled_out_lines(advice: Advice, lang: Lang) -> list[str]:
    return [
        f"• {escape(r.option.title[lang])}: {escape(r.reasons[0].effect.reason[lang])} "
        f"_({escape(r.reasons[0].answer.label[lang])})_"
        for r in advice.ruled_out
    ]


def _change_lines(kb: KnowledgeBase, advice: Advice, lang: Lang) -> list[str]:
    key = {False: "advisor_change", True: "advisor_change_adds"}
    return [
        "• "
        + kb.message(
            key[c.adds],
            lang,
            question=escape(c.question.prompt[lang]),
            answer=escape(c.answer.label[lang]),
            option=escape(c.winner.title[lang]),
        )
        for c in advice.changes
    ]


def _joined(work: tuple[Any, ...], lang: Lang) -> str:
    labels = [a.label[lang] for a in work]
    if lang == "en":  # mid-sentence: "AWS Batch for long batch or HPC jobs"
        labels = [label[0].lower() + label[1:] if label[1:2].islower() else label for label in labels]
    return escape((" / " if lang == "en" else "・").join(labels))


def advice_data(advice: Advice, lang: Lang) -> dict[str, Any]:
    """The advice as plain data, for `platbot choose --json`: every line with the answer it came from."""

    def reasons(items: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [
            {
                "question": r.question.id,
                "answer": r.answer.id,
                "weight": r.effect.weight,
                "excludes": r.effect.excludes,
                "reason": r.effect.reason[lang],
            }
            for r in items
        ]

    return {
        "answers": {q: list(a) for q, a in advice.answers.items()},
        "lang": lang,
        "ranked": [
            {"option": r.option.id, "title": r.option.title[lang], "score": r.score, "reasons": reasons(r.reasons)}
            for r in advice.ranked
        ],
        "ruled_out": [
            {"option": r.option.id, "title": r.option.title[lang], "reasons": reasons(r.reasons)}
            for r in advice.ruled_out
        ],
        "alongside": [{"option": p.option.id, "for": [a.id for a in p.work]} for p in advice.pairings],
        "changes": [
            {"question": c.question.id, "answer": c.answer.id, "adds": c.adds, "first": c.winner.id}
            for c in advice.changes
        ],
        "next_topics": list(advice.first.option.next_topics) if advice.first else [],
    }
