"""Keep the built matcher on disk so `platbot ask` skips parsing YAML and indexing.

Parsing and indexing the knowledge base are most of the CLI's start-up. The cache holds the
result, keyed by a fingerprint of the content of every knowledge file and of platbot's own
matching code, so any edit rebuilds it, and so does a file that can no longer be read (the
loader then reports it, as without a cache).

The file is data, never code: a line of JSON, then the body. The first line names the
format, its version, the fingerprint and the SHA-256 of the body. The body is a second line
of JSON, which holds the knowledge base, its load problems and the matcher's built state
(`Matcher.to_data`), then a blob of raw sections (bot/packing.py) that the JSON refers to by
number, for the long runs: little-endian arrays of numbers (the classifiers' weights, where
each feature's postings end...) and runs of UTF-8 strings separated by NUL (the topics' text,
the normalised examples, the features, each run of features with the hash table of their
CRC-32s that finds one without a dict of them all). The JSON line starts with the table of
those sections, each as its type code, where it starts in the blob, its size in bytes and
how many items it holds:

    {"format":"platbot-index","version":7,"key":"<fingerprint>","sha256":"<of the body>"}
    {"sections":[["s",0,1590922,12453],["i",1590922,1056,264],...],"kb":{...},"problems":[...],"matcher":{...}}
    <blob: the sections end to end>

Reading it costs one read, one checksum and a JSON line of a few hundred KB: numbers are read
where they lie (a memoryview over the file's bytes) when a question needs them, a run of
strings with one decode and one split, a feature through the hash table. What a question
seldom needs is decoded when first read: each topic's example questions and normalised
examples are a section of their own. A knowledge base with a NUL in its text (which
separates strings) is not cached (one warning).

A file is used only when its first line is exactly the one this version would write for its
body and for the knowledge base as it is now, and the body has the shape an index needs (its
sections inside the blob, each of whole items of its type, the runs of the lengths the data
says); anything else (truncated, flipped bits, another format or version, a stale or foreign
index) is rebuilt and replaced. The checksum guards against accidents, not against someone
who can write the user's cache directory: a file made to pass it can make platbot answer
wrongly or fail on a question (class numbers are not range-checked on load: that would cost
several ms per start), never run code.

It lives in the user's own cache directory (`$PLATBOT_CACHE_DIR`, else
`$XDG_CACHE_HOME/platbot`, else `~/.cache/platbot`) as `index-<id of the layers>.bin`, written
to a temporary file in the same directory and renamed over the old one, with mode 0600; what
earlier versions left beside it (`.jsonl`, `.pickle`) is removed. When the directory cannot
be written, the index is built in memory (one warning): the cache can make platbot faster,
never wrong or broken.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import itertools
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bot import __version__
from bot.errors import KnowledgeError, Problem
from bot.kb.layers import Layers
from bot.kb.load import (
    DECLINED_FILE,
    MESSAGES_FILE,
    TUNING_FILE,
    VOCABULARY_FILE,
    as_layers,
    load_knowledge,
    read_file,
    scan_topics,
)
from bot.kb.model import LANGS, KnowledgeBase, Lang, Link, Topic, Vocabulary
from bot.matcher import Matcher
from bot.packing import STRINGS, Packer, Sections

FORMAT = "platbot-index"
VERSION = 9  # of the layout below and of the to_data/from_data functions; bump on any change

_CODE = Path(__file__).resolve().parent
_CODE_FILES = (
    "cache.py",
    "packing.py",
    "matcher.py",
    "normalize.py",
    "spelling.py",
    "classifier.py",
    "calibration.py",
    "triage.py",
    "kb/model.py",
    "kb/load.py",
    "kb/safe_yaml.py",
)

# What decoding a file of the wrong shape can raise; each means "rebuild". (json and UTF-8
# decoding raise ValueError; a deeply nested forgery, RecursionError.)
_UNUSABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError)

_JSON = json.JSONDecoder()

Loaded = tuple[KnowledgeBase, list[Problem], Matcher]


def cache_dir() -> Path | None:
    """Where the index is kept; None when there is no home to keep it in (some containers)."""
    if env := os.environ.get("PLATBOT_CACHE_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "platbot"
    try:
        return Path.home() / ".cache" / "platbot"
    except (RuntimeError, KeyError):
        return None


def fingerprint(knowledge: Path | Layers) -> str:
    """What the index depends on: platbot's version, the index layout, the layers in order, and
    the content of every knowledge file and of the code that shapes the index. A file that
    cannot be read counts as such, so the index is rebuilt and the loader reports the file."""
    layers = knowledge if isinstance(knowledge, Layers) else Layers.single(knowledge)
    digest = hashlib.sha256(f"{__version__}\0{VERSION}\n".encode())
    files = [_CODE / name for name in _CODE_FILES]
    for root in layers.roots:
        files += [root / name for name in (VOCABULARY_FILE, MESSAGES_FILE, DECLINED_FILE, TUNING_FILE)]
        topics, skipped = scan_topics(root)
        files += topics
        # Area folders the loader leaves out (a link outside the root, a loop) warn too.
        digest.update(f"{root}\n".encode() + "".join(f"{problem}\n" for problem in skipped).encode())
    real_dirs: dict[Path, str] = {}
    for path in files:
        try:
            # Read as the loader reads (regular files only, a FIFO never opened, size capped).
            content = hashlib.sha256(read_file(path)).hexdigest()
        except OSError as exc:  # missing (an optional file), unreadable, refused...
            content = f"unreadable: {type(exc).__name__}: {exc}"
        # Where a symlink leads decides whether the loader reads the file: part of the key.
        digest.update(f"{path}\0{_realpath(path, real_dirs)}\0{content}\n".encode())
    return digest.hexdigest()


def _realpath(path: Path, real_dirs: dict[Path, str]) -> str:
    """os.path.realpath(path), each folder resolved once in `real_dirs`: resolving every
    folder of the path again for each of a hundred topic files was a third of `fingerprint`."""
    if os.path.islink(path):
        return os.path.realpath(path)
    real_dir = real_dirs.get(path.parent)
    if real_dir is None:
        real_dir = real_dirs[path.parent] = os.path.realpath(path.parent)
    return os.path.join(real_dir, path.name)


def index_path(knowledge: Path | Layers) -> Path | None:
    """The cache file for one directory or these layers, or None without a cache directory. One
    file per stack of knowledge directories: an edit replaces the stale index."""
    layers = knowledge if isinstance(knowledge, Layers) else Layers.single(knowledge)
    directory = cache_dir()
    return directory / f"index-{_layers_id(layers)}.bin" if directory else None


def load_matcher(knowledge: Path | str | Layers | None = None) -> Loaded:
    """The knowledge base, its load problems and a matcher: from the cache when fresh.

    `knowledge`: one directory, or layers (None: as the environment says, bundled first).
    Problems are left for the caller to report (the CLI prints them, the Slack app logs
    them); a knowledge base with no valid topic at all is an error.
    """
    layers = as_layers(knowledge)
    key = fingerprint(layers)
    path = index_path(layers)
    cached = read_index(path, key) if path else None
    if cached is not None:
        return cached
    kb, problems = load_knowledge(layers)
    if not kb.topics:
        raise KnowledgeError(f"no valid topics in {layers.describe()}")
    matcher = Matcher(kb)
    if path:
        _write(path, key, kb, problems, matcher)
    return kb, problems, matcher


# --- the file --------------------------------------------------------------------------------


def _header(key: str, body: bytes | memoryview) -> bytes:
    """The first line of the file for `key` and `body`, byte for byte."""
    fields = {"format": FORMAT, "version": VERSION, "key": key, "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps(fields, separators=(",", ":")).encode()


def read_index(path: Path, key: str) -> Loaded | None:
    """The index stored at `path` for `key`, or None: missing, unreadable, or not exactly a
    file this version wrote for the knowledge base as it is now."""
    try:
        raw = _read_regular_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        _log("info", "index cache %s unreadable (%s): rebuilding it", path, type(exc).__name__)
        return None
    header_end = raw.find(b"\n")
    with memoryview(raw) as view:
        fresh = header_end >= 0 and raw[:header_end] == _header(key, view[header_end + 1 :])
    if not fresh:
        _log("info", "index cache %s out of date or damaged: rebuilding it", path)
        return None
    # Decoding makes tens of thousands of small objects and no cycles: the cyclic garbage
    # collector, run every few thousand allocations, would only slow it down.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # The JSON line is ASCII (`_write`); the sections stay where they are in `raw`, which
        # the matcher keeps, and are read from there.
        manifest_end = raw.find(b"\n", header_end + 1)
        if manifest_end < 0:
            raise ValueError("no sections after the index")
        text = raw[header_end + 1 : manifest_end].decode("ascii")
        data, end = _JSON.raw_decode(text)
        if end != len(text):
            raise ValueError("data after the index")
        del text
        sections = Sections(data["sections"], memoryview(raw)[manifest_end + 1 :])
        kb = _kb_from_data(data["kb"], sections)
        problems = [_problem_from_data(p) for p in _list(data["problems"])]
        matcher = Matcher.from_data(kb, data["matcher"], sections)
    except _UNUSABLE as exc:
        _log("info", "index cache %s unusable (%s): rebuilding it", path, type(exc).__name__)
        return None
    finally:
        if collecting:
            gc.enable()
    return kb, problems, matcher


def _read_regular_file(path: Path) -> bytes:
    """The bytes of the regular file at `path`. Anything else put there (a symlink, a FIFO
    that would block the read, a device) is an OSError, and then replaced by `_write`."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return file.read()


def _write(path: Path, key: str, kb: KnowledgeBase, problems: list[Problem], matcher: Matcher) -> None:
    """Store the index at `path`, atomically: readers see the old file or the new one, whole."""
    pack = Packer()
    try:
        data = {
            "kb": _kb_to_data(kb, pack),
            "problems": [[p.path, p.line, p.code, p.message] for p in problems],
            "matcher": matcher.to_data(pack),
        }
        # `default=str`: the people-only `fitted` section of tuning.yaml may hold YAML dates.
        manifest = json.dumps({"sections": pack.table, **data}, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError, OverflowError) as exc:
        # A key JSON cannot hold (a date as a key in tuning.yaml), a string holding NUL.
        _log("warning", "platbot: cannot cache the index (%s); building it in memory", exc)
        return
    body = manifest + b"\n" + pack.blob()
    # Imported when there is an index to write: importing tempfile cost every `platbot ask` ~3 ms.
    import tempfile

    tmp_name = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".index-", delete=False) as tmp:
            tmp_name = tmp.name
            os.chmod(tmp_name, 0o600)
            tmp.write(_header(key, body) + b"\n" + body)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        # Read-only home, full disk: the index was built in memory all the same.
        reason = exc.strerror or type(exc).__name__
        _log("warning", "platbot: cannot write the index cache in %s (%s); building it in memory", path.parent, reason)
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    # What earlier versions kept: a pickle (run when loading: never read again) and JSON
    # lines (15 MB this replaces).
    for legacy in (".pickle", ".jsonl"):
        with contextlib.suppress(OSError):
            path.with_suffix(legacy).unlink(missing_ok=True)


def _log(level: str, message: str, *args: object) -> None:
    # Imported when there is something to say: importing logging costs `platbot ask` ~5 ms.
    import logging

    getattr(logging.getLogger("platbot.cache"), level)(message, *args)


def _layers_id(layers: Layers) -> str:
    return hashlib.sha256("\0".join(map(str, layers.roots)).encode()).hexdigest()[:16]


# --- the knowledge base as data ------------------------------------------------------------------


def _kb_to_data(kb: KnowledgeBase, pack: Packer) -> dict[str, Any]:
    v = kb.vocabulary
    # The topics' text is one section of strings, topic after topic (see `_topics_from_data`),
    # but for their example questions, a section for each topic's (`_Questions`); each
    # topic's layer and the lengths of its lists are JSON.
    texts: list[str] = []
    shapes: list[list[int]] = []
    questions: list[int] = []
    for t in kb.topics:
        texts += [t.id, t.area, t.source, *(t.title[lang] for lang in LANGS), *(t.answer[lang] for lang in LANGS)]
        questions.append(pack.strings([q for lang in LANGS for q in t.questions[lang]]))
        texts += [*t.services, *t.related]
        for link in t.links:
            texts += [link.title, link.url]
        counts = [*(len(t.questions[lang]) for lang in LANGS), len(t.services), len(t.related), len(t.links)]
        shapes.append([t.layer, *counts])
    return {
        "roots": kb.roots,
        "topics": [pack.strings(texts), shapes, questions],
        "vocabulary": [
            v.entities,
            v.synonyms,
            sorted(v.stopwords),
            v.implies,
            v.off_topic,
            v.other_platforms,
            v.other_services,
            v.other_hosts,
            v.smalltalk,
            v.thanks,
            v.unresolved,
            v.heads_up,
        ],
        "messages": kb.messages,
        "declined": kb.declined,
        "tuning": kb.tuning,
    }


def _kb_from_data(data: dict[str, Any], sections: Sections) -> KnowledgeBase:
    """The KnowledgeBase `_kb_to_data` described, with the types the loader gives; data of
    another shape raises ValueError, TypeError or KeyError."""
    # The word lists follow the four mappings in Vocabulary's field order; a count that
    # differs is a TypeError, like any other shape.
    entities, synonyms, stopwords, implies, *word_lists = data["vocabulary"]
    vocabulary = Vocabulary(
        _str_map(entities, _strs),
        _str_map(synonyms, _strs),
        frozenset(_strs(stopwords)),
        _str_map(implies, _strs),
        *(_strs(words) for words in word_lists),
    )
    tuning = data["tuning"]
    if not isinstance(tuning, dict):
        raise TypeError("tuning must be a mapping")
    roots = _strs(data["roots"])
    texts, shapes, questions = data["topics"]
    topics = _topics_from_data(sections.strings(texts), shapes, _list(questions), sections)
    if any(topic.layer >= len(roots) for topic in topics):
        raise ValueError("a topic names a layer the index does not have")
    return KnowledgeBase(
        topics,
        vocabulary,
        _str_map(data["messages"], _by_lang),
        roots=roots,
        declined={_lang(lang): questions for lang, questions in _str_map(data["declined"], _strs).items()},
        tuning=tuning,
    )


def _topics_from_data(texts: list[str], shapes: Any, questions: list[Any], sections: Sections) -> tuple[Topic, ...]:
    """The topics `_kb_to_data` laid out: for each, its id, area and source, its title and its
    answer in each language, its services, its related ids and its links (title, then URL),
    as many of each as its shape says; and its questions, from a section of their own."""
    topics = []
    at = 0

    def take(count: int) -> tuple[str, ...]:
        nonlocal at
        at += count
        if at > len(texts):
            raise ValueError("the topics' text ends early")
        return tuple(texts[at - count : at])

    if len(questions) != len(_list(shapes)):
        raise ValueError("a section of questions for each topic")
    for shape, questions_ref in zip(shapes, questions, strict=True):
        if not (set(map(type, _list(shape))) <= {int} and len(shape) == len(LANGS) + 4 and min(shape) >= 0):
            raise ValueError("a topic's shape is its layer and counts")
        layer, *n_questions, n_services, n_related, n_links = shape  # n_questions: one per language
        if sections.count(questions_ref, STRINGS) != sum(n_questions):
            raise ValueError("a topic's questions are not as many as its shape says")
        topic_id, area, source = take(3)
        title, answer = take(len(LANGS)), take(len(LANGS))
        services, related, link_texts = take(n_services), take(n_related), take(2 * n_links)
        topics.append(
            Topic(
                id=topic_id,
                area=area,
                title=dict(zip(LANGS, title, strict=True)),
                questions=_Questions(sections, questions_ref, n_questions),
                answer=dict(zip(LANGS, answer, strict=True)),
                services=services,
                links=tuple(Link(*link_texts[k : k + 2]) for k in range(0, len(link_texts), 2)),
                related=related,
                source=source,
                layer=layer,
            )
        )
    if at != len(texts):
        raise ValueError("text after the topics")
    return tuple(topics)


class _Questions(Mapping[Lang, tuple[str, ...]]):
    """A topic's example questions by language, decoded from the index the first time they are
    read: answering a question reads none, and decoding every topic's was most of reading the
    knowledge base back. Equal to the dict the loader makes, and copied or pickled as one."""

    def __init__(self, sections: Sections, ref: int, counts: list[int]) -> None:
        self._sections = sections
        self._ref = ref
        self._counts = counts
        self._decoded: dict[Lang, tuple[str, ...]] | None = None

    def _questions(self) -> dict[Lang, tuple[str, ...]]:
        if self._decoded is None:
            values = iter(self._sections.strings(self._ref))
            decoded = {lang: tuple(itertools.islice(values, n)) for lang, n in zip(LANGS, self._counts, strict=True)}
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, lang: Lang) -> tuple[str, ...]:
        return self._questions()[lang]

    def __iter__(self) -> Iterator[Lang]:
        return iter(LANGS)

    def __len__(self) -> int:
        return len(LANGS)

    def __repr__(self) -> str:
        return repr(self._questions())

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Lang, tuple[str, ...]]:
        return dict(self._questions())  # what dataclasses.asdict copies: tuples of strings

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (self._questions(),)


def _problem_from_data(data: Any) -> Problem:
    path, line, code, message = data
    if not isinstance(line, int):
        raise TypeError("a problem's line must be a number")
    return Problem(_str(path), line, _str(code), _str(message))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return value


def _strs(value: Any) -> tuple[str, ...]:
    if not set(map(type, _list(value))) <= {str}:  # in C: there are thousands of questions
        raise TypeError("expected a list of strings")
    return tuple(value)


def _lang(value: Any) -> Lang:
    if value not in LANGS:
        raise ValueError(f"not a language: {value!r}")
    return value


def _str_map(value: Any, convert: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping, not {type(value).__name__}")
    return {k: convert(v) for k, v in value.items()}


def _by_lang(value: Any, convert: Any = _str) -> dict[Lang, Any]:
    """Text in each language: exactly the languages platbot answers in, as renderers expect."""
    if not isinstance(value, dict) or list(value) != list(LANGS):
        raise ValueError(f"expected {' and '.join(LANGS)} texts")
    return {lang: convert(value[lang]) for lang in LANGS}
