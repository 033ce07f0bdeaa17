"""Read `knowledge/` into a KnowledgeBase, reporting each problem with file and line.

Loading is lenient: a topic file that cannot be read or has the wrong shape is left out and
reported, so one bad edit never takes the whole bot down. `platbot check` turns the same
reports (plus the rules in `lint.py`) into a non-zero exit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import KnowledgeError, Problem
from bot.kb.model import LANGS, KnowledgeBase, Lang, Link, Topic, Vocabulary

# libyaml when the wheel has it: parsing is most of the start-up cost of `platbot ask`.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

VOCABULARY_FILE = "vocabulary.yaml"
MESSAGES_FILE = "messages.yaml"
DECLINED_FILE = "out-of-scope.yaml"  # optional: questions to decline, learned as a class
TUNING_FILE = "tuning.yaml"  # optional: written by `platbot tune`
_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOPIC_FIELDS = {"id", "title", "services", "questions", "answer", "links", "related"}


def default_root() -> Path:
    """`$PLATBOT_KNOWLEDGE`, else `knowledge/` in the working directory, else the bundled one."""
    if env := os.environ.get("PLATBOT_KNOWLEDGE"):
        return Path(env)
    here = Path.cwd() / "knowledge"
    if (here / VOCABULARY_FILE).is_file():
        return here
    return Path(__file__).resolve().parents[2] / "knowledge"


@dataclass
class Source:
    """One YAML file's data, with a way to find the line of any field in it."""

    path: str
    text: str
    data: Any
    _lines: dict[tuple[Any, ...], int] | None = None

    def line(self, *keys: Any) -> int:
        """1-based line of the value at `keys` (or of its closest parent that exists)."""
        if self._lines is None:
            # Composing again is slower than loading; only done when a problem is reported.
            self._lines = {}
            _index_lines(yaml.compose(self.text, Loader=_Loader), (), self._lines)
        while keys and keys not in self._lines:
            keys = keys[:-1]
        return self._lines.get(keys, 1)

    def problem(self, code: str, message: str, *keys: Any) -> Problem:
        return Problem(self.path, self.line(*keys), code, message)


def _index_lines(node: yaml.Node | None, path: tuple[Any, ...], out: dict) -> None:
    if node is None:
        return
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            out[child] = key.start_mark.line + 1  # a field's line is its key's, not its value's
            _index_lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def _read(path: Path, root: Path) -> Source | Problem:
    shown = _display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(shown, 1, "KB001", f"cannot read file: {exc.__class__.__name__}")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or "invalid YAML"
        return Problem(shown, line, "KB001", f"YAML syntax error: {reason}")
    return Source(shown, text, data)


def _display_path(path: Path, root: Path) -> str:
    """Paths as people see them in the repo: `knowledge/ecs/x.yaml`."""
    try:
        return str(Path(root.name) / path.relative_to(root))
    except ValueError:
        return str(path)


def topic_files(root: Path) -> list[Path]:
    """Every topic file: `<area>/<id>.yaml`, sorted so loading is deterministic."""
    return sorted(p for p in root.glob("*/*.yaml") if not p.name.startswith("."))


def load_knowledge(root: Path | None = None) -> tuple[KnowledgeBase, list[Problem]]:
    """Load every topic that is valid; return the knowledge base and the problems found.

    Raises KnowledgeError only when nothing usable is there: no directory, or a broken
    vocabulary or messages file (every answer depends on those).
    """
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {root}")
    problems: list[Problem] = []

    vocabulary = _load_shared(root, VOCABULARY_FILE, _parse_vocabulary, problems)
    messages = _load_shared(root, MESSAGES_FILE, _parse_messages, problems)
    if vocabulary is None or messages is None:
        raise KnowledgeError(problems)

    declined = _load_optional(root, DECLINED_FILE, _parse_declined, problems) or {}
    tuning = _load_optional(root, TUNING_FILE, _parse_tuning, problems) or {}

    topics: list[Topic] = []
    for path in topic_files(root):
        source = _read(path, root)
        if isinstance(source, Problem):
            problems.append(source)
            continue
        topic = _parse_topic(source, path, problems)
        if topic is not None:
            topics.append(topic)
    kb = KnowledgeBase(tuple(topics), vocabulary, messages, root=str(root), declined=declined, tuning=tuning)
    return kb, problems


def _load_shared(root: Path, name: str, parse: Any, problems: list[Problem]) -> Any:
    path = root / name
    if not path.is_file():
        problems.append(Problem(_display_path(path, root), 1, "KB002", "file is missing"))
        return None
    source = _read(path, root)
    if isinstance(source, Problem):
        problems.append(source)
        return None
    before = len(problems)
    parsed = parse(source, problems)
    return parsed if len(problems) == before else None


def _load_optional(root: Path, name: str, parse: Any, problems: list[Problem]) -> Any:
    """A file the base works without: absent is fine, broken is a problem and is left out."""
    if not (root / name).exists():
        return None
    return _load_shared(root, name, parse, problems)


def _parse_declined(src: Source, problems: list[Problem]) -> dict[Lang, tuple[str, ...]]:
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "expected 'en' and 'ja' lists of questions to decline"))
        return {}
    declined: dict[Lang, tuple[str, ...]] = {}
    for lang in LANGS:
        items = data.get(lang, [])
        if not _is_str_list(items, allow_empty=True):
            problems.append(src.problem("KB003", f"'{lang}' must be a list of strings", lang))
            continue
        declined[lang] = tuple(q.strip() for q in items)
    return declined


def _parse_tuning(src: Source, problems: list[Problem]) -> dict[str, object]:
    """The shape only (sections of numbers); calibration.py reads the values."""
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("KB003", "expected a mapping of tuning sections"))
        return {}
    for section, values in data.items():
        if section == "fitted":
            continue  # when and on what the values were fitted: for people
        if isinstance(values, dict):
            bad = [k for k, v in values.items() if not isinstance(v, int | float) or isinstance(v, bool)]
        else:
            bad = [] if isinstance(values, int | float) and not isinstance(values, bool) else [section]
        for key in bad:
            problems.append(src.problem("KB003", f"tuning '{section}.{key}' must be a number", section))
    return dict(data)


def _parse_vocabulary(src: Source, problems: list[Problem]) -> Vocabulary:
    data = src.data if isinstance(src.data, dict) else {}
    if not isinstance(src.data, dict):
        problems.append(src.problem("KB003", "expected a mapping with 'entities' and 'synonyms'"))
    entities: dict[str, tuple[str, ...]] = {}
    implies: dict[str, tuple[str, ...]] = {}
    for name, spec in (data.get("entities") or {}).items():
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
            if other not in entities:
                problems.append(
                    src.problem("KB004", f"entity '{name}' implies unknown entity '{other}'", "entities", name)
                )
    synonyms: dict[str, tuple[str, ...]] = {}
    for name, aliases in (data.get("synonyms") or {}).items():
        if not _is_str_list(aliases):
            problems.append(src.problem("KB003", f"synonym '{name}' must map to a list of strings", "synonyms", name))
            continue
        synonyms[str(name)] = tuple(aliases)
    stop = data.get("stopwords") or {}
    stopwords: set[str] = set()
    for lang in LANGS:
        words = stop.get(lang, []) if isinstance(stop, dict) else None
        if not _is_str_list(words, allow_empty=True):
            problems.append(src.problem("KB003", f"stopwords.{lang} must be a list of strings", "stopwords"))
            continue
        stopwords.update(str(w) for w in words)
    decline = data.get("decline") or {}
    markers: dict[str, tuple[str, ...]] = {}
    for key in ("off_topic", "other_platforms", "other_services"):
        words = decline.get(key, []) if isinstance(decline, dict) else None
        if not _is_str_list(words, allow_empty=True):
            problems.append(src.problem("KB003", f"decline.{key} must be a list of strings", "decline"))
            continue
        markers[key] = tuple(words)
    small = data.get("smalltalk") or {}
    smalltalk: list[str] = []
    for lang in LANGS:
        phrases = small.get(lang, []) if isinstance(small, dict) else None
        if not _is_str_list(phrases, allow_empty=True):
            problems.append(src.problem("KB003", f"smalltalk.{lang} must be a list of strings", "smalltalk"))
            continue
        smalltalk += [str(p) for p in phrases]
    return Vocabulary(
        entities,
        synonyms,
        frozenset(stopwords),
        implies,
        off_topic=markers.get("off_topic", ()),
        other_platforms=markers.get("other_platforms", ()),
        other_services=markers.get("other_services", ()),
        smalltalk=tuple(smalltalk),
    )


def _parse_messages(src: Source, problems: list[Problem]) -> dict[str, dict[Lang, str]]:
    if not isinstance(src.data, dict):
        problems.append(src.problem("KB003", "expected a mapping of message keys"))
        return {}
    messages: dict[str, dict[Lang, str]] = {}
    for key, value in src.data.items():
        localized = _localized_str(src, value, (key,), str(key), problems)
        if localized is not None:
            messages[str(key)] = localized
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
    if not isinstance(value, dict):
        problems.append(src.problem("KB008", f"'{name}' must have 'en' and 'ja' texts", *keys))
        return None
    result: dict[Lang, str] = {}
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            what = "missing its Japanese half" if lang == "ja" else "missing its English text"
            problems.append(src.problem("KB008", f"'{name}' is {what} ('{lang}')", *keys, lang))
        else:
            result[lang] = text.strip()
    return result if len(result) == len(LANGS) else None


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
    root = Path(kb.root)
    for topic in kb.topics:
        path = root.parent / topic.source
        source = _read(path, root)
        if isinstance(source, Source):
            yield topic, source


def shared_source(kb: KnowledgeBase, name: str) -> Source | None:
    """A file at the knowledge root (`out-of-scope.yaml`...), re-read for line numbers."""
    root = Path(kb.root)
    source = _read(root / name, root) if (root / name).is_file() else None
    return source if isinstance(source, Source) else None
