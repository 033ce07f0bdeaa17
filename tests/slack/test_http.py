"""platbot over HTTP, end to end: signed Slack requests in, Web API calls out, all on loopback.

The server is `platbot serve http` under gunicorn in its own process (see conftest);
the Web API and every response URL are the FakeSlack server, which records what the app did.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.render.blocks import ACTION_SHARE, TopicRef
from tests.slack.conftest import RunningServer
from tests.slack.fakes import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER,
    BROKEN_CHANNEL,
    SIGNING_SECRET,
    Call,
    FakeSlack,
    SlackSender,
    command_body,
    direct_message,
    event_body,
    mention,
)

# Questions the knowledge base answers with one topic (picked for the tests, not the answers).
SCHEDULE_EN = "how do I schedule jobs on ECS?"
SCHEDULE_JA = "ECSでバッチを定期実行したい"
SCHEDULE_TOPIC = "ecs-scheduled-tasks"


def new_event_id() -> str:
    return f"Ev{uuid.uuid4().hex[:10].upper()}"


def topic_answered(call: Call) -> str | None:
    """The topic a reply answers, read from its feedback buttons."""
    for button in call.buttons():
        if button["action_id"].startswith("platbot.feedback"):
            ref = TopicRef.from_value(button["value"])
            return ref.topic_id if ref else None
    return None


def calls_before_a_sentinel(slack: SlackSender, fake_slack: FakeSlack) -> list[Call]:
    """Every call the app made so far. A DM that does get an answer is sent first: once its
    answer arrives, a reply to anything sent earlier would have arrived too (the short grace
    covers thread scheduling)."""
    slack.event(direct_message(SCHEDULE_EN, channel="DSENTINEL"), new_event_id())
    fake_slack.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == "DSENTINEL")
    time.sleep(0.2)
    return [c for c in fake_slack.calls() if c.body.get("channel") != "DSENTINEL"]


class TestMentions:
    def test_answer_goes_in_a_thread_under_the_question(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        reply = slack.event(mention(SCHEDULE_EN, ts="1700000000.000100"), new_event_id())

        assert reply.status == 200
        [answer] = fake_slack.wait_for("chat.postMessage")
        assert answer.body["channel"] == "CGENERAL"
        assert answer.body["thread_ts"] == "1700000000.000100"
        assert topic_answered(answer) == SCHEDULE_TOPIC
        assert answer.body["text"]  # the plain-text fallback

    def test_a_mention_inside_a_thread_is_answered_in_that_thread(
        self, slack: SlackSender, fake_slack: FakeSlack
    ) -> None:
        slack.event(mention(SCHEDULE_EN, ts="1700000050.000100", thread_ts="1700000000.000001"), new_event_id())

        [answer] = fake_slack.wait_for("chat.postMessage")
        assert answer.body["thread_ts"] == "1700000000.000001"

    def test_a_japanese_question_gets_a_japanese_answer_and_japanese_buttons(
        self, slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, _ = engine
        slack.event(mention(SCHEDULE_JA), new_event_id())

        [answer] = fake_slack.wait_for("chat.postMessage")
        topic = kb.get(SCHEDULE_TOPIC)
        assert topic is not None and topic_answered(answer) == SCHEDULE_TOPIC
        assert answer.blocks()[0]["text"]["text"] == topic.title_in("ja")
        labels = {b["text"]["text"] for b in answer.buttons()}
        assert {kb.message("feedback_up", "ja"), kb.message("feedback_down", "ja")} <= labels
        assert answer.body["text"].startswith(topic.title_in("ja"))

    def test_channel_wide_mentions_in_the_question_are_echoed_escaped(
        self, slack: SlackSender, fake_slack: FakeSlack
    ) -> None:
        slack.event(mention("<!channel> <!here> <@U0OTHER> & what should we eat for lunch?"), new_event_id())

        [reply] = fake_slack.wait_for("chat.postMessage")
        shown = reply.text_everywhere()
        assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U0OTHER&gt; &amp; what" in shown
        for ping in ("<!channel>", "<!here>", "<@U0OTHER>"):
            assert ping not in shown

    @pytest.mark.parametrize(
        "question",
        ["", "x" * 40_000, ":tada: :thinking_face: 🎉🤔", "<!channel>", "\u200b\n\t", "ＥＣＳ" * 5000],
        ids=["empty", "40k-chars", "emoji", "channel-ping", "invisible", "full-width"],
    )
    def test_odd_input_gets_a_reply_within_slack_limits(
        self, slack: SlackSender, fake_slack: FakeSlack, question: str
    ) -> None:
        assert slack.event(mention(question), new_event_id()).status == 200

        [reply] = fake_slack.wait_for("chat.postMessage")
        blocks = reply.blocks()
        assert 0 < len(blocks) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        assert len(reply.body["text"]) <= 3000


class TestDirectMessages:
    def test_a_dm_is_answered_in_the_dm(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        slack.event(direct_message(SCHEDULE_EN), new_event_id())

        [answer] = fake_slack.wait_for("chat.postMessage")
        assert answer.body["channel"] == "DASKER"
        assert "thread_ts" not in answer.body
        assert topic_answered(answer) == SCHEDULE_TOPIC

    @pytest.mark.parametrize(
        "event",
        [
            direct_message(SCHEDULE_EN, bot_id="B0OTHER", user="U0OTHERBOT"),
            direct_message(SCHEDULE_EN, bot_id=BOT_ID, user=BOT_USER),
            direct_message(SCHEDULE_EN, subtype="message_changed"),
            direct_message("", subtype="message_deleted", user=None),
            direct_message("<@UASKER> has joined the channel", subtype="channel_join"),
            direct_message(SCHEDULE_EN, edited={"user": "UASKER", "ts": "1700000100.000000"}),
            mention(SCHEDULE_EN, bot_id="B0OTHER"),
            # Not a DM: only mentions are answered in channels.
            direct_message(SCHEDULE_EN, channel_type="channel", channel="CGENERAL"),
            # A mention inside a DM is answered once, by the message.im event that comes with it.
            mention(SCHEDULE_EN, channel="DASKER", channel_type="im"),
        ],
        ids=[
            "other-bot",
            "this-bot",
            "edit",
            "deletion",
            "join",
            "edited",
            "bot-mention",
            "channel-message",
            "mention-in-dm",
        ],
    )
    def test_bots_edits_deletions_joins_and_stray_events_get_no_reply(
        self, slack: SlackSender, fake_slack: FakeSlack, event: dict
    ) -> None:
        assert slack.event(event, new_event_id()).status == 200

        assert calls_before_a_sentinel(slack, fake_slack) == []


class TestSlashCommand:
    def test_acks_at_once_then_answers_privately_with_a_share_button(
        self, slack: SlackSender, fake_slack: FakeSlack
    ) -> None:
        started = time.monotonic()
        reply = slack.command(SCHEDULE_EN, fake_slack.response_url("cmd"))
        assert reply.status == 200 and reply.body == ""
        assert time.monotonic() - started < 3  # Slack's deadline; in practice milliseconds

        [answer] = fake_slack.wait_for("cmd")
        assert answer.body["response_type"] == "ephemeral"
        assert topic_answered(answer) == SCHEDULE_TOPIC
        assert ACTION_SHARE in [b["action_id"] for b in answer.buttons()]
        assert SCHEDULE_EN in answer.text_everywhere()  # "You asked: ..."
        assert fake_slack.calls("chat.postMessage") == []  # nothing public

    @pytest.mark.parametrize(("text", "lang"), [("", "en"), ("help", "en"), ("ヘルプ", "ja")])
    def test_no_question_or_help_shows_usage_and_every_topic(
        self, slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], text: str, lang: str
    ) -> None:
        kb, _ = engine
        slack.command(text, fake_slack.response_url("help"))

        [usage] = fake_slack.wait_for("help")
        assert usage.body["response_type"] == "ephemeral"
        assert usage.blocks()[0]["text"]["text"] == kb.message("usage_title", lang)
        shown = json.dumps(usage.blocks(), ensure_ascii=False)
        missing = [t.id for t in kb.topics if t.title_in(lang).replace("&", "&amp;") not in shown]
        assert missing == []

    def test_share_in_channel_posts_the_answer_for_everyone_naming_the_asker(
        self, slack: SlackSender, fake_slack: FakeSlack
    ) -> None:
        slack.command(SCHEDULE_EN, fake_slack.response_url("private"), user="UASKER")
        [private] = fake_slack.wait_for("private")
        share = next(b for b in private.buttons() if b["action_id"] == ACTION_SHARE)

        # The asker clicks the button on their ephemeral message, whose response URL is "private".
        slack.action(
            ACTION_SHARE, share["value"], response_url=fake_slack.response_url("private"), ephemeral=True, user="UASKER"
        )

        shared, cleanup = fake_slack.wait_for("private", count=3)[1:]
        assert shared.body["response_type"] == "in_channel"
        assert shared.body["replace_original"] is False
        assert topic_answered(shared) == SCHEDULE_TOPIC
        assert shared.blocks()[0]["elements"][0]["text"].startswith("<@UASKER>")
        assert SCHEDULE_EN in shared.body["text"]
        assert ACTION_SHARE not in [b["action_id"] for b in shared.buttons()]
        assert cleanup.body["delete_original"] is True


class TestButtons:
    def test_a_related_topic_click_in_a_thread_answers_the_clicker_alone(
        self, slack: SlackSender, fake_slack: FakeSlack
    ) -> None:
        value = TopicRef(SCHEDULE_TOPIC, "en").to_value()
        slack.action(
            "platbot.related:0",
            value,
            response_url=fake_slack.response_url("r"),
            ephemeral=False,
            thread_ts="1700000000.000100",
        )

        [shown] = fake_slack.wait_for("chat.postEphemeral")
        assert shown.body["user"] == "UCLICKER"
        assert shown.body["channel"] == "CGENERAL"
        assert shown.body["thread_ts"] == "1700000000.000100"
        assert topic_answered(shown) == SCHEDULE_TOPIC

    def test_a_did_you_mean_pick_replaces_the_private_question(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        value = TopicRef(SCHEDULE_TOPIC, "ja", "ECS の cron").to_value()
        slack.action("platbot.pick:1", value, response_url=fake_slack.response_url("pick"), ephemeral=True)

        [answer] = fake_slack.wait_for("pick")
        assert answer.body["response_type"] == "ephemeral"
        assert answer.body["replace_original"] is True
        assert topic_answered(answer) == SCHEDULE_TOPIC
        assert "ECS の cron" in answer.text_everywhere()  # kept for "Share in channel"

    @pytest.mark.parametrize("vote", ["up", "down"])
    def test_feedback_is_acknowledged_to_the_clicker_and_logged(
        self,
        slack: SlackSender,
        fake_slack: FakeSlack,
        http_server: RunningServer,
        engine: tuple[KnowledgeBase, Matcher],
        vote: str,
    ) -> None:
        kb, _ = engine
        value = TopicRef(SCHEDULE_TOPIC, "ja").to_value()
        slack.action(
            f"platbot.feedback:{vote}",
            value,
            response_url=fake_slack.response_url("fb"),
            ephemeral=False,
            user="UVOTER",
        )

        [thanks] = fake_slack.wait_for("chat.postEphemeral")
        assert thanks.body["user"] == "UVOTER"
        assert thanks.body["text"] == kb.message(f"feedback_thanks_{vote}", "ja")
        http_server.wait_for_log(f"feedback vote={vote} topic={SCHEDULE_TOPIC} lang=ja user=UVOTER")

    def test_a_button_value_platbot_did_not_write_gets_a_polite_reply(
        self, slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, _ = engine
        slack.action(
            "platbot.related:0", "<!channel> not json", response_url=fake_slack.response_url("x"), ephemeral=True
        )

        [reply] = fake_slack.wait_for("x")
        assert reply.body["text"] == kb.message("unknown", "en")


class TestAppHome:
    def test_opening_the_home_tab_publishes_topics_by_area(
        self, slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
    ) -> None:
        kb, _ = engine
        slack.event({"type": "app_home_opened", "user": "UVIEWER", "channel": "DVIEWER", "tab": "home"}, new_event_id())

        [publish] = fake_slack.wait_for("views.publish")
        assert publish.body["user_id"] == "UVIEWER"
        view = publish.body["view"]
        assert view["type"] == "home"
        assert len(view["blocks"]) <= 100
        shown = json.dumps(view, ensure_ascii=False)
        for area in kb.areas():
            assert kb.message(f"area.{area}", "en") in shown

    def test_the_messages_tab_publishes_nothing(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        slack.event(
            {"type": "app_home_opened", "user": "UVIEWER", "channel": "DVIEWER", "tab": "messages"}, new_event_id()
        )

        assert calls_before_a_sentinel(slack, fake_slack) == []


class TestRequestVerification:
    def test_a_bad_signature_gets_401_and_no_work(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        body = command_body(SCHEDULE_EN, fake_slack.response_url("forged"))
        reply = slack.post(body, "application/x-www-form-urlencoded", secret="not-the-signing-secret")

        assert reply.status == 401
        assert calls_before_a_sentinel(slack, fake_slack) == []

    def test_a_request_older_than_five_minutes_gets_401(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        body = event_body(mention(SCHEDULE_EN), new_event_id())
        reply = slack.post(body, "application/json", timestamp=int(time.time()) - 6 * 60)

        assert reply.status == 401
        assert calls_before_a_sentinel(slack, fake_slack) == []

    def test_an_unsigned_request_gets_401(self, slack: SlackSender) -> None:
        reply = slack.request(
            "POST",
            "/slack/events",
            event_body(mention(SCHEDULE_EN), new_event_id()),
            {"Content-Type": "application/json"},
        )
        assert reply.status == 401


class TestRetries:
    def test_a_retried_event_gets_no_second_reply(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        event_id = new_event_id()
        slack.event(mention(SCHEDULE_EN, channel="CRETRY"), event_id)
        fake_slack.wait_for("chat.postMessage")

        for attempt in (1, 2, 3):
            assert slack.event(mention(SCHEDULE_EN, channel="CRETRY"), event_id, retry_num=attempt).status == 200

        assert [c.body["channel"] for c in calls_before_a_sentinel(slack, fake_slack)] == ["CRETRY"]

    def test_a_worker_restart_forgets_no_handled_event(
        self, slack: SlackSender, fake_slack: FakeSlack, http_server: RunningServer
    ) -> None:
        event_id = new_event_id()
        slack.event(mention(SCHEDULE_EN, channel="CRESTART"), event_id)
        fake_slack.wait_for("chat.postMessage")
        workers = http_server.worker_pids()

        os.kill(workers[0], signal.SIGTERM)  # gunicorn replaces a worker that exits
        deadline = time.monotonic() + 10
        while sorted(http_server.worker_pids()) == sorted(workers) or len(http_server.worker_pids()) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.05)

        for attempt in (1, 2, 3):  # whichever worker gets them
            assert slack.event(mention(SCHEDULE_EN, channel="CRESTART"), event_id, retry_num=attempt).status == 200
        assert [c.body["channel"] for c in calls_before_a_sentinel(slack, fake_slack)] == ["CRESTART"]

    def test_a_retry_of_an_event_never_seen_is_answered(self, slack: SlackSender, fake_slack: FakeSlack) -> None:
        # The first delivery may have been lost before it reached platbot: the retry counts.
        slack.event(mention(SCHEDULE_EN), new_event_id(), retry_num=1)

        [answer] = fake_slack.wait_for("chat.postMessage")
        assert topic_answered(answer) == SCHEDULE_TOPIC


class TestOperations:
    def test_health_endpoint(self, slack: SlackSender) -> None:
        reply = slack.request("GET", "/healthz")

        assert reply.status == 200
        assert json.loads(reply.body)["ok"] is True

    def test_other_paths_are_not_found(self, slack: SlackSender) -> None:
        assert slack.request("GET", "/slack/events").status == 404
        assert slack.request("POST", "/elsewhere", "{}", {"Content-Type": "application/json"}).status == 404

    def test_a_failing_web_api_call_is_logged_and_the_server_keeps_serving(
        self,
        slack: SlackSender,
        fake_slack: FakeSlack,
        http_server: RunningServer,
        engine: tuple[KnowledgeBase, Matcher],
    ) -> None:
        kb, _ = engine
        event_id = new_event_id()
        slack.event(mention(SCHEDULE_EN, channel=BROKEN_CHANNEL), event_id)

        log = http_server.wait_for_log(f"failed to handle event app_mention {event_id}: SlackApiError")
        assert "channel_not_found" in log
        _, apology = fake_slack.wait_for("chat.postMessage", count=2)  # the answer, then an apology
        assert apology.body["text"] == kb.message("error", "en")
        slack.event(mention(SCHEDULE_EN), new_event_id())
        [answer] = fake_slack.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == "CGENERAL")
        assert topic_answered(answer) == SCHEDULE_TOPIC

    @pytest.mark.parametrize(("status", "headers"), [(429, {"Retry-After": "1"}), (500, {}), (503, {})])
    def test_slack_rate_limits_and_server_errors_are_retried_and_the_answer_arrives(
        self, slack: SlackSender, fake_slack: FakeSlack, status: int, headers: dict[str, str]
    ) -> None:
        channel = f"CBUSY{status}"
        fake_slack.fail_next(channel, status, headers)
        slack.event(mention(SCHEDULE_EN, channel=channel), new_event_id())

        first, second = fake_slack.wait_for("chat.postMessage", count=2, where=lambda c: c.body["channel"] == channel)
        assert topic_answered(first) == topic_answered(second) == SCHEDULE_TOPIC  # the same answer, sent again
        time.sleep(0.3)
        assert len([c for c in fake_slack.calls("chat.postMessage") if c.body["channel"] == channel]) == 2

    def test_no_token_or_secret_is_ever_logged(
        self, slack: SlackSender, fake_slack: FakeSlack, http_server: RunningServer
    ) -> None:
        slack.command(SCHEDULE_EN, fake_slack.response_url("log"))
        fake_slack.wait_for("log")

        log = http_server.wait_for_log("Sending a request")  # the server logs at DEBUG
        assert BOT_TOKEN not in log
        assert SIGNING_SECRET not in log
        assert "xoxb-" not in log
