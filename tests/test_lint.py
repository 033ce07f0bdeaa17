"""One failing example per content rule, and the real knowledge base passing them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.kb.lint import check
from tests.conftest import KNOWLEDGE, topic_data


def only(problems, code: str) -> list[str]:
    return [str(p) for p in problems if p.code == code]


def test_the_real_knowledge_base_has_no_problems() -> None:
    problems = check(KNOWLEDGE)
    assert [str(p) for p in problems] == []


def test_the_roadmap_names_only_topics_that_exist(real_kb) -> None:
    roadmap = (KNOWLEDGE / "ROADMAP.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", roadmap))
    assert named and named <= {t.id for t in real_kb.topics}


def test_a_clean_topic_passes(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "ecs-cron")
    assert check(kb_dir) == []


def test_kb010_duplicate_id_across_areas(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "same")
    write_topic("secrets-config", "same", questions=topic_data("other")["questions"])
    assert len(only(check(kb_dir), "KB010")) == 1


def test_kb011_related_id_must_exist(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a", related=["nope"])
    [problem] = only(check(kb_dir), "KB011")
    assert problem.startswith("knowledge/scheduling/a.yaml:") and "'nope' does not exist" in problem


def test_kb012_same_question_in_two_topics(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a")
    b = topic_data("b")
    b["questions"]["en"][0] = "Question 0 about a?"  # same once normalised
    write_topic("scheduling", "b", questions=b["questions"])
    [problem] = only(check(kb_dir), "KB012")
    assert "also in topic 'a'" in problem


def test_kb013_near_duplicate_question(kb_dir: Path, write_topic) -> None:
    a = topic_data("a")
    a["questions"]["en"][0] = "how do we rotate the database password for the payments service"
    write_topic("scheduling", "a", questions=a["questions"])
    b = topic_data("b")
    b["questions"]["en"][0] = "how do we rotate the database password for the paymnets service"
    write_topic("scheduling", "b", questions=b["questions"])
    assert len(only(check(kb_dir), "KB013")) == 1


def test_kb014_answer_over_slack_section_limit(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a", answer={"en": "x" * 3001, "ja": "答え"})
    [problem] = only(check(kb_dir), "KB014")
    assert "3001 characters" in problem


@pytest.mark.parametrize("url", ["http://docs.aws.amazon.com/x", "docs.aws.amazon.com/x", "https://"])
def test_kb015_links_must_be_https_urls(kb_dir: Path, write_topic, url: str) -> None:
    write_topic("scheduling", "a", links=[{"title": "Docs", "url": url}])
    assert len(only(check(kb_dir), "KB015")) == 1


def test_kb016_japanese_half_left_in_english(kb_dir: Path, write_topic) -> None:
    write_topic(
        "scheduling",
        "a",
        answer={"en": "Use EventBridge Scheduler.", "ja": "Use EventBridge Scheduler to start the task."},
    )
    [problem] = only(check(kb_dir), "KB016")
    assert "mostly not Japanese" in problem


def test_kb017_languages_link_to_different_pages(kb_dir: Path, write_topic) -> None:
    url = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
    write_topic("scheduling", "a", answer={"en": f"See <{url}|the guide>.", "ja": "ガイドを見てください。"})
    assert len(only(check(kb_dir), "KB017")) == 1


def test_kb018_inline_link_must_be_listed(kb_dir: Path, write_topic) -> None:
    url = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/"
    write_topic("scheduling", "a", answer={"en": f"See <{url}|this>.", "ja": f"<{url}|こちら>を参照してください。"})
    [problem] = only(check(kb_dir), "KB018")
    assert url in problem


def test_kb019_too_few_questions(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a", questions={"en": ["only one"], "ja": ["ひとつだけ"]})
    assert len(only(check(kb_dir), "KB019")) == 2


def test_kb020_title_too_long_for_a_button(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a", title={"en": "t" * 76, "ja": "タイトル"})
    assert len(only(check(kb_dir), "KB020")) == 1


def test_kb021_area_needs_a_display_name(kb_dir: Path, write_topic) -> None:
    write_topic("no-such-area", "a")
    assert len(only(check(kb_dir), "KB021")) == 1


def test_kb022_a_question_cannot_be_declined_and_answered(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a")
    (kb_dir / "out-of-scope.yaml").write_text("en:\n  - what is for lunch\n  - question 3 about a\nja: []\n")
    [problem] = only(check(kb_dir), "KB022")
    assert problem.startswith("knowledge/out-of-scope.yaml:3: KB022") and "topic 'a'" in problem


def test_a_broken_vocabulary_is_listed_like_any_problem(kb_dir: Path) -> None:
    (kb_dir / "vocabulary.yaml").write_text("entities: [\n")
    [problem] = check(kb_dir)
    assert str(problem).startswith("knowledge/vocabulary.yaml:2: KB001")
