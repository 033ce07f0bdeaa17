"""Compare ways of cutting Japanese into match tokens, on the labelled eval set.

    python benchmarks/japanese_tokens.py

Japanese has no spaces. platbot keeps katakana runs as words, turns kanji runs into character
bigrams and drops hiragana (particles, inflections). This script swaps in the alternatives and
prints accuracy on the Japanese questions, on all in-scope questions, out-of-scope declines
and the time per question. SudachiPy (a dictionary tokenizer) is measured when installed:
`pip install sudachipy sudachidict_core`.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bot.normalize as normalize  # noqa: E402
from bot.evaluate import evaluate, load_cases  # noqa: E402
from bot.kb.load import load_knowledge  # noqa: E402
from bot.matcher import Matcher  # noqa: E402

_RUN = re.compile(r"(?P<latin>[a-z0-9]+)|(?P<ja>[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々]+)")
_KANJI_OR_KATA = re.compile(r"[\u30a0-\u30ff]+|[\u3400-\u9fff\uf900-\ufaff々]+")


def latin_then(japanese: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    def tokenize(folded: str) -> list[str]:
        tokens: list[str] = []
        for match in _RUN.finditer(folded):
            if word := match.group("latin"):
                if len(word) <= normalize.MAX_WORD_CHARS:
                    tokens.append(word)
            else:
                tokens += japanese(match.group("ja"))
        return tokens

    return tokenize


def bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] or [run]


def all_bigrams(run: str) -> list[str]:
    """Every character bigram of the whole run, kana included (no dictionary, no rules)."""
    return bigrams(run)


def kanji_unigrams_and_bigrams(run: str) -> list[str]:
    out: list[str] = []
    for part in _KANJI_OR_KATA.findall(run):
        if part[0] >= "\u3400":
            out += list(part) + bigrams(part)
        else:
            out.append(part)
    return out


def sudachi() -> Callable[[str], list[str]] | None:
    try:
        from sudachipy import Dictionary, SplitMode
    except ImportError:
        return None
    tokenizer = Dictionary().tokenizer()
    content = {"名詞", "動詞", "形容詞", "形状詞", "副詞"}

    def words(run: str) -> list[str]:
        return [m.normalized_form() for m in tokenizer.tokenize(run, SplitMode.C) if m.part_of_speech()[0] in content]

    return words


def main() -> int:
    kb, _ = load_knowledge(REPO / "knowledge")
    cases = load_cases([REPO / "tests" / "eval"])
    japanese = [c for c in cases if c.lang == "ja" and c.expect is not None]
    strategies: dict[str, Callable[[str], list[str]]] = {"platbot (katakana words, kanji bigrams)": normalize.tokenize}
    strategies["bigrams of the whole run"] = latin_then(all_bigrams)
    strategies["kanji unigrams + bigrams"] = latin_then(kanji_unigrams_and_bigrams)
    if (words := sudachi()) is not None:
        strategies["SudachiPy words (mode C, content words)"] = latin_then(words)
    else:
        print("(SudachiPy not installed: skipped)")
    original = normalize.tokenize
    print(f"{'strategy':<42} {'japanese':>9} {'in scope':>9} {'not ans.':>9} {'ms/question':>12}")
    try:
        for name, tokenize in strategies.items():
            normalize.tokenize = tokenize
            matcher = Matcher(kb)
            ja = evaluate(matcher, japanese)
            start = time.perf_counter()
            report = evaluate(matcher, cases)
            per_question = (time.perf_counter() - start) * 1000 / len(cases)
            declined = report.total.not_answered
            figures = f"{ja.accuracy:>9.1%} {report.accuracy:>9.1%} {declined:>9.1%} {per_question:>12.2f}"
            print(f"{name:<42} {figures}")
    finally:
        normalize.tokenize = original
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
