"""Log redaction: tokens and configured secrets are masked in messages and tracebacks."""

from __future__ import annotations

import logging

from bot.slack.redact import RedactingFilter
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("platbot", logging.INFO, __file__, 1, message, args, exc_info)


def test_tokens_and_the_signing_secret_are_masked_in_messages() -> None:
    redacting = RedactingFilter([SIGNING_SECRET])
    rec = record("token=%s app=%s secret=%s other=xoxp-123-456", BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)

    assert redacting.filter(rec) is True  # masks, never drops
    shown = rec.getMessage()
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, "xoxp-123-456"):
        assert secret not in shown
    assert shown.count("[redacted]") == 4


def test_tokens_are_masked_in_tracebacks() -> None:
    try:
        raise ValueError(f"bad token {BOT_TOKEN}")
    except ValueError as error:
        rec = record("failed", exc=error)

    RedactingFilter().filter(rec)

    formatted = logging.Formatter().format(rec)
    assert "ValueError: bad token [redacted]" in formatted
    assert BOT_TOKEN not in formatted


def test_ordinary_messages_are_untouched() -> None:
    rec = record("feedback vote=%s topic=%s", "up", "ecs-scheduled-tasks")

    RedactingFilter([SIGNING_SECRET]).filter(rec)

    assert rec.getMessage() == "feedback vote=up topic=ecs-scheduled-tasks"
    assert rec.args == ("up", "ecs-scheduled-tasks")
