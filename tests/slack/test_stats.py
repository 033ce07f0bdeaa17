"""`/platform stats` for curators, the curator settings, and `platbot digest` posting to the fake Slack.

The listener is tested directly with a recording `respond` for its cases, and once over signed
HTTP into the running app.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.errors import SettingsError
from bot.kb.load import load_knowledge
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.curators import Curators, curator_channel_setting, curators_setting
from bot.slack.deps import Deps
from bot.slack.digest import run_digest
from bot.slack.listeners.stats import answer_stats, is_stats
from bot.store import Recorder, make_engine, upgrade
from bot.store.traffic import fill
from tests.slack.conftest import serving
from tests.slack.fakes import BOT_TOKEN, SIGNING_SECRET, Call, FakeSlack, SlackSender
from tests.test_digest import NOW, knowledge_copy

CURATOR, GROUP_MEMBER, SOMEONE = "UCURATOR1", "UMEMBER01", "USOMEONE1"
GROUP = "SCURATORS"
CHANNEL = "CCURATORS"


class GroupSlack(FakeSlack):
    """The fake Web API, plus one user group whose only member is GROUP_MEMBER."""

    def answer(self, call: Call) -> dict[str, Any] | str:
        if call.method == "usergroups.users.list" and call.body.get("usergroup") == GROUP:
            return {"ok": True, "users": [GROUP_MEMBER]}
        return super().answer(call)


@pytest.fixture(scope="module")
def group_slack() -> Iterator[GroupSlack]:
    fake = GroupSlack().start()
    yield fake
    fake.close()


@pytest.fixture
def client(group_slack: GroupSlack) -> WebClient:
    group_slack.reset()
    return WebClient(token=BOT_TOKEN, base_url=group_slack.api_url)


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return knowledge_copy(tmp_path_factory.mktemp("stats-knowledge"))


@pytest.fixture(scope="module")
def stats_kb(knowledge: Path) -> KnowledgeBase:
    return load_knowledge(knowledge)[0]


@pytest.fixture(scope="module")
def stats_matcher(stats_kb: KnowledgeBase) -> Matcher:
    return Matcher(stats_kb)


@pytest.fixture
def filled_url(tmp_path: Path, stats_kb: KnowledgeBase) -> Iterator[str]:
    """A SQLite store with two weeks of traffic up to NOW."""
    url = f"sqlite:///{tmp_path / 'data' / 'platbot' / 'platbot.db'}"
    (tmp_path / "data" / "platbot").mkdir(parents=True)
    engine = make_engine(url)
    upgrade(engine)
    fill(engine, days=14, per_day=40, seed=5, now=NOW, kb=stats_kb)
    engine.dispose()
    yield url


class StoreSource:
    def __init__(self, recorder: Recorder | None) -> None:
        self.recorder = recorder

    def get(self) -> Recorder | None:
        return self.recorder


@pytest.fixture
def deps(filled_url: str, stats_kb: KnowledgeBase, stats_matcher: Matcher) -> Iterator[Deps]:
    engine: Engine = make_engine(filled_url)
    recorder = Recorder(engine, user_hash_key="test-key-0123456789abcdef")
    yield Deps(
        kb=stats_kb,
        matcher=stats_matcher,
        command="/platform",
        log=logging.getLogger("test"),
        recorder=StoreSource(recorder),
    )
    recorder.close()
    engine.dispose()


class Replies:
    """A stand-in for bolt's `respond`: keeps what the listener replied."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)

    def only(self) -> dict[str, Any]:
        assert len(self.sent) == 1
        return self.sent[0]


def stats_command(user: str, text: str = "stats") -> dict[str, Any]:
    return {"command": "/platform", "text": text, "user_id": user, "team_id": "T0PLATBOT"}


# --- settings ------------------------------------------------------------------------------------


def test_curators_are_user_ids_and_user_groups_separated_by_commas() -> None:
    curators = curators_setting({"PLATBOT_CURATORS": f" {CURATOR}, {GROUP} ,W0ENTERPRISE"})

    assert curators == Curators(frozenset({CURATOR, "W0ENTERPRISE"}), (GROUP,))
    assert curators_setting({}) is None and curators_setting({"PLATBOT_CURATORS": " "}) is None


@pytest.mark.parametrize("value", ["alice", "U1,#platform", "C0123ABCD", ",,"])
def test_a_malformed_curators_setting_is_one_line_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^PLATBOT_CURATORS must be user ids") as raised:
        curators_setting({"PLATBOT_CURATORS": value})
    assert "\n" not in str(raised.value) and value not in str(raised.value)


def test_the_curator_channel_is_a_channel_id() -> None:
    assert curator_channel_setting({"PLATBOT_CURATOR_CHANNEL": f" {CHANNEL} "}) == CHANNEL
    assert curator_channel_setting({}) is None
    with pytest.raises(SettingsError, match=r"^PLATBOT_CURATOR_CHANNEL must be a channel id"):
        curator_channel_setting({"PLATBOT_CURATOR_CHANNEL": "#curators"})


@pytest.mark.parametrize(
    ("text", "expected"), [("stats", True), (" STATS ", True), ("統計", True), ("stats on ecs", False)]
)
def test_stats_is_recognised_only_as_the_whole_command(text: str, expected: bool) -> None:
    assert is_stats(text) is expected


# --- the listener, called directly ---------------------------------------------------------------


def test_a_curator_gets_the_week_in_numbers_privately(deps: Deps, client: WebClient) -> None:
    replies = Replies()
    answer_stats(deps, Curators(frozenset({CURATOR}), ()), stats_command(CURATOR), replies, client, now=NOW)

    reply = replies.only()
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][0]["text"]["text"] == "The week in numbers"
    assert "Most asked topics" in str(reply["blocks"])


def test_a_member_of_the_curators_user_group_is_a_curator(
    deps: Deps, client: WebClient, group_slack: GroupSlack
) -> None:
    curators = Curators(frozenset(), (GROUP,))
    member, other = Replies(), Replies()
    answer_stats(deps, curators, stats_command(GROUP_MEMBER, "統計"), member, client, now=NOW)
    answer_stats(deps, curators, stats_command(SOMEONE), other, client, now=NOW)

    assert member.only()["blocks"][0]["text"]["text"] == "今週の数字"
    assert "for the knowledge base's curators only" in other.only()["text"]
    asked = group_slack.calls("usergroups.users.list")
    assert [call.body.get("usergroup") for call in asked] == [GROUP, GROUP]


def test_anyone_else_gets_a_one_line_refusal(deps: Deps, client: WebClient) -> None:
    for curators in (Curators(frozenset({CURATOR}), ()), None):
        replies = Replies()
        answer_stats(deps, curators, stats_command(SOMEONE), replies, client, now=NOW)

        reply = replies.only()
        assert reply["response_type"] == "ephemeral"
        assert reply["text"].startswith("`/platform stats` shows figures for the knowledge base's curators only")
        assert len(reply["blocks"]) == 1


def test_a_group_slack_will_not_list_is_no_curator_and_a_warning(
    deps: Deps, client: WebClient, group_slack: GroupSlack, caplog: pytest.LogCaptureFixture
) -> None:
    group_slack.script("None", method="usergroups.users.list", error="missing_scope")
    replies = Replies()
    with caplog.at_level(logging.WARNING, "platbot.slack.curators"):
        answer_stats(deps, Curators(frozenset(), ("SOTHERGRP",)), stats_command(GROUP_MEMBER), replies, client)

    assert "curators only" in replies.only()["text"]
    assert "missing_scope" in caplog.text and "usergroups:read" in caplog.text


def test_without_a_store_a_curator_is_told_there_are_no_figures(
    stats_kb: KnowledgeBase, stats_matcher: Matcher, client: WebClient
) -> None:
    deps = Deps(kb=stats_kb, matcher=stats_matcher, command="/platform", log=logging.getLogger("test"))
    replies = Replies()
    answer_stats(deps, Curators(frozenset({CURATOR}), ()), stats_command(CURATOR), replies, client)

    assert replies.only()["text"] == "Questions are not recorded here, so there are no figures to show."


# --- over HTTP ---------------------------------------------------------


def test_stats_over_http_for_a_curator_and_for_anyone_else(
    fake_slack: FakeSlack, filled_url: str, knowledge: Path, tmp_path: Path
) -> None:
    fake_slack.reset()
    env = {"PLATBOT_CURATORS": CURATOR, "PLATBOT_KNOWLEDGE": str(knowledge), "XDG_DATA_HOME": str(tmp_path / "data")}
    with serving(fake_slack.api_url, tmp_path / "platbot.log", **env) as server:
        sender = SlackSender(server.port)
        assert sender.command("stats", fake_slack.response_url("curator"), user=CURATOR).status == 200
        assert sender.command("stats", fake_slack.response_url("someone"), user=SOMEONE).status == 200
        (curator,) = fake_slack.wait_for("curator")
        (someone,) = fake_slack.wait_for("someone")

    assert curator.body["response_type"] == "ephemeral"
    assert curator.blocks()[0]["text"]["text"] == "The week in numbers"
    assert "curators only" in someone.body["text"]
    assert not fake_slack.calls("chat.postMessage")


# --- platbot digest -----------------------------------------------------------------------------


@pytest.fixture
def digest_env(filled_url: str, group_slack: GroupSlack) -> dict[str, str]:
    group_slack.reset()
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": group_slack.api_url,
        "PLATBOT_DATABASE_URL": filled_url,
        "PLATBOT_CURATOR_CHANNEL": CHANNEL,
    }


def test_digest_posts_once_to_the_curator_channel(
    digest_env: dict[str, str], group_slack: GroupSlack, stats_kb: KnowledgeBase, stats_matcher: Matcher
) -> None:
    out = io.StringIO()
    status = run_digest(digest_env, stats_kb, stats_matcher, now=NOW, out=out)

    assert status == 0
    (posted,) = group_slack.calls("chat.postMessage")
    assert posted.body["channel"] == CHANNEL
    assert posted.blocks()[0]["text"]["text"] == "The week in numbers"
    assert "platbot unanswered --since 7d" in posted.text_everywhere()
    assert out.getvalue() == f"posted the digest of 280 questions to {CHANNEL}\n"


def test_a_refused_digest_is_one_line_and_exit_code_1(
    digest_env: dict[str, str], group_slack: GroupSlack, stats_kb: KnowledgeBase, stats_matcher: Matcher
) -> None:
    group_slack.script(CHANNEL, error="not_in_channel")
    err = io.StringIO()
    status = run_digest(digest_env, stats_kb, stats_matcher, now=NOW, err=err)

    assert status == 1
    assert err.getvalue() == (
        f"platbot: error: Slack refused the digest for {CHANNEL} (not_in_channel): invite platbot to that channel\n"
    )
    assert len(group_slack.calls("chat.postMessage")) == 1


def test_digest_without_a_curator_channel_is_a_settings_error(
    digest_env: dict[str, str], stats_kb: KnowledgeBase, stats_matcher: Matcher
) -> None:
    del digest_env["PLATBOT_CURATOR_CHANNEL"]
    with pytest.raises(SettingsError, match="PLATBOT_CURATOR_CHANNEL is not set"):
        run_digest(digest_env, stats_kb, stats_matcher, now=NOW)
