"""Block Kit rendering: pure functions, checked against Slack's limits and for safe echoes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.kb.model import LANGS, KnowledgeBase, Link, Topic, Vocabulary
from bot.matcher import Matcher, MatchResult, Suggestion
from bot.render import blocks
from bot.render.blocks import ACTION_CHOOSE, TopicRef, encode_answers


def make_topic(
    topic_id: str, area: str = "scheduling", answer: str | None = None, related: tuple[str, ...] = ()
) -> Topic:
    return Topic(
        id=topic_id,
        area=area,
        title={"en": f"About {topic_id}", "ja": f"{topic_id} について"},
        questions={"en": (f"what about {topic_id}?",), "ja": (f"{topic_id} とは?",)},
        answer={"en": answer or f"*Answer about {topic_id}.*", "ja": answer or f"*{topic_id} の答え。*"},
        services=("Amazon ECS",),
        links=(Link("ECS & Fargate <guide>", "https://docs.aws.amazon.com/ecs/"),),
        related=related,
    )


@pytest.fixture(scope="module")
def messages(engine: tuple[KnowledgeBase, Matcher]) -> Any:
    return engine[0].messages


def kb_of(messages: Any, *topics: Topic) -> KnowledgeBase:
    return KnowledgeBase(tuple(topics), Vocabulary(), messages)


def texts(message: blocks.Message) -> str:
    return json.dumps(message.as_kwargs(), ensure_ascii=False)


def section_texts(kwargs: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in kwargs["blocks"] if b["type"] == "section"]


def test_escape_replaces_the_ampersand_first() -> None:
    assert blocks.escape("<!channel> & &lt;") == "&lt;!channel&gt; &amp; &amp;lt;"


def test_every_real_answer_fits_slack_limits_in_both_languages(engine: tuple[KnowledgeBase, Matcher]) -> None:
    kb, _ = engine
    for topic in kb.topics:
        for lang in LANGS:
            for message in (
                blocks.answer_message(kb, topic, lang, question="q", private=True),
                blocks.answer_message(kb, topic, lang),
                blocks.shared_message(kb, topic, lang, user_id="UASKER", question="q"),
            ):
                kwargs = message.as_kwargs()  # the model classes raise past a limit
                assert len(kwargs["blocks"]) <= blocks.MAX_BLOCKS
                assert 0 < len(kwargs["text"]) <= 3000


def test_an_answer_has_title_text_docs_related_and_feedback(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a", related=("b", "gone")), make_topic("b"))

    kwargs = blocks.answer_message(kb, kb.get("a"), "en").as_kwargs()  # type: ignore[arg-type]

    assert kwargs["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "About a", "emoji": True}}
    assert "*Answer about a.*" in section_texts(kwargs)
    assert "<https://docs.aws.amazon.com/ecs/|ECS &amp; Fargate &lt;guide&gt;>" in json.dumps(kwargs)
    buttons = [e for b in kwargs["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], TopicRef.from_value(b["value"])) for b in buttons] == [
        ("platbot.related:0", TopicRef("b", "en")),  # "gone" is not in the knowledge base: no button
        ("platbot.feedback:up", TopicRef("a", "en")),
        ("platbot.feedback:down", TopicRef("a", "en")),
    ]


def test_a_private_answer_echoes_the_question_and_can_be_shared(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"))

    message = blocks.answer_message(kb, kb.get("a"), "ja", question="<@U0X> a は?", private=True)  # type: ignore[arg-type]

    share = [e for b in message.as_kwargs()["blocks"] if b["type"] == "actions" for e in b["elements"]][-1]
    assert share["action_id"] == blocks.ACTION_SHARE
    assert share["text"]["text"] == kb.message("share", "ja")
    assert TopicRef.from_value(share["value"]) == TopicRef("a", "ja", "<@U0X> a は?")
    assert kb.message("you_asked", "ja", question="&lt;@U0X&gt; a は?") in texts(message)


def test_a_long_answer_is_split_between_lines_into_sections_of_3000(messages: Any) -> None:
    answer = "\n".join(f"• line {n} " + "x" * 90 for n in range(100))  # about 10,000 characters
    kb = kb_of(messages, make_topic("long", answer=answer))

    kwargs = blocks.answer_message(kb, kb.get("long"), "en").as_kwargs()  # type: ignore[arg-type]

    sections = section_texts(kwargs)[:-1]  # the last section holds the doc links
    assert len(sections) == 4 and all(len(s) <= 3000 for s in sections)
    assert "\n".join(sections) == answer


def test_a_40000_character_question_is_echoed_clipped_and_escaped(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"))
    question = "<!channel> " + "&" * 40_000

    message = blocks.decline_message(kb, question, "en", command="/platform")

    echo = message.as_kwargs()["blocks"][1]["elements"][0]["text"]
    assert echo.startswith(kb.message("you_asked", "en", question="&lt;!channel&gt; &amp;&amp;"))
    assert len(echo) < 2000
    assert "<!channel>" not in texts(message)


def test_a_share_value_stays_within_2000_characters_whatever_the_question() -> None:
    value = TopicRef("a", "en", '"\\\n\u2028' * 5000).to_value()

    assert len(value) <= blocks.BUTTON_VALUE_CHARS
    ref = TopicRef.from_value(value)
    assert ref is not None and ref.topic_id == "a" and ref.question.startswith('"\\')


def button_values(message: blocks.Message) -> list[str]:
    return [
        element["value"]
        for block in message.as_kwargs()["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_every_button_of_a_recorded_answer_carries_its_question_ref(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a", related=("b",)), make_topic("b"), make_topic("c"))
    see_also = (Suggestion(kb.get("c"), 0.5),)  # type: ignore[arg-type]
    result = MatchResult("what about a?", "en", "answer", topic=kb.get("a"), confidence=0.9, see_also=see_also)

    recorded = blocks.reply(kb, result, "what about a?", command="/platform", private=True, ref="q7Hk2")
    unrecorded = blocks.reply(kb, result, "what about a?", command="/platform", private=True)

    refs = [TopicRef.from_value(value) for value in button_values(recorded)]
    assert len(refs) == 5  # see also, related, 👍, 👎, share
    assert all(ref is not None and ref.ref == "q7Hk2" for ref in refs)
    assert all('"r"' not in value for value in button_values(unrecorded))  # nothing to carry: as before


@pytest.mark.parametrize("value", [None, "", "null", "[]", "not json", '{"t": 1, "l": "en"}', '{"t": "a", "l": "fr"}'])
def test_a_button_value_platbot_did_not_write_is_refused(value: str | None) -> None:
    assert TopicRef.from_value(value) is None


def test_did_you_mean_offers_buttons_in_the_question_language(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"), make_topic("b"))
    choices = (Suggestion(kb.get("a"), 0.4), Suggestion(kb.get("b"), 0.35))  # type: ignore[arg-type]
    result = MatchResult("a か b", "ja", "clarify", confidence=0.4, suggestions=choices)

    message = blocks.reply(kb, result, "a か b <!here>", command="/platform", private=True)

    kwargs = message.as_kwargs()
    lead = kwargs["blocks"][0]["text"]["text"]
    assert lead == kb.message("clarify", "ja") and not lead.startswith(kb.message("unknown", "ja"))
    assert "a か b &lt;!here&gt;" in texts(message)
    picks = kwargs["blocks"][2]["elements"]
    assert [b["text"]["text"] for b in picks] == ["a について", "b について"]
    assert [TopicRef.from_value(b["value"]) for b in picks] == [
        TopicRef("a", "ja", "a か b <!here>"),
        TopicRef("b", "ja", "a か b <!here>"),
    ]


def test_reply_picks_help_answer_greeting_or_decline(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"))
    help_title = kb.message("usage_title", "en")

    helped = blocks.reply(kb, MatchResult("", "en", "decline"), "  ", command="/p")
    assert helped.as_kwargs()["blocks"][0]["text"]["text"] == help_title
    answered = blocks.reply(kb, MatchResult("a", "en", "answer", kb.get("a"), 0.9), "a", command="/p")
    assert answered.as_kwargs()["blocks"][0]["text"]["text"] == "About a"
    greeted = blocks.reply(kb, MatchResult("hi", "en", "smalltalk"), "hi", command="/p")
    assert greeted.text == kb.message("smalltalk", "en") and "/p help" in texts(greeted)
    declined = blocks.reply(kb, MatchResult("poem", "ja", "decline", confidence=0.1), "poem", command="/p")
    assert declined.text.startswith(kb.message("unknown", "ja"))
    assert kb.message("help_hint", "ja", command="/p") in texts(declined)


def test_see_also_buttons_come_before_related_and_are_not_repeated(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a", related=("b", "c")), make_topic("b"), make_topic("c"))
    result = MatchResult("q", "en", "answer", kb.get("a"), 0.8, see_also=(Suggestion(kb.get("c"), 0.3),))  # type: ignore[arg-type]

    kwargs = blocks.reply(kb, result, "q <!channel>", command="/p", private=True).as_kwargs()

    buttons = [e for b in kwargs["blocks"] if b["type"] == "actions" for e in b["elements"]]
    shown = [(b["action_id"], TopicRef.from_value(b["value"])) for b in buttons][:2]
    assert shown == [
        ("platbot.seealso:0", TopicRef("c", "en", "q <!channel>")),
        ("platbot.related:0", TopicRef("b", "en")),
    ]
    assert kb.message("see_also", "en") in texts(blocks.reply(kb, result, "q", command="/p"))
    assert "About c" in kwargs["text"]


def test_help_lists_every_topic_by_area(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a", area="scheduling"), make_topic("b", area="networking"))

    shown = texts(blocks.help_message(kb, "en", command="/platform"))

    for expected in ("About a", "About b", kb.message("area.scheduling", "en"), kb.message("area.networking", "en")):
        assert expected in shown
    assert kb.message("usage", "en", command="/platform").replace("\n", "\\n") in shown


def test_help_and_home_stay_within_block_limits_for_a_large_knowledge_base(messages: Any) -> None:
    topics = [make_topic(f"topic-{n}-{'x' * 60}", area=f"area-{n % 150}") for n in range(600)]
    kb = kb_of(messages, *topics)

    help_blocks = blocks.help_message(kb, "en", command="/platform").as_kwargs()["blocks"]
    home_blocks = blocks.home_view(kb, command="/platform").as_home_view()["blocks"]

    assert len(help_blocks) == blocks.MAX_BLOCKS
    assert len(home_blocks) == blocks.MAX_HOME_BLOCKS
    for shown in (help_blocks, home_blocks):
        assert shown[-1]["type"] == "context"  # "...and N more"
        assert "more" in shown[-1]["elements"][0]["text"]


def test_home_names_areas_in_both_languages_and_falls_back_to_the_folder(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a", area="scheduling"), make_topic("b", area="brand-new-area"))

    view = blocks.home_view(kb, command="/platform").as_home_view()

    shown = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home"
    assert f"{kb.message('area.scheduling', 'en')} / {kb.message('area.scheduling', 'ja')}" in shown
    assert "Brand new area" in shown
    assert "what about a?" in shown and "a とは?" in shown  # example questions, both languages


def test_a_shared_answer_names_the_asker_and_never_injects_markup(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"))
    topic = kb.get("a")
    assert topic is not None

    shared = blocks.shared_message(kb, topic, "en", user_id="UASKER", question="cron <!everyone>")
    forged = blocks.shared_message(kb, topic, "en", user_id="U1> <!channel", question="x")

    assert shared.as_kwargs()["blocks"][0]["elements"][0]["text"] == "<@UASKER> asked: cron &lt;!everyone&gt;"
    assert shared.text.startswith("<@UASKER> asked: cron &lt;!everyone&gt;")
    assert "<!channel" not in texts(forged)


def test_ask_the_platform_team_comes_only_where_platbot_has_no_answer_and_only_when_set(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"), make_topic("b"))
    declined = MatchResult("lunch?", "en", "decline")
    answered = MatchResult("what about a?", "en", "answer", topic=kb.get("a"), confidence=0.9)

    def escalations(result: MatchResult, escalate: bool) -> list[TopicRef | None]:
        message = blocks.reply(kb, result, result.query, command="/platform", ref="r1", escalate=escalate)
        buttons = [e for b in message.as_kwargs()["blocks"] if b["type"] == "actions" for e in b["elements"]]
        return [TopicRef.from_value(b["value"]) for b in buttons if b["action_id"] == blocks.ACTION_ESCALATE]

    [ref] = escalations(declined, escalate=True)
    assert ref is not None and (ref.question, ref.ref) == ("lunch?", "r1")  # the asker's words go to the team
    assert escalations(declined, escalate=False) == []
    assert escalations(answered, escalate=True) == []


def action_ids(message: blocks.Message) -> list[str]:
    return [e["action_id"] for b in message.as_kwargs()["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("lang", LANGS)
def test_answers_about_choosing_a_platform_offer_help_me_choose_before_the_feedback(messages: Any, lang: str) -> None:
    kb = kb_of(messages, make_topic("pick", area=blocks.CHOOSING_AREA), make_topic("cron", area="scheduling"))
    choosing, other = kb.get("pick"), kb.get("cron")
    assert choosing is not None and other is not None

    for message in (
        blocks.answer_message(kb, choosing, lang, question="ECS or EKS?", private=True),  # type: ignore[arg-type]
        blocks.answer_message(kb, choosing, lang),  # type: ignore[arg-type]
        blocks.shared_message(kb, choosing, lang, user_id="UASKER", question="ECS or EKS?"),  # type: ignore[arg-type]
    ):
        ids = action_ids(message)
        assert ids.index(ACTION_CHOOSE) < ids.index("platbot.feedback:up")  # its own block, before the votes
        [offer] = [
            e
            for b in message.as_kwargs()["blocks"]
            for e in b.get("elements", [])
            if e.get("action_id") == ACTION_CHOOSE
        ]
        assert offer["text"]["text"] == kb.message("advisor_button", lang)  # type: ignore[arg-type]
        assert offer["value"] == encode_answers({}, lang)  # type: ignore[arg-type]
    private = blocks.answer_message(kb, choosing, lang, question="q", private=True)  # type: ignore[arg-type]
    assert action_ids(private)[-1] == blocks.ACTION_SHARE  # Share stays last
    for message in (
        blocks.answer_message(kb, other, lang, question="q", private=True),  # type: ignore[arg-type]
        blocks.shared_message(kb, other, lang, user_id="UASKER"),  # type: ignore[arg-type]
    ):
        assert ACTION_CHOOSE not in action_ids(message)


def test_app_home_offers_help_me_choose_in_both_languages(messages: Any) -> None:
    kb = kb_of(messages, make_topic("a"))

    view = blocks.home_view(kb, command="/platform").as_home_view()

    offers = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(o["action_id"], o["text"]["text"]) for o in offers] == [
        (ACTION_CHOOSE, kb.message("advisor_button", lang)) for lang in LANGS
    ]
    assert [o["value"] for o in offers] == [encode_answers({}, lang) for lang in LANGS]
