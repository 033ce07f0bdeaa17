"""The small tree of errors platbot raises on purpose.

    PlatbotError
     +-- KnowledgeError      the knowledge base cannot be loaded or is invalid
     +-- SettingsError       the environment lacks a setting, or it is malformed

Each carries enough to print a one-line message for people; none carries a secret.
"""

from __future__ import annotations

from dataclasses import dataclass


class PlatbotError(Exception):
    """Base class: anything platbot reports to a person as a one-line error."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the knowledge base, at a place people can open."""

    path: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"


class KnowledgeError(PlatbotError):
    """The knowledge base is missing or has problems; `problems` lists each with file:line."""

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            super().__init__(problems)
        else:
            self.problems = list(problems)
            first = str(self.problems[0]) if self.problems else "invalid knowledge base"
            more = len(self.problems) - 1
            others = f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else ""
            super().__init__(first + others)


class SettingsError(PlatbotError):
    """A setting is missing or malformed; the message names the variable, never its value."""
