"""`platbot serve`: run the Slack app in Socket Mode or over HTTP (gunicorn), from the environment.

    platbot serve [auto]   SLACK_APP_TOKEN set -> Socket Mode, otherwise HTTP
    platbot serve socket   a WebSocket to Slack, no public URL needed
    platbot serve http     gunicorn on $PORT: POST /slack/events, GET /healthz

Both start the same way: settings checked, knowledge loaded, the bot token verified with
auth.test; any failure ends as one line on stderr and a non-zero exit, before serving.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.error import URLError

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.config import Mode, Settings
from bot.errors import PlatbotError, SettingsError
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.app import build_app, load_engine
from bot.slack.dedupe import EventLog, SeenEvents, SharedSeenEvents
from bot.slack.redact import configure_logging
from bot.slack.wsgi import GunicornServer, gunicorn_options, make_wsgi

EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
log = logging.getLogger("platbot.serve")


class Server(Protocol):
    app: App

    def run(self) -> int: ...


@dataclass
class HttpServer:
    app: App
    options: dict[str, Any]
    health: dict[str, Any]
    seen_events: Path  # the workers' shared record of handled event ids

    def run(self) -> int:
        log.info("serving Slack over HTTP on %s", self.options["bind"][0])
        master = os.getpid()
        try:
            GunicornServer(make_wsgi(self.app, self.health), self.options).run()
        except SystemExit as stop:  # gunicorn's arbiter and workers leave through sys.exit
            if stop.code is None:
                return EXIT_OK
            return stop.code if isinstance(stop.code, int) else EXIT_FAILED
        finally:
            # Workers are forked inside run() and unwind through here too: only the master
            # may remove what the workers still share.
            if os.getpid() == master:
                shutil.rmtree(self.seen_events, ignore_errors=True)
        return EXIT_OK


@dataclass
class SocketModeServer:
    app: App
    handler: SocketModeHandler

    def run(self) -> int:
        # Platforms stop workers with SIGTERM: leave the wait below and close the socket.
        signal.signal(signal.SIGTERM, _exit_quietly)
        try:
            self.handler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.handler.close()
        return EXIT_OK


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """`platbot serve [auto|socket|http] [options]`; the exit code once serving stops."""
    args = _parser().parse_args(argv)
    env = os.environ if env is None else env
    mode: Mode | None = None if args.mode == "auto" else args.mode
    try:
        settings = Settings.from_env(env, mode=mode)
    except SettingsError as exc:
        print(f"platbot: error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    log_level = (args.log_level or env.get("LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in _LOG_LEVELS:
        print(f"platbot: error: LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}", file=sys.stderr)
        return EXIT_SETTINGS
    configure_logging(log_level, settings.secrets())
    try:
        workers = args.workers or _web_concurrency(env)
        server = prepare(
            settings,
            knowledge=args.knowledge,
            bind=args.bind,
            workers=workers,
            threads=args.threads,
            log_level=log_level,
        )
    except PlatbotError as exc:
        print(f"platbot: error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS if isinstance(exc, SettingsError) else EXIT_FAILED
    return server.run()


def prepare(
    settings: Settings,
    *,
    knowledge: Path | None = None,
    bind: str | None = None,
    workers: int = 2,
    threads: int = 8,
    log_level: str = "INFO",
) -> Server:
    """Everything short of serving: the knowledge, the app with its listeners, the server.

    The HTTP app is built here, before gunicorn forks its workers, so a bad token or an
    empty knowledge base stops start-up once, with one line.
    """
    kb, matcher = load_engine(knowledge)
    if settings.app_token is not None:
        app = _verified_app(settings, kb, matcher, SeenEvents())
        return SocketModeServer(app, SocketModeHandler(app, settings.app_token.reveal()))
    seen_events = Path(tempfile.mkdtemp(prefix="platbot-events-"))
    try:
        app = _verified_app(settings, kb, matcher, SharedSeenEvents(seen_events))
    except PlatbotError:
        shutil.rmtree(seen_events, ignore_errors=True)
        raise
    options = gunicorn_options(bind or f"0.0.0.0:{settings.port}", workers, threads, log_level)
    return HttpServer(app, options, {"topics": len(kb.topics)}, seen_events)


def _verified_app(settings: Settings, kb: KnowledgeBase, matcher: Matcher, seen: EventLog) -> App:
    try:
        return build_app(settings, kb, matcher, seen=seen)
    except BoltError as exc:
        # bolt raises this from inside its SlackApiError handler for auth.test.
        cause = exc.__context__
        code = cause.response.get("error", "error") if isinstance(cause, SlackApiError) else "error"
        raise SettingsError(
            f"SLACK_BOT_TOKEN was rejected by Slack's auth.test ({code}): reinstall the app to the "
            "workspace and copy the Bot User OAuth Token again from OAuth & Permissions"
        ) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PlatbotError(
            f"cannot reach the Slack Web API at {settings.api_url} ({reason}); check SLACK_API_URL"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platbot serve", description="Run the Slack app.")
    parser.add_argument(
        "mode",
        nargs="?",
        choices=("auto", "socket", "http"),
        default="auto",
        help="auto (default): Socket Mode when SLACK_APP_TOKEN is set, else HTTP",
    )
    parser.add_argument("--bind", help="HTTP address, gunicorn syntax (default: 0.0.0.0:$PORT)")
    parser.add_argument("--workers", type=_positive, help="HTTP worker processes (default: $WEB_CONCURRENCY or 2)")
    parser.add_argument("--threads", type=_positive, default=8, help="threads per HTTP worker (default: 8)")
    parser.add_argument("--knowledge", type=Path, metavar="DIR", help="knowledge directory")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LOG_LEVELS,
        help="default: $LOG_LEVEL or INFO",
    )
    return parser


def _web_concurrency(env: Mapping[str, str]) -> int:
    """Heroku and others set WEB_CONCURRENCY to the worker count that suits the machine."""
    value = (env.get("WEB_CONCURRENCY") or "2").strip()
    if not value.isdigit() or int(value) < 1:
        raise SettingsError("WEB_CONCURRENCY must be a whole number of worker processes, at least 1")
    return int(value)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
