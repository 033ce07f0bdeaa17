"""Who may see the curators' figures, and where the weekly digest goes.

    PLATBOT_CURATORS          user ids and/or user group ids, comma-separated: U0123ABCD,S0456EFGH
    PLATBOT_CURATOR_CHANNEL   the channel `platbot digest` posts to: C0123ABCD (invite platbot there)

A user group's members are asked of Slack (usergroups.users.list) each time, so a change in the
group counts at once; that method needs the bot scope usergroups:read. When Slack refuses (the
scope is missing, the group was deleted), the person is not taken for a curator.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import SettingsError

log = logging.getLogger("platbot.slack.curators")

_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP = re.compile(r"S[A-Z0-9]{2,}")
_CHANNEL = re.compile(r"[CG][A-Z0-9]{6,}")


@dataclass(frozen=True)
class Curators:
    users: frozenset[str]
    groups: tuple[str, ...]  # user group ids, asked of Slack in this order

    def includes(self, user_id: str, client: WebClient) -> bool:
        if user_id in self.users:
            return True
        for group in self.groups:
            try:
                members = client.usergroups_users_list(usergroup=group).get("users") or []
            except SlackApiError as error:
                log.warning(
                    "cannot read the members of user group %s (%s): the app needs the usergroups:read scope",
                    group,
                    error.response.get("error"),
                )
                continue
            if user_id in members:
                return True
        return False


def curators_setting(env: Mapping[str, str]) -> Curators | None:
    """`PLATBOT_CURATORS`, or None when unset: then nobody sees the figures in Slack."""
    value = (env.get("PLATBOT_CURATORS") or "").strip()
    if not value:
        return None
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    wrong = [entry for entry in entries if not (_USER.fullmatch(entry) or _GROUP.fullmatch(entry))]
    if wrong or not entries:
        raise SettingsError(
            "PLATBOT_CURATORS must be user ids (U0123ABCD: a person's profile > ⋮ > Copy member ID) and/or "
            "user group ids (S0123ABCD), separated by commas"
        )
    users = frozenset(entry for entry in entries if _USER.fullmatch(entry))
    groups = tuple(dict.fromkeys(entry for entry in entries if _GROUP.fullmatch(entry)))
    return Curators(users, groups)


def curator_channel_setting(env: Mapping[str, str]) -> str | None:
    """`PLATBOT_CURATOR_CHANNEL`, or None when unset."""
    value = (env.get("PLATBOT_CURATOR_CHANNEL") or "").strip()
    if not value:
        return None
    if not _CHANNEL.fullmatch(value):
        raise SettingsError(
            "PLATBOT_CURATOR_CHANNEL must be a channel id such as C0123ABCD (in Slack: the channel's details, "
            "at the bottom); invite platbot to that channel"
        )
    return value
