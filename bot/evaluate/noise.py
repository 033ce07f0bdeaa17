"""Typos on demand: how much do two slips of the finger per question cost?

Each typo is one of the four edits people make (a letter dropped, doubled, swapped with its
neighbour, or replaced by a neighbouring key), in a different word of four or more letters.
Seeded: the same question and seed always get the same typos.
"""

from __future__ import annotations

import random
import re

_WORD = re.compile(r"[A-Za-z]{4,}")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    ch: "".join(
        row2[c]
        for r2, row2 in enumerate(_ROWS)
        for c in (col - 1, col, col + 1)
        if abs(r2 - r) <= 1 and 0 <= c < len(row2) and row2[c] != ch
    )
    for r, row in enumerate(_ROWS)
    for col, ch in enumerate(row)
}


def add_typos(text: str, count: int, rng: random.Random) -> str:
    """`text` with up to `count` typos, one per word, in words of four letters or more."""
    words = list(_WORD.finditer(text))
    if not words or count <= 0:
        return text
    chosen = sorted(rng.sample(words, min(count, len(words))), key=lambda m: m.start(), reverse=True)
    for match in chosen:
        text = text[: match.start()] + _typo(match.group(0), rng) + text[match.end() :]
    return text


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)  # the first letter is rarely mistyped
    kind = rng.choice(("drop", "double", "swap", "key"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    near = _NEIGHBOURS.get(word[i].lower())
    if not near:  # a digit or an accented letter: drop it instead
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice(near) + word[i + 1 :]
