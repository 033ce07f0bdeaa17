"""`platbot tune`: weights and thresholds fitted by cross-validation, written for review."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.calibration import Calibration, Thresholds
from bot.evaluate import Case
from bot.kb.load import TUNING_FILE, load_knowledge
from bot.kb.model import LANGS
from bot.matcher import Matcher
from bot.tune import (
    GRID,
    PLATEAU,
    REACHES,
    Fit,
    Scorer,
    best_thresholds,
    collect,
    score,
    tune,
    tuning_yaml,
    value,
)
from tests.conftest import KNOWLEDGE

SUBJECTS = {
    "ecs-cron": ("run an ecs task on a schedule", "ECSタスクを定期実行"),
    "eks-secrets": ("read secrets manager from eks pods", "EKSのPodでシークレットを読む"),
    "lambda-layers": ("share code between lambda functions with layers", "Lambdaレイヤーでコードを共有"),
}
VARIANTS = (
    "how do I {}",
    "{} please",
    "best way to {}",
    "can we {} today",
    "{} in prod",
    "{} for our team",
    "is it possible to {}",
    "docs to {}",
    "we want to {}",
)


@pytest.fixture
def small_kb(kb_dir: Path, write_topic):
    for topic_id, (en, ja) in SUBJECTS.items():
        write_topic(
            "area",
            topic_id,
            questions={"en": [v.format(en) for v in VARIANTS], "ja": [f"{ja}{n}" for n in "一二三四五"]},
        )
    (kb_dir / "out-of-scope.yaml").write_text(
        "en: [what is for lunch, book a meeting room, fix my laptop wifi]\nja: [今日の天気]\n"
    )
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    return kb


def test_tuning_beats_the_defaults_on_its_own_folds(small_kb) -> None:
    tuning = tune(small_kb, k=3)
    samples = collect(small_kb, 3, 0, Calibration())
    assert value(tuning.cross_validated) >= value(score(samples, Matcher(small_kb), Calibration()))
    t = tuning.calibration.thresholds
    assert 0 < t.clarify < t.answer <= 1 and tuning.on_sets is None
    examples = sum(len(x.questions[lang]) for x in small_kb.topics for lang in LANGS) + 4
    assert tuning.examples == examples and 0 < tuning.ranked_first <= 1


def test_with_sets_the_decisions_are_fitted_on_them_and_measured_by_folds(small_kb) -> None:
    sets = [
        Case(f"{v.format(en)} today", topic_id, "paraphrase", "s")
        for topic_id, (en, _) in SUBJECTS.items()
        for v in VARIANTS[:5]
    ]
    sets += [Case(q, None, "out-of-scope", "s") for q in ("lunch menu", "fix the office printer", "weather tomorrow")]
    tuning = tune(small_kb, k=3, sets=[sets], names=["s"])
    assert tuning.on_sets is not None and tuning.held_out is not None and tuning.sets == ("s",)
    assert tuning.on_sets.questions == len(sets) and tuning.held_out.questions == len(sets)
    assert "held_out:" in tuning_yaml(tuning, 3, 0, "2026-11-30")


def test_with_several_sets_each_is_measured_with_decisions_fitted_on_the_others(small_kb) -> None:
    first = [
        Case(v.format(en), topic_id, "paraphrase", "a") for topic_id, (en, _) in SUBJECTS.items() for v in VARIANTS[:3]
    ]
    second = [
        Case(f"{v.format(en)} now", topic_id, "paraphrase", "b")
        for topic_id, (en, _) in SUBJECTS.items()
        for v in VARIANTS[3:6]
    ]
    second.append(Case("fix the office printer", None, "out-of-scope", "b"))
    tuning = tune(small_kb, k=3, sets=[first, second], names=["a", "b"])
    assert tuning.held_out is not None and tuning.held_out.questions == len(first) + len(second)
    assert 0 <= tuning.held_out.wrong <= 1 - tuning.held_out.right


def test_the_written_file_loads_back_as_the_same_calibration(small_kb, kb_dir: Path) -> None:
    tuning = tune(small_kb, k=3)
    (kb_dir / TUNING_FILE).write_text(tuning_yaml(tuning, 3, 0, "2026-11-30"))
    kb, problems = load_knowledge(kb_dir)
    loaded = Calibration.from_mapping(kb.tuning)
    assert problems == [] and loaded.thresholds == tuning.calibration.thresholds
    pairs = zip(loaded.ranking.weights, tuning.calibration.ranking.weights, strict=True)
    assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in pairs)


def test_value_prefers_declines_to_wrong_answers() -> None:
    careful = Fit(Calibration(), right=0.8, wrong=0.01, offered=0.1, declined=0.95, answered=0.01, questions=1)
    reckless = Fit(Calibration(), right=0.85, wrong=0.1, offered=0.0, declined=0.6, answered=0.3, questions=1)
    assert value(careful) > value(reckless)


def test_the_scorer_counts_what_score_counts(small_kb) -> None:
    matcher = Matcher(small_kb)
    samples = collect(small_kb, 3, 0, matcher.calibration)
    scorer = Scorer(samples, matcher, matcher.calibration)
    weights = [n % 3 for n in range(len(samples))]  # some questions twice, some left out
    rates = ("right", "wrong", "offered", "declined", "answered")
    for n, (answer, related, clarify, plausible) in enumerate(GRID[::97]):
        thresholds = Thresholds(answer, related, clarify, REACHES[n % len(REACHES)], plausible)
        expected = score(samples, matcher, replace(matcher.calibration, thresholds=thresholds))
        got = scorer.fit(thresholds)
        assert [getattr(got, r) for r in rates] == pytest.approx([getattr(expected, r) for r in rates])
    for point in scorer.grid(weights)[::50]:
        again = scorer.fit(point.calibration.thresholds, weights)
        assert [getattr(point, r) for r in rates] == pytest.approx([getattr(again, r) for r in rates])


def test_on_a_plateau_of_equal_value_the_thresholds_that_answer_most_win(small_kb) -> None:
    matcher = Matcher(small_kb)
    samples = collect(small_kb, 3, 0, matcher.calibration)
    scorer = Scorer(samples, matcher, matcher.calibration)
    chosen = scorer.fit(best_thresholds(scorer, [1] * len(samples)))
    best = value(chosen)
    for answer in (0.5, 0.7, 0.8, 0.9):
        if answer <= chosen.calibration.thresholds.clarify:
            continue
        other = score(
            samples,
            matcher,
            replace(chosen.calibration, thresholds=replace(chosen.calibration.thresholds, answer=answer)),
        )
        assert value(other) <= best + 1e-9
        if value(other) >= best - PLATEAU:
            assert other.right <= chosen.right


def test_a_tuning_value_that_is_not_a_number_is_a_problem(kb_dir: Path, write_topic) -> None:
    write_topic("area", "a")
    (kb_dir / TUNING_FILE).write_text("thresholds: {answer: high}\n")
    _, problems = load_knowledge(kb_dir)
    assert [p.code for p in problems] == ["KB003"] and "thresholds.answer" in problems[0].message


def test_the_bundled_tuning_was_fitted_on_the_current_questions(real_kb) -> None:
    """Edited the example questions? Run `platbot tune` and commit knowledge/tuning.yaml."""
    fitted = yaml.safe_load((KNOWLEDGE / TUNING_FILE).read_text())["fitted"]
    assert fitted["sets"]  # the bundled decisions were fitted on labelled questions
    questions = sum(len(t.questions[lang]) for t in real_kb.topics for lang in LANGS)
    questions += sum(len(real_kb.declined.get(lang, ())) for lang in LANGS)
    assert fitted["questions"] == questions
    assert Calibration.from_mapping(real_kb.tuning).thresholds != Thresholds()
