"""The on-disk index: faster start-up, never a stale or broken answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cache import cache_dir, load_matcher
from bot.errors import KnowledgeError

QUESTION = "how do I schedule jobs on ECS?"


@pytest.fixture
def knowledge(kb_dir: Path, write_topic) -> Path:
    write_topic("scheduling", "ecs-cron", questions={"en": [QUESTION] * 8, "ja": ["ECSで定期実行"] * 5})
    return kb_dir


def test_second_load_comes_from_the_cache(knowledge: Path) -> None:
    _, _, first = load_matcher(knowledge)
    directory = cache_dir()
    assert directory is not None
    [stored] = list(directory.glob("index-*.pickle"))
    assert stored.stat().st_mode & 0o777 == 0o600
    _, _, second = load_matcher(knowledge)
    assert second is not first  # a fresh object, read back from disk
    assert second.match(QUESTION).topic.id == first.match(QUESTION).topic.id == "ecs-cron"


def test_editing_a_topic_rebuilds_the_index(knowledge: Path, write_topic) -> None:
    load_matcher(knowledge)
    path = write_topic("scheduling", "ecs-cron", title={"en": "Renamed", "ja": "改名"})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    kb, _, _ = load_matcher(knowledge)
    assert kb.get("ecs-cron").title["en"] == "Renamed"
    assert len(list(Path(str(cache_dir())).glob("index-*.pickle"))) == 1


def test_load_problems_are_kept_in_the_cache(knowledge: Path, write_topic) -> None:
    write_topic("scheduling", "broken", text="id: [oops\n")
    _, first, _ = load_matcher(knowledge)
    _, second, _ = load_matcher(knowledge)
    assert [p.code for p in first] == [p.code for p in second] == ["KB001"]


def test_a_corrupt_cache_file_is_ignored(knowledge: Path) -> None:
    load_matcher(knowledge)
    [stored] = list(Path(str(cache_dir())).glob("index-*.pickle"))
    stored.write_bytes(b"not a pickle")
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"


def test_an_unwritable_cache_directory_still_answers(knowledge: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("PLATBOT_CACHE_DIR", str(blocker / "cache"))
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"


def test_missing_directory_is_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        load_matcher(tmp_path / "nowhere")


def test_no_home_directory_means_no_cache_but_an_answer(knowledge: Path, monkeypatch) -> None:
    monkeypatch.delenv("PLATBOT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    assert cache_dir() is None
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
