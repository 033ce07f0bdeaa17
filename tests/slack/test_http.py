"""platbot over HTTP, end to end: signed Slack requests in, Web API calls out, all on loopback.

The server is `platbot serve http` under gunicorn in its own process (see conftest);
the Web API and every response URL are the FakeSlack server, which records what the app did.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid

import pytest
from slack_bolt.request import BoltRequest

from bot.config import Settings
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.render.blocks import ACTION_SHARE, TopicRef
from bot.slack.app import build_app
from bot.slack.redact import RedactingFilter
from bot.slack.wsgi import MAX_BODY_BYTES, MAX_HEAD_BYTES, PartialRequest
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
    signed_headers,
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
    ) -> None:
        event_id = new_event_id()
        slack.event(mention(SCHEDULE_EN, channel=BROKEN_CHANNEL), event_id)

        log = http_server.wait_for_log(f"failed to handle event app_mention {event_id}: SlackApiError")
        assert "SlackApiError channel_not_found from chat.postMessage" in log
        [private] = fake_slack.wait_for("chat.postEphemeral")  # the answer, to the asker alone
        assert private.body["user"] == "UASKER" and topic_answered(private) == SCHEDULE_TOPIC
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


# --- the edge: what reaches the server that Slack did not send --------------------------------

MiB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
MARKER = "Zebra-Quokka-41"  # in hostile bodies; it must never reach the log


def post_head(headers: dict[str, str], length: int | None = None) -> bytes:
    lines = ["POST /slack/events HTTP/1.1", "Host: platbot", *(f"{k}: {v}" for k, v in headers.items())]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port: int, *pieces: bytes, timeout: float = 15.0) -> int:
    """Send `pieces` on a raw connection from another thread while reading the answer here: the
    server may answer (413) before it has taken the whole request, and close. The answer's status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send() -> None:
        with contextlib.suppress(OSError):  # the server answered and closed before taking it all
            for piece in pieces:
                sock.sendall(piece)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return int(answer.split(b" ", 2)[1])


def lines_since(server: RunningServer, mark: int, containing: str, timeout: float = 30.0) -> list[str]:
    """The server's log lines written since `mark`, once one of them contains `containing`.
    The deadline only bounds a hang: on a loaded host (a fresh clone's run beside a `platbot
    tune`) the line took more than 5 s to appear."""
    deadline = time.monotonic() + timeout
    while containing not in (written := server.log()[mark:]):
        assert time.monotonic() < deadline, f"{containing!r} never appeared in the server log"
        time.sleep(0.02)
    return written.splitlines()


class TestRequestLimits:
    @pytest.mark.parametrize("sent", ["whole", "first-mib"])
    def test_a_10_mb_unsigned_body_gets_413_before_it_is_read(self, http_server: RunningServer, sent: str) -> None:
        body = f"text={MARKER}".encode().ljust(10 * MiB, b"x")
        mark = len(http_server.log())

        # With only the first MiB sent, a server that read the body would wait for the rest.
        sending = body if sent == "whole" else body[:MiB]
        status = exchange(http_server.port, post_head({"Content-Type": FORM}, len(body)), sending)

        assert status == 413
        written = lines_since(http_server, mark, "-> 413")
        [line] = [line for line in written if "platbot.http" in line]
        assert line.endswith(f"POST /slack/events -> 413 body over the {MiB}-byte limit ({10 * MiB} bytes declared)")
        assert max(len(line) for line in written) < 300
        assert MARKER not in "\n".join(written)

    def test_a_chunked_body_gets_413_once_it_passes_the_limit(self, http_server: RunningServer) -> None:
        head = post_head({"Content-Type": FORM, "Transfer-Encoding": "chunked"})
        piece = b"x" * (64 * 1024)
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        mark = len(http_server.log())

        status = exchange(http_server.port, head, chunk * 17)  # 1 MiB and 64 KiB, and never the last chunk

        assert status == 413
        [line] = [line for line in lines_since(http_server, mark, "-> 413") if "platbot.http" in line]
        assert f"over {MiB} bytes received" in line


class TestMalformedRequests:
    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            ("{not json", {"Content-Type": "application/json"}),
            ("payload=%7Bnot+json", {"Content-Type": FORM}),
            ("text=hi", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=0"}),
            ("text=hi", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "²", "X-Slack-Signature": "v0=0"}),
        ],
        ids=["json", "form-payload", "timestamp-not-a-number", "timestamp-superscript"],
    )
    def test_an_unsigned_one_gets_401_and_one_short_line(
        self, slack: SlackSender, http_server: RunningServer, body: str, headers: dict[str, str]
    ) -> None:
        mark = len(http_server.log())

        reply = slack.request("POST", "/slack/events", body, headers)

        assert reply.status == 401
        written = lines_since(http_server, mark, "-> 401")
        [line] = [line for line in written if "platbot.http" in line]
        assert line.endswith(f"POST /slack/events -> 401 no valid Slack signature ({len(body)} bytes)")
        assert "Traceback" not in "\n".join(written)

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [("{not json", "application/json"), ("payload=%7Bnot+json", FORM), ("[1, 2]", "application/json")],
        ids=["json", "form-payload", "json-not-an-object"],
    )
    def test_a_signed_one_bolt_cannot_read_gets_400_and_one_short_line(
        self, slack: SlackSender, http_server: RunningServer, body: str, content_type: str
    ) -> None:
        mark = len(http_server.log())

        reply = slack.post(body, content_type)

        assert reply.status == 400
        written = lines_since(http_server, mark, "-> 400")
        [line] = [line for line in written if "platbot.http" in line]
        assert "POST /slack/events -> 400 body bolt cannot read" in line and len(line) < 300
        assert "Traceback" not in "\n".join(written)

    def test_a_body_that_is_not_utf8_gets_400(self, http_server: RunningServer) -> None:
        body = b"text=\xff\xfe"

        assert exchange(http_server.port, post_head({"Content-Type": FORM}, len(body)) + body) == 400


def raw_post(body: str, headers: dict[str, str]) -> bytes:
    return post_head(headers, len(body.encode())) + body.encode()


# Hostile requests carrying MARKER, and a line each makes in the log once it has been handled.
HOSTILE = {
    "unsigned": (raw_post(f"text={MARKER}", {"Content-Type": FORM}), "-> 401"),
    "wrong-secret": (raw_post(f"text={MARKER}", signed_headers(f"text={MARKER}", FORM, secret="not-it")), "-> 401"),
    "stale": (
        raw_post(f"text={MARKER}", signed_headers(f"text={MARKER}", FORM, timestamp=int(time.time()) - 600)),
        "-> 401",
    ),
    "signed-not-json": (raw_post("{" + MARKER, signed_headers("{" + MARKER, "application/json")), "-> 400"),
    # Content-Length covers 5 bytes: the rest reads as a next request, whose request line is the marker.
    "lying-length": (post_head({"Content-Type": FORM}, 5) + f"text=x{MARKER} {MARKER}\r\n\r\n".encode(), "Invalid"),
    "garbage-method": (f"{MARKER} /healthz HTTP/1.1\r\nHost: platbot\r\n\r\n".encode(), "Invalid"),
    "garbage-header": (f"GET /healthz HTTP/1.1\r\n{MARKER}(): x\r\n\r\n".encode(), "Invalid"),
}


class TestLogs:
    @pytest.mark.parametrize("name", list(HOSTILE))
    def test_what_a_client_sent_never_reaches_the_log(self, http_server: RunningServer, name: str) -> None:
        request, logged = HOSTILE[name]
        mark = len(http_server.log())

        assert exchange(http_server.port, request) in (400, 401)

        written = lines_since(http_server, mark, logged)  # the server logs at DEBUG (see conftest)
        assert not [line for line in written if MARKER in line]
        assert "Traceback" not in "\n".join(written)

    def test_bolts_line_about_a_bad_signature_is_cut_before_the_body(
        self, settings: Settings, engine: tuple[KnowledgeBase, Matcher], caplog: pytest.LogCaptureFixture
    ) -> None:
        # The edge keeps unsigned requests from bolt; should one get there all the same, bolt
        # logs it with its whole body, and the redacting filter on every handler cuts it.
        kb, matcher = engine
        app = build_app(settings, kb, matcher)
        caplog.handler.addFilter(RedactingFilter())
        caplog.set_level(logging.DEBUG)

        response = app.dispatch(BoltRequest(body=f"text={MARKER}", headers={"content-type": FORM}))

        assert response.status == 401
        assert "Invalid request signature detected" in caplog.text
        assert MARKER not in caplog.text


SLOW_STARTS = {
    "request-line": b"GET /heal",
    "headers": b"POST /slack/events HTTP/1.1\r\nHost: platbot\r\nContent-Type: application/json\r\n",
    "body": b"POST /slack/events HTTP/1.1\r\nHost: platbot\r\nContent-Length: 1000\r\n\r\n{",
    "silent": b"",
}
# A whole request that asks the server to close, from a client that then holds on.
CLOSE_ME = b"GET /healthz HTTP/1.1\r\nHost: platbot\r\nConnection: close\r\n\r\n"


def health_checks_pass(port: int, count: int = 5) -> bool:
    """`count` health checks in a row, each on a new connection, to reach both workers; each
    with a generous timeout: a server whose threads or event loop slow clients hold makes a
    check wait that out, and fail."""
    for _ in range(count):
        health = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            health.request("GET", "/healthz")
            if health.getresponse().status != 200:
                return False
        finally:
            health.close()
    return True


class TestSlowClients:
    @pytest.mark.parametrize("kind", list(SLOW_STARTS))
    def test_health_checks_are_answered_while_100_slow_clients_hold_connections(
        self, http_server: RunningServer, kind: str
    ) -> None:
        slow: list[socket.socket] = []
        try:
            for _ in range(100):  # one by one, so that both workers take some
                slow.append(socket.create_connection(("127.0.0.1", http_server.port), timeout=10))
                slow[-1].sendall(SLOW_STARTS[kind])
                time.sleep(0.005)
            assert health_checks_pass(http_server.port)
        finally:
            for sock in slow:
                sock.close()

    def test_health_checks_are_answered_while_clients_that_asked_to_close_hold_on(
        self, http_server: RunningServer
    ) -> None:
        # gthread closes such a connection in its event loop's own thread, waiting up to 2 s
        # for the client to close too, while no other client of that worker is served.
        held: list[socket.socket] = []
        stop = threading.Event()

        def keep_coming() -> None:  # 100 a second, as long as the health checks last (300 at most)
            while not stop.is_set() and len(held) < 300:
                with contextlib.suppress(OSError):
                    held.append(socket.create_connection(("127.0.0.1", http_server.port), timeout=10))
                    held[-1].sendall(CLOSE_ME)
                time.sleep(0.01)

        arrivals = threading.Thread(target=keep_coming, daemon=True)
        arrivals.start()
        try:
            time.sleep(0.5)
            assert health_checks_pass(http_server.port)
        finally:
            stop.set()
            arrivals.join()
            for sock in held:
                sock.close()

    def test_kept_alive_and_pipelined_requests_are_answered(self, http_server: RunningServer) -> None:
        kept = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=10)
        for _ in range(3):
            kept.request("GET", "/healthz")
            response = kept.getresponse()
            assert (response.status, json.loads(response.read())["ok"]) == (200, True)
        kept.close()

        with socket.create_connection(("127.0.0.1", http_server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: platbot\r\n\r\n" * 2)
            answers = b""
            while answers.count(b"HTTP/1.1 200 OK") < 2 and (chunk := sock.recv(65536)):
                answers += chunk
        assert answers.count(b"HTTP/1.1 200 OK") == 2


CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
ARRIVALS = {
    "part of a request line": (b"GET /heal", "partial"),
    "headers without their end": (b"GET /healthz HTTP/1.1\r\nHost: platbot\r\n", "partial"),
    "a whole head, no body": (b"GET /healthz HTTP/1.1\r\nHost: platbot\r\n\r\n", "whole"),
    "part of a declared body": (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", "partial"),
    "a declared body": (b"POST / HTTP/1.1\r\ncontent-length:5\r\n\r\nabcde", "whole"),
    "a body declared over the limit": (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", "whole"),
    "a head expecting 100-continue": (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", "whole"),
    "a chunk": (CHUNKED + b"5\r\nabcde\r\n", "partial"),
    "a chunk whose data looks like the end": (CHUNKED + b"5\r\n0\r\n\r\n\r\n", "partial"),
    "chunks to the last": (CHUNKED + b"5\r\nabcde\r\n0\r\n\r\n", "whole"),
    "chunks to the last, then trailers": (CHUNKED + b"5;x=y\r\nabcde\r\n0\r\nTrailer: yes\r\n\r\n", "whole"),
    "chunk sizes that are not hex": (CHUNKED + b"zz\r\n", "whole"),
    "chunks over the limit": (CHUNKED + b"100000\r\n" + b"x" * (MAX_BODY_BYTES + 1), "whole"),
    "a head over the limit": (b"GET / HTTP/1.1\r\nX-Long: " + b"y" * MAX_HEAD_BYTES, "head too large"),
}


@pytest.mark.parametrize("name", list(ARRIVALS))
def test_the_worker_hands_a_request_to_a_thread_once_it_is_whole(name: str) -> None:
    received, state = ARRIVALS[name]

    assert PartialRequest(received).state == state


@pytest.mark.parametrize("name", [name for name in ARRIVALS if len(ARRIVALS[name][0]) < 1000])
def test_a_request_that_trickles_in_byte_by_byte_is_whole_at_its_last_byte(name: str) -> None:
    received, state = ARRIVALS[name]
    request = PartialRequest()

    states = [request.add(received[i : i + 1]) for i in range(len(received))]

    assert states == ["partial"] * (len(received) - 1) + [state]
