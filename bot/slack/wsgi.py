"""The HTTP edge: Slack at POST /slack/events and GET /healthz, served by gunicorn.

What stands between the network and bolt:

- `SlackEdge`, the WSGI app. A body is at most `MAX_BODY_BYTES`: a longer declared length gets
  413 before any of it is read, a chunked or longer body as soon as it passes the limit. The
  signature is checked before the body is parsed: unsigned or stale gets 401, a signed body bolt
  cannot read 400. Each refusal is one short log line (method, path, status, reason, size), never
  the body, so bolt only ever sees signed requests it can read.
- `BufferingWorker`, gunicorn's gthread worker with its event loop doing all the waiting on
  clients (reading each request whole before a thread runs the app, and closing gracefully):
  a slow or silent client holds a socket, never a thread, and /healthz keeps answering.
- `GunicornLogger`: gunicorn's own lines go through the root logger's handlers, with their
  format and their redaction (bot/slack/redact.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import selectors
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from http import HTTPStatus
from typing import Any, Literal

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker
from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.config import whole_number
from bot.slack.redact import new_request_id, request_id_set

SLACK_PATH = "/slack/events"  # Slack's convention; the manifest's request URLs end with it
HEALTH_PATH = "/healthz"
# Slack's payloads are well under 1 MB (an event or a slash command is a few KB, a view with
# its state tens of KB): a mebibyte is room to spare, and bounds what a client can make us hold.
MAX_BODY_BYTES = 1024 * 1024
# A request head larger than this is refused (431); Slack's are about 1 KB.
MAX_HEAD_BYTES = 64 * 1024
# Seconds a client has to send a whole request, from connecting (or from the first byte of the
# next request on a kept-alive connection); then the connection is closed.
READ_TIMEOUT = 10.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
log = logging.getLogger("platbot.http")


class Refused(Exception):
    """A request the edge answers itself, without bolt: why, and how big it was."""

    def __init__(self, status: HTTPStatus, reason: str, size: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.size = size


class SlackEdge:
    """The WSGI app: /healthz, and Slack's requests checked before bolt sees them."""

    def __init__(
        self,
        app: App,
        signing_secret: str,
        health: Callable[[], Mapping[str, Any]] | None = None,
        *,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self._verifier = SignatureVerifier(signing_secret)
        self._health = health  # called on each check: after a reload it tells the new figures

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            answer = _respond(start_response, HTTPStatus.OK, self._health_body())
            return answer if method == "GET" else [b""]  # HEAD: the headers alone
        if path != SLACK_PATH or method != "POST":
            return _respond(start_response, HTTPStatus.NOT_FOUND, b"Not Found", "text/plain;charset=utf-8")
        # One id per request, on every line logged for it: here, in bolt, and (through bolt's
        # context) in the lazy listener that answers it.
        request_id = new_request_id()
        with request_id_set(request_id):
            try:
                request = self._checked(environ, request_id)
            except Refused as refused:
                log.info("%s %s -> %d %s (%s)", method, path, refused.status, refused.reason, refused.size)
                return _respond(start_response, refused.status, json.dumps({"error": refused.reason}).encode())
            answer = self.app.dispatch(request)
            response = WsgiHttpResponse(status=answer.status, headers=answer.headers, body=answer.body)
            start_response(response.status, response.get_headers())
            return response.get_body()

    def _health_body(self) -> bytes:
        return json.dumps({"ok": True, **(self._health() if self._health else {})}).encode()

    def _checked(self, environ: dict[str, Any], request_id: str | None = None) -> BoltRequest:
        """The request for bolt, once it is within the limit, signed by Slack and readable."""
        raw = read_body(environ, self.max_body)
        size = f"{len(raw)} bytes"
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise Refused(HTTPStatus.BAD_REQUEST, "body is not UTF-8", size) from None
        headers = WsgiHttpRequest(environ).get_headers()
        timestamp = str(headers.get("x-slack-request-timestamp", ""))
        signature = str(headers.get("x-slack-signature", ""))
        # The verifier takes int(timestamp) on trust; bolt checks the signature again, harmlessly.
        if whole_number(timestamp) is None or not self._verifier.is_valid(text, timestamp, signature):
            raise Refused(HTTPStatus.UNAUTHORIZED, "no valid Slack signature", size)
        try:
            # BoltRequest parses the body (JSON, a form, or a form around a JSON payload).
            return BoltRequest(
                body=text, query=environ.get("QUERY_STRING", ""), headers=headers, context={"request_id": request_id}
            )
        except Exception as error:  # whatever bolt cannot read, it cannot answer either
            raise Refused(HTTPStatus.BAD_REQUEST, f"body bolt cannot read ({type(error).__name__})", size) from None


def read_body(environ: Mapping[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes:
    from its Content-Length, before reading any of it, or while reading (chunked, or sent
    in more pieces than declared)."""
    too_large = f"body over the {limit}-byte limit"
    declared = str(environ.get("CONTENT_LENGTH") or "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        shown = declared if len(declared) <= 15 else f"{declared[:15]}..."  # it may have thousands of digits
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large, f"{shown} bytes declared")
    sock = environ.get("gunicorn.socket")
    if sock is not None:  # BufferingWorker has the body in memory already, unless the client held it back
        sock.settimeout(READ_TIMEOUT)
    stream, body = environ["wsgi.input"], bytearray()
    try:
        while chunk := stream.read(min(64 * 1024, limit + 1 - len(body))):
            body += chunk
            if len(body) > limit:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large, f"over {limit} bytes received")
    except TimeoutError:
        reason = f"body not received within {READ_TIMEOUT:g} s"
        raise Refused(HTTPStatus.REQUEST_TIMEOUT, reason, f"{len(body)} bytes") from None
    return bytes(body)


def _respond(
    start_response: Callable[..., Any], status: HTTPStatus, body: bytes, content_type: str = "application/json"
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(f"{status.value} {status.phrase}", headers)
    return [body]


# --- the worker: slow clients cost a socket, never a thread --------------------------------

_HEAD_END = re.compile(rb"\r?\n\r?\n")
# At most 18 digits: int() of a longer one could be slow, or refused (over 4300 digits). The
# parser refuses a Content-Length the pattern misses.
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,18})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:.*\bchunked\b", re.IGNORECASE | re.MULTILINE)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue", re.IGNORECASE | re.MULTILINE)
_HEAD_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_MAX_CHUNK_LINE = 1024  # a chunk-size line longer than this is not chunked framing
# After answering, how long a thread waits for what is left of a body the app did not read
# (a refused one) before closing instead; gthread waits up to 5 s.
_DRAIN_WAIT = 0.05
# A graceful close (FIN, then discard what the client still sends) lasts this long at most.
_LINGER = 2.0
_LINGER_BYTES = 64 * 1024

RequestState = Literal["partial", "whole", "head too large"]


class PartialRequest:
    """A request as it arrives, followed only as far as its framing (the head's end, then the
    Content-Length or the chunks) to tell when it is whole, or has enough to be refused: a head
    over MAX_HEAD_BYTES, a body declared or sent over `max_body`. Each byte is looked at about
    once however slowly they trickle in; gunicorn's parser does the real checks afterwards."""

    def __init__(self, received: bytes = b"", max_body: int = MAX_BODY_BYTES) -> None:
        self.data = bytearray()
        self.max_body = max_body
        self.state: RequestState = "partial"
        self._searched = 0  # the head's end was not found before this offset (less 3)
        self._body_at: int | None = None
        self._length: int | None = None  # the declared length; None for chunks
        self._chunk_at = 0  # where the next chunk-size line starts
        self._trailers_at: int | None = None  # after the last chunk: where to look for the end
        self.add(received)

    def add(self, data: bytes) -> RequestState:
        self.data += data
        if self.state == "partial" and self._body_at is None:
            self._find_head_end()
        if self.state == "partial" and self._body_at is not None:
            self._follow_body()
        return self.state

    def _find_head_end(self) -> None:
        end = _HEAD_END.search(self.data, max(0, self._searched - 3))
        self._searched = len(self.data)
        if end is None or end.start() > MAX_HEAD_BYTES:
            if len(self.data) > MAX_HEAD_BYTES:
                self.state = "head too large"
            return
        head = bytes(self.data[: end.start()])
        self._body_at = self._chunk_at = end.end()
        if _EXPECT_CONTINUE.search(head):
            self.state = "whole"  # the client waits for "100 Continue" before it sends the body
        elif not _CHUNKED.search(head):
            declared = _CONTENT_LENGTH.search(head)
            self._length = int(declared[1]) if declared else 0

    def _follow_body(self) -> None:
        assert self._body_at is not None
        received = len(self.data) - self._body_at
        if self._length is not None:
            whole = received >= self._length or self._length > self.max_body
        else:
            whole = received > self.max_body or self._last_chunk_arrived()
        if whole:
            self.state = "whole"

    def _last_chunk_arrived(self) -> bool:
        """Whether the chunks have come to the last, empty one and the blank line that ends its
        trailers; framing that is not hex sizes counts as arrived too, for the parser to refuse."""
        while self._trailers_at is None and (line_end := self.data.find(b"\r\n", self._chunk_at)) >= 0:
            try:
                size = int(self.data[self._chunk_at : line_end].split(b";", 1)[0], 16)
            except ValueError:
                return True
            if size < 0:
                return True
            if size == 0:
                self._trailers_at = line_end
            self._chunk_at = line_end + 2 + size + 2
        if self._trailers_at is None:
            return len(self.data) - self._chunk_at > _MAX_CHUNK_LINE
        if self.data.find(b"\r\n\r\n", self._trailers_at) >= 0:
            return True
        self._trailers_at = max(self._trailers_at, len(self.data) - 3)
        return False


class _Connection(TConn):  # type: ignore[misc]
    """gthread's connection, whose graceful close is left to the worker's event loop."""

    def __init__(self, *args: Any, linger: Callable[[_Connection], None]) -> None:
        super().__init__(*args)
        self._linger = linger

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self._linger(self)
        else:
            super().close()


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, with its event loop doing all the waiting on clients, so
    that a slow or silent one holds a socket, never one of the threads that run the app:

    - a request is read whole, without blocking, before a thread takes it: its head, and its
      body up to MAX_BODY_BYTES; a client gets READ_TIMEOUT to send it, then is closed;
    - a body the app refused (413) is not waited for;
    - a graceful close (FIN, then discard what the client still sends, at most _LINGER s)
      waits on the loop: gthread does it in the loop's own thread, blocking every other
      client meanwhile (ten clients that asked to close and then held on stalled /healthz
      for 8 to 12 s).

    /healthz thus answers however many such clients are connected, up to worker_connections
    (1000 per worker). Written against gunicorn 27's gthread. Plain HTTP only: TLS ends in
    front of platbot, at the load balancer or the platform's router.
    """

    def init_process(self) -> None:
        # Both in deadline order: each deadline is "now" plus a constant when added.
        self._reading: dict[TConn, tuple[float, PartialRequest]] = {}
        self._lingering: dict[TConn, tuple[float, int]] = {}
        super().init_process()

    def accept(self, listener: Any) -> None:
        try:
            sock, address = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        self.nr_conns += 1
        self.enqueue_req(_Connection(self.cfg, sock, address, listener.getsockname(), linger=self._linger))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection's next request has begun: read it on the loop too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.enqueue_req(conn)

    def enqueue_req(self, conn: TConn) -> None:
        """Read the request before a thread takes it. gunicorn calls this as well for a request
        pipelined behind the last one, part of which its parser may hold already."""
        request = PartialRequest(conn.parser.unreader.take_buffered() if conn.parser is not None else b"")
        if request.state == "whole":
            self._start(conn, request)
            return
        conn.sock.setblocking(False)
        self._reading[conn] = (time.monotonic() + READ_TIMEOUT, request)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_data, conn))

    def _on_request_data(self, conn: TConn, sock: Any) -> None:
        _, request = self._reading[conn]
        data = _receive(sock)
        if data is None:
            return
        state = request.add(data) if data else "gone"
        if state == "partial":
            return
        del self._reading[conn]
        self.poller.unregister(sock)
        if state == "whole":
            self._start(conn, request)
            return
        if state == "head too large":
            with contextlib.suppress(OSError):  # best effort: the client may be gone
                sock.send(_HEAD_TOO_LARGE)
        self.nr_conns -= 1
        conn.close()

    def _start(self, conn: TConn, request: PartialRequest) -> None:
        conn.init()  # the HTTP/1 parser, for a new connection
        conn.parser.unreader.unread(bytes(request.data))
        super().enqueue_req(conn)

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        # Runs in the thread. What is left unread is the body of a refused request: gthread
        # would wait up to 5 s for it, to keep the connection open.
        return keepalive and bool(conn.parser.finish_body(deadline=time.monotonic() + _DRAIN_WAIT))

    def _linger(self, conn: TConn) -> None:
        """Close as RFC 9112 asks, on the loop: FIN first, then what the client still sends is
        read and dropped until it closes too, so that the kernel does not reset the connection
        and lose the end of the answer."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            conn.sock.close()
            return
        self._lingering[conn] = (time.monotonic() + _LINGER, 0)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_lingering_data, conn))

    def _on_lingering_data(self, conn: TConn, sock: Any) -> None:
        deadline, dropped = self._lingering[conn]
        data = _receive(sock)
        if data is None:
            return
        if data and dropped + len(data) < _LINGER_BYTES:
            self._lingering[conn] = (deadline, dropped + len(data))
            return
        del self._lingering[conn]
        self.poller.unregister(sock)
        sock.close()

    def murder_pending(self) -> None:
        """Runs on every turn of the loop: also close the connections out of time, and, once
        the worker is stopping, every one still sending a request."""
        super().murder_pending()
        now = time.monotonic()
        for conn, (deadline, _) in list(self._reading.items()):
            if deadline > now and self.alive:
                break
            del self._reading[conn]
            self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()
        for conn, (deadline, _) in list(self._lingering.items()):
            if deadline > now and self.alive:
                break
            del self._lingering[conn]
            self.poller.unregister(conn.sock)
            conn.sock.close()


def _receive(sock: Any) -> bytes | None:
    """What a non-blocking socket has: b"" once the client is gone, None if nothing yet."""
    try:
        return bytes(sock.recv(64 * 1024))
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's error log through the root logger's handlers: the same format as platbot's
    lines, and the same redaction of secrets and of what clients sent (bot/slack/redact.py)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


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
        # run the app on requests already read; the work itself runs on bolt's pool after the ack.
        "workers": workers,
        "worker_class": BufferingWorker,
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "loglevel": log_level.lower(),
        "logger_class": GunicornLogger,
        "accesslog": None,
        "proc_name": "platbot",
        # gunicorn >= 24 opens a control socket under $HOME by default; platbot has no use for it.
        "control_socket_disable": True,
    }
