"""Log redaction: Slack tokens, the configured secrets and what clients sent never reach a log line.

A filter on the handlers (not the loggers) so it covers bolt's, slack_sdk's, gunicorn's and
platbot's records alike, including tracebacks, whatever the level. bolt and gunicorn quote a
request in a few messages (bolt the whole body of a request with a bad signature, gunicorn the
bytes of a malformed request line); those are cut to the words that say what happened.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_MASK = "[redacted]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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


def configure_logging(level: str | int = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr (what Heroku, containers and Lambda collect), secrets masked."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    install(secrets)


def install(secrets: Iterable[str] = ()) -> None:
    """Add the filter to every root handler (Lambda's runtime brings its own handler)."""
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(redacting)
