"""Button clicks: show a topic (related, did-you-mean), record feedback, share an answer.

Whatever a click shows goes to the clicker alone: into the private reply it came from, or as
an ephemeral message in the thread of a public one. Sharing is the one way to post for all.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.kb.model import Lang
from bot.render import blocks
from bot.render.blocks import TopicRef
from bot.slack import recording
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge


def register(app: App, deps: Deps) -> None:
    def show_topic(body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ref = TopicRef.from_value(action.get("value"))
        topic = deps.kb.get(ref.topic_id) if ref else None
        private = _is_private(body)
        if ref is None or topic is None:  # a button from an older knowledge base
            message = blocks.notice(deps.kb, "unknown", ref.lang if ref else "en")
        else:
            message = blocks.answer_message(
                deps.kb, topic, ref.lang, question=ref.question, private=private, ref=ref.ref
            )
        # A pick answers the private "did you mean" it came from, so it replaces it.
        pick = str(action.get("action_id", "")).startswith(blocks.ACTION_PICK)
        _tell_clicker(body, respond, client, message, replace=private and pick)
        recording.record_action(deps, body, "pick" if pick else "related", ref)

    def record_feedback(body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient) -> None:
        vote = "up" if str(action.get("action_id", "")).endswith(":up") else "down"
        ref = TopicRef.from_value(action.get("value"))
        # A 👎 asks what was wrong; it is recorded when the modal is sent or closed.
        asked = vote == "down" and _ask_what_was_wrong(deps, body, client, ref, action.get("value") or "")
        topic = deps.kb.get(ref.topic_id) if ref else None  # only known ids reach the log
        deps.log.info(
            "feedback vote=%s topic=%s lang=%s user=%s channel=%s",
            vote,
            topic.id if topic else "?",
            ref.lang if ref else "?",
            (body.get("user") or {}).get("id"),
            (body.get("channel") or {}).get("id"),
        )
        thanks = blocks.feedback_thanks(deps.kb, ref.lang if ref else "en", vote)
        _tell_clicker(body, respond, client, thanks)
        if not asked:
            recording.record_action(deps, body, "feedback_up" if vote == "up" else "feedback_down", ref)

    def record_comment(body: dict[str, Any], view: dict[str, Any]) -> None:
        ref = TopicRef.from_value(view.get("private_metadata"))
        recording.record_action(deps, body, "feedback_down", ref, comment=blocks.feedback_comment(view))

    def share_answer(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ref = TopicRef.from_value(action.get("value"))
        topic = deps.kb.get(ref.topic_id) if ref else None
        if ref is None or topic is None:
            gone = blocks.notice(deps.kb, "unknown", ref.lang if ref else "en")
            respond(response_type="ephemeral", replace_original=False, **gone.as_kwargs())
            return
        user = (body.get("user") or {}).get("id", "")
        message = blocks.shared_message(deps.kb, topic, ref.lang, user_id=user, question=ref.question)
        # The response URL posts even where the bot is not a member of the channel.
        respond(response_type="in_channel", replace_original=False, **message.as_kwargs())
        respond(delete_original=True)
        recording.record_action(deps, body, "share", ref)

    def escalate(body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ref = TopicRef.from_value(action.get("value"))
        channel = deps.escalation_channel
        if ref is None or channel is None:  # a button from before the setting was removed
            return
        user = (body.get("user") or {}).get("id", "")
        where = _where_asked(deps, body, client, ref.lang)
        post = blocks.escalation_message(deps.kb, ref.lang, user_id=user, question=ref.question, where=where)
        client.chat_postMessage(channel=channel, unfurl_links=False, **post.as_kwargs())
        _tell_clicker(body, respond, client, blocks.notice(deps.kb, "escalation_sent", ref.lang, channel=channel))
        recording.record_action(deps, body, "escalate", ref)

    app.action(blocks.SHOW_TOPIC_ACTIONS)(ack=acknowledge, lazy=[guarded(show_topic, deps)])
    app.action(blocks.ACTION_ESCALATE)(ack=acknowledge, lazy=[guarded(escalate, deps)])
    # Sent or closed, the modal's 👎 is recorded once; sending closes it (an empty ack).
    app.view_submission(blocks.VIEW_FEEDBACK)(ack=acknowledge, lazy=[guarded(record_comment, deps)])
    app.view_closed(blocks.VIEW_FEEDBACK)(ack=acknowledge, lazy=[guarded(record_comment, deps)])
    app.action(blocks.FEEDBACK_ACTIONS)(ack=acknowledge, lazy=[guarded(record_feedback, deps)])
    app.action(blocks.ACTION_SHARE)(ack=acknowledge, lazy=[guarded(share_answer, deps)])


def _ask_what_was_wrong(deps: Deps, body: dict[str, Any], client: WebClient, ref: TopicRef | None, value: str) -> bool:
    """Open the "what was wrong?" modal; False when there is nothing to record it against or
    Slack would not open it (the 👎 is then recorded as it is)."""
    if ref is None or not ref.ref or deps.recorder is None or not body.get("trigger_id"):
        return False
    try:
        client.views_open(trigger_id=body["trigger_id"], view=blocks.feedback_modal(deps.kb, ref.lang, value))
    except SlackApiError as error:  # an expired trigger (over 3 s), a revoked token...
        deps.log.info("feedback modal not opened: %s", error.response.get("error", "unknown"))
        return False
    return True


def _where_asked(deps: Deps, body: dict[str, Any], client: WebClient, lang: Lang) -> str:
    """A link to the thread the question was asked in; for a private answer (the slash
    command's), which has no link, the channel."""
    channel = (body.get("channel") or {}).get("id", "")
    message = body.get("message") or {}
    if not _is_private(body) and message:
        try:
            found = client.chat_getPermalink(channel=channel, message_ts=message.get("thread_ts") or message["ts"])
            return deps.kb.message("escalated_where_thread", lang, link=found["permalink"])
        except (SlackApiError, KeyError):  # no link is no reason to keep the question from a person
            pass
    return deps.kb.message("escalated_where_channel", lang, channel=channel)


def _is_private(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def _tell_clicker(
    body: dict[str, Any], respond: Respond, client: WebClient, message: blocks.Message, replace: bool = False
) -> None:
    if _is_private(body):
        respond(response_type="ephemeral", replace_original=replace, **message.as_kwargs())
        return
    thread = (body.get("message") or {}).get("thread_ts")
    client.chat_postEphemeral(
        channel=body["channel"]["id"], user=body["user"]["id"], thread_ts=thread, **message.as_kwargs()
    )
