"""advise(): answers in, a ranking with its reasons out; the hard rules are facts from the docs."""

from __future__ import annotations

import pytest

from bot.advisor import AnswersError, Rules, advise, checked_answers


def first(rules: Rules, **answers: object) -> str:
    advice = advise(rules, checked_answers(rules, answers))
    assert advice.first is not None
    return advice.first.option.id


def ruled_out(rules: Rules, **answers: object) -> set[str]:
    return {r.option.id for r in advise(rules, checked_answers(rules, answers)).ruled_out}


def test_with_no_answers_ecs_on_fargate_is_the_default(rules: Rules) -> None:
    advice = advise(rules, {})
    assert advice.first is not None and advice.first.option.id == "ecs_fargate"
    assert advice.first.reasons == ()  # nothing answered, nothing claimed


def test_the_same_answers_give_the_same_advice(rules: Rules) -> None:
    answers = checked_answers(rules, {"workloads": ["web_api", "batch_hpc"], "operators": "nobody"})
    assert advise(rules, answers) == advise(rules, dict(reversed(list(answers.items()))))


def test_work_longer_than_15_minutes_rules_out_lambda(rules: Rules) -> None:
    assert "lambda" in ruled_out(rules, work_duration="hours")
    assert "lambda" not in ruled_out(rules, work_duration="minutes")


def test_gpus_rule_out_lambda_fargate_and_express_mode(rules: Rules) -> None:
    assert ruled_out(rules, hardware=["gpu"]) == {"lambda", "ecs_fargate", "ecs_express"}


def test_windows_rules_out_the_linux_only_platforms(rules: Rules) -> None:
    assert ruled_out(rules, hardware=["windows"]) == {"lambda", "eks_auto", "ecs_managed_instances"}
    assert first(rules, hardware=["windows"], ec2_management="full") == "ecs_ec2"


def test_a_required_kubernetes_ecosystem_leaves_only_eks(rules: Rules) -> None:
    advice = advise(rules, checked_answers(rules, {"k8s_ecosystem": "required"}))
    assert {r.option.id for r in advice.ranked} == {"eks_auto", "eks_karpenter"}


def test_without_people_for_a_platform_ecs_and_aws_services_win(rules: Rules) -> None:
    assert first(rules, workloads=["web_api", "queue_worker"], operators="nobody", k8s_experience="none") == (
        "ecs_fargate"
    )


def test_a_platform_team_that_wants_the_kubernetes_ecosystem_gets_eks(rules: Rules) -> None:
    choice = first(rules, operators="platform_team", k8s_experience="deep", k8s_ecosystem="nice_to_have")
    assert choice in {"eks_auto", "eks_karpenter"}


def test_a_plain_web_app_gets_express_mode_and_event_glue_gets_lambda(rules: Rules) -> None:
    assert first(rules, workloads=["web_api"]) == "ecs_express"
    assert first(rules, workloads=["event_functions"], work_duration="seconds", traffic="spiky") == "lambda"


def test_work_the_first_choice_suits_less_is_paired_with_its_own_platform(rules: Rules) -> None:
    advice = advise(rules, checked_answers(rules, {"workloads": ["web_api", "batch_hpc"], "operators": "nobody"}))
    assert advice.first is not None and advice.first.option.id == "ecs_fargate"
    assert [(p.option.id, [a.id for a in p.work]) for p in advice.pairings] == [("batch", ["batch_hpc"])]


def test_what_would_change_the_call_really_changes_it(rules: Rules) -> None:
    answers = checked_answers(rules, {"workloads": ["web_api"], "operators": "each_team"})
    advice = advise(rules, answers)
    assert advice.changes
    for change in advice.changes:
        current = answers.get(change.question.id, ())
        tried = (*current, change.answer.id) if change.adds else (change.answer.id,)
        again = advise(rules, {**answers, change.question.id: tried}, explore=False)
        assert again.first is not None and again.first.option == change.winner != advice.first.option


def test_reasons_put_what_raised_an_option_before_what_lowered_it(rules: Rules) -> None:
    advice = advise(rules, checked_answers(rules, {"workloads": ["web_api"], "ec2_management": "full"}))
    fargate = next(r for r in advice.ranked if r.option.id == "ecs_fargate")
    weights = [r.effect.weight for r in fargate.reasons]
    assert weights == sorted(weights, reverse=True) and weights[0] > 0 > weights[-1]
    assert fargate.score == fargate.option.prior + sum(weights)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colour": "blue"}, "no question 'colour'"),
        ({"operators": "everyone"}, "'operators' has no answer 'everyone'"),
        ({"operators": ["nobody", "each_team"]}, "'operators' takes one answer, not 2"),
        ({"hardware": ["gpu", 3]}, "'hardware' has no answer '3'"),
    ],
)
def test_answers_outside_the_rules_are_refused_by_name(rules: Rules, raw: dict[str, object], message: str) -> None:
    with pytest.raises(AnswersError, match=message):
        checked_answers(rules, raw)


def test_empty_answers_count_as_not_answered(rules: Rules) -> None:
    assert checked_answers(rules, {"operators": "", "hardware": [], "traffic": None}) == {}
