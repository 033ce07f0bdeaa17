"""The week in numbers, for curators: what `/platform stats` shows and `platbot digest` posts.

    week = week_in_numbers(engine, kb, matcher)          # the 7 days up to now, against the 7 before
    week.questions, week.answered_rate, week.answered_rate_change, week.unanswered[0].samples

The figures are the report's (bot.store.report) over two windows: [now - 7 days, now) and the
7 days before it. Only the headline numbers of the week before are kept, for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.store.report import TopicCount, TopicVotes, UnansweredCluster, build_report
from bot.store.unanswered import clusters

WEEK = timedelta(days=7)
TOP_TOPICS = 5
TOP_CLUSTERS = 3


@dataclass(frozen=True)
class Week:
    since: datetime
    until: datetime
    questions: int
    answered_rate: float | None  # None: no question this week
    previous_questions: int
    previous_answered_rate: float | None  # the 7 days before `since`
    top_topics: tuple[TopicCount, ...]
    most_downvoted: tuple[TopicVotes, ...]
    unanswered: tuple[UnansweredCluster, ...]
    escalations: int

    @property
    def answered_rate_change(self) -> float | None:
        """This week's answered rate minus the week before's (0.05: five points up)."""
        if self.answered_rate is None or self.previous_answered_rate is None:
            return None
        return self.answered_rate - self.previous_answered_rate


def week_in_numbers(
    engine: Engine,
    kb: KnowledgeBase,
    matcher: Matcher,
    *,
    now: datetime | None = None,
    top: int = TOP_TOPICS,
    top_clusters: int = TOP_CLUSTERS,
) -> Week:
    """The 7 days before `now` (default: the current time) against the 7 days before those."""
    until = (now or datetime.now(UTC)).astimezone(UTC)
    since = until - WEEK
    found = clusters(engine, kb, matcher, since, until, limit=top_clusters)
    unanswered = [UnansweredCluster(c.count, c.closest, tuple(s.text for s in c.samples)) for c in found]
    this_week = build_report(engine, since, until, now=until, top=top, unanswered=unanswered)
    week_before = build_report(engine, since - WEEK, since, now=until, top=0)
    return Week(
        since=since,
        until=until,
        questions=this_week.questions,
        answered_rate=this_week.answered_rate,
        previous_questions=week_before.questions,
        previous_answered_rate=week_before.answered_rate,
        top_topics=this_week.top_topics,
        most_downvoted=this_week.most_downvoted,
        unanswered=this_week.unanswered,
        escalations=this_week.actions.get("escalate", 0),
    )
