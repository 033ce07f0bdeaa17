"""Log redaction: Slack tokens and the configured secrets never reach a log line.

A filter on the handlers (not the loggers) so it covers bolt's, slack_sdk's and platbot's
records alike, including tracebacks, whatever the level.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_TOKEN = re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+")
_MASK = "[redacted]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


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
