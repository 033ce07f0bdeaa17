"""Measuring the matcher: verdicts, cross-validation, typos, and the floors it must hold.

The floors are what the matcher reached on the labelled sets in tests/eval/ that it was tuned
on (the blind sets' first-run figures are in the README) and by cross-validation. Raise them
when the matcher gets better; never lower them to make a change pass, unless the change is
better over all the sets, and then say so beside the floor.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from bot.evaluate import (
    Case,
    EvalSetError,
    Report,
    evaluate,
    evaluate_cv,
    format_report,
    judge,
    load_cases,
    report_json,
    with_typos,
)
from bot.evaluate.cases import word_count
from bot.evaluate.crossval import folds
from bot.evaluate.noise import add_typos
from bot.kb.load import load_knowledge
from bot.matcher import Matcher, MatchResult, Suggestion
from bot.normalize import fold
from tests.conftest import REPO

EVAL_DIR = REPO / "tests" / "eval"
# What the matcher reached on the dev and round-1 to 16 sets (tuned on), on the blind set
# (measured once, frozen; none while a round is being written) and by 3-fold
# cross-validation, a little below, so that a regression fails and noise does not. Each refit
# moves the answer bar on a flat curve (0.75-0.825 so far; README, "How the decisions were
# fitted"), trading a few right answers on older sets for wrong ones; a floor that came down
# says why beside it.
FLOORS = {
    # set: (answered right at least, answered wrong at most, out of scope not answered at least)
    # 0.98 not answered until the refit with round 20, which turned on answering with the
    # runner-up as "See also" (related 0.7): one more of dev's 130 out-of-scope questions
    # answered (3), for 1.7 points more right held out set by set.
    "dev": (0.92, 0.025, 0.97),
    "r1": (0.90, 0.02, 0.97),
    "r2": (0.93, 0.025, 0.93),
    # r3 0.94 and r6 0.85 until the refit with round 14: one and two questions fewer right,
    # while round 13 gained six (91.1%) and round 14 fifteen (86.0%).
    "r3": (0.93, 0.01, 0.97),
    "r4": (0.92, 0.015, 0.96),
    # 0.93 not answered until the refit with the perceptron's lead: one more uncovered question
    # answered (135 of 146 not), for 1.7 points more right over the sets' 5-fold estimate;
    # 0.92 until the refit with round 21: one more (134 of 146 not), while held out set by
    # set the fit gains 0.8 points right at the same wrong rate.
    "r5": (0.86, 0.025, 0.91),
    "r6": (0.84, 0.025, 0.97),  # first run 80.3% / 2.2% / 97.2% not answered
    "r7": (0.87, 0.03, 0.96),  # first run 81.7% / 2.2% / 98.6% not answered
    "r8": (0.89, 0.015, 0.93),  # first run 87.7% / 0.9% / 88.7% not answered
    # r9 0.83 right and r11 0.96 not answered until the refit with round 16: one question
    # fewer right here, two more out-of-scope answered on r11, while held out set by set
    # the fit answers 89.3% right, 1.2% wrong, 2.6% of out-of-scope.
    "r9": (0.82, 0.02, 0.94),  # first run 82.6% / 1.7% / 94.4% not answered
    "r10": (0.84, 0.015, 0.92),  # first run 86.4% / 1.1% / 93.0% not answered
    # 0.02 wrong until round 12 joined the fit with 14 out-of-scope examples: one more wrong
    # answer here (11 of 536), for 0.6 points fewer out-of-scope answered held out set by set.
    "r11": (0.84, 0.025, 0.95),  # first run 84.3% / 1.3% / 97.2% not answered
    "r12": (0.85, 0.02, 0.95),  # first run 87.1% / 1.3% / 95.8% not answered
    "r13": (0.88, 0.02, 0.95),  # first run 90.0% / 1.7% / 96.5% not answered
    "r14": (0.84, 0.03, 0.97),  # first run 83.2% / 2.8% / 97.1% not answered
    "r15": (0.86, 0.025, 0.97),  # first run 84.1% / 2.4% / 95.6% not answered
    "r16": (0.87, 0.025, 0.96),  # first run 83.2% / 2.0% / 96.7% not answered
    "r17": (0.87, 0.02, 0.96),  # first run 82.1% / 3.3% / 93.8% not answered
    "r18": (0.87, 0.015, 0.95),  # first run 84.3% / 0.7% / 96.1% not answered
    "r19": (0.91, 0.025, 0.96),  # first run 89.9% / 2.6% / 97.4% not answered
    "r20": (0.92, 0.02, 0.92),  # first run 86.3% / 1.8% / 94.6% not answered
    "r21": (0.91, 0.015, 0.96),  # first run 88.4% / 1.8% / 95.1% not answered
    "r22": (0.91, 0.02, 0.92),  # first run 86.5% / 1.8% / 93.7% not answered
    "r23": (0.87, 0.04, 0.93),  # first run 82.9% / 4.1% / 90.2% not answered
    "r24": (0.79, 0.04, 0.88),  # first run 81.1% / 3.5% / 90.8% not answered
    "r25": (0.85, 0.035, 0.91),  # first run 87.2% / 2.6% / 93.2% not answered
    "blind": (0.87, 0.025, 0.92),  # round 26, never tuned on: first run 89.8% / 1.6% / 94.8% not answered
}
# 3-fold over the example questions: right at least, wrong at most. Held-out examples are short
# and often sit between two topics; the decisions are fitted on questions as people ask them.
CV_FLOORS = (0.64, 0.05)  # 3-fold: 67.4% / 4.1% with the decisions fitted on dev and rounds 1-25


# --- verdicts -------------------------------------------------------------------------------


@pytest.fixture
def two_topics(kb_dir: Path, write_topic) -> Matcher:
    subjects = {
        "ecs-cron": ("run ecs task on schedule", "ECSタスクを定期実行"),
        "eks-secrets": ("eks pod secrets", "EKSのPodでシークレット"),
    }
    for topic_id, (en, ja) in subjects.items():
        write_topic(
            "area", topic_id, questions={"en": [f"{en} {n}" for n in range(8)], "ja": [f"{ja} {n}" for n in range(5)]}
        )
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    return Matcher(kb)


def result(matcher: Matcher, topic: str | None = None, choices: tuple[str, ...] = ()) -> MatchResult:
    kb = matcher.kb
    outcome = "answer" if topic else "clarify" if choices else "decline"
    suggestions = tuple(Suggestion(kb.get(c), 0.3) for c in choices)  # type: ignore[arg-type]
    return MatchResult("q", "en", outcome, kb.get(topic) if topic else None, 0.5, suggestions)


@pytest.mark.parametrize(
    ("expect", "topic", "choices", "verdict"),
    [
        ("ecs-cron", "ecs-cron", (), "right"),
        ("ecs-cron", "eks-secrets", (), "wrong"),
        ("ecs-cron", None, ("eks-secrets", "ecs-cron"), "offered"),
        ("ecs-cron", None, ("eks-secrets",), "missed"),
        ("ecs-cron", None, (), "missed"),
        (None, None, (), "declined"),
        (None, None, ("ecs-cron",), "clarified"),
        (None, "ecs-cron", (), "answered"),
    ],
)
def test_each_reply_gets_one_verdict(two_topics, expect, topic, choices, verdict) -> None:
    case = Case("q", expect, "casual", "set")
    assert judge(case, result(two_topics, topic, choices)) == verdict


def test_a_wrong_answer_that_links_the_expected_topic_is_counted_apart(two_topics) -> None:
    linking = replace(two_topics.kb.get("eks-secrets"), related=("ecs-cron",))
    report = Report()
    report.add(Case("q", "ecs-cron", "casual", "set"), MatchResult("q", "en", "answer", linking, 0.9))
    report.add(Case("q", "ecs-cron", "casual", "set"), result(two_topics, "eks-secrets"))
    assert report.total.counts["wrong"] == 2
    assert report.linked == 1
    assert "link the expected topic (see also, related): 1/2" in format_report(report)
    assert json.loads(report_json(report))["wrong_linked"] == 1


def test_a_report_counts_by_language_length_category_and_set(two_topics) -> None:
    cases = [
        Case("run my ecs task on a schedule", "ecs-cron", "casual", "a"),
        Case("EKSのPodからシークレットを読みたい", "eks-secrets", "japanese", "b"),
        Case("what is for lunch", None, "out-of-scope", "a"),
    ]
    report = evaluate(two_topics, cases)
    assert report.total.in_scope == 2 and report.total.out_of_scope == 1
    assert set(report.groups["lang"]) == {"en", "ja"}
    assert set(report.groups["set"]) == {"a", "b"}
    assert report.groups["category"]["out-of-scope"].out_of_scope == 1


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("ecs cron?", "short"),
        ("how do I run a nightly job on ECS with retries and alerts", "medium"),
        ("word " * 40, "long"),
    ],
)
def test_length_is_counted_in_words(text: str, length: str) -> None:
    assert Case(text, None, "x", "s").length == length


def test_japanese_length_counts_characters() -> None:
    assert word_count("ECSでバッチを定期実行したい") == 1 + 5  # 1 Latin word, 13 Japanese characters / 2.5


# --- cross-validation -----------------------------------------------------------------------


def examples(kb) -> list[tuple[str | None, str]]:
    """Every (topic id, question) pair; out-of-scope examples with no id."""
    pairs = [(t.id, q) for t in kb.topics for lang in ("en", "ja") for q in t.questions[lang]]
    return pairs + [(None, q) for lang in ("en", "ja") for q in kb.declined.get(lang, ())]


def test_every_example_question_is_held_out_exactly_once_and_never_seen(real_kb) -> None:
    asked: list[tuple[str | None, str]] = []
    for train, held_out in folds(real_kb, 4, seed=1):
        pairs = [(c.expect, c.question) for c in held_out]
        assert set(examples(train)).isdisjoint(pairs)
        asked += pairs
    assert sorted(asked, key=str) == sorted(examples(real_kb), key=str)
    assert any(expect is None for expect, _ in asked)


def test_folds_are_the_same_for_the_same_seed(real_kb) -> None:
    def first_fold(seed: int) -> list[str]:
        return [c.question for c in next(folds(real_kb, 5, seed))[1]]

    assert first_fold(3) == first_fold(3) != first_fold(4)


# --- typos ----------------------------------------------------------------------------------


def test_typos_change_the_requested_number_of_words() -> None:
    text = "how do I schedule nightly jobs on ECS with retries"
    typed = add_typos(text, 2, random.Random(0))
    changed = [a for a, b in zip(text.split(), typed.split(), strict=True) if a != b]
    assert len(changed) == 2 and all(len(w) >= 4 for w in changed)


def test_typos_leave_japanese_alone_and_repeat_with_the_seed() -> None:
    cases = [Case("ECSでバッチを定期実行したい", "x", "j", "s"), Case("schedule nightly container jobs", "x", "c", "s")]
    once, again = with_typos(cases, 2, seed=5), with_typos(cases, 2, seed=5)
    assert once == again and once[0] == cases[0] and once[1].question != cases[1].question


# --- the labelled sets ----------------------------------------------------------------------


def test_a_malformed_eval_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("q: not a list\n")
    with pytest.raises(EvalSetError, match="expected a list"):
        load_cases([bad])


def as_typed(text: str) -> str:
    """The words as typed, ignoring case, width, spacing and punctuation."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


def test_eval_questions_are_not_copies_of_example_questions(real_kb) -> None:
    examples = {as_typed(q) for t in real_kb.topics for lang in ("en", "ja") for q in t.questions[lang]}
    copies = [c.question for c in load_cases([EVAL_DIR]) if as_typed(c.question) in examples]
    assert copies == []


def test_every_expected_topic_exists(real_kb) -> None:
    missing = {c.expect for c in load_cases([EVAL_DIR]) if c.expect and real_kb.get(c.expect) is None}
    assert missing == set()


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_labelled_sets_stay_above_their_floors(real_matcher, name: str) -> None:
    report = evaluate(real_matcher, load_cases([EVAL_DIR / name]))
    right, wrong, not_answered = FLOORS[name]
    assert report.accuracy >= right and report.wrong_rate <= wrong
    assert report.total.not_answered >= not_answered


def test_cross_validation_stays_above_its_floor(real_kb) -> None:
    report = evaluate_cv(real_kb, 3)
    right, wrong = CV_FLOORS
    assert report.accuracy >= right and report.wrong_rate <= wrong
