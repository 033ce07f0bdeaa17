"""`platbot digest`: post the week in numbers, and how to act on them, to the curators' channel.

    status = run_digest(os.environ, kb, matcher)    # 0: posted; 1: Slack refused (one line on stderr)

It reads the same environment as `platbot serve` (SLACK_BOT_TOKEN, SLACK_API_URL, the store's
PLATBOT_DATABASE_URL) plus PLATBOT_CURATOR_CHANNEL, posts once with chat.postMessage, and ends:
a scheduler (EventBridge Scheduler, cron, a Procfile `clock` process) runs it each week.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TextIO

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.errors import SettingsError
from bot.kb.model import KnowledgeBase, Lang
from bot.matcher import Matcher
from bot.render.digest import week_message
from bot.slack.app import client_timeout, make_client
from bot.slack.curators import curator_channel_setting
from bot.store import engine_from_env
from bot.store.digest import week_in_numbers

EXIT_POSTED, EXIT_REFUSED = 0, 1


def run_digest(
    env: Mapping[str, str],
    kb: KnowledgeBase,
    matcher: Matcher,
    *,
    lang: Lang = "en",
    now: datetime | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Post the digest of the 7 days before `now`. A bad setting or an unreadable store raises
    (SettingsError, StoreError: the CLI prints them); Slack refusing the post is exit code 1."""
    settings = Settings.from_env(env)
    channel = curator_channel_setting(env)
    if channel is None:
        raise SettingsError("PLATBOT_CURATOR_CHANNEL is not set: give the id of the channel the digest goes to")
    engine = engine_from_env(env)
    try:
        week = week_in_numbers(engine, kb, matcher, now=now)
    finally:
        engine.dispose()
    message = week_message(kb, week, lang, with_actions=True)
    client = make_client(settings, timeout=client_timeout(env))
    try:
        client.chat_postMessage(channel=channel, unfurl_links=False, **message.as_kwargs())
    except SlackApiError as error:
        reason = error.response.get("error") or f"HTTP {error.response.status_code}"
        hint = ": invite platbot to that channel" if reason in ("not_in_channel", "channel_not_found") else ""
        print(f"platbot: error: Slack refused the digest for {channel} ({reason}){hint}", file=err or sys.stderr)
        return EXIT_REFUSED
    except OSError as error:  # no answer at all: DNS, refused connection, timeout
        print(f"platbot: error: cannot reach Slack to post the digest: {error}", file=err or sys.stderr)
        return EXIT_REFUSED
    print(f"posted the digest of {week.questions} questions to {channel}", file=out or sys.stdout)
    return EXIT_POSTED
