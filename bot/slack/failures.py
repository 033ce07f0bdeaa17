"""One policy for failures: log one short line (what failed and why, never the payload), tell the
asker where that helps, keep serving.

Bolt sends errors of ack functions to `@app.error`, but only logs those of lazy listeners,
where platbot does its work; `guarded` sends both to the same `report`.

Slack's faults are told apart from platbot's own:

- Slack refused the call (`invalid_auth`, `ratelimited` after the one retry, HTTP 5xx after the
  one retry) or cannot be reached: one line, no traceback, and no apology through the Web API
  that just failed (it would fail too); a response URL, which is another path, still gets one.
- Slack did not answer in time: the message may have been posted, so nothing is sent again.
- Anything else is a bug: the line, its traceback, and an apology.

The Web API client retries each call at most once (`retry_handlers`): a 429 after waiting as
long as Retry-After says, a 500 or 503, or a connection that could not be opened. A call that
timed out is never retried: Slack may have posted the message, and a second one would double it.
"""

from __future__ import annotations

import http.client
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.error import URLError

from slack_bolt import App
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.kb.model import KnowledgeBase
from bot.normalize import detect_lang
from bot.render.blocks import error_message
from bot.slack.deps import Deps
from bot.slack.redact import request_id_set

# The bot token itself was refused: nothing the bot sends will get through until it is replaced.
TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
# The longest Retry-After worth waiting for: past that the asker has moved on, and a worker
# thread should not sleep for minutes.
MAX_RETRY_AFTER = 30.0
_CODE_CHARS = 60  # Slack's error codes are short; a non-JSON error body is not


def describe(body: Any) -> str:
    """What the request was, by kind and ids only: payloads hold user text and tokens."""
    if not isinstance(body, Mapping):
        return "request"
    if body.get("command"):
        return f"command {body['command']}"
    if isinstance(body.get("event"), Mapping):
        return f"event {body['event'].get('type')} {body.get('event_id', '')}".strip()
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], Mapping):
        return f"action {actions[0].get('action_id')}"
    return str(body.get("type", "request"))


def error_code(error: BaseException) -> str | None:
    """Slack's error code (`not_in_channel`, `ratelimited`...) for a refused Web API call."""
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or "")[:_CODE_CHARS] or None
    return None


def is_timeout(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or (isinstance(error, URLError) and isinstance(error.reason, TimeoutError))


def is_slack_fault(error: BaseException) -> bool:
    """True when Slack refused, failed or did not answer the call, rather than platbot breaking."""
    return isinstance(error, (SlackApiError, URLError, TimeoutError, ConnectionError, http.client.HTTPException))


def explain(error: BaseException) -> str:
    """Why a call failed, in a few words: the error's kind, Slack's code and method, no payload."""
    kind = type(error).__name__
    if isinstance(error, SlackApiError):
        code = error_code(error) or "error"
        line = f"{kind} {code} from {_method(error.response.api_url)} (HTTP {error.response.status_code})"
        if code in TOKEN_ERRORS:
            line += ": Slack refused the bot token; reinstall the app and set SLACK_BOT_TOKEN again"
        return line
    if is_timeout(error):
        return f"{kind}: the Slack Web API did not answer in time (the message may have been posted; not sent again)"
    if isinstance(error, URLError):
        return f"{kind}: cannot reach the Slack Web API ({error.reason})"
    if is_slack_fault(error):
        return f"{kind}: the connection to the Slack Web API failed"
    return kind


def report(error: BaseException, body: Any, log: logging.Logger) -> None:
    """One line; a traceback only for platbot's own bugs, where it is what one needs."""
    trace = None if is_slack_fault(error) else error
    log.error("failed to handle %s: %s", describe(body), explain(error), exc_info=trace)


def recovered(error: BaseException, body: Any, log: logging.Logger, then: str) -> None:
    """One line for a failure the listener got round, saying how."""
    log.warning("failed to handle %s: %s; %s", describe(body), explain(error), then)


def register(app: App, log: logging.Logger) -> None:
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        report(error, body, log)

    app.error(on_error)


# What a report and an apology need, on top of what the listener asks for; and the context,
# for the request id the HTTP edge put there.
_FOR_FAILURES = ("body", "command", "event", "respond", "client", "context")


def guarded(fn: Callable[..., None], deps: Deps) -> Callable[..., None]:
    """`fn` as a lazy listener whose failure is reported and, where possible, apologised for,
    in the words of the knowledge version serving at the time (`deps.kb` is read then).

    Bolt passes a listener the arguments its signature names, so the wrapper's signature is
    the listener's plus `_FOR_FAILURES`. It keeps the listener's name: Lambda re-invokes a
    lazy listener by name.
    """
    wanted = list(inspect.signature(fn).parameters)

    def run(**kwargs: Any) -> None:
        # Bolt runs this on a thread of its pool, where the edge's context variables are not set.
        context = kwargs.get("context")
        with request_id_set(context.get("request_id") if isinstance(context, Mapping) else None):
            try:
                fn(**{name: kwargs[name] for name in wanted})
            except Exception as error:
                report(error, kwargs.get("body"), deps.log)
                if not is_timeout(error):
                    _apologise(deps.kb, kwargs, deps.log, web_api=not is_slack_fault(error))

    names = list(dict.fromkeys([*wanted, *_FOR_FAILURES]))
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    )
    run.__name__ = run.__qualname__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _apologise(kb: KnowledgeBase, kwargs: Mapping[str, Any], log: logging.Logger, *, web_api: bool) -> None:
    """Through the response URL if the request has one; through the Web API only when it is
    not the Web API that failed."""
    source = kwargs.get("command") or kwargs.get("event") or {}
    lang = detect_lang(str(source.get("text", ""))) if isinstance(source, Mapping) else "en"
    message = error_message(kb, lang).as_kwargs()
    body = kwargs.get("body") if isinstance(kwargs.get("body"), Mapping) else {}
    event = kwargs.get("event")
    try:
        if kwargs.get("respond") is not None and body.get("response_url"):  # commands, buttons
            kwargs["respond"](response_type="ephemeral", replace_original=False, **message)
        elif web_api and isinstance(event, Mapping) and event.get("type") in ("app_mention", "message"):
            thread = event.get("thread_ts") or (None if event.get("channel_type") == "im" else event.get("ts"))
            kwargs["client"].chat_postMessage(channel=event["channel"], thread_ts=thread, **message)
    except Exception as error:  # the apology is best effort; the first failure is logged
        log.warning("could not send the apology: %s", type(error).__name__)


# --- the Web API client's retries ---------------------------------------------------------


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """A 429 is retried once, after exactly as long as Slack's Retry-After says, unless that is
    longer than `max_wait` (the call then fails as `ratelimited`)."""

    def __init__(
        self, log: logging.Logger, max_wait: float = MAX_RETRY_AFTER, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__(max_retry_count=1)
        self._log = log
        self._max_wait = max_wait
        self._sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429 and retry_after(response) <= self._max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response) if response is not None else 1.0
        self._log.info("Slack rate-limited %s: retrying once in %g s (Retry-After)", _method(request.url), wait)
        state.next_attempt_requested = True
        self._sleep(wait)
        state.increment_current_attempt()


class ServerErrorHandler(ServerErrorRetryHandler):
    """A 500 or 503 is retried once, after a short backoff."""

    def __init__(self, log: logging.Logger) -> None:
        super().__init__(max_retry_count=1)
        self._log = log

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        status = response.status_code if response is not None else "?"
        self._log.info("Slack answered %s with HTTP %s: retrying once", _method(request.url), status)
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)


class ConnectionErrorHandler(ConnectionErrorRetryHandler):
    """A connection that could not be opened or was reset is retried once. A timeout is not:
    the request may have reached Slack."""

    def __init__(self, log: logging.Logger) -> None:
        super().__init__(max_retry_count=1)
        self._log = log

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is None or is_timeout(error):
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        reason = getattr(error, "reason", error)
        self._log.info("cannot reach the Slack Web API for %s (%s): retrying once", _method(request.url), reason)
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)


def retry_handlers(log: logging.Logger) -> list[RetryHandler]:
    return [ConnectionErrorHandler(log), RetryAfterHandler(log), ServerErrorHandler(log)]


def retry_after(response: HttpResponse) -> float:
    """Seconds from the Retry-After header; 1 when it is missing or not a number of seconds."""
    values: Sequence[str] = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), [])
    try:
        return max(0.0, float(values[0]))
    except (IndexError, TypeError, ValueError):
        return 1.0


class SdkRetryChatter(logging.Filter):
    """slack_sdk logs each failed request and each retry itself; platbot logs one line per
    failure (`report`) and per retry (the handlers above), so these would only repeat them."""

    _REPEATS = (
        "Failed to send a request to Slack API server",
        "A retry handler found",
        "Going to retry the same request",
        "Failed to decode Slack API response",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._REPEATS)


def _method(url: str | None) -> str:
    """`chat.postMessage` from the call's URL."""
    return (url or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "the Web API"
