"""Measure the matcher on a labelled question set (tests/eval/*.yaml).

A case is `{q: question, expect: topic id or null, category: name}`; `expect: null` marks a
question the bot must decline. Answering the right topic is a hit; a "did you mean" reply
counts as a miss for an in-scope question (the asker did not get the answer) and as a
decline for an out-of-scope one (the bot did not pretend to know).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import PlatbotError
from bot.matcher import Matcher


class EvalSetError(PlatbotError):
    """The evaluation file is missing or malformed."""


@dataclass(frozen=True)
class Case:
    question: str
    expect: str | None
    category: str
    source: str


@dataclass
class Report:
    in_scope: int = 0
    correct: int = 0
    ranked_first: int = 0  # right topic ranked first, whatever the decision
    offered: int = 0  # right topic answered or among the suggestions
    out_of_scope: int = 0
    declined_oos: int = 0  # out-of-scope questions the bot declined
    declined_in_scope: int = 0  # in-scope questions the bot declined or only suggested for
    by_category: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[tuple[Case, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.in_scope if self.in_scope else 0.0

    @property
    def oos_recall(self) -> float:
        """Share of out-of-scope questions declined."""
        return self.declined_oos / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def oos_precision(self) -> float:
        """Share of declines that were for out-of-scope questions."""
        declined = self.declined_oos + self.declined_in_scope
        return self.declined_oos / declined if declined else 1.0


def load_cases(paths: list[Path]) -> list[Case]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.yaml"))
        elif path.is_file():
            files.append(path)
        else:
            raise EvalSetError(f"evaluation set not found: {path}")
    if not files:
        raise EvalSetError(f"no *.yaml evaluation files in {', '.join(map(str, paths))}")
    cases = []
    for file in files:
        try:
            items: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise EvalSetError(f"{file}: cannot read evaluation set: {exc.__class__.__name__}") from exc
        if not isinstance(items, list):
            raise EvalSetError(f"{file}: expected a list of {{q, expect, category}}")
        for n, item in enumerate(items, start=1):
            if not (isinstance(item, dict) and isinstance(item.get("q"), str)):
                raise EvalSetError(f"{file}: item {n}: needs a string 'q'")
            expect = item.get("expect")
            cases.append(Case(item["q"], expect, str(item.get("category", "other")), str(file)))
    return cases


def evaluate(matcher: Matcher, cases: list[Case]) -> Report:
    report = Report()
    for case in cases:
        result = matcher.match(case.question)
        got = result.topic.id if result.topic else None
        stats = report.by_category[case.category]
        stats[1] += 1
        if case.expect is None:
            report.out_of_scope += 1
            if got is None:
                report.declined_oos += 1
                stats[0] += 1
            else:
                report.confusions[("(out of scope)", got)] += 1
                report.misses.append((case, got))
            continue
        report.in_scope += 1
        # An answered topic is the top-ranked one; rank again only when the bot held back.
        first = got if got is not None else next((s.topic.id for s in matcher.rank(case.question, limit=1)), None)
        if first == case.expect:
            report.ranked_first += 1
        suggested = {s.topic.id for s in result.suggestions}
        if got == case.expect or case.expect in suggested:
            report.offered += 1
        if got == case.expect:
            report.correct += 1
            stats[0] += 1
            continue
        if got is None:
            report.declined_in_scope += 1
        shown = got or ("did you mean: " + ", ".join(sorted(suggested)) if suggested else "(declined)")
        report.confusions[(case.expect, got or "(declined)")] += 1
        report.misses.append((case, shown))
    return report


def format_report(report: Report, show_misses: bool = True) -> str:
    lines = [
        f"in scope: {report.correct}/{report.in_scope} answered right "
        f"(top-1 accuracy {report.accuracy:.1%}); ranked first {report.ranked_first}/{report.in_scope}, "
        f"answered or suggested {report.offered}/{report.in_scope}",
        f"out of scope: {report.declined_oos}/{report.out_of_scope} declined "
        f"(recall {report.oos_recall:.1%}, precision of declines {report.oos_precision:.1%})",
        "",
        "by category:",
    ]
    for category, (ok, total) in sorted(report.by_category.items()):
        lines.append(f"  {category:<14} {ok:>4}/{total:<4} {ok / total:.1%}")
    if report.confusions:
        lines += ["", "confusions (expected -> got):"]
        for (expected, got), count in report.confusions.most_common(15):
            lines.append(f"  {count:>3}  {expected} -> {got}")
    if show_misses and report.misses:
        lines += ["", "misses:"]
        for case, got in report.misses:
            lines.append(f"  [{case.category}] {case.question!r}: expected {case.expect}, got {got}")
    return "\n".join(lines)
