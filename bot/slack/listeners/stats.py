"""`/platform stats`: the week in numbers, for curators only, as a private reply.

Registered before the command's question listener (bot/slack/listeners/commands.py): bolt runs
the first listener whose matchers match, so `stats` never reaches the matcher as a question.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.render import blocks
from bot.render.digest import week_message
from bot.slack import parse
from bot.slack.curators import Curators
from bot.slack.deps import Deps
from bot.slack.failures import guarded
from bot.slack.listeners import acknowledge
from bot.store.digest import week_in_numbers

_STATS_WORDS = frozenset({"stats", "統計"})


def is_stats(text: str) -> bool:
    """`/platform stats` (or 統計) asks for the curators' figures, not an answer."""
    return text.strip().casefold() in _STATS_WORDS


def register(app: App, deps: Deps, curators: Curators | None) -> None:
    def stats_requested(command: dict[str, Any]) -> bool:
        return is_stats(command.get("text") or "")

    def show_stats(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer_stats(deps, curators, command, respond, client)

    app.command(deps.command, matchers=[stats_requested])(ack=acknowledge, lazy=[guarded(show_stats, deps)])


def answer_stats(
    deps: Deps,
    curators: Curators | None,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    *,
    now: datetime | None = None,
) -> None:
    """Reply to one `/platform stats` with the figures, or say why not (not a curator, no store)."""
    text = command.get("text") or ""
    lang = parse.help_lang(text)
    user_id = str(command.get("user_id") or "")
    recorder = deps.recorder.get() if deps.recorder is not None else None
    if curators is None or not curators.includes(user_id, client):
        message = blocks.notice(deps.kb, "stats_curators_only", lang, command=deps.command)
    elif recorder is None:
        message = blocks.notice(deps.kb, "stats_no_store", lang)
    else:
        week = week_in_numbers(recorder.engine, deps.kb, deps.matcher, now=now)
        message = week_message(deps.kb, week, lang)
    respond(response_type="ephemeral", **message.as_kwargs())
