"""`build_report` on a month of generated traffic, its JSON, and its HTML as Chromium draws it.

The Chromium tests need Debian's `chromium` package: without it they skip, saying why, unless
PLATBOT_CHROMIUM_TEST=1 (CI), which makes a missing browser a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from bot.kb.model import KnowledgeBase
from bot.store import StoreError, make_engine, upgrade
from bot.store.models import Question
from bot.store.report import (
    OUTCOMES,
    SURFACES,
    Report,
    UnansweredCluster,
    build_report,
    report_data,
    report_html,
    report_json,
)
from bot.store.traffic import Traffic, fill

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)  # mid-morning: the window's first and last days are partial
DAYS = 10


@pytest.fixture
def traffic(engine: Engine, real_kb: KnowledgeBase) -> Traffic:
    return fill(engine, days=DAYS, per_day=150, seed=7, now=NOW, kb=real_kb)


@pytest.fixture
def report(engine: Engine, traffic: Traffic) -> Report:
    return build_report(engine, traffic.since, traffic.until, now=NOW, top=5)


def by_count_then_id(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# --- the numbers ---------------------------------------------------------------------------------


def test_counts_per_day_surface_and_language_are_what_was_recorded(report: Report, traffic: Traffic) -> None:
    assert [day.day for day in report.days] == [date(2025, 5, 22) + timedelta(days=n) for n in range(DAYS + 1)]
    for day in report.days:
        recorded = traffic.outcomes_by_day.get(day.day, Counter())
        assert day.outcomes == {outcome: recorded[outcome] for outcome in OUTCOMES}
    assert report.questions == traffic.questions == DAYS * 150
    assert report.outcomes == {outcome: traffic.outcomes[outcome] for outcome in OUTCOMES}
    assert report.answered == traffic.outcomes["answered"] + traffic.outcomes["see_also"]
    assert report.surfaces == {surface: traffic.surfaces[surface] for surface in SURFACES}
    assert list(report.surfaces.values()) == sorted(report.surfaces.values(), reverse=True)
    assert report.langs == dict(by_count_then_id(traffic.langs))


def test_topics_and_actions_are_what_was_recorded(report: Report, traffic: Traffic) -> None:
    assert [(t.topic_id, t.questions) for t in report.top_topics] == by_count_then_id(traffic.answered_topics)[:5]
    most_down = sorted(
        traffic.votes_down, key=lambda topic: (-traffic.votes_down[topic], traffic.votes_up[topic], topic)
    )
    expected = [(topic, traffic.votes_down[topic], traffic.votes_up[topic]) for topic in most_down[:5]]
    assert [(v.topic_id, v.down, v.up) for v in report.most_downvoted] == expected
    assert report.actions == {kind: traffic.actions[kind] for kind in report.actions}
    assert report.actions["pick"] > 0 and report.actions["share"] > 0


def test_latency_percentiles_agree_with_python_statistics(engine: Engine, report: Report) -> None:
    with engine.connect() as connection:
        latencies = connection.scalars(select(Question.latency_ms)).all()
    assert report.latency_median_ms == pytest.approx(statistics.median(latencies), abs=1e-3)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    assert report.latency_p95_ms == pytest.approx(p95, abs=1e-3)


def test_a_window_counts_only_what_it_covers(engine: Engine, traffic: Traffic) -> None:
    since, until = datetime(2025, 5, 27, tzinfo=UTC), datetime(2025, 5, 29, tzinfo=UTC)
    report = build_report(engine, since, until, now=NOW)
    assert [day.day for day in report.days] == [date(2025, 5, 27), date(2025, 5, 28)]
    covered = traffic.outcomes_by_day[date(2025, 5, 27)] + traffic.outcomes_by_day[date(2025, 5, 28)]
    assert report.outcomes == {outcome: covered[outcome] for outcome in OUTCOMES}
    assert report.questions < traffic.questions


def test_an_empty_window_reports_zeros_and_no_rates(engine: Engine) -> None:
    report = build_report(engine, NOW - timedelta(days=2), NOW, now=NOW)
    assert len(report.days) == 3 and report.questions == 0
    assert report.answered_rate is None and report.latency_median_ms is None and report.latency_p95_ms is None
    assert report.top_topics == () and report.most_downvoted == ()
    assert "Nothing in this window" in report_html(report)
    assert json.loads(report_json(report))["latency_ms"] == {"median": None, "p95": None}


def test_a_database_without_the_tables_is_a_one_line_store_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'never-upgraded.db'}")
    with pytest.raises(StoreError, match=r"^cannot read sqlite:///.*never-upgraded.db: no such table"):
        build_report(engine, NOW - timedelta(days=1), now=NOW)


# --- JSON ----------------------------------------------------------------------------------------


def test_json_has_the_documented_keys_and_the_recorded_numbers(report: Report, traffic: Traffic) -> None:
    text = report_json(report)
    data = json.loads(text)
    assert data == report_data(report)  # nothing lost on the way through JSON
    assert report_json(report) == text  # the same report, the same bytes
    assert list(data) == [
        "format", "version", "since", "until", "generated_at", "totals", "days", "surfaces", "langs",
        "top_topics", "most_downvoted", "latency_ms", "actions", "unanswered",
    ]  # fmt: skip
    assert (data["format"], data["version"]) == ("platbot-report", 1)
    assert datetime.fromisoformat(data["since"]) == traffic.since
    assert data["totals"]["questions"] == traffic.questions
    assert data["totals"]["outcomes"]["declined"] == traffic.outcomes["declined"]
    assert {day["day"]: day["outcomes"]["answered"] for day in data["days"]} == {
        day.isoformat(): counts["answered"] for day, counts in traffic.outcomes_by_day.items()
    }
    assert data["actions"]["pick"] == traffic.actions["pick"]
    assert data["surfaces"] == {surface: traffic.surfaces[surface] for surface in data["surfaces"]}


# --- HTML ----------------------------------------------------------------------------------------


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes, and the text inside <style>."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.style = ""
        self._in_style = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data

    def drawn(self, tag: str, *keys: str) -> dict[tuple[str, ...], int]:
        """data-count of each `tag` carrying all of `keys`, by those keys' values."""
        return {
            tuple(attrs[key] for key in keys): int(attrs["data-count"])
            for name, attrs in self.tags
            if name == tag and all(key in attrs for key in keys)
        }


def expected_day_bars(traffic: Traffic) -> dict[tuple[str, ...], int]:
    return {
        (day.isoformat(), outcome): count
        for day, counts in traffic.outcomes_by_day.items()
        for outcome, count in counts.items()
        if count
    }


def test_html_draws_the_recorded_numbers(report: Report, traffic: Traffic) -> None:
    page = Elements(report_html(report))
    assert page.drawn("rect", "data-day", "data-outcome") == expected_day_bars(traffic)
    assert page.drawn("rect", "data-surface") == {(surface,): traffic.surfaces[surface] for surface in SURFACES}
    assert page.drawn("rect", "data-lang") == {(lang,): count for lang, count in traffic.langs.items()}
    assert page.drawn("rect", "data-topic", "data-series") == {
        **{(t.topic_id, "bar"): t.questions for t in report.top_topics},
        **{(v.topic_id, "down"): v.down for v in report.most_downvoted},
        **{(v.topic_id, "up"): v.up for v in report.most_downvoted},
    }


def test_html_fetches_nothing(report: Report) -> None:
    page = Elements(report_html(report))
    resources = [
        value
        for _, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href", "action")
    ]
    assert resources == []
    assert not any(tag in ("script", "link", "img", "iframe", "object") for tag, _ in page.tags)
    assert "url(" not in page.style and "@import" not in page.style
    policy = [attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy == ["default-src 'none'; style-src 'unsafe-inline'"]


def test_html_escapes_what_people_typed(engine: Engine) -> None:
    hostile = '<script>alert("topic")</script>'
    row = {
        "ref": "r1", "asked_at": NOW - timedelta(hours=1), "surface": "dm", "workspace_id": "T1",
        "channel_id": None, "user_hash": "u" * 64, "lang": "<b>x</b>", "text": "hi", "outcome": "answered",
        "topic_id": hostile, "confidence": 0.9, "offered": [], "latency_ms": 12.0,
    }  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(Question), [row])
    cluster = UnansweredCluster(3, '"><img src=x onerror=alert(1)>', ("<iframe src=//evil>", "普通の質問"))
    report = build_report(engine, NOW - timedelta(days=1), NOW, now=NOW, unanswered=[cluster])
    page = report_html(report)
    elements = Elements(page)
    assert not any(tag in ("script", "img", "iframe", "b") for tag, _ in elements.tags)
    assert "&lt;script&gt;alert(&quot;topic&quot;)&lt;/script&gt;" in page
    assert "&lt;iframe src=//evil&gt;" in page and "普通の質問" in page
    assert ('<script>alert("topic")</script>',) in elements.drawn("rect", "data-topic")


# --- in a real browser -------------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("PLATBOT_CHROMIUM_TEST") == "1":
        pytest.fail(f"PLATBOT_CHROMIUM_TEST=1 but {reason}")
    pytest.skip(f"{reason}; set PLATBOT_CHROMIUM_TEST=1 to make this a failure")


def run_chromium(tmp_path: Path, page: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # as root, in CI
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2000",
        *options,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_rows(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the scanlines (each still led by its filter byte) of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, header, compressed = 8, b"", b""
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        body = png[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        compressed += body if kind == b"IDAT" else b""
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) in ((8, 2), (8, 6))
    pixels = zlib.decompress(compressed)
    stride = len(pixels) // height
    return width, height, [pixels[row * stride : (row + 1) * stride] for row in range(height)]


@pytest.fixture
def sqlite_report(tmp_path: Path, real_kb: KnowledgeBase) -> tuple[Report, Traffic]:
    """A report from a SQLite file of its own: the browser tests need one database, not each backend."""
    engine = make_engine(f"sqlite:///{tmp_path / 'platbot.db'}")
    upgrade(engine)
    traffic = fill(engine, days=DAYS, per_day=150, seed=3, now=NOW, kb=real_kb)
    report = build_report(engine, traffic.since, traffic.until, now=NOW)
    engine.dispose()
    return report, traffic


def test_chromium_renders_the_charts_with_the_recorded_numbers(
    tmp_path: Path, sqlite_report: tuple[Report, Traffic]
) -> None:
    report, traffic = sqlite_report
    page = tmp_path / "report.html"
    page.write_text(report_html(report), encoding="utf-8")
    dom = Elements(run_chromium(tmp_path, page, "--dump-dom").stdout)
    assert dom.drawn("rect", "data-day", "data-outcome") == expected_day_bars(traffic)
    assert dom.drawn("rect", "data-surface") == {(surface,): traffic.surfaces[surface] for surface in SURFACES}
    rates = {attrs["data-day"]: float(attrs["data-rate"]) for tag, attrs in dom.tags if tag == "circle"}
    assert rates == {day.day.isoformat(): pytest.approx(day.answered_rate, abs=1e-4) for day in report.days}
    assert sum(tag == "svg" for tag, _ in dom.tags) == 6


@pytest.mark.parametrize(
    ("scheme", "background"), [("light", b"\xff\xff\xff"), ("dark", b"\x0d\x11\x17")], ids=["light", "dark"]
)
def test_chromium_screenshot_shows_the_page_in_both_colour_schemes(
    tmp_path: Path, sqlite_report: tuple[Report, Traffic], scheme: str, background: bytes
) -> None:
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(report_html(sqlite_report[0]), encoding="utf-8")
    run_chromium(tmp_path, page, f"--screenshot={shot}", *(["--force-dark-mode"] if scheme == "dark" else []))
    width, height, rows = png_rows(shot.read_bytes())
    assert (width, height) == (1200, 2000)
    # The top-left pixel is stored unfiltered whatever the row's filter: the page's background.
    assert rows[0][1:4] == background
    # A blank page has two distinct scanlines; charts and tables make hundreds.
    assert len(set(rows)) > 300
