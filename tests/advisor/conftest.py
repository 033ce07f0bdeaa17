"""The bundled advisor rules, loaded once."""

from __future__ import annotations

import pytest

from bot.advisor import Rules, load_rules
from bot.kb.load import load_knowledge
from bot.kb.model import KnowledgeBase
from tests.conftest import KNOWLEDGE


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge(KNOWLEDGE)[0]


@pytest.fixture(scope="session")
def rules(kb: KnowledgeBase) -> Rules:
    loaded, problems = load_rules(kb.roots)
    assert problems == [] and loaded is not None
    return loaded
