"""Settings for the Slack app, read from an environment mapping and checked before start-up.

Tests pass a plain dict; `platbot serve` passes `os.environ`. A bad or missing setting stops
start-up with one line naming the variable and where to get it, never its value, and tokens
are wrapped in `Secret` so that printing or logging the settings cannot leak them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.errors import SettingsError

Mode = Literal["socket", "http"]

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_COMMAND = "/platform"
DEFAULT_PORT = 3000
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8
# Upper bounds that catch a typo (WEB_CONCURRENCY=200 forks 200 processes) long before a real need.
MAX_WORKERS = 64
MAX_THREADS = 256

_APPS_PAGE = "https://api.slack.com/apps"
_WHERE = {
    "SLACK_BOT_TOKEN": f"the Bot User OAuth Token on your app's OAuth & Permissions page ({_APPS_PAGE})",
    "SLACK_SIGNING_SECRET": f"the Signing Secret on your app's Basic Information page ({_APPS_PAGE})",
    "SLACK_APP_TOKEN": (
        f"an app-level token with the connections:write scope, under Basic Information > "
        f"App-Level Tokens ({_APPS_PAGE})"
    ),
}
# Slack command names: lowercase, no spaces, at most 32 characters including the slash.
_COMMAND = re.compile(r"^/[a-z0-9_\-.\u3040-\u30ff\u3400-\u9fff]{1,31}$")


class Secret:
    """A token or secret that prints as asterisks; `reveal()` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    bot_token: Secret
    signing_secret: Secret | None
    app_token: Secret | None
    port: int = DEFAULT_PORT
    api_url: str = DEFAULT_API_URL
    command: str = DEFAULT_COMMAND
    escalation_channel: str | None = None  # where "Ask the platform team" posts; None: no such button

    @property
    def mode(self) -> Mode:
        """Socket Mode whenever an app-level token is there: no public URL needed."""
        return "socket" if self.app_token is not None else "http"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for log redaction."""
        held = (self.bot_token, self.signing_secret, self.app_token)
        return tuple(s.reveal() for s in held if s is not None)

    @classmethod
    def from_env(cls, env: Mapping[str, str], mode: Mode | None = None) -> Settings:
        """Read and check the settings; `mode` forces HTTP or Socket Mode (default: by token).

        HTTP mode (and AWS Lambda) needs the signing secret; Socket Mode needs the app token.
        """
        bot_token = _required(env, "SLACK_BOT_TOKEN", "xoxb-")
        if mode == "socket":
            app_token: Secret | None = _required(env, "SLACK_APP_TOKEN", "xapp-")
        else:
            app_token = _optional(env, "SLACK_APP_TOKEN", "xapp-")
        mode = mode or ("socket" if app_token is not None else "http")
        return cls(
            bot_token=bot_token,
            signing_secret=_signing_secret(env, required=mode == "http"),
            app_token=app_token if mode == "socket" else None,
            port=_port(env),
            api_url=_api_url(env),
            command=_command(env),
            escalation_channel=_channel(env, "PLATBOT_ESCALATION_CHANNEL"),
        )


def web_concurrency(env: Mapping[str, str]) -> int:
    """WEB_CONCURRENCY: gunicorn worker processes for `platbot serve http` (Heroku and others set
    it to suit the machine). Checked before gunicorn is imported, which reads it too, and would
    end a bad value in a traceback."""
    value = _value(env, "WEB_CONCURRENCY")
    if value is None:
        return DEFAULT_WORKERS
    workers = whole_number(value)
    if workers is None or not 1 <= workers <= MAX_WORKERS:
        raise SettingsError(f"WEB_CONCURRENCY must be a whole number of worker processes, from 1 to {MAX_WORKERS}")
    return workers


def whole_number(text: str) -> int | None:
    """`text` as a whole number, or None: ASCII digits only (str.isdigit also accepts '²')."""
    return int(text) if re.fullmatch(r"[0-9]{1,18}", text.strip()) else None


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _required(env: Mapping[str, str], name: str, prefix: str) -> Secret:
    token = _optional(env, name, prefix)
    if token is None:
        raise SettingsError(f"{name} is not set: use {_WHERE[name]}")
    return token


def _optional(env: Mapping[str, str], name: str, prefix: str) -> Secret | None:
    value = _value(env, name)
    if value is None:
        return None
    if not value.startswith(prefix) or len(value) <= len(prefix) or any(c.isspace() for c in value):
        raise SettingsError(f"{name} is malformed (it must start with {prefix}): use {_WHERE[name]}")
    return Secret(value)


def _signing_secret(env: Mapping[str, str], required: bool) -> Secret | None:
    value = _value(env, "SLACK_SIGNING_SECRET")
    if value is None:
        if required:
            where = _WHERE["SLACK_SIGNING_SECRET"]
            raise SettingsError(f"SLACK_SIGNING_SECRET is not set (HTTP mode needs it): use {where}")
        return None
    return Secret(value)


def _port(env: Mapping[str, str]) -> int:
    value = _value(env, "PORT")
    if value is None:
        return DEFAULT_PORT
    port = whole_number(value)
    if port is None or not 0 < port < 65536:
        raise SettingsError("PORT must be a TCP port number between 1 and 65535")
    return port


def _api_url(env: Mapping[str, str]) -> str:
    value = _value(env, "SLACK_API_URL") or DEFAULT_API_URL
    if not re.match(r"^https?://[^\s/]+", value):
        raise SettingsError(
            f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL} (GovSlack: https://slack-gov.com/api/)"
        )
    return value if value.endswith("/") else value + "/"


def _channel(env: Mapping[str, str], name: str) -> str | None:
    value = _value(env, name)
    if value is None:
        return None
    if not re.fullmatch(r"[CG][A-Z0-9]{6,}", value):
        raise SettingsError(
            f"{name} must be a channel id such as C0123ABCD (in Slack: the channel's details, at the bottom); "
            "invite platbot to that channel"
        )
    return value


def _command(env: Mapping[str, str]) -> str:
    value = _value(env, "PLATBOT_COMMAND") or DEFAULT_COMMAND
    if not _COMMAND.match(value):
        raise SettingsError(
            "PLATBOT_COMMAND must be a slash command name such as /platform: a slash, then up to "
            "31 lowercase letters, digits, '-' or '_'; it must match the command in manifest.yml"
        )
    return value
