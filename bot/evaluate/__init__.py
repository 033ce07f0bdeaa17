"""Measure the matcher: on labelled question sets, by cross-validation, with typos added.

cases.py     labelled questions (tests/eval/*.yaml) and their language and length
report.py    the verdict of each reply (right, offered, missed, wrong / declined...) and counts
crossval.py  K-fold cross-validation over the knowledge base's own example questions
noise.py     random typos, seeded
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from bot.evaluate.cases import Case, EvalSetError, load_cases
from bot.evaluate.crossval import cross_validate
from bot.evaluate.noise import add_typos
from bot.evaluate.report import Report, format_report, judge, report_json
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher

__all__ = [
    "Case",
    "EvalSetError",
    "Report",
    "cross_validate",
    "evaluate",
    "evaluate_cv",
    "format_report",
    "judge",
    "load_cases",
    "report_json",
    "with_typos",
]


def evaluate(matcher: Matcher, cases: Iterable[Case], report: Report | None = None) -> Report:
    report = report if report is not None else Report()
    for case in cases:
        report.add(case, matcher.match(case.question))
    return report


def evaluate_cv(kb: KnowledgeBase, k: int, seed: int = 0) -> Report:
    report = Report()
    for matcher, held_out in cross_validate(kb, k, seed):
        evaluate(matcher, held_out, report)
    return report


def with_typos(cases: Iterable[Case], count: int, seed: int = 0) -> list[Case]:
    """The cases with `count` typos in each English question (Japanese ones as they are)."""
    rng = random.Random(seed)
    return [
        Case(add_typos(c.question, count, rng), c.expect, c.category, c.source) if c.lang == "en" else c for c in cases
    ]
