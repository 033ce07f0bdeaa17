"""platbot: answers platform-choice questions for teams that run containers on AWS."""

__version__ = "0.1.0"
