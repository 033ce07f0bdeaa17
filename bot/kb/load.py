"""Read `knowledge/` into a KnowledgeBase, reporting each problem with file and line.

Loading is lenient: a topic file that cannot be read or has the wrong shape is left out and
reported, and a bad entry in a shared file (`vocabulary.yaml`, `messages.yaml`...) costs that
entry, so one bad edit never takes the whole bot down. `platbot check` turns the same reports
(plus the rules in `lint.py`) into a non-zero exit.

It is also safe on a directory nobody has reviewed. It reads regular files only (a FIFO, a
device or a socket is reported, never read), each at most once, none larger than
MAX_FILE_BYTES, and none outside the knowledge directory wherever a symlink points. A YAML
document whose aliases would expand to more than MAX_YAML_NODES nodes is refused before
anything walks it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import KnowledgeError, Problem
from bot.kb.layers import Layers, bundled_root, layers_from_env
from bot.kb.model import LANGS, KnowledgeBase, Lang, Link, Topic, Vocabulary

if TYPE_CHECKING:
    import yaml

VOCABULARY_FILE = "vocabulary.yaml"
MESSAGES_FILE = "messages.yaml"
DECLINED_FILE = "out-of-scope.yaml"  # optional: questions to decline, learned as a class
TUNING_FILE = "tuning.yaml"  # optional: written by `platbot tune`

MAX_FILE_BYTES = 1024 * 1024  # per file; the largest today, vocabulary.yaml, is 46 KB
MAX_YAML_NODES = 100_000  # per file, every alias expanded; vocabulary.yaml has about 4,000

_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOPIC_FIELDS = {"id", "title", "services", "questions", "answer", "links", "related"}
# O_NONBLOCK: opening a FIFO that replaced a checked file returns at once instead of waiting
# for a writer.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


# --- reading one file ------------------------------------------------------------------------


class RefusedFile(OSError):
    """A file the loader will not read: not a regular file, or larger than MAX_FILE_BYTES."""


def read_file(path: Path | str) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed); RefusedFile when it is
    anything else or larger than MAX_FILE_BYTES, other OSErrors when it cannot be read.

    The file is checked before it is opened, so a FIFO or a device is never opened; it is
    checked again once open, in case something replaced it in between. Reading stops after
    MAX_FILE_BYTES + 1 bytes, so /dev/zero behind a symlink costs one megabyte, not all memory.
    """
    _check_regular(os.stat(path).st_mode)
    with open(os.open(path, _OPEN_FLAGS), "rb") as file:
        info = os.fstat(file.fileno())
        _check_regular(info.st_mode)
        # One read sized to the file; a file that grew meanwhile is read on, up to the cap.
        data = file.read(min(info.st_size, MAX_FILE_BYTES) + 1)
        if len(data) > info.st_size:
            data += file.read(MAX_FILE_BYTES + 1 - len(data))
    if len(data) > MAX_FILE_BYTES:
        raise RefusedFile(f"larger than {MAX_FILE_BYTES / 1024 / 1024:g} MiB")
    return data


def _check_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a directory"
    elif stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "of an unknown kind"
    raise RefusedFile(f"not a regular file ({kind})")


@dataclass
class Source:
    """One YAML file's data, with a way to find the line of any field in it."""

    path: str
    data: Any
    node: yaml.Node | None = None  # the composed document, kept for line numbers
    _lines: dict[tuple[Any, ...], int] | None = None

    def line(self, *keys: Any) -> int:
        """1-based line of the value at `keys` (or of its closest parent that exists)."""
        if self._lines is None:
            from bot.kb.safe_yaml import index_lines  # only done when a problem is reported

            self._lines = index_lines(self.node)
        while keys and keys not in self._lines:
            keys = keys[:-1]
        return self._lines.get(keys, 1)

    def problem(self, code: str, message: str, *keys: Any) -> Problem:
        return Problem(self.path, self.line(*keys), code, message)


def _read(path: Path, root: Path, read_before: dict[str, str] | None = None) -> Source | Problem:
    """The file at `path` as a Source, or the Problem that stops it being read.

    `read_before` maps the real path of each file read so far to how it was shown: a file
    reached a second time through a symlink is reported, not read again.
    """
    shown = _display_path(path, root)
    real = os.path.realpath(path)
    if not _is_within(real, os.path.realpath(root)):
        return Problem(shown, 1, "KB001", "links outside the knowledge directory")
    if read_before is not None:
        if real in read_before:
            return Problem(shown, 1, "KB001", f"the same file as {read_before[real]}")
        read_before[real] = shown
    try:
        text = read_file(real).decode("utf-8")
    except RefusedFile as exc:
        return Problem(shown, 1, "KB001", str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(shown, 1, "KB001", f"cannot read file: {exc.__class__.__name__}")
    # Imported when a file is parsed: importing yaml cost a cached `platbot ask` ~9 ms.
    from bot.kb import safe_yaml

    try:
        node, data = safe_yaml.parse(text)
    except safe_yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or "invalid YAML"
        prefix = "" if isinstance(exc, safe_yaml.TooManyNodes) else "YAML syntax error: "
        return Problem(shown, line, "KB001", prefix + reason)
    except ValueError as exc:  # a well-formed scalar Python cannot hold: !!int x, 2001-13-45
        return Problem(shown, 1, "KB001", f"invalid YAML value: {exc}")
    except RecursionError:  # pure-Python yaml only; libyaml stops at 1,000 levels itself
        return Problem(shown, 1, "KB001", "YAML nested too deeply")
    return Source(shown, data, node)


def read_source(path: Path, root: Path) -> Source | Problem:
    """A shared file of the knowledge directory `root` (not a topic), read as safely as topics."""
    return _read(path, root)


def _display_path(path: Path, root: Path) -> str:
    """Paths as people see them in the repo: `knowledge/ecs/x.yaml`."""
    try:
        return str(Path(root.name) / path.relative_to(root))
    except ValueError:
        return str(path)


def _is_within(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


# --- finding the files -----------------------------------------------------------------------


def topic_files(root: Path) -> list[Path]:
    """Every topic file: `<area>/<id>.yaml`, sorted so loading is deterministic."""
    return scan_topics(root)[0]


def scan_topics(root: Path) -> tuple[list[Path], list[Problem]]:
    """The topic files in load order, and the area folders left out, with why.

    An area folder may be a symlink, to a folder inside the knowledge directory that no other
    area is: `self -> .` would read the shared files as topics, and `up -> ..` files from
    outside, so both are left out.
    """
    real_root = os.path.realpath(root)
    problems: list[Problem] = []
    areas: dict[str, Path] = {}  # real path -> area folder
    entries = _entries(root, root, problems)
    # Folders before links to them, so a link to an area is the one reported.
    for entry in sorted(entries, key=lambda e: (e.is_symlink(), e.name)):
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_dir():
                continue
        except OSError as exc:  # a symlink loop
            problems.append(Problem(_display_path(path, root), 1, "KB001", f"cannot open folder: {exc.strerror}"))
            continue
        real = os.path.realpath(path)
        if _is_within(real_root, real):
            why = "links back to the knowledge directory or a folder holding it"
        elif not _is_within(real, real_root):
            why = "links outside the knowledge directory"
        elif real in areas:
            why = f"the same folder as {_display_path(areas[real], root)}"
        else:
            areas[real] = path
            continue
        problems.append(Problem(_display_path(path, root), 1, "KB001", why))
    files = [
        Path(entry.path)
        for area in areas.values()
        for entry in _entries(area, root, problems)
        if entry.name.endswith(".yaml") and not entry.name.startswith(".")
    ]
    return sorted(files), problems


def _entries(folder: Path, root: Path, problems: list[Problem]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        problems.append(Problem(_display_path(folder, root), 1, "KB001", f"cannot open folder: {exc.strerror}"))
        return []


# --- the knowledge base ----------------------------------------------------------------------


def as_layers(knowledge: Path | str | Layers | None) -> Layers:
    """`knowledge` as layers: one directory alone, or the environment's choice for None."""
    if knowledge is None:
        return layers_from_env(os.environ)
    return knowledge if isinstance(knowledge, Layers) else Layers.single(Path(knowledge))


@dataclass
class _Layer:
    """What one knowledge directory holds; None where it has no such file (or a useless one)."""

    vocabulary: Vocabulary | None
    messages: dict[str, dict[Lang, str]] | None
    declined: dict[Lang, tuple[str, ...]] | None
    tuning: dict[str, object] | None
    topics: list[Topic]


def load_knowledge(knowledge: Path | str | Layers | None = None) -> tuple[KnowledgeBase, list[Problem]]:
    """Load every topic that is valid; return the knowledge base and the problems found.

    `knowledge` is one directory or several layers (bot/kb/layers.py): a later layer's topic
    replaces the one with its id below, its vocabulary and messages merge over those below,
    its out-of-scope questions add to theirs, and its tuning, if it has one, replaces theirs.

    Raises KnowledgeError only when nothing usable is there: no readable directory, or a base
    vocabulary or messages file that cannot be read as a whole (every answer depends on
    those). A bad entry in either is a problem, and only that entry is left out.
    """
    layers = as_layers(knowledge)
    problems: list[Problem] = []
    loaded: list[_Layer] = []
    for index, root in enumerate(layers.roots):
        known = loaded[0].vocabulary.entities if loaded and loaded[0].vocabulary else {}
        layer = _load_layer(root, index, problems, base=not loaded, known_entities=known)
        if not loaded and (layer.vocabulary is None or layer.messages is None):
            raise KnowledgeError(problems)
        loaded.append(layer)
    base = loaded[0]
    assert base.vocabulary is not None and base.messages is not None
    vocabulary, messages = base.vocabulary, {**_program_messages(layers), **base.messages}
    declined, tuning = dict(base.declined or {}), base.tuning
    topics = list(base.topics)
    for layer in loaded[1:]:
        if layer.vocabulary is not None:
            vocabulary = _merge_vocabulary(vocabulary, layer.vocabulary)
        messages = {**messages, **(layer.messages or {})}
        for lang, questions in (layer.declined or {}).items():
            declined[lang] = (*declined.get(lang, ()), *questions)
        tuning = layer.tuning if layer.tuning is not None else tuning
        topics = _layered_topics(topics, layer.topics)
    kb = KnowledgeBase(
        tuple(topics),
        vocabulary,
        messages,
        roots=tuple(str(root) for root in layers.roots),
        declined=declined,
        tuning=tuning or {},
    )
    return kb, problems


def _program_messages(layers: Layers) -> dict[str, dict[Lang, str]]:
    """The bundled UI strings, as defaults under a base that is not the bundled one (a team's
    own with --no-bundled, a test's): a message it lacks is then the bundled one, not a crash
    when the bot first needs it."""
    bundled = bundled_root()
    if Path(os.path.realpath(bundled)) in layers.roots:
        return {}
    return _load_shared(bundled, MESSAGES_FILE, _parse_messages, [], {}, optional=True) or {}


def _layered_topics(below: list[Topic], above: list[Topic]) -> list[Topic]:
    """`above` over `below`: a topic whose id is below takes its place, a new id goes at the end.
    Two topics with one id in the same layer both stay, for `platbot check` to report (KB010)."""
    replacing = {topic.id: topic for topic in above}
    layered = [replacing.get(topic.id, topic) for topic in below]
    placed = {id(topic) for topic in layered}
    return layered + [topic for topic in above if id(topic) not in placed]


def _load_layer(
    root: Path, index: int, problems: list[Problem], *, base: bool, known_entities: Mapping[str, object]
) -> _Layer:
    read_before: dict[str, str] = {}

    def shared(name: str, parse: Any, optional: bool = True) -> Any:
        return _load_shared(root, name, parse, problems, read_before, optional=optional)

    def parse_vocabulary(src: Source, found: list[Problem]) -> Vocabulary | None:
        return _parse_vocabulary(src, found, known_entities)

    vocabulary = shared(VOCABULARY_FILE, parse_vocabulary, optional=not base)
    messages = shared(MESSAGES_FILE, _parse_messages, optional=not base)
    declined = shared(DECLINED_FILE, _parse_declined)
    tuning = shared(TUNING_FILE, _parse_tuning)
    paths, skipped = scan_topics(root)
    problems += skipped
    topics: list[Topic] = []
    for path in paths:
        source = _read(path, root, read_before)
        if isinstance(source, Problem):
            problems.append(source)
            continue
        topic = _parse_topic(source, path, problems)
        if topic is not None:
            topics.append(dataclasses.replace(topic, layer=index) if index else topic)
    return _Layer(vocabulary, messages, declined, tuning, topics)


def _merge_vocabulary(low: Vocabulary, high: Vocabulary) -> Vocabulary:
    """A team's words add to the base's: an entity or synonym it names again gains its aliases
    (the base's stay: dropping one would silently stop questions matching)."""

    def merged(a: Mapping[str, tuple[str, ...]], b: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        out = dict(a)
        for key, words in b.items():
            out[key] = tuple(dict.fromkeys((*out.get(key, ()), *words)))
        return out

    def joined(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*a, *b)))

    return Vocabulary(
        merged(low.entities, high.entities),
        merged(low.synonyms, high.synonyms),
        low.stopwords | high.stopwords,
        merged(low.implies, high.implies),
        off_topic=joined(low.off_topic, high.off_topic),
        other_platforms=joined(low.other_platforms, high.other_platforms),
        other_services=joined(low.other_services, high.other_services),
        other_hosts=joined(low.other_hosts, high.other_hosts),
        smalltalk=joined(low.smalltalk, high.smalltalk),
        thanks=joined(low.thanks, high.thanks),
        unresolved=joined(low.unresolved, high.unresolved),
        heads_up=joined(low.heads_up, high.heads_up),
    )


def _load_shared(
    root: Path,
    name: str,
    parse: Any,
    problems: list[Problem],
    read_before: dict[str, str],
    optional: bool = False,
) -> Any:
    """`parse` applied to the file `name` at the root; None when it cannot be used at all.

    An optional file (the base works without it) may be absent; a present one that is broken
    is a problem all the same.
    """
    path = root / name
    if not os.path.lexists(path):
        if not optional:
            problems.append(Problem(_display_path(path, root), 1, "KB002", "file is missing"))
        return None
    source = _read(path, root, read_before)
    if isinstance(source, Problem):
        problems.append(source)
        return None
    return parse(source, problems)


def _parse_declined(src: Source, problems: list[Problem]) -> dict[Lang, tuple[str, ...]] | None:
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "expected 'en' and 'ja' lists of questions to decline"))
        return None
    declined: dict[Lang, tuple[str, ...]] = {}
    for lang in LANGS:
        items = data.get(lang, [])
        if not _is_str_list(items, allow_empty=True):
            problems.append(src.problem("KB003", f"'{lang}' must be a list of strings", lang))
            continue
        declined[lang] = tuple(q.strip() for q in items)
    return declined


def _parse_tuning(src: Source, problems: list[Problem]) -> dict[str, object] | None:
    """The shape only (sections of numbers); calibration.py reads the values. The values were
    fitted together, so one bad value leaves the whole file out (the defaults apply)."""
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "expected a mapping of tuning sections"))
        return None
    before = len(problems)
    for section, values in data.items():
        if section == "fitted":
            continue  # when and on what the values were fitted: for people
        if isinstance(values, dict):
            bad = [k for k, v in values.items() if not isinstance(v, int | float) or isinstance(v, bool)]
        else:
            bad = [] if isinstance(values, int | float) and not isinstance(values, bool) else [section]
        for key in bad:
            problems.append(src.problem("KB003", f"tuning '{section}.{key}' must be a number", section))
    return dict(data) if len(problems) == before else None


def _parse_vocabulary(
    src: Source, problems: list[Problem], known_entities: Mapping[str, object] | None = None
) -> Vocabulary | None:
    """The vocabulary, leaving out (and reporting) each entry or section of the wrong type."""
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "expected a mapping with 'entities' and 'synonyms'"))
        return None
    entities: dict[str, tuple[str, ...]] = {}
    implies: dict[str, tuple[str, ...]] = {}
    for name, spec in _section(src, "entities", "a mapping of entity names to their aliases", problems).items():
        aliases = spec.get("aliases") if isinstance(spec, dict) else None
        if not _is_str_list(aliases):
            problems.append(
                src.problem("KB003", f"entity '{name}': 'aliases' must be a list of strings", "entities", name)
            )
            continue
        entities[str(name)] = tuple(aliases)
        implied = spec.get("implies") or []
        if not _is_str_list(implied, allow_empty=True):
            problems.append(
                src.problem("KB003", f"entity '{name}': 'implies' must be a list of strings", "entities", name)
            )
            continue
        implies[str(name)] = tuple(implied)
    for name, implied in implies.items():
        for other in implied:
            if other not in entities and other not in (known_entities or {}):
                problems.append(
                    src.problem("KB004", f"entity '{name}' implies unknown entity '{other}'", "entities", name)
                )
    synonyms: dict[str, tuple[str, ...]] = {}
    for name, aliases in _section(src, "synonyms", "a mapping of words to their aliases", problems).items():
        if not _is_str_list(aliases):
            problems.append(src.problem("KB003", f"synonym '{name}' must map to a list of strings", "synonyms", name))
            continue
        synonyms[str(name)] = tuple(aliases)
    stopwords = _word_lists(src, "stopwords", LANGS, problems)
    markers = _word_lists(src, "decline", ("off_topic", "other_platforms", "other_services", "other_hosts"), problems)
    smalltalk = _word_lists(src, "smalltalk", LANGS, problems)
    thanks = _word_lists(src, "thanks", LANGS, problems)
    unresolved = _word_lists(src, "unresolved", LANGS, problems)
    heads_up = _word_lists(src, "heads_up", LANGS, problems)
    return Vocabulary(
        entities,
        synonyms,
        frozenset(word for lang in LANGS for word in stopwords.get(lang, ())),
        implies,
        off_topic=markers.get("off_topic", ()),
        other_platforms=markers.get("other_platforms", ()),
        other_services=markers.get("other_services", ()),
        other_hosts=markers.get("other_hosts", ()),
        smalltalk=_both_languages(smalltalk),
        thanks=_both_languages(thanks),
        unresolved=_both_languages(unresolved),
        heads_up=_both_languages(heads_up),
    )


def _both_languages(lists: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The per-language phrase lists as one: the triage matches every language at once."""
    return tuple(phrase for lang in LANGS for phrase in lists.get(lang, ()))


def _section(src: Source, name: str, what: str, problems: list[Problem]) -> dict[Any, Any]:
    """The top-level mapping `name` ({} when absent or empty); a problem and {} when it is not one."""
    value = src.data.get(name)
    if value is None or isinstance(value, dict):
        return value or {}
    problems.append(src.problem("KB003", f"'{name}' must be {what}", name))
    return {}


def _word_lists(src: Source, name: str, keys: tuple[str, ...], problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    """`name.<key>` lists of strings (each may be absent), leaving out each that is not one."""
    section = _section(src, name, f"a mapping of {', '.join(keys)} lists", problems)
    lists: dict[str, tuple[str, ...]] = {}
    for key in keys:
        words = section.get(key, [])
        if not _is_str_list(words, allow_empty=True):
            problems.append(src.problem("KB003", f"{name}.{key} must be a list of strings", name, key))
            continue
        lists[key] = tuple(str(w) for w in words)
    return lists


def _parse_messages(src: Source, problems: list[Problem]) -> dict[str, dict[Lang, str]] | None:
    """The UI strings. A message missing one language is shown in the other (better than no
    reply at all); one with neither is left out."""
    if not isinstance(src.data, dict):
        problems.append(src.problem("KB003", "expected a mapping of message keys"))
        return None
    messages: dict[str, dict[Lang, str]] = {}
    for key, value in src.data.items():
        texts = _localized_texts(src, value, (key,), str(key), problems)
        if texts:
            fallback = next(iter(texts.values()))
            messages[str(key)] = {lang: texts.get(lang, fallback) for lang in LANGS}
    return messages


def _parse_topic(src: Source, path: Path, problems: list[Problem]) -> Topic | None:
    """Build a Topic, or report why not. Content rules beyond shape live in lint.py."""
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "a topic file must be a mapping"))
        return None
    before = len(problems)
    for field in sorted(_TOPIC_FIELDS - data.keys()):
        problems.append(src.problem("KB005", f"missing '{field}'"))
    for field in sorted(data.keys() - _TOPIC_FIELDS):
        problems.append(src.problem("KB006", f"unknown field '{field}'", field))
    if len(problems) > before:
        return None

    topic_id = data["id"]
    if not isinstance(topic_id, str) or not _ID_PATTERN.match(topic_id):
        problems.append(src.problem("KB007", "'id' must be lowercase words joined by '-'", "id"))
    elif topic_id != path.stem:
        problems.append(src.problem("KB007", f"id '{topic_id}' must equal the file name '{path.stem}'", "id"))

    title = _localized_str(src, data["title"], ("title",), "title", problems)
    answer = _localized_str(src, data["answer"], ("answer",), "answer", problems)
    questions = _localized_list(src, data["questions"], problems)
    services = _str_list(src, data["services"], "services", problems)
    related = _str_list(src, data["related"], "related", problems, allow_empty=True)
    links = _links(src, data["links"], problems)
    if len(problems) > before or None in (title, answer, questions, services, related, links):
        return None
    return Topic(
        id=topic_id,
        area=path.parent.name,
        title=title,
        questions=questions,
        answer=answer,
        services=tuple(services),
        links=tuple(links),
        related=tuple(related),
        source=src.path,
    )


def _is_str_list(value: Any, allow_empty: bool = False) -> bool:
    return (
        isinstance(value, list)
        and (allow_empty or bool(value))
        and all(isinstance(v, str) and v.strip() for v in value)
    )


def _localized_str(
    src: Source, value: Any, keys: tuple[Any, ...], name: str, problems: list[Problem]
) -> dict[Lang, str] | None:
    texts = _localized_texts(src, value, keys, name, problems)
    return texts if len(texts) == len(LANGS) else None


def _localized_texts(
    src: Source, value: Any, keys: tuple[Any, ...], name: str, problems: list[Problem]
) -> dict[Lang, str]:
    """The usable halves of an {en, ja} text, reporting each one missing."""
    if not isinstance(value, dict):
        problems.append(src.problem("KB008", f"'{name}' must have 'en' and 'ja' texts", *keys))
        return {}
    texts: dict[Lang, str] = {}
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            what = "missing its Japanese half" if lang == "ja" else "missing its English text"
            problems.append(src.problem("KB008", f"'{name}' is {what} ('{lang}')", *keys, lang))
        else:
            texts[lang] = text.strip()
    return texts


def _localized_list(src: Source, value: Any, problems: list[Problem]) -> dict[Lang, tuple[str, ...]] | None:
    if not isinstance(value, dict):
        problems.append(src.problem("KB008", "'questions' must have 'en' and 'ja' lists", "questions"))
        return None
    result: dict[Lang, tuple[str, ...]] = {}
    for lang in LANGS:
        items = value.get(lang)
        if not _is_str_list(items):
            problems.append(
                src.problem("KB008", f"'questions.{lang}' must be a non-empty list of strings", "questions", lang)
            )
        else:
            result[lang] = tuple(q.strip() for q in items)
    return result if len(result) == len(LANGS) else None


def _str_list(
    src: Source, value: Any, name: str, problems: list[Problem], allow_empty: bool = False
) -> list[str] | None:
    if not _is_str_list(value, allow_empty=allow_empty):
        problems.append(src.problem("KB009", f"'{name}' must be a list of strings", name))
        return None
    return [v.strip() for v in value]


def _links(src: Source, value: Any, problems: list[Problem]) -> list[Link] | None:
    if not isinstance(value, list) or not value:
        problems.append(src.problem("KB009", "'links' must be a non-empty list of {title, url}", "links"))
        return None
    links: list[Link] = []
    for i, item in enumerate(value):
        if not (isinstance(item, dict) and isinstance(item.get("title"), str) and isinstance(item.get("url"), str)):
            problems.append(src.problem("KB009", "each link needs a 'title' and a 'url'", "links", i))
            continue
        links.append(Link(item["title"].strip(), item["url"].strip()))
    return links if len(links) == len(value) else None


def iter_sources(kb: KnowledgeBase) -> Iterator[tuple[Topic, Source]]:
    """Each topic with its source file, re-read for line numbers (used by lint only)."""
    for topic in kb.topics:
        root = Path(kb.roots[topic.layer])
        source = _read(root.parent / topic.source, root)
        if isinstance(source, Source):
            yield topic, source


def shared_source(kb: KnowledgeBase, name: str) -> Source | None:
    """A shared file (`out-of-scope.yaml`...) of the highest layer that has one, re-read for
    line numbers."""
    for root in map(Path, reversed(kb.roots)):
        if os.path.lexists(root / name):
            source = _read(root / name, root)
            return source if isinstance(source, Source) else None
    return None
