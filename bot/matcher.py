"""Map a free-text question to one curated topic, a few choices, or a polite no.

    question -> triage -> normalise -> candidates -> evidence -> ranking -> calibrated decision

Triage (triage.py) replies to greetings and drops junk before any matching. Each candidate
topic then gets four pieces of evidence:

- lexical: how much of the question's information the topic's examples explain, each token
  weighed by its rarity across topics (IDF). Words no topic knows ("lunch") count against
  every topic: that is what declines out-of-scope questions.
- similarity: rapidfuzz token-set and token-sort ratios against the topic's closest example,
  which forgive typos, word order and extra context.
- bayes: the naive Bayes classifier (classifier.py), trained on every example question and on
  the known out-of-scope ones, which hears every example of a topic, not only the closest.
- entity: product names weigh on top. A question about EKS landing on a topic whose examples
  never mention EKS loses confidence, however well the other words agree.

A logistic model fitted by cross-validation (calibration.py, `platbot tune`) weighs them
into one score per candidate; a second turns the best score, its lead and the out-of-scope
evidence into the probability that the best candidate is right, which decides:

- answer: probable enough; plausible runners-up that are related to it come as "See also";
- clarify: a real toss-up, or a vague question: the plausible topics as choices;
- decline: nothing plausible; smalltalk: a greeting, answered with how to ask.

The matcher is pure and deterministic: no I/O, no clock, no randomness; ties break by id.
"""

from __future__ import annotations

import copy
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.calibration import Calibration, sigmoid
from bot.classifier import NaiveBayes, features
from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.normalize import MARKERS, OFF_TOPIC, OTHER_PLATFORM, OTHER_SERVICE, Normalized, Normalizer, detect_lang
from bot.triage import Triager

Outcome = Literal["answer", "clarify", "decline", "smalltalk"]

# Questions longer than this are cut before matching: a pasted log of 40,000 characters
# says nothing more about intent than its first lines, and scoring it would be slow.
MAX_QUERY_CHARS = 2_000

# Candidates scored in full: the best by lexical evidence, and the classifier's best.
LEXICAL_SHORTLIST = 6
BAYES_SHORTLIST = 3
# Naive Bayes log-scores relative to the best class are cut here: beyond, a topic is out.
BAYES_FLOOR = 12.0

# The class the classifier learns from knowledge/out-of-scope.yaml.
DECLINED = "(out of scope)"

# Products that define a platform. A topic built around one of them (ECS) answering a
# question that names another (Lambda) is almost always wrong; one that names none is a
# little less sure (UNNAMED_PLATFORM), since a sibling topic may suit another platform.
PLATFORMS = frozenset({"ecs", "eks", "kubernetes", "lambda", "apprunner", "awsbatch"})
UNNAMED_PLATFORM = 0.9

# What makes a question about S3 or IAM users a container question after all.
CONTAINER_ENTITIES = PLATFORMS | {"fargate", "fargatespot", "ecstask", "fargatetask", "ecr", "vpccni"}
CONTAINER_WORDS = frozenset({"container", "cluster", "task", "pod", "タスク", "ポッド"})

# A token shared by more than this share of topics says nothing about which one is meant.
GENERIC_SHARE = 0.25


@dataclass(frozen=True)
class Suggestion:
    topic: Topic
    confidence: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided. `topic` is set only when it answers."""

    query: str
    lang: Lang
    outcome: Outcome
    topic: Topic | None = None
    confidence: float = 0.0
    suggestions: tuple[Suggestion, ...] = ()  # clarify: the choices
    see_also: tuple[Suggestion, ...] = ()  # answer: plausible related topics

    @property
    def matched(self) -> bool:
        return self.topic is not None


@dataclass(frozen=True)
class Candidate:
    """One topic's evidence for one question, and the ranking model's view of it."""

    index: int
    lexical: float
    similarity: float
    bayes: float
    entity: float
    score: float  # the ranking logit
    probability: float  # sigmoid(score): is this topic right, judged alone

    def features(self) -> tuple[float, float, float, float]:
        return ranking_features(self.lexical, self.similarity, self.bayes, self.entity)


def ranking_features(
    lexical: float, similarity: float, bayes: float, entity: float
) -> tuple[float, float, float, float]:
    """What the ranking model weighs (calibration.RANKING_FEATURES): the product-name factor
    scales the text evidence, since a topic about the wrong product is wrong however well the
    other words agree."""
    return (lexical * entity, similarity * entity, bayes, entity)


@dataclass(frozen=True)
class Evidence:
    """Everything the decision reads, kept for `platbot tune` to fit the models on."""

    candidates: tuple[Candidate, ...] = ()  # best first
    declined: float = 0.0  # how much the classifier prefers the out-of-scope class, in [0, 1]
    declined_similarity: float = 0.0  # closeness to the nearest out-of-scope example, in [0, 1]
    vague: bool = False  # one word, or nothing but product names
    reason: str = ""  # set when the question was turned away before scoring

    def confidence_features(self) -> tuple[float, float, float, float]:
        """What the confidence model reads (calibration.CONFIDENCE_FEATURES)."""
        best = self.candidates[0] if self.candidates else None
        if best is None:
            return (0.0, 0.0, self.declined, -self.declined_similarity)
        runner_up = self.candidates[1].score if len(self.candidates) > 1 else best.score - 4.0
        return (best.score, min(best.score - runner_up, 4.0), self.declined, best.similarity - self.declined_similarity)


class Matcher:
    """An index over one knowledge base. Build once (a fraction of a second); `match` is pure."""

    def __init__(self, kb: KnowledgeBase, calibration: Calibration | None = None) -> None:
        self.kb = kb
        self.calibration = calibration or Calibration.from_mapping(kb.tuning)
        self.normalize = Normalizer(kb.vocabulary)
        self.triage = Triager(kb.vocabulary.smalltalk)
        self._topics = sorted(kb.topics, key=lambda t: t.id)
        self._index_of = {t.id: i for i, t in enumerate(self._topics)}
        self._docs: list[list[str]] = []
        self._entity_share: list[dict[str, float]] = []
        self._platforms: list[frozenset[str]] = []  # platforms at least half the examples name
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        examples: list[tuple[Counter[str], str]] = []
        for i, topic in enumerate(self._topics):
            docs = [self.normalize(text) for text in _documents(topic)]
            docs = [d for d in docs if d.tokens]
            examples += [(features(d), topic.id) for d in docs]
            self._docs.append(sorted({d.text for d in docs}))
            entity_share = _share(d.entities for d in docs)
            self._entity_share.append(entity_share)
            self._platforms.append(frozenset(e for e, s in entity_share.items() if e in PLATFORMS and s >= 0.5))
            for token, share in _share(set(d.tokens) for d in docs).items():
                postings[token].append((i, share))
        declined_docs = [
            n for n in map(self.normalize, (q for lang in LANGS for q in kb.declined.get(lang, ()))) if n.tokens
        ]
        examples += [(features(n), DECLINED) for n in declined_docs]
        self._declined_docs = sorted({n.text for n in declined_docs})
        # Only out-of-scope examples sharing a word with the question can be close to it.
        self._declined_postings: dict[str, list[int]] = defaultdict(list)
        for d, text in enumerate(self._declined_docs):
            for token in set(text.split()):
                self._declined_postings[token].append(d)
        self._bayes = NaiveBayes.fit(examples, alpha=self.calibration.alpha) if examples else None
        self._bayes_topic = [self._index_of.get(c, -1) for c in self._bayes.classes] if self._bayes else []
        self._bayes_class = [-1] * len(self._topics)
        for c, i in enumerate(self._bayes_topic):
            if i >= 0:
                self._bayes_class[i] = c
        self._bayes_declined = (
            self._bayes.classes.index(DECLINED) if self._bayes and DECLINED in self._bayes.classes else -1
        )
        n = max(len(self._topics), 1)
        self._postings = dict(postings)
        self._idf = {t: math.log(1 + n / len(p)) for t, p in postings.items()}
        self._generic = frozenset(t for t, p in postings.items() if len(p) > GENERIC_SHARE * n and n >= 8)
        # An unknown word is treated as rare, but not as rare as the rarest known one:
        # long questions carry context words no topic needs to know.
        self._unknown_idf = 0.6 * math.log(1 + n)
        self._crowded = max(50, n // 10)
        # Words a typo may be corrected to, by length: an edit or two changes length by at most two.
        self._spellable: dict[int, list[str]] = defaultdict(list)
        for token in sorted(postings):
            if len(token) >= 5 and token.isascii() and token.isalpha() and len(postings[token]) >= 2:
                self._spellable[len(token)].append(token)
        self._vocabulary_words = frozenset(_vocabulary_words(kb)) | self.normalize.entities
        self._typos = self._known_typos(postings)
        # Short words are corrected only towards the vocabulary's own words, and only when one fits.
        self._short_words: dict[int, list[str]] = defaultdict(list)
        for word in sorted(_vocabulary_words(kb)):
            if 3 <= len(word) <= 6 and word in self._idf:
                self._short_words[len(word)].append(word)

    def with_calibration(self, calibration: Calibration) -> Matcher:
        """The same index deciding with other weights and thresholds (for `platbot tune`); the
        classifier keeps the smoothing it was built with."""
        clone = copy.copy(self)
        clone.calibration = calibration
        return clone

    def topic_at(self, index: int) -> Topic:
        """The topic a candidate's index points to."""
        return self._topics[index]

    # --- deciding ---------------------------------------------------------------------------

    def match(self, query: str, lang: Lang | None = None) -> MatchResult:
        lang = lang or detect_lang(query)
        query = query[:MAX_QUERY_CHARS]
        triage = self.triage(query)
        if triage.kind == "smalltalk":
            return MatchResult(query, lang, "smalltalk")
        if triage.kind != "question":
            return MatchResult(query, lang, "decline")
        return self.decide(query, lang, self.evidence(query, triage.focus))

    def decide(self, query: str, lang: Lang, evidence: Evidence) -> MatchResult:
        t = self.calibration.thresholds
        candidates = evidence.candidates
        if not candidates:
            return MatchResult(query, lang, "decline")
        confidence = round(self.calibration.confidence.probability(evidence.confidence_features()), 3)
        best = candidates[0]
        plausible = [c for c in candidates[1:] if c.probability >= t.plausible]
        if confidence < t.clarify:
            return MatchResult(query, lang, "decline", confidence=confidence)
        related = [c for c in plausible if self._related(best.index, c.index)]
        if evidence.vague and plausible:
            return self._clarify(query, lang, confidence, [best, *plausible])
        if confidence >= t.answer or (related and confidence >= t.related) or (evidence.vague and not plausible):
            see_also = tuple(self._suggestion(c) for c in related[: t.max_choices])
            return MatchResult(query, lang, "answer", self._topics[best.index], confidence, see_also=see_also)
        return self._clarify(query, lang, confidence, [best, *plausible])

    def _clarify(self, query: str, lang: Lang, confidence: float, choices: list[Candidate]) -> MatchResult:
        limit = self.calibration.thresholds.max_choices
        suggestions = tuple(self._suggestion(c) for c in choices[:limit])
        return MatchResult(query, lang, "clarify", confidence=confidence, suggestions=suggestions)

    def _suggestion(self, c: Candidate) -> Suggestion:
        return Suggestion(self._topics[c.index], round(c.probability, 3))

    def _related(self, a: int, b: int) -> bool:
        first, second = self._topics[a], self._topics[b]
        return second.id in first.related or first.id in second.related

    def rank(self, query: str, limit: int = 10) -> list[Suggestion]:
        """Topics by descending score (ties by id), at most `limit`, whatever the decision."""
        return [self._suggestion(c) for c in self.evidence(query[:MAX_QUERY_CHARS]).candidates[:limit]]

    # --- evidence ---------------------------------------------------------------------------

    def evidence(self, query: str, focus_text: str | None = None) -> Evidence:
        """The scored candidates for a question (best first), or why there are none.
        `focus_text` is triage's focus, when the caller has already triaged the question."""
        full = self._correct(self.normalize(query))
        if reason := _declined(full):
            return Evidence(reason=reason)
        tokens = _content(full)
        if not tokens:
            return Evidence(reason="no words")
        if (
            len(tokens) <= 2
            and not (full.entities - MARKERS)
            and all(t in self._generic or t not in self._idf for t in tokens)
        ):
            return Evidence(reason="nothing specific")  # "test", "OR", "how does it work"
        if focus_text is None:
            focus_text = self.triage(query).focus
        focus = self._correct(self.normalize(focus_text)) if focus_text else None
        # Vague: one word and no product ("secrets"), or nothing but product names ("what is ECS").
        entities = full.entities - MARKERS
        vague = all(t in entities for t in tokens) or (len(tokens) < 2 and not entities)

        lexical = self._lexical(tokens)
        if focus is not None and (focus_tokens := _content(focus)):
            for i, value in self._lexical(focus_tokens).items():
                lexical[i] = max(lexical.get(i, 0.0), value)
        bag = features(full)
        if focus is not None:
            bag.update(features(focus))  # the asking sentences count twice

        shortlist = sorted(lexical, key=lambda i: (-lexical[i], self._topics[i].id))[:LEXICAL_SHORTLIST]
        shortlist += self._bayes_likely(bag)
        shortlist = list(dict.fromkeys(shortlist))
        bayes, declined = self._bayes_scores(bag, shortlist)
        text = focus.text if focus is not None and focus.tokens else full.text
        ranking = self.calibration.ranking
        candidates = []
        for i in shortlist:
            similarity = self._similarity(text, i)
            if focus is not None:
                similarity = max(similarity, self._similarity(full.text, i))
            evidence = (lexical.get(i, 0.0), similarity, bayes.get(i, 0.0), self._entity_factor(i, entities))
            score = ranking.logit(ranking_features(*evidence))
            candidates.append(Candidate(i, *evidence, score, sigmoid(score)))
        candidates.sort(key=lambda c: (-c.score, self._topics[c.index].id))
        declined_similarity = self._declined_closeness(text)
        return Evidence(tuple(candidates), declined, declined_similarity, vague)

    def _bayes_likely(self, bag: Counter[str]) -> list[int]:
        """The topics the classifier's cheap first pass points to."""
        if self._bayes is None:
            return []
        likely = self._bayes.likely(bag, BAYES_SHORTLIST + 1)
        return [self._bayes_topic[c] for c in likely if self._bayes_topic[c] >= 0][:BAYES_SHORTLIST]

    def _bayes_scores(self, bag: Counter[str], shortlist: list[int]) -> tuple[dict[int, float], float]:
        """The classifier's score of each shortlisted topic and of the out-of-scope class, in
        [0, 1]: 1 for the best of them, 0 for BAYES_FLOOR (in log-probability) below it."""
        if self._bayes is None:
            return {}, 0.0
        classes = [self._bayes_class[i] for i in shortlist if self._bayes_class[i] >= 0]
        if self._bayes_declined >= 0:
            classes.append(self._bayes_declined)
        scores = self._bayes.log_scores_of(bag, classes)
        best = max(scores.values())
        relative = {c: max(0.0, 1.0 + (s - best) / BAYES_FLOOR) for c, s in scores.items()}
        by_topic = {self._bayes_topic[c]: r for c, r in relative.items() if self._bayes_topic[c] >= 0}
        return by_topic, relative.get(self._bayes_declined, 0.0)

    def _declined_closeness(self, text: str) -> float:
        near = {d for token in set(text.split()) for d in self._declined_postings.get(token, ())}
        return _closeness(text, [self._declined_docs[d] for d in sorted(near)]) if near else 0.0

    def _similarity(self, text: str, i: int) -> float:
        """Closeness to the topic's nearest example question, in [0, 1].

        token_set_ratio forgives the context words of long questions (the example's words are
        all there); token_sort_ratio keeps one shared word from counting as a perfect match.
        """
        return _closeness(text, self._docs[i])

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

    def _known_typos(self, postings: dict[str, list[tuple[int, float]]]) -> dict[str, str]:
        """Typos the example questions make on purpose ("lamdba"): a word of one topic that is one
        slip from exactly one word of three topics or more is that word, in questions too."""
        typos = {}
        names = self._vocabulary_words
        for token, posting in postings.items():
            if len(posting) != 1 or len(token) < 6 or not (token.isascii() and token.isalpha()) or token in names:
                continue
            near = [w for n in (len(token) - 1, len(token), len(token) + 1) for w in self._spellable.get(n, ())]
            hits = [w for w in near if len(postings[w]) >= 3 and _slip(token, w)]
            if len(hits) == 1:
                typos[token] = hits[0]
        return typos

    def _correct(self, q: Normalized) -> Normalized:
        """Fix likely typos of words the knowledge base uses ("secrts", "schedual", "cluter").

        Edits count as in OSA distance, so a swap of two letters ("lamdba") is one edit.
        Words of six letters or more may become any word of the index; shorter ones only a
        word of the vocabulary, one edit away, and only when exactly one fits. Acronyms
        (ECS/EKS) are entities and never corrected; neither is a word the index knows, unless
        it is itself a typo in an example question (`_known_typos`).
        """
        fixed: list[str] = []
        changed = False
        for token in q.tokens:
            if token in self._typos:
                fixed.append(self._typos[token])
                changed = True
                continue
            if token in self._idf or len(token) < 4 or not token.isascii() or not token.isalpha():
                fixed.append(token)
                continue
            if len(token) < 6:
                near = [w for n in (len(token) - 1, len(token), len(token) + 1) for w in self._short_words.get(n, ())]
                hits = [w for w in near if OSA.distance(token, w, score_cutoff=1) <= 1]
                word = hits[0] if len(hits) == 1 else None
            else:
                max_edits = 1 if len(token) < 9 else 2
                lengths = range(len(token) - max_edits, len(token) + max_edits + 1)
                near = [w for n in lengths for w in self._spellable.get(n, ())]
                hit = process.extractOne(token, near, scorer=OSA.distance, score_cutoff=max_edits)
                word = hit[0] if hit else None
            fixed.append(word or token)
            changed = changed or word is not None
        if not changed:
            return q
        entities = set(q.entities) | {t for t in fixed if t in self.normalize.entities}
        return Normalized(tuple(fixed), frozenset(entities))


def _closeness(text: str, docs: list[str]) -> float:
    best_set = process.extractOne(text, docs, scorer=fuzz.token_set_ratio)
    best_sort = process.extractOne(text, docs, scorer=fuzz.token_sort_ratio)
    return ((best_set[1] if best_set else 0.0) + (best_sort[1] if best_sort else 0.0)) / 200


def _slip(typed: str, word: str) -> bool:
    """A slip of the finger, not another word: two neighbouring letters swapped ("lamdba"), or
    one letter dropped or doubled inside the word ("contaner"). Inflections ("cached"), other
    words one letter apart ("attach", "attack") and edits at either end ("ending") are not."""
    if len(typed) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and typed[diff[0]] == word[diff[1]]
            and typed[diff[1]] == word[diff[0]]
        )
    short, long = sorted((typed, word), key=len)
    if len(long) - len(short) != 1:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(1, len(long) - 1))


def _content(n: Normalized) -> list[str]:
    return list(dict.fromkeys(t for t in n.tokens if t not in MARKERS))


def _declined(q: Normalized) -> str:
    """Why a question is never served, or "": a request platbot never serves; one about
    another platform and no AWS one; one about an AWS service outside containers that says
    nothing of containers."""
    entities = q.entities
    if OFF_TOPIC in entities:
        return "off topic"
    if OTHER_PLATFORM in entities and not entities & PLATFORMS:
        return "other platform"
    if OTHER_SERVICE in entities and not (entities & CONTAINER_ENTITIES or CONTAINER_WORDS.intersection(q.tokens)):
        return "other service"
    return ""


def _documents(topic: Topic) -> list[str]:
    return [text for lang in LANGS for text in (topic.title[lang], *topic.questions[lang])]


def _vocabulary_words(kb: KnowledgeBase) -> set[str]:
    """Single words the vocabulary names: canonical names and one-word aliases."""
    words: set[str] = set()
    v = kb.vocabulary
    for canonical, aliases in (*v.entities.items(), *v.synonyms.items()):
        words.add(canonical)
        words.update(a.casefold() for a in aliases if a.isascii() and a.isalpha())
    return words


def _share(groups: Iterable[Iterable[str]]) -> dict[str, float]:
    """For each item, the fraction of the groups that contain it."""
    counts: Counter[str] = Counter()
    n = 0
    for group in groups:
        counts.update(group)
        n += 1
    return {k: v / n for k, v in counts.items()} if n else {}
