"""The curators' week in numbers (bot.store.digest) on generated traffic, and its Block Kit (bot.render.digest)."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.kb.load import load_knowledge
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.render.digest import week_message
from bot.store import make_engine, upgrade
from bot.store.digest import Week, week_in_numbers
from bot.store.report import TopicCount, TopicVotes, UnansweredCluster
from bot.store.traffic import Traffic, fill

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, tzinfo=UTC)  # midnight: each week is seven whole UTC days


def knowledge_copy(folder: Path) -> Path:
    """A copy of knowledge/, for servers and matchers the tests may point elsewhere."""
    root = folder / "knowledge"
    shutil.copytree(REPO / "knowledge", root)
    return root


@pytest.fixture(scope="session")
def stats_knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return knowledge_copy(tmp_path_factory.mktemp("stats"))


@pytest.fixture(scope="session")
def stats_kb(stats_knowledge: Path) -> KnowledgeBase:
    kb, problems = load_knowledge(stats_knowledge)
    assert problems == []
    return kb


@pytest.fixture(scope="session")
def stats_matcher(stats_kb: KnowledgeBase) -> Matcher:
    return Matcher(stats_kb)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'platbot.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def two_weeks(store: Engine, stats_kb: KnowledgeBase) -> tuple[Traffic, Traffic]:
    """The week before and this week, written separately so each week's counts are known."""
    before = fill(store, days=7, per_day=60, seed=11, now=NOW - timedelta(days=7), kb=stats_kb)
    this = fill(store, days=7, per_day=90, seed=12, now=NOW, kb=stats_kb)
    return before, this


def answered_rate(traffic: Traffic) -> float:
    return (traffic.outcomes["answered"] + traffic.outcomes["see_also"]) / traffic.questions


def most_first(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# --- the numbers ---------------------------------------------------------------------------------


def test_the_week_counts_what_was_recorded_in_its_seven_days(
    store: Engine, two_weeks: tuple[Traffic, Traffic], stats_kb: KnowledgeBase, stats_matcher: Matcher
) -> None:
    before, this = two_weeks
    week = week_in_numbers(store, stats_kb, stats_matcher, now=NOW)

    assert (week.since, week.until) == (NOW - timedelta(days=7), NOW)
    assert week.questions == this.questions == 7 * 90
    assert week.previous_questions == before.questions == 7 * 60
    assert week.answered_rate == pytest.approx(answered_rate(this))
    assert week.previous_answered_rate == pytest.approx(answered_rate(before))
    assert week.answered_rate_change == pytest.approx(answered_rate(this) - answered_rate(before))
    assert [(t.topic_id, t.questions) for t in week.top_topics] == most_first(this.answered_topics)[:5]
    down_first = sorted(this.votes_down, key=lambda topic: (-this.votes_down[topic], this.votes_up[topic], topic))
    assert [(v.topic_id, v.down, v.up) for v in week.most_downvoted] == [
        (topic, this.votes_down[topic], this.votes_up[topic]) for topic in down_first[:5]
    ]
    assert week.escalations == this.actions["escalate"] > 0


def test_the_top_three_unanswered_groups_come_biggest_first_with_a_sample(
    store: Engine, two_weeks: tuple[Traffic, Traffic], stats_kb: KnowledgeBase, stats_matcher: Matcher
) -> None:
    _, this = two_weeks
    week = week_in_numbers(store, stats_kb, stats_matcher, now=NOW)

    counts = [cluster.questions for cluster in week.unanswered]
    assert len(counts) == 3
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) <= this.outcomes["declined"] + this.outcomes["did_you_mean"]
    declined_texts = {text for lang in ("en", "ja") for text in stats_kb.declined.get(lang, ())}
    example_texts = {q for topic in stats_kb.topics for qs in topic.questions.values() for q in qs}
    for cluster in week.unanswered:
        assert cluster.samples and set(cluster.samples) <= declined_texts | example_texts


def test_an_empty_store_gives_a_week_of_nothing(store: Engine, stats_kb: KnowledgeBase, stats_matcher: Matcher) -> None:
    week = week_in_numbers(store, stats_kb, stats_matcher, now=NOW)

    assert (week.questions, week.previous_questions, week.escalations) == (0, 0, 0)
    assert week.answered_rate is None and week.answered_rate_change is None
    assert week.top_topics == week.most_downvoted == week.unanswered == ()

    text = str(week_message(stats_kb, week, "en").as_kwargs()["blocks"])
    assert "No questions were recorded in these seven days." in text


# --- the message ---------------------------------------------------------------------------------


@pytest.fixture
def week(store: Engine, two_weeks: tuple[Traffic, Traffic], stats_kb: KnowledgeBase, stats_matcher: Matcher) -> Week:
    return week_in_numbers(store, stats_kb, stats_matcher, now=NOW)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_message_shows_the_figures_and_titles_in_the_asked_language(
    week: Week, stats_kb: KnowledgeBase, lang: str
) -> None:
    kwargs = week_message(stats_kb, week, lang).as_kwargs()  # type: ignore[arg-type]  # as_kwargs validates

    shown = str(kwargs["blocks"])
    assert kwargs["blocks"][0]["text"]["text"] == stats_kb.message("stats_title", lang)  # type: ignore[arg-type]
    assert "2025-05-25 00:00" in shown and "2025-06-01 00:00" in shown
    assert f"{week.questions:,}" in shown and f"{week.answered_rate:.1%}" in shown
    assert f"{week.answered_rate_change * 100:+.1f}" in shown  # type: ignore[operator]
    for topic in week.top_topics:
        assert stats_kb.get(topic.topic_id).title_in(lang) in shown  # type: ignore[union-attr, arg-type]
    assert "platbot unanswered" not in shown
    assert f"{week.questions}" in kwargs["text"]


def test_the_digest_adds_how_to_act(week: Week, stats_kb: KnowledgeBase) -> None:
    shown = str(week_message(stats_kb, week, "en", with_actions=True).as_kwargs()["blocks"])

    for command in ("platbot unanswered --since 7d", "platbot learn --since 7d", "platbot report --since 7d --html"):
        assert command in shown


def test_question_text_is_escaped_and_clipped_and_huge_figures_stay_within_slack_limits(
    stats_kb: KnowledgeBase,
) -> None:
    long_id = "gone-" + "x" * 120  # a topic no longer in the knowledge base shows as its id
    week = Week(
        since=NOW - timedelta(days=7),
        until=NOW,
        questions=10**9,
        answered_rate=0.5,
        previous_questions=10**9,
        previous_answered_rate=0.25,
        top_topics=tuple(TopicCount(f"{long_id}{n}", 10**9) for n in range(5)),
        most_downvoted=tuple(TopicVotes(f"{long_id}{n}", 10**9, 10**9) for n in range(5)),
        unanswered=tuple(UnansweredCluster(10**9, long_id, ("<!channel> " + "y" * 5000,)) for _ in range(3)),
        escalations=10**9,
    )

    kwargs = week_message(stats_kb, week, "en", with_actions=True).as_kwargs()  # raises past a Slack limit

    shown = str(kwargs["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert "y" * 200 not in shown and "…" in shown
    assert f"{long_id}0" in shown
    assert "+25.0 points" in shown
