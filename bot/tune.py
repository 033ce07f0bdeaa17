"""Fit the matcher's weights and thresholds from data: `platbot tune`.

Nothing here is set by hand on a question set.

1. Ranking, by cross-validation over the knowledge base's own example questions (and its
   out-of-scope examples): each fold is asked of a matcher built without it, and a logistic
   model learns which evidence makes a candidate the topic that answers; an out-of-scope
   question's candidates are all wrong. The naive Bayes smoothing is the one whose ranking puts
   the most held-out questions first.
2. Confidence and thresholds, by the same cross-validation, or, when labelled question sets
   are given (`--sets`), on those: questions written the way people ask, which the examples of
   a topic are not (a held-out example is often a border case between two topics, so folds
   alone make a timid bot). The confidence model learns how likely the best candidate is right;
   the thresholds are those whose replies are worth most (VALUE), a wrong answer costing three
   right ones. With sets, K-fold over the sets estimates what that choice does on questions it
   was not fitted on.

The result goes to `knowledge/tuning.yaml` with every figure it reached, for review.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.calibration import Calibration, Logistic, Thresholds, fit_logistic, sigmoid
from bot.evaluate.cases import Case
from bot.evaluate.crossval import folds
from bot.kb.model import KnowledgeBase
from bot.matcher import Evidence, Matcher

# What each outcome is worth to the asker, per question: the thresholds maximise the sum.
# A wrong answer misleads, so it costs three right ones; a right topic among choices is
# worth part of an answer (one click). Out-of-scope questions are rarer in Slack than
# in-scope ones (OUT_OF_SCOPE_SHARE); declining them is right, answering them misleads.
VALUE = {"right": 1.0, "offered": 0.4, "missed": 0.0, "wrong": -3.0}
VALUE_OUT_OF_SCOPE = {"declined": 1.0, "clarified": 0.3, "answered": -2.0}
OUT_OF_SCOPE_SHARE = 0.3
ALPHAS = (0.01, 0.03, 0.1)
NEVER = 1.01  # a `related` or `reach` threshold no probability reaches
REACHES = (0.5, 0.6, 0.7, 0.8, 0.9, NEVER)
SET_FOLDS = 5
PLATEAU = 0.002  # values this close to the best are a tie (about 4 questions in 2,000)


@dataclass(frozen=True)
class Sample:
    """One question, what it should get, and the evidence the matcher found."""

    case: Case
    expect: int | None  # topic index in the matcher (the same order in every fold)
    evidence: Evidence


@dataclass(frozen=True)
class Fit:
    """A calibration and the outcome rates it reaches on some questions."""

    calibration: Calibration
    right: float
    wrong: float
    offered: float
    declined: float  # out-of-scope questions declined
    answered: float  # out-of-scope questions answered
    questions: int


@dataclass(frozen=True)
class Tuning:
    """What `platbot tune` found, and how it was measured."""

    calibration: Calibration
    examples: int  # example questions cross-validated
    ranked_first: float  # held-out examples whose topic the ranking put first
    cross_validated: Fit  # the final calibration on the held-out examples
    on_sets: Fit | None = None  # the final calibration on the sets it was fitted on
    set_folds: Fit | None = None  # fitted on K-1 folds of the sets, measured on the other
    sets: tuple[str, ...] = field(default=())


def collect(kb: KnowledgeBase, k: int, seed: int, calibration: Calibration) -> list[Sample]:
    """The evidence for every example question, from a matcher that never saw it."""
    samples: list[Sample] = []
    for train, held_out in folds(kb, k, seed):
        matcher = Matcher(train, calibration)
        index = _topic_index(train)
        for case in held_out:
            samples.append(Sample(case, _expect(index, case), matcher.evidence(case.question)))
    return samples


def collect_sets(matcher: Matcher, cases: Sequence[Case]) -> list[Sample]:
    """The evidence for labelled questions; those triage turns away are the same whatever
    the calibration, so they are left out."""
    index = _topic_index(matcher.kb)
    samples = []
    for case in cases:
        triage = matcher.triage(case.question)
        if triage.kind == "question":
            samples.append(Sample(case, _expect(index, case), matcher.evidence(case.question, triage.focus)))
    return samples


def rescore(evidence: Evidence, ranking: Logistic) -> Evidence:
    candidates = []
    for c in evidence.candidates:
        score = ranking.logit(c.features())
        candidates.append(replace(c, score=score, probability=sigmoid(score)))
    candidates.sort(key=lambda c: (-c.score, c.index))
    return replace(evidence, candidates=tuple(candidates))


def fit_ranking(samples: Sequence[Sample]) -> Logistic:
    """P(a candidate is the topic that answers the question), from every candidate of every
    held-out question; an out-of-scope question's candidates are all wrong, which teaches the
    model that a topic can win the classifier's vote and still be no answer."""
    rows, labels = [], []
    for s in samples:
        for c in s.evidence.candidates:
            rows.append(c.features())
            labels.append(c.index == s.expect)
    return fit_logistic(rows, labels)


def fit_confidence(samples: Sequence[Sample]) -> Logistic:
    """P(the best candidate is the right topic)."""
    return fit_reach(samples, 1)


def fit_reach(samples: Sequence[Sample], choices: int) -> Logistic:
    """P(the right topic is among the first `choices` candidates): what a did-you-mean offers."""
    rows, labels = [], []
    for s in samples:
        if s.evidence.candidates:
            rows.append(s.evidence.confidence_features)
            labels.append(s.expect is not None and s.expect in {c.index for c in s.evidence.candidates[:choices]})
    return fit_logistic(rows, labels)


def fit_thresholds(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration) -> Fit:
    """The thresholds whose replies are worth most on `samples` (within PLATEAU)."""
    grid = itertools.product(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925),  # answer
        (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, NEVER),  # related
        (0.05, 0.1, 0.15, 0.2, 0.3, 0.4),  # clarify
        (0.1, 0.2, 0.3),  # plausible
    )
    fits = []
    for answer, related, clarify, plausible in grid:
        if clarify >= answer or (related >= answer and related != NEVER):
            continue
        thresholds = Thresholds(answer=answer, related=related, clarify=clarify, plausible=plausible)
        fits.append(score(samples, matcher, replace(calibration, thresholds=thresholds)))
    # Around the best value the curve is flat, and which point wins is noise; on that plateau
    # answering beats a did-you-mean (the asker is spared a click), so take the one that
    # answers most questions right.
    best = max(value(fit) for fit in fits)
    plateau = [fit for fit in fits if value(fit) >= best - PLATEAU]
    chosen = max(
        plateau, key=lambda f: (round(f.right, 5), -f.wrong, round(value(f), 5), -f.calibration.thresholds.answer)
    )
    # Then, with those fixed, when a question below the clarify bar still gets choices because
    # its right topic is probably among them (ties to the lower bar: a choice the asker can
    # click beats "I don't know").
    reaches = [
        score(samples, matcher, replace(chosen.calibration, thresholds=replace(chosen.calibration.thresholds, reach=r)))
        for r in REACHES
    ]
    return max(reaches, key=lambda f: (round(value(f), 5), -f.calibration.thresholds.reach))


def fit_decisions(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration) -> Fit:
    """Confidence and reach models, then thresholds, on the same samples."""
    confidence = fit_confidence(samples)
    reach = fit_reach(samples, calibration.thresholds.max_choices)
    return fit_thresholds(samples, matcher, replace(calibration, confidence=confidence, reach=reach))


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
    """The outcome rates of one calibration on some samples."""
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


def tune(kb: KnowledgeBase, k: int = 5, seed: int = 0, sets: Sequence[Case] = (), names: Sequence[str] = ()) -> Tuning:
    # 1. Ranking: the smoothing whose cross-validated ranking puts most questions first.
    best: tuple[float, Calibration, list[Sample]] | None = None
    for alpha in ALPHAS:
        start = replace(Calibration(), alpha=alpha)
        samples = collect(kb, k, seed, start)
        ranking = fit_ranking(samples)
        samples = [replace(s, evidence=rescore(s.evidence, ranking)) for s in samples]
        first = _ranked_first(samples)
        if best is None or first > best[0]:
            best = (first, replace(start, ranking=ranking), samples)
    assert best is not None
    first, calibration, cv_samples = best
    matcher = Matcher(kb, calibration)

    # 2. Confidence and thresholds: on the sets when there are any, else on the folds.
    if not sets:
        fit = fit_decisions(cv_samples, matcher, calibration)
        return Tuning(fit.calibration, len(cv_samples), first, fit)
    set_samples = collect_sets(matcher, sets)
    fit = fit_decisions(set_samples, matcher, calibration)
    return Tuning(
        fit.calibration,
        len(cv_samples),
        first,
        score(cv_samples, matcher, fit.calibration),
        on_sets=fit,
        set_folds=_set_folds(set_samples, matcher, calibration, seed),
        sets=tuple(names),
    )


def _set_folds(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration, seed: int) -> Fit:
    """Fit on K-1 folds of the sets, measure on the last, K times: the rates to expect."""
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    sums = dict.fromkeys(("right", "wrong", "offered", "declined", "answered"), 0.0)
    for fold in range(SET_FOLDS):
        train = [samples[i] for n, i in enumerate(order) if n % SET_FOLDS != fold]
        test = [samples[i] for n, i in enumerate(order) if n % SET_FOLDS == fold]
        measured = score(test, matcher, fit_decisions(train, matcher, calibration).calibration)
        for key in sums:
            sums[key] += getattr(measured, key) / SET_FOLDS
    return Fit(calibration, questions=len(samples), **sums)


def _ranked_first(samples: Sequence[Sample]) -> float:
    in_scope = [s for s in samples if s.expect is not None]
    hits = sum(1 for s in in_scope if s.evidence.candidates and s.evidence.candidates[0].index == s.expect)
    return hits / max(len(in_scope), 1)


def _topic_index(kb: KnowledgeBase) -> dict[str, int]:
    return {t.id: i for i, t in enumerate(sorted(kb.topics, key=lambda t: t.id))}


def _expect(index: dict[str, int], case: Case) -> int | None:
    return index[case.expect] if case.expect is not None else None


def tuning_yaml(tuning: Tuning, k: int, seed: int, day: str) -> str:
    """`knowledge/tuning.yaml`: the values, and what they reached, for reviewers."""
    data = tuning.calibration.to_mapping()
    lines = [
        "# The matcher's weights and thresholds, fitted by `platbot tune` (see bot/tune.py). Do not",
        "# edit by hand: rerun `platbot tune --sets tests/eval/dev tests/eval/r*` after adding or",
        "# changing example questions, and review the figures below in the diff.",
        "fitted:",
        f"  date: '{day}'",
        f"  folds: {k}",
        f"  seed: {seed}",
        f"  questions: {tuning.examples}  # example and out-of-scope questions, cross-validated",
        f"  ranked_first: {tuning.ranked_first:.4f}  # held-out examples whose topic was ranked first",
    ]
    lines += _rates("cross_validated", tuning.cross_validated, "the held-out examples, final calibration")
    if tuning.on_sets is not None and tuning.set_folds is not None:
        lines.append(f"  sets: [{', '.join(tuning.sets)}]  # labelled questions the decisions were fitted on")
        lines += _rates("on_sets", tuning.on_sets, "those sets, fitted on them")
        lines += _rates(
            "set_folds", tuning.set_folds, f"{SET_FOLDS}-fold over the sets: fitted on 4/5, measured on 1/5"
        )
    lines.append(f"alpha: {tuning.calibration.alpha}")
    for section in ("ranking", "confidence", "reach", "thresholds"):
        values = data[section]
        assert isinstance(values, dict)
        lines.append(f"{section}:")
        lines += [f"  {key}: {round(value, 4) if isinstance(value, float) else value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _rates(name: str, fit: Fit, what: str) -> list[str]:
    return [
        f"  {name}:  # {what}",
        f"    right: {fit.right:.4f}  # in-scope questions answered with their topic",
        f"    wrong: {fit.wrong:.4f}  # ...answered with another topic",
        f"    offered: {fit.offered:.4f}  # ...given choices that include their topic",
        f"    declined: {fit.declined:.4f}  # out-of-scope questions declined",
        f"    answered: {fit.answered:.4f}  # ...answered",
    ]
