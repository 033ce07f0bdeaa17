"""Properties over any text: normalisation, matching, both renderers and the Slack handlers' pure
parts never raise, and what they return stays well-formed, within Slack's limits and unable to ping.

The questions are any Unicode (right-to-left text, zero-width joiners, emoji with skin tones,
control characters, lone surrogates, NUL), Slack markup mixed in (mentions, channel links,
`<!channel>`, links, code blocks, emphasis) and lengths up to 40,000 characters. Hypothesis runs
derandomized and without an example database, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.matcher import MAX_QUERY_CHARS, Matcher, MatchResult, Outcome, Suggestion
from bot.normalize import detect_lang, fold, strip_slack_markup
from bot.render import blocks, text
from bot.render.blocks import TopicRef
from bot.slack import parse

# Deterministic, and generous enough for a 40,000-character question on a slow CI machine. The
# autouse cache fixture is function-scoped but only sets an environment variable: sharing it
# between examples is harmless.
PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=2),
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what people paste into Slack --------------------------------------------------------

PINGS = ["<!channel>", "<!here>", "<!everyone>", "<!here|here>", "<@U123ABC>", "<@U123ABC|alice>", "<@W0XYZ9>"]
MARKUP = [
    *PINGS,
    "<#C123|general>",
    "<#C123>",
    "<!subteam^S123|@platform>",
    "<!date^1392734382^{date}|Feb 18>",
    "<https://example.com|label>",
    "<https://example.com>",
    "<mailto:ops@example.com|ops>",
    "```kubectl get pods -A```",
    "```\nSELECT * FROM users;\n```",
    "`logConfiguration`",
    "*bold*",
    "_italic_",
    "~strike~",
    "> quoted",
    "&lt;!channel&gt;",
    "&amp;",
    ":smile:",
    ":+1::skin-tone-4:",
]
UNICODE = [
    "مرحبا، كيف أجدول المهام؟",
    "\u202eECS\u202c",
    "\u200f",
    "\u200d",
    "\u200b",
    "👩\u200d👩\u200d👧\u200d👦",
    "👍🏽",
    "🧑🏿\u200d🚀",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\x7f",
    "\x85",
    "\ud800",
    "\udfff",
    "\udcff",
    "\ud83d\ude00",  # a surrogate pair held as two code points, not as the one character it encodes
    "e\u0301",
    "\ufeff",
    "ＥＣＳ",
    "ｽｹｼﾞｭｰﾙ",
    "İ",
    "ß",
    "ﷺ",
    "\u2028",
    "\U0010ffff",
    "\ufffe",
]
WORDS = [
    "how do I",
    "schedule jobs on ECS?",
    "secrets",
    "EKS",
    "Fargate",
    "k8s",
    "cron",
    "lamdba",
    "logConfiguration",
    "CannotPullContainerError",
    "ECSでバッチを定期実行したい",
    "シークレット",
    "hi",
    "thanks!",
    "?",
    "ECS or EKS for us?",
    "select * from users;",
    "kubectl get pods -A",
]
# Every code point, lone surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(exclude_categories=())
PIECES = st.one_of(st.sampled_from(MARKUP + UNICODE + WORDS), st.text(ANY_CHAR, max_size=12))
SEPARATORS = st.sampled_from([" ", "", "\n", "  ", " \u3000"])


@st.composite
def messages(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(PIECES, SEPARATORS), max_size=24))
    return "".join(piece + separator for piece, separator in parts)


class Repeated(str):
    """A long text that failure reports show as the piece it repeats, not as 40,000 characters."""

    piece: str

    def __repr__(self) -> str:
        return f"({self.piece!r} * n)[:{len(self)}]"


@st.composite
def long_messages(draw: st.DrawFn) -> str:
    """Up to 40,000 characters: one message repeated (hypothesis draws a few KB at most)."""
    piece = draw(messages().filter(bool))
    length = draw(st.one_of(st.just(40_000), st.integers(MAX_QUERY_CHARS - 100, 40_000)))
    text = Repeated((piece * (length // len(piece) + 1))[:length])
    text.piece = piece
    return text


QUESTIONS = st.one_of(messages(), messages(), long_messages())
TOPICS = st.integers(min_value=0)  # a topic by position, see Bot.topic
USER_IDS = st.one_of(st.sampled_from(["UASKER1", "W0XYZ9", "U1\n", "U<!here>", "", "u123"]), st.text(ANY_CHAR))
COMMAND = "/platform"

# --- Slack's limits -----------------------------------------------------------------------
# https://docs.slack.dev/reference/block-kit/blocks: up to 50 blocks in a message, 100 in a Home tab.
MAX_BLOCKS = 50
# https://docs.slack.dev/reference/block-kit/blocks/section-block: text 1 to 3,000 characters.
SECTION_TEXT = 3000
# https://docs.slack.dev/reference/block-kit/blocks/header-block: text at most 150 characters.
HEADER_TEXT = 150
# https://docs.slack.dev/reference/block-kit/blocks/context-block: at most 10 elements.
CONTEXT_ELEMENTS = 10
# https://docs.slack.dev/reference/block-kit/blocks/actions-block: at most 25 elements.
ACTIONS_ELEMENTS = 25
# https://docs.slack.dev/reference/block-kit/block-elements/button-element: text 75 characters,
# action_id 255, value 2,000.
BUTTON_TEXT, ACTION_ID, BUTTON_VALUE = 75, 255, 2000
# https://api.slack.com/changelog/2018-04-truncating-really-long-messages: `text` (the fallback of
# chat.postMessage, https://docs.slack.dev/reference/methods/chat.postMessage) is cut past 40,000
# characters; platbot keeps its own fallbacks to a section's 3,000.
FALLBACK_TEXT = 3000
# Any of these in a posted text notifies people: Slack reads mentions only in this `<...>` form.
_MENTION = re.compile(r"<[!@#][^>]*>?")


def slack_length(value: str) -> int:
    """Characters as Slack may count them (UTF-16 code units): never less than Python's count."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def posted_texts(node: Any) -> Iterator[str]:
    """Every string a person sees: each `text` field, at any depth (not button values or ids)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from posted_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from posted_texts(item)


def assert_sendable(payload: dict[str, Any], *, credit: str | None = None) -> None:
    """Within every Slack limit platbot's messages can reach, valid UTF-8 throughout, and no
    mention but the sharer's own credit (`credit`)."""
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    assert len(payload["blocks"]) <= MAX_BLOCKS
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert 1 <= slack_length(block["text"]["text"]) <= SECTION_TEXT
        elif block["type"] == "header":
            assert 1 <= slack_length(block["text"]["text"]) <= HEADER_TEXT
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= CONTEXT_ELEMENTS
            assert all(1 <= slack_length(e["text"]) <= SECTION_TEXT for e in block["elements"])
        elif block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= ACTIONS_ELEMENTS
            ids = [button["action_id"] for button in block["elements"]]
            assert len(set(ids)) == len(ids)  # unique within the block
            for button in block["elements"]:
                assert 1 <= slack_length(button["text"]["text"]) <= BUTTON_TEXT
                assert 1 <= slack_length(button["action_id"]) <= ACTION_ID
                assert slack_length(button["value"]) <= BUTTON_VALUE
        else:
            assert block["type"] == "divider"
    if "text" in payload:
        assert 1 <= slack_length(payload["text"]) <= FALLBACK_TEXT
    allowed = {credit} if credit else set()
    for posted in posted_texts(payload):
        assert set(_MENTION.findall(posted)) <= allowed, posted


def assert_well_formed(result: MatchResult, matcher: Matcher) -> None:
    limit = matcher.calibration.thresholds.max_choices
    assert result.outcome in {"answer", "clarify", "decline", "smalltalk"}
    assert result.lang in LANGS
    assert 0.0 <= result.confidence <= 1.0
    assert len(result.suggestions) <= limit and len(result.see_also) <= limit
    for suggestion in (*result.suggestions, *result.see_also):
        assert 0.0 <= suggestion.confidence <= 1.0
    if result.outcome == "answer":
        assert result.topic is not None and not result.suggestions
        assert result.topic.id not in {s.topic.id for s in result.see_also}
    else:
        assert result.topic is None and not result.see_also
        assert bool(result.suggestions) == (result.outcome == "clarify")
    assert len({s.topic.id for s in result.suggestions}) == len(result.suggestions)


class Bot:
    """The real knowledge base and its matcher, built once; short in failure reports (not a
    dataclass: hypothesis would print every field of one)."""

    def __init__(self, kb: KnowledgeBase, matcher: Matcher) -> None:
        self.kb = kb
        self.matcher = matcher

    def __repr__(self) -> str:
        return f"Bot({len(self.kb.topics)} topics)"

    def topic(self, index: int) -> Topic:
        """Topics by position (wrapping round), so that examples can name one by a number."""
        topics = sorted(self.kb.topics, key=lambda t: t.id)
        return topics[index % len(topics)]


@pytest.fixture(scope="session")
def bot(real_kb: KnowledgeBase, real_matcher: Matcher) -> Bot:
    return Bot(real_kb, real_matcher)


# --- normalisation ------------------------------------------------------------------------


@PROPERTIES
@given(QUESTIONS)
@example("-" * 40_000)  # quadratic: an alias that began with "--" was tried along every run of dashes
@example("\t " * 20_000)
@example("<" * 40_000)
def test_normalising_any_text_gives_tokens_and_known_entities(bot: Bot, question: str) -> None:
    normalize = bot.matcher.normalize
    normalized = normalize(question)

    assert all(token and not any(c.isspace() for c in token) for token in normalized.tokens)
    assert not set(normalized.tokens) & normalize.stopwords
    assert normalized.entities <= normalize.entities
    assert normalize(question) == normalized  # pure
    assert detect_lang(question) in LANGS
    assert isinstance(fold(question), str)


@PROPERTIES
@given(QUESTIONS)
def test_normalised_text_is_a_fixed_point(bot: Bot, question: str) -> None:
    # Example questions and asked questions go through the same folding: folding its output
    # again must find the same words and products, or the two sides would drift apart.
    normalized = bot.matcher.normalize(question)

    assert bot.matcher.normalize(normalized.text) == normalized


@PROPERTIES
@given(
    st.text(ANY_CHAR.filter(lambda c: c != ">"), max_size=60),
    st.sampled_from([m for m in MARKUP if m.startswith(("<@", "<#", "<!", ":"))]),
    st.text(ANY_CHAR.filter(lambda c: c != ">"), max_size=60),
)
@example("is a <b", "<@U123ABC>", "c")  # the mention took "<b" with it
def test_mentions_and_emoji_codes_between_words_change_no_token(bot: Bot, before: str, markup: str, after: str) -> None:
    assert bot.matcher.normalize(f"{before} {markup} {after}") == bot.matcher.normalize(f"{before} {after}")


@PROPERTIES
@given(QUESTIONS)
def test_stripping_slack_markup_leaves_no_mention(question: str) -> None:
    plain = strip_slack_markup(question.replace("&", ""))  # an `&lt;` typed by the asker comes back as `<`

    assert not re.search(r"<[!@#][^>]*>", plain)


# --- matching -----------------------------------------------------------------------------


@PROPERTIES
@given(QUESTIONS)
@example(("how do I pass secrets to ECS tasks? <!channel> \ud800 👍🏽 " * 1000)[:40_000])
def test_any_question_gets_a_well_formed_decision(bot: Bot, question: str) -> None:
    result = bot.matcher.match(question)

    assert_well_formed(result, bot.matcher)
    assert result.query == question[:MAX_QUERY_CHARS]
    assert bot.matcher.match(question) == result  # deterministic


@PROPERTIES
@given(QUESTIONS, st.sampled_from(LANGS))
def test_a_forced_language_is_the_answers_language(bot: Bot, question: str, lang: Lang) -> None:
    result = bot.matcher.match(question, lang)

    assert_well_formed(result, bot.matcher)
    assert result.lang == lang


@PROPERTIES
@given(messages().filter(lambda q: len(q) < MAX_QUERY_CHARS - 20), st.sampled_from(PINGS))
@example("thanks " * 11 + "hi", "<@U123ABC>")  # 79 characters: the mention's spaces made it too long for a greeting
def test_mentioning_someone_else_changes_no_decision(bot: Bot, question: str, mention: str) -> None:
    alone, mentioned = bot.matcher.match(question), bot.matcher.match(f"{mention} {question}")

    assert (mentioned.outcome, mentioned.topic, mentioned.confidence) == (alone.outcome, alone.topic, alone.confidence)
    assert (mentioned.suggestions, mentioned.see_also) == (alone.suggestions, alone.see_also)


# --- Block Kit ----------------------------------------------------------------------------


@PROPERTIES
@given(QUESTIONS, st.booleans())
@example("\ud800 how do I pass secrets to ECS tasks? \x00", True)  # a lone surrogate went to Slack as is
@example("<!channel> <@U123ABC> how do I schedule jobs on ECS?", True)
def test_every_reply_fits_slack_and_pings_no_one(bot: Bot, question: str, private: bool) -> None:
    result = bot.matcher.match(question)

    message = blocks.reply(bot.kb, result, question, command=COMMAND, private=private)

    assert_sendable(message.as_kwargs())  # as_kwargs() also runs slack_sdk's own checks


class Decision(NamedTuple):
    """A decision as the matcher could make it, by topic id (failure reports print whole topics)."""

    query: str
    lang: Lang
    outcome: Outcome
    topic_id: str | None
    confidence: float
    choices: tuple[tuple[str, float], ...]  # a clarify's suggestions, or an answer's "See also"

    def result(self, kb: KnowledgeBase) -> MatchResult:
        choices = tuple(Suggestion(kb.get(topic_id), confidence) for topic_id, confidence in self.choices)
        if self.outcome == "answer":
            topic = kb.get(self.topic_id or "")
            return MatchResult(self.query, self.lang, "answer", topic, self.confidence, see_also=choices)
        return MatchResult(self.query, self.lang, self.outcome, None, self.confidence, suggestions=choices)


@st.composite
def decisions(draw: st.DrawFn, bot: Bot) -> Decision:
    """Any decision the matcher's contract allows, on any topics: more shapes than real questions reach."""
    topic_ids = st.sampled_from(sorted(t.id for t in bot.kb.topics))
    confidence = st.floats(0.0, 1.0)
    limit = bot.matcher.calibration.thresholds.max_choices
    choices = st.lists(st.tuples(topic_ids, confidence), max_size=limit, unique_by=lambda c: c[0]).map(tuple)
    outcome = draw(st.sampled_from(["answer", "clarify", "decline", "smalltalk"]))
    query, lang = draw(QUESTIONS), draw(st.sampled_from(LANGS))
    if outcome == "answer":
        topic_id = draw(topic_ids)
        see_also = tuple(c for c in draw(choices) if c[0] != topic_id)
        return Decision(query, lang, "answer", topic_id, draw(confidence), see_also)
    if outcome == "clarify":
        return Decision(query, lang, "clarify", None, draw(confidence), draw(choices.filter(bool)))
    return Decision(query, lang, outcome, None, draw(confidence), ())


@PROPERTIES
@given(st.data(), st.booleans())
def test_every_decision_renders_within_slack_limits(bot: Bot, data: st.DataObject, private: bool) -> None:
    result = data.draw(decisions(bot)).result(bot.kb)

    message = blocks.reply(bot.kb, result, result.query, command=COMMAND, private=private)

    assert_sendable(message.as_kwargs())


@PROPERTIES
@given(TOPICS, st.sampled_from(LANGS), USER_IDS, QUESTIONS)
@example(0, "en", "U123ABC\n", "ecs cron")  # `^...$` let a trailing newline into the mention
@example(0, "en", "UASKER1", "\ud800 <!channel> secrets")
def test_a_shared_answer_credits_only_a_real_user_id(
    bot: Bot, topic_index: int, lang: Lang, user_id: str, question: str
) -> None:
    topic = bot.topic(topic_index)

    message = blocks.shared_message(bot.kb, topic, lang, user_id=user_id, question=question)

    valid = re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id) is not None
    assert_sendable(message.as_kwargs(), credit=f"<@{user_id}>" if valid else None)
    assert (f"<@{user_id}>" in message.text) == valid


@PROPERTIES
@given(TOPICS, st.sampled_from(LANGS), QUESTIONS)
@example(0, "ja", "\ud83d\ude00 \ud800 \x00 " * 200)
def test_a_button_value_carries_the_question_within_its_limit(
    bot: Bot, topic_index: int, lang: Lang, question: str
) -> None:
    topic_id = bot.topic(topic_index).id

    value = TopicRef(topic_id, lang, question).to_value()

    value.encode("utf-8")
    assert slack_length(value) <= BUTTON_VALUE
    ref = TopicRef.from_value(value)
    assert ref is not None and (ref.topic_id, ref.lang) == (topic_id, lang)
    assert len(ref.question.splitlines()) <= 1
    assert TopicRef(ref.topic_id, ref.lang, ref.question).to_value() == value  # stable when it comes back


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(ANY_CHAR, max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("tlq"), inner, max_size=3),
)


@PROPERTIES
@given(
    st.one_of(
        st.none(),
        st.text(ANY_CHAR),
        JSON_VALUES.map(json.dumps),
        st.integers(1, BUTTON_VALUE).map(lambda depth: "[" * depth),  # deeper than json's recursion limit
        st.integers(1, BUTTON_VALUE // 5).map(lambda depth: '{"t":' * depth),
    )
)
@example("[" * BUTTON_VALUE)  # RecursionError, not ValueError, came out of json.loads
def test_any_button_value_is_a_ref_or_none(value: str | None) -> None:
    ref = TopicRef.from_value(value)

    assert ref is None or (isinstance(ref.topic_id, str) and ref.lang in LANGS and isinstance(ref.question, str))


# --- the text renderer --------------------------------------------------------------------


@PROPERTIES
@given(QUESTIONS, st.booleans())
def test_text_replies_are_valid_utf8(bot: Bot, question: str, color: bool) -> None:
    result = bot.matcher.match(question)

    for reply in (text.reply_mrkdwn(bot.kb, result), text.result_for_terminal(bot.kb, result, color)):
        assert isinstance(reply, str) and reply.strip()
        reply.encode("utf-8")


@PROPERTIES
@given(st.data(), st.booleans())
def test_every_decision_renders_as_text(bot: Bot, data: st.DataObject, color: bool) -> None:
    result = data.draw(decisions(bot)).result(bot.kb)

    reply = text.result_for_terminal(bot.kb, result, color)

    assert reply.strip()
    reply.encode("utf-8")
    assert len(text.choices(result)) == len(result.suggestions or result.see_also)


@PROPERTIES
@given(QUESTIONS, st.booleans())
@example("*bold* \ud800 \x1b[2J <https://example.com|docs>", True)
def test_any_mrkdwn_becomes_valid_utf8_plain_text(mrkdwn: str, color: bool) -> None:
    plain = text.mrkdwn_to_plain(mrkdwn, color)

    plain.encode("utf-8")
    assert "\x1b[2J" not in plain  # no escape sequence but platbot's own bold


# --- the Slack handlers' pure parts -------------------------------------------------------

BOT = "UPLATBOT1"


@PROPERTIES
@given(QUESTIONS, st.sampled_from([BOT, None, ""]))
def test_the_bots_own_mention_never_stays_in_the_question(question: str, bot_user_id: str | None) -> None:
    text_with_mentions = f"<@{BOT}> {question} <@{BOT}|platbot>"

    asked = parse.question_from_mention(text_with_mentions, bot_user_id)

    assert asked == asked.strip()
    if bot_user_id:
        assert f"<@{BOT}>" not in asked and f"<@{BOT}|" not in asked
    assert parse.help_lang(asked) in LANGS
    assert isinstance(parse.is_help(asked), bool)


EVENT_KEYS = ["user", "bot_id", "subtype", "edited", "hidden", "channel", "channel_type", "ts", "thread_ts"]
EVENT_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(ANY_CHAR, max_size=12), st.just({}))


@PROPERTIES
@given(st.dictionaries(st.sampled_from(EVENT_KEYS), EVENT_VALUES))
def test_any_event_is_sorted_without_error(event: dict[str, Any]) -> None:
    assert isinstance(parse.is_from_person(event), bool)
    assert isinstance(parse.is_direct_message(event), bool)
    if event.get("thread_ts") or "ts" in event:
        assert isinstance(parse.reply_thread(event), str)


@PROPERTIES
@given(QUESTIONS, st.booleans())
def test_a_mention_is_answered_within_slack_limits(bot: Bot, question: str, direct: bool) -> None:
    # What the mention and DM listeners do between reading the event and posting the reply.
    event = {"user": "U0ASKER", "text": f"<@{BOT}> {question}", "ts": "1.0", "channel": "D1" if direct else "C1"}
    assert parse.is_from_person(event) and parse.is_direct_message(event) == direct

    asked = parse.question_from_mention(event["text"], BOT)
    message = blocks.reply(bot.kb, bot.matcher.match(asked), asked, command=COMMAND)

    assert_sendable(message.as_kwargs())
