"""A made-up but plausible stretch of traffic, for tests and benchmarks of what reads the store.

    traffic = fill(engine, days=30, per_day=300, seed=1)   # questions and actions, in bulk
    traffic.questions, traffic.outcomes_by_day[date(2025, 5, 2)]["declined"], traffic.actions["pick"]

The same seed and `now` always write the same rows. Questions come from the real knowledge base:
topics are asked with a long-tailed popularity, in English and Japanese, with the topics' own
example questions as text; declined ones use its out-of-scope examples. The declined share falls
over the window (as curators fill the gaps), a few topics draw most of the 👎, latencies have a
long tail. Actions follow their question by seconds to minutes, never later than `now`.

Refs are drawn from the seed: filling one database twice needs two seeds.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from bot.kb.model import KnowledgeBase, Topic
from bot.store.models import Base
from bot.store.privacy import user_hash

QUESTIONS = Base.metadata.tables["questions"]
ACTIONS = Base.metadata.tables["actions"]

WORKSPACE = "T0TRAFFIC"
CHUNK = 5_000  # questions per transaction: big enough for speed, small enough for memory

SURFACES = {"mention": 45, "command": 28, "dm": 15, "home": 5, "cli": 7}
LANGS = {"en": 70, "ja": 30}
COMMENTS = (
    "the link goes to an old page",
    "this is about EC2, I asked about Fargate",
    "too long, I just needed the CLI command",
    "リンク先が古いドキュメントでした",
    "知りたかったのは料金のことです",
)


@dataclass(frozen=True)
class Traffic:
    """What `fill` wrote, counted the way a report counts it (UTC days; answered = answered + see_also)."""

    since: datetime
    until: datetime
    outcomes_by_day: dict[date, Counter[str]] = field(default_factory=dict)
    surfaces: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    answered_topics: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    votes_down: Counter[str] = field(default_factory=Counter)
    votes_up: Counter[str] = field(default_factory=Counter)

    @property
    def questions(self) -> int:
        return sum(self.surfaces.values())

    @property
    def outcomes(self) -> Counter[str]:
        return sum(self.outcomes_by_day.values(), Counter())


def fill(
    engine: Engine,
    *,
    days: int = 30,
    per_day: int = 300,
    seed: int = 0,
    now: datetime | None = None,
    kb: KnowledgeBase | None = None,
) -> Traffic:
    """Write `days * per_day` questions asked in the `days` before `now`, and the actions on them."""
    if kb is None:
        from bot.cache import load_matcher  # the knowledge base is only loaded when not given

        kb = load_matcher()[0]
    until = (now or datetime.now(UTC)).astimezone(UTC)
    traffic = Traffic(since=until - timedelta(days=days), until=until)
    made = _Generator(kb, random.Random(seed), traffic)
    with engine.begin() as connection:
        for questions, actions in made.chunks(days * per_day):
            connection.execute(insert(QUESTIONS), questions)
            if actions:
                connection.execute(insert(ACTIONS), actions)
        # Link actions to their questions by ref (any still unlinked), as the recorder does after each write.
        question_id = select(QUESTIONS.c.id).where(QUESTIONS.c.ref == ACTIONS.c.question_ref).scalar_subquery()
        connection.execute(update(ACTIONS).where(ACTIONS.c.question_id.is_(None)).values(question_id=question_id))
    return traffic


class _Generator:
    def __init__(self, kb: KnowledgeBase, rng: random.Random, traffic: Traffic) -> None:
        self.rng = rng
        self.traffic = traffic
        self.topics = list(kb.topics)
        rng.shuffle(self.topics)
        # Long tail: the n-th most popular topic is asked about 1/n as often as the first.
        self.popularity = [1 / (rank + 1) for rank in range(len(self.topics))]
        self.weak = {topic.id for topic in rng.sample(self.topics, min(6, len(self.topics)))}
        self.declined = {lang: list(kb.declined.get(lang, ())) or ["what's for lunch?"] for lang in LANGS}
        self.smalltalk = list(kb.vocabulary.smalltalk) or ["thanks!"]
        self.users = [user_hash("traffic", WORKSPACE, f"U{n:05d}") for n in range(500)]
        self.channels = [f"C{n:08d}" for n in range(12)]

    def chunks(self, total: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        span = (self.traffic.until - self.traffic.since).total_seconds()
        for start in range(0, total, CHUNK):
            questions: list[dict[str, Any]] = []
            actions: list[dict[str, Any]] = []
            for n in range(start, min(start + CHUNK, total)):
                # Evenly spread over the window, jittered; `fraction` is how far into it.
                fraction = (n + self.rng.random()) / total
                asked_at = self.traffic.since + timedelta(seconds=fraction * span)
                question = self.question(asked_at, fraction)
                questions.append(question)
                actions.extend(self.actions(question))
            yield questions, actions

    def question(self, asked_at: datetime, fraction: float) -> dict[str, Any]:
        rng = self.rng
        outcome = rng.choices(
            ("answered", "see_also", "did_you_mean", "declined", "smalltalk", "rate_limited", "error"),
            (58 + 8 * fraction, 10, 10, 14 - 8 * fraction, 5, 2, 1),
        )[0]
        surface = _pick(rng, SURFACES)
        lang = _pick(rng, LANGS)
        topic = rng.choices(self.topics, self.popularity)[0]
        offered: list[str] = []
        text = _example(rng, topic, lang)
        topic_id: str | None = topic.id
        confidence: float | None = round(rng.uniform(0.55, 0.99), 3)
        if outcome == "see_also":
            offered = [other for other in topic.related[:2] if other != topic.id]
        elif outcome == "did_you_mean":
            offered = [topic.id, *(other.id for other in rng.sample(self.topics, 2) if other is not topic)][:3]
            topic_id, confidence = None, round(rng.uniform(0.25, 0.5), 3)
        elif outcome == "declined":
            text = rng.choice(self.declined[lang])
            topic_id, confidence = None, round(rng.uniform(0.0, 0.25), 3)
        elif outcome == "smalltalk":
            text = rng.choice(self.smalltalk)
            topic_id, confidence = None, None
        elif outcome in ("rate_limited", "error"):
            topic_id, confidence = None, None
        # Most answers take tens of milliseconds; a few take seconds (cold start, a slow database).
        latency = rng.lognormvariate(math.log(35), 0.6) * (20 if rng.random() < 0.01 else 1)

        self._count(asked_at, outcome, surface, lang, topic_id)
        return {
            "ref": f"{rng.getrandbits(64):016x}",
            "asked_at": asked_at,
            "surface": surface,
            "workspace_id": WORKSPACE,
            "channel_id": None if surface in ("home", "cli") else self._channel(surface),
            "user_hash": rng.choice(self.users),
            "lang": lang,
            "text": text,
            "outcome": outcome,
            "topic_id": topic_id,
            "confidence": confidence,
            "offered": offered,
            "latency_ms": round(latency, 2),
            "event_key": None,
            "request_id": None,
            "knowledge_version": None,
        }

    def actions(self, question: dict[str, Any]) -> list[dict[str, Any]]:
        rng, outcome, topic_id = self.rng, question["outcome"], question["topic_id"]
        made: list[dict[str, Any]] = []

        def act(kind: str, topic: str | None, comment: str | None = None) -> None:
            # Never after `until`: a report up to then counts every action written.
            at = question["asked_at"] + timedelta(seconds=rng.uniform(5, 900))
            at = min(at, self.traffic.until - timedelta(microseconds=1))
            made.append(
                {
                    "question_id": None,
                    "question_ref": question["ref"],
                    "at": at,
                    "kind": kind,
                    "topic_id": topic,
                    "comment": comment,
                    "user_hash": question["user_hash"],
                }
            )
            self.traffic.actions[kind] += 1

        if outcome == "did_you_mean" and rng.random() < 0.45:
            act("pick", question["offered"][0])
        if outcome in ("answered", "see_also"):
            if outcome == "see_also" and question["offered"] and rng.random() < 0.12:
                act("related", question["offered"][0])
            if rng.random() < (0.12 if topic_id in self.weak else 0.015):
                act("feedback_down", topic_id, rng.choice(COMMENTS) if rng.random() < 0.4 else None)
                self.traffic.votes_down[topic_id] += 1
            elif rng.random() < 0.07:
                act("feedback_up", topic_id)
                self.traffic.votes_up[topic_id] += 1
            if rng.random() < 0.04:
                act("share", topic_id)
        if outcome in ("declined", "did_you_mean") and rng.random() < 0.03:
            act("escalate", None)
        return made

    def _count(self, asked_at: datetime, outcome: str, surface: str, lang: str, topic_id: str | None) -> None:
        traffic = self.traffic
        traffic.outcomes_by_day.setdefault(asked_at.astimezone(UTC).date(), Counter())[outcome] += 1
        traffic.surfaces[surface] += 1
        traffic.langs[lang] += 1
        if outcome in ("answered", "see_also") and topic_id:
            traffic.answered_topics[topic_id] += 1

    def _channel(self, surface: str) -> str:
        return f"D{self.rng.getrandbits(32):08X}" if surface == "dm" else self.rng.choice(self.channels)


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _example(rng: random.Random, topic: Topic, lang: str) -> str:
    return rng.choice(topic.questions.get(lang) or topic.questions["en"])
