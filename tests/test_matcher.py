"""The matcher: answer, offer choices, or decline, deterministically."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.calibration import CONFIDENCE_FEATURES, Calibration, Logistic, Thresholds
from bot.kb.load import load_knowledge
from bot.matcher import LEARNED_CLIP, Candidate, Evidence, Matcher

TOPICS = {
    "ecs-secrets": (
        [
            "how do I pass secrets to an ECS task",
            "where do ECS tasks get their database password",
            "inject Secrets Manager values into ECS containers",
            "ecs task definition secrets",
            "secrets in fargate tasks",
            "how to give my ECS service an API key",
        ],
        ["ECSタスクにシークレットを渡すには", "ECSでパスワードを環境変数に入れたい"],
    ),
    "eks-secrets": (
        [
            "how do pods on EKS read Secrets Manager",
            "kubernetes secrets vs secrets manager on eks",
            "mount AWS secrets into EKS pods",
            "eks secrets store csi driver",
            "External Secrets Operator on EKS",
            "k8s secret from secrets manager",
        ],
        ["EKSのPodからSecrets Managerを読むには", "EKSでシークレットを扱う方法"],
    ),
    "ecs-scheduled-tasks": (
        [
            "how do I schedule jobs on ECS",
            "run an ECS task every night",
            "cron on fargate",
            "ecs equivalent of kubernetes cronjob",
            "trigger a container on a schedule in ecs",
            "run fargate task at 2am daily",
        ],
        ["ECSでバッチを定期実行したい", "Fargateタスクを毎晩動かしたい"],
    ),
}


@pytest.fixture
def matcher(kb_dir: Path, write_topic) -> Matcher:
    for topic_id, (en, ja) in TOPICS.items():
        write_topic("area", topic_id, questions={"en": en, "ja": ja})
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    return Matcher(kb)


def test_a_paraphrase_is_answered_with_a_confidence(matcher: Matcher) -> None:
    result = matcher.match("how can I run my ECS task every night?")
    assert result.matched and result.topic.id == "ecs-scheduled-tasks"
    assert 0.0 <= result.confidence <= 1.0 and result.lang == "en"


def test_product_names_decide_between_near_topics(matcher: Matcher) -> None:
    assert matcher.match("secrets on ECS").topic.id == "ecs-secrets"
    assert matcher.match("secrets on EKS").topic.id == "eks-secrets"


def test_typos_still_reach_the_topic(matcher: Matcher) -> None:
    assert matcher.match("how do i pass secrts to an ecs tsk").topic.id == "ecs-secrets"


def test_japanese_question_is_matched_and_marked_japanese(matcher: Matcher) -> None:
    result = matcher.match("ECSのタスクを定期的に実行するには?")
    assert result.topic.id == "ecs-scheduled-tasks" and result.lang == "ja"


def test_a_vague_question_gets_choices_not_a_guess(matcher: Matcher) -> None:
    result = matcher.match("secrets?")
    assert result.outcome == "clarify" and not result.matched
    assert {s.topic.id for s in result.suggestions[:2]} == {"ecs-secrets", "eks-secrets"}
    assert len(result.suggestions) <= 3


def test_words_no_example_uses_add_no_evidence(matcher: Matcher) -> None:
    padded = "secrets zorblax quuxified?"
    assert matcher.evidence(padded).vague == matcher.evidence("secrets?").vague == "word"
    assert not matcher.match(padded).matched


def test_a_short_typo_is_fixed_only_towards_the_vocabulary(matcher: Matcher) -> None:
    assert matcher.match("how do i pass secrt values to an ecs task").topic.id == "ecs-secrets"
    assert not matcher.match("what's for lunch today").matched  # "lunch" is not a typo of "launch"


@pytest.mark.parametrize("question", ["what's for lunch?", "今日の天気は?", "write me a sonnet"])
def test_out_of_scope_is_declined(matcher: Matcher, question: str) -> None:
    result = matcher.match(question)
    assert result.outcome == "decline" and result.suggestions == ()


@pytest.mark.parametrize("question", ["", "   ", "?!", "🙂🙂🙂", "<!channel> <@U123>", "x", "1234", "' OR 1=1 --"])
def test_empty_or_meaningless_input_is_declined(matcher: Matcher, question: str) -> None:
    result = matcher.match(question)
    assert result.outcome == "decline" and result.confidence == 0.0


@pytest.mark.parametrize("question", ["hi", "thanks!", "hey there :wave:", "お疲れ様です", "<@U123> what can you do?"])
def test_greetings_get_smalltalk(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).outcome == "smalltalk"


@pytest.mark.parametrize(
    "question",
    [
        "thanks! setting stopTimeout to 120 fixed our sidekiq shutdowns",
        "ありがとうございます、ロールを直したら動きました",
    ],
)
def test_a_thank_you_note_gets_smalltalk_not_the_topic_it_mentions(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).outcome == "smalltalk"


def test_thanks_then_a_new_problem_is_answered(matcher: Matcher) -> None:
    result = matcher.match("thanks, but the task still stops before the container gets SIGTERM handled, stopTimeout?")
    assert result.outcome != "smalltalk"


def test_a_40000_character_question_does_not_crash(matcher: Matcher) -> None:
    result = matcher.match("how do I schedule jobs on ECS? " + "x" * 40_000)
    assert result.topic.id == "ecs-scheduled-tasks"


def test_same_question_same_answer(matcher: Matcher) -> None:
    def outcome(result):
        return result.outcome, result.topic, result.confidence, [(s.topic.id, s.confidence) for s in result.suggestions]

    first = outcome(matcher.match("where should our secrets live?"))
    assert all(outcome(matcher.match("where should our secrets live?")) == first for _ in range(3))


def test_forced_language_is_kept(matcher: Matcher) -> None:
    assert matcher.match("how do I schedule jobs on ECS", lang="ja").lang == "ja"


def test_thresholds_are_the_decision_bands(matcher: Matcher) -> None:
    never = matcher.with_calibration(Calibration(thresholds=Thresholds(answer=1.01, related=1.01, clarify=0.0)))
    result = never.match("how do I schedule jobs on ECS")
    assert result.outcome == "clarify" and result.suggestions[0].topic.id == "ecs-scheduled-tasks"
    always = matcher.with_calibration(Calibration(thresholds=Thresholds(answer=0.0, clarify=0.0)))
    assert always.match("how do I schedule jobs on ECS").outcome == "answer"


def test_related_plausible_topics_come_as_see_also(kb_dir: Path, write_topic) -> None:
    for topic_id, (en, ja) in TOPICS.items():
        related = ["eks-secrets"] if topic_id == "ecs-secrets" else []
        write_topic("area", topic_id, questions={"en": en, "ja": ja}, related=related)
    kb, _ = load_knowledge(kb_dir)
    generous = Matcher(kb, Calibration(thresholds=Thresholds(answer=0.0, clarify=0.0, plausible=0.0)))
    result = generous.match("how do I pass secrets to an ECS task")
    assert result.topic.id == "ecs-secrets"
    assert [s.topic.id for s in result.see_also] == ["eks-secrets"]  # related; the cron topic is not


def test_a_long_message_is_matched_on_the_sentence_that_asks(matcher: Matcher) -> None:
    context = "We are a team of six and moved our rails app off heroku last spring. " * 3
    result = matcher.match(context + "Anyway, how do I run an ECS task every night at 2am?")
    assert result.topic is not None and result.topic.id == "ecs-scheduled-tasks"


def test_swapped_letters_in_a_product_name_count_as_one_typo(real_matcher: Matcher) -> None:
    result = real_matcher.match("how to run a lamdba function every 5 minutes")
    assert result.topic is not None and result.topic.id == "lambda-schedule"


@pytest.mark.parametrize(
    ("question", "topic_id"),
    [
        ("how do I schedule jobs on ECS?", "ecs-scheduled-tasks"),
        ("ECS or EKS for us?", "ecs-vs-eks"),
        ("where do secrets go for Lambda?", "lambda-secrets"),
        ("EKSでALBを消さずにクラスタを作り直すには?", "alb-lifecycle-eks"),
    ],
)
def test_the_questions_the_bot_was_built_for(real_matcher: Matcher, question: str, topic_id: str) -> None:
    result = real_matcher.match(question)
    assert result.topic is not None and result.topic.id == topic_id


@pytest.mark.parametrize(
    "question",
    [
        "what's for lunch?",
        "write a poem about Kubernetes",
        "今日の天気は?",
        "how do I set up GKE autopilot",
        "who won the world cup?",
    ],
)
def test_the_real_base_declines_out_of_scope(real_matcher: Matcher, question: str) -> None:
    assert real_matcher.match(question).outcome == "decline"


def test_other_platform_is_in_scope_when_an_aws_one_is_named(real_matcher: Matcher) -> None:
    question = "we are moving from GKE to EKS, how do pods get AWS permissions?"
    assert real_matcher.match(question).outcome != "decline"
    assert real_matcher.rank(question, limit=1)[0].topic.id == "eks-pod-identity-vs-irsa"


@pytest.mark.parametrize(
    "question",
    [
        "coredns keeps timing out on our on-prem kubernetes cluster",
        "kubeadm join hangs on the bare metal lab cluster",
        "オンプレのKubernetesでPodがPendingのまま",
    ],
)
def test_kubernetes_off_aws_is_declined(real_matcher: Matcher, question: str) -> None:
    assert real_matcher.match(question).outcome == "decline"


def test_moving_from_on_premises_to_aws_stays_in_scope(real_matcher: Matcher) -> None:
    result = real_matcher.match("we run kubernetes on-prem today, should we move to EKS or ECS?")
    assert result.outcome in ("answer", "clarify")
    offered = [result.topic] if result.topic else [s.topic for s in result.suggestions]
    assert "ecs-vs-eks" in {t.id for t in offered}


def test_a_toss_up_between_two_strong_topics_gets_choices_not_a_no(real_matcher: Matcher) -> None:
    # Two candidates each likely on its own, so neither leads: the confidence is low, but the
    # right topic is probably one of the two.
    strong = [Candidate(i, 0.6, 0.8, 1.0, 1.0, 1.0, score=3.0, probability=0.95) for i in (0, 1)]
    evidence = Evidence(candidates=tuple(strong))
    calibration = real_matcher.calibration
    unsure = replace(
        calibration,
        confidence=Logistic(-5.0, (0.0,) * len(CONFIDENCE_FEATURES)),
        reach=Logistic(3.0, (0.0,) * len(CONFIDENCE_FEATURES)),
    )
    offers = real_matcher.with_calibration(replace(unsure, thresholds=replace(calibration.thresholds, reach=0.9)))
    refuses = real_matcher.with_calibration(replace(unsure, thresholds=replace(calibration.thresholds, reach=1.01)))
    assert offers.decide("q", "en", evidence).outcome == "clarify"
    assert refuses.decide("q", "en", evidence).outcome == "decline"


def test_a_long_question_counts_as_more_evidence(real_matcher: Matcher) -> None:
    short = real_matcher.evidence("schedule an ecs task every night")
    long = real_matcher.evidence(
        "our team runs a nightly report job as an ecs task on fargate, today it is started by cron on an old"
        " ec2 box that nobody wants to maintain; how should we schedule the ecs task every night instead?"
    )
    # The "long" feature is 0 up to LONG_WORDS content words, then grows; the AWS one is set by "ecs".
    assert short.confidence_features[5] == 0.0 < long.confidence_features[5]
    assert short.confidence_features[6] == 1.0


@pytest.mark.parametrize("question", ["what is ECS", "EKS?", "secrets"])
def test_a_bare_product_name_or_word_gets_choices_not_a_guess(real_matcher: Matcher, question: str) -> None:
    result = real_matcher.match(question)
    assert result.outcome == "clarify" and len(result.suggestions) >= 2


@pytest.mark.parametrize(
    "question",
    [
        "x",
        "test",
        "テスト",
        "1234",
        "' OR 1=1 --",
        "SELECT * FROM users;",
        "<div class=x></div>",
        "ls -la",
        "kubectl get pods -A",
    ],
)
def test_the_real_base_declines_junk(real_matcher: Matcher, question: str) -> None:
    assert real_matcher.match(question).outcome == "decline"


def test_a_fargate_task_is_an_ecs_question(real_matcher: Matcher) -> None:
    assert real_matcher.rank("how do I see logs from my fargate task", limit=1)[0].topic.id == "ecs-logging-firelens"


@pytest.mark.parametrize("question", ["s3 bucket policy for public read", "Route 53でドメインを買いたい"])
def test_aws_services_outside_containers_are_declined(real_matcher: Matcher, question: str) -> None:
    assert not real_matcher.match(question).matched


def test_an_aws_service_in_a_container_question_stays_in_scope(real_matcher: Matcher) -> None:
    result = real_matcher.match("task can't read s3 bucket, which role?")
    offered = [result.topic] if result.topic else [s.topic for s in result.suggestions]
    assert offered and offered[0].id == "ecs-task-role-vs-execution-role"


@pytest.mark.parametrize(
    "question",
    [
        "lightsail container service deployment is canceled after 'took too long'; the container health check"
        " path returns 200 locally. can I raise the health check grace period?",
        "beanstalk docker environment: container keeps restarting, health check grace period and container logs?",
        "sagemaker training container exits with exec format error, built on an M1 mac",
    ],
)
def test_other_aws_container_hosts_are_declined(real_matcher: Matcher, question: str) -> None:
    assert not real_matcher.match(question).matched


def test_leaving_another_aws_container_host_for_ecs_stays_in_scope(real_matcher: Matcher) -> None:
    question = "moving from elastic beanstalk to ECS, where do the cron.yaml jobs go?"
    assert real_matcher.evidence(question).reason == ""
    assert real_matcher.rank(question, limit=1)[0].topic.id in {"ecs-scheduled-tasks", "scheduling-compared"}


@pytest.mark.parametrize(
    ("question", "topic_id"),
    [
        # Route 53 is outside containers; the load balancer in front of the service is not.
        ("need a real https cert on our load balancer, the domain lives in route53", "tls-certificates-and-dns"),
        # 請求 is the bill of what runs, not the billing console.
        ("コンテナ周りのAWSの請求が高すぎる、まず何から削ればいい？", "container-cost-optimization"),
    ],
)
def test_a_word_of_another_aws_service_does_not_hide_a_container_question(
    real_matcher: Matcher, question: str, topic_id: str
) -> None:
    assert [s.topic.id for s in real_matcher.rank(question, limit=1)] == [topic_id]


def test_the_perceptron_gives_a_second_opinion_the_confidence_reads(real_matcher: Matcher) -> None:
    evidence = real_matcher.evidence("where should the stripe api key go for our fargate service?")
    best = evidence.candidates[0]
    assert real_matcher.topic_at(best.index).id == "ecs-secrets"
    lead = evidence.confidence_features[CONFIDENCE_FEATURES.index("learned")]
    assert lead == evidence.learned and 0.1 < lead <= LEARNED_CLIP  # it agrees, by a clear lead
    # One known word in an off-topic question: the perceptron's lead is small or negative.
    assert real_matcher.evidence("any good café spot in shibuya for a quick meeting?").learned < lead / 2


def test_bm25_weighs_the_words_only_one_topic_uses(real_matcher: Matcher) -> None:
    # A pasted variable name: its words, as typed, belong to one topic's examples.
    evidence = real_matcher.evidence("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is empty inside my container")
    bm25 = {real_matcher.topic_at(c.index).id: c.bm25 for c in evidence.candidates}
    assert bm25["ecs-task-credentials"] == 1.0  # the best, which the others are relative to
    assert all(score < 0.8 for topic, score in bm25.items() if topic != "ecs-task-credentials")


def test_a_product_only_the_best_topic_covers_is_evidence_the_confidence_reads(real_matcher: Matcher) -> None:
    named = CONFIDENCE_FEATURES.index("named")
    karpenter = real_matcher.evidence("how do i tell karpenter to only use graviton instances, nothing over 2xlarge")
    assert real_matcher.topic_at(karpenter.candidates[0].index).id == "karpenter-nodepools"
    assert karpenter.confidence_features[named] > 0.3  # no runner-up is about Karpenter
    # Without a product, no candidate covers one better than the others.
    assert real_matcher.evidence("how do i keep instance sizes small and cheap").confidence_features[named] <= 0.0
