"""`platbot learn`: confirmed questions become example questions, as a diff a curator applies; 👎 by topic."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.kb.lint import check
from bot.kb.load import load_knowledge
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.store.learn import Downvote, LearnError, Proposal, add_questions, apply, as_diff, downvotes, proposals
from bot.store.models import ActionKind, Outcome
from bot.store.recorder import Recorder
from bot.store.traffic import fill
from tests.conftest import KNOWLEDGE

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
MONTH_AGO = NOW - timedelta(days=30)

# Questions the bundled knowledge does not answer with their topic yet.
STRIPE_KEY = (
    "the card processor's api token shows up for anyone who opens our fargate service's "
    "container settings. where does it belong?"
)
ON_PREM = (
    "データセンターにある自社サーバーは残したまま、"
    "そこで動かすコンテナの管理やスケジューリングだけ AWS 側に任せることはできますか。"
)

# What the month below teaches (the diff and apply tests start from it: they need no database).
LEARNED = [
    Proposal("ecs-secrets", "en", STRIPE_KEY, picks=2, upvotes=0),
    Proposal("ecs-anywhere-eks-hybrid-nodes", "ja", ON_PREM, picks=0, upvotes=1),
]


def ask(
    recorder: Recorder,
    text: str,
    outcome: Outcome,
    *,
    topic: str | None = None,
    offered: tuple[str, ...] = (),
    user: str = "U1",
    days_ago: float = 1,
) -> str:
    return recorder.record_question(
        surface="command",
        workspace_id="T1",
        user_id=user,
        lang="en",
        text=text,
        outcome=outcome,
        topic_id=topic,
        offered=offered,
        latency_ms=15.0,
        asked_at=NOW - timedelta(days=days_ago),
    )


def act(
    recorder: Recorder,
    ref: str,
    kind: ActionKind,
    *,
    topic: str | None = None,
    user: str = "U1",
    comment: str | None = None,
    days_ago: float = 1,
) -> None:
    recorder.record_action(
        question_ref=ref,
        kind=kind,
        workspace_id="T1",
        user_id=user,
        topic_id=topic,
        comment=comment,
        at=NOW - timedelta(days=days_ago) + timedelta(minutes=1),
    )


@pytest.fixture
def month(engine: Engine, recorder: Recorder, real_kb: KnowledgeBase) -> Engine:
    """A month of clicks: two confirmed questions worth learning, and what must not be learned."""
    secrets = real_kb.get("ecs-secrets")
    assert secrets is not None
    choices = ("ecs-secrets", "ecs-config", "ecs-task-credentials")
    # Two people picked ecs-secrets for the same words; one of them clicked twice.
    for user in ("U1", "U2"):
        ref = ask(recorder, STRIPE_KEY, "did_you_mean", offered=choices, user=user)
        act(recorder, ref, "pick", topic="ecs-secrets", user=user)
    act(recorder, ref, "pick", topic="ecs-secrets", user="U2")
    # A 👍 on an answer, in Japanese.
    ref = ask(recorder, ON_PREM, "answered", topic="ecs-anywhere-eks-hybrid-nodes")
    act(recorder, ref, "feedback_up", topic="ecs-anywhere-eks-hybrid-nodes")
    # Not learned: an example the topic has (in other case and spacing), another topic's example,
    # Slack markup, a pasted wall of text, a pick older than the month.
    for text in (
        secrets.questions["en"][0].upper() + "  ",
        secrets.questions["en"][1],
        "<@U0BOT> where do i put the stripe key for ecs",
        "stripe key for our ecs task " + "and the logs say " * 20,
        "stripe key in ecs task definition, where",
    ):
        days = 40 if text.endswith("where") else 1
        ref = ask(recorder, text, "did_you_mean", offered=choices, days_ago=days)
        act(
            recorder,
            ref,
            "pick",
            topic="ecs-config" if text == secrets.questions["en"][1] else "ecs-secrets",
            days_ago=days,
        )
    # Not learned: as many 👎 as 👍; a 👍 on a see-also topic, not on the answer.
    ref = ask(recorder, "move 80 env vars out of the ecs task def", "answered", topic="ecs-config")
    act(recorder, ref, "feedback_up", topic="ecs-config", user="U1")
    act(recorder, ref, "feedback_down", topic="ecs-config", user="U2", comment="wanted Parameter Store steps")
    ref = ask(recorder, "lambda stripe key in plain env vars", "see_also", topic="lambda-secrets")
    act(recorder, ref, "feedback_up", topic="ecs-secrets")
    assert recorder.flush()
    return engine


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge to learn into: the repository's own files are never edited."""
    return shutil.copytree(KNOWLEDGE, tmp_path / "a" / "knowledge")


def test_picks_and_upvotes_are_proposed_once_and_nothing_else(month: Engine, real_kb: KnowledgeBase) -> None:
    assert proposals(month, real_kb, MONTH_AGO, NOW) == LEARNED


def test_a_month_of_traffic_adds_nothing_the_knowledge_has(month: Engine, real_kb: KnowledgeBase) -> None:
    # The generated month asks the topics' own example questions: every pick and 👍 is known already.
    traffic = fill(month, days=30, per_day=60, now=NOW, kb=real_kb)
    assert traffic.actions["pick"] and traffic.actions["feedback_up"]

    assert proposals(month, real_kb, MONTH_AGO, NOW) == LEARNED


def test_a_wording_two_topics_claim_goes_to_the_better_confirmed(
    engine: Engine, recorder: Recorder, real_kb: KnowledgeBase
) -> None:
    for user, topic in (("U1", "ecs-secrets"), ("U2", "ecs-secrets"), ("U3", "ecs-config")):
        ref = ask(recorder, STRIPE_KEY, "did_you_mean", user=user)
        act(recorder, ref, "pick", topic=topic, user=user)
    assert recorder.flush()

    assert [(p.topic_id, p.picks) for p in proposals(engine, real_kb, MONTH_AGO, NOW)] == [("ecs-secrets", 2)]


def test_the_diff_changes_nothing_and_apply_writes_what_it_shows(copy: Path, tmp_path: Path) -> None:
    kb, _ = load_knowledge(copy)
    secrets_file = copy / "secrets-config" / "ecs-secrets.yaml"
    before = secrets_file.read_bytes()

    diff = as_diff(LEARNED, kb)

    assert secrets_file.read_bytes() == before
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == [f"+    - {ON_PREM}", f"+    - {STRIPE_KEY}"]  # files in order: compute/, secrets-config/
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    # The diff is a patch for the knowledge directory's parent; apply() makes the same files.
    patched = shutil.copytree(copy.parent, tmp_path / "b")
    subprocess.run(["git", "apply", "-p1"], input=diff.encode(), cwd=patched, check=True)
    written = apply(LEARNED, kb)
    assert sorted(written) == sorted([secrets_file, copy / "compute" / "ecs-anywhere-eks-hybrid-nodes.yaml"])
    for path in written:
        assert path.read_bytes() == (patched / path.relative_to(copy.parent)).read_bytes()


def test_after_apply_the_knowledge_checks_clean_and_answers_the_learned_question(
    copy: Path, real_matcher: Matcher
) -> None:
    assert real_matcher.match(STRIPE_KEY).topic is None, "pick a question the bundled knowledge does not answer"
    kb, _ = load_knowledge(copy)

    apply(LEARNED, kb)

    learned, problems = load_knowledge(copy)
    assert problems == []
    assert check(copy) == []  # as for the bundled knowledge (tests/test_lint.py): no question in two topics...
    assert STRIPE_KEY in learned.get("ecs-secrets").questions["en"]  # type: ignore[union-attr]
    result = Matcher(learned).match(STRIPE_KEY)
    assert (result.outcome, result.topic and result.topic.id) == ("answer", "ecs-secrets")


def test_downvotes_are_listed_by_topic_with_their_comments(engine: Engine, recorder: Recorder) -> None:
    first = ask(recorder, "ecs secrets from ssm", "answered", topic="ecs-secrets", days_ago=3)
    second = ask(recorder, "rotate ecs secrets", "answered", topic="ecs-secrets", days_ago=2)
    other = ask(recorder, "cron on ecs", "answered", topic="ecs-scheduled-tasks")
    act(recorder, first, "feedback_down", topic="ecs-secrets", comment="no rotation example", days_ago=3)
    act(recorder, second, "feedback_down", topic="ecs-secrets", days_ago=2)
    act(recorder, other, "feedback_down", topic="ecs-scheduled-tasks", comment="outdated")
    act(recorder, other, "feedback_up", topic="ecs-scheduled-tasks", user="U2")
    assert recorder.flush()

    assert downvotes(engine, MONTH_AGO, NOW) == {
        "ecs-secrets": [Downvote("rotate ecs secrets", None), Downvote("ecs secrets from ssm", "no rotation example")],
        "ecs-scheduled-tasks": [Downvote("cron on ecs", "outdated")],
    }


TOPIC = """\
id: x
questions:
  en:
    # the short ones
    - first
    - "second: quoted"   # kept as written
  ja:
  - 最初
answer:
  en: |
    text
"""


def test_questions_are_added_after_the_last_item_as_the_file_writes_them() -> None:
    text = add_questions(TOPIC, "en", ["it's new: one", "plain new"])
    text = add_questions(text, "ja", ["新しい"])

    assert text == TOPIC.replace(
        '    - "second: quoted"   # kept as written\n',
        "    - \"second: quoted\"   # kept as written\n    - 'it''s new: one'\n    - plain new\n",
    ).replace("  - 最初\n", "  - 最初\n  - 新しい\n")


def test_line_ends_and_a_last_item_without_newline_are_kept() -> None:
    assert (
        add_questions("questions:\r\n  en:\r\n    - a", "en", ["b"]) == "questions:\r\n  en:\r\n    - a\r\n    - b\r\n"
    )


def test_a_last_item_written_as_a_block_goes_before_the_next_key() -> None:
    text = "questions:\n  en:\n    - |\n      two\n      lines\n  ja:\n    - x\n"

    assert add_questions(text, "en", ["b"]) == text.replace("  ja:", "    - b\n  ja:")


def test_a_list_written_inline_is_left_to_a_person() -> None:
    with pytest.raises(LearnError, match=r"questions\.en"):
        add_questions("questions:\n  en: [a, b]\n", "en", ["c"])
