"""`platbot serve`: run the Slack app in Socket Mode or over HTTP (gunicorn), from the environment.

    platbot serve [auto]   SLACK_APP_TOKEN set -> Socket Mode, otherwise HTTP
    platbot serve socket   a WebSocket to Slack, no public URL needed
    platbot serve http     gunicorn on $PORT: POST /slack/events, GET /healthz

Both start the same way: settings checked, knowledge loaded, the bot token verified with
auth.test; any failure ends as one line on stderr and a non-zero exit, before serving.
gunicorn is imported only then: it reads WEB_CONCURRENCY when imported, unchecked.

SIGHUP reloads the knowledge (`--watch`: whenever a knowledge file changes); a version that
fails its checks is refused and the previous one keeps serving (bot/slack/reload.py). Over
HTTP the gunicorn master reloads and checks it, then signals each worker to swap its engine
in place (`_reload_hooks`); in Socket Mode the process swaps its own.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.cache import fingerprint
from bot.config import DEFAULT_THREADS, MAX_THREADS, MAX_WORKERS, Mode, Settings, web_concurrency, whole_number
from bot.errors import PlatbotError, SettingsError
from bot.kb.layers import Layers, layers_from_env
from bot.kb.load import as_layers
from bot.slack.app import build_app, load_engine
from bot.slack.dedupe import EventLog, SeenEvents, SharedSeenEvents
from bot.slack.failures import TOKEN_ERRORS
from bot.slack.recording import DailyPrune, ProcessRecorder, StoreSeenEvents, open_store
from bot.slack.redact import LOG_FORMATS, configure_logging
from bot.slack.reload import DEFAULT_WATCH_SECONDS, LiveEngine, Watcher
from bot.store import StoreSettings

EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
log = logging.getLogger("platbot.serve")


class Server(Protocol):
    app: App

    def run(self) -> int: ...


@dataclass
class HttpServer:
    app: App
    application: Any  # the WSGI app gunicorn serves: bot.slack.wsgi.SlackEdge in front of `app`
    options: dict[str, Any]
    seen_events: Path  # the workers' shared record of handled event ids

    def run(self) -> int:
        from bot.slack.wsgi import GunicornServer

        log.info("serving Slack over HTTP on %s", self.options["bind"][0])
        master = os.getpid()
        try:
            GunicornServer(self.application, self.options).run()
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
    live: LiveEngine | None = None
    watcher: Watcher | None = None

    def run(self) -> int:
        # Platforms stop workers with SIGTERM: leave the wait below and close the socket.
        signal.signal(signal.SIGTERM, _exit_quietly)
        self.listen_for_reloads()
        try:
            self.handler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.handler.close()
        return EXIT_OK

    def listen_for_reloads(self) -> None:
        """SIGHUP, and the watcher with --watch, reload the knowledge within this process."""
        if self.live is not None:
            signal.signal(signal.SIGHUP, self._reload_soon)
        if self.watcher is not None:
            self.watcher.start()

    def _reload_soon(self, signum: int, frame: object) -> None:
        if self.live is not None:
            _in_thread(self.live.reload)


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
    log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        print(f"platbot: error: LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}", file=sys.stderr)
        return EXIT_SETTINGS
    store: StoreSettings | None = None
    unrecorded: str | None = None
    if not args.no_record:
        try:
            store = StoreSettings.from_env(env)
        except SettingsError as exc:
            print(f"platbot: error: {exc}", file=sys.stderr)
            return EXIT_SETTINGS
        except OSError as exc:  # the default SQLite file's directory cannot be made: answer anyway
            unrecorded = f"{exc.strerror}: {exc.filename}"
    secrets = (*settings.secrets(), *((store.user_hash_key.reveal(),) if store else ()))
    configure_logging(log_level, secrets, log_format)
    if unrecorded:
        log.warning(
            "questions are not recorded (%s): set PLATBOT_DATABASE_URL or XDG_DATA_HOME, or pass --no-record",
            unrecorded,
        )
    try:
        workers = web_concurrency(env)  # checked even when --workers overrides it: gunicorn reads it
        if env is os.environ and "WEB_CONCURRENCY" in env:
            os.environ["WEB_CONCURRENCY"] = str(workers)  # gunicorn's bare int() takes no " 2" or ""
        workers = args.workers or workers
        server = prepare(
            settings,
            knowledge=layers_from_env(env, args.knowledge, no_bundled=args.no_bundled),
            bind=args.bind,
            workers=workers,
            threads=args.threads,
            log_level=log_level,
            watch=args.watch_every if args.watch else None,
            store=store,
        )
    except PlatbotError as exc:
        print(f"platbot: error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS if isinstance(exc, SettingsError) else EXIT_FAILED
    return server.run()


def prepare(
    settings: Settings,
    *,
    knowledge: Path | Layers | None = None,
    bind: str | None = None,
    workers: int = 2,
    threads: int = DEFAULT_THREADS,
    log_level: str = "INFO",
    watch: float | None = None,
    store: StoreSettings | None = None,
) -> Server:
    """Everything short of serving: the knowledge, the app with its listeners, the server.

    The HTTP app is built here, before gunicorn forks its workers, so a bad token or an
    empty knowledge base stops start-up once, with one line. `watch`: seconds between checks
    of the knowledge directory for changes; None: reload on SIGHUP only. `store`: where the
    questions are recorded, its migrations run here, once, before any worker starts; None:
    nothing is recorded.
    """
    address = bind or f"0.0.0.0:{settings.port}"
    if settings.app_token is None:
        _check_bind(address)
    layers = as_layers(knowledge)  # one directory alone, or layers; None: as the environment says
    loaded = fingerprint(layers) if watch is not None else None  # before loading: an edit meanwhile is seen
    kb, matcher = load_engine(layers)
    live = LiveEngine(layers, kb, matcher)
    recorder = None
    if store is not None:
        recorder = open_store(store)
        DailyPrune(store).start()  # in this process only: gunicorn's workers are forked without it
    if settings.app_token is not None:
        seen: EventLog = StoreSeenEvents(recorder, SeenEvents()) if recorder is not None else SeenEvents()
        app = _verified_app(settings, live, seen, recorder)
        if recorder is not None:
            atexit.register(recorder.close)
        watcher = Watcher(layers, live.reload, watch, seen=loaded) if watch is not None else None
        return SocketModeServer(app, SocketModeHandler(app, settings.app_token.reveal()), live, watcher)
    from bot.slack.wsgi import SlackEdge, gunicorn_options  # gunicorn: only once the settings are checked

    seen_events = Path(tempfile.mkdtemp(prefix="platbot-events-"))
    try:
        # With a store, the database says which events were answered, across workers and hosts;
        # without one, a directory the workers share on this host.
        shared = SharedSeenEvents(seen_events)
        app = _verified_app(settings, live, StoreSeenEvents(recorder, shared) if recorder else shared, recorder)
    except PlatbotError:
        shutil.rmtree(seen_events, ignore_errors=True)
        raise
    secret = settings.signing_secret.reveal() if settings.signing_secret else ""

    edge = SlackEdge(app, secret, lambda: {"topics": len(live.current.kb.topics)})
    options = gunicorn_options(address, workers, threads, log_level)
    options.update(_reload_hooks(live, layers, watch, loaded))
    if recorder is not None:
        options["worker_exit"] = lambda arbiter, worker: recorder.close()
    return HttpServer(app, edge, options, seen_events)


def _reload_hooks(live: LiveEngine, layers: Layers, watch: float | None, loaded: str | None) -> dict[str, Any]:
    """gunicorn hooks that reload the knowledge in place, in the master and then in each worker.

    gunicorn's own SIGHUP would replace the workers with new forks of the master: every
    reload, even a refused one, would cut off the requests in flight on the old workers.
    Instead the master loads and checks the new version first (so workers forked later start
    with it), and only if it is good tells each worker to reload too, which then reads the
    index the master just wrote.
    """

    def reload_everywhere(arbiter: Any) -> None:
        if live.reload():
            for pid in list(arbiter.WORKERS):
                with contextlib.suppress(ProcessLookupError):  # a worker that has just exited
                    os.kill(pid, signal.SIGHUP)

    def when_ready(arbiter: Any) -> None:
        # In the master, once gunicorn has set its own handlers (this replaces its SIGHUP one).
        signal.signal(signal.SIGHUP, lambda signum, frame: _in_thread(reload_everywhere, arbiter))
        if watch is not None:
            Watcher(layers, lambda: reload_everywhere(arbiter), watch, seen=loaded).start()

    def post_worker_init(worker: Any) -> None:
        # gunicorn resets SIGHUP in a worker to the default, which would end it.
        live.after_fork()
        signal.signal(signal.SIGHUP, lambda signum, frame: _in_thread(live.reload))

    return {"when_ready": when_ready, "post_worker_init": post_worker_init}


def _in_thread(function: Callable[..., object], *args: Any) -> None:
    """Run `function` off the signal handler: a load takes seconds, and a second signal meanwhile
    would otherwise wait, in the same thread, on the first one's lock."""
    threading.Thread(target=function, args=args, name="platbot-reload", daemon=True).start()


def _verified_app(settings: Settings, live: LiveEngine, seen: EventLog, recorder: ProcessRecorder | None) -> App:
    kb, matcher = live.current.kb, live.current.matcher
    try:
        return build_app(settings, kb, matcher, seen=seen, live=live, recorder=recorder)
    except BoltError as exc:
        # bolt raises this from inside its SlackApiError handler for auth.test.
        raise _auth_test_failure(settings, exc.__context__) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PlatbotError(
            f"cannot reach the Slack Web API at {settings.api_url} ({reason}); check SLACK_API_URL"
        ) from None


# auth.test's error codes that mean the token itself is wrong.
_SLACK_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")


def _auth_test_failure(settings: Settings, cause: BaseException | None) -> PlatbotError:
    """Why auth.test failed, in one line. Only Slack's own answer (JSON with an error code) can
    say that the token is wrong; anything else (an HTML page from a proxy, a gateway's error)
    means SLACK_API_URL does not lead to the Slack Web API."""
    host = _api_host(settings)
    if not isinstance(cause, SlackApiError):
        return PlatbotError(f"auth.test at {host} failed ({type(cause).__name__}); check SLACK_API_URL")
    data = cause.response.data
    code = data.get("error") if isinstance(data, dict) and isinstance(data.get("ok"), bool) else None
    if isinstance(code, str) and _SLACK_ERROR_CODE.fullmatch(code):
        if code in TOKEN_ERRORS:
            return SettingsError(
                f"SLACK_BOT_TOKEN was rejected by Slack's auth.test ({code}): reinstall the app to the "
                "workspace and copy the Bot User OAuth Token again from OAuth & Permissions"
            )
        return PlatbotError(f"Slack's auth.test at {host} failed ({code}); check SLACK_API_URL")
    headers = {name.lower(): value for name, value in cause.response.headers.items()}
    content_type = str(headers.get("content-type") or "no content type").split(";")[0]
    return PlatbotError(
        f"the Slack Web API at {host} answered auth.test with something unexpected "
        f"(HTTP {cause.response.status_code}, {content_type}), not Slack's JSON: check SLACK_API_URL "
        "and any proxy on the way"
    )


def _api_host(settings: Settings) -> str:
    """SLACK_API_URL's host and port: never a user or password it may carry."""
    return urlsplit(settings.api_url).netloc.rpartition("@")[2]


def _check_bind(bind: str) -> None:
    """gunicorn checks --bind only once serving starts, with a traceback: check it first."""
    if bind.startswith(("unix:", "fd://")):
        if bind.startswith("fd://") and whole_number(bind[5:]) is None:
            raise SettingsError("--bind fd://N needs a file descriptor number")
        return
    host, colon, port = bind.rpartition(":")
    number = whole_number(port) if colon else None
    if not host or number is None or number > 65535:
        raise SettingsError("--bind must be HOST:PORT (such as 0.0.0.0:3000), unix:PATH or fd://N")


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
    parser.add_argument(
        "--workers", type=_count(MAX_WORKERS), help="HTTP worker processes (default: $WEB_CONCURRENCY or 2)"
    )
    parser.add_argument(
        "--threads",
        type=_count(MAX_THREADS),
        default=DEFAULT_THREADS,
        help=f"threads per HTTP worker (default: {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--knowledge",
        type=Path,
        action="append",
        metavar="DIR",
        help="a knowledge directory layered over the bundled one; repeat for more (default: $PLATBOT_KNOWLEDGE)",
    )
    parser.add_argument("--no-bundled", action="store_true", help="leave out the bundled knowledge")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="keep no record of questions (default: record them in $PLATBOT_DATABASE_URL or a local SQLite file)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="reload the knowledge whenever a file in it changes (SIGHUP reloads it in any case)",
    )
    parser.add_argument(
        "--watch-every",
        type=_seconds,
        default=DEFAULT_WATCH_SECONDS,
        metavar="SECONDS",
        help=f"with --watch, how often to look for changes (default: {DEFAULT_WATCH_SECONDS:g})",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LOG_LEVELS,
        help="default: $LOG_LEVEL or INFO",
    )
    return parser


def _count(maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        number = whole_number(text)
        if number is None or not 1 <= number <= maximum:
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {maximum}")
        return number

    return parse


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("must be a number of seconds from 0.1 to 3600")
    return seconds


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
