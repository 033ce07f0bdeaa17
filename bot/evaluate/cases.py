"""Labelled questions: `tests/eval/*.yaml`, each item `{q, expect, category}`.

`expect` is the topic id that answers the question, or null for a question platbot must not
answer (out of scope, junk, a greeting). Language and length are read off the question, so
every set can be reported by both without labelling them by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.errors import PlatbotError
from bot.kb.model import Lang
from bot.normalize import detect_lang

Length = Literal["short", "medium", "long"]
LENGTHS: tuple[Length, ...] = ("short", "medium", "long")
LONG_WORDS = 40  # a Slack message with context, not a one-line question
SHORT_WORDS = 8

_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'._/-]*")
_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


class EvalSetError(PlatbotError):
    """The evaluation file is missing or malformed."""


@dataclass(frozen=True)
class Case:
    question: str
    expect: str | None
    category: str
    source: str

    @property
    def in_scope(self) -> bool:
        return self.expect is not None

    @property
    def lang(self) -> Lang:
        return detect_lang(self.question)

    @property
    def length(self) -> Length:
        n = word_count(self.question)
        return "short" if n < SHORT_WORDS else "long" if n >= LONG_WORDS else "medium"


def word_count(text: str) -> int:
    """Latin words plus Japanese characters / 2.5: a Japanese sentence of 100 characters
    carries about as much as 40 English words."""
    return len(_LATIN_WORD.findall(text)) + round(len(_JAPANESE_CHAR.findall(text)) / 2.5)


def load_cases(paths: list[Path]) -> list[Case]:
    """Every case in the given files and folders (`**/*.yaml`, sorted), in file order."""
    files: list[tuple[Path, str]] = []  # (file, its name in reports: the path below the folder given)
    for path in paths:
        if path.is_dir():
            files += [(f, f.relative_to(path).with_suffix("").as_posix()) for f in sorted(path.rglob("*.yaml"))]
        elif path.is_file():
            files.append((path, path.stem))
        else:
            raise EvalSetError(f"evaluation set not found: {path}")
    if not files:
        raise EvalSetError(f"no *.yaml evaluation files in {', '.join(map(str, paths))}")
    cases = []
    for file, name in files:
        try:
            items: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise EvalSetError(f"{file}: cannot read evaluation set: {exc.__class__.__name__}") from exc
        if not isinstance(items, list):
            raise EvalSetError(f"{file}: expected a list of {{q, expect, category}}")
        for n, item in enumerate(items, start=1):
            if not (isinstance(item, dict) and isinstance(item.get("q"), str)):
                raise EvalSetError(f"{file}: item {n}: needs a string 'q'")
            expect = item.get("expect")
            if expect is not None and not isinstance(expect, str):
                raise EvalSetError(f"{file}: item {n}: 'expect' must be a topic id or null")
            cases.append(Case(item["q"], expect, str(item.get("category", "other")), name))
    return cases
