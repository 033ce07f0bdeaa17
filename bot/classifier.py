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

import functools
import heapq
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter, sub
from typing import Any

from bot.normalize import MARKERS, Normalized
from bot.packing import INDEXES, Keys, Packer, Sections, index_code

CHAR_SIZES = (3,)
ALPHA = 0.03
MAX_FEATURES = 100
PERCEPTRON_EPOCHS = 5


def features(n: Normalized) -> Counter[str]:
    """What the classifier sees of a text: words, adjacent word pairs, products named, and the
    character trigrams of the folded words (with a space on each side)."""
    bag: Counter[str] = Counter()
    # The decline markers ("another platform", "an AWS service outside containers") are for
    # the rules in matcher.py; a question they let through ("moving from Heroku to ECS")
    # must not lean out of scope for having said "Heroku".
    tokens = [t for t in n.tokens if t not in MARKERS]
    for token in tokens:
        bag["w:" + token] += 1
    for first, second in itertools.pairwise(tokens):
        bag["p:" + first + " " + second] += 1
    for entity in n.entities - MARKERS:
        bag["e:" + entity] += 1
    for token in tokens:
        bag.update(_grams(token))
    return bag


@functools.lru_cache(maxsize=65_536)
def _grams(token: str) -> tuple[str, ...]:
    """A token's character n-grams, with a space on each side (cached: words repeat)."""
    text = f" {token} "
    return tuple("c:" + text[i : i + size] for size in CHAR_SIZES for i in range(len(text) - size + 1))


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

    def to_data(self, pack: Packer) -> list[Any]:
        """The fitted model as plain data, for the on-disk index (bot/cache.py): classes,
        offsets, then sections (bot/packing.py) of each feature's IDF, and the postings (see
        `pack_postings`)."""
        features = list(self.postings)
        return [
            list(self.classes),
            list(self.offsets),
            pack.numbers("d", [self.idf[f] for f in features]),
            *pack_postings(self.postings, pack),
        ]

    @classmethod
    def from_data(cls, data: Sequence[Any], sections: Sections) -> NaiveBayes:
        """The model `to_data` described. Data of another shape raises TypeError or ValueError;
        the long runs are only checked for their lengths (the cache's checksum guards the rest)."""
        classes, offsets, idf, *postings_data = data
        postings = unpack_postings(postings_data, sections)
        idf_values = sections.numbers(idf, "d")
        if not (_only(classes, str) and _only(offsets, float)):
            raise TypeError("not the data of a NaiveBayes model")
        if not (len(offsets) == len(classes) and len(idf_values) == len(postings)):
            raise ValueError("not the data of a NaiveBayes model")
        return cls(tuple(classes), postings.column(idf_values), postings, tuple(offsets))

    def vector(self, bag: Counter[str]) -> dict[str, float]:
        """A text's features as the model weighs them (TF-IDF, L2-normalised). A long text
        keeps its MAX_FEATURES heaviest features: what it drops are common character trigrams,
        which weigh little and cost the most to score."""
        return _tfidf(bag, self.idf, MAX_FEATURES)

    def log_scores(self, vector: Mapping[str, float]) -> list[float]:
        """For each class (in `classes` order), log P(class | text) plus a shared constant."""
        mass = sum(vector.values())
        scores = [mass * offset for offset in self.offsets]
        for feature, value in vector.items():
            for c, weight in self.postings[feature].items():
                scores[c] += value * weight
        return scores

    def log_scores_of(self, vector: Mapping[str, float], classes: Iterable[int]) -> dict[int, float]:
        """The same scores for a few classes only: what ranking candidates needs, far cheaper
        than all classes when the text is long."""
        mass = sum(vector.values())
        wanted = set(classes)
        scores = {c: mass * self.offsets[c] for c in wanted}
        for feature, value in vector.items():
            posting = self.postings[feature]
            # Walk whichever is shorter: a word's few classes, or the few classes wanted.
            if len(posting) < len(wanted):
                for c, weight in posting.items():
                    if c in wanted:
                        scores[c] += value * weight
            else:
                for c in wanted:
                    weight = posting.get(c)
                    if weight is not None:
                        scores[c] += value * weight
        return scores

    def likely(self, vector: Mapping[str, float], k: int) -> list[int]:
        """The k classes that the text's words, word pairs and products point to most: a cheap
        first pass over all classes that leaves out the character n-grams (most of the
        features, and the ones whose postings are long). Candidates, not the final scores."""
        return top(self.log_scores({f: v for f, v in vector.items() if f[0] != "c"}), k)


@dataclass(frozen=True)
class Perceptron:
    """An averaged multiclass perceptron over naive Bayes's vectors: a second, discriminative
    opinion on which class a text belongs to.

    Naive Bayes weighs each feature by how often a class's examples use it; the perceptron
    learns, from its own mistakes on the examples, which features tell a class from the ones
    it is confused with. Where the two agree, an answer is right more often than the
    classifier's probabilities alone say (the confidence model reads the agreement). Trained
    in a few passes over the examples, in a fixed order: the same examples give the same
    weights.
    """

    weights: Mapping[str, Mapping[int, float]]  # feature -> class -> weight, averaged over training

    @classmethod
    def fit(cls, rows: Sequence[tuple[Mapping[str, float], int]], epochs: int = PERCEPTRON_EPOCHS) -> Perceptron:
        """Fitted on (vector, class) rows; like `best`, it reads the words, word pairs and
        products of each vector, not its character n-grams: with them, training took ten
        times as long for no better opinion."""
        rows = [(_words(vector), label) for vector, label in rows]
        current: dict[str, dict[int, float]] = {f: {} for vector, _ in rows for f in vector}
        # The average over every step, kept the lazy way: each update also adds step x update to
        # `stepped`, and the average is current - stepped / steps (Daumé's trick).
        stepped: dict[str, dict[int, float]] = {f: {} for f in current}
        order = list(range(len(rows)))
        shuffle = random.Random(0).shuffle
        step = 1
        for _ in range(epochs):
            shuffle(order)
            for k in order:
                vector, label = rows[k]
                guess = _best(_scores(current, vector))
                if guess != label:
                    for feature, value in vector.items():
                        now, then = current[feature], stepped[feature]
                        now[label] = now.get(label, 0.0) + value
                        then[label] = then.get(label, 0.0) + step * value
                        if guess >= 0:
                            now[guess] = now.get(guess, 0.0) - value
                            then[guess] = then.get(guess, 0.0) - step * value
                step += 1
        weights = {
            feature: {c: w - stepped[feature][c] / step for c, w in sorted(per_class.items())}
            for feature, per_class in current.items()
        }
        return cls({f: {c: w for c, w in per_class.items() if w} for f, per_class in weights.items()})

    def best(self, vector: Mapping[str, float]) -> int:
        """The class the text's features point to most, or -1 when none scores above zero."""
        return _best(self.scores(vector))

    def scores(self, vector: Mapping[str, float]) -> dict[int, float]:
        """Each class's score for the text; a class missing scores 0 (no feature speaks for it)."""
        return _scores(self.weights, _words(vector))

    def to_data(self, pack: Packer) -> list[Any]:
        """The weights as plain data, packed like naive Bayes's postings."""
        return pack_postings(self.weights, pack)

    @classmethod
    def from_data(cls, data: Sequence[Any], sections: Sections) -> Perceptron:
        return cls(unpack_postings(data, sections))


def _words(vector: Mapping[str, float]) -> dict[str, float]:
    """The perceptron's view of a vector: its words, word pairs and products."""
    return {f: v for f, v in vector.items() if f[0] != "c"}


def _scores(weights: Mapping[str, Mapping[int, float]], vector: Mapping[str, float]) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for feature, value in vector.items():
        posting = weights.get(feature)
        if posting:
            for c, weight in posting.items():
                scores[c] += value * weight
    return scores


def _best(scores: Mapping[int, float]) -> int:
    """The highest-scoring class (ties to the lowest index), or -1 when none is above zero."""
    best, top = -1, 0.0
    for c, score in scores.items():
        if score > top or (score == top and best >= 0 and c < best):
            best, top = c, score
    return best


def _tfidf(bag: Mapping[str, int], idf: Mapping[str, float], limit: int | None = None) -> dict[str, float]:
    """Sublinear term frequency times IDF, L2-normalised; features never seen are dropped, and
    past `limit` features the lightest too (equal weights keep the text's order, so the same
    text always keeps the same features)."""
    vector = {f: (1.0 + math.log(n) if n > 1 else 1.0) * idf[f] for f, n in bag.items() if f in idf}
    if limit is not None and len(vector) > limit:
        vector = dict(sorted(vector.items(), key=itemgetter(1), reverse=True)[:limit])
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {f: v / norm for f, v in vector.items()} if norm else {}


class _PackedPostings(Mapping[str, Mapping[int, float]]):
    """The postings of a model read back by `from_data`, each unpacked into the dict `fit`
    makes the first time it is asked for: a question needs a few hundred of tens of
    thousands, and unpacking them all was most of the cost of a cached start. Features are
    found through the index's own hash table (bot/packing.py's `Keys`), not a dict of them all."""

    def __init__(self, features: Keys, ends: Sequence[int], classes: Sequence[int], weights: Sequence[float]) -> None:
        self._features = features
        self._ends = ends
        self._classes = classes
        self._weights = weights
        self._unpacked: dict[str, dict[int, float]] = {}

    # The dict of postings unpacked so far is asked first, inline: a matcher read from the
    # index looks up a few hundred features a question, and a call more each was 5% of a match.

    def __getitem__(self, feature: str) -> dict[int, float]:
        posting = self._unpacked.get(feature)
        if posting is None:
            posting = self._unpack(feature)
            if posting is None:
                raise KeyError(feature)
        return posting

    def get(self, feature: str, default: Any = None) -> Any:
        # Mapping's own get goes through a KeyError for every feature the model never saw.
        posting = self._unpacked.get(feature)
        if posting is None:
            posting = self._unpack(feature)
            if posting is None:
                return default
        return posting

    def __contains__(self, feature: object) -> bool:
        return feature in self._unpacked or (isinstance(feature, str) and self._features.index(feature) >= 0)

    def _unpack(self, feature: object) -> dict[int, float] | None:
        if not isinstance(feature, str) or (i := self._features.index(feature)) < 0:
            return None
        start, end = self._ends[i - 1] if i else 0, self._ends[i]
        posting = dict(zip(self._classes[start:end], self._weights[start:end], strict=True))
        self._unpacked[feature] = posting
        return posting

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def lengths(self) -> dict[str, int]:
        """feature -> how many classes its posting holds, without unpacking any."""
        ends = self._ends
        return dict(zip(self._features, map(sub, ends, itertools.chain((0,), ends)), strict=False))

    def classes(self) -> Sequence[int]:
        """Every posting's classes, end to end."""
        return self._classes

    def column(self, values: Sequence[float]) -> _PackedColumn:
        """One number per feature, in this order (naive Bayes's IDF), looked up by feature."""
        return _PackedColumn(self._features, values)


class _PackedColumn(Mapping[str, float]):
    """feature -> number, read from a packed run through the postings' own keys; what was
    read is kept in a dict, asked first (the IDF of every feature of every question)."""

    def __init__(self, features: Keys, values: Sequence[float]) -> None:
        self._features = features
        self._values = values
        self._read: dict[str, float] = {}

    def __getitem__(self, feature: str) -> float:
        value = self._read.get(feature)
        if value is None:
            i = self._features.index(feature)
            if i < 0:
                raise KeyError(feature)
            value = self._read[feature] = self._values[i]
        return value

    def __contains__(self, feature: object) -> bool:
        return feature in self._read or (isinstance(feature, str) and self._features.index(feature) >= 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)


def posting_lengths(postings: Mapping[str, Mapping[int, float]]) -> dict[str, int]:
    """feature -> how many classes its posting holds; packed postings stay packed."""
    if isinstance(postings, _PackedPostings):
        return postings.lengths()
    return {feature: len(posting) for feature, posting in postings.items()}


def _only(values: object, kind: type) -> bool:
    """A list of `kind` and nothing else."""
    return isinstance(values, list) and set(map(type, values)) <= {kind}


def pack_postings(postings: Mapping[str, Mapping[int, float]], pack: Packer) -> list[Any]:
    """feature -> class -> weight as sections: the features, where each feature's posting
    ends, and the postings' classes and weights end to end."""
    features = list(postings)
    rows = [postings[f] for f in features]
    classes = [c for row in rows for c in row]
    return [
        pack.keys(features),
        pack.numbers("i", list(itertools.accumulate(map(len, rows)))),
        pack.numbers(index_code(max(classes, default=0)), classes),
        pack.numbers("d", [w for row in rows for w in row.values()]),
    ]


def unpack_postings(data: Sequence[Any], sections: Sections) -> _PackedPostings:
    """The postings `pack_postings` wrote, unpacked lazily; another shape raises TypeError or
    ValueError."""
    features, ends, classes, weights = data
    features = sections.keys(features)
    ends, classes = sections.numbers(ends, "i"), sections.numbers(classes, INDEXES)
    weights = sections.numbers(weights, "d")
    if not (len(features) == len(ends) and len(classes) == len(weights) == (ends[-1] if len(ends) else 0)):
        raise ValueError("not the data of postings")
    return _PackedPostings(features, ends, classes, weights)


def top(scores: Sequence[float], k: int) -> list[int]:
    """Indexes of the k highest scores, best first, ties by index."""
    return heapq.nsmallest(k, range(len(scores)), key=lambda i: (-scores[i], i))
