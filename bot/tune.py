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
   right ones, pooled over bootstrap resamples so that one question more or less does not move
   them. With several sets, each set left out in turn (decisions fitted on the others, then
   measured on it) estimates what the fit does on the next set someone writes.

The result goes to `knowledge/tuning.yaml` with every figure it reached, for review.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.calibration import Calibration, Logistic, Thresholds, fit_logistic, sigmoid
from bot.evaluate.cases import Case
from bot.evaluate.crossval import folds
from bot.kb.model import KnowledgeBase
from bot.matcher import Evidence, Matcher, Outcome, band

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
BAGS = 25  # resamples whose fitted thresholds are pooled (by median)
GRID = tuple(
    itertools.product(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925),  # answer
        (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, NEVER),  # related
        (0.05, 0.1, 0.15, 0.2, 0.3, 0.4),  # clarify
        (0.1, 0.2, 0.3),  # plausible
    )
)


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
    held_out: Fit | None = None  # each set measured with the decisions fitted on the others
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


def fit_thresholds(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration, seed: int = 0) -> Fit:
    """The thresholds whose replies are worth most on `samples`, stably: the median of each
    threshold over fits on BAGS resamples of them. One fit alone sits on a flat curve, where
    which point wins is noise (a single question moved the answer bar from 0.75 to 0.85);
    the median of several moves only when the data does."""
    scorer = Scorer(samples, matcher, calibration)
    rng = random.Random(seed)
    picks = [best_thresholds(scorer, _resample(len(samples), rng)) for _ in range(BAGS)]
    thresholds = Thresholds(
        answer=statistics.median_low(t.answer for t in picks),
        related=statistics.median_low(t.related for t in picks),
        clarify=statistics.median_low(t.clarify for t in picks),
        plausible=statistics.median_low(t.plausible for t in picks),
    )
    if thresholds.clarify >= thresholds.answer:
        thresholds = replace(thresholds, clarify=min(t.clarify for t in picks))
    if NEVER > thresholds.related >= thresholds.answer:
        thresholds = replace(thresholds, related=NEVER)
    # Then, with those fixed, when a question below the clarify bar still gets choices because
    # its right topic is probably among them (ties to the lower bar: a choice the asker can
    # click beats "I don't know").
    reaches = [scorer.fit(replace(thresholds, reach=r)) for r in REACHES]
    return max(reaches, key=lambda f: (round(value(f), 5), -f.calibration.thresholds.reach))


def _resample(n: int, rng: random.Random) -> list[int]:
    """How many times each of n questions is drawn in a bootstrap resample of them."""
    weights = [0] * n
    for _ in range(n):
        weights[rng.randrange(n)] += 1
    return weights


def best_thresholds(scorer: Scorer, weights: Sequence[int]) -> Thresholds:
    """The grid point worth most with these question weights (within PLATEAU). Around the
    best value the curve is flat; on that plateau answering beats a did-you-mean (the asker
    is spared a click), so the one that answers most questions right wins."""
    fits = scorer.grid(weights)
    best = max(value(fit) for fit in fits)
    plateau = [fit for fit in fits if value(fit) >= best - PLATEAU]
    chosen = max(
        plateau, key=lambda f: (round(f.right, 5), -f.wrong, round(value(f), 5), -f.calibration.thresholds.answer)
    )
    return chosen.calibration.thresholds


def fit_decisions(samples: Sequence[Sample], matcher: Matcher, calibration: Calibration, seed: int = 0) -> Fit:
    """Confidence and reach models, then thresholds, on the same samples."""
    confidence = fit_confidence(samples)
    reach = fit_reach(samples, calibration.thresholds.max_choices)
    return fit_thresholds(samples, matcher, replace(calibration, confidence=confidence, reach=reach), seed)


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


# What an answer, a did-you-mean or a decline would make of one in-scope question: (right if
# answered, offered if given choices); out-of-scope questions are OUT.
_State = tuple[bool, bool] | None
OUT: _State = None


class Scorer:
    """`score` for one confidence and reach model and many thresholds (the grid has a thousand
    points, and bagging fits it several times). What each decision depends on is worked out
    once per question; then, for thresholds that leave `reach` off, questions are counted in
    buckets of equal confidence, so a grid point costs a pass over a few hundred buckets
    instead of thousands of decisions. Vague questions, decided by `plausible` alone, are
    decided in full once per bar."""

    def __init__(self, samples: Sequence[Sample], matcher: Matcher, calibration: Calibration) -> None:
        self._calibration = calibration
        self._judge = matcher.with_calibration(calibration)
        self._bars = sorted({point[3] for point in GRID} | {calibration.thresholds.plausible})
        limit = calibration.thresholds.max_choices
        # Per question: its state, confidence, reach, and per `plausible` bar whether a related
        # runner-up clears it and whether the choices would hold the right topic; or, for
        # questions without candidates or vague ones, the outcome per bar.
        self._rows: list[tuple[_State, float, float, dict[float, tuple[bool, bool]]]] = []
        self._fixed: dict[int, dict[float, tuple[Outcome, _State]]] = {}
        for n, s in enumerate(samples):
            candidates = s.evidence.candidates
            if s.evidence.vague or not candidates:
                self._fixed[n] = {bar: self._decided(s, bar) for bar in self._bars}
                self._rows.append((OUT, 0.0, 0.0, {}))
                continue
            features = s.evidence.confidence_features
            best = candidates[0]
            by_bar = {}
            for bar in self._bars:
                runners = [c for c in candidates[1:] if c.probability >= bar]
                related = any(matcher.related(best.index, c.index) for c in runners)
                by_bar[bar] = (related, s.expect in {c.index for c in [best, *runners][:limit]})
            confidence = round(calibration.confidence.probability(features), 3)
            reach = calibration.reach.probability(features)
            state: _State = OUT if s.expect is None else (best.index == s.expect, False)
            self._rows.append((state, confidence, reach, by_bar))

    def _decided(self, s: Sample, bar: float) -> tuple[Outcome, _State]:
        thresholds = replace(self._calibration.thresholds, plausible=bar)
        result = self._judge.with_calibration(replace(self._calibration, thresholds=thresholds)).decide(
            "", "en", s.evidence
        )
        reply: Outcome = "answer" if result.topic is not None else result.outcome
        if s.expect is None:
            return reply, OUT
        wanted = self._judge.topic_at(s.expect)
        return reply, (result.topic is wanted, any(x.topic is wanted for x in result.suggestions))

    def fit(self, thresholds: Thresholds, weights: Sequence[int] | None = None) -> Fit:
        """What `score` finds with these thresholds, each question counted `weights[n]` times
        (once when None)."""
        fixed, buckets = self._tally(thresholds.plausible, weights, with_reach=True)
        return self._rates(thresholds, self._count(thresholds, fixed, buckets))

    def grid(self, weights: Sequence[int] | None = None) -> list[Fit]:
        """`fit` for every point of GRID (reach off), from buckets of equal confidence."""
        fits = []
        for bar in sorted({point[3] for point in GRID}):
            fixed, buckets = self._tally(bar, weights, with_reach=False)
            for answer, related, clarify, plausible in GRID:
                if plausible != bar or clarify >= answer or (related >= answer and related != NEVER):
                    continue
                thresholds = Thresholds(answer=answer, related=related, clarify=clarify, plausible=bar)
                fits.append(self._rates(thresholds, self._count(thresholds, fixed, buckets)))
        return fits

    def _tally(
        self, bar: float, weights: Sequence[int] | None, with_reach: bool
    ) -> tuple[Counter[tuple[Outcome, _State]], Counter[tuple[float, float, bool, _State]]]:
        """At one `plausible` bar: the replies of vague questions, counted; the others in
        buckets of equal (confidence, reach, related runner-up, state). Without reach (the
        grid leaves it off) the buckets are a few hundred."""
        fixed = Counter[tuple[Outcome, _State]]()
        buckets = Counter[tuple[float, float, bool, _State]]()
        for n, (state, confidence, reach, by_bar) in enumerate(self._rows):
            weight = 1 if weights is None else weights[n]
            if not weight:
                continue
            if n in self._fixed:
                fixed[self._fixed[n][bar]] += weight
                continue
            related, offered = by_bar[bar]
            key = state if state is OUT else (state[0], offered)
            buckets[confidence, reach if with_reach else 0.0, related, key] += weight
        return fixed, buckets

    @staticmethod
    def _count(
        thresholds: Thresholds,
        fixed: Counter[tuple[Outcome, _State]],
        buckets: Counter[tuple[float, float, bool, _State]],
    ) -> Counter[tuple[Outcome, _State]]:
        counts = fixed.copy()
        for (confidence, reach, related, state), weight in buckets.items():
            counts[band(thresholds, confidence, reach, related), state] += weight
        return counts

    def _rates(self, thresholds: Thresholds, counts: Counter[tuple[Outcome, _State]]) -> Fit:
        right = wrong = offered = in_scope = declined = answered = out = 0
        for (outcome, state), k in counts.items():
            if state is OUT:
                out += k
                answered += k * (outcome == "answer")
                declined += k * (outcome == "decline")
                continue
            in_scope += k
            is_right, is_offered = state
            if outcome == "answer":
                right += k * is_right
                wrong += k * (not is_right)
            elif outcome == "clarify":
                offered += k * is_offered
        n, m = max(in_scope, 1), max(out, 1)
        calibration = replace(self._calibration, thresholds=thresholds)
        return Fit(calibration, right / n, wrong / n, offered / n, declined / m, answered / m, in_scope + out)


def tune(
    kb: KnowledgeBase, k: int = 5, seed: int = 0, sets: Sequence[Sequence[Case]] = (), names: Sequence[str] = ()
) -> Tuning:
    """Fit the calibration; `sets` are labelled question sets (one per name in `names`)."""
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
    groups = [collect_sets(matcher, cases) for cases in sets if cases]
    if not groups:
        fit = fit_decisions(cv_samples, matcher, calibration, seed)
        return Tuning(fit.calibration, len(cv_samples), first, fit)
    set_samples = [s for group in groups for s in group]
    fit = fit_decisions(set_samples, matcher, calibration, seed)
    return Tuning(
        fit.calibration,
        len(cv_samples),
        first,
        score(cv_samples, matcher, fit.calibration),
        on_sets=fit,
        held_out=_held_out(groups, matcher, calibration, seed),
        sets=tuple(names),
    )


def _held_out(groups: Sequence[Sequence[Sample]], matcher: Matcher, calibration: Calibration, seed: int) -> Fit:
    """The rates to expect on a new set: each set is left out in turn, the decisions fitted on
    the others and measured on it (a new round of questions brings words and styles no round
    had; folds that mix every round measured two points higher than the next round gave).
    A single set is split into SET_FOLDS random folds instead."""
    if len(groups) == 1:
        order = list(range(len(groups[0])))
        random.Random(seed).shuffle(order)
        groups = [[groups[0][i] for n, i in enumerate(order) if n % SET_FOLDS == fold] for fold in range(SET_FOLDS)]
    totals = Counter[str]()
    for held in range(len(groups)):
        train = [s for n, group in enumerate(groups) if n != held for s in group]
        test = groups[held]
        measured = score(test, matcher, fit_decisions(train, matcher, calibration, seed).calibration)
        in_scope = sum(s.expect is not None for s in test)
        out = len(test) - in_scope
        for key in ("right", "wrong", "offered"):
            totals[key] += getattr(measured, key) * in_scope
        for key in ("declined", "answered"):
            totals[key] += getattr(measured, key) * out
        totals["in_scope"] += in_scope
        totals["out"] += out
    n, m = max(totals["in_scope"], 1), max(totals["out"], 1)
    return Fit(
        calibration,
        right=totals["right"] / n,
        wrong=totals["wrong"] / n,
        offered=totals["offered"] / n,
        declined=totals["declined"] / m,
        answered=totals["answered"] / m,
        questions=sum(map(len, groups)),
    )


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
    if tuning.on_sets is not None and tuning.held_out is not None:
        lines.append(f"  sets: [{', '.join(tuning.sets)}]  # labelled questions the decisions were fitted on")
        lines += _rates("on_sets", tuning.on_sets, "those sets, fitted on them")
        lines += _rates("held_out", tuning.held_out, "each set in turn, fitted on the others")
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
