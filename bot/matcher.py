"""Map a free-text question to one curated topic, a short list of guesses, or a polite no.

    question -> normalise -> shortlist (inverted index) -> score -> answer | did-you-mean | decline

A topic's score mixes two kinds of evidence, each in [0, 1]:

- lexical: how much of the question's information the topic's example questions explain,
  weighing each token by its rarity across topics (IDF). Words no topic knows ("lunch",
  "poem") count against every topic: that is what declines out-of-scope questions.
- fuzzy: rapidfuzz token-set and token-sort ratios against the topic's closest example
  question, which forgive typos, word order and extra context.

Product names are entities and weigh on top: a question about EKS that lands on a topic
whose examples never mention EKS loses confidence, however well the other words agree.

The matcher is pure and deterministic: no I/O, no clock, no randomness; ties break by id.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.normalize import MARKERS, OFF_TOPIC, OTHER_PLATFORM, OTHER_SERVICE, Normalized, Normalizer, detect_lang

# Questions longer than this are cut before matching: a pasted log of 40,000 characters
# says nothing more about intent than its first lines, and scoring it would be slow.
MAX_QUERY_CHARS = 1_000

# Topics scored in full after the lexical pass; more changed no result on the eval set.
SHORTLIST = 6

# Products that define a platform. A topic built around one of them (ECS) answering a
# question that names another (Lambda) is almost always wrong; one that names none is a
# little less sure (UNNAMED_PLATFORM), since a sibling topic may suit another platform.
PLATFORMS = frozenset({"ecs", "eks", "kubernetes", "lambda", "apprunner", "awsbatch"})
UNNAMED_PLATFORM = 0.9

# What makes a question about S3 or IAM users a container question after all.
CONTAINER_ENTITIES = PLATFORMS | {"fargate", "fargatespot", "ecstask", "fargatetask", "ecr", "vpccni"}
CONTAINER_WORDS = frozenset({"container", "cluster", "task", "pod", "タスク", "ポッド"})


@dataclass(frozen=True)
class Thresholds:
    """Decision bands, tuned on tests/eval with `platbot eval`."""

    answer: float = 0.34  # best score needed to answer outright
    margin: float = 0.02  # ...and its lead over the runner-up
    vague_margin: float = 0.15  # the lead needed when the question is one word ("secrets")
    suggest: float = 0.25  # below this nothing is plausible enough to offer
    suggest_window: float = 0.12  # suggestions stay within this distance of the best
    max_suggestions: int = 3


@dataclass(frozen=True)
class Suggestion:
    topic: Topic
    confidence: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided. `topic` is set only when it answers."""

    query: str
    lang: Lang
    topic: Topic | None
    confidence: float
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def matched(self) -> bool:
        return self.topic is not None


@dataclass(frozen=True)
class _Scored:
    index: int
    score: float


class Matcher:
    """An index over one knowledge base. Build once (milliseconds); `match` is pure."""

    def __init__(self, kb: KnowledgeBase, thresholds: Thresholds | None = None) -> None:
        self.kb = kb
        self.thresholds = thresholds or Thresholds()
        self.normalize = Normalizer(kb.vocabulary)
        self._topics = sorted(kb.topics, key=lambda t: t.id)
        self._docs: list[list[str]] = []
        self._entity_share: list[dict[str, float]] = []
        self._platforms: list[frozenset[str]] = []  # platforms at least half the examples name
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, topic in enumerate(self._topics):
            docs = [self.normalize(text) for text in _documents(topic)]
            docs = [d for d in docs if d.tokens]
            self._docs.append(sorted({d.text for d in docs}))
            entity_share = _share(d.entities for d in docs)
            self._entity_share.append(entity_share)
            self._platforms.append(frozenset(e for e, s in entity_share.items() if e in PLATFORMS and s >= 0.5))
            for token, share in _share(set(d.tokens) for d in docs).items():
                postings[token].append((i, share))
        n = max(len(self._topics), 1)
        self._postings = dict(postings)
        self._idf = {t: math.log(1 + n / len(p)) for t, p in postings.items()}
        # An unknown word is treated as rare, but not as rare as the rarest known one:
        # long questions carry context words no topic needs to know.
        self._unknown_idf = 0.6 * math.log(1 + n)
        self._crowded = max(50, n // 10)
        # Words a typo may be corrected to, by length: an edit or two changes length by at most two.
        self._spellable: dict[int, list[str]] = defaultdict(list)
        for token in sorted(postings):
            if len(token) >= 5 and token.isascii() and token.isalpha() and len(postings[token]) >= 2:
                self._spellable[len(token)].append(token)

    def match(self, query: str, lang: Lang | None = None) -> MatchResult:
        lang = lang or detect_lang(query)
        ranked, vague = self._rank(query)
        t = self.thresholds
        if not ranked or ranked[0].score < t.suggest:
            best = ranked[0].score if ranked else 0.0
            return MatchResult(query, lang, None, round(best, 3))
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        margin = t.vague_margin if vague else t.margin
        if best.score >= t.answer and best.score - runner_up >= margin:
            return MatchResult(query, lang, self._topics[best.index], round(best.score, 3))
        suggestions = tuple(
            Suggestion(self._topics[s.index], round(s.score, 3))
            for s in ranked[: t.max_suggestions]
            if s.score >= t.suggest and best.score - s.score <= max(t.suggest_window, margin)
        )
        return MatchResult(query, lang, None, round(best.score, 3), suggestions)

    def rank(self, query: str, limit: int = 10) -> list[Suggestion]:
        """Topics by descending score (ties by id), at most `limit`, whatever the decision."""
        return [Suggestion(self._topics[s.index], round(s.score, 3)) for s in self._rank(query, limit)[0]]

    def _rank(self, query: str, limit: int = 10) -> tuple[list[_Scored], bool]:
        """The ranking, and whether the question is too vague to answer without a clear lead."""
        q = self._correct(self.normalize(query[:MAX_QUERY_CHARS]))
        tokens = list(dict.fromkeys(t for t in q.tokens if t not in MARKERS))
        if not tokens or _declined(q):
            return [], False
        # Vague: one word and no product ("secrets"), or nothing but product names ("what is ECS").
        vague = all(t in q.entities for t in tokens) or (len(tokens) < 2 and not q.entities)
        lexical = self._lexical(tokens)
        if not lexical:
            return [], vague
        shortlist = sorted(lexical, key=lambda i: (-lexical[i], self._topics[i].id))[:SHORTLIST]
        text = q.text
        scored = []
        for i in shortlist:
            similarity = self._similarity(text, i)
            score = (0.6 * lexical[i] + 0.4 * similarity) * self._entity_factor(i, q.entities)
            scored.append(_Scored(i, score))
        scored.sort(key=lambda s: (-s.score, self._topics[s.index].id))
        return scored[:limit], vague

    def _similarity(self, text: str, i: int) -> float:
        """Closeness to the topic's nearest example question, in [0, 1].

        token_set_ratio forgives the context words of long questions (the example's words are
        all there); token_sort_ratio keeps one shared word from counting as a perfect match.
        """
        docs = self._docs[i]
        best_set = process.extractOne(text, docs, scorer=fuzz.token_set_ratio)
        best_sort = process.extractOne(text, docs, scorer=fuzz.token_sort_ratio)
        return ((best_set[1] if best_set else 0.0) + (best_sort[1] if best_sort else 0.0)) / 200

    def _lexical(self, tokens: list[str]) -> dict[int, float]:
        """Share of the question's information (IDF mass) each candidate topic explains."""
        total = sum(self._idf.get(t, self._unknown_idf) for t in tokens)
        gained: dict[int, float] = defaultdict(float)
        # Rare tokens first: they find the candidates. Tokens shared by a crowd of topics
        # only add to candidates already found, which bounds the work on large bases.
        for token in sorted(tokens, key=lambda t: -self._idf.get(t, 0.0)):
            posting = self._postings.get(token)
            if posting is None:
                continue
            idf = self._idf[token]
            crowded = len(posting) > self._crowded and gained
            for i, share in posting:
                if crowded and i not in gained:
                    continue
                gained[i] += idf * (0.4 + 0.6 * share)
        return {i: g / total for i, g in gained.items()}

    def _entity_factor(self, i: int, entities: frozenset[str]) -> float:
        share = self._entity_share[i]
        platforms = self._platforms[i]
        # A topic about one platform, and a question that names none ("where do secrets go?"):
        # sibling topics for other platforms are as likely, so be less sure.
        factor = UNNAMED_PLATFORM if platforms and not platforms & entities else 1.0
        if not entities:
            return factor
        # An entity counts as fully covered once a third of the topic's examples name it.
        cover = sum(min(1.0, share.get(e, 0.0) * 3) for e in entities) / len(entities)
        factor *= 0.55 + 0.45 * cover
        if entities & PLATFORMS:
            foreign = [e for e in platforms if e not in entities]
            factor *= 0.85 ** min(len(foreign), 2)
        return factor

    def _correct(self, q: Normalized) -> Normalized:
        """Fix likely typos of words the knowledge base uses ("secrts", "schedual").

        Edits count as in OSA distance, so a swap of two letters ("lamdba") is one edit.
        Only words of six letters or more: acronyms (ECS/EKS) must never be corrected, and
        short words are too often another real word ("lunch" is one letter from "launch").
        """
        fixed: list[str] = []
        changed = False
        for token in q.tokens:
            if token in self._idf or len(token) < 6 or not token.isascii():
                fixed.append(token)
                continue
            max_edits = 1 if len(token) < 9 else 2
            lengths = range(len(token) - max_edits, len(token) + max_edits + 1)
            near = [word for n in lengths for word in self._spellable.get(n, ())]
            hit = process.extractOne(token, near, scorer=OSA.distance, score_cutoff=max_edits)
            if hit is None:
                fixed.append(token)
            else:
                fixed.append(hit[0])
                changed = True
        if not changed:
            return q
        entities = set(q.entities) | {t for t in fixed if t in self.normalize.entities}
        return Normalized(tuple(fixed), frozenset(entities))


def _declined(q: Normalized) -> bool:
    """A request platbot never serves; one about another platform and no AWS one; or one about
    an AWS service outside containers that says nothing of containers."""
    entities = q.entities
    if OFF_TOPIC in entities or (OTHER_PLATFORM in entities and not entities & PLATFORMS):
        return True
    return OTHER_SERVICE in entities and not (entities & CONTAINER_ENTITIES or CONTAINER_WORDS.intersection(q.tokens))


def _documents(topic: Topic) -> list[str]:
    return [text for lang in LANGS for text in (topic.title[lang], *topic.questions[lang])]


def _share(groups: Iterable[Iterable[str]]) -> dict[str, float]:
    """For each item, the fraction of the groups that contain it."""
    counts: Counter[str] = Counter()
    n = 0
    for group in groups:
        counts.update(group)
        n += 1
    return {k: v / n for k, v in counts.items()} if n else {}
