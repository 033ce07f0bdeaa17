"""Layered knowledge: the bundled base first, then a team's directory on top of it."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.cache import load_matcher
from bot.cli import main
from bot.errors import KnowledgeError
from bot.kb.layers import BUNDLED, bundled_root, layers_from_env, resolve_layers
from bot.kb.load import load_knowledge
from bot.kb.scaffold import ScaffoldError, scaffold

BUNDLED_TOPIC = "ecs-scheduled-tasks"
BUNDLED_FILE = Path("scheduling") / f"{BUNDLED_TOPIC}.yaml"


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A team layer made the way a team would: `platbot init`."""
    directory = tmp_path / "team-kb"
    scaffold(directory)
    return directory


def override(team: Path, marker: str) -> None:
    """The team's own copy of a bundled topic, its answer marked."""
    topic = yaml.safe_load((bundled_root() / BUNDLED_FILE).read_text(encoding="utf-8"))
    topic["answer"]["en"] = f"{marker} {topic['answer']['en']}"
    target = team / BUNDLED_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(topic, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_bundled_base_is_found_from_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    layers = layers_from_env({})
    assert [layer.name for layer in layers.layers] == [BUNDLED]
    kb, problems = load_knowledge(layers)
    assert problems == [] and len(kb.topics) > 100


def test_a_team_topic_with_a_new_id_adds_to_the_bundled_ones(team: Path) -> None:
    bundled, _ = load_knowledge(resolve_layers())
    kb, problems = load_knowledge(resolve_layers([team]))

    assert problems == []
    assert len(kb.topics) == len(bundled.topics) + 1
    assert kb.get("golden-path") is not None and kb.get(BUNDLED_TOPIC) is not None
    assert kb.get("golden-path").layer == 1 and kb.get(BUNDLED_TOPIC).layer == 0  # type: ignore[union-attr]


def test_a_team_topic_with_a_bundled_id_replaces_it_in_place(team: Path) -> None:
    override(team, "OUR-OWN-SCHEDULER-ADVICE")
    bundled, _ = load_knowledge(resolve_layers())
    kb, _ = load_knowledge(resolve_layers([team]))

    assert [t.id for t in kb.topics].count(BUNDLED_TOPIC) == 1
    assert [t.id for t in kb.topics][: len(bundled.topics)] == [t.id for t in bundled.topics]
    assert kb.get(BUNDLED_TOPIC).answer["en"].startswith("OUR-OWN-SCHEDULER-ADVICE")  # type: ignore[union-attr]
    _, _, matcher = load_matcher(resolve_layers([team]))
    assert matcher.match("how do I schedule jobs on ECS?").topic.id == BUNDLED_TOPIC  # type: ignore[union-attr]


def test_vocabulary_and_messages_merge_over_the_bundled_ones(team: Path) -> None:
    bundled, _ = load_knowledge(resolve_layers())
    kb, _ = load_knowledge(resolve_layers([team]))

    assert kb.message("area.our-platform", "ja") == "社内プラットフォーム"  # the team's
    assert kb.message("area.scheduling", "en") == bundled.message("area.scheduling", "en")  # kept
    assert "paved road" in kb.vocabulary.entities["golden-path"]
    assert kb.vocabulary.entities["ecs"] == bundled.vocabulary.entities["ecs"]
    assert kb.declined == bundled.declined and kb.tuning == bundled.tuning


def test_a_team_vocabulary_may_add_aliases_to_a_bundled_entity(team: Path) -> None:
    (team / "vocabulary.yaml").write_text("entities:\n  ecs:\n    aliases: [our-ecs]\n", encoding="utf-8")
    bundled, _ = load_knowledge(resolve_layers())
    kb, problems = load_knowledge(resolve_layers([team]))

    assert problems == []
    assert kb.vocabulary.entities["ecs"] == (*bundled.vocabulary.entities["ecs"], "our-ecs")


def test_no_bundled_leaves_the_team_layer_alone(team: Path) -> None:
    (team / "vocabulary.yaml").write_text(
        (bundled_root() / "vocabulary.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    shutil.copy(bundled_root() / "messages.yaml", team / "messages.yaml")
    kb, _ = load_knowledge(resolve_layers([team], bundled=False))
    assert [t.id for t in kb.topics] == ["golden-path"]


def test_a_layer_alone_needs_the_base_files(team: Path) -> None:
    (team / "vocabulary.yaml").unlink()
    with pytest.raises(KnowledgeError, match=r"team-kb/vocabulary\.yaml:1: KB002 file is missing"):
        load_knowledge(resolve_layers([team], bundled=False))


def test_the_environment_names_the_layers(team: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    layers = layers_from_env({"PLATBOT_KNOWLEDGE": f"{team}:{other}"})
    assert [layer.name for layer in layers.layers] == [BUNDLED, str(team), str(other)]
    assert layers_from_env({"PLATBOT_KNOWLEDGE": str(team), "PLATBOT_NO_BUNDLED": "1"}).roots == (team.resolve(),)
    assert layers_from_env({"PLATBOT_KNOWLEDGE": "ignored"}, [team]).roots == (bundled_root().resolve(), team)


def test_a_directory_given_twice_counts_once(team: Path) -> None:
    layers = resolve_layers([team, bundled_root(), team])
    assert [layer.name for layer in layers.layers] == [BUNDLED, str(team)]


def test_a_missing_layer_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"^knowledge directory not found: .*nowhere$"):
        resolve_layers([tmp_path / "nowhere"])


def test_a_problem_in_a_team_file_names_its_layer(team: Path) -> None:
    broken = team / "our-platform" / "golden-path.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("id: golden-path", "id: golden-road"))

    kb, [problem] = load_knowledge(resolve_layers([team]))

    assert (problem.path, problem.line, problem.code) == ("team-kb/our-platform/golden-path.yaml", 1, "KB007")
    assert kb.get("golden-road") is None and kb.get(BUNDLED_TOPIC) is not None  # the rest still loads


class TestInit:
    def test_it_writes_a_readme_a_topic_its_area_vocabulary_and_an_eval_file(self, team: Path) -> None:
        assert {p.relative_to(team).as_posix() for p in team.rglob("*") if p.is_file()} == {
            "README.md",
            "eval.yaml",
            "messages.yaml",
            "vocabulary.yaml",
            "our-platform/golden-path.yaml",
        }

    def test_its_eval_file_is_answered_right_on_the_layered_base(
        self, team: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--knowledge", str(team), "eval", "--json", str(team / "eval.yaml")]) == 0
        captured = capsys.readouterr()
        assert captured.err == f"knowledge: {BUNDLED} + {team}\n"  # what was measured
        report = yaml.safe_load(captured.out)
        assert report["total"]["right"] == report["total"]["in_scope"] == 3

    def test_it_refuses_a_directory_that_has_files(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
        with pytest.raises(ScaffoldError, match="not an empty directory"):
            scaffold(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


class TestCommandLine:
    def test_init_then_check_lists_each_layer_and_what_it_replaces(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        team = tmp_path / "ours"
        assert main(["init", str(team)]) == 0
        override(team, "OURS")  # a copy of a bundled topic, as a team would start one

        assert main(["check", "--knowledge", str(team)]) == 0  # the option after the command, too

        out = capsys.readouterr().out
        assert f"created {team / 'our-platform' / 'golden-path.yaml'}" in out
        assert f"layer 1: {BUNDLED} (" in out
        assert f"layer 2: {team} (" in out and f"2 topics, replacing {BUNDLED_TOPIC}" in out
        topics = len(load_knowledge(resolve_layers([team]))[0].topics)
        assert out.rstrip().endswith(f"{BUNDLED} + {team}: {topics} topics, no problems")

    def test_ask_answers_from_the_team_layer(self, team: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--knowledge", str(team), "ask", "what's our paved road for a new service?"]) == 0
        assert "This is an example topic: write your own golden path here." in capsys.readouterr().out

    def test_no_bundled_on_the_command_line(self, team: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["list", "--no-bundled", "--knowledge", str(team)]) == 0
        assert main(["list", "--knowledge", str(team)]) == 0
        alone, layered = capsys.readouterr().out.split("golden-path", 1)
        assert BUNDLED_TOPIC not in alone and BUNDLED_TOPIC in layered

    def test_more_than_one_problem_is_counted_in_words(self, team: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (team / "vocabulary.yaml").unlink()
        (team / "messages.yaml").unlink()
        assert main(["--no-bundled", "--knowledge", str(team), "ask", "hello"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "(and 1 more problem)" in err


def test_a_team_readme_says_how_to_use_it(team: Path) -> None:
    text = (team / "README.md").read_text(encoding="utf-8")
    assert "platbot --knowledge DIR check" in text
    assert textwrap.dedent(text).count("PLATBOT_KNOWLEDGE") == 1
