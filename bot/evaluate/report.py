"""Judge each reply against its label and count the outcomes, overall and by group.

An in-scope question ends one of four ways, from best to worst for the asker:

- `right`: answered with the expected topic;
- `offered`: not answered, but the expected topic is among the did-you-mean choices;
- `missed`: declined, or choices without the expected topic;
- `wrong`: answered with another topic, the worst: the asker is misled, not just unhelped.
  The report also counts the wrong answers whose reply links the expected topic (a "See also"
  or related-topic button): one click from what was needed, against none.

An out-of-scope question is `declined` (also when the bot replies to a greeting with how to
ask), `clarified` (choices offered: the bot did not pretend to know) or `answered` (wrong).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

from bot.evaluate.cases import LENGTHS, Case
from bot.kb.model import LANGS
from bot.matcher import MatchResult

Verdict = Literal["right", "offered", "missed", "wrong", "declined", "clarified", "answered"]
IN_SCOPE_VERDICTS: tuple[Verdict, ...] = ("right", "offered", "missed", "wrong")
OUT_OF_SCOPE_VERDICTS: tuple[Verdict, ...] = ("declined", "clarified", "answered")


def judge(case: Case, result: MatchResult) -> Verdict:
    got = result.topic.id if result.topic is not None else None
    if case.expect is None:
        if got is not None:
            return "answered"
        return "clarified" if result.suggestions else "declined"
    if got is not None:
        return "right" if got == case.expect else "wrong"
    return "offered" if any(s.topic.id == case.expect for s in result.suggestions) else "missed"


@dataclass
class Tally:
    """Verdict counts for one group of cases."""

    counts: Counter[Verdict] = field(default_factory=Counter)

    def add(self, verdict: Verdict) -> None:
        self.counts[verdict] += 1

    @property
    def in_scope(self) -> int:
        return sum(self.counts[v] for v in IN_SCOPE_VERDICTS)

    @property
    def out_of_scope(self) -> int:
        return sum(self.counts[v] for v in OUT_OF_SCOPE_VERDICTS)

    def rate(self, verdict: Verdict) -> float:
        total = self.in_scope if verdict in IN_SCOPE_VERDICTS else self.out_of_scope
        return self.counts[verdict] / total if total else 0.0

    @property
    def not_answered(self) -> float:
        """Out-of-scope questions the bot did not pretend to answer (declined or clarified)."""
        return 1.0 - self.rate("answered") if self.out_of_scope else 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.in_scope:
            out["in_scope"] = self.in_scope
            out |= {v: self.counts[v] for v in IN_SCOPE_VERDICTS}
        if self.out_of_scope:
            out["out_of_scope"] = self.out_of_scope
            out |= {v: self.counts[v] for v in OUT_OF_SCOPE_VERDICTS}
        return out


@dataclass
class Report:
    """Counts overall, by language, by length, by category and by file; plus every miss."""

    total: Tally = field(default_factory=Tally)
    groups: dict[str, dict[str, Tally]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Tally)))
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[tuple[Case, Verdict, str]] = field(default_factory=list)
    answered: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, right) of each answer
    linked: int = 0  # wrong answers whose reply links the expected topic

    def add(self, case: Case, result: MatchResult) -> Verdict:
        verdict = judge(case, result)
        self.total.add(verdict)
        if result.topic is not None:
            self.answered.append((result.confidence, verdict == "right"))
        if verdict == "wrong" and links(result, case.expect):
            self.linked += 1
        for group, key in (
            ("lang", case.lang),
            ("length", case.length),
            ("category", case.category),
            ("set", case.source),
        ):
            self.groups[group][key].add(verdict)
        if verdict not in ("right", "declined"):
            shown = _shown(result)
            self.confusions[(case.expect or "(out of scope)", shown)] += 1
            self.misses.append((case, verdict, shown))
        return verdict

    # The figures the floors and the README quote.
    @property
    def accuracy(self) -> float:
        return self.total.rate("right")

    @property
    def wrong_rate(self) -> float:
        return self.total.rate("wrong")

    @property
    def decline_rate(self) -> float:
        return self.total.rate("declined")


def links(result: MatchResult, topic_id: str | None) -> bool:
    """Whether an answer offers `topic_id` as a button: among its see-also or related topics."""
    if result.topic is None or topic_id is None:
        return False
    return topic_id in result.topic.related or any(s.topic.id == topic_id for s in result.see_also)


def _shown(result: MatchResult) -> str:
    if result.topic is not None:
        return result.topic.id
    if result.suggestions:
        return "did you mean: " + ", ".join(s.topic.id for s in result.suggestions)
    return "(declined)"


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else "-"


def _line(name: str, tally: Tally) -> str:
    parts = []
    n = tally.in_scope
    if n:
        c = tally.counts
        parts.append(
            f"right {c['right'] / n:6.1%}  wrong {c['wrong'] / n:5.1%}  offered {c['offered'] / n:5.1%}  "
            f"missed {c['missed'] / n:5.1%}  (n={n})"
        )
    m = tally.out_of_scope
    if m:
        parts.append(f"declined {tally.rate('declined'):6.1%}  clarified {tally.rate('clarified'):5.1%}  (n={m})")
    return f"  {name:<16} " + "  |  ".join(parts)


def format_report(report: Report, show_misses: bool = True) -> str:
    t = report.total
    c = t.counts
    lines = [
        f"in scope: {_pct(c['right'], t.in_scope)} answered right, {_pct(c['wrong'], t.in_scope)} answered wrong, "
        f"{_pct(c['offered'], t.in_scope)} offered among choices, {_pct(c['missed'], t.in_scope)} missed",
        f"out of scope: {_pct(c['declined'], t.out_of_scope)} declined, "
        f"{_pct(c['clarified'], t.out_of_scope)} given choices, {_pct(c['answered'], t.out_of_scope)} answered",
    ]
    if c["wrong"]:
        linked = _pct(report.linked, c["wrong"])
        lines.append(f"wrong answers that link the expected topic (see also, related): {linked}")
    order = {"lang": LANGS, "length": LENGTHS}
    for group in ("lang", "length", "category", "set"):
        tallies = report.groups.get(group, {})
        if len(tallies) < 2 and group != "lang":
            continue
        lines += ["", f"by {group}:"]
        keys = [k for k in order.get(group, sorted(tallies)) if k in tallies]
        lines += [_line(k, tallies[k]) for k in keys]
    if report.answered:
        lines += ["", "calibration of answers (confidence -> share right):"]
        lines += [f"  {row}" for row in calibration_rows(report)]
    if report.confusions:
        lines += ["", "confusions (expected -> got):"]
        lines += [f"  {n:>3}  {e} -> {g}" for (e, g), n in report.confusions.most_common(15)]
    if show_misses and report.misses:
        lines += ["", "misses:"]
        for case, verdict, shown in report.misses:
            lines.append(f"  [{verdict}/{case.category}] {case.question!r}: expected {case.expect}, got {shown}")
    return "\n".join(lines)


CONFIDENCE_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def calibration_rows(report: Report) -> list[str]:
    """Answers binned by the confidence they reported, with the share that were right: a
    calibrated confidence of 0.8 is right about 8 times in 10."""
    rows = []
    for low, high in itertools.pairwise(CONFIDENCE_BINS):
        hits = [right for confidence, right in report.answered if low <= confidence < high]
        if hits:
            label = f"{low:.1f}-{min(high, 1.0):.1f}"
            rows.append(f"{label}  {sum(hits) / len(hits):6.1%} right  (n={len(hits)})")
    return rows


def report_json(report: Report) -> str:
    data: dict[str, object] = {
        "total": report.total.as_dict(),
        "accuracy": round(report.accuracy, 4),
        "wrong_rate": round(report.wrong_rate, 4),
        "decline_rate": round(report.decline_rate, 4),
        "wrong_linked": report.linked,
    }
    for group, tallies in sorted(report.groups.items()):
        data[f"by_{group}"] = {k: v.as_dict() for k, v in sorted(tallies.items())}
    return json.dumps(data, ensure_ascii=False)
