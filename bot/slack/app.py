"""Build the bolt App from its dependencies: settings, knowledge, matcher and a Slack client."""

from __future__ import annotations

import logging
from pathlib import Path

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.cache import load_matcher
from bot.config import Settings
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack import failures
from bot.slack.dedupe import EventLog, SeenEvents, skip_repeats
from bot.slack.deps import Deps
from bot.slack.listeners import actions, commands, home, mentions, messages

LOGGER_NAME = "platbot.slack"


def load_engine(root: Path | None = None) -> tuple[KnowledgeBase, Matcher]:
    """The knowledge base and its matcher. A broken topic is left out with a warning, so one
    bad edit never takes the bot down; no topic at all is an error."""
    kb, problems, matcher = load_matcher(root)
    for problem in problems:
        logging.getLogger(LOGGER_NAME).warning("knowledge: %s (topic left out; run `platbot check`)", problem)
    return kb, matcher


def make_client(settings: Settings) -> WebClient:
    """A Web API client that waits out rate limits (Retry-After) and retries 5xx answers."""
    return WebClient(
        token=settings.bot_token.reveal(),
        base_url=settings.api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class _SameTokenWarning(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment on its own, then warns that the given
    client's token wins. It is the same token: the warning would only puzzle operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_app(
    settings: Settings,
    kb: KnowledgeBase,
    matcher: Matcher,
    client: WebClient | None = None,
    *,
    seen: EventLog | None = None,
    logger: logging.Logger | None = None,
) -> App:
    """The app with every listener registered. Calls auth.test once, to fail fast on a bad token.

    Every listener is an ack plus lazy work, so bolt runs with `process_before_response=True`
    in every mode: the ack runs in the request's own thread and the response leaves at once
    (otherwise bolt runs the ack on its pool and polls for it every 10 ms, behind queued
    work), while the work runs on bolt's pool or, on AWS Lambda, in a new invocation: Lambda
    may freeze the process as soon as the response is returned.
    """
    log = logger or logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, _SameTokenWarning) for f in log.filters):
        log.addFilter(_SameTokenWarning())
    secret = settings.signing_secret.reveal() if settings.signing_secret else ""
    app = App(
        name="platbot",
        client=client or make_client(settings),
        signing_secret=secret,
        process_before_response=True,
        logger=log,
    )
    app.use(skip_repeats(seen if seen is not None else SeenEvents(), log))
    failures.register(app, log)
    deps = Deps(kb=kb, matcher=matcher, command=settings.command, log=log)
    for listeners in (mentions, messages, commands, actions, home):
        listeners.register(app, deps)
    return app
