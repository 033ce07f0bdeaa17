"""What every listener needs, passed in once by `build_app` (tests pass their own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.ratelimit import RateLimiter
from bot.store import Recorder


class RecorderSource(Protocol):
    def get(self) -> Recorder | None:
        """This process's recorder; None when questions are not recorded."""
        ...


@dataclass(frozen=True)
class Deps:
    kb: KnowledgeBase
    matcher: Matcher
    command: str  # the slash command's name, for usage text: "/platform"
    log: logging.Logger
    limiter: RateLimiter | None = None  # questions per user; None: no limit
    recorder: RecorderSource | None = None  # the curator store (bot/slack/recording.py); None: nothing kept
    escalation_channel: str | None = None  # "Ask the platform team" posts there; None: no such button
