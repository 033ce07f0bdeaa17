"""One policy for listener failures: log what failed (never the payload), apologise, keep serving.

Bolt sends errors of ack functions to `@app.error`, but only logs those of lazy listeners,
where platbot does its work; `guarded` sends both to the same `report`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App

from bot.kb.model import KnowledgeBase
from bot.normalize import detect_lang
from bot.render.blocks import error_message


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


def report(error: BaseException, body: Any, log: logging.Logger) -> None:
    log.error("failed to handle %s: %s", describe(body), type(error).__name__, exc_info=error)


def register(app: App, log: logging.Logger) -> None:
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        report(error, body, log)

    app.error(on_error)


# What a report and an apology need, on top of what the listener asks for.
_FOR_FAILURES = ("body", "command", "event", "respond", "client")


def guarded(fn: Callable[..., None], kb: KnowledgeBase, log: logging.Logger) -> Callable[..., None]:
    """`fn` as a lazy listener whose failure is reported and, where possible, apologised for.

    Bolt passes a listener the arguments its signature names, so the wrapper's signature is
    the listener's plus `_FOR_FAILURES`. It keeps the listener's name: Lambda re-invokes a
    lazy listener by name.
    """
    wanted = list(inspect.signature(fn).parameters)

    def run(**kwargs: Any) -> None:
        try:
            fn(**{name: kwargs[name] for name in wanted})
        except Exception as error:
            report(error, kwargs.get("body"), log)
            _apologise(kb, kwargs, log)

    names = list(dict.fromkeys([*wanted, *_FOR_FAILURES]))
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    )
    run.__name__ = run.__qualname__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _apologise(kb: KnowledgeBase, kwargs: Mapping[str, Any], log: logging.Logger) -> None:
    source = kwargs.get("command") or kwargs.get("event") or {}
    lang = detect_lang(str(source.get("text", ""))) if isinstance(source, Mapping) else "en"
    message = error_message(kb, lang).as_kwargs()
    body = kwargs.get("body") if isinstance(kwargs.get("body"), Mapping) else {}
    event = kwargs.get("event")
    try:
        if kwargs.get("respond") is not None and body.get("response_url"):  # commands, buttons
            kwargs["respond"](response_type="ephemeral", replace_original=False, **message)
        elif isinstance(event, Mapping) and event.get("type") in ("app_mention", "message"):
            thread = event.get("thread_ts") or (None if event.get("channel_type") == "im" else event.get("ts"))
            kwargs["client"].chat_postMessage(channel=event["channel"], thread_ts=thread, **message)
    except Exception as error:  # the apology is best effort; the first failure is logged
        log.warning("could not send the apology: %s", type(error).__name__)
