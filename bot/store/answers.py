"""What a match result becomes in the store: the fields of a recorded question that describe the
answer, the same for every surface (Slack, Lambda, `platbot ask --record`)."""

from __future__ import annotations

from typing import Any

from bot.matcher import MatchResult
from bot.store.models import Outcome


def outcome_of(result: MatchResult) -> Outcome:
    if result.outcome == "answer":
        return "see_also" if result.see_also else "answered"
    if result.outcome == "clarify":
        return "did_you_mean"
    return "smalltalk" if result.outcome == "smalltalk" else "declined"


def answer_fields(result: MatchResult) -> dict[str, Any]:
    """Keyword arguments for Recorder.record_question: language, outcome, topic, confidence and
    the topics offered (the choices of a did-you-mean, or the "See also" of an answer)."""
    offered = result.suggestions if result.outcome == "clarify" else result.see_also
    return {
        "lang": result.lang,
        "outcome": outcome_of(result),
        "topic_id": result.topic.id if result.topic else None,
        "confidence": result.confidence,
        "offered": [s.topic.id for s in offered],
    }
