"""Typed, immutable model of the curated knowledge base."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Lang = Literal["en", "ja"]
LANGS: tuple[Lang, ...] = ("en", "ja")


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, eq=False)
class Topic:
    """One curated answer and the questions that should reach it (equal only to itself)."""

    id: str
    area: str
    title: Mapping[Lang, str]
    questions: Mapping[Lang, tuple[str, ...]]
    answer: Mapping[Lang, str]
    services: tuple[str, ...]
    links: tuple[Link, ...]
    related: tuple[str, ...]
    source: str = ""  # the file, as shown in problems: `knowledge/scheduling/ecs-scheduled-tasks.yaml`
    layer: int = 0  # which of the knowledge base's `roots` it came from

    def title_in(self, lang: Lang) -> str:
        return self.title[lang]

    def answer_in(self, lang: Lang) -> str:
        return self.answer[lang]


@dataclass(frozen=True)
class Vocabulary:
    """Words folded together before matching.

    `entities` are product names: matched exactly (after aliasing), never fuzzily, because
    ECS and EKS differ by one letter. `synonyms` map casual or translated wording onto one
    canonical word. Both map canonical -> aliases. `implies` adds entities to a question
    that names another (EKS -> Kubernetes). `off_topic`, `other_platforms`, `other_services` and
    `other_hosts` mark questions to decline (a poem; another cloud; S3 bucket policies; a
    container on Lightsail). `smalltalk` lists greetings and thanks, answered with how to ask.
    `thanks` open a thank-you note that may say what fixed the problem; `unresolved` words mean
    the problem goes on. `heads_up` phrases, after a greeting, announce questions to come.
    """

    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()
    implies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    off_topic: tuple[str, ...] = ()
    other_platforms: tuple[str, ...] = ()
    other_services: tuple[str, ...] = ()
    other_hosts: tuple[str, ...] = ()
    smalltalk: tuple[str, ...] = ()  # whole messages that are greetings or thanks, not questions
    thanks: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    heads_up: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnowledgeBase:
    """Topics, vocabulary and UI messages; plus questions platbot must decline
    (`out-of-scope.yaml`, which the classifier learns as a class of its own) and the matcher's
    fitted weights and thresholds (`tuning.yaml`, written by `platbot tune`)."""

    topics: tuple[Topic, ...]
    vocabulary: Vocabulary
    messages: Mapping[str, Mapping[Lang, str]]
    roots: tuple[str, ...] = ()  # the knowledge directories it was loaded from, lowest layer first
    declined: Mapping[Lang, tuple[str, ...]] = field(default_factory=dict)
    tuning: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {t.id: t for t in self.topics})

    def get(self, topic_id: str) -> Topic | None:
        return self._by_id.get(topic_id)  # type: ignore[attr-defined]

    def message(self, key: str, lang: Lang, **values: object) -> str:
        """A UI string from knowledge/messages.yaml in `lang`, with {placeholders} filled."""
        text = self.messages[key][lang]
        return text.format(**values) if values else text

    def areas(self) -> dict[str, list[Topic]]:
        grouped: dict[str, list[Topic]] = {}
        for topic in self.topics:
            grouped.setdefault(topic.area, []).append(topic)
        return grouped
