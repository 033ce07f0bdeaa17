"""The advisor against 62 scenarios written blind from public case studies and AWS guidance
(tests/advisor/scenarios.yaml: a helper wrote them from sources and the seed essay, without
seeing the rules). A scenario agrees when the first choice is its expected one or one of its
acceptable runners-up. The disagreements are printed: read them with `pytest -s`.

First measurement, before any change to the rules: 54 of 62 (87.1%). Now tuned on this set,
so it is a dev set: the figure that predicts unseen teams is the first one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.advisor import Rules, advise, checked_answers

SCENARIOS = Path(__file__).with_name("scenarios.yaml")
TARGET = 0.90


def scenarios() -> list[dict[str, Any]]:
    return yaml.safe_load(SCENARIOS.read_text(encoding="utf-8"))["scenarios"]


def test_the_set_is_big_balanced_and_sourced(rules: Rules) -> None:
    found = scenarios()
    assert len(found) >= 40
    expected = {s["expect"] for s in found}
    assert expected == {o.id for o in rules.options}  # every platform is somebody's first choice
    assert all(s["source"].count("http") >= 1 for s in found)
    for scenario in found:  # answers name only questions and answers the rules have
        checked_answers(rules, scenario["answers"])


def test_the_advisor_agrees_with_at_least_90_percent_of_scenarios(rules: Rules) -> None:
    found = scenarios()
    disagreements = []
    for scenario in found:
        advice = advise(rules, checked_answers(rules, scenario["answers"]), explore=False)
        first = advice.first.option.id if advice.first else "(nothing)"
        if first != scenario["expect"] and first not in (scenario.get("acceptable") or []):
            ranking = ", ".join(f"{r.option.id} {r.score}" for r in advice.ranked[:3])
            disagreements.append(f"{scenario['id']}: {first}, expected {scenario['expect']} ({ranking})")
    agreed = 1 - len(disagreements) / len(found)
    print(f"\nadvisor agrees with {len(found) - len(disagreements)} of {len(found)} scenarios ({agreed:.1%})")
    print("\n".join(disagreements))
    assert agreed >= TARGET


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s["id"])
def test_every_line_of_the_advice_traces_to_an_answer(rules: Rules, scenario: dict[str, Any]) -> None:
    answers = checked_answers(rules, scenario["answers"])
    advice = advise(rules, answers)
    for ranked in advice.ranked:
        assert all(r.answer.id in answers[r.question.id] for r in ranked.reasons)
    for ruled in advice.ruled_out:
        assert ruled.reasons and all(r.answer.id in answers[r.question.id] for r in ruled.reasons)
