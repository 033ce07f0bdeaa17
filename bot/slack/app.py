"""Build the bolt App from its dependencies: settings, knowledge, matcher and a Slack client."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from slack_bolt import App
from slack_sdk import WebClient

from bot.cache import load_matcher
from bot.config import Settings
from bot.errors import SettingsError
from bot.kb.layers import Layers
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack import failures
from bot.slack.backlog import BoundedExecutor
from bot.slack.curators import curators_setting
from bot.slack.dedupe import EventLog, SeenEvents, skip_repeats
from bot.slack.deps import Deps, RecorderSource
from bot.slack.listeners import actions, advisor, commands, home, mentions, messages, stats
from bot.slack.ratelimit import Limit, RateLimiter
from bot.slack.reload import LiveDeps, LiveEngine, PinningExecutor

LOGGER_NAME = "platbot.slack"
DEFAULT_TIMEOUT = 30.0  # seconds for one Web API call; slack_sdk's own default


def load_engine(knowledge: Path | Layers | None = None) -> tuple[KnowledgeBase, Matcher]:
    """The knowledge base and its matcher (None: the layers the environment asks for). A broken
    topic is left out with a warning, so one bad edit never takes the bot down; no topic at
    all is an error."""
    kb, problems, matcher = load_matcher(knowledge)
    for problem in problems:
        logging.getLogger(LOGGER_NAME).warning("knowledge: %s (topic left out; run `platbot check`)", problem)
    return kb, matcher


def make_client(
    settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, log: logging.Logger | None = None
) -> WebClient:
    """A Web API client that retries a call at most once: after a 429 (waiting Retry-After), a
    500/503, or a connection that could not be opened; never after a timeout (see failures)."""
    sdk_log = logging.getLogger("slack_sdk.web.base_client")  # the logger slack_sdk uses anyway
    if not any(isinstance(f, failures.SdkRetryChatter) for f in sdk_log.filters):
        sdk_log.addFilter(failures.SdkRetryChatter())
    return WebClient(
        token=settings.bot_token.reveal(),
        base_url=settings.api_url,
        timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds
        logger=sdk_log,
        retry_handlers=failures.retry_handlers(log or logging.getLogger(LOGGER_NAME)),
    )


def client_timeout(env: Mapping[str, str]) -> float:
    """`PLATBOT_SLACK_TIMEOUT`: seconds to wait for one Web API call (default 30)."""
    value = (env.get("PLATBOT_SLACK_TIMEOUT") or "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 300:
        raise SettingsError("PLATBOT_SLACK_TIMEOUT must be a number of seconds between 0 and 300, such as 30")
    return seconds


def rate_limiter(env: Mapping[str, str]) -> RateLimiter | None:
    """`PLATBOT_RATE_LIMIT`, such as `10/60`: questions per user per workspace; unset or `off`: none."""
    limit = Limit.parse(env.get("PLATBOT_RATE_LIMIT"))
    return RateLimiter(limit) if limit is not None else None


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
    limiter: RateLimiter | None = None,
    env: Mapping[str, str] | None = None,
    live: LiveEngine | None = None,
    recorder: RecorderSource | None = None,
) -> App:
    """The app with every listener registered. Calls auth.test once, to fail fast on a bad token.

    Every listener is an ack plus lazy work, so bolt runs with `process_before_response=True`
    in every mode: the ack runs in the request's own thread and the response leaves at once
    (otherwise bolt runs the ack on its pool and polls for it every 10 ms, behind queued
    work), while the work runs on bolt's pool or, on AWS Lambda, in a new invocation: Lambda
    may freeze the process as soon as the response is returned.

    The per-user limit and the client's timeout come from `env` (default: the environment)
    unless given. Build the app before forking workers: they then share the limiter's counts.

    With `live`, listeners read the knowledge base and matcher from it, so `live.reload()`
    changes what the app answers; each request keeps the version it arrived with.
    """
    env = os.environ if env is None else env
    log = logger or logging.getLogger(LOGGER_NAME)
    if limiter is None:
        limiter = rate_limiter(env)  # a malformed setting stops start-up before any call to Slack
    if client is None:
        client = make_client(settings, timeout=client_timeout(env), log=log)
    if not any(isinstance(f, _SameTokenWarning) for f in log.filters):
        log.addFilter(_SameTokenWarning())
    secret = settings.signing_secret.reveal() if settings.signing_secret else ""
    app = App(
        name="platbot",
        client=client,
        signing_secret=secret,
        process_before_response=True,
        logger=log,
        # a bounded pool (bot/slack/backlog.py), each lazy listener pinned to its request's knowledge version
        listener_executor=PinningExecutor(live) if live is not None else BoundedExecutor(),
    )
    app.use(skip_repeats(seen if seen is not None else SeenEvents(), log))
    failures.register(app, log)
    deps: Deps
    if live is not None:
        deps = LiveDeps(
            live,
            command=settings.command,
            log=log,
            limiter=limiter,
            recorder=recorder,
            escalation_channel=settings.escalation_channel,
        )
    else:
        deps = Deps(
            kb=kb,
            matcher=matcher,
            command=settings.command,
            log=log,
            limiter=limiter,
            recorder=recorder,
            escalation_channel=settings.escalation_channel,
        )
    stats.register(app, deps, curators_setting(env))  # before commands: `stats` is not a question
    advisor.register(app, deps)  # before commands too: nor is `choose`
    for listeners in (mentions, messages, commands, actions, home):
        listeners.register(app, deps)
    return app
