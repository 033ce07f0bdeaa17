"""The numbers that turn evidence into decisions, and how they are fitted.

platbot scores every candidate topic with two small logistic models:

- the *ranking* model weighs a candidate's evidence (lexical coverage, fuzzy similarity, the
  naive Bayes score, the product-name factor) into one logit; candidates are ranked by it,
  and its probability says whether a runner-up is plausible enough to offer;
- the *confidence* model reads the best candidate's own probability and its share among the
  candidates (in logs, so both must be high), how strongly the classifier leans to the
  out-of-scope class, whether the question is closer to the best topic's examples or to the
  out-of-scope ones, how much of the question that topic explains, how long the question is,
  whether it names an AWS container product, the classifier's lead, whether the classifier
  and the word overlap agree on the best, the perceptron's lead for it, its BM25 score and how
  much better it covers the products the question names than any runner-up
  (matcher.Evidence.confidence_features); it says how likely the best candidate is right. That
  probability is the `confidence` platbot reports;
- the *reach* model reads the same evidence and says how likely the right topic is among the
  few the bot would offer. When the best candidate is not likely enough to answer, it tells a
  toss-up between strong topics (offer them) from a question nothing answers (decline).

Both are fitted by `platbot tune` on cross-validation (questions the index never saw), with
the thresholds, and stored in `knowledge/tuning.yaml`. Fitting is Newton's method on a
handful of features: exact, deterministic and fast enough in pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

RANKING_FEATURES = ("lexical", "similarity", "bayes", "entity", "bm25")
CONFIDENCE_FEATURES = (
    "own",
    "share",
    "declined",
    "closer",
    "covered",
    "long",
    "aws",
    "margin",
    "agree_bayes",
    "agree_lexical",
    "similar",
    "learned",
    "bm25",
    "named",
)


@dataclass(frozen=True)
class Logistic:
    """P(y = 1 | x) = sigmoid(bias + weights . x)."""

    bias: float
    weights: tuple[float, ...]

    def logit(self, x: Sequence[float]) -> float:
        return self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))

    def probability(self, x: Sequence[float]) -> float:
        return sigmoid(self.logit(x))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Thresholds:
    """Decision bands on the confidence model's probability (and, for `plausible`, on the
    ranking model's probability of a runner-up)."""

    answer: float = 0.85  # answer outright at or above this
    related: float = 1.01  # answer, with the runner-up as "See also", when the two are related
    clarify: float = 0.4  # below this nothing is plausible: decline
    reach: float = 1.01  # ...unless the reach model is this sure the right topic is among the choices
    plausible: float = 0.1  # a runner-up worth a button (See also or did-you-mean)
    max_choices: int = 3


@dataclass(frozen=True)
class Calibration:
    """The defaults are rounded from a fit on the bundled knowledge base: a reasonable start for
    a knowledge base nobody has tuned yet."""

    ranking: Logistic = field(default_factory=lambda: Logistic(-20.0, (7.0, 2.0, 18.0, 0.0, 0.0)))
    confidence: Logistic = field(default_factory=lambda: Logistic(4.0, _padded(3.0, 4.0, -2.5, 3.0, -4.5)))
    reach: Logistic = field(default_factory=lambda: Logistic(4.0, _padded(3.0, 1.0, -2.5, 3.0, -4.5)))
    thresholds: Thresholds = field(default_factory=Thresholds)
    alpha: float = 0.03  # naive Bayes smoothing

    @classmethod
    def from_mapping(cls, data: Mapping[str, object] | None) -> Calibration:
        """Read the `knowledge/tuning.yaml` shape; anything missing keeps its default."""
        default = cls()
        if not data:
            return default
        ranking = _logistic(data.get("ranking"), RANKING_FEATURES, default.ranking)
        confidence = _logistic(data.get("confidence"), CONFIDENCE_FEATURES, default.confidence)
        reach = _logistic(data.get("reach"), CONFIDENCE_FEATURES, default.reach)
        given = data.get("thresholds")
        values = {f.name: getattr(default.thresholds, f.name) for f in fields(Thresholds)}
        if isinstance(given, Mapping):
            values |= {k: type(values[k])(v) for k, v in given.items() if k in values and _is_number(v)}
        alpha = data.get("alpha")
        alpha = float(alpha) if _is_number(alpha) else default.alpha
        return cls(ranking, confidence, reach, Thresholds(**values), alpha)

    def to_mapping(self) -> dict[str, object]:
        return {
            "alpha": self.alpha,
            "ranking": _named(self.ranking, RANKING_FEATURES),
            "confidence": _named(self.confidence, CONFIDENCE_FEATURES),
            "reach": _named(self.reach, CONFIDENCE_FEATURES),
            "thresholds": asdict(self.thresholds),
        }


def _padded(*weights: float) -> tuple[float, ...]:
    """Default confidence weights: the first features weighed, every later one 0 (a feature
    added to CONFIDENCE_FEATURES starts out ignored until `platbot tune` fits it)."""
    return weights + (0.0,) * (len(CONFIDENCE_FEATURES) - len(weights))


def _named(model: Logistic, names: Sequence[str]) -> dict[str, float]:
    """A model as tuning.yaml writes it: its bias and a weight per feature name."""
    return {"bias": model.bias, **dict(zip(names, model.weights, strict=True))}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _logistic(data: object, names: tuple[str, ...], default: Logistic) -> Logistic:
    if not isinstance(data, Mapping):
        return default
    bias = data.get("bias", default.bias)
    weights = tuple(data.get(n, w) for n, w in zip(names, default.weights, strict=True))
    if not all(_is_number(v) for v in (bias, *weights)):
        return default
    return Logistic(float(bias), tuple(float(w) for w in weights))


def fit_logistic(rows: Sequence[Sequence[float]], labels: Sequence[bool], l2: float = 1e-3) -> Logistic:
    """Maximum-likelihood logistic regression (a small L2 penalty keeps it finite when the
    classes separate), by Newton's method: a few iterations of a k x k solve."""
    k = len(rows[0]) + 1
    beta = [0.0] * k
    xs = [(1.0, *row) for row in rows]
    for _ in range(50):
        gradient = [-l2 * b for b in beta]
        hessian = [[(l2 if i == j else 0.0) for j in range(k)] for i in range(k)]
        for x, y in zip(xs, labels, strict=True):
            p = sigmoid(sum(b * v for b, v in zip(beta, x, strict=True)))
            err = float(y) - p
            weight = p * (1.0 - p)
            for i in range(k):
                gradient[i] += err * x[i]
                wi = weight * x[i]
                row = hessian[i]
                for j in range(i, k):
                    row[j] += wi * x[j]
        for i in range(k):
            for j in range(i):
                hessian[i][j] = hessian[j][i]
        step = _solve(hessian, gradient)
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-7:
            break
    return Logistic(beta[0], tuple(beta[1:]))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b, by Gaussian elimination with partial pivoting (a is small and SPD)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        p = m[col][col]
        if abs(p) < 1e-12:
            continue
        for r in range(col + 1, n):
            f = m[r][col] / p
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        p = m[r][r]
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / p if abs(p) >= 1e-12 else 0.0
    return x
