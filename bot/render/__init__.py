"""Turning match results into what people read: Block Kit for Slack, plain text for terminals."""
