"""K-fold cross-validation over the knowledge base's own example questions.

Each fold's questions leave their topics (and the out-of-scope examples theirs), a matcher is
built on what remains, and the held-out questions are asked. Unlike a labelled set, nobody
tuned on these answers: it predicts how platbot does on questions nobody has written yet,
and it is the data the matcher's weights and thresholds are fitted on (`platbot tune`).

Folds are drawn per topic and language, so every topic keeps most of its examples in every
fold; the draw is seeded, so two runs give the same figures.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace

from bot.evaluate.cases import Case
from bot.kb.model import LANGS, KnowledgeBase
from bot.matcher import Matcher

SOURCE = "cross-validation"
DECLINED_KEY = ""  # the out-of-scope examples fold like a topic with no id


def folds(kb: KnowledgeBase, k: int, seed: int = 0) -> Iterator[tuple[KnowledgeBase, list[Case]]]:
    """(the knowledge base without fold i's questions, those questions as cases), i = 0..k-1."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    rng = random.Random(seed)
    fold_of: dict[tuple[str, str, int], int] = {}
    for topic in sorted(kb.topics, key=lambda t: t.id):
        for lang in LANGS:
            order = list(range(len(topic.questions[lang])))
            rng.shuffle(order)
            offset = rng.randrange(k)  # so topics with few questions do not all miss the last folds
            for position, index in enumerate(order):
                fold_of[(topic.id, lang, index)] = (position + offset) % k
    for lang in LANGS:
        order = list(range(len(kb.declined.get(lang, ()))))
        rng.shuffle(order)
        for position, index in enumerate(order):
            fold_of[(DECLINED_KEY, lang, index)] = position % k
    for fold in range(k):
        topics = []
        held_out: list[Case] = []
        for topic in kb.topics:
            kept = {}
            for lang in LANGS:
                questions = topic.questions[lang]
                kept[lang] = tuple(q for i, q in enumerate(questions) if fold_of[(topic.id, lang, i)] != fold)
                held_out += [
                    Case(q, topic.id, f"cv-{lang}", SOURCE)
                    for i, q in enumerate(questions)
                    if fold_of[(topic.id, lang, i)] == fold
                ]
            topics.append(replace(topic, questions=kept))
        declined = {}
        for lang in LANGS:
            questions = kb.declined.get(lang, ())
            declined[lang] = tuple(q for i, q in enumerate(questions) if fold_of[(DECLINED_KEY, lang, i)] != fold)
            held_out += [
                Case(q, None, "cv-out-of-scope", SOURCE)
                for i, q in enumerate(questions)
                if fold_of[(DECLINED_KEY, lang, i)] == fold
            ]
        yield replace(kb, topics=tuple(topics), declined=declined), held_out


def cross_validate(
    kb: KnowledgeBase,
    k: int = 5,
    seed: int = 0,
    build: Callable[[KnowledgeBase], Matcher] = Matcher,
) -> Iterator[tuple[Matcher, list[Case]]]:
    """A matcher per fold, built by `build`, with the questions it never saw."""
    for train, held_out in folds(kb, k, seed):
        yield build(train), held_out
