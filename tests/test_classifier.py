"""The naive Bayes classifier: features, fitting by counting, and scoring."""

from __future__ import annotations

from bot.classifier import NaiveBayes, features, top
from bot.kb.model import Vocabulary
from bot.normalize import Normalizer

NORMALIZE = Normalizer(Vocabulary(entities={"ecs": ("ecs",), "eks": ("eks",)}, synonyms={"schedule": ("cron",)}))


def bag(text: str):
    return features(NORMALIZE(text))


def test_features_hold_words_pairs_products_and_character_trigrams() -> None:
    f = bag("cron on ECS")
    assert {"w:schedule", "w:ecs", "p:schedule on", "e:ecs", "c: ec", "c:ecs"} <= set(f)


def test_a_fitted_model_prefers_the_class_whose_examples_share_the_words() -> None:
    model = NaiveBayes.fit(
        [
            (bag("run an ecs task every night"), "schedule"),
            (bag("cron for ecs tasks"), "schedule"),
            (bag("pass secrets to an ecs task"), "secrets"),
            (bag("ecs task secrets from secrets manager"), "secrets"),
        ]
    )
    scores = model.log_scores(bag("nightly cron for my ecs task"))
    assert model.classes[top(scores, 1)[0]] == "schedule"
    scores = model.log_scores(bag("where do ecs secrets go"))
    assert model.classes[top(scores, 1)[0]] == "secrets"


def test_typos_still_share_character_trigrams() -> None:
    model = NaiveBayes.fit([(bag("schedule a container"), "a"), (bag("rotate a password"), "b")])
    assert model.classes[top(model.log_scores(bag("schedulle")), 1)[0]] == "a"


def test_unknown_features_are_ignored_and_scores_are_deterministic() -> None:
    model = NaiveBayes.fit([(bag("alpha beta"), "a"), (bag("gamma delta"), "b")])
    assert model.log_scores(bag("zzzz qqqq")) == model.log_scores(bag("zzzz qqqq"))
    assert top([1.0, 3.0, 3.0, 2.0], 3) == [1, 2, 3]
