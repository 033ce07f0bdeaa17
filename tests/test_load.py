"""Loading knowledge/: lenient per topic, strict about the shared files, always with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import KnowledgeError
from bot.kb.load import load_knowledge


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_loads_topics_with_area_from_folder(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "ecs-cron")
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    topic = kb.get("ecs-cron")
    assert topic is not None and topic.area == "scheduling"
    assert topic.source == "knowledge/scheduling/ecs-cron.yaml"
    assert len(topic.questions["en"]) == 16 and topic.answer["ja"].startswith("*")


def test_broken_yaml_leaves_that_topic_out_and_names_the_line(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "good-one")
    write_topic("scheduling", "broken", text="id: broken\ntitle:\n  en: [unclosed\n  ja: x\n")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    assert codes(problems) == ["KB001"]
    assert str(problems[0]).startswith("knowledge/scheduling/broken.yaml:4: KB001 YAML syntax error")


def test_missing_field_is_reported_with_file_and_code(kb_dir: Path, write_topic) -> None:
    data_path = write_topic("scheduling", "no-answer")
    text = data_path.read_text().split("answer:")[0] + "links: []\nrelated: []\n"
    write_topic("scheduling", "no-answer", text=text)
    _, problems = load_knowledge(kb_dir)
    assert "knowledge/scheduling/no-answer.yaml:1: KB005 missing 'answer'" in map(str, problems)


def test_missing_japanese_half_points_at_the_field(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "no-ja", answer={"en": "only English"})
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == ()
    [problem] = problems
    assert problem.code == "KB008" and "missing its Japanese half" in problem.message
    text = (kb_dir / "scheduling" / "no-ja.yaml").read_text().splitlines()
    assert text[problem.line - 1].strip().startswith("answer:")


def test_wrong_types_and_unknown_fields(kb_dir: Path, write_topic) -> None:
    write_topic("a", "typed", services="Amazon ECS", colour="blue")
    _, problems = load_knowledge(kb_dir)
    assert sorted(codes(problems)) == ["KB006"]  # shape errors stop before field checks
    write_topic("a", "typed", services="Amazon ECS")
    _, problems = load_knowledge(kb_dir)
    assert codes(problems) == ["KB009"] and "'services'" in problems[0].message


def test_id_must_equal_file_name(kb_dir: Path, write_topic) -> None:
    write_topic("a", "file-name", id="other-name")
    _, problems = load_knowledge(kb_dir)
    assert codes(problems) == ["KB007"]


def test_no_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        load_knowledge(tmp_path / "nowhere")


def test_broken_vocabulary_stops_loading(kb_dir: Path) -> None:
    (kb_dir / "vocabulary.yaml").write_text("entities:\n  ecs: {aliases: ecs}\n")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_dir)
    assert "knowledge/vocabulary.yaml:2: KB003" in str(caught.value)


def test_yaml_is_loaded_safely(kb_dir: Path, write_topic) -> None:
    # A python tag would run code under yaml.load with an unsafe loader.
    write_topic("a", "evil", text="id: !!python/object/apply:os.system ['echo hacked']\n")
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == () and codes(problems) == ["KB001"]
