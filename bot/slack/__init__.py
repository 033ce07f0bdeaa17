"""The Slack app: bolt wiring, listeners, and the servers that run it (HTTP, Socket Mode, Lambda)."""
