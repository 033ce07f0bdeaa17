"""Reading Slack payloads: which events a person sent, and the question inside a mention."""

from __future__ import annotations

import pytest

from bot.slack import parse


def test_only_the_bots_own_mention_is_removed() -> None:
    text = "<@UPLATBOT> ask <@U0OTHER> about <@UPLATBOT|platbot> cron"

    assert parse.question_from_mention(text, "UPLATBOT") == "ask <@U0OTHER> about   cron"


@pytest.mark.parametrize("text", ["", "  ", "help", " HELP ", "ヘルプ", "?"])
def test_help_requests(text: str) -> None:
    assert parse.is_help(text)


def test_a_question_is_not_a_help_request() -> None:
    assert not parse.is_help("help me schedule ECS tasks")


@pytest.mark.parametrize(
    ("event", "from_person"),
    [
        ({"user": "U1", "text": "hi"}, True),
        ({"user": "U1", "text": "hi", "bot_id": "B1"}, False),
        ({"user": "U1", "subtype": "message_changed"}, False),
        ({"subtype": "message_deleted"}, False),
        ({"user": "U1", "subtype": "channel_join"}, False),
        ({"user": "U1", "subtype": "thread_broadcast"}, False),
        ({"user": "U1", "text": "hi", "edited": {"ts": "1"}}, False),
    ],
)
def test_who_sent_an_event(event: dict, from_person: bool) -> None:
    assert parse.is_from_person(event) is from_person


def test_replies_go_to_the_existing_thread_or_start_one() -> None:
    assert parse.reply_thread({"ts": "2.0", "thread_ts": "1.0"}) == "1.0"
    assert parse.reply_thread({"ts": "2.0"}) == "2.0"
