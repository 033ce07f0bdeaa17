"""Fit the matcher's weights and thresholds by cross-validation: `platbot tune`.

Nothing here is tuned by hand on a question set. The knowledge base's own example questions
(and its out-of-scope examples) are split into K folds; each fold is asked of a matcher built
without it, and the evidence for every candidate is kept. Then:

1. the ranking model learns which evidence makes a candidate the right topic;
2. the candidates are re-ranked with it, and the confidence model learns how likely the best
   one is right (an out-of-scope question's best candidate is never right);
3. the thresholds are the ones whose replies are worth most on those folds, a wrong answer
   costing three right ones (VALUE below).

The naive Bayes smoothing is chosen the same way, from a few values. The result goes to
`knowledge/tuning.yaml`, with the cross-validated figures it reached.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.calibration import Calibration, Logistic, Thresholds, fit_logistic, sigmoid
from bot.evaluate.cases import Case
from bot.evaluate.crossval import folds
from bot.kb.model import KnowledgeBase
from bot.matcher import Evidence, Matcher

# What each outcome is worth to the asker, per question: the thresholds maximise the sum.
# A wrong answer misleads, so it costs three right ones; a right topic among choices is
# worth most of an answer (one click). Out-of-scope questions are rarer in Slack than
# in-scope ones (OUT_OF_SCOPE_SHARE); declining them is right, answering them misleads.
VALUE = {"right": 1.0, "offered": 0.4, "missed": 0.0, "wrong": -3.0}
VALUE_OUT_OF_SCOPE = {"declined": 1.0, "clarified": 0.3, "answered": -2.0}
OUT_OF_SCOPE_SHARE = 0.3
ALPHAS = (0.01, 0.03, 0.1)
NEVER = 1.01  # a `related` threshold no confidence reaches


@dataclass(frozen=True)
class Sample:
    """One held-out question, what it should get, and the evidence the matcher found."""

    case: Case
    expect: int | None  # topic index in the fold's matcher (same order in every fold)
    evidence: Evidence


@dataclass(frozen=True)
class Fit:
    calibration: Calibration
    right: float
    wrong: float
    offered: float
    declined: float  # out-of-scope questions declined
    answered: float  # out-of-scope questions answered
    questions: int


def collect(kb: KnowledgeBase, k: int, seed: int, calibration: Calibration) -> list[Sample]:
    samples: list[Sample] = []
    for train, held_out in folds(kb, k, seed):
        matcher = Matcher(train, calibration)
        index = {t.id: i for i, t in enumerate(sorted(train.topics, key=lambda t: t.id))}
        for case in held_out:
            expect = index[case.expect] if case.expect is not None else None
            samples.append(Sample(case, expect, matcher.evidence(case.question)))
    return samples


def rescore(evidence: Evidence, ranking: Logistic) -> Evidence:
    candidates = []
    for c in evidence.candidates:
        score = ranking.logit(c.features())
        candidates.append(replace(c, score=score, probability=sigmoid(score)))
    candidates.sort(key=lambda c: (-c.score, c.index))
    return replace(evidence, candidates=tuple(candidates))


def fit_ranking(samples: Sequence[Sample]) -> Logistic:
    rows, labels = [], []
    for s in samples:
        if s.expect is None:
            continue
        for c in s.evidence.candidates:
            rows.append(c.features())
            labels.append(c.index == s.expect)
    return fit_logistic(rows, labels)


def fit_confidence(samples: Sequence[Sample]) -> Logistic:
    rows, labels = [], []
    for s in samples:
        if s.evidence.candidates:
            rows.append(s.evidence.confidence_features())
            labels.append(s.expect is not None and s.evidence.candidates[0].index == s.expect)
    return fit_logistic(rows, labels)


def fit_thresholds(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration) -> Fit:
    """The thresholds that answer most questions right within the limits on wrong answers."""
    grid = itertools.product(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),  # answer
        (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, NEVER),  # related
        (0.05, 0.1, 0.15, 0.2, 0.3, 0.4),  # clarify
        (0.1, 0.2, 0.3),  # plausible
    )
    best: tuple[tuple[float, ...], Fit] | None = None
    for answer, related, clarify, plausible in grid:
        if clarify >= answer or (related >= answer and related != NEVER):
            continue
        thresholds = Thresholds(answer=answer, related=related, clarify=clarify, plausible=plausible)
        fit = score(samples, matcher, replace(calibration, thresholds=thresholds))
        key = (round(value(fit), 5), -answer, -related)  # ties: the more cautious
        if best is None or key > best[0]:
            best = (key, fit)
    assert best is not None
    return best[1]


def value(fit: Fit) -> float:
    """The expected worth of a reply, per question, by VALUE and VALUE_OUT_OF_SCOPE."""
    in_scope = VALUE["right"] * fit.right + VALUE["offered"] * fit.offered + VALUE["wrong"] * fit.wrong
    clarified = 1.0 - fit.declined - fit.answered
    out = (
        VALUE_OUT_OF_SCOPE["declined"] * fit.declined
        + VALUE_OUT_OF_SCOPE["clarified"] * clarified
        + VALUE_OUT_OF_SCOPE["answered"] * fit.answered
    )
    return (1 - OUT_OF_SCOPE_SHARE) * in_scope + OUT_OF_SCOPE_SHARE * out


def score(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration) -> Fit:
    """The cross-validated outcome rates of one calibration."""
    judge = matcher.with_calibration(calibration)
    right = wrong = offered = in_scope = declined = answered = out = 0
    for s in samples:
        result = judge.decide("", "en", s.evidence)
        got = result.topic
        if s.expect is None:
            out += 1
            answered += got is not None
            declined += result.outcome == "decline"
            continue
        in_scope += 1
        expected = judge.topic_at(s.expect)
        if got is not None:
            right += got is expected
            wrong += got is not expected
        else:
            offered += any(x.topic is expected for x in result.suggestions)
    n, m = max(in_scope, 1), max(out, 1)
    return Fit(calibration, right / n, wrong / n, offered / n, declined / m, answered / m, len(samples))


def tune(kb: KnowledgeBase, k: int = 5, seed: int = 0) -> Fit:
    best: Fit | None = None
    reference = Matcher(kb)  # topic order and relations are the same in every fold
    for alpha in ALPHAS:
        start = replace(Calibration.from_mapping(None), alpha=alpha)
        samples = collect(kb, k, seed, start)
        ranking = fit_ranking(samples)
        samples = [replace(s, evidence=rescore(s.evidence, ranking)) for s in samples]
        confidence = fit_confidence(samples)
        fit = fit_thresholds(samples, reference, replace(start, ranking=ranking, confidence=confidence))
        if best is None or value(fit) > value(best):
            best = fit
    assert best is not None
    return best


def tuning_yaml(fit: Fit, k: int, seed: int, day: str) -> str:
    """`knowledge/tuning.yaml` for a fit: the values, and what they reached, for reviewers."""
    data = fit.calibration.to_mapping()
    lines = [
        "# The matcher's weights and thresholds, fitted by `platbot tune` on cross-validation over",
        "# the example questions (see bot/tune.py). Do not edit by hand: rerun `platbot tune` after",
        "# adding or changing example questions, and review the figures below in the diff.",
        "fitted:",
        f"  date: '{day}'",
        f"  folds: {k}",
        f"  seed: {seed}",
        f"  questions: {fit.questions}",
        f"  right: {fit.right:.4f}  # in-scope held-out questions answered with their topic",
        f"  wrong: {fit.wrong:.4f}  # ...answered with another topic",
        f"  offered: {fit.offered:.4f}  # ...given choices that include their topic",
        f"  declined: {fit.declined:.4f}  # out-of-scope held-out questions declined",
        f"  answered: {fit.answered:.4f}  # ...answered",
        f"alpha: {fit.calibration.alpha}",
    ]
    for section in ("ranking", "confidence", "thresholds"):
        values = data[section]
        assert isinstance(values, dict)
        lines.append(f"{section}:")
        lines += [f"  {key}: {round(value, 4) if isinstance(value, float) else value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"
