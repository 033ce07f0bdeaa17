"""The classifiers: features, naive Bayes (fitting by counting, scoring) and the perceptron."""

from __future__ import annotations

import pytest

from bot.classifier import NaiveBayes, Perceptron, features, top
from bot.kb.model import Vocabulary
from bot.normalize import Normalizer
from bot.packing import Packer

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
    scores = model.log_scores(model.vector(bag("nightly cron for my ecs task")))
    assert model.classes[top(scores, 1)[0]] == "schedule"
    scores = model.log_scores(model.vector(bag("where do ecs secrets go")))
    assert model.classes[top(scores, 1)[0]] == "secrets"
    assert model.classes[model.likely(model.vector(bag("where do ecs secrets go")), 1)[0]] == "secrets"


def test_typos_still_share_character_trigrams() -> None:
    model = NaiveBayes.fit([(bag("schedule a container"), "a"), (bag("rotate a password"), "b")])
    assert model.classes[top(model.log_scores(model.vector(bag("schedulle"))), 1)[0]] == "a"


def test_scoring_a_few_classes_gives_the_same_scores_as_scoring_all() -> None:
    model = NaiveBayes.fit([(bag(f"topic {n} words {n}"), str(n)) for n in range(6)])
    vector = model.vector(bag("words 3 and topic 4"))
    everything = model.log_scores(vector)
    assert model.log_scores_of(vector, [3, 4]) == pytest.approx({3: everything[3], 4: everything[4]})


def test_unknown_features_are_ignored_and_scores_are_deterministic() -> None:
    model = NaiveBayes.fit([(bag("alpha beta"), "a"), (bag("gamma delta"), "b")])
    assert model.vector(bag("zzzz qqqq")) == {}
    assert model.log_scores({}) == [0.0, 0.0]
    assert top([1.0, 3.0, 3.0, 2.0], 3) == [1, 2, 3]


def words(text: str) -> dict[str, float]:
    return dict.fromkeys(bag(text), 1.0)


@pytest.fixture
def examples() -> list[tuple[dict[str, float], int]]:
    """Two classes that share most words: only "cron" and "secrets" tell them apart."""
    texts = [
        ("cron ecs task", 0),
        ("ecs task cron", 0),
        ("nightly cron ecs task", 0),
        ("secrets ecs task", 1),
        ("ecs task secrets", 1),
        ("ecs task secrets manager", 1),
    ]
    return [(words(t), label) for t, label in texts]


def test_the_perceptron_learns_the_words_that_tell_classes_apart(examples) -> None:
    learned = Perceptron.fit(examples)
    assert learned.best(words("cron for the ecs task")) == 0
    assert learned.best(words("the ecs task secrets")) == 1
    assert learned.best({"w:unseen": 1.0}) == -1  # no evidence, no opinion


def test_the_perceptron_is_deterministic_and_survives_its_data(examples) -> None:
    first, second = Perceptron.fit(examples), Perceptron.fit(examples)
    assert first.weights == second.weights
    pack = Packer()
    data = first.to_data(pack)
    again = Perceptron.from_data(data, pack.sections())
    assert dict(again.weights) == first.weights
    for text in ["cron ecs", "ecs secrets", "nothing here"]:
        assert again.best(words(text)) == first.best(words(text))


def test_naive_bayes_survives_its_data() -> None:
    model = NaiveBayes.fit([(bag(f"topic {n} words {n}"), str(n)) for n in range(300)])  # class indexes past 255
    pack = Packer()
    again = NaiveBayes.from_data(model.to_data(pack), pack.sections())
    assert (again.classes, dict(again.idf), dict(again.postings), again.offsets) == (
        model.classes,
        model.idf,
        model.postings,
        model.offsets,
    )
    vector = model.vector(bag("words 3 and topic 4"))
    assert again.log_scores(vector) == model.log_scores(vector)


def test_the_perceptron_refuses_data_of_another_shape() -> None:
    pack = Packer()
    data = [pack.strings(["w:a"]), pack.numbers("i", [1]), pack.numbers("B", []), pack.numbers("d", [])]
    with pytest.raises((TypeError, ValueError)):
        Perceptron.from_data(data, pack.sections())  # the one posting ends past the classes
    with pytest.raises((TypeError, ValueError)):
        Perceptron.from_data([["w:a"], "AQAAAAAAAAA=", "", ""], pack.sections())
