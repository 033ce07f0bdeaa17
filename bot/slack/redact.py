"""Log redaction: Slack tokens, the configured secrets and what clients sent never reach a log line.

A filter on the handlers (not the loggers) so it covers bolt's, slack_sdk's, gunicorn's and
platbot's records alike, including tracebacks, whatever the level. bolt and gunicorn quote a
request in a few messages (bolt the whole body of a request with a bad signature, gunicorn the
bytes of a malformed request line); those are cut to the words that say what happened.

The format is today's text by default; `LOG_FORMAT=json` writes one JSON object per line (time
in UTC, level, logger, message, `request_id`, `error`). A request id follows a question from the
HTTP edge (bot/slack/wsgi.py), which sets it, to the lazy listener that answers it
(bot/slack/failures.py `guarded`), which sets it again in bolt's worker thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_MASK = "[redacted]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# A JSON line keeps the end of a traceback: the innermost frames and the error, what one needs.
TRACEBACK_LINES = 20
# Messages that quote a request, each with the part to keep, by the logger family that writes them.
_QUOTING_A_REQUEST = {
    "slack_bolt": (
        # "Invalid request signature detected (signature: ..., timestamp: ..., body: <the body>)"
        re.compile(r"(Invalid request signature detected)\b.*", re.DOTALL),
        # "A global middleware (...) skipped calling either `next()` or `next_()` without providing
        # a response for the request (<the body>)"
        re.compile(r"(A global middleware .*?) without providing a response for the request\b.*", re.DOTALL),
    ),
    "gunicorn": (
        # "Invalid request from ip=...: Invalid HTTP method: 'whatever was sent'", and the like
        re.compile(r"([^'\"]*?):? *b?['\"].*", re.DOTALL),
    ),
}


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return _TOKEN.sub(_MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(_unquote_request(record.name, message))
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def _unquote_request(logger: str, message: str) -> str:
    for pattern in _QUOTING_A_REQUEST.get(logger.split(".", 1)[0], ()):
        if match := pattern.fullmatch(message):
            return match[1]
    return message


# --- request ids ---------------------------------------------------------------------------

# The id of the request being handled in this thread, if any; None outside a request.
current_request_id: ContextVar[str | None] = ContextVar("platbot_request_id", default=None)


def new_request_id() -> str:
    """A short random id: 48 bits, unique enough to tell one request's lines from another's."""
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def request_id_set(request_id: str | None) -> Iterator[None]:
    """`request_id` for the lines logged inside the block, and the previous one again after it
    (worker threads are reused: an id must not leak into the next request)."""
    token = current_request_id.set(request_id)
    try:
        yield
    finally:
        current_request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record, from the emitting thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


# --- the JSON format --------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (ISO 8601, UTC), `level`, `logger`, `message`, and
    `request_id` and `error` (`type`, `traceback`) when there are. Pure ASCII, the rest as JSON
    escapes: no message, whatever characters it holds, can break a line or fail to encode on
    any stream. The redacting filter has already cleaned the message and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := getattr(record, "request_id", None):
            line["request_id"] = request_id
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            # exc_text is set (redacted) by RedactingFilter; formatted here only without one.
            trace = record.exc_text or self.formatException(record.exc_info)
            line["error"] = {"type": _qualified_name(type(error)), "traceback": _tail(trace, TRACEBACK_LINES)}
        if record.stack_info:
            line["stack"] = _tail(record.stack_info, TRACEBACK_LINES)
        return json.dumps(line, ensure_ascii=True, default=str)


def _utc_iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _qualified_name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _tail(text: str, lines: int) -> str:
    kept = text.rstrip("\n").splitlines()
    return "\n".join(kept if len(kept) <= lines else ["...", *kept[-lines:]])


# --- set-up -----------------------------------------------------------------------------------


def configure_logging(level: str | int = "INFO", secrets: Iterable[str] = (), log_format: str | None = None) -> None:
    """Log to stderr (what Heroku, containers and Lambda collect), secrets masked, as text or
    as JSON lines (`log_format`, else $LOG_FORMAT, else text)."""
    wanted = (log_format if log_format is not None else os.environ.get("LOG_FORMAT", "")).strip().lower() or "text"
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    if wanted == "json":
        for handler in root.handlers:  # Lambda's runtime handler too: JSON was asked for
            handler.setFormatter(JsonFormatter())
        # Python's warnings go to stderr as bare text; as records they become JSON lines too.
        logging.captureWarnings(True)
    install(secrets)
    if wanted not in LOG_FORMATS:
        logging.getLogger("platbot").warning(
            "LOG_FORMAT must be one of %s, not %r: logging as text", ", ".join(LOG_FORMATS), wanted[:40]
        )


def install(secrets: Iterable[str] = ()) -> None:
    """Add the filters to every root handler (Lambda's runtime brings its own handler)."""
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter | RequestIdFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RequestIdFilter())
        handler.addFilter(redacting)
