"""From one person's answers to a ranked recommendation, every line of it traced to an answer.

    advice = advise(rules, {"workloads": ("web_api", "batch_hpc"), "operators": ("nobody",)})
    advice.ranked[0].option.id        # "ecs_fargate"
    advice.ranked[0].reasons          # the effects that raised or lowered it, with their answers
    advice.pairings                   # AWS Batch for the long batch jobs
    advice.changes                    # answers that would put another option first

Pure and deterministic: the same rules and answers give the same advice, ties resolved by the
order of the options in the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.advisor.model import Answer, Answers, Effect, Option, Question, Rules
from bot.errors import PlatbotError

MAX_CHANGES = 3
WORKLOADS = "workloads"  # the question whose answers are kinds of work, with `suits`


class AnswersError(PlatbotError):
    """Answers that name no question or answer of the rules."""


@dataclass(frozen=True)
class Reason:
    """One effect of one picked answer on one option."""

    question: Question
    answer: Answer
    effect: Effect


@dataclass(frozen=True)
class Ranked:
    option: Option
    score: int
    reasons: tuple[Reason, ...]  # strongest first: what raised it, then what lowered it

    @property
    def for_it(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.effect.weight > 0)

    @property
    def against_it(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.effect.weight < 0)


@dataclass(frozen=True)
class RuledOut:
    option: Option
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Pairing:
    """Another option for some of the work the first choice suits less: "Batch for the jobs"."""

    option: Option
    work: tuple[Answer, ...]


@dataclass(frozen=True)
class Change:
    """A different answer that would put another option first."""

    question: Question
    answer: Answer
    winner: Option
    adds: bool  # a `multiple` question: picking this too, rather than instead


@dataclass(frozen=True)
class Advice:
    answers: Answers
    ranked: tuple[Ranked, ...]  # the options still possible, best first
    ruled_out: tuple[RuledOut, ...]
    pairings: tuple[Pairing, ...] = ()
    changes: tuple[Change, ...] = ()

    @property
    def first(self) -> Ranked | None:
        return self.ranked[0] if self.ranked else None


def checked_answers(rules: Rules, raw: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """`raw` ({question id: answer id or list of them}) as Answers; AnswersError names the first
    thing that is not in the rules. Empty and missing answers are left out: not answered."""
    answers: dict[str, tuple[str, ...]] = {}
    for question_id, value in raw.items():
        question = rules.question(str(question_id))
        if question is None:
            known = ", ".join(q.id for q in rules.questions)
            raise AnswersError(f"no question '{question_id}' (the questions: {known})")
        picked = tuple(value) if isinstance(value, list | tuple) else (() if value in (None, "") else (value,))
        if len(picked) > 1 and not question.multiple:
            raise AnswersError(f"'{question_id}' takes one answer, not {len(picked)}")
        for answer_id in picked:
            if not isinstance(answer_id, str) or question.answer(answer_id) is None:
                known = ", ".join(a.id for a in question.answers)
                raise AnswersError(f"'{question_id}' has no answer '{answer_id}' (its answers: {known})")
        if picked:
            answers[question.id] = tuple(dict.fromkeys(picked))
    return answers


def advise(rules: Rules, answers: Answers, *, explore: bool = True) -> Advice:
    """The advice for `answers` (already checked). `explore=False` skips the what-would-change
    search, which asks advise() again for each other answer."""
    picked = [
        (question, answer)
        for question in rules.questions
        for answer_id in answers.get(question.id, ())
        if (answer := question.answer(answer_id)) is not None
    ]
    reasons: dict[str, list[Reason]] = {o.id: [] for o in rules.options}
    excluded: dict[str, list[Reason]] = {}
    for question, answer in picked:
        for effect in answer.effects:
            for option_id in effect.options:
                if option_id not in reasons:
                    continue
                reason = Reason(question, answer, effect)
                (excluded.setdefault(option_id, []) if effect.excludes else reasons[option_id]).append(reason)
    ranked = sorted(
        (
            Ranked(
                option,
                option.prior + sum(r.effect.weight for r in reasons[option.id]),
                tuple(sorted(reasons[option.id], key=lambda r: -r.effect.weight)),
            )
            for option in rules.options
            if option.id not in excluded
        ),
        key=lambda r: -r.score,  # sorted() is stable: ties keep the rules' order
    )
    ruled_out = tuple(RuledOut(o, tuple(excluded[o.id])) for o in rules.options if o.id in excluded)
    advice = Advice(answers, tuple(ranked), ruled_out)
    if not ranked:
        return advice
    return Advice(
        answers,
        tuple(ranked),
        ruled_out,
        _pairings(rules, advice, picked),
        _changes(rules, answers, ranked[0].option) if explore else (),
    )


def _pairings(rules: Rules, advice: Advice, picked: list[tuple[Question, Answer]]) -> tuple[Pairing, ...]:
    """For each kind of work the first choice is not among the best for, the first option that
    is and is still possible: "Lambda for the API, Batch for the nightly jobs"."""
    first = advice.ranked[0].option.id
    possible = {r.option.id for r in advice.ranked}
    work: dict[str, list[Answer]] = {}
    for question, answer in picked:
        if question.id != WORKLOADS or not answer.suits or first in answer.suits:
            continue
        partner = next((o for o in answer.suits if o in possible), None)
        if partner is not None:
            work.setdefault(partner, []).append(answer)
    return tuple(Pairing(rules.option(o), tuple(answers)) for o, answers in work.items())


def _changes(rules: Rules, answers: Answers, first: Option) -> tuple[Change, ...]:
    """Up to MAX_CHANGES single answers that would put another option first, one per winner,
    in the order of the questions (unanswered questions are tried as well)."""
    changes: list[Change] = []
    winners = {first.id}
    for question in rules.questions:
        current = answers.get(question.id, ())
        for answer in question.answers:
            if answer.id in current:
                continue
            trial = (*current, answer.id) if question.multiple else (answer.id,)
            advice = advise(rules, {**answers, question.id: trial}, explore=False)
            if advice.first is not None and advice.first.option.id not in winners:
                winners.add(advice.first.option.id)
                changes.append(Change(question, answer, advice.first.option, adds=question.multiple and bool(current)))
                if len(changes) == MAX_CHANGES:
                    return tuple(changes)
    return tuple(changes)
