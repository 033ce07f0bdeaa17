"""Turn free text (English or Japanese, Slack-flavoured, typos included) into match tokens.

The same function runs over the knowledge base's example questions at load time and over
each question at ask time, so both sides are folded the same way:

1. Unicode NFKC and case folding (full-width ＥＣＳ -> ecs, half-width ｽｹｼﾞｭｰﾙ -> スケジュール).
2. Slack markup dropped: mentions, `<!channel>`, link targets, `:emoji:` codes; camelCase
   field names split (`logConfiguration` -> log configuration) unless they are known names.
3. Aliases from `knowledge/vocabulary.yaml` folded onto one canonical word, longest first:
   product names become entities (`k8s` -> kubernetes), synonyms a shared word
   (`cron`, `定期実行` -> schedule). This is also what lets an English example reach a
   Japanese question: both end up with the token `schedule`.
4. Tokens: Latin words (light plural folding), katakana words whole, kanji runs as character
   bigrams and a lone kanji as itself (the stem of 落ちる, 削る). Japanese has no spaces, and
   bigrams need no dictionary; hiragana runs (particles, inflections) are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.kb.model import Lang, Vocabulary

# No `<` inside: Slack sends a typed `<` as `&lt;`, and a scan for `>` from every `<` of a
# pasted "<<<<..." would take quadratic time.
_SLACK_LINK = re.compile(r"<(?:https?://|mailto:)[^|<>]*\|([^<>]*)>")
_SLACK_MARKUP = re.compile(r"<[^<>]*>")
# An emoji code stands alone: the `:aws:` and `:eu-west-1:` inside an ARN are not emoji.
_EMOJI_CODE = re.compile(r"(?<!\w):[a-z0-9_+\-]+:(?!\w)")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(
    r"(?P<latin>[a-z0-9]+)"
    r"|(?P<katakana>[\u30a0-\u30ff]+)"
    r"|(?P<kanji>[\u3400-\u9fff\uf900-\ufaff々]+)"
)
# Markers the vocabulary's `decline` lists put among a question's entities.
OFF_TOPIC = "offtopic"
OTHER_PLATFORM = "otherplatform"
OTHER_SERVICE = "otherservice"
OTHER_HOST = "otherhost"
MARKERS = frozenset({OFF_TOPIC, OTHER_PLATFORM, OTHER_SERVICE, OTHER_HOST})

# Longer "words" are hashes, ids or base64 from pasted logs: no meaning to match on.
MAX_WORD_CHARS = 30
# Not \b: in Japanese text a field name runs straight into kana (minimumHealthyPercentと).
_CAMEL_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][a-z0-9]*(?:[A-Z][a-z0-9]+)+(?![A-Za-z0-9])")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-_]+")
_SEPARATOR_CHARS = frozenset(" \t\n\r\f\v\x1c\x1d\x1e\x1f\x85-_")  # and the rest of Unicode's spaces
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WORD_START_CHARS = _WORD_CHARS | {".", "/"}
_LATIN_ALIAS = re.compile(r"^[a-z0-9 .\-/]+$")
# Control characters but tabs and line breaks: NUL, ESC (terminal colours), DEL, C1 but NEL.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def detect_lang(text: str) -> Lang:
    """Japanese if the text holds any kana or kanji: product names are written in Latin
    letters in Japanese questions too, so a ratio would misjudge 「ECSのcronは?」."""
    return "ja" if _JAPANESE.search(text) else "en"


def fold(text: str) -> str:
    """NFKC + case folding: the one comparison form for every string platbot matches."""
    return unicodedata.normalize("NFKC", text).casefold()


_PLAIN_TERM = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")


def plain_terms(text: str) -> list[str]:
    """A text's words as typed: Latin words and numbers whole, Japanese runs (kana and kanji)
    as character bigrams; no vocabulary, no stop words, no typo fixes. A second view of the
    text, for BM25: the exact words people paste (error names, API fields) are the rare ones
    the vocabulary's folding would merge."""
    terms: list[str] = []
    for run in _PLAIN_TERM.findall(fold(strip_slack_markup(text))):
        if run.isascii():
            terms.append(run)
        else:
            terms.extend([run[i : i + 2] for i in range(len(run) - 1)] or [run])
    return terms


def printable(text: str) -> str:
    """Text safe to post or print. UTF-8 cannot encode a surrogate, so a pair held as two code
    points becomes its character and a lone one (from a JSON escape, or bytes that were not UTF-8
    on the command line) becomes U+FFFD; control characters other than tabs and line breaks go."""
    text = _CONTROL.sub("", text)
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def strip_slack_markup(text: str) -> str:
    """Drop what Slack adds around a question: `<@U123>`, `<!channel>`, link targets, emoji codes,
    and the `&amp;` `&lt;` `&gt;` it writes for what people typed."""
    text = _SLACK_LINK.sub(r" \1 ", text)
    text = _SLACK_MARKUP.sub(" ", text)
    text = _EMOJI_CODE.sub(" ", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class Normalized:
    """A text folded for matching: its evidence tokens (in order) and the products it names."""

    tokens: tuple[str, ...]
    entities: frozenset[str]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


class Normalizer:
    """Folds text with one vocabulary. Build once; calling it is cheap and pure."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self._fold_vocabulary(vocabulary)
        replacements: dict[str, str] = {}
        # Synonyms first, then entities, so that a product name wins a clash of aliases.
        for canonical, aliases in vocabulary.synonyms.items():
            for alias in (canonical, *aliases):
                replacements[fold(alias)] = canonical
        for canonical, aliases in vocabulary.entities.items():
            for alias in (canonical, *aliases):
                replacements[fold(alias)] = canonical
        markers = (
            (OFF_TOPIC, vocabulary.off_topic),
            (OTHER_PLATFORM, vocabulary.other_platforms),
            (OTHER_SERVICE, vocabulary.other_services),
            (OTHER_HOST, vocabulary.other_hosts),
        )
        for marker, aliases in markers:
            for alias in aliases:
                replacements[fold(alias)] = marker
        self._replacements = {_squash(alias): canonical for alias, canonical in replacements.items()}
        self._protected = frozenset(replacements.values())
        self._aliases = AliasScanner.of(replacements)

    def _fold_vocabulary(self, vocabulary: Vocabulary) -> None:
        self.stopwords = frozenset(_fold_token(fold(w)) for w in vocabulary.stopwords)
        self.entities = frozenset(vocabulary.entities) | MARKERS
        self._implies = {k: tuple(v) for k, v in vocabulary.implies.items()}

    def to_data(self) -> dict[str, Any]:
        """The folded aliases as plain data, for the on-disk index (bot/cache.py)."""
        return {
            "replacements": self._replacements,
            "protected": sorted(self._protected),
            "aliases": {"latin": self._aliases.latin, "other": self._aliases.other},
        }

    @classmethod
    def from_data(cls, vocabulary: Vocabulary, data: Mapping[str, Any]) -> Normalizer:
        """The Normalizer `to_data` described, for the same vocabulary. Data of another shape
        raises TypeError or KeyError."""
        replacements, protected, aliases = data["replacements"], data["protected"], data["aliases"]
        if not (
            isinstance(replacements, dict)
            and all(isinstance(v, str) for v in replacements.values())
            and isinstance(protected, list)
            and all(isinstance(w, str) for w in protected)
            and isinstance(aliases, dict)
            and all(isinstance(v, list) and all(isinstance(a, str) for a in v) for v in aliases.values())
        ):
            raise TypeError("not the data of a Normalizer")
        normalizer = cls.__new__(cls)
        normalizer._fold_vocabulary(vocabulary)
        normalizer._replacements = replacements
        normalizer._protected = frozenset(protected)
        normalizer._aliases = AliasScanner(aliases["latin"], aliases["other"])
        return normalizer

    def __call__(self, text: str) -> Normalized:
        folded = fold(_CAMEL_WORD.sub(self._split_camel, strip_slack_markup(text)))
        found: set[str] = set()

        def replace(alias: str) -> str:
            canonical = self._replacements[_squash(alias)]
            if canonical in self.entities:
                found.add(canonical)
            return f" {canonical} "

        folded = self._aliases.sub(replace, folded)
        tokens = [t if t in self._protected else _fold_token(t) for t in tokenize(folded)]
        tokens = [t for t in tokens if t not in self.stopwords]
        found.update(t for t in tokens if t in self.entities)
        for entity in list(found):
            found.update(self._implies.get(entity, ()))
        return Normalized(tuple(tokens), frozenset(found))

    def _split_camel(self, match: re.Match[str]) -> str:
        """`logConfiguration` -> `log Configuration`, unless the word is a known name (`EventBridge`)."""
        word = match.group(0)
        if _squash(fold(word)) in self._replacements:
            return word
        return _CAMEL_HUMP.sub(" ", word)


def _squash(alias: str) -> str:
    """The lookup key of an alias: "cron job", "cron-job" and "cronjob" are one."""
    return _SEPARATORS.sub("", alias)


class AliasScanner:
    """Finds the vocabulary's aliases in folded text, longest first, and replaces them.

    A walk down a character trie, not one regex of every alias: compiling that regex (40 KB
    of pattern) took longer than the rest of a cached `platbot ask`, and the walk costs
    1.1-1.2 times what the regex did per question. Inside an alias, any run of spaces, dashes and
    underscores stands for one separator, and the separators may be left out ("cron job",
    "cron-job" and "cronjob" are one). Aliases of Latin letters, digits, dots and slashes
    match whole words only ("ack" never fires inside "backup"); the others, Japanese or
    mixed, match anywhere, except that one opening with a Latin character must open a word.
    """

    def __init__(self, latin: Iterable[str], other: Iterable[str]) -> None:
        # Each alias once, with its separators as single spaces: what the cache keeps.
        self.latin, self.other = _spaced(latin), _spaced(other)
        self._latin = _Trie(self.latin)
        self._other = _Trie(self.other)
        self._unbuilt = set(self._latin.openings | self._other.openings)  # see _Trie
        # Where a walk can start: a word's first character, or any character that opens a
        # non-Latin alias (one regex of a few hundred characters, quick to compile).
        self._other_openings = self._other.openings
        opening = sorted(self._other_openings - _WORD_START_CHARS)
        self._starts = re.compile(
            r"(?<![a-z0-9])[a-z0-9./]" + (f"|[{''.join(map(re.escape, opening))}]" if opening else "")
        )

    @classmethod
    def of(cls, aliases: Iterable[str]) -> AliasScanner:
        """A scanner for folded aliases, each Latin or not as written ("ecs_cluster", with its
        underscore, is not: it matches inside text, and after "ecs" has matched as a word)."""
        aliases = list(aliases)
        return cls([a for a in aliases if _LATIN_ALIAS.match(a)], [a for a in aliases if not _LATIN_ALIAS.match(a)])

    def sub(self, replace: Callable[[str], str], text: str) -> str:
        """`text` with each alias found (leftmost first, then the longest) replaced by
        `replace(alias as written)`."""
        parts: list[str] = []
        done = 0
        for start in self._starts.finditer(text):
            i = start.start()
            if i < done:
                continue
            char = text[i]
            if char in self._unbuilt:  # the first walk from this character: grow its branches
                self._latin.grow(char)
                self._other.grow(char)
                self._unbuilt.discard(char)
            if char in _WORD_START_CHARS:  # a word starts here
                end = self._walk(text, i, self._latin, bounded=True)
                if end < 0 and char in self._other_openings:
                    end = self._walk(text, i, self._other, bounded=False)
            else:
                end = self._walk(text, i, self._other, bounded=False)
            if end > i:
                parts += (text[done:i], replace(text[i:end]))
                done = end
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    @staticmethod
    def _walk(text: str, i: int, trie: _Trie, bounded: bool) -> int:
        """Where the longest alias starting at `i` ends, or -1; `bounded`: it must end a word."""
        node = trie
        n = len(text)
        longest = -1
        while i < n:
            char = text[i]
            i += 1
            if char in _SEPARATOR_CHARS or (char > "\x7f" and char.isspace()):
                while i < n and (text[i] in _SEPARATOR_CHARS or (text[i] > "\x7f" and text[i].isspace())):
                    i += 1
                char = " "
            node = node.get(char)
            if node is None:
                break
            if _END in node and not (bounded and i < n and text[i] in _WORD_CHARS):
                longest = i
        return longest


_Node = dict[str, "_Node"]
_END = ""  # the key that marks where an alias ends: no character is ""


def _spaced(aliases: Iterable[str]) -> list[str]:
    return sorted({spaced for a in aliases if (spaced := _SEPARATORS.sub(" ", a).strip())})


class _Trie(dict[str, _Node]):
    """The aliases as a character trie, each also without its separators.

    Each branch of the first level is grown when a walk first starts at its character
    (`AliasScanner.sub` calls `grow`): a question starts walks at a few characters, and
    building the whole trie was most of the cost of reading the normalizer back from the
    on-disk index. Walks read plain dicts, as before."""

    def __init__(self, aliases: list[str]) -> None:
        super().__init__()
        self._variants: dict[str, list[str]] = {}  # first character -> the variants it opens
        for alias in aliases:
            for variant in {alias, alias.replace(" ", "")}:
                self._variants.setdefault(variant[0], []).append(variant)
        self.openings = frozenset(self._variants)

    def grow(self, char: str) -> None:
        """Add the branch of the aliases that open with `char`, if any and not yet there."""
        if char in self or char not in self._variants:
            return
        branch: _Node = {}
        for variant in self._variants[char]:
            node = branch
            for rest in variant[1:]:
                node = node.setdefault(rest, {})
            node[_END] = {}
        # Another thread may have grown it meanwhile: the same branch, either is kept.
        self.setdefault(char, branch)


def tokenize(folded: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(folded):
        if word := match.group("latin"):
            if len(word) <= MAX_WORD_CHARS:
                tokens.append(word)
        elif word := match.group("katakana"):
            tokens.append(word.rstrip("ー") or word)  # サーバー and サーバ are one word
        else:
            # A lone kanji is mostly a verb or adjective stem (落ちる, 消す, 削る, 高い): vague
            # alone, but in a question it is often the symptom or the ask.
            run = match.group("kanji")
            if len(run) == 1:
                tokens.append(run)
            else:
                tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def _fold_token(word: str) -> str:
    """Light English plural folding: tasks -> task, policies -> policy; acronyms untouched."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
