"""Typo correction: towards the knowledge base's own words, never away from a real one."""

from __future__ import annotations

import pytest

from bot.spelling import Speller

TOPICS_PER_WORD = {
    "schedule": 5,
    "secret": 4,
    "cluster": 9,
    "clsuter": 2,  # an example's own typo, in two topics
    "container": 6,
    "contaner": 1,  # an example's typo, in one topic
    "launch": 2,
    "lambda": 4,
    "ecs": 30,
    "eks": 20,
    "task": 12,
    "permission": 7,
    "attach": 3,
    "attack": 1,  # a real word in one topic
    "karpenter": 3,
}


@pytest.fixture
def speller() -> Speller:
    return Speller(TOPICS_PER_WORD, vocabulary={"task", "secret", "cluster", "ecs", "eks"}, names={"ecs", "eks"})


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("schedlue", "schedule"),  # two letters swapped
        ("lamdba", "lambda"),
        ("cluter", "cluster"),  # the word more topics use, not the example's own typo
        ("permisions", "permission"),
        ("karpentr", "karpenter"),
        ("tsak", "task"),  # a short word, towards the vocabulary only
    ],
)
def test_a_typo_becomes_the_word_it_misspells(speller: Speller, typed: str, meant: str) -> None:
    assert speller.correct(typed) == meant


@pytest.mark.parametrize(
    "typed",
    [
        "lunch",  # one letter from "launch", but a short word that is no vocabulary word
        "ecs",  # known words stay
        "eck",  # too short to tell
        "attack",  # a real word of its own topic
        "quantum",  # nothing near
        "ｅｃｓ",  # not plain ASCII letters
    ],
)
def test_real_words_and_unknown_ones_stay(speller: Speller, typed: str) -> None:
    assert speller.correct(typed) is None


def test_an_examples_own_typo_reads_as_the_word(speller: Speller) -> None:
    assert speller.known_typos == {"contaner": "container"}
    assert speller.correct("contaner") == "container"
