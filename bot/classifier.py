"""A multinomial naive Bayes classifier over words, word pairs and character n-grams.

The learned half of platbot's ranking. Trained from the example questions in milliseconds
(it only counts), it generalises in ways the lexical and fuzzy scores do not: character
n-grams forgive typos and inflections ("schedul", "スケジュ"), word pairs keep phrases
("task role"), and every example of a topic votes, not only the closest one. Features are
TF-IDF weighted and length-normalised before counting, which makes naive Bayes competitive
with logistic regression on short texts while staying pure Python.

Pure and deterministic: features in, log-scores out.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.normalize import Normalized

CHAR_SIZES = (3,)
ALPHA = 0.03  # additive smoothing, fitted by cross-validation with the rest of the matcher


def features(n: Normalized) -> Counter[str]:
    """What the classifier sees of a text: words, adjacent word pairs, products named, and the
    character 2-4-grams of the folded words (with a space on each side)."""
    bag: Counter[str] = Counter()
    tokens = n.tokens
    for token in tokens:
        bag["w:" + token] += 1
    for first, second in itertools.pairwise(tokens):
        bag["p:" + first + " " + second] += 1
    for entity in n.entities:
        bag["e:" + entity] += 1
    text = " " + " ".join(tokens) + " "
    for size in CHAR_SIZES:
        for i in range(len(text) - size + 1):
            gram = text[i : i + size]
            if gram.strip():
                bag["c:" + gram] += 1
    return bag


@dataclass(frozen=True)
class NaiveBayes:
    """log P(class | text) up to a constant, from TF-IDF weighted feature counts.

    `postings[feature]` maps each class whose examples hold the feature to
    log((count + α) / α); every other class gets 0 for it, so scoring a question costs one
    pass over its features' postings, not features x classes, and scoring a few classes
    costs a lookup per feature and class.
    """

    classes: tuple[str, ...]
    idf: Mapping[str, float]
    postings: Mapping[str, Mapping[int, float]]
    offsets: tuple[float, ...]  # per class: log α - log(total weight + α · vocabulary size)

    @classmethod
    def fit(cls, examples: Iterable[tuple[Counter[str], str]], alpha: float = ALPHA) -> NaiveBayes:
        rows = list(examples)
        classes = tuple(sorted({label for _, label in rows}))
        index = {label: i for i, label in enumerate(classes)}
        document_frequency: Counter[str] = Counter()
        for bag, _ in rows:
            document_frequency.update(bag.keys())
        n = len(rows)
        idf = {f: math.log((1 + n) / (1 + df)) + 1.0 for f, df in document_frequency.items()}
        weights: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        totals = [0.0] * len(classes)
        for bag, label in rows:
            vector = _tfidf(bag, idf)
            c = index[label]
            for feature, value in vector.items():
                weights[feature][c] += value
                totals[c] += value
        vocabulary = len(weights)
        log_alpha = math.log(alpha)
        postings = {
            feature: {c: math.log(w + alpha) - log_alpha for c, w in sorted(per_class.items())}
            for feature, per_class in weights.items()
        }
        offsets = tuple(log_alpha - math.log(total + alpha * vocabulary) for total in totals)
        return cls(classes, idf, postings, offsets)

    def log_scores(self, bag: Counter[str]) -> list[float]:
        """For each class (in `classes` order), log P(class | text) plus a shared constant."""
        vector = _tfidf(bag, self.idf)
        mass = sum(vector.values())
        scores = [mass * offset for offset in self.offsets]
        for feature, value in vector.items():
            for c, weight in self.postings[feature].items():
                scores[c] += value * weight
        return scores

    def log_scores_of(self, bag: Counter[str], classes: Iterable[int]) -> dict[int, float]:
        """The same scores for a few classes only: what ranking candidates needs, far cheaper
        than all classes when the text is long."""
        vector = _tfidf(bag, self.idf)
        mass = sum(vector.values())
        postings = [(self.postings[f], value) for f, value in vector.items()]
        return {c: mass * self.offsets[c] + sum(p.get(c, 0.0) * v for p, v in postings) for c in classes}

    def likely(self, bag: Counter[str], k: int) -> list[int]:
        """The k classes that the text's words, word pairs and products point to most, a cheap
        first pass (character n-grams, most of the features, are left out)."""
        return top(self.log_scores(Counter({f: n for f, n in bag.items() if not f.startswith("c:")})), k)


def _tfidf(bag: Mapping[str, int], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear term frequency times IDF, L2-normalised; features never seen are dropped."""
    vector = {f: (1.0 + math.log(count)) * idf[f] for f, count in bag.items() if f in idf}
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {f: v / norm for f, v in vector.items()} if norm else {}


def top(scores: Sequence[float], k: int) -> list[int]:
    """Indexes of the k highest scores, best first, ties by index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
