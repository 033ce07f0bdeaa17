"""Shared fixtures: a small knowledge base written to a temp folder, and the real one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.kb.load import load_knowledge
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"


def topic_data(topic_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid topic, about `topic_id`; override any field to make it invalid."""
    words = topic_id.replace("-", " ")
    data: dict[str, Any] = {
        "id": topic_id,
        "title": {"en": f"About {words}", "ja": f"{words} について"},
        "services": ["Amazon ECS"],
        "questions": {
            "en": [f"question {n} about {words}" for n in range(16)],
            "ja": [f"{words} の質問その{n}" for n in range(10)],
        },
        "answer": {"en": f"*The answer about {words}.*", "ja": f"*{words} の答えです。*"},
        "links": [{"title": "Docs", "url": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"}],
        "related": [],
    }
    data.update(overrides)
    return data


@pytest.fixture(scope="session")
def _test_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index cache for the run: every knowledge directory has its own index file in it,
    so tests do not see each other's, and the bundled knowledge base's index (seconds to
    build) is built once rather than by every test that loads it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _private_cache(
    _test_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests never read or write the user's real ~/.cache/platbot, nor record questions in the
    user's ~/.local/share/platbot (HOME too: code given an environment without XDG_DATA_HOME
    falls back to the home directory)."""
    monkeypatch.setenv("PLATBOT_CACHE_DIR", str(_test_cache_dir))
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A copy of the real vocabulary and messages with no topics yet."""
    root = tmp_path / "knowledge"
    root.mkdir()
    for name in ("vocabulary.yaml", "messages.yaml"):
        shutil.copy(KNOWLEDGE / name, root / name)
    return root


@pytest.fixture
def write_topic(kb_dir: Path) -> Callable[..., Path]:
    """write_topic("scheduling", "ecs-cron", answer=...) -> path of the YAML file written."""

    def write(area: str, topic_id: str, text: str | None = None, **overrides: Any) -> Path:
        path = kb_dir / area / f"{topic_id}.yaml"
        path.parent.mkdir(exist_ok=True)
        if text is None:
            text = yaml.safe_dump(topic_data(topic_id, **overrides), allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def real_kb() -> KnowledgeBase:
    kb, problems = load_knowledge(KNOWLEDGE)
    assert problems == []
    return kb


@pytest.fixture(scope="session")
def real_matcher(real_kb: KnowledgeBase) -> Matcher:
    return Matcher(real_kb)
