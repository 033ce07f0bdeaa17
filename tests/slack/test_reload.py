"""Reloading the knowledge while serving: `platbot serve http` on a copy of the knowledge
directory, edited while it runs, reloaded by SIGHUP or by `--watch`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.config import Settings
from bot.slack import serve
from bot.slack.app import load_engine
from bot.slack.reload import LiveEngine
from tests.slack.conftest import REPO, RunningServer, serving
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, FakeSlack, SlackSender
from tests.slack.test_socket_mode import FakeSocket

QUESTION = "how do I schedule jobs on ECS?"
TOPIC_FILE = Path("scheduling/ecs-scheduled-tasks.yaml")
NEW_QUESTION = "where does the platypus dashboard live?"
NEW_TOPIC = """\
id: platypus-dashboard
title:
  en: The platypus dashboard
  ja: カモノハシのダッシュボード
services: [Amazon CloudWatch]
related: [container-insights]
questions:
  en:
    - where does the platypus dashboard live?
    - platypus dashboard url
    - how do i open the platypus dashboard
  ja:
    - カモノハシのダッシュボードはどこ?
    - カモノハシのダッシュボードを開くには
answer:
  en: The platypus dashboard lives in CloudWatch, as the dashboard PLATYPUS-MAIN.
  ja: カモノハシのダッシュボードは CloudWatch の PLATYPUS-MAIN です。
links:
  - title: CloudWatch dashboards
    url: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Dashboards.html
"""
WAIT = 60.0  # seconds: a reload rebuilds the index, then gunicorn replaces its workers


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    """A copy of the bundled knowledge, for the test to edit."""
    copy = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", copy)
    return copy


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def start_server(fake_slack: FakeSlack, tmp_path: Path, knowledge: Path) -> Iterator[ServerFactory]:
    """Starts `platbot serve http` on the copy, as the session's server runs on the original."""
    with ExitStack() as servers:

        def start(*extra: str) -> RunningServer:
            return servers.enter_context(
                serving(
                    fake_slack.api_url,
                    tmp_path / "platbot.log",
                    "--no-bundled",  # the copy is a whole knowledge base: nothing under it
                    *extra,
                    PLATBOT_KNOWLEDGE=str(knowledge),
                    PLATBOT_CACHE_DIR=str(tmp_path / "cache"),
                )
            )

        yield start


def ask(server: RunningServer, fake_slack: FakeSlack, question: str) -> str:
    """What the server answers `question` with, as Slack would render it."""
    fake_slack.reset()
    SlackSender(server.port).command(question, fake_slack.response_url("reload"))
    [answer] = fake_slack.wait_for("reload", timeout=10)
    return answer.text_everywhere()


def wait_until_answered(server: RunningServer, fake_slack: FakeSlack, question: str, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while text not in (answer := ask(server, fake_slack, question)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the answer to {question!r}:\n{server.log()}")
        time.sleep(0.2)
    return answer


def topics_in_health(server: RunningServer) -> set[int]:
    """The topic counts /healthz reports, asked often enough to reach every worker."""
    return {json.loads(SlackSender(server.port).request("GET", "/healthz").body)["topics"] for _ in range(12)}


def edit_answer(knowledge: Path, marker: str) -> None:
    path = knowledge / TOPIC_FILE
    topic = yaml.safe_load(path.read_text(encoding="utf-8"))
    topic["answer"]["en"] = f"{marker} {topic['answer']['en']}"
    path.write_text(yaml.safe_dump(topic, allow_unicode=True, sort_keys=False), encoding="utf-8")


BROKEN_VOCABULARY = "entities:\n  ecs:\n    aliases: [ecs, amazon ecs\n"  # the list is never closed


class TestSighup:
    def test_serves_an_edited_answer_and_a_new_topic_then_keeps_the_last_good_version(
        self, start_server: ServerFactory, fake_slack: FakeSlack, knowledge: Path
    ) -> None:
        server = start_server()
        assert "RELOADED-1" not in ask(server, fake_slack, QUESTION)
        assert "PLATYPUS-MAIN" not in ask(server, fake_slack, NEW_QUESTION)
        [topics] = topics_in_health(server)

        edit_answer(knowledge, "RELOADED-1")
        (knowledge / "scheduling" / "platypus-dashboard.yaml").write_text(NEW_TOPIC, encoding="utf-8")
        os.kill(server.pid, signal.SIGHUP)

        wait_until_answered(server, fake_slack, QUESTION, "RELOADED-1")
        wait_until_answered(server, fake_slack, NEW_QUESTION, "PLATYPUS-MAIN")
        workers = server.worker_pids()
        # The health check counts the new version, in every worker once each has reloaded.
        deadline = time.monotonic() + WAIT
        while (counts := topics_in_health(server)) != {topics + 1} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counts == {topics + 1}

        # A broken vocabulary is refused: one line with the file and line, the last good version serves.
        (knowledge / "vocabulary.yaml").write_text(BROKEN_VOCABULARY, encoding="utf-8")
        edit_answer(knowledge, "NEVER-SERVED")
        os.kill(server.pid, signal.SIGHUP)
        log = server.wait_for_log("knowledge reload refused", timeout=WAIT)
        [refusal] = [line for line in log.splitlines() if "knowledge reload refused" in line]
        assert "vocabulary.yaml:4:" in refusal
        for _ in range(10):  # whichever worker takes it: the workers that replaced the old ones too
            answer = ask(server, fake_slack, QUESTION)
            assert "RELOADED-1" in answer and "NEVER-SERVED" not in answer
        assert "PLATYPUS-MAIN" in ask(server, fake_slack, NEW_QUESTION)
        assert server.worker_pids() == workers  # reloaded in place: no worker was replaced

    def test_a_knowledge_base_with_no_topic_left_is_refused(
        self, start_server: ServerFactory, fake_slack: FakeSlack, knowledge: Path
    ) -> None:
        server = start_server()
        for topic in knowledge.rglob("*.yaml"):
            if topic.parent != knowledge:  # the topics, in their area folders; not the shared files
                topic.unlink()
        os.kill(server.pid, signal.SIGHUP)
        log = server.wait_for_log("knowledge reload refused", timeout=WAIT)
        assert "no valid topics" in log
        assert "Run ECS tasks on a schedule" in ask(server, fake_slack, QUESTION)


class TestWatch:
    def test_picks_up_a_change_without_a_signal(
        self, start_server: ServerFactory, fake_slack: FakeSlack, knowledge: Path
    ) -> None:
        server = start_server("--watch", "--watch-every", "0.2")
        assert "WATCHED-1" not in ask(server, fake_slack, QUESTION)
        edit_answer(knowledge, "WATCHED-1")
        wait_until_answered(server, fake_slack, QUESTION, "WATCHED-1")
        assert "knowledge changed" in server.log()


class TestLiveEngine:
    def test_a_request_keeps_the_version_it_started_with(self, knowledge: Path) -> None:
        kb, matcher = load_engine(knowledge)
        live = LiveEngine(knowledge, kb, matcher)
        started_with = live.current
        edit_answer(knowledge, "PINNED")
        with live.pinned(started_with):
            assert live.reload()
            assert live.current is started_with  # this request: the old version to the end
        assert "PINNED" in live.current.kb.get("ecs-scheduled-tasks").answer["en"]  # the next: the new


class TestSocketMode:
    def test_sighup_reloads_within_the_process(
        self, fake_slack: FakeSlack, knowledge: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PLATBOT_CACHE_DIR", str(tmp_path / "cache"))
        settings = Settings.from_env(
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake_slack.api_url}
        )
        server = serve.prepare(settings, knowledge=knowledge)  # no --watch: the signal alone
        assert isinstance(server, serve.SocketModeServer)
        previous = signal.getsignal(signal.SIGHUP)
        try:
            server.listen_for_reloads()
            edit_answer(knowledge, "SOCKET-HUP")
            os.kill(os.getpid(), signal.SIGHUP)
            wait_until_socket_answers(server, fake_slack, "SOCKET-HUP")
        finally:
            signal.signal(signal.SIGHUP, previous)
            server.handler.close()

    def test_watch_reloads_within_the_process(
        self, fake_slack: FakeSlack, knowledge: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("PLATBOT_CACHE_DIR", str(tmp_path / "cache"))
        settings = Settings.from_env(
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake_slack.api_url}
        )
        server = serve.prepare(settings, knowledge=knowledge, watch=0.2)
        assert isinstance(server, serve.SocketModeServer) and server.watcher is not None
        previous = signal.getsignal(signal.SIGHUP)
        try:
            server.listen_for_reloads()
            edit_answer(knowledge, "SOCKET-WATCH")
            wait_until_socket_answers(server, fake_slack, "SOCKET-WATCH")
        finally:
            signal.signal(signal.SIGHUP, previous)
            server.watcher.stop()
            server.handler.close()


def wait_until_socket_answers(server: serve.SocketModeServer, fake_slack: FakeSlack, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        fake_slack.reset()
        payload = {
            "command": "/platform",
            "text": QUESTION,
            "user_id": "UASKER",
            "channel_id": "CGENERAL",
            "team_id": "T0PLATBOT",
            "response_url": fake_slack.response_url("socket-reload"),
        }
        server.handler.handle(FakeSocket(), SocketModeRequest("slash_commands", "envelope-reload", payload))
        [answer] = fake_slack.wait_for("socket-reload", timeout=10)
        if text in answer.text_everywhere():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the Socket Mode answer")
        time.sleep(0.2)
