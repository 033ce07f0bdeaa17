"""platbot against two textbook matchers built from the same example questions.

    pip install -e '.[bench]'
    python benchmarks/baselines.py [SET ...]        # default: every folder under tests/eval

- BM25 (Okapi, k1=1.5, b=0.75): a topic is one document, all its example questions and titles;
  Latin words and Japanese character bigrams, NFKC and case folded.
- Logistic regression over TF-IDF character 2-4-grams (within words) plus words, scikit-learn.

Neither has a decision rule of its own, so each gets two thresholds on its top score, chosen
after the fact on each set (its best case): the one that maximises right answers plus
declines, and the one with the most right answers among those that answer wrong no more
often than platbot does on that set. platbot is measured with its own decisions, as users see
them; its "declined" counts every out-of-scope question it did not answer. A baseline's
"right" means its top topic is right and clears the threshold; "wrong", that it is wrong and
clears it; it has no choices to offer.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.evaluate import Case, evaluate, load_cases  # noqa: E402
from bot.kb.load import load_knowledge  # noqa: E402
from bot.kb.model import LANGS, KnowledgeBase  # noqa: E402
from bot.matcher import Matcher  # noqa: E402

Ranker = Callable[[str], tuple[str, float]]  # question -> (best topic, its score)
_TOKEN = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for run in _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()):
        if run.isascii():
            out.append(run)
        else:
            out += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return out


def training(kb: KnowledgeBase) -> list[tuple[str, str]]:
    return [(text, t.id) for t in kb.topics for lang in LANGS for text in (t.title[lang], *t.questions[lang])]


def bm25(kb: KnowledgeBase, k1: float = 1.5, b: float = 0.75) -> Ranker:
    docs: dict[str, Counter[str]] = {}
    for text, topic in training(kb):
        docs.setdefault(topic, Counter()).update(tokens(text))
    lengths = {t: sum(c.values()) for t, c in docs.items()}
    average = sum(lengths.values()) / len(lengths)
    df = Counter(term for counts in docs.values() for term in counts)
    n = len(docs)
    idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def rank(question: str) -> tuple[str, float]:
        terms = set(tokens(question))
        best, score = "", 0.0
        for topic, counts in sorted(docs.items()):
            s = 0.0
            for term in terms:
                tf = counts.get(term, 0)
                if tf:
                    s += idf[term] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[topic] / average))
            if s > score:
                best, score = topic, s
        return best, score

    return rank


def logistic_regression(kb: KnowledgeBase) -> Ranker:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    texts, labels = zip(*training(kb), strict=True)
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)),
            ("words", TfidfVectorizer(tokenizer=tokens, token_pattern=None, sublinear_tf=True)),
        ]
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=3000))
    model.fit([unicodedata.normalize("NFKC", t) for t in texts], labels)
    classes = list(model.classes_)

    def rank(question: str) -> tuple[str, float]:
        probabilities = model.predict_proba([unicodedata.normalize("NFKC", question)])[0]
        best = max(range(len(classes)), key=lambda i: probabilities[i])
        return classes[best], float(probabilities[best])

    return rank


def best_threshold(ranker: Ranker, cases: list[Case], max_wrong: float | None = None) -> dict[str, float]:
    """The baseline's figures at its best threshold: the one with the most right answers plus
    declines, or, given `max_wrong`, the most right answers that keep wrong ones under it."""
    scored = [(case, *ranker(case.question)) for case in cases]
    in_scope = [s for s in scored if s[0].expect is not None]
    out = [s for s in scored if s[0].expect is None]
    first = sum(1 for case, topic, _ in in_scope if topic == case.expect)
    best: dict[str, float] = {}
    for threshold in sorted({score for *_, score in scored} | {0.0, math.inf}):
        right = sum(1 for case, topic, score in in_scope if topic == case.expect and score >= threshold)
        wrong = sum(1 for case, topic, score in in_scope if topic != case.expect and score >= threshold)
        declined = sum(1 for *_, score in out if score < threshold)
        r = right / len(in_scope) if in_scope else 0.0
        w = wrong / len(in_scope) if in_scope else 0.0
        d = declined / len(out) if out else 1.0
        if max_wrong is not None:
            if w > max_wrong:
                continue
            key, best_key = (r, d), (best.get("right", -1.0), best.get("declined", -1.0))
        else:
            key, best_key = (r + d, 0.0), (best.get("right", -1.0) + best.get("declined", -1.0), 0.0)
        if not best or key > best_key:
            best = {"right": r, "wrong": w, "declined": d, "first": first / len(in_scope) if in_scope else 0.0}
    return best


def main(argv: list[str]) -> None:
    kb, _ = load_knowledge(REPO / "knowledge")
    eval_dir = REPO / "tests" / "eval"
    sets = [Path(a) for a in argv] or sorted(p for p in eval_dir.iterdir() if p.is_dir())
    matcher = Matcher(kb)
    rankers = {"BM25": bm25(kb), "LogReg char+word": logistic_regression(kb)}
    print(f"{len(kb.topics)} topics. platbot: its own decisions. Baselines: at their best threshold on each")
    print("set, chosen after the fact (most right answers plus declines), and at the threshold with the most")
    print("right answers whose wrong answers stay at or under platbot's on that set.\n")
    print(f"{'set':<22} {'matcher':<42} {'first':>6} {'right':>6} {'wrong':>6} {'declined':>8}")
    for path in sets:
        cases = load_cases([path])
        name = path.name
        report = evaluate(matcher, cases)
        first = sum(
            1 for c in cases if c.expect and (r := matcher.rank(c.question, limit=1)) and r[0].topic.id == c.expect
        )
        n = report.total.in_scope or 1
        print(
            f"{name:<22} {'platbot':<42} {first / n:>6.1%} {report.accuracy:>6.1%} {report.wrong_rate:>6.1%} "
            f"{report.total.not_answered:>8.1%}"
        )
        for label, ranker in rankers.items():
            for how, b in (
                ("best threshold", best_threshold(ranker, cases)),
                ("at platbot's wrong rate", best_threshold(ranker, cases, max_wrong=report.wrong_rate)),
            ):
                figures = f"{b['first']:>6.1%} {b['right']:>6.1%} {b['wrong']:>6.1%} {b['declined']:>8.1%}"
                print(f"{'':<22} {label + ', ' + how:<42} {figures}")


if __name__ == "__main__":
    main(sys.argv[1:])
