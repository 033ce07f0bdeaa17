"""Does the learned half of the ranking earn its place, and would a heavier one earn more?

    pip install -e '.[bench]'
    python benchmarks/learned_component.py [--knowledge DIR] [SET ...]

The ranking model weighs four pieces of evidence per candidate; one of them, `bayes`, comes
from platbot's naive Bayes classifier (pure Python, trained by counting, no dependency). This
script refits the ranking model by 5-fold cross-validation with that evidence:

- left out (lexical and fuzzy evidence only),
- from naive Bayes (what platbot ships),
- from scikit-learn's logistic regression over the same features (TF-IDF, C=10), the
  textbook choice, which would add scikit-learn, SciPy and NumPy to the install,

and prints the right-topic-first rate on the held-out folds and on the labelled sets, the
cost per question of each classifier, and its fit time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.calibration import Calibration  # noqa: E402
from bot.classifier import features  # noqa: E402
from bot.evaluate import load_cases  # noqa: E402
from bot.evaluate.crossval import folds  # noqa: E402
from bot.kb.load import load_knowledge  # noqa: E402
from bot.kb.model import LANGS, KnowledgeBase  # noqa: E402
from bot.matcher import BAYES_FLOOR, Evidence, Matcher  # noqa: E402
from bot.tune import Sample, fit_ranking, rescore  # noqa: E402


class LogisticRegressionEvidence:
    """The `bayes` evidence recomputed from scikit-learn's logistic regression."""

    def __init__(self, matcher: Matcher, kb: KnowledgeBase) -> None:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression

        rows, labels = [], []
        for topic in kb.topics:
            for lang in LANGS:
                for text in (topic.title[lang], *topic.questions[lang]):
                    rows.append(features(matcher.normalize(text)))
                    labels.append(topic.id)
        self.vectorizer = DictVectorizer()
        self.tfidf = TfidfTransformer(sublinear_tf=True)
        x = self.tfidf.fit_transform(self.vectorizer.fit_transform(rows))
        start = time.perf_counter()
        self.model = LogisticRegression(C=10.0, max_iter=3000).fit(x, labels)
        self.fit_seconds = time.perf_counter() - start
        self.index = {topic_id: i for i, topic_id in enumerate(self.model.classes_)}
        self.matcher = matcher
        self.seconds = 0.0

    def replace(self, question: str, evidence: Evidence) -> Evidence:
        start = time.perf_counter()
        bag = features(self.matcher.normalize(question))
        p = self.model.predict_log_proba(self.tfidf.transform(self.vectorizer.transform([bag])))[0]
        self.seconds += time.perf_counter() - start
        ids = [self.matcher.topic_at(c.index).id for c in evidence.candidates]
        scores = [p[self.index[i]] if i in self.index else -math.inf for i in ids]
        best = max(scores, default=0.0)
        candidates = [
            replace(c, bayes=max(0.0, 1.0 + (s - best) / BAYES_FLOOR))
            for c, s in zip(evidence.candidates, scores, strict=True)
        ]
        return replace(evidence, candidates=tuple(candidates))


def samples_for(kb: KnowledgeBase, variant: str, cases_by_fold=None) -> tuple[list[Sample], float, float]:
    out: list[Sample] = []
    seconds = fit_seconds = 0.0
    for train, held_out in folds(kb, 5, 0):
        matcher = Matcher(train, Calibration())
        index = {t.id: i for i, t in enumerate(sorted(train.topics, key=lambda t: t.id))}
        lr = LogisticRegressionEvidence(matcher, train) if variant == "logistic regression" else None
        if lr:
            fit_seconds += lr.fit_seconds
        for case in held_out:
            start = time.perf_counter()
            evidence = matcher.evidence(case.question)
            seconds += time.perf_counter() - start
            if variant == "none":
                evidence = replace(evidence, candidates=tuple(replace(c, bayes=0.0) for c in evidence.candidates))
            elif lr:
                evidence = lr.replace(case.question, evidence)
            out.append(Sample(case, index[case.expect] if case.expect else None, evidence))
        if lr:
            seconds += lr.seconds
    return out, seconds / max(len(out), 1) * 1000, fit_seconds / 5


def first_rate(samples: list[Sample]) -> float:
    in_scope = [s for s in samples if s.expect is not None]
    return sum(1 for s in in_scope if s.evidence.candidates and s.evidence.candidates[0].index == s.expect) / len(
        in_scope
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=REPO / "knowledge")
    parser.add_argument("sets", nargs="*", type=Path, help="labelled sets (default: tests/eval)")
    args = parser.parse_args()
    kb, _ = load_knowledge(args.knowledge)
    cases = [c for c in load_cases(args.sets or [REPO / "tests" / "eval"]) if c.expect]
    start = time.perf_counter()
    Matcher(kb)
    print(f"{len(kb.topics)} topics; naive Bayes index built in {time.perf_counter() - start:.2f} s (whole matcher)\n")
    print(f"{'classifier':<22} {'cv first':>8} {'sets first':>10} {'ms/question':>12} {'fit s':>6}")
    for variant in ("none", "naive Bayes", "logistic regression"):
        samples, ms, fit = samples_for(kb, variant)
        ranking = fit_ranking(samples)
        cv = first_rate([replace(s, evidence=rescore(s.evidence, ranking)) for s in samples])
        matcher = Matcher(kb, replace(Calibration(), ranking=ranking))
        lr = LogisticRegressionEvidence(matcher, kb) if variant == "logistic regression" else None
        right = 0
        for case in cases:
            evidence = matcher.evidence(case.question)
            if variant == "none":
                evidence = replace(evidence, candidates=tuple(replace(c, bayes=0.0) for c in evidence.candidates))
            elif lr:
                evidence = lr.replace(case.question, evidence)
            evidence = rescore(evidence, ranking)
            right += bool(evidence.candidates) and matcher.topic_at(evidence.candidates[0].index).id == case.expect
        print(f"{variant:<22} {cv:>8.1%} {right / len(cases):>10.1%} {ms:>12.2f} {fit:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
