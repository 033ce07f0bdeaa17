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
   bigrams. Japanese has no spaces, and bigrams need no dictionary; hiragana runs (particles,
   inflections) and lone kanji (verb stems) are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.kb.model import Lang, Vocabulary

# No `<` inside: Slack sends a typed `<` as `&lt;`, and a scan for `>` from every `<` of a
# pasted "<<<<..." would take quadratic time.
_SLACK_LINK = re.compile(r"<(?:https?://|mailto:)[^|<>]*\|([^<>]*)>")
_SLACK_MARKUP = re.compile(r"<[^<>]*>")
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-]+:")
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
MARKERS = frozenset({OFF_TOPIC, OTHER_PLATFORM, OTHER_SERVICE})

# Longer "words" are hashes, ids or base64 from pasted logs: no meaning to match on.
MAX_WORD_CHARS = 30
# Not \b: in Japanese text a field name runs straight into kana (minimumHealthyPercentと).
_CAMEL_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][a-z0-9]*(?:[A-Z][a-z0-9]+)+(?![A-Za-z0-9])")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-_]+")
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
        )
        for marker, aliases in markers:
            for alias in aliases:
                replacements[fold(alias)] = marker
        self._replacements = {_squash(alias): canonical for alias, canonical in replacements.items()}
        self._protected = frozenset(replacements.values())
        self._alias_pattern = _alias_regex(replacements) if replacements else None

    def _fold_vocabulary(self, vocabulary: Vocabulary) -> None:
        self.stopwords = frozenset(_fold_token(fold(w)) for w in vocabulary.stopwords)
        self.entities = frozenset(vocabulary.entities) | MARKERS
        self._implies = {k: tuple(v) for k, v in vocabulary.implies.items()}

    def to_data(self) -> dict[str, Any]:
        """The folded aliases and their regex source as plain data, for the on-disk index
        (bot/cache.py): building the alias trie is most of the cost of a Normalizer."""
        return {
            "replacements": self._replacements,
            "protected": sorted(self._protected),
            "pattern": self._alias_pattern.pattern if self._alias_pattern is not None else None,
        }

    @classmethod
    def from_data(cls, vocabulary: Vocabulary, data: Mapping[str, Any]) -> Normalizer:
        """The Normalizer `to_data` described, for the same vocabulary; the regex is compiled
        again. Data of another shape raises TypeError, ValueError or KeyError (or re.error)."""
        replacements, protected, pattern = data["replacements"], data["protected"], data["pattern"]
        if not (
            isinstance(replacements, dict)
            and all(isinstance(v, str) for v in replacements.values())
            and isinstance(protected, list)
            and all(isinstance(w, str) for w in protected)
            and (pattern is None or isinstance(pattern, str))
        ):
            raise TypeError("not the data of a Normalizer")
        normalizer = cls.__new__(cls)
        normalizer._fold_vocabulary(vocabulary)
        normalizer._replacements = replacements
        normalizer._protected = frozenset(protected)
        normalizer._alias_pattern = re.compile(pattern) if pattern is not None else None
        return normalizer

    def __call__(self, text: str) -> Normalized:
        folded = fold(_CAMEL_WORD.sub(self._split_camel, strip_slack_markup(text)))
        found: set[str] = set()
        if self._alias_pattern is not None:

            def replace(match: re.Match[str]) -> str:
                canonical = self._replacements[_squash(match.group(0))]
                if canonical in self.entities:
                    found.add(canonical)
                return f" {canonical} "

            folded = self._alias_pattern.sub(replace, folded)
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


def _alias_regex(replacements: dict[str, str]) -> re.Pattern[str]:
    """One regex for every alias, built as a trie so each position is tried once, not once
    per alias (a plain alternation of a few hundred aliases made loading 10x slower)."""
    latin = [a for a in replacements if _LATIN_ALIAS.match(a)]
    other = [a for a in replacements if not _LATIN_ALIAS.match(a)]
    parts = []
    if latin:
        # Latin aliases only on word boundaries: "ack" must not fire inside "backup".
        parts.append(rf"(?<![a-z0-9]){_trie_pattern(latin)}(?![a-z0-9])")
    if other:
        parts.append(_trie_pattern(other))
    return re.compile("|".join(parts))


def _trie_pattern(words: list[str]) -> str:
    trie: dict[str, dict] = {}
    for word in words:
        # No separator first ("--kubelet-extra-args"): a pattern that opens with [\s\-_]+ is
        # tried along the whole of every run of spaces or dashes, quadratic in its length.
        spaced = _SEPARATORS.sub(" ", word).strip()
        if not spaced:
            continue
        # "cron job" is also typed "cron-job" and "cronjob".
        for variant in {spaced, spaced.replace(" ", "")}:
            node = trie
            for char in variant:
                node = node.setdefault(char, {})
            node[""] = {}
    return _node_pattern(trie)


def _node_pattern(node: dict[str, dict]) -> str:
    # Branches start with different characters (a separator needs at least one), so at most
    # one can match; children are tried before stopping here, so the longest alias wins.
    branches = [
        (r"[\s\-_]+" if char == " " else re.escape(char)) + _node_pattern(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def tokenize(folded: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(folded):
        if word := match.group("latin"):
            if len(word) <= MAX_WORD_CHARS:
                tokens.append(word)
        elif word := match.group("katakana"):
            tokens.append(word.rstrip("ー") or word)  # サーバー and サーバ are one word
        else:
            # A lone kanji between kana is mostly a verb stem (書く, 出る): too vague to count.
            run = match.group("kanji")
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def _fold_token(word: str) -> str:
    """Light English plural folding: tasks -> task, policies -> policy; acronyms untouched."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
