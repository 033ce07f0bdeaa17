"""The platform advisor's rules as typed, immutable data (loaded from knowledge/advisor.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.kb.model import Lang, Link

Text = Mapping[Lang, str]


@dataclass(frozen=True)
class Effect:
    """What one answer does to some options: a soft weight, or a hard rule that removes them."""

    options: tuple[str, ...]
    reason: Text
    weight: int = 0
    excludes: bool = False


@dataclass(frozen=True)
class Answer:
    id: str
    label: Text
    effects: tuple[Effect, ...] = ()
    # For one kind of work: the options that suit it on its own, best first. When the overall
    # choice is not among them, the result proposes the first one still possible beside it.
    suits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    prompt: Text
    answers: tuple[Answer, ...]
    multiple: bool = False  # several answers may be picked (what runs, special hardware)

    def answer(self, answer_id: str) -> Answer | None:
        return next((a for a in self.answers if a.id == answer_id), None)


@dataclass(frozen=True)
class Option:
    """A platform the advisor can recommend."""

    id: str
    title: Text
    summary: Text  # one line: what it is
    running_cost: Text  # what running it costs the team, in people and work
    prior: int = 0  # the philosophy's default lean, before any answer
    next_topics: tuple[str, ...] = ()  # knowledge topic ids people will need next on it
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Rules:
    options: tuple[Option, ...]
    questions: tuple[Question, ...]
    source: str = ""  # the file, for problems

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


# One person's answers: question id -> the answer ids they picked (one, or several for a
# `multiple` question). A question left out was not answered.
Answers = Mapping[str, tuple[str, ...]]
