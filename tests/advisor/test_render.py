"""The advisor's modal and advice as Block Kit, and the answers carried in metadata and buttons."""

from __future__ import annotations

import json
from typing import Any

from bot.advisor import Rules, advise, checked_answers
from bot.kb.model import KnowledgeBase
from bot.render.advice import (
    ACTION_SHARE_ADVICE,
    ANSWER_ACTION,
    advice_message,
    advisor_modal,
    answers_from_view,
    decode_answers,
    modal_errors,
)
from bot.render.blocks import ACTION_RELATED, BUTTON_VALUE_CHARS, MAX_BLOCKS, TopicRef, encode_answers

BIG = {
    "workloads": ["web_api", "queue_worker", "scheduled_jobs", "batch_hpc", "event_functions", "ml_inference"],
    "work_duration": "minutes",
    "traffic": "spiky",
    "k8s_experience": "some",
    "operators": "each_team",
    "k8s_ecosystem": "none",
    "portability": "none",
    "hardware": ["arm"],
    "ec2_management": "some",
}


def submitted(picks: dict[str, Any]) -> dict[str, Any]:
    """A view_submission's `view.state` as Slack sends it for the advisor modal."""
    values: dict[str, Any] = {}
    for question, picked in picks.items():
        if isinstance(picked, list):
            state = {"type": "checkboxes", "selected_options": [{"value": p} for p in picked]}
        else:
            state = {"type": "static_select", "selected_option": {"value": picked}}
        values[question] = {ANSWER_ACTION: state}
    return {"state": {"values": values}}


def test_the_modal_asks_every_question_optionally(kb: KnowledgeBase, rules: Rules) -> None:
    view = advisor_modal(kb, rules, "en", "meta")
    inputs = [b for b in view["blocks"] if b["type"] == "input"]

    assert [b["block_id"] for b in inputs] == [q.id for q in rules.questions]
    assert all(b["optional"] for b in inputs)
    kinds = {b["block_id"]: b["element"]["type"] for b in inputs}
    assert kinds["workloads"] == "checkboxes" and kinds["operators"] == "static_select"
    assert view["private_metadata"] == "meta" and view["callback_id"] == "platbot.advisor"


def test_the_modal_speaks_japanese(kb: KnowledgeBase, rules: Rules) -> None:
    view = advisor_modal(kb, rules, "ja", "")
    assert view["title"]["text"] == "プラットフォーム選び"
    assert view["blocks"][1]["label"]["text"] == "何を動かしますか?"


def test_answers_are_read_back_from_a_submitted_modal(rules: Rules) -> None:
    picks = {"workloads": ["web_api", "made_up"], "operators": "nobody", "traffic": None}
    assert answers_from_view(rules, submitted(picks)) == {"workloads": ("web_api",), "operators": ("nobody",)}


def test_none_with_another_hardware_answer_is_an_error_on_that_input(kb: KnowledgeBase, rules: Rules) -> None:
    answers = checked_answers(rules, {"hardware": ["none", "gpu"]})
    errors = modal_errors(kb, rules, answers, advise(rules, answers), "en")
    assert errors == {"hardware": "“None” cannot be picked with other answers."}


def test_answers_survive_a_trip_through_a_button_value(rules: Rules) -> None:
    answers = checked_answers(rules, BIG)
    value = encode_answers(answers, "ja", c="C0123ABCD")
    assert len(value) <= BUTTON_VALUE_CHARS
    assert decode_answers(rules, value) == (answers, "ja", {"c": "C0123ABCD"})
    assert decode_answers(rules, '{"l":"en","a":"operators=everyone"}') is None  # other rules' answers
    assert decode_answers(rules, "not json") is None


def test_the_advice_stays_within_slack_limits_and_links_the_next_topics(kb: KnowledgeBase, rules: Rules) -> None:
    advice = advise(rules, checked_answers(rules, BIG))
    message = advice_message(kb, rules, advice, "en", shareable=True)
    payload = message.as_kwargs()  # slack_sdk validates each block's own limits

    assert len(payload["blocks"]) <= MAX_BLOCKS
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    topics = [TopicRef.from_value(e["value"]) for e in buttons if e["action_id"].startswith(ACTION_RELATED)]
    assert advice.first is not None
    assert [t.topic_id for t in topics if t] == list(advice.first.option.next_topics)[: len(topics)]
    (share,) = [e for e in buttons if e["action_id"] == ACTION_SHARE_ADVICE]
    assert decode_answers(rules, share["value"]) == (advice.answers, "en", {})
    assert message.text.startswith("Where to run it: ")


def test_shared_advice_names_who_shared_it_and_has_no_share_button(kb: KnowledgeBase, rules: Rules) -> None:
    advice = advise(rules, checked_answers(rules, {"workloads": ["web_api"]}))
    payload = advice_message(kb, rules, advice, "ja", shared_by="U0123ABCD").as_kwargs()
    assert payload["blocks"][0]["elements"][0]["text"] == "<@U0123ABCD> さんがプラットフォームのおすすめを共有しました"
    assert ACTION_SHARE_ADVICE not in json.dumps(payload)
