"""Test doubles for Slack: a Web API on loopback that records calls, and signed request builders."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

BOT_TOKEN = "xoxb-1111-2222-platbottestbottoken"
SIGNING_SECRET = "5ec7e75ec7e75ec7e75ec7e75ec7e7ab"
APP_TOKEN = "xapp-1-A111-2222-platbottestapptoken"
BOT_USER = "UPLATBOT"
BOT_ID = "BPLATBOT"
TEAM = "T0PLATBOT"
REVOKED_TOKEN = "xoxb-1111-2222-revokedrevoked"  # auth.test rejects it
BROKEN_CHANNEL = "CBROKEN"  # chat.postMessage there fails, as for a channel the bot left


@dataclass(frozen=True)
class Call:
    """One request the app made: a Web API method (`chat.postMessage`) or a response URL."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or self.body.get("view", {}).get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    def text_everywhere(self) -> str:
        """Everything Slack would render, as one string, for assertions on what people see."""
        return json.dumps(self.body, ensure_ascii=False)

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks() if b["type"] == "actions" for e in b["elements"]]


@dataclass(frozen=True)
class Scripted:
    """How the fake answers one call instead of ok: an HTTP status, Slack's error code (with
    200, as Slack sends `not_in_channel`), extra headers (Retry-After), and a delay first."""

    status: int = 200
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeSlack:
    """A Slack Web API and response-URL endpoint on 127.0.0.1 that answers ok and records calls."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._scripts: dict[tuple[str, str], list[Scripted]] = {}
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw))
                for key in ("view",):
                    if isinstance(body.get(key), str):
                        body[key] = json.loads(body[key])
                call = Call(self.path, body, dict(self.headers))
                fake._record(call)
                scripted = fake._scripted(call)
                if scripted.delay:
                    time.sleep(scripted.delay)
                if scripted.error:
                    answer: dict[str, Any] | str = {"ok": False, "error": scripted.error}
                elif scripted.status != 200:
                    answer = {"ok": False, "error": f"http_{scripted.status}"}
                else:
                    answer = fake.answer(call)
                payload = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                try:
                    self.send_response(scripted.status)
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a delayed answer the client stopped waiting for

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    def answer(self, call: Call) -> dict[str, Any] | str:
        if call.path.startswith("/respond/"):
            return "ok"
        method, body = call.method, call.body
        if method == "auth.test" and REVOKED_TOKEN in call.headers.get("Authorization", ""):
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM, "user": "platbot"}
        if method == "chat.postMessage" and body.get("channel") == BROKEN_CHANNEL:
            return {"ok": False, "error": "channel_not_found"}
        if method == "chat.postMessage":
            return {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
        if method == "chat.getPermalink":
            message = str(body.get("message_ts")).replace(".", "")
            link = f"https://example.slack.com/archives/{body.get('channel')}/p{message}"
            return {"ok": True, "channel": body.get("channel"), "permalink": link}
        return {"ok": True}

    def fail_next(self, channel: str, status: int, headers: dict[str, str] | None = None) -> None:
        """The next chat.postMessage to `channel` gets this HTTP status (429, 500...) once."""
        self.script(channel, status=status, headers=headers)

    def script(
        self,
        channel: str,
        *,
        method: str = "chat.postMessage",
        status: int = 200,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` for `channel` get this answer instead of ok: an HTTP
        status (429, 503), Slack's `error` code (`not_in_channel`, `msg_too_long`, `invalid_auth`),
        and/or a `delay` in seconds before answering (longer than the client's timeout)."""
        with self._changed:
            queue = self._scripts.setdefault((method, channel), [])
            queue += [Scripted(status, error, dict(headers or {}), delay)] * times

    def _scripted(self, call: Call) -> Scripted:
        with self._changed:
            queue = self._scripts.get((call.method, str(call.body.get("channel"))), [])
            return queue.pop(0) if queue else Scripted()

    # --- what the app did ---

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def reset(self) -> None:
        with self._changed:
            self._calls.clear()

    def calls(self, method: str | None = None) -> list[Call]:
        with self._changed:
            calls = list(self._calls)
        return [c for c in calls if method is None or c.method == method or c.path == method]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 15.0, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """The first `count` calls of `method` (a Web API method or a response-URL name)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls if c.method == method and (where is None or where(c))]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.path for c in self._calls]
                    raise AssertionError(f"expected {count} call(s) to {method}; saw {seen}")
                self._changed.wait(left)


# --- signed requests, as Slack sends them ---


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def signed_headers(
    body: str, content_type: str, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


def command_body(text: str, response_url: str, user: str = "UASKER", channel: str = "CGENERAL") -> str:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "channel_id": channel,
            "user_id": user,
            "command": "/platform",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "api_app_id": "APLATBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": event,
        }
    )


def mention(text: str, ts: str = "1700000000.000100", thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": "UASKER",
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": "CGENERAL",
        "event_ts": ts,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def direct_message(text: str, ts: str = "1700000000.000200", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": "DASKER",
        "user": "UASKER",
        "text": text,
        "ts": ts,
        "event_ts": ts,
        **extra,
    }


def action_body(
    action_id: str,
    value: str,
    *,
    response_url: str,
    ephemeral: bool,
    user: str = "UCLICKER",
    channel: str = "CGENERAL",
    thread_ts: str | None = "1700000000.000100",
) -> str:
    message: dict[str, Any] = {"type": "message", "ts": "1700000001.000100", "text": "answer"}
    if thread_ts and not ephemeral:
        message["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "APLATBOT",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": "1.2.3",
        "channel": {"id": channel},
        "response_url": response_url,
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1700000002.0"}
        ],
    }
    if not ephemeral:
        payload["message"] = message
    return urlencode({"payload": json.dumps(payload)})


class SlackSender:
    """Sends what Slack sends to an HTTP endpoint on loopback, signed unless told otherwise."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body.encode(), headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.read().decode(), dict(response.getheaders()))
        finally:
            conn.close()

    def post(self, body: str, content_type: str, **signing: Any) -> Reply:
        extra = signing.pop("extra_headers", {})
        headers = {**signed_headers(body, content_type, **signing), **extra}
        return self.request("POST", "/slack/events", body, headers)

    def command(self, text: str, response_url: str, **kw: Any) -> Reply:
        return self.post(command_body(text, response_url, **kw), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str, retry_num: int | None = None) -> Reply:
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self.post(event_body(event, event_id), "application/json", extra_headers=extra)

    def action(self, action_id: str, value: str, **kw: Any) -> Reply:
        return self.post(action_body(action_id, value, **kw), "application/x-www-form-urlencoded")
