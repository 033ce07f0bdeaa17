"""What people asked and what platbot made of it, over a window of time: numbers, JSON and one HTML file.

    report = build_report(engine, since=now - timedelta(days=30))   # until defaults to now
    Path("report.json").write_text(report_json(report))
    Path("report.html").write_text(report_html(report))

Days are UTC days. A question counts as answered when its outcome is `answered` or `see_also`;
the answered rate is over every recorded question (declined, smalltalk, rate-limited and errors
included). Actions count by the time they happened, questions by the time they were asked.
Latency percentiles are over every question in the window, interpolated between the two nearest
values (as PostgreSQL's percentile_cont).

Every count is a GROUP BY in the database, and the percentiles come from one ranked query, so the
report costs a few passes over the window's rows however many there are (about 3 s for 1,000,000
questions on SQLite: benchmarks/report_speed.py). On PostgreSQL the queries share one snapshot
(REPEATABLE READ); on SQLite each sees the database as it is when it runs, so records written
meanwhile can make two sections differ by those records.

The JSON (`report_json`), version 1; keys are always present, in this order:

    format            "platbot-report"
    version           1
    since, until      the window, ISO 8601 UTC (since included, until excluded)
    generated_at      when the report was made
    totals            {"questions": int, "answered": int, "answered_rate": float | null,
                       "outcomes": {outcome: int, for every outcome}}
    days              [{"day": "YYYY-MM-DD", "questions": int, "answered": int,
                        "answered_rate": float | null, "outcomes": {outcome: int}}], every day of the window
    surfaces          {surface: int}, every surface, most used first
    langs             {lang: int}, the languages seen, most used first
    top_topics        [{"topic_id": str, "questions": int}], the most answered topics
    most_downvoted    [{"topic_id": str, "down": int, "up": int}], topics by 👎
    latency_ms        {"median": float | null, "p95": float | null}
    actions           {kind: int, for every action kind}: picks on did-you-mean, shares...
    unanswered        [{"questions": int, "closest_topic_id": str | null, "samples": [str]}]
                      the clusters given to build_report, biggest first ([] when none)
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from sqlalchemy import Connection, Date, Engine, cast, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from bot.store.db import store_error
from bot.store.models import ActionKind, Base, Outcome, Surface

QUESTIONS = Base.metadata.tables["questions"]
ACTIONS = Base.metadata.tables["actions"]

OUTCOMES: tuple[str, ...] = get_args(Outcome)
SURFACES: tuple[str, ...] = get_args(Surface)
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)
ANSWERED = ("answered", "see_also")
FORMAT, VERSION = "platbot-report", 1


@dataclass(frozen=True)
class Day:
    day: date
    outcomes: dict[str, int]  # every outcome, zero included

    @property
    def questions(self) -> int:
        return sum(self.outcomes.values())

    @property
    def answered(self) -> int:
        return sum(self.outcomes[outcome] for outcome in ANSWERED)

    @property
    def answered_rate(self) -> float | None:
        return self.answered / self.questions if self.questions else None


@dataclass(frozen=True)
class TopicCount:
    topic_id: str
    questions: int


@dataclass(frozen=True)
class TopicVotes:
    topic_id: str
    down: int
    up: int


@dataclass(frozen=True)
class UnansweredCluster:
    """A group of similar questions platbot could not answer, as bot.store.unanswered finds them."""

    questions: int
    closest_topic_id: str | None
    samples: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    generated_at: datetime
    days: tuple[Day, ...]
    surfaces: dict[str, int]
    langs: dict[str, int]
    top_topics: tuple[TopicCount, ...]
    most_downvoted: tuple[TopicVotes, ...]
    latency_median_ms: float | None
    latency_p95_ms: float | None
    actions: dict[str, int]
    unanswered: tuple[UnansweredCluster, ...] = field(default=())

    @property
    def outcomes(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for day in self.days:
            totals.update(day.outcomes)
        return {outcome: totals[outcome] for outcome in _known_first(OUTCOMES, totals)}

    @property
    def questions(self) -> int:
        return sum(day.questions for day in self.days)

    @property
    def answered(self) -> int:
        return sum(day.answered for day in self.days)

    @property
    def answered_rate(self) -> float | None:
        return self.answered / self.questions if self.questions else None


# --- the numbers ---------------------------------------------------------------------------------


def build_report(
    engine: Engine,
    since: datetime,
    until: datetime | None = None,
    *,
    now: datetime | None = None,
    top: int = 10,
    unanswered: Sequence[UnansweredCluster] = (),
) -> Report:
    """The report on questions asked from `since` (included) to `until` (excluded; default: now).

    `unanswered` takes clusters already computed (bot.store.unanswered), to show beside the numbers."""
    now = _utc(now or datetime.now(UTC))
    since, until = _utc(since), _utc(until or now)
    asked = (QUESTIONS.c.asked_at >= since) & (QUESTIONS.c.asked_at < until)
    acted = (ACTIONS.c.at >= since) & (ACTIONS.c.at < until)
    postgres = engine.dialect.name == "postgresql"
    options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"} if postgres else {}
    try:
        with engine.connect().execution_options(**options) as connection:
            days, surfaces, langs = _question_counts(connection, asked, _days(since, until), postgres)
            top_topics = _top_topics(connection, asked, top)
            actions, votes = _action_counts(connection, acted)
            median, p95 = _percentiles(connection, asked, sum(surfaces.values()), 0.5, 0.95)
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None
    return Report(
        since=since,
        until=until,
        generated_at=now,
        days=days,
        surfaces=_most_first(surfaces),
        langs=_most_first(langs),
        top_topics=top_topics,
        most_downvoted=tuple(sorted(votes, key=lambda v: (-v.down, v.up, v.topic_id)))[:top],
        latency_median_ms=median,
        latency_p95_ms=p95,
        actions=dict(actions),
        unanswered=tuple(sorted(unanswered, key=lambda c: -c.questions)),
    )


def _question_counts(
    connection: Connection, asked: ColumnElement[bool], window: list[date], postgres: bool
) -> tuple[tuple[Day, ...], Counter[str], Counter[str]]:
    """Questions per day and outcome, per surface and per language: one GROUP BY, one pass over the rows."""
    q = QUESTIONS.c
    day = _utc_day(q.asked_at, postgres).label("day")
    by_day: dict[date, Counter[str]] = {each: Counter() for each in window}
    surfaces: Counter[str] = Counter(dict.fromkeys(SURFACES, 0))
    langs: Counter[str] = Counter()
    groups = (
        select(day, q.outcome, q.surface, q.lang, func.count()).where(asked).group_by(day, q.outcome, q.surface, q.lang)
    )
    for day_value, outcome, surface, lang, count in connection.execute(groups):
        by_day.setdefault(_as_date(day_value), Counter())[outcome] += count
        surfaces[surface] += count
        langs[lang] += count
    days = tuple(
        Day(each, {outcome: counts[outcome] for outcome in _known_first(OUTCOMES, counts)})
        for each, counts in sorted(by_day.items())
    )
    return days, surfaces, langs


def _top_topics(connection: Connection, asked: ColumnElement[bool], top: int) -> tuple[TopicCount, ...]:
    q = QUESTIONS.c
    questions = func.count().label("questions")
    rows = connection.execute(
        select(q.topic_id, questions)
        .where(asked, q.outcome.in_(ANSWERED), q.topic_id.is_not(None))
        .group_by(q.topic_id)
        .order_by(questions.desc(), q.topic_id)
        .limit(top)
    )
    return tuple(TopicCount(topic_id, count) for topic_id, count in rows)


def _action_counts(connection: Connection, acted: ColumnElement[bool]) -> tuple[Counter[str], list[TopicVotes]]:
    """Actions by kind, and the topics that got at least one 👎 with their 👎 and 👍 counts."""
    a = ACTIONS.c
    actions: Counter[str] = Counter(dict.fromkeys(ACTION_KINDS, 0))
    actions.update(dict(connection.execute(select(a.kind, func.count()).where(acted).group_by(a.kind)).all()))
    votes: dict[str, Counter[str]] = {}
    for topic_id, kind, count in connection.execute(
        select(a.topic_id, a.kind, func.count())
        .where(acted, a.kind.in_(("feedback_down", "feedback_up")), a.topic_id.is_not(None))
        .group_by(a.topic_id, a.kind)
    ):
        votes.setdefault(topic_id, Counter())[kind] += count
    downvoted = [
        TopicVotes(topic_id, each["feedback_down"], each["feedback_up"])
        for topic_id, each in votes.items()
        if each["feedback_down"]
    ]
    return actions, downvoted


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone: pass an aware one")
    return moment.astimezone(UTC)


def _utc_day(column: Any, postgres: bool) -> ColumnElement[Any]:
    # SQLite keeps UTC text (date() takes its first ten characters' date); PostgreSQL a timestamptz,
    # whose date depends on the session's time zone unless converted first.
    return cast(func.timezone("UTC", column), Date) if postgres else func.date(column)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _days(since: datetime, until: datetime) -> list[date]:
    last = (until - timedelta(microseconds=1)).date()
    return [since.date() + timedelta(days=n) for n in range((last - since.date()).days + 1)]


def _known_first(known: Sequence[str], counts: Counter[str]) -> list[str]:
    """Every known name, then any other the database holds (a kind recorded by a newer platbot)."""
    return [*known, *sorted(set(counts) - set(known))]


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _percentiles(connection: Connection, asked: ColumnElement[bool], total: int, *ps: float) -> list[float | None]:
    """Quantiles of the window's latencies, each interpolated between the values ranked around
    (total - 1) * p. One sort serves them all: the database numbers the rows, and returns only those
    ranks (ROW_NUMBER, on SQLite 3.25+ and PostgreSQL)."""
    if not total:
        return [None for _ in ps]
    positions = [(total - 1) * p for p in ps]
    wanted = {rank for position in positions for rank in (int(position) + 1, int(position) + 2)}  # 1-based
    latency = QUESTIONS.c.latency_ms
    ranked = select(latency, func.row_number().over(order_by=latency).label("rank")).where(asked).subquery()
    found = dict(connection.execute(select(ranked.c.rank, ranked.c.latency_ms).where(ranked.c.rank.in_(wanted))).all())
    quantiles: list[float | None] = []
    for position in positions:
        low, high = found.get(int(position) + 1), found.get(int(position) + 2)
        if low is None:  # rows deleted since they were counted (possible on SQLite: no shared snapshot)
            quantiles.append(None)
        else:
            fraction = position - int(position)
            quantiles.append(round(low + ((high if high is not None else low) - low) * fraction, 3))
    return quantiles


# --- JSON ------------------------------------------------------------------------------------------


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain data, in the JSON layout this module's docstring describes."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "totals": {
            "questions": report.questions,
            "answered": report.answered,
            "answered_rate": report.answered_rate,
            "outcomes": report.outcomes,
        },
        "days": [
            {
                "day": day.day.isoformat(),
                "questions": day.questions,
                "answered": day.answered,
                "answered_rate": day.answered_rate,
                "outcomes": day.outcomes,
            }
            for day in report.days
        ],
        "surfaces": report.surfaces,
        "langs": report.langs,
        "top_topics": [{"topic_id": t.topic_id, "questions": t.questions} for t in report.top_topics],
        "most_downvoted": [{"topic_id": v.topic_id, "down": v.down, "up": v.up} for v in report.most_downvoted],
        "latency_ms": {"median": report.latency_median_ms, "p95": report.latency_p95_ms},
        "actions": report.actions,
        "unanswered": [
            {"questions": c.questions, "closest_topic_id": c.closest_topic_id, "samples": list(c.samples)}
            for c in report.unanswered
        ],
    }


def report_json(report: Report) -> str:
    return json.dumps(report_data(report), ensure_ascii=False, indent=2) + "\n"


# --- HTML ------------------------------------------------------------------------------------------
# One file that opens anywhere: inline CSS and SVG, no script, and a Content-Security-Policy that
# forbids the browser to fetch anything. Every value from the database goes through `_text`.
# Chart marks carry data-* attributes with the numbers they draw, for tests and for curious readers.

CHART_WIDTH = 960
ROW_HEIGHT = 26
LABEL_WIDTH = 250

STYLE = (
    """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --grid: #d1d9e0;
  --panel: #f6f8fa; --answered: #1a7f37; --see_also: #4ac26b; --did_you_mean: #d4a72c; --declined: #cf222e;
  --smalltalk: #8c959f; --rate_limited: #8250df; --error: #bf3989; --bar: #0969da; --up: #1a7f37; --down: #cf222e; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --grid: #3d444d;
  --panel: #151b23; --answered: #3fb950; --see_also: #2f6f3e; --did_you_mean: #d29922; --declined: #f85149;
  --smalltalk: #6e7681; --rate_limited: #a371f7; --error: #db61a2; --bar: #4493f8; --up: #3fb950; --down: #f85149; } }
body { background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, sans-serif; margin: 0 auto;
  max-width: 1000px; padding: 24px; }
h1 { margin-bottom: 0; } .window, figcaption, caption { color: var(--muted); }
section { margin: 32px 0; } figure { margin: 0; } h2 { border-bottom: 1px solid var(--grid); padding-bottom: 4px; }
.tables { display: flex; flex-wrap: wrap; gap: 0 40px; }
dl.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
dl.totals div { background: var(--panel); border-radius: 8px; padding: 10px 14px; }
dt { color: var(--muted); font-size: 13px; } dd { font-size: 22px; font-weight: 600; margin: 0; }
svg { display: block; height: auto; max-width: 100%; } svg text { fill: var(--fg); font-size: 12px; }
svg .axis { fill: var(--muted); } svg line { stroke: var(--grid); }
polyline { fill: none; stroke: var(--answered); stroke-width: 2; } circle { fill: var(--answered); }
rect.bar { fill: var(--bar); } .o-up { fill: var(--up); background: var(--up); }
.o-down { fill: var(--down); background: var(--down); }
"""
    + "".join(f".o-{o} {{ fill: var(--{o}); background: var(--{o}); }}\n" for o in OUTCOMES)
    + """
ul.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; padding: 0; }
ul.legend span { border-radius: 2px; display: inline-block; height: 12px; margin-right: 6px; width: 12px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin-top: 12px; }
th, td { border-bottom: 1px solid var(--grid); padding: 3px 10px; text-align: left; }
td.n, th.n { text-align: right; } caption { caption-side: top; text-align: left; }
details summary { cursor: pointer; color: var(--muted); margin-top: 8px; }
"""
)


def report_html(report: Report) -> str:
    """The report as one self-contained HTML page: charts, and every number in a table too."""
    window = f"{_when(report.since)} to {_when(report.until)} (UTC)"
    sections = [
        _totals(report),
        _section(
            "Questions per day",
            _legend(report.outcomes) + _day_chart(report.days),
            _details(_day_table(report.days)),
        ),
        _section("Answered rate per day", _rate_chart(report.days), "<p>Answered: answered or see also.</p>"),
        _section(
            "Where people ask",
            _bars("surface", [(name, {"bar": n}) for name, n in report.surfaces.items()]),
            _table("Questions by surface", ["Surface", "Questions"], list(report.surfaces.items())),
        ),
        _section(
            "Languages",
            _bars("lang", [(name, {"bar": n}) for name, n in report.langs.items()]),
            _table("Questions by language", ["Language", "Questions"], list(report.langs.items())),
        ),
        _section(
            "Most asked topics (answered)",
            _bars("topic", [(t.topic_id, {"bar": t.questions}) for t in report.top_topics]),
            _table(
                "Answered questions by topic",
                ["Topic", "Questions"],
                [(t.topic_id, t.questions) for t in report.top_topics],
            ),
        ),
        _section(
            "Topics with the most votes down",
            _legend(("down", "up"), {"down": "👎 down", "up": "👍 up"})
            + _bars("topic", [(v.topic_id, {"down": v.down, "up": v.up}) for v in report.most_downvoted]),
            _table(
                "Votes by topic", ["Topic", "Down", "Up"], [(v.topic_id, v.down, v.up) for v in report.most_downvoted]
            ),
        ),
    ]
    if report.unanswered:
        sections.append(_unanswered(report.unanswered))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>platbot report: {_text(window)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<h1>platbot report</h1>\n<p class="window">{_text(window)}, made {_text(_when(report.generated_at))}</p>\n'
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _totals(report: Report) -> str:
    figures = [
        ("Questions", _int(report.questions)),
        ("Answered rate", _percent(report.answered_rate)),
        ("Median answer time", _ms(report.latency_median_ms)),
        ("95th percentile", _ms(report.latency_p95_ms)),
        ("Did-you-mean picks", _int(report.actions["pick"])),
        ("Shares", _int(report.actions["share"])),
        ("Votes up / down", f"{_int(report.actions['feedback_up'])} / {_int(report.actions['feedback_down'])}"),
        ("Escalations", _int(report.actions["escalate"])),
    ]
    cards = "".join(
        f'<div><dt>{_text(name)}</dt><dd data-figure="{_text(name)}">{value}</dd></div>' for name, value in figures
    )
    rows = [(outcome.replace("_", " "), n) for outcome, n in report.outcomes.items()]
    actions = [(kind.replace("_", " "), n) for kind, n in report.actions.items()]
    tables = _table("Questions by outcome", ["Outcome", "Questions"], rows) + _table(
        "Actions", ["Action", "Count"], actions
    )
    return _section("In numbers", f'<dl class="totals">{cards}</dl>', f'<div class="tables">{tables}</div>')


def _section(title: str, chart: str, numbers: str) -> str:
    return f"<section>\n<h2>{_text(title)}</h2>\n<figure>{chart}</figure>\n{numbers}\n</section>"


def _details(content: str) -> str:
    return f"<details><summary>The numbers</summary>{content}</details>"


def _day_chart(days: Sequence[Day]) -> str:
    left, top, bottom, height = 48, 10, 30, 260
    plot = height - top - bottom
    peak = _nice(max((day.questions for day in days), default=0))
    step = (CHART_WIDTH - left) / max(len(days), 1)
    marks = [_y_axis(left, top, plot, peak, _int)]
    for index, day in enumerate(days):
        x, base = left + index * step + step * 0.1, top + plot
        for outcome, count in day.outcomes.items():
            if not count:
                continue
            size = count / peak * plot
            base -= size
            place = {"x": f"{x:.1f}", "y": f"{base:.1f}", "width": f"{step * 0.8:.1f}", "height": f"{size:.1f}"}
            data = {"data-day": day.day, "data-outcome": outcome, "data-count": count}
            title = f"{day.day}: {count:,} {outcome.replace('_', ' ')}"
            marks.append(_tag("rect", {"class": f"o-{outcome}", **place, **data}, _tag("title", {}, _text(title))))
        marks.append(_day_label(index, len(days), day.day, x + step * 0.4, height - 10))
    return _svg(height, "Questions per day, stacked by outcome", marks)


def _rate_chart(days: Sequence[Day]) -> str:
    left, top, bottom, height = 48, 10, 30, 200
    plot = height - top - bottom
    step = (CHART_WIDTH - left) / max(len(days), 1)
    marks = [_y_axis(left, top, plot, 1.0, lambda value: f"{value:.0%}")]
    points = []
    for index, day in enumerate(days):
        x = left + index * step + step / 2
        if day.answered_rate is not None:
            y = top + plot * (1 - day.answered_rate)
            points.append(f"{x:.1f},{y:.1f}")
            place = {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": 3}
            data = {"data-day": day.day, "data-rate": f"{day.answered_rate:.4f}"}
            title = f"{day.day}: {_percent(day.answered_rate)} answered"
            marks.append(_tag("circle", {**place, **data}, _tag("title", {}, _text(title))))
        marks.append(_day_label(index, len(days), day.day, x, height - 10))
    marks.insert(1, _tag("polyline", {"points": " ".join(points)}))
    return _svg(height, "Share of questions answered, per day", marks)


def _bars(key: str, rows: Sequence[tuple[str, dict[str, int]]]) -> str:
    """Horizontal bars, one row per name; a row with several series draws them one under the other."""
    if not rows:
        return "<p>Nothing in this window.</p>"
    peak = max(max(series.values()) for _, series in rows) or 1
    room = CHART_WIDTH - LABEL_WIDTH - 60
    marks = []
    for index, (name, series) in enumerate(rows):
        top = index * ROW_HEIGHT + 3
        shown = name if len(name) <= 34 else name[:33] + "…"
        label = {"x": LABEL_WIDTH - 8, "y": top + 14, "text-anchor": "end"}
        marks.append(_tag("text", label, _text(shown) + _tag("title", {}, _text(name))))
        thickness = (ROW_HEIGHT - 6) / len(series)
        for offset, (kind, count) in enumerate(series.items()):
            y, width = top + offset * thickness, count / peak * room
            place = {"x": LABEL_WIDTH, "y": f"{y:.1f}", "width": f"{width:.1f}", "height": f"{thickness - 1:.1f}"}
            data = {f"data-{key}": name, "data-series": kind, "data-count": count}
            css = "bar" if kind == "bar" else f"o-{kind}"
            marks.append(_tag("rect", {"class": css, **place, **data}, _tag("title", {}, _text(f"{name}: {count:,}"))))
            value = {"class": "axis", "x": f"{LABEL_WIDTH + width + 6:.1f}", "y": f"{y + thickness - 4:.1f}"}
            marks.append(_tag("text", value, f"{count:,}"))
    return _svg(len(rows) * ROW_HEIGHT + 6, f"Questions by {key}", marks)


def _unanswered(clusters: Sequence[UnansweredCluster]) -> str:
    head = "".join(f'<th scope="col">{name}</th>' for name in ("Questions", "Closest topic", "Asked as"))
    rows = []
    for cluster in clusters:
        samples = "".join(_tag("li", {}, _text(sample)) for sample in cluster.samples)
        topic = _text(cluster.closest_topic_id or "none")
        cells = f'<td class="n">{cluster.questions:,}</td><td>{topic}</td><td><ul>{samples}</ul></td>'
        rows.append(_tag("tr", {"data-questions": cluster.questions}, cells))
    caption = "<caption>Similar questions platbot could not answer, biggest group first</caption>"
    table = f"<table>{caption}<tr>{head}</tr>{''.join(rows)}</table>"
    return f"<section>\n<h2>Biggest unanswered groups</h2>\n{table}\n</section>"


def _day_table(days: Sequence[Day]) -> str:
    outcomes = list(days[0].outcomes) if days else list(OUTCOMES)
    headers = ["Day", *(o.replace("_", " ") for o in outcomes), "Total", "Answered rate"]
    rows = [(str(d.day), *(d.outcomes[o] for o in outcomes), d.questions, _percent(d.answered_rate)) for d in days]
    return _table("Questions per day, by outcome", headers, rows)


def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str | int]]) -> str:
    head = "".join(f'<th scope="col"{" class=n" if i else ""}>{_text(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        f'<tr><th scope="row">{_text(str(row[0]))}</th>'
        + "".join(f'<td class="n">{_int(cell) if isinstance(cell, int) else _text(cell)}</td>' for cell in row[1:])
        + "</tr>"
        for row in rows
    )
    return f"<table><caption>{_text(caption)}</caption><tr>{head}</tr>{body}</table>"


def _legend(names: Iterable[str], labels: dict[str, str] | None = None) -> str:
    items = "".join(
        f'<li><span class="o-{_text(name)}"></span>{_text((labels or {}).get(name, name.replace("_", " ")))}</li>'
        for name in names
    )
    return f'<ul class="legend">{items}</ul>'


def _svg(height: float, label: str, marks: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {height:.0f}" width="{CHART_WIDTH}" '
        f'height="{height:.0f}" role="img" aria-label="{_text(label)}">' + "".join(marks) + "</svg>"
    )


def _y_axis(left: int, top: int, plot: int, peak: float, label: Any) -> str:
    ticks = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot * (1 - fraction)
        ticks.append(
            f'<line x1="{left}" x2="{CHART_WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label(peak * fraction)}</text>'
        )
    return "".join(ticks)


def _day_label(index: int, count: int, day: date, x: float, y: float) -> str:
    every = max(1, round(count / 10))  # about ten labels, whatever the window
    if index % every:
        return ""
    return f'<text class="axis" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{day:%m-%d}</text>'


def _nice(peak: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `peak`: round gridline labels."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= peak:
                return step * scale
        scale *= 10


def _tag(name: str, attributes: dict[str, object], content: str = "") -> str:
    """An element: attribute values are escaped here, `content` must be HTML already."""
    escaped = "".join(f' {key}="{_text(value)}"' for key, value in attributes.items())
    return f"<{name}{escaped}>{content}</{name}>"


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _int(value: float) -> str:
    return f"{round(value):,}"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"
