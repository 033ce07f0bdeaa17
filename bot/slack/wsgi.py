"""The HTTP face of the app: Slack at POST /slack/events and GET /healthz, served by gunicorn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

SLACK_PATH = "/slack/events"  # Slack's convention; the manifest's request URLs end with it
HEALTH_PATH = "/healthz"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi(app: App, health: Mapping[str, Any] | None = None) -> WSGIApp:
    """Bolt's WSGI adapter plus a health endpoint that load balancers and platforms can poll."""
    slack = SlackRequestHandler(app, path=SLACK_PATH)
    healthy = json.dumps({"ok": True, **(health or {})}).encode()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(healthy)))])
            return [healthy]
        return slack(environ, start_response)

    return application


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn run from Python with an app already built, so start-up errors surface before
    any worker forks; `options` are gunicorn settings (bind, threads...)."""

    def __init__(self, application: WSGIApp, options: Mapping[str, Any]) -> None:
        self._application = application
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApp:
        return self._application


def gunicorn_options(bind: str, workers: int, threads: int, log_level: str) -> dict[str, Any]:
    return {
        "bind": [bind],
        # A process per core: one Python process is bound by its GIL well before two cores
        # are (on a 2-core machine two workers ack three times the load of one). Threads
        # cover the waits; the work itself runs on bolt's pool after the ack.
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "loglevel": log_level.lower(),
        "accesslog": None,
        "proc_name": "platbot",
        # gunicorn >= 24 opens a control socket under $HOME by default; platbot has no use for it.
        "control_socket_disable": True,
    }
