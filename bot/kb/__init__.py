"""The knowledge base: typed model, loader and content checks."""

from bot.kb.model import KnowledgeBase, Link, Topic, Vocabulary

__all__ = ["KnowledgeBase", "Link", "Topic", "Vocabulary"]
