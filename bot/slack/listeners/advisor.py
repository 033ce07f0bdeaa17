"""The platform advisor in Slack: `/platform choose` (or 選ぶ) and the "Help me choose" button
open a modal of questions; its submission gets the recommendation privately, and Share posts it
in the channel for everyone.

    /platform choose ──> views.open(advisor_modal)          (ack at once, then the modal)
    Help me choose   ──> views.open(advisor_modal)          (under choosing answers, on App Home)
    submission       ──> errors in the modal (in the ack), or the advice: an ephemeral message
                         in the channel it started from, or a DM (App Home; a channel the bot
                         cannot post in)
    Share            ──> chat.postMessage in that channel, "@user shared…"; the private copy goes

Nothing is kept between the steps: the modal's metadata carries the language and where to answer,
the Share button the answers (bot/render/advice.py). The rules are read from the knowledge layers
on each use (knowledge/advisor.yaml, a few milliseconds), so each request sees the file as it is.
Registered before the command's question listener, like `stats`: `choose` is not a question.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.advisor import Advice, Rules, advise, load_rules
from bot.kb.model import LANGS, Lang
from bot.render import blocks
from bot.render.advice import (
    ACTION_SHARE_ADVICE,
    VIEW_ADVISOR,
    advice_message,
    advisor_modal,
    answers_from_view,
    decode_answers,
    modal_errors,
)
from bot.render.blocks import ACTION_CHOOSE, encode_answers
from bot.slack import failures, parse, recording
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge, deliver
from bot.store.models import Surface

_CHOOSE_WORDS = frozenset({"choose", "選ぶ"})
_SURFACES: tuple[str, ...] = get_args(Surface)


def is_choose(text: str) -> bool:
    """`/platform choose` (or 選ぶ), alone or followed by words that only set the language:
    `/platform choose 日本語` asks in Japanese."""
    words = text.split()
    return bool(words) and words[0].casefold() in _CHOOSE_WORDS


@dataclass(frozen=True)
class Origin:
    """Where the modal was opened from, as its metadata carries it: the language, and the
    channel (and thread) to answer in; no channel (App Home) means a DM."""

    lang: Lang = "en"
    channel: str = ""
    thread: str = ""
    surface: Surface = "command"

    def metadata(self) -> str:
        """For the modal's private_metadata: no answers yet, and where they came from."""
        where = {"s": self.surface}
        if self.channel:
            where["c"] = self.channel
        if self.thread:
            where["t"] = self.thread
        return encode_answers({}, self.lang, **where)

    @classmethod
    def from_metadata(cls, rules: Rules, metadata: str | None) -> Origin:
        decoded = decode_answers(rules, metadata)
        if decoded is None:  # not written by platbot: answer in a DM, which always works
            return cls(surface="home")
        _, lang, extra = decoded
        surface = extra.get("s", "command")
        return cls(
            lang,
            extra.get("c", ""),
            extra.get("t", ""),
            surface if surface in _SURFACES else "command",  # type: ignore[arg-type]
        )

    @classmethod
    def of_click(cls, body: dict[str, Any], lang: Lang) -> Origin:
        """Under an answer: its channel and thread. On App Home there is no channel."""
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        if not channel:
            return cls(lang, surface="home")
        thread = str((body.get("message") or {}).get("thread_ts") or container.get("thread_ts") or "")
        # Which way the answer came: an ephemeral one from the command, a public one from a mention.
        surface: Surface = "command" if container.get("is_ephemeral") else "mention"
        if channel.startswith("D"):
            surface = "dm"
        return cls(lang, channel, thread, surface)


def register(app: App, deps: Deps) -> None:
    def choose_requested(command: dict[str, Any]) -> bool:
        return is_choose(command.get("text") or "")

    def open_from_command(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        lang = parse.help_lang(command.get("text") or "")
        rules = _rules(deps)
        if rules is None:
            respond(response_type="ephemeral", **_unavailable(deps, lang).as_kwargs())
            return
        origin = Origin(lang, str(command.get("channel_id") or ""), surface="command")
        client.views_open(trigger_id=command["trigger_id"], view=advisor_modal(deps.kb, rules, lang, origin.metadata()))

    def open_from_button(body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient) -> None:
        lang = _lang_of(action.get("value"))
        rules = _rules(deps)
        if rules is None:
            _tell_clicker(body, respond, client, _unavailable(deps, lang))
            return
        origin = Origin.of_click(body, lang)
        client.views_open(trigger_id=body["trigger_id"], view=advisor_modal(deps.kb, rules, lang, origin.metadata()))

    def check_answers(ack: Ack, view: dict[str, Any]) -> None:
        """The ack: answers that cannot stand keep the modal open, each problem under its
        question; otherwise the modal closes and `post_advice` answers."""
        rules = _rules(deps)
        errors = _errors(deps, rules, view) if rules is not None else {}
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()

    def post_advice(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        started = time.monotonic()
        user = str((body.get("user") or {}).get("id") or "")
        rules = _rules(deps)
        if rules is None:  # gone since the modal opened: say so in a DM
            unavailable = _unavailable(deps, _lang_of(view.get("private_metadata")))
            _send_privately(deps, client, body, user, Origin(surface="home"), lambda _: unavailable)
            return
        origin = Origin.from_metadata(rules, view.get("private_metadata"))
        answers = answers_from_view(rules, view)
        advice = advise(rules, answers)
        if modal_errors(deps.kb, rules, answers, advice, origin.lang):
            return  # the ack kept the modal open and showed them: nothing to post

        def render(shareable: bool) -> blocks.Message:
            return advice_message(deps.kb, rules, advice, origin.lang, shareable=shareable)

        _send_privately(deps, client, body, user, origin, render, bot=context.bot_user_id)
        recording.record_advice(
            deps,
            context,
            surface=origin.surface,
            lang=origin.lang,
            text=" ".join(["choose", *(f"{q}={','.join(a)}" for q, a in answers.items())]),
            started=started,
            channel_id=origin.channel or None,
        )

    def share_advice(body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient) -> None:
        rules = _rules(deps)
        decoded = decode_answers(rules, action.get("value")) if rules is not None else None
        if rules is None or decoded is None:  # the advisor was removed, or its questions changed
            lang = _lang_of(action.get("value"))
            gone = _unavailable(deps, lang) if rules is None else _stale(deps, lang)
            respond(response_type="ephemeral", replace_original=False, **gone.as_kwargs())
            return
        answers, lang, _ = decoded
        user = str((body.get("user") or {}).get("id") or "")
        message = advice_message(deps.kb, rules, advise(rules, answers), lang, shared_by=user)
        origin = Origin.of_click(body, lang)
        posted = False
        if origin.channel:
            try:
                client.chat_postMessage(channel=origin.channel, thread_ts=origin.thread or None, **message.as_kwargs())
                posted = True
            except SlackApiError as error:
                if failures.error_code(error) not in deliver.CANNOT_POST_HERE:
                    raise
                failures.recovered(error, body, deps.log, "shared it through the response URL")
        if not posted:  # the response URL posts even where the bot may not
            respond(response_type="in_channel", replace_original=False, **message.as_kwargs())
        # Shared for everyone: the private copy goes, as with a shared answer.
        respond(delete_original=True)

    app.command(deps.command, matchers=[choose_requested])(ack=acknowledge, lazy=[guarded(open_from_command, deps)])
    app.action(ACTION_CHOOSE)(ack=acknowledge, lazy=[guarded(open_from_button, deps)])
    app.view_submission(VIEW_ADVISOR)(ack=check_answers, lazy=[guarded(post_advice, deps)])
    app.action(ACTION_SHARE_ADVICE)(ack=acknowledge, lazy=[guarded(share_advice, deps)])


def _rules(deps: Deps) -> Rules | None:
    """The advisor's rules from the knowledge version serving; None without an advisor.yaml.
    A broken entry is left out (`platbot check` names it), as a broken topic is."""
    rules, _ = load_rules(deps.kb.roots)
    return rules


def _errors(deps: Deps, rules: Rules, view: dict[str, Any]) -> dict[str, str]:
    """{question id: what is wrong} for the answers in a submitted modal; empty when they stand.
    Without the what-would-change search, which the errors do not need: this runs in the ack."""
    lang = Origin.from_metadata(rules, view.get("private_metadata")).lang
    answers = answers_from_view(rules, view)
    advice: Advice = advise(rules, answers, explore=False)
    return modal_errors(deps.kb, rules, answers, advice, lang)


def _send_privately(
    deps: Deps,
    client: WebClient,
    body: dict[str, Any],
    user: str,
    origin: Origin,
    render: Callable[[bool], blocks.Message],
    bot: str | None = None,
) -> None:
    """To `user` alone: an ephemeral message (with Share) where the modal was opened, else a
    DM; a channel the bot cannot post in gets the DM too, with a line saying why."""
    if origin.channel:
        try:
            client.chat_postEphemeral(
                channel=origin.channel, user=user, thread_ts=origin.thread or None, **render(True).as_kwargs()
            )
            return
        except SlackApiError as error:
            if failures.error_code(error) not in deliver.CANNOT_POST_HERE:
                raise
            failures.recovered(error, body, deps.log, "sent the recommendation in a DM")
            there = blocks.notice(deps.kb, "cannot_post_there", origin.lang, channel=origin.channel, bot=bot or "")
            client.chat_postMessage(channel=user, **deliver.with_note(there, render(False)).as_kwargs())
            return
    # A user id as the channel posts in the app's DM with that user; the DM is private already.
    client.chat_postMessage(channel=user, **render(False).as_kwargs())


def _tell_clicker(body: dict[str, Any], respond: Respond, client: WebClient, message: blocks.Message) -> None:
    """Under a message, by its response URL; on App Home, which has none, in a DM."""
    if body.get("response_url"):
        respond(response_type="ephemeral", replace_original=False, **message.as_kwargs())
    else:
        client.chat_postMessage(channel=body["user"]["id"], **message.as_kwargs())


def _lang_of(value: str | None) -> Lang:
    """The language a "Help me choose" or Share button was rendered in, whatever the rules."""
    try:
        data = json.loads(value or "")
    except (ValueError, RecursionError):
        return "en"
    lang = data.get("l") if isinstance(data, dict) else None
    return lang if lang in LANGS else "en"


def _unavailable(deps: Deps, lang: Lang) -> blocks.Message:
    return blocks.notice(deps.kb, "advisor_unavailable", lang)


def _stale(deps: Deps, lang: Lang) -> blocks.Message:
    return blocks.notice(deps.kb, "advisor_stale", lang, command=deps.command)
