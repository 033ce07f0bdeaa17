"""Typo correction against the knowledge base's own words ("secrts", "schedual", "lamdba").

Edits count as in OSA distance, so two swapped letters are one edit. The rules keep real words
safe:

- a word the index knows is never changed, unless it is itself a typo that an example
  question makes on purpose (`known_typos`);
- words of six letters or more may become a word of the index used by two topics or more, one
  edit away (two from nine letters on);
- words of four or five letters only a word of the vocabulary, one edit away, and only when
  exactly one fits ("lunch" is one letter from "launch", which is no vocabulary word);
- acronyms and product names are never corrected: ECS and EKS differ by one letter.

Candidates come from a deletion index (each word under itself and every way of dropping one
of its letters), so a question's unknown word costs a few lookups, not a scan of the index.

Pure: build once from the index's words, then `correct` is a function of its input.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import OSA

LONG_WORD = 6  # from here, any common word of the index is a candidate
VERY_LONG_WORD = 9  # from here, two edits
CACHE_SIZE = 20_000


class Speller:
    def __init__(
        self,
        topics_per_word: Mapping[str, int],
        vocabulary: Collection[str],
        names: Collection[str],
        known_typos: Mapping[str, str] | None = None,
    ) -> None:
        """`topics_per_word`: every token of the index and how many topics use it;
        `vocabulary`: the vocabulary's own words; `names`: words never to touch (products);
        `known_typos`: what an earlier Speller on the same words found (`to_data`), since
        finding them is the slow part."""
        self._known = frozenset(topics_per_word)
        self._topics_per_word = topics_per_word
        self._vocabulary_words = vocabulary
        if known_typos is None:
            known_typos = _known_typos(topics_per_word, self._common, frozenset(names) | frozenset(vocabulary))
        self.known_typos = known_typos
        self._seen: dict[str, str | None] = {}

    # The candidate indexes are built the first time a word needs them: a Speller read back
    # from the on-disk index often answers a whole `platbot ask` without them.

    @functools.cached_property
    def _common_words(self) -> list[str]:
        return sorted(w for w, n in self._topics_per_word.items() if len(w) >= 5 and _plain(w) and n >= 2)

    @functools.cached_property
    def _common(self) -> _DeletionIndex:
        return _DeletionIndex(self._common_words)

    @functools.cached_property
    def _common_by_length(self) -> dict[int, list[str]]:
        by_length: dict[int, list[str]] = defaultdict(list)
        for word in self._common_words:
            by_length[len(word)].append(word)
        return by_length

    @functools.cached_property
    def _vocabulary(self) -> _DeletionIndex:
        return _DeletionIndex(sorted(w for w in self._vocabulary_words if 3 <= len(w) <= 6 and w in self._known))

    def to_data(self) -> dict[str, str]:
        """What `from_data` needs besides the words it was built on, as plain data."""
        return dict(self.known_typos)

    @classmethod
    def from_data(
        cls,
        topics_per_word: Mapping[str, int],
        vocabulary: Collection[str],
        names: Collection[str],
        data: Mapping[str, str],
    ) -> Speller:
        """The Speller `to_data` described, for the same words. Data of another shape raises TypeError."""
        if not (isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())):
            raise TypeError("not the data of a Speller")
        return cls(topics_per_word, vocabulary, names, known_typos=data)

    def correct(self, token: str) -> str | None:
        """The word `token` is a typo of, or None (remembered: a word comes back often)."""
        if token in self._seen:
            return self._seen[token]
        if len(self._seen) >= CACHE_SIZE:
            self._seen.clear()
        word = self._seen[token] = self._correct(token)
        return word

    def _correct(self, token: str) -> str | None:
        if token in self.known_typos:
            return self.known_typos[token]
        if token in self._known or len(token) < 4 or not _plain(token):
            return None
        if len(token) < LONG_WORD:
            hits = self._vocabulary.within_one(token)
            return hits[0] if len(hits) == 1 else None
        if len(token) < VERY_LONG_WORD:
            hits = self._common.within_one(token)
            # The closest; then the word more topics use (an example's own typo loses).
            return min(hits, key=lambda w: (OSA.distance(token, w), -self._topics_per_word[w], w)) if hits else None
        lengths = range(len(token) - 2, len(token) + 3)
        near = [w for n in lengths for w in self._common_by_length.get(n, ())]
        hit = process.extractOne(token, near, scorer=OSA.distance, score_cutoff=2)
        return hit[0] if hit else None


class _DeletionIndex:
    """Words under themselves and each one-letter deletion: two words one edit apart share a key."""

    def __init__(self, words: Iterable[str]) -> None:
        self._keys: dict[str, list[str]] = defaultdict(list)
        for word in words:
            for key in _deletions(word):
                self._keys[key].append(word)

    def within_one(self, token: str) -> list[str]:
        found = {w for key in _deletions(token) for w in self._keys.get(key, ())}
        return sorted(w for w in found if OSA.distance(token, w, score_cutoff=1) <= 1)


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _plain(word: str) -> bool:
    return word.isascii() and word.isalpha()


def _known_typos(topics_per_word: Mapping[str, int], common: _DeletionIndex, names: Collection[str]) -> dict[str, str]:
    """Typos the example questions make on purpose ("lamdba"): a word of one topic that is one
    slip from exactly one word of three topics or more is that word, in questions too."""
    typos = {}
    for token, topics in topics_per_word.items():
        if topics != 1 or len(token) < LONG_WORD or not _plain(token) or token in names:
            continue
        hits = [w for w in common.within_one(token) if topics_per_word[w] >= 3 and _slip(token, w)]
        if len(hits) == 1:
            typos[token] = hits[0]
    return typos


def _slip(typed: str, word: str) -> bool:
    """A slip of the finger, not another word: two neighbouring letters swapped ("lamdba"), or
    one letter dropped or doubled inside the word ("contaner"). Inflections ("cached"), other
    words one letter apart ("attach", "attack") and edits at either end ("ending") are not."""
    if len(typed) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and typed[diff[0]] == word[diff[1]]
            and typed[diff[1]] == word[diff[0]]
        )
    short, long = sorted((typed, word), key=len)
    if len(long) - len(short) != 1:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(1, len(long) - 1))
