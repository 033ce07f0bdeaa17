"""Fixtures: a fake Slack Web API, and platbot's real HTTP server (gunicorn) pointed at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.config import Settings
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.app import load_engine
from tests.slack.fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSender

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def engine() -> tuple[KnowledgeBase, Matcher]:
    return load_engine()


@pytest.fixture
def settings(fake_slack: FakeSlack) -> Settings:
    return Settings.from_env(
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.api_url}
    )


class RunningServer:
    """`platbot serve` in HTTP mode, in its own process, as it runs in production."""

    def __init__(self, port: int, log_path: Path, pid: int) -> None:
        self.port = port
        self.log_path = log_path
        self.pid = pid

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the server log")
            time.sleep(0.02)
        return log


@contextmanager
def serving(api_url: str, log_path: Path, *args: str, stderr_only: bool = False, **env: str) -> Iterator[RunningServer]:
    """`platbot serve http` with two gunicorn workers, its output in `log_path`, until the block ends.

    The test binds the port and hands the socket to gunicorn (fd://), so there is no race for a
    free port and nothing listens beyond 127.0.0.1. `args` go on the command line, `env` into
    the environment (`PLATBOT_KNOWLEDGE` defaults to the bundled knowledge)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    fd = listener.fileno()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "PLATBOT_KNOWLEDGE": str(REPO / "knowledge"),
        # The questions are recorded (SQLite by default) beside the log, never in the user's home.
        "XDG_DATA_HOME": str(log_path.parent / "data"),
        **env,
    }
    argv = [sys.executable, "-m", "bot.slack.serve", "http", f"--bind=fd://{fd}", "--workers", "2", *args]
    with open(log_path, "wb") as log_file:
        stdout = subprocess.DEVNULL if stderr_only else log_file
        process = subprocess.Popen(argv, cwd=REPO, env=environment, stdout=stdout, stderr=log_file, pass_fds=(fd,))
    server = RunningServer(listener.getsockname()[1], log_path, process.pid)
    try:
        wait_until_healthy(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        listener.close()


@pytest.fixture(scope="session")
def http_server(fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path = tmp_path_factory.mktemp("server") / "platbot.log"
    # DEBUG, so the test that no token is ever logged looks at everything bolt and slack_sdk say.
    with serving(fake_slack.api_url, log_path, "--log-level", "DEBUG") as server:
        yield server


def wait_until_healthy(server: RunningServer, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until /healthz answers 200; the log in the failure if the process exits or never does."""
    sender = SlackSender(server.port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"platbot serve exited with {process.returncode}:\n{server.log()}")
        try:
            if sender.request("GET", "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"platbot serve did not become healthy:\n{server.log()}")


@pytest.fixture
def slack(http_server: RunningServer, fake_slack: FakeSlack) -> SlackSender:
    """Sends signed requests to the running server; the fake Web API starts each test empty."""
    fake_slack.reset()
    return SlackSender(http_server.port)


@pytest.fixture(scope="session")
def html_api_url() -> Iterator[str]:
    """A SLACK_API_URL whose every answer is an HTML page, as from a proxy's sign-in page or a
    load balancer in front of something else: not the Slack Web API."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            page = b"<html><body><h1>Please sign in to continue</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()
    thread.join()
