"""Map a free-text question to one curated topic, a few choices, or a polite no.

    question -> triage -> normalise -> candidates -> evidence -> ranking -> calibrated decision

Triage (triage.py) replies to greetings and drops junk before any matching. Each candidate
topic then gets five pieces of evidence:

- lexical: how much of the question's information the topic's examples explain, each token
  weighed by its rarity across topics (IDF). Words no topic knows ("lunch") count against
  every topic: that is what declines out-of-scope questions.
- similarity: rapidfuzz's token-sort ratio against the topic's closest example in the
  question's language, which forgives typos and word order.
- bayes: the naive Bayes classifier (classifier.py), trained on every example question and on
  the known out-of-scope ones, which hears every example of a topic, not only the closest.
- entity: product names weigh on top. A question about EKS landing on a topic whose examples
  never mention EKS loses confidence, however well the other words agree.
- bm25: Okapi BM25 over the question's words as typed (no vocabulary), each topic's examples
  one document: a pasted error name or API field that one topic's examples use often.

A logistic model fitted by cross-validation (calibration.py, `platbot tune`) weighs them
into one score per candidate; a second turns the best score, its lead and the out-of-scope
evidence into the probability that the best candidate is right, and a third into the
probability that the right topic is among the few worth offering. They decide:

- answer: probable enough; plausible runners-up that are related to it come as "See also";
- clarify: a real toss-up (the right topic is within reach, not which one), or a vague
  question: the plausible topics as choices;
- decline: nothing plausible; smalltalk: a greeting, answered with how to ask.

The matcher is pure and deterministic: no I/O, no clock, no randomness; ties break by id.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from rapidfuzz import fuzz, process

from bot.calibration import CONFIDENCE_FEATURES, Calibration, Thresholds, sigmoid
from bot.classifier import NaiveBayes, Perceptron, features, pack_postings, posting_lengths, unpack_postings
from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.normalize import (
    MARKERS,
    OFF_TOPIC,
    OTHER_HOST,
    OTHER_PLATFORM,
    OTHER_SERVICE,
    Normalized,
    Normalizer,
    detect_lang,
    plain_terms,
)
from bot.packing import STRINGS, Packer, Sections
from bot.spelling import Speller
from bot.triage import Triager

Outcome = Literal["answer", "clarify", "decline", "smalltalk"]
Vague = Literal["", "word", "products"]
Band = Literal["decline", "answer", "clarify"]

# Questions longer than this are cut before matching: a pasted log of 40,000 characters
# says nothing more about intent than its first lines, and scoring it would be slow.
MAX_QUERY_CHARS = 2_000

# Candidates scored in full: the best by lexical evidence, the classifier's and BM25's best.
LEXICAL_SHORTLIST = 3
BAYES_SHORTLIST = 3
BM25_SHORTLIST = 2
# Okapi BM25's term-frequency saturation and length normalisation: the usual values.
BM25_K1 = 1.5
BM25_B = 0.75
SIMILARITY_TOKENS = 40
# Words of a question that count at all: the first ones of a long message (and the sentences
# that ask, see triage), not the rest of a pasted log.
MAX_TOKENS = 80
CROWD_MIN = 12  # words a question needs before common ones stop adding new candidates
LONG_WORDS = 8  # content words beyond which the confidence model counts a question as long
# A one-word question gets choices only among topics the ranking gives this much on their own.
VAGUE_WORD = 0.9
# Naive Bayes log-scores relative to the best class are cut here: beyond, a topic is out.
BAYES_FLOOR = 12.0
# The perceptron's lead, beyond which more says nothing new (a right answer's median is about
# 0.17, a wrong or off-topic one's about 0).
LEARNED_CLIP = 0.5

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
# A load balancer counts too: certificates, DNS names and 502s at the ALB in front of a
# service are container questions ("a real cert on the load balancer, domain on Route 53").
SERVICE_ANCHORS = CONTAINER_ENTITIES | {"alb"}
# What keeps a question that names another platform (on-premises Kubernetes, GKE) in scope:
# an AWS product or AWS itself ("moving from on-prem Kubernetes to EKS").
AWS_ENTITIES = CONTAINER_ENTITIES - {"kubernetes"}
AWS_WORDS = frozenset({"aws", "amazon", "ec2"})
# Other AWS services that run containers (Lightsail, Beanstalk, SageMaker) stay out of scope
# however much they speak of containers, unless the question also names a platform platbot
# covers ("moving off Beanstalk to ECS"). An image in ECR is not enough: they all pull from it.
HOST_ANCHORS = PLATFORMS | {"fargate", "fargatespot", "ecstask", "fargatetask"}

_TINY = 1e-9  # floor for probabilities before a log

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
    bm25: float
    score: float  # the ranking logit
    probability: float  # sigmoid(score): is this topic right, judged alone

    def features(self) -> tuple[float, ...]:
        return ranking_features(self.lexical, self.similarity, self.bayes, self.entity, self.bm25)


def ranking_features(lexical: float, similarity: float, bayes: float, entity: float, bm25: float) -> tuple[float, ...]:
    """What the ranking model weighs (calibration.RANKING_FEATURES): the product-name factor
    scales the text evidence, since a topic about the wrong product is wrong however well the
    other words agree."""
    return (lexical * entity, similarity * entity, bayes, entity, bm25 * entity)


@dataclass(frozen=True)
class Evidence:
    """Everything the decision reads, kept for `platbot tune` to fit the models on."""

    candidates: tuple[Candidate, ...] = ()  # best first
    declined: float = 0.0  # the classifier's lean to the out-of-scope class over the best topic, in [-1, 1]
    declined_similarity: float = 0.0  # closeness to the nearest out-of-scope example, in [0, 1]
    vague: Vague = ""  # "word": one known word and no product ("secrets"); "products": nothing but names
    reason: str = ""  # set when the question was turned away before scoring
    words: int = 0  # content words the question was matched on
    aws: bool = False  # names an AWS container product (ECS, Fargate, ECR...)
    learned: float = 0.0  # the perceptron's lead of the best candidate over every other class

    @functools.cached_property
    def confidence_features(self) -> tuple[float, ...]:
        """What the confidence and reach models read (calibration.CONFIDENCE_FEATURES), computed
        once (tuning asks a thousand times):

        - own, share: the log of the best candidate's own probability and of its share among the
          candidates (both must be high: a lone candidate with weak evidence is no answer);
        - declined: the classifier's lean to the out-of-scope class;
        - closer: how much closer the question is to the best topic's examples than to the
          out-of-scope ones;
        - covered: how much of the question's information that topic explains (the classifier
          only compares topics; "who won the 2022 world cup" shares one word with one topic and
          none with the others);
        - long: how far the question runs past LONG_WORDS content words (in logs);
        - aws: whether it names an AWS container product;
        - margin: the classifier's lead of the best over the runner-up;
        - agree_bayes, agree_lexical: whether the classifier and the word overlap, each on its
          own, would have put the same topic first (independent evidence agreeing is worth more
          than either);
        - similar: the best topic's fuzzy closeness to the question;
        - learned: the perceptron's lead of the best candidate over every other class (the
          out-of-scope one too), clipped: a second opinion of another kind, trained on its
          mistakes rather than by counting. Positive when it agrees, and by how much: one known
          word in an off-topic question ("a café spot in Shibuya") wins by little;
        - bm25: the best topic's BM25 score over the plain words, relative to BM25's own best
          (1 when BM25 agrees);
        - named: how much better the best topic covers the products the question names than any
          runner-up does ("karpenter" and one Karpenter topic among the candidates: the words
          around it may be shared, the product is not).
        """
        # Beyond a sentence's worth of words, a clear winner is right more often than its
        # probabilities say: a long message carries more evidence than a one-liner.
        length = max(0.0, math.log(max(self.words, 1) / LONG_WORDS))
        aws = float(self.aws)
        if not self.candidates:
            nothing = (math.log(_TINY), 0.0, self.declined, -self.declined_similarity, 0.0, length, aws)
            return (*nothing, *(0.0,) * (len(CONFIDENCE_FEATURES) - len(nothing)))  # no best to compare
        best = self.candidates[0]
        own = max(best.probability, _TINY)
        # Its share of a softmax over the candidates' logits: the lead over each runner-up
        # counts, not only how many runners-up look plausible on their own.
        share = 1.0 / sum(math.exp(min(c.score - best.score, 0.0)) for c in self.candidates)
        runner_up = self.candidates[1].bayes if len(self.candidates) > 1 else 0.0
        return (
            math.log(own),
            math.log(share),
            self.declined,
            best.similarity - self.declined_similarity,
            best.lexical,
            length,
            aws,
            best.bayes - runner_up,
            float(max(self.candidates, key=lambda c: c.bayes) is best),
            float(max(self.candidates, key=lambda c: c.lexical) is best),
            best.similarity,
            self.learned,
            best.bm25,
            best.entity - max((c.entity for c in self.candidates[1:]), default=0.0),
        )


class Matcher:
    """An index over one knowledge base. Build once (a fraction of a second); `match` is pure."""

    def __init__(self, kb: KnowledgeBase, calibration: Calibration | None = None) -> None:
        self._set_up(kb, calibration, Normalizer(kb.vocabulary))
        docs: list[dict[Lang, list[str]]] = []  # each topic's examples, by language
        entity_share: list[dict[str, float]] = []
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        examples: list[tuple[Counter[str], str]] = []
        term_counts: list[Counter[str]] = []
        for i, topic in enumerate(self._topics):
            by_lang = {lang: [n for n in map(self.normalize, _documents(topic, lang)) if n.tokens] for lang in LANGS}
            topic_docs = [d for lang in LANGS for d in by_lang[lang]]
            examples += [(features(d), topic.id) for d in topic_docs]
            texts = [text for lang in LANGS for text in _documents(topic, lang)]
            term_counts.append(Counter(term for text in texts for term in plain_terms(text)))
            docs.append({lang: sorted({d.text for d in by_lang[lang]}) for lang in LANGS})
            entity_share.append(_share(d.entities for d in topic_docs))
            for token, share in _share(set(d.tokens) for d in topic_docs).items():
                postings[token][i] = share
        declined_docs: dict[Lang, list[str]] = {}
        for lang in LANGS:
            declined = [n for n in map(self.normalize, kb.declined.get(lang, ())) if n.tokens]
            examples += [(features(n), DECLINED) for n in declined]
            declined_docs[lang] = sorted({n.text for n in declined})
        bayes = NaiveBayes.fit(examples, alpha=self.calibration.alpha) if examples else None
        learned = None
        if bayes is not None:
            index = {label: c for c, label in enumerate(bayes.classes)}
            learned = Perceptron.fit([(bayes.vector(bag), index[label]) for bag, label in examples])
        bm25 = _bm25_weights(term_counts)
        self._index(docs, entity_share, dict(postings), declined_docs, bayes, learned, bm25, known_typos=None)

    def _set_up(self, kb: KnowledgeBase, calibration: Calibration | None, normalizer: Normalizer) -> None:
        self.kb = kb
        self.calibration = calibration or Calibration.from_mapping(kb.tuning)
        self.normalize = normalizer
        v = kb.vocabulary
        self.triage = Triager(v.smalltalk, v.thanks, v.unresolved, v.heads_up)
        self._topics = sorted(kb.topics, key=lambda t: t.id)
        self._index_of = {t.id: i for i, t in enumerate(self._topics)}

    def _index(
        self,
        docs: Sequence[Mapping[Lang, list[str]]],
        entity_share: list[dict[str, float]],
        postings: Mapping[str, Mapping[int, float]],
        declined_docs: dict[Lang, list[str]],
        bayes: NaiveBayes | None,
        learned: Perceptron | None,
        bm25: Mapping[str, Mapping[int, float]],
        known_typos: Mapping[str, str] | None,
    ) -> None:
        """Everything else the matcher reads, from what indexing the examples found (or the
        on-disk index kept): each topic's normalised examples, the share of them naming each
        entity and using each token, the out-of-scope examples, and the classifier."""
        self._docs = docs
        self._entity_share = entity_share
        self._postings = postings  # each token's topics and the share of their examples using it
        self._bm25 = bm25  # each plain term's topics and its BM25 weight in each
        # Platforms at least half the examples name.
        self._platforms = [
            frozenset(e for e, s in share.items() if e in PLATFORMS and s >= 0.5) for share in entity_share
        ]
        self._declined_docs = declined_docs
        # Only out-of-scope examples sharing a word with the question can be close to it.
        self._declined_postings: dict[Lang, dict[str, list[int]]] = {}
        for lang in LANGS:
            postings_of_lang: dict[str, list[int]] = defaultdict(list)
            for d, text in enumerate(self._declined_docs[lang]):
                for token in set(text.split()):
                    postings_of_lang[token].append(d)
            self._declined_postings[lang] = dict(postings_of_lang)
        self._bayes = bayes
        self._learned = learned
        self._bayes_topic = [self._index_of.get(c, -1) for c in self._bayes.classes] if self._bayes else []
        self._bayes_class = [-1] * len(self._topics)
        for c, i in enumerate(self._bayes_topic):
            if i >= 0:
                self._bayes_class[i] = c
        self._bayes_declined = (
            self._bayes.classes.index(DECLINED) if self._bayes and DECLINED in self._bayes.classes else -1
        )
        n = max(len(self._topics), 1)
        topics_per_word = posting_lengths(postings)
        self._idf = {t: math.log(1 + n / count) for t, count in topics_per_word.items()}
        self._generic = frozenset(t for t, count in topics_per_word.items() if count > GENERIC_SHARE * n and n >= 8)
        # An unknown word is treated as rare, but not as rare as the rarest known one:
        # long questions carry context words no topic needs to know.
        self._unknown_idf = 0.6 * math.log(1 + n)
        self._crowded = max(20, n // 6)
        self._lexical_weights = _LexicalWeights(postings, self._idf)
        words = (topics_per_word, _vocabulary_words(self.kb), self.normalize.entities)
        self._speller = Speller(*words) if known_typos is None else Speller.from_data(*words, known_typos)

    def to_data(self, pack: Packer) -> dict[str, Any]:
        """The built index as plain data, for the on-disk index (bot/cache.py), its long runs
        as sections of `pack`: what indexing the examples, fitting the classifier and finding
        known typos produced. Everything else `from_data` derives again, the same way
        `__init__` does."""
        # Each topic's examples, a section of strings for each topic (both languages), and how
        # many there are in each language.
        docs = [[self._docs[i][lang] for lang in LANGS] for i in range(len(self._docs))]
        return {
            "normalizer": self.normalize.to_data(),
            "docs": [
                [pack.strings([d for texts in by_lang for d in texts]) for by_lang in docs],
                [[len(texts) for texts in by_lang] for by_lang in docs],
            ],
            "entity_share": self._entity_share,
            "postings": pack_postings(self._postings, pack),
            "declined_docs": [self._declined_docs[lang] for lang in LANGS],
            "bayes": self._bayes.to_data(pack) if self._bayes is not None else None,
            "learned": self._learned.to_data(pack) if self._learned is not None else None,
            "bm25": pack_postings(self._bm25, pack),
            "speller": self._speller.to_data(),
        }

    @classmethod
    def from_data(cls, kb: KnowledgeBase, data: Mapping[str, Any], sections: Sections) -> Matcher:
        """The matcher `to_data` described, for the same knowledge base (the caller makes sure
        of that). Data of another shape raises TypeError, ValueError or KeyError."""
        matcher = cls.__new__(cls)
        matcher._set_up(kb, None, Normalizer.from_data(kb.vocabulary, data["normalizer"]))
        n = len(matcher._topics)
        entity_share, declined_docs = data["entity_share"], data["declined_docs"]
        doc_refs, doc_counts = data["docs"]
        postings = unpack_postings(data["postings"], sections)
        topic_indexes = postings.classes()
        if not (
            _is_list_of(doc_refs, int, n)
            and _is_list_of(doc_counts, list, n)
            and all(_is_list_of(counts, int, len(LANGS)) and min(counts) >= 0 for counts in doc_counts)
            and all(sections.count(r, STRINGS) == sum(c) for r, c in zip(doc_refs, doc_counts, strict=True))
            and _is_list_of(entity_share, dict, n)
            and all(_is_list_of(list(share.values()), float) for share in entity_share)
            and 0 <= min(topic_indexes, default=0) <= max(topic_indexes, default=0) < n
            and _is_list_of(declined_docs, list, len(LANGS))
            and all(_is_list_of(d, str) for d in declined_docs)
        ):
            raise ValueError("not the data of a Matcher for this knowledge base")
        docs = _PackedDocs(sections, doc_refs, doc_counts)
        bayes = NaiveBayes.from_data(data["bayes"], sections) if data["bayes"] is not None else None
        learned = Perceptron.from_data(data["learned"], sections) if data["learned"] is not None else None
        matcher._index(
            docs,
            entity_share,
            postings,
            dict(zip(LANGS, declined_docs, strict=True)),
            bayes,
            learned,
            unpack_postings(data["bm25"], sections),
            data["speller"],
        )
        return matcher

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
        features = evidence.confidence_features
        confidence = round(self.calibration.confidence.probability(features), 3)
        best = candidates[0]
        plausible = [c for c in candidates[1:] if c.probability >= t.plausible]
        if evidence.vague:
            # "secrets", "what is ECS": too little to pick one topic, enough to offer the
            # plausible ones; a product with a single plausible topic gets it. A lone word
            # must point hard at its topics, or "test" and "alert" would get choices.
            floor = t.plausible if evidence.vague == "products" else VAGUE_WORD
            choices = [c for c in candidates if c.probability >= floor]
            if not choices:
                return MatchResult(query, lang, "decline", confidence=confidence)
            if len(choices) > 1:
                return self._clarify(query, lang, confidence, choices)
            return MatchResult(query, lang, "answer", self._topics[best.index], confidence)
        related = [c for c in plausible if self.related(best.index, c.index)]
        reply = band(t, confidence, self.calibration.reach.probability(features), bool(related))
        if reply == "decline":
            return MatchResult(query, lang, "decline", confidence=confidence)
        if reply == "answer":
            see_also = tuple(self._suggestion(c) for c in related[: t.max_choices])
            return MatchResult(query, lang, "answer", self._topics[best.index], confidence, see_also=see_also)
        return self._clarify(query, lang, confidence, [best, *plausible])

    def _clarify(self, query: str, lang: Lang, confidence: float, choices: list[Candidate]) -> MatchResult:
        limit = self.calibration.thresholds.max_choices
        suggestions = tuple(self._suggestion(c) for c in choices[:limit])
        return MatchResult(query, lang, "clarify", confidence=confidence, suggestions=suggestions)

    def _suggestion(self, c: Candidate) -> Suggestion:
        return Suggestion(self._topics[c.index], round(c.probability, 3))

    def related(self, a: int, b: int) -> bool:
        """Whether the topics at `a` and `b` name each other as related."""
        first, second = self._topics[a], self._topics[b]
        return second.id in first.related or first.id in second.related

    def rank(self, query: str, limit: int = 10) -> list[Suggestion]:
        """Topics by descending score (ties by id), at most `limit`, whatever the decision."""
        return [self._suggestion(c) for c in self.evidence(query[:MAX_QUERY_CHARS]).candidates[:limit]]

    # --- evidence ---------------------------------------------------------------------------

    def evidence(self, query: str, focus_text: str | None = None) -> Evidence:
        """The scored candidates for a question (best first), or why there are none.
        `focus_text` is triage's focus, when the caller has already triaged the question."""
        full = self._correct(_head(self.normalize(query), MAX_TOKENS))
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
        focus = self._correct(_head(self.normalize(focus_text), MAX_TOKENS)) if focus_text else None
        # Vague: one word and no product ("secrets"), or nothing but product names ("what is ECS").
        # Words no example uses carry no evidence: "who won the world cup" is one known word.
        entities = full.entities - MARKERS
        vague: Vague = "products" if all(t in entities for t in tokens) else ""
        if sum(t in self._idf for t in tokens) < 2 and not entities:
            vague = "word"

        lexical = self._lexical(tokens)
        if focus is not None and (focus_tokens := _content(focus)):
            for i, value in self._lexical(focus_tokens).items():
                lexical[i] = max(lexical.get(i, 0.0), value)
        bag = features(full)
        if focus is not None:
            bag.update(features(focus))  # the asking sentences count twice

        shortlist = sorted(lexical, key=lambda i: (-lexical[i], self._topics[i].id))[:LEXICAL_SHORTLIST]
        vector = self._bayes.vector(bag) if self._bayes is not None else {}
        shortlist += self._bayes_likely(vector)
        bm25 = self._bm25_scores(list(dict.fromkeys(plain_terms(query[:MAX_QUERY_CHARS])))[:MAX_TOKENS])
        shortlist += sorted(bm25, key=lambda i: (-bm25[i], self._topics[i].id))[:BM25_SHORTLIST]
        shortlist = list(dict.fromkeys(shortlist))
        bayes, declined = self._bayes_scores(vector, shortlist)
        # Fuzzy similarity compares with examples in the question's language, on the sentences
        # that ask when a long message has them, and on its first words at most: its cost grows
        # with length, and a pasted log adds nothing.
        text = " ".join((focus.tokens if focus is not None and focus.tokens else full.tokens)[:SIMILARITY_TOKENS])
        lang = detect_lang(query)
        ranking = self.calibration.ranking
        candidates = []
        for i in shortlist:
            similarity = _closeness(text, self._docs[i][lang])
            evidence = (
                lexical.get(i, 0.0),
                similarity,
                bayes.get(i, 0.0),
                self._entity_factor(i, entities),
                bm25.get(i, 0.0),
            )
            score = ranking.logit(ranking_features(*evidence))
            candidates.append(Candidate(i, *evidence, score, sigmoid(score)))
        candidates.sort(key=lambda c: (-c.score, self._topics[c.index].id))
        declined_similarity = self._declined_closeness(text, lang)
        learned = self._learned_lead(vector, candidates[0].index) if candidates else 0.0
        return Evidence(
            tuple(candidates),
            declined,
            declined_similarity,
            vague,
            words=len(tokens),
            aws=bool(entities & AWS_ENTITIES),
            learned=learned,
        )

    def _learned_lead(self, vector: dict[str, float], topic: int) -> float:
        """The perceptron's score of `topic` minus the best other class's (classes it never
        scored count 0), clipped to [-LEARNED_CLIP, LEARNED_CLIP]."""
        if self._learned is None or self._bayes_class[topic] < 0:
            return 0.0
        scores = self._learned.scores(vector)
        own = scores.pop(self._bayes_class[topic], 0.0)
        rival = max(scores.values(), default=0.0)
        if len(scores) + 1 < len(self._bayes_topic):
            rival = max(rival, 0.0)
        return max(-LEARNED_CLIP, min(LEARNED_CLIP, own - rival))

    def _bm25_scores(self, terms: Iterable[str]) -> dict[int, float]:
        """Each topic's BM25 score for the question's plain terms, relative to the best (which
        gets 1)."""
        scores: dict[int, float] = defaultdict(float)
        for term in terms:
            for i, weight in self._bm25.get(term, {}).items():
                scores[i] += weight
        best = max(scores.values(), default=0.0)
        return {i: score / best for i, score in scores.items()} if best > 0 else {}

    def _bayes_likely(self, vector: dict[str, float]) -> list[int]:
        """The topics the classifier's cheap first pass points to."""
        if self._bayes is None:
            return []
        likely = self._bayes.likely(vector, BAYES_SHORTLIST + 1)
        return [self._bayes_topic[c] for c in likely if self._bayes_topic[c] >= 0][:BAYES_SHORTLIST]

    def _bayes_scores(self, vector: dict[str, float], shortlist: list[int]) -> tuple[dict[int, float], float]:
        """The classifier's score of each shortlisted topic, in [0, 1]: 1 for the best of them,
        0 for BAYES_FLOOR (in log-probability) below it; and how far the out-of-scope class
        stands above (up to 1) or below (down to -1) that best topic."""
        if self._bayes is None:
            return {}, 0.0
        classes = [self._bayes_class[i] for i in shortlist if self._bayes_class[i] >= 0]
        if self._bayes_declined >= 0:
            classes.append(self._bayes_declined)
        scores = self._bayes.log_scores_of(vector, classes)
        declined = scores.pop(self._bayes_declined, None)
        if not scores:
            return {}, 1.0 if declined is not None else 0.0
        best = max(scores.values())
        by_topic = {self._bayes_topic[c]: max(0.0, 1.0 + (s - best) / BAYES_FLOOR) for c, s in scores.items()}
        lean = 0.0 if declined is None else max(-1.0, min(1.0, (declined - best) / BAYES_FLOOR))
        return by_topic, lean

    def _declined_closeness(self, text: str, lang: Lang) -> float:
        postings = self._declined_postings[lang]
        near = {d for token in set(text.split()) for d in postings.get(token, ())}
        docs = self._declined_docs[lang]
        return _closeness(text, [docs[d] for d in sorted(near)]) if near else 0.0

    def _lexical(self, tokens: list[str]) -> dict[int, float]:
        """Share of the question's information (IDF mass) each candidate topic explains."""
        idf = self._idf
        total = sum(idf.get(t, self._unknown_idf) for t in tokens)
        gained: dict[int, float] = {}
        crowding = len(tokens) > CROWD_MIN
        # Rare tokens first: they find the candidates. In a long question, tokens shared by a
        # crowd of topics only add to candidates already found, which bounds the work; in a
        # short one a common word ("log") still finds candidates of its own.
        for token in sorted(tokens, key=lambda t: -idf.get(t, 0.0)):
            weights = self._lexical_weights.get(token)
            if weights is None:
                continue
            if crowding and gained and len(weights) > self._crowded:
                for i in gained.keys() & weights.keys():
                    gained[i] += weights[i]
            else:
                for i, weight in weights.items():
                    gained[i] = gained.get(i, 0.0) + weight
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
        """The question with its typos fixed (spelling.py); a fixed product name counts as named."""
        fixed = [self._speller.correct(token) or token for token in q.tokens]
        if fixed == list(q.tokens):
            return q
        entities = set(q.entities) | {t for t in fixed if t in self.normalize.entities}
        return Normalized(tuple(fixed), frozenset(entities))


def band(t: Thresholds, confidence: float, reach: float, related: bool) -> Band:
    """The reply the thresholds give a question that is not vague, from its confidence, the
    reach model's probability and whether a plausible runner-up is related to the best topic
    (`platbot tune` counts replies with it too)."""
    if confidence < t.clarify and reach < t.reach:
        return "decline"
    if confidence >= t.answer or (related and confidence >= t.related):
        return "answer"
    return "clarify"


def _closeness(text: str, docs: list[str]) -> float:
    """Closeness to the nearest of `docs`, in [0, 1], by rapidfuzz's token-sort ratio: word
    order and typos are forgiven, extra words are not. (Token-set ratio, which forgives extra
    words, cost three times as much and changed no ranking once the classifier weighed in.)"""
    best = process.extractOne(text, docs, scorer=fuzz.token_sort_ratio)
    return best[1] / 100 if best else 0.0


def _head(n: Normalized, limit: int) -> Normalized:
    return n if len(n.tokens) <= limit else Normalized(n.tokens[:limit], n.entities)


def _content(n: Normalized) -> list[str]:
    return list(dict.fromkeys(t for t in n.tokens if t not in MARKERS))


def _declined(q: Normalized) -> str:
    """Why a question is never served, or "": a request platbot never serves; one about
    another platform and no AWS one; one about an AWS service outside containers that says
    nothing of containers; one about another AWS container host and no platform platbot covers."""
    entities = q.entities
    if OFF_TOPIC in entities:
        return "off topic"
    if OTHER_PLATFORM in entities and not (entities & AWS_ENTITIES or AWS_WORDS.intersection(q.tokens)):
        return "other platform"
    if OTHER_SERVICE in entities and not (entities & SERVICE_ANCHORS or CONTAINER_WORDS.intersection(q.tokens)):
        return "other service"
    if OTHER_HOST in entities and not entities & HOST_ANCHORS:
        return "other host"
    return ""


def _bm25_weights(term_counts: Sequence[Counter[str]]) -> dict[str, dict[int, float]]:
    """Okapi BM25 weights with each topic's examples as one document: a word weighs more the
    fewer topics use it and the more often its topic's examples do, saturating (BM25_K1), and
    less in a topic with many words (BM25_B). Where the word-overlap score asks how much of the
    question a topic explains, this asks how much each word is the topic's own."""
    n = len(term_counts)
    lengths = [sum(counts.values()) for counts in term_counts]
    total = sum(lengths)
    average = total / n if total else 1.0
    topics_of: dict[str, list[int]] = defaultdict(list)
    for i, counts in enumerate(term_counts):
        for token in counts:
            topics_of[token].append(i)
    weights: dict[str, dict[int, float]] = {}
    for token, topics in sorted(topics_of.items()):
        idf = math.log(1 + (n - len(topics) + 0.5) / (len(topics) + 0.5))
        weights[token] = {}
        for i in topics:
            tf = term_counts[i][token]
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[i] / average)
            weights[token][i] = idf * tf * (BM25_K1 + 1) / (tf + norm)
    return weights


def _documents(topic: Topic, lang: Lang) -> list[str]:
    return [topic.title[lang], *topic.questions[lang]]


def _vocabulary_words(kb: KnowledgeBase) -> set[str]:
    """Single words the vocabulary names: canonical names and one-word aliases."""
    words: set[str] = set()
    v = kb.vocabulary
    for canonical, aliases in (*v.entities.items(), *v.synonyms.items()):
        words.add(canonical)
        words.update(a.casefold() for a in aliases if a.isascii() and a.isalpha())
    return words


class _LexicalWeights(Mapping[str, Mapping[int, float]]):
    """What each topic gains from a token: its rarity, more when most of the examples use it.
    Worked out for a token the first time a question has it: a question has a few of the
    thousands of tokens, and working them all out was a good part of a cached start."""

    def __init__(self, postings: Mapping[str, Mapping[int, float]], idf: Mapping[str, float]) -> None:
        self._postings = postings
        self._idf = idf
        self._weights: dict[str, dict[int, float]] = {}

    def get(self, token: str, default: Any = None) -> Any:
        weights = self._weights.get(token)
        if weights is None:
            posting = self._postings.get(token)
            if posting is None:
                return default
            idf = self._idf[token]
            weights = self._weights[token] = {i: idf * (0.4 + 0.6 * share) for i, share in posting.items()}
        return weights

    def __getitem__(self, token: str) -> Mapping[int, float]:
        weights = self.get(token)
        if weights is None:
            raise KeyError(token)
        return weights

    def __iter__(self) -> Iterator[str]:
        return iter(self._postings)

    def __len__(self) -> int:
        return len(self._postings)


class _PackedDocs(Sequence[Mapping[Lang, list[str]]]):
    """Each topic's normalised examples by language, as the on-disk index keeps them, decoded
    for a topic the first time it is a candidate: a question has a few, of a hundred topics
    or more, and decoding them all was a good part of a cached start."""

    def __init__(self, sections: Sections, refs: list[int], counts: list[list[int]]) -> None:
        self._sections = sections
        self._refs = refs
        self._counts = counts
        self._decoded: dict[int, dict[Lang, list[str]]] = {}

    @overload
    def __getitem__(self, i: int) -> Mapping[Lang, list[str]]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[Lang, list[str]]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(len(self))[i]]
        docs = self._decoded.get(i)
        if docs is None:
            texts = iter(self._sections.strings(self._refs[i]))
            docs = {lang: list(itertools.islice(texts, n)) for lang, n in zip(LANGS, self._counts[i], strict=True)}
            self._decoded[i] = docs
        return docs

    def __len__(self) -> int:
        return len(self._refs)


def _is_list_of(value: object, kind: type, length: int | None = None) -> bool:
    """A list of `kind` and nothing else, of `length` items if given (checked in C: some are long)."""
    return isinstance(value, list) and (length is None or len(value) == length) and set(map(type, value)) <= {kind}


def _share(groups: Iterable[Iterable[str]]) -> dict[str, float]:
    """For each item, the fraction of the groups that contain it."""
    counts: Counter[str] = Counter()
    n = 0
    for group in groups:
        counts.update(group)
        n += 1
    return {k: v / n for k, v in counts.items()} if n else {}
