"""One module per kind of Slack request; each has `register(app, deps)`. `deliver` is what
they share for getting a reply to the asker.

Every listener is an immediate `ack` plus a lazy function that does the work: behind gunicorn
or in Socket Mode bolt runs it on a thread after the ack, and on AWS Lambda in a second,
asynchronous invocation, so Slack's 3-second deadline never depends on the work.
"""

from __future__ import annotations

from slack_bolt import Ack


def acknowledge(ack: Ack) -> None:
    ack()
