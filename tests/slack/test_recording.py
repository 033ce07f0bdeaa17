"""The curator store, fed over HTTP: each question and each click on its answer lands in the
database, linked by the ref the answer's buttons carry, and never in the way of the answer."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.config import Secret
from bot.render.blocks import TopicRef
from bot.slack.recording import DailyPrune
from bot.store import Recorder, StoreSettings, make_engine, upgrade
from tests.slack.conftest import RunningServer, serving
from tests.slack.fakes import TEAM, FakeSlack, SlackSender, mention
from tests.slack.test_faults import SCHEDULE_EN, SCHEDULE_TOPIC, new_id

WAIT = 15.0


@pytest.fixture(scope="module")
def recorded(fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """A server recording into its own SQLite file (serving() points XDG_DATA_HOME beside the log)."""
    log_path = tmp_path_factory.mktemp("recording") / "platbot.log"
    with serving(fake_slack.api_url, log_path) as server:
        yield server, log_path.parent / "data" / "platbot" / "platbot.db"


def rows(database: Path, query: str, *params: Any, until: int = 1) -> list[sqlite3.Row]:
    """The rows `query` returns once there are at least `until` of them: the writer is a thread."""
    deadline = time.monotonic() + WAIT
    while True:
        if database.exists():
            with sqlite3.connect(database) as connection:
                connection.row_factory = sqlite3.Row
                found = connection.execute(query, params).fetchall()
            if len(found) >= until or time.monotonic() > deadline:
                return found
        elif time.monotonic() > deadline:
            raise AssertionError(f"no database at {database}")
        time.sleep(0.1)


def test_a_question_its_answer_buttons_and_two_clicks_are_recorded_together(
    recorded: tuple[RunningServer, Path], fake_slack: FakeSlack
) -> None:
    server, database = recorded
    slack = SlackSender(server.port)
    user = new_id("U")
    slack.command(SCHEDULE_EN, fake_slack.response_url("recorded"), user=user)
    [answer] = fake_slack.wait_for("recorded")
    refs = [TopicRef.from_value(button["value"]) for button in answer.buttons()]
    [ref] = {r.ref for r in refs if r is not None}  # one question, one ref on every button
    buttons = {b["action_id"].split(":")[0]: b for b in answer.buttons()}
    clicked = {"platbot.feedback": next(b for b in answer.buttons() if b["action_id"] == "platbot.feedback:up")}
    clicked["platbot.related"] = buttons["platbot.related"]

    # 👍, then a related topic (a 👎 is recorded once its "what was wrong?" form is sent or closed)
    for kind, button in clicked.items():
        slack.action(
            button["action_id"], button["value"], response_url=fake_slack.response_url(kind), ephemeral=True, user=user
        )
        fake_slack.wait_for(kind)

    [question] = rows(database, "SELECT * FROM questions WHERE ref = ?", ref)
    outcome = "see_also" if "platbot.seealso" in buttons else "answered"  # other topics that fit, or none
    assert (question["surface"], question["outcome"], question["topic_id"]) == ("command", outcome, SCHEDULE_TOPIC)
    assert question["text"] == SCHEDULE_EN and question["lang"] == "en" and question["workspace_id"] == TEAM
    assert user not in question["user_hash"] and len(question["user_hash"]) >= 32  # a keyed hash, not the id
    assert question["latency_ms"] > 0 and question["confidence"] > 0.5
    actions = rows(database, "SELECT * FROM actions WHERE question_ref = ? ORDER BY id", ref, until=2)
    assert sorted(a["kind"] for a in actions) == ["feedback_up", "related"]  # two workers: either order
    assert {a["question_id"] for a in actions} == {question["id"]}  # linked once both are written
    assert {a["user_hash"] for a in actions} == {question["user_hash"]}


def test_a_mention_is_recorded_with_its_event_id(recorded: tuple[RunningServer, Path], fake_slack: FakeSlack) -> None:
    server, database = recorded
    event_id = new_id("Ev")
    SlackSender(server.port).event(mention("what should we eat for lunch?", ts="1700000123.000100"), event_id)

    [question] = rows(database, "SELECT * FROM questions WHERE event_key = ?", event_id)
    assert (question["surface"], question["outcome"], question["topic_id"]) == ("mention", "declined", None)
    assert question["channel_id"] == "CGENERAL"


def test_a_retry_sent_to_another_server_on_the_same_database_is_not_answered_again(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    shared = str(tmp_path / "shared-data")  # two servers, one database: as two replicas would run
    with (
        serving(fake_slack.api_url, tmp_path / "a.log", XDG_DATA_HOME=shared) as first,
        serving(fake_slack.api_url, tmp_path / "b.log", XDG_DATA_HOME=shared) as second,
    ):
        channel, event_id = new_id("C"), new_id("Ev")
        question = mention(SCHEDULE_EN, ts="1700000200.000100", channel=channel)

        assert SlackSender(first.port).event(question, event_id).status == 200
        assert SlackSender(second.port).event(question, event_id, retry_num=1).status == 200

        fake_slack.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == channel)
        time.sleep(1.0)  # time enough for a second answer to arrive, if one were coming
        answers = [c for c in fake_slack.calls("chat.postMessage") if c.body.get("channel") == channel]
        assert len(answers) == 1


def test_the_server_prunes_records_past_the_retention(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = tmp_path / "store.db"
    settings = StoreSettings(url=f"sqlite:///{database}", user_hash_key=Secret("k" * 32), retention_days=90)
    upgrade(settings.url)
    long_ago = datetime.now(UTC) - timedelta(days=91)
    recorder = Recorder(make_engine(settings.url), user_hash_key="k" * 32)
    for asked_at in (long_ago, datetime.now(UTC)):
        recorder.record_question(
            surface="command",
            workspace_id="T1",
            user_id="U1",
            lang="en",
            text="q",
            outcome="declined",
            latency_ms=1.0,
            asked_at=asked_at,
        )
    recorder.close()

    with caplog.at_level(logging.INFO, logger="platbot.slack.recording"):
        DailyPrune(settings).prune_once()

    assert len(rows(database, "SELECT * FROM questions")) == 1
    assert "pruned 1 questions and 0 actions older than 90 days" in caplog.text


ESCALATION_CHANNEL = "CPLATFORMTEAM"


def test_ask_the_platform_team_posts_the_question_with_its_thread_and_is_recorded(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    log_path = tmp_path / "platbot.log"
    with serving(fake_slack.api_url, log_path, PLATBOT_ESCALATION_CHANNEL=ESCALATION_CHANNEL) as server:
        slack = SlackSender(server.port)
        channel, asked = new_id("C"), "1700000300.000100"
        question = "what should we eat for lunch? <!channel>"
        slack.event(mention(question, ts=asked, channel=channel), new_id("Ev"))
        [declined] = fake_slack.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == channel)
        [button] = [b for b in declined.buttons() if b["action_id"] == "platbot.escalate"]

        slack.action(
            button["action_id"],
            button["value"],
            response_url=fake_slack.response_url("escalate"),
            ephemeral=False,
            channel=channel,
            thread_ts=asked,
            user="UCURIOUS",
        )

        [post] = fake_slack.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == ESCALATION_CHANNEL)
        assert "<@UCURIOUS>" in post.text_everywhere() and "what should we eat for lunch?" in post.text_everywhere()
        assert "<!channel>" not in post.text_everywhere()  # echoed, never a ping for the whole team
        assert f"archives/{channel}/p{asked.replace('.', '')}" in post.text_everywhere()  # the question's thread
        [told] = fake_slack.wait_for("chat.postEphemeral", where=lambda c: c.body.get("user") == "UCURIOUS")
        assert ESCALATION_CHANNEL in told.text_everywhere()
        ref = TopicRef.from_value(button["value"])
        assert ref is not None
        database = log_path.parent / "data" / "platbot" / "platbot.db"
        [action] = rows(database, "SELECT kind FROM actions WHERE question_ref = ?", ref.ref)
        assert action["kind"] == "escalate"


def view_payload(kind: str, view: dict[str, Any], comment: str | None, user: str) -> str:
    """What Slack sends when the modal is sent (`view_submission`) or closed (`view_closed`)."""
    state = {"values": {"what": {"comment": {"type": "plain_text_input", "value": comment}}}}
    payload = {
        "type": kind,
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "APLATBOT",
        "view": {**view, "id": "V0MODAL", "state": state},
    }
    return urlencode({"payload": json.dumps(payload)})


@pytest.mark.parametrize(
    ("kind", "comment"), [("view_submission", "it said Fargate; we run on EC2"), ("view_closed", None)]
)
def test_a_thumbs_down_asks_what_was_wrong_and_records_the_answer_once(
    recorded: tuple[RunningServer, Path], fake_slack: FakeSlack, kind: str, comment: str | None
) -> None:
    server, database = recorded
    slack, user = SlackSender(server.port), new_id("U")
    slack.command(SCHEDULE_EN, fake_slack.response_url(f"vote-{kind}"), user=user)
    [answer] = fake_slack.wait_for(f"vote-{kind}")
    [down] = [b for b in answer.buttons() if b["action_id"] == "platbot.feedback:down"]
    ref = TopicRef.from_value(down["value"])
    assert ref is not None

    slack.action(
        down["action_id"],
        down["value"],
        response_url=fake_slack.response_url(f"thanks-{kind}"),
        ephemeral=True,
        user=user,
    )
    [opened] = fake_slack.wait_for("views.open", where=lambda c: ref.ref in json.dumps(c.body))
    view = json.loads(opened.body["view"]) if isinstance(opened.body["view"], str) else opened.body["view"]
    assert opened.body["trigger_id"] == "1.2.3" and view["callback_id"] == "platbot.feedback_comment"
    time.sleep(0.5)  # nothing is recorded while the modal is open
    assert rows(database, "SELECT * FROM actions WHERE question_ref = ?", ref.ref, until=0) == []

    reply = slack.post(view_payload(kind, view, comment, user), "application/x-www-form-urlencoded")

    assert reply.status == 200 and reply.body == ""  # an empty ack closes the modal
    [vote] = rows(database, "SELECT kind, comment FROM actions WHERE question_ref = ?", ref.ref)
    assert (vote["kind"], vote["comment"]) == ("feedback_down", comment)
