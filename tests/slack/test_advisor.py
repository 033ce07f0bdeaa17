"""The platform advisor in Slack, over signed HTTP into the running app with the fake Web API:
`/platform choose` and "Help me choose" open the modal, a submission gets the recommendation
privately (or its errors in the modal), and Share posts it in the channel.

Submissions are built from the modal the app opened, with its state as Slack sends it: every
input block, a `selected_option` (or null) for a select, `selected_options` for checkboxes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.advisor import Rules, load_rules
from bot.kb.model import LANGS, KnowledgeBase, Lang
from bot.matcher import Matcher
from bot.render.advice import (
    ACTION_SHARE_ADVICE,
    VIEW_ADVISOR,
    decode_answers,
)
from bot.render.blocks import ACTION_CHOOSE, encode_answers
from bot.slack.listeners.advisor import Origin, is_choose
from tests.slack.conftest import RunningServer, serving
from tests.slack.fakes import TEAM, Call, FakeSlack, Reply, SlackSender, mention
from tests.slack.test_http import calls_before_a_sentinel, new_event_id
from tests.slack.test_recording import rows
from tests.test_digest import knowledge_copy

# Answers with a known first choice (knowledge/advisor.yaml): a web API and long batch jobs run by
# nobody dedicated go to ECS on Fargate, with AWS Batch beside it for the jobs.
ANSWERS = {"workloads": ["web_api", "batch_hpc"], "operators": "nobody"}
FIRST = "ecs_fargate"
ALONGSIDE = "batch"
SUBMITTER = "USUBMITTER"


@pytest.fixture(scope="module")
def rules(engine: tuple[KnowledgeBase, Matcher]) -> Rules:
    found, problems = load_rules(engine[0].roots)
    assert found is not None and problems == []
    return found


# --- what Slack sends ----------------------------------------------------------------------------


def view_state(view: Mapping[str, Any], answers: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """The state Slack submits for `view` with `answers` picked: every input block is there."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        wanted = answers.get(block["block_id"], [])
        wanted = [wanted] if isinstance(wanted, str) else wanted
        picked = [o for o in element["options"] if o["value"] in wanted]
        assert len(picked) == len(wanted), f"{wanted} not all offered in {block['block_id']}"
        if element["type"] == "checkboxes":
            state = {"type": "checkboxes", "selected_options": picked}
        else:
            state = {"type": element["type"], "selected_option": picked[0] if picked else None}
        values[block["block_id"]] = {element["action_id"]: state}
    return {"values": values}


def submission_body(view: Mapping[str, Any], answers: Mapping[str, str | list[str]], user: str = SUBMITTER) -> str:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "platbot"},
        "user": {"id": user, "username": "submitter", "team_id": TEAM},
        "api_app_id": "APLATBOT",
        "token": "deprecated-verification-token",
        "trigger_id": "4.5.6",
        "view": {
            **view,
            "id": "VADVISOR1",
            "team_id": TEAM,
            "app_id": "APLATBOT",
            "bot_id": "BPLATBOT",
            "hash": "1700000000.abcdef",
            "state": view_state(view, answers),
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
    return urlencode({"payload": json.dumps(payload)})


def submit(slack: SlackSender, view: Mapping[str, Any], answers: Mapping[str, str | list[str]], **kw: Any) -> Reply:
    return slack.post(submission_body(view, answers, **kw), "application/x-www-form-urlencoded")


def home_click_body(value: str, user: str = "UVIEWER") -> str:
    """A button on App Home: a view container, no channel, no response URL."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "APLATBOT",
        "token": "deprecated-verification-token",
        "container": {"type": "view", "view_id": "VHOME"},
        "trigger_id": "7.8.9",
        "view": {"id": "VHOME", "type": "home", "blocks": []},
        "actions": [{"type": "button", "action_id": ACTION_CHOOSE, "block_id": "b1", "value": value}],
    }
    return urlencode({"payload": json.dumps(payload)})


def open_modal(slack: SlackSender, fake_slack: FakeSlack, text: str = "choose", channel: str = "CGENERAL") -> Call:
    reply = slack.command(text, fake_slack.response_url("choose"), channel=channel)
    assert reply.status == 200 and reply.body == ""
    [opened] = fake_slack.wait_for("views.open")
    return opened


def choose_button(call: Call) -> dict[str, Any]:
    [button] = [b for b in call.buttons() if b["action_id"] == ACTION_CHOOSE]
    return button


def first_choice(message: Call, rules: Rules, lang: Lang) -> str | None:
    """The option the advice names first: the first section that opens with an option's title, bold."""
    titles = {f"*{o.title[lang]}*": o.id for o in rules.options}
    for block in message.blocks():
        if block["type"] == "section" and (found := titles.get(block["text"]["text"].split("\n")[0])):
            return found
    return None


def posted(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method in ("chat.postMessage", "chat.postEphemeral")]


# --- unit: the command's words, and where a click came from --------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("choose", True), (" CHOOSE ", True), ("選ぶ", True), ("choose 日本語", True), ("how do I choose?", False)],
)
def test_choose_is_the_first_word_of_the_command(text: str, expected: bool) -> None:
    assert is_choose(text) is expected


def test_a_click_remembers_the_channel_and_thread_or_none_on_app_home(rules: Rules) -> None:
    public = {"channel": {"id": "CGENERAL"}, "container": {"is_ephemeral": False}, "message": {"thread_ts": "1.5"}}
    private = {"channel": {"id": "CGENERAL"}, "container": {"is_ephemeral": True}}
    dm = {"channel": {"id": "DASKER"}, "container": {"is_ephemeral": False}}
    home = {"container": {"type": "view", "view_id": "VHOME"}}

    assert Origin.of_click(public, "en") == Origin("en", "CGENERAL", "1.5", "mention")
    assert Origin.of_click(private, "ja") == Origin("ja", "CGENERAL", "", "command")
    assert Origin.of_click(dm, "en").surface == "dm"
    assert Origin.of_click(home, "en") == Origin("en", "", "", "home")
    for origin in (Origin("ja", "CGENERAL", "1.5", "mention"), Origin("en", surface="home")):
        assert Origin.from_metadata(rules, origin.metadata()) == origin
    assert Origin.from_metadata(rules, "<!channel>") == Origin(surface="home")  # not platbot's: a DM


# --- the command and the modal --------------------------------------------------------------------


def test_choose_acks_then_opens_the_modal_with_the_trigger_id(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    started = time.monotonic()
    opened = open_modal(slack, fake_slack, "choose", channel="CTEAM")

    assert time.monotonic() - started < 3
    assert opened.body["trigger_id"] == "1.2.3"  # the command's
    view = opened.body["view"]
    assert view["type"] == "modal" and view["callback_id"] == VIEW_ADVISOR
    assert view["title"]["text"] == kb.message("advisor_modal_title", "en")
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == [q.id for q in rules.questions]
    assert [b["label"]["text"] for b in inputs] == [q.prompt["en"] for q in rules.questions]
    assert all(b["optional"] for b in inputs)
    decoded = decode_answers(rules, view["private_metadata"])
    assert decoded is not None and decoded[:2] == ({}, "en") and decoded[2]["c"] == "CTEAM"
    assert posted(fake_slack.calls()) == [] and fake_slack.calls("choose") == []  # a modal, nothing else


def test_a_submission_gets_the_recommendation_privately_in_the_channel(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    view = open_modal(slack, fake_slack, channel="CTEAM").body["view"]

    reply = submit(slack, view, ANSWERS)

    assert reply.status == 200 and reply.body == ""  # an empty ack closes the modal
    [advice] = fake_slack.wait_for("chat.postEphemeral")
    assert (advice.body["channel"], advice.body["user"]) == ("CTEAM", SUBMITTER)
    assert advice.blocks()[0]["text"]["text"] == kb.message("advisor_title", "en")
    assert first_choice(advice, rules, "en") == FIRST
    assert rules.option(ALONGSIDE).title["en"] in advice.text_everywhere()  # Batch for the jobs
    assert ACTION_SHARE_ADVICE in [b["action_id"] for b in advice.buttons()]
    assert fake_slack.calls("chat.postMessage") == []  # nothing public until shared


def test_share_posts_the_recommendation_in_the_channel_naming_the_sharer(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    view = open_modal(slack, fake_slack, channel="CTEAM").body["view"]
    submit(slack, view, ANSWERS)
    [private] = fake_slack.wait_for("chat.postEphemeral")
    [share] = [b for b in private.buttons() if b["action_id"] == ACTION_SHARE_ADVICE]

    # Clicked on the ephemeral message, in the channel it was posted in.
    slack.action(
        ACTION_SHARE_ADVICE,
        share["value"],
        response_url=fake_slack.response_url("advice"),
        ephemeral=True,
        user=SUBMITTER,
        channel="CTEAM",
    )

    [shared] = fake_slack.wait_for("chat.postMessage")
    assert shared.body["channel"] == "CTEAM"
    credit = shared.blocks()[0]
    assert credit["type"] == "context"
    assert credit["elements"][0]["text"] == kb.message("advisor_shared_by", "en", user=SUBMITTER)
    assert first_choice(shared, rules, "en") == FIRST
    assert ACTION_SHARE_ADVICE not in [b["action_id"] for b in shared.buttons()]
    [cleanup] = fake_slack.wait_for("advice")
    assert cleanup.body["delete_original"] is True  # the private copy goes, as for a shared answer


def test_a_japanese_command_gets_a_japanese_modal_and_recommendation(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    view = open_modal(slack, fake_slack, "選ぶ").body["view"]

    assert view["title"]["text"] == kb.message("advisor_modal_title", "ja")
    assert view["submit"]["text"] == kb.message("advisor_modal_submit", "ja")
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == [q.prompt["ja"] for q in rules.questions]
    operators = next(b for b in view["blocks"] if b.get("block_id") == "operators")
    assert [o["text"]["text"] for o in operators["element"]["options"]] == [
        a.label["ja"]
        for a in rules.question("operators").answers  # type: ignore[union-attr]
    ]

    submit(slack, view, ANSWERS)

    [advice] = fake_slack.wait_for("chat.postEphemeral")
    assert advice.blocks()[0]["text"]["text"] == kb.message("advisor_title", "ja")
    assert first_choice(advice, rules, "ja") == FIRST
    shown = advice.text_everywhere()
    assert f"*{kb.message('advisor_why', 'ja')}*" in shown
    assert rules.option(FIRST).running_cost["ja"] in shown
    assert kb.message("share", "ja") in [b["text"]["text"] for b in advice.buttons()]


def test_the_rest_of_the_command_sets_the_language(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
) -> None:
    kb, _ = engine
    view = open_modal(slack, fake_slack, "choose 日本語で").body["view"]

    assert view["title"]["text"] == kb.message("advisor_modal_title", "ja")


def test_answers_that_cannot_stand_are_shown_in_the_modal_and_nothing_is_posted(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    view = open_modal(slack, fake_slack).body["view"]

    reply = submit(slack, view, {"hardware": ["gpu", "none"], "operators": "nobody"})

    assert reply.status == 200
    answer = json.loads(reply.body)
    assert answer["response_action"] == "errors"
    none = rules.question("hardware").answer("none")  # type: ignore[union-attr]
    assert answer["errors"] == {
        "hardware": kb.message("advisor_error_none_with_others", "en", none=none.label["en"])  # type: ignore[union-attr]
    }
    assert posted(calls_before_a_sentinel(slack, fake_slack)) == []  # a post would have come by now


def test_a_channel_the_bot_cannot_post_in_gets_the_recommendation_in_a_dm(
    slack: SlackSender, fake_slack: FakeSlack, rules: Rules
) -> None:
    fake_slack.script("CSECRET", method="chat.postEphemeral", error="channel_not_found")
    view = open_modal(slack, fake_slack, channel="CSECRET").body["view"]

    submit(slack, view, ANSWERS)

    [dm] = fake_slack.wait_for("chat.postMessage")
    assert dm.body["channel"] == SUBMITTER
    assert "CSECRET" in dm.blocks()[0]["text"]["text"]  # why it came here
    assert first_choice(dm, rules, "en") == FIRST
    assert ACTION_SHARE_ADVICE not in [b["action_id"] for b in dm.buttons()]


# --- "Help me choose" -----------------------------------------------------------------------------


def test_help_me_choose_comes_under_a_choosing_answer_and_opens_the_modal(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    slack.command("ECS or EKS?", fake_slack.response_url("answer"))
    [answer] = fake_slack.wait_for("answer")
    button = choose_button(answer)
    assert button["text"]["text"] == kb.message("advisor_button", "en")

    slack.action(ACTION_CHOOSE, button["value"], response_url=fake_slack.response_url("answer"), ephemeral=True)

    [opened] = fake_slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "1.2.3"  # the click's
    assert opened.body["view"]["callback_id"] == VIEW_ADVISOR
    assert Origin.from_metadata(rules, opened.body["view"]["private_metadata"]) == Origin(
        "en", "CGENERAL", "", "command"
    )


def test_help_me_choose_under_a_threaded_answer_answers_in_that_thread(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    slack.event(mention("ECSとEKSどっちを選ぶべき?", ts="1700000000.000300"), new_event_id())
    [answer] = fake_slack.wait_for("chat.postMessage")
    assert answer.body["thread_ts"] == "1700000000.000300"
    button = choose_button(answer)

    slack.action(
        ACTION_CHOOSE,
        button["value"],
        response_url=fake_slack.response_url("x"),
        ephemeral=False,
        user=SUBMITTER,
        thread_ts="1700000000.000300",
    )
    [opened] = fake_slack.wait_for("views.open")
    view = opened.body["view"]
    assert view["title"]["text"] == kb.message("advisor_modal_title", "ja")  # the answer was Japanese
    submit(slack, view, ANSWERS)

    [advice] = fake_slack.wait_for("chat.postEphemeral")
    assert (advice.body["channel"], advice.body["thread_ts"]) == ("CGENERAL", "1700000000.000300")
    assert first_choice(advice, rules, "ja") == FIRST


def test_help_me_choose_on_app_home_opens_the_modal_and_the_advice_comes_in_a_dm(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], rules: Rules
) -> None:
    kb, _ = engine
    slack.event({"type": "app_home_opened", "user": "UVIEWER", "channel": "DVIEWER", "tab": "home"}, new_event_id())
    [publish] = fake_slack.wait_for("views.publish")
    buttons = [b for b in publish.buttons() if b["action_id"] == ACTION_CHOOSE]
    assert [b["text"]["text"] for b in buttons] == [kb.message("advisor_button", lang) for lang in LANGS]
    assert [json.loads(b["value"])["l"] for b in buttons] == list(LANGS)

    slack.post(home_click_body(buttons[0]["value"]), "application/x-www-form-urlencoded")
    [opened] = fake_slack.wait_for("views.open")
    assert opened.body["trigger_id"] == "7.8.9"
    submit(slack, opened.body["view"], ANSWERS, user="UVIEWER")

    [dm] = fake_slack.wait_for("chat.postMessage")
    assert dm.body["channel"] == "UVIEWER"  # a user id: the app's DM with them
    assert first_choice(dm, rules, "en") == FIRST
    assert ACTION_SHARE_ADVICE not in [b["action_id"] for b in dm.buttons()]  # the DM is private already
    assert fake_slack.calls("chat.postEphemeral") == []


# --- odd cases ------------------------------------------------------------------------------------


def test_a_share_from_other_rules_asks_to_run_choose_again(
    slack: SlackSender, fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
) -> None:
    kb, _ = engine
    value = json.dumps({"l": "ja", "a": "workloads=quantum"})  # no such answer any more
    slack.action(ACTION_SHARE_ADVICE, value, response_url=fake_slack.response_url("stale"), ephemeral=True)

    [reply] = fake_slack.wait_for("stale")
    assert reply.body["text"] == kb.message("advisor_stale", "ja", command="/platform")
    assert fake_slack.calls("chat.postMessage") == []


def test_without_an_advisor_yaml_the_command_and_the_button_say_so_in_one_line(
    fake_slack: FakeSlack, engine: tuple[KnowledgeBase, Matcher], tmp_path: Path
) -> None:
    kb, _ = engine
    knowledge = knowledge_copy(tmp_path)
    (knowledge / "advisor.yaml").unlink()
    fake_slack.reset()
    env = {"PLATBOT_KNOWLEDGE": str(knowledge), "PLATBOT_NO_BUNDLED": "1"}
    with serving(fake_slack.api_url, tmp_path / "platbot.log", **env) as server:
        slack = SlackSender(server.port)
        slack.command("選ぶ", fake_slack.response_url("none"))
        slack.post(home_click_body(encode_answers({}, "en")), "application/x-www-form-urlencoded")
        [reply] = fake_slack.wait_for("none")
        [dm] = fake_slack.wait_for("chat.postMessage")

    assert reply.body["text"] == kb.message("advisor_unavailable", "ja")
    assert (dm.body["channel"], dm.body["text"]) == ("UVIEWER", kb.message("advisor_unavailable", "en"))
    assert fake_slack.calls("views.open") == []


def test_a_recommendation_is_recorded_as_an_answered_question_without_a_topic(
    slack: SlackSender, fake_slack: FakeSlack, http_server: RunningServer
) -> None:
    view = open_modal(slack, fake_slack, channel="CRECORDED").body["view"]
    submit(slack, view, ANSWERS)
    fake_slack.wait_for("chat.postEphemeral")

    database = http_server.log_path.parent / "data" / "platbot" / "platbot.db"
    [question] = rows(database, "SELECT * FROM questions WHERE channel_id = ?", "CRECORDED")
    assert (question["surface"], question["outcome"], question["topic_id"]) == ("command", "answered", None)
    assert question["text"] == "choose workloads=web_api,batch_hpc operators=nobody"
    assert question["lang"] == "en" and question["workspace_id"] == TEAM
