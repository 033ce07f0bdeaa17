"""Triage: greetings, junk and the asking part of a long message, before any matching."""

from __future__ import annotations

import pytest

from bot.triage import Triager

SMALLTALK = ["hi", "hello", "thanks", "thank you", "what can you do", "お疲れ様です", "ありがとうございます"]
THANKS = ["thanks", "thank you", "obrigado", "ありがとう"]
UNRESOLVED = ["but", "still", "in advance", "also", "how", "failing", "まだ", "けど"]
HEADS_UP = ["a few questions", "questions for you", "questions later", "質問させて"]


@pytest.fixture
def triage() -> Triager:
    return Triager(SMALLTALK, THANKS, UNRESOLVED, HEADS_UP)


@pytest.mark.parametrize(
    "text", ["hi", "Hi!!", "thanks :pray:", "<@U123> hello", "Thank you 🙏", "お疲れ様です！", "what can you do?"]
)
def test_greetings_and_thanks_are_smalltalk(triage: Triager, text: str) -> None:
    assert triage(text).kind == "smalltalk"


@pytest.mark.parametrize(
    "text", ["hi, how do I schedule jobs on ECS?", "thanks! and where do lambda secrets go?", "this"]
)
def test_a_greeting_with_a_question_is_a_question(triage: Triager, text: str) -> None:
    assert triage(text).kind == "question"


@pytest.mark.parametrize(
    "text",
    [
        "obrigado! the stop timeout thing fixed the sidekiq mess",
        "thanks, raising the memory to 2 GB did it 🙏",
        "ok thanks, works now",
        "ありがとうございます！タイムゾーンを指定したら 5:30 に動きました。",
    ],
)
def test_a_thank_you_note_saying_what_fixed_it_is_smalltalk(triage: Triager, text: str) -> None:
    assert triage(text).kind == "smalltalk"


@pytest.mark.parametrize(
    "text",
    [
        "thanks, but the task still stops with exit code 137",
        "thanks! also, how do I rotate the secret?",
        "thanks, is there a way to keep the ALB when the cluster is rebuilt?",
        "thanks! now the task fails with ResourceInitializationError",
        "ecs tasks fail health checks after deploy, thanks in advance",
        "ありがとうございます。タイムゾーンは直ったけど、まだ 2 回起動します",
        "thank you. " + "we run the scheduled job on fargate and it starts at the wrong hour " * 3,
    ],
)
def test_thanks_with_a_problem_or_a_question_is_a_question(triage: Triager, text: str) -> None:
    assert triage(text).kind == "question"


def test_without_thanks_phrases_a_thank_you_note_is_a_question() -> None:
    assert Triager(SMALLTALK)("thanks, raising the memory did it").kind == "question"


@pytest.mark.parametrize(
    "text",
    [
        "hello all, I'll have a few questions about our ECS cluster after standup",
        "hi 👋 new here, some questions for you later this week",
        "お疲れ様です！明日からいろいろ質問させてください🙇",
    ],
)
def test_a_hello_that_announces_questions_is_smalltalk(triage: Triager, text: str) -> None:
    assert triage(text).kind == "smalltalk"


@pytest.mark.parametrize(
    "text",
    [
        "hi, a few questions about ECS task roles: when does the execution role apply",
        "hi, a few questions: can fargate mount EFS?",
        "hello, our ECS tasks keep failing after deploy, I have a few questions",
        "hi, a few questions for you. " + "we run nightly jobs on fargate and some start an hour late " * 2,
    ],
)
def test_a_hello_that_has_begun_asking_is_a_question(triage: Triager, text: str) -> None:
    assert triage(text).kind == "question"


def test_without_heads_up_phrases_a_hello_with_a_subject_is_a_question() -> None:
    assert Triager(SMALLTALK, THANKS, UNRESOLVED)("hello all, a few questions about ECS later").kind == "question"


@pytest.mark.parametrize("text", ["", "   ", "<!channel>", ":wave:", "?!?"])
def test_nothing_to_read_is_empty(triage: Triager, text: str) -> None:
    assert triage(text).kind == "empty"


@pytest.mark.parametrize(
    "text",
    [
        "x",
        "42",
        "' OR 1=1 --",
        "SELECT * FROM users WHERE id = 1;",
        "&lt;div class=a&gt;&lt;/div&gt;",
        "ls -la",
        "$ docker ps",
        "kubectl get pods -A -o wide",
        "oc get scc restricted-v2 -o yaml",
        "export AWS_REGION=us-east-1",
        "drop table users;",
        'Traceback (most recent call last):\n  File "app.py", line 3, in <module>',
        "    at com.example.Foo.bar(Foo.java:42)\n    at com.example.Main.main(Main.java:7)",
        "arn:aws:ecs:eu-west-1:111122223333:task/web/0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/Welcome.html",
        "5f0c6a1e-93b2-4d7e-8c11-2a9e4b7d3f60",
        "10.0.12.7:8080",
        '<div class="alert alert-warning">Deploy paused</div>',
    ],
)
def test_code_and_noise_without_a_question_are_junk(triage: Triager, text: str) -> None:
    assert triage(text).kind == "junk"


@pytest.mark.parametrize(
    "text",
    [
        "eksctl or terraform for creating our eks clusters? there'll be 4 (dev/stage/prod/dr)",
        "helm or kustomize for the dev/prod overlays?",
        "terraform destroy on our dev eks has been stuck 40 min on deleting the subnets / vpc",
        "arn:aws:iam::111122223333:role/ecsTaskExecutionRole can't read my secret, why?",
    ],
)
def test_a_question_that_starts_with_a_command_name_is_a_question(triage: Triager, text: str) -> None:
    assert triage(text).kind == "question"


def test_a_pasted_error_with_words_around_it_is_a_question(triage: Triager) -> None:
    text = "my fargate task fails with CannotPullContainerError\nkubectl get pods -A\nwhat should I check?"
    assert triage(text).kind == "question"


def test_a_long_message_is_focused_on_what_it_asks_and_the_errors_it_pastes(triage: Triager) -> None:
    text = (
        "We run about forty services on ECS on Fargate and moved off Heroku last year. "
        "The team is small and nobody wants to run Kubernetes. Since Monday one service fails to start "
        "with ResourceInitializationError after we moved it to a private subnet. "
        "How do we let the task reach Secrets Manager without a NAT gateway?"
    )
    focus = triage(text).focus
    assert focus.startswith("How do we let the task reach Secrets Manager")
    assert "ResourceInitializationError" in focus and "Heroku" not in focus


def test_japanese_asking_sentences_are_found(triage: Triager) -> None:
    text = (
        "弊社では ECS on Fargate で 40 ほどのサービスを動かしていて、先月から一部をプライベートサブネットに移しました。"
        "移したサービスだけ起動に失敗するようになり、ログには ResourceInitializationError が出ています。"
        "NAT ゲートウェイなしで Secrets Manager に届かせるにはどうすればいいですか?"
    )
    focus = triage(text).focus
    assert "どうすればいいですか" in focus and "ResourceInitializationError" in focus


def test_a_short_question_has_no_focus(triage: Triager) -> None:
    assert triage("how do I schedule jobs on ECS?").focus == ""
