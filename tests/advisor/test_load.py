"""Reading knowledge/advisor.yaml: each problem at its file and line, layers replacing by id, and
the whole-rules checks `platbot check` runs (reachable options, no answers that leave nothing)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot.advisor import Rules, check_rules, load_rules
from bot.advisor.model import Effect
from bot.kb.model import KnowledgeBase
from tests.conftest import KNOWLEDGE

BUNDLED = (KNOWLEDGE / "advisor.yaml").read_text(encoding="utf-8")


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "advisor.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_bundled_rules_load_and_pass_every_check(rules: Rules, kb: KnowledgeBase) -> None:
    assert len(rules.options) == 8 and 6 <= len(rules.questions) <= 10
    assert check_rules(rules, kb) == []


def test_a_reason_without_japanese_is_a_problem_at_its_line(tmp_path: Path) -> None:
    broken = BUNDLED.replace('              ja: "Web のトラフィックにも十分向いています。"\n', "", 1)
    assert broken != BUNDLED
    line = broken.splitlines().index('              en: "It serves web traffic well too."') + 1
    rules, problems = load_rules([write(tmp_path / "kb", broken)])

    assert [str(p) for p in problems] == [
        f"kb/advisor.yaml:{line - 1}: AD002 'reason' needs non-empty 'en' and 'ja' text"
    ]
    assert rules is not None  # the rest of the file still loads; only that effect is left out


def test_broken_yaml_is_one_problem_and_no_rules(tmp_path: Path) -> None:
    rules, problems = load_rules([write(tmp_path / "kb", "options: [\n")])
    assert rules is None
    assert [p.code for p in problems] == ["KB001"]


def test_an_effect_needs_a_weight_or_an_exclusion_not_both(tmp_path: Path) -> None:
    data = yaml.safe_load(BUNDLED)
    data["questions"][0]["answers"][0]["effects"][0]["excludes"] = True
    _, problems = load_rules([write(tmp_path / "kb", yaml.safe_dump(data, allow_unicode=True))])
    assert [p.code for p in problems] == ["AD003"]


def test_a_team_layer_replaces_an_option_by_id_and_keeps_the_rest(tmp_path: Path) -> None:
    team = write(
        tmp_path / "team",
        yaml.safe_dump(
            {
                "options": [
                    {
                        "id": "ecs_fargate",
                        "prior": 9,
                        "title": {"en": "Our golden path", "ja": "社内標準"},
                        "summary": {"en": "ECS on Fargate, our way.", "ja": "社内流の Fargate 上の ECS。"},
                        "running_cost": {
                            "en": "The platform team runs it.",
                            "ja": "プラットフォームチームが運用します。",
                        },
                    }
                ]
            },
            allow_unicode=True,
        ),
    )
    rules, problems = load_rules([KNOWLEDGE, team])

    assert problems == [] and rules is not None
    assert rules.option("ecs_fargate").title["en"] == "Our golden path"
    assert rules.options[0].id == "ecs_fargate"  # in its place, not at the end
    assert len(rules.options) == 8 and len(rules.questions) == 9
    assert rules.source == "knowledge/advisor.yaml + team/advisor.yaml"  # both layers, as people know them


def test_an_option_nothing_can_put_first_is_reported(rules: Rules, kb: KnowledgeBase) -> None:
    hopeless = dataclasses.replace(rules.option("batch"), prior=-100)
    options = tuple(hopeless if o.id == "batch" else o for o in rules.options)
    problems = check_rules(dataclasses.replace(rules, options=options), kb)
    assert [(p.code, p.message) for p in problems] == [("AD005", "no answers put 'batch' first")]


def test_answers_that_rule_out_everything_are_reported(rules: Rules, kb: KnowledgeBase) -> None:
    # Make Windows rule out the two EKS options as well: with a required Kubernetes ecosystem,
    # nothing would be left.
    hardware = rules.question("hardware")
    assert hardware is not None
    windows = hardware.answer("windows")
    assert windows is not None
    everything_eks = Effect(("eks_karpenter",), {"en": "x", "ja": "x"}, excludes=True)
    new_windows = dataclasses.replace(windows, effects=(*windows.effects, everything_eks))
    new_hardware = dataclasses.replace(
        hardware, answers=tuple(new_windows if a.id == "windows" else a for a in hardware.answers)
    )
    questions = tuple(new_hardware if q.id == "hardware" else q for q in rules.questions)
    problems = check_rules(dataclasses.replace(rules, questions=questions), kb)

    assert [p.code for p in problems] == ["AD006"]
    assert "k8s_ecosystem=required" in problems[0].message and "hardware=" in problems[0].message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: dataclasses.replace(o, next_topics=("no-such-topic",)), "next topic 'no-such-topic' is not a topic"),
    ],
)
def test_unknown_ids_are_reported(rules: Rules, kb: KnowledgeBase, change, message: str) -> None:
    options = tuple(change(o) if o.id == "lambda" else o for o in rules.options)
    problems = check_rules(dataclasses.replace(rules, options=options), kb)
    assert [p.message for p in problems] == [f"option 'lambda': {message}"]
