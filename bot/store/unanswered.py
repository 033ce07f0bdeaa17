"""What people asked that platbot could not answer, grouped so a curator sees what to write next.

    found = clusters(engine, kb, matcher, since, until)       # biggest first
    counts = unanswered_counts(engine, since, until)           # how many were clustered, and left out
    print(cluster_stub_yaml(found[0], kb))                     # a topic file to fill in

The questions are the declined and did-you-mean ones of the window that kept their text
(PLATBOT_STORE_TEXT=false stores none: those are counted, never clustered), at most the
MAX_QUESTIONS most recent: clustering costs grow with their square, and a curator acts on the
biggest groups, which the most recent questions already show.

Each question is normalised as the matcher sees it (aliases folded, filler dropped), so "cron on
ECS?" and "ECSでcron" can meet. Identical normalised texts form one phrasing; phrasings, the
most asked first, join the most similar earlier leader scoring SIMILAR or more, or lead a cluster
of their own (greedy leader clustering). Similarity is rapidfuzz's token-sort ratio: word order and typos
are forgiven, extra words are not, so a short question ("ecs") never swallows every longer one
that contains it, as token-set ratio would. At 75, rewordings of one request join ("rotate db
password for ecs service" and "ECS service: how to rotate the database passwords" score 86), and
over the knowledge base's own 6,675 example questions, which its rules keep apart across topics,
90% of the questions that join a cluster join one of their own topic's (token-set ratio at 80:
81%). Only leaders sharing at least half the words of the shorter text are scored at all, which
makes clustering three times faster and loses 3% of the joins.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.kb.model import LANGS, KnowledgeBase
from bot.matcher import Matcher
from bot.normalize import Normalized, detect_lang, fold
from bot.store.db import store_error
from bot.store.learn import yaml_item
from bot.store.models import Question

UNANSWERED = ("declined", "did_you_mean")
MAX_QUESTIONS = 5_000
SIMILAR = 75  # token-sort ratio at which a phrasing joins a leader (see above)
SHARED_WORDS = 0.5  # share of the shorter text's words a leader must share to be scored
MAX_SAMPLES = 5
STUB_ID_WORDS = 5


@dataclass(frozen=True)
class Sample:
    text: str
    lang: str


@dataclass(frozen=True)
class Cluster:
    """Questions asked in nearly the same words, none of them answered."""

    count: int
    samples: tuple[Sample, ...]  # one per phrasing, the most asked first: the leader's
    languages: dict[str, int]  # lang -> questions
    outcomes: dict[str, int]  # declined / did_you_mean -> questions
    first_seen: datetime
    last_seen: datetime
    closest: str | None  # the topic the matcher ranks first for the leader, or the one offered most
    closest_confidence: float | None  # the matcher's probability for it (None when only offered)
    answered_by: str | None  # the topic the current knowledge answers the leader with, if it does now


@dataclass(frozen=True)
class Counts:
    clustered: int  # questions with text considered (at most MAX_QUESTIONS)
    with_text: int  # every unanswered question with text in the window
    without_text: int  # recorded without text (PLATBOT_STORE_TEXT=false): never clustered


@dataclass(frozen=True)
class _Row:
    text: str
    lang: str
    outcome: str
    asked_at: datetime
    offered: tuple[str, ...]


@dataclass
class _Phrasing:
    """The questions that normalise to one text."""

    tokens: tuple[str, ...]
    rows: list[_Row] = field(default_factory=list)  # most recent first


def clusters(
    engine: Engine, kb: KnowledgeBase, matcher: Matcher, since: datetime, until: datetime, *, limit: int = 20
) -> list[Cluster]:
    """The biggest clusters of unanswered questions asked in [since, until), at most `limit`."""
    rows = _read(engine, _unanswered(since, until).order_by(Question.asked_at.desc()).limit(MAX_QUESTIONS))
    groups = _group(_phrasings(rows, matcher.normalize))
    groups.sort(key=_biggest_then_latest)
    return [_summary(members, kb, matcher) for members in groups[:limit]]


def unanswered_counts(engine: Engine, since: datetime, until: datetime) -> Counts:
    query = (
        select(Question.text.is_not(None), func.count())
        .where(*_window(since, until))
        .group_by(Question.text.is_not(None))
    )
    try:
        with engine.connect() as connection:
            by_kind = dict(connection.execute(query).all())
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None
    with_text = by_kind.get(True, 0)
    return Counts(min(with_text, MAX_QUESTIONS), with_text, by_kind.get(False, 0))


def _group(phrasings: Sequence[_Phrasing]) -> list[list[_Phrasing]]:
    """Greedy leader clustering of `phrasings`, taken in order: each joins the most similar
    earlier leader scoring SIMILAR or more, or leads a new cluster."""
    leaders: list[str] = []
    word_counts: list[int] = []
    members: list[list[_Phrasing]] = []
    leaders_with: dict[str, list[int]] = defaultdict(list)  # word -> leaders using it
    for phrasing in phrasings:
        words = set(phrasing.tokens)
        shared = Counter(leader for word in words for leader in leaders_with.get(word, ()))
        candidates = [c for c, n in shared.items() if n >= SHARED_WORDS * min(len(words), word_counts[c])]
        text = " ".join(phrasing.tokens)
        best = process.extractOne(
            text, [leaders[c] for c in candidates], scorer=fuzz.token_sort_ratio, score_cutoff=SIMILAR
        )
        if best is not None:
            members[candidates[best[2]]].append(phrasing)
            continue
        for word in words:
            leaders_with[word].append(len(leaders))
        leaders.append(text)
        word_counts.append(len(words))
        members.append([phrasing])
    return members


def _biggest_then_latest(members: list[_Phrasing]) -> tuple[int, float]:
    return -sum(len(p.rows) for p in members), -max(p.rows[0].asked_at.timestamp() for p in members)


def cluster_stub_yaml(cluster: Cluster, kb: KnowledgeBase) -> str:
    """A topic file drafted from `cluster`: its questions filled in, everything else left empty
    with a TODO, so `platbot check` reports the file until a person has written it."""
    topic_id = stub_id(cluster, kb)
    closest = kb.get(cluster.closest) if cluster.closest else None
    area = closest.area if closest else "TODO-area"
    questions = {lang: [s.text for s in cluster.samples if detect_lang(s.text) == lang] for lang in LANGS}
    seen = f"{cluster.first_seen:%Y-%m-%d} to {cluster.last_seen:%Y-%m-%d}"
    lines = [
        f"# TODO: a topic drafted by `platbot unanswered` from {cluster.count} unanswered questions ({seen}).",
        f"# Save it as {area}/{topic_id}.yaml in the knowledge directory and fill in every TODO (knowledge/README.md):",
        "# `platbot check` reports the empty fields, and too few example questions, until then.",
        f"id: {_scalar(topic_id)}",
        "title:",
        "  en: ''  # TODO: a short noun phrase, 75 characters at most",
        "  ja: ''  # TODO",
        "services: []  # TODO: the AWS services the answer involves",
        "questions:  # TODO: at least 16 English and 10 Japanese",
    ]
    for lang in LANGS:
        if questions[lang]:
            lines.append(f"  {lang}:")
            lines += [f"    {yaml_item(text)}" for text in questions[lang]]
        else:
            lines.append(f"  {lang}: []")
    lines += [
        "answer:  # TODO: Slack mrkdwn, the first sentence answers (knowledge/README.md, style guide)",
        "  en: ''",
        "  ja: ''",
        "links: []  # TODO: official docs, https; each {title, url}",
        f"related: [{_scalar(closest.id)}]" if closest else "related: []",
    ]
    return "\n".join(lines) + "\n"


def _scalar(value: str) -> str:
    """`value` as YAML must write it to read back a string: an id of digits is a number unquoted."""
    return yaml_item(value).removeprefix("- ")


def stub_id(cluster: Cluster, kb: KnowledgeBase) -> str:
    """An id from the Latin words of the first sample that has some (filler dropped: a Japanese
    sample gives its product names), unused by any topic."""
    words: list[str] = []
    for sample in cluster.samples:
        words = [w for w in re.findall(r"[a-z0-9]+", fold(sample.text)) if w not in kb.vocabulary.stopwords]
        if words:
            break
    base = "-".join(words[:STUB_ID_WORDS]) or "new-topic"
    topic_id, n = base, 1
    while kb.get(topic_id) is not None:
        n += 1
        topic_id = f"{base}-{n}"
    return topic_id


def _window(since: datetime, until: datetime) -> list[Any]:
    return [Question.outcome.in_(UNANSWERED), Question.asked_at >= since, Question.asked_at < until]


def _unanswered(since: datetime, until: datetime) -> Select[Any]:
    columns = (Question.text, Question.lang, Question.outcome, Question.asked_at, Question.offered)
    return select(*columns).where(*_window(since, until), Question.text.is_not(None))


def _read(engine: Engine, query: Select[Any]) -> list[_Row]:
    try:
        with engine.connect() as connection:
            result = connection.execute(query).all()
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None
    return [_Row(text, lang, outcome, at, tuple(offered or ())) for text, lang, outcome, at, offered in result]


def _phrasings(rows: list[_Row], normalize: Callable[[str], Normalized]) -> list[_Phrasing]:
    """Rows (most recent first) by normalised text, the most asked phrasing first, then the most
    recent. Texts with no words left ("???", a lone emoji) say nothing to cluster on."""
    by_text: dict[tuple[str, ...], _Phrasing] = {}
    for row in rows:
        tokens = normalize(row.text).tokens
        if tokens:
            by_text.setdefault(tokens, _Phrasing(tokens)).rows.append(row)
    phrasings = list(by_text.values())  # in order of their most recent question
    phrasings.sort(key=lambda p: -len(p.rows))  # stable: ties stay most recent first
    return phrasings


def _summary(members: list[_Phrasing], kb: KnowledgeBase, matcher: Matcher) -> Cluster:
    rows = [row for phrasing in members for row in phrasing.rows]
    leader = members[0].rows[0].text
    ranked = matcher.rank(leader, limit=1)
    closest, confidence = (ranked[0].topic.id, ranked[0].confidence) if ranked else (_most_offered(rows, kb), None)
    answer = matcher.match(leader)
    return Cluster(
        count=len(rows),
        samples=tuple(Sample(p.rows[0].text, p.rows[0].lang) for p in members[:MAX_SAMPLES]),
        languages=dict(Counter(row.lang for row in rows).most_common()),
        outcomes=dict(Counter(row.outcome for row in rows).most_common()),
        first_seen=min(row.asked_at for row in rows),
        last_seen=max(row.asked_at for row in rows),
        closest=closest,
        closest_confidence=confidence,
        answered_by=answer.topic.id if answer.topic is not None else None,
    )


def _most_offered(rows: list[_Row], kb: KnowledgeBase) -> str | None:
    """The topic offered most often to the did-you-mean questions (ties: the first offered)."""
    offered = Counter(topic for row in rows for topic in row.offered if kb.get(topic) is not None)
    return offered.most_common(1)[0][0] if offered else None
