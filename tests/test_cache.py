"""The on-disk index: faster start-up, never a stale, broken or executable answer."""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import json
import logging
import os
import pickle
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import bot.cache
from bot.cache import cache_dir, fingerprint, index_path, load_matcher, read_index
from bot.errors import KnowledgeError
from bot.evaluate import load_cases
from bot.kb.layers import Layers
from bot.matcher import Matcher, MatchResult
from bot.packing import Sections

from .conftest import KNOWLEDGE, REPO

QUESTION = "how do I schedule jobs on ECS?"
QUESTIONS = [
    QUESTION,
    "ECSで定期実行したい",
    "ecs cron secrets",
    "what is the capital of France?",
    "hi",
    "sheduled tsks",
]


@pytest.fixture(autouse=True)
def _own_cache(_private_cache: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count and damage index files: each gets a cache directory of its own."""
    monkeypatch.setenv("PLATBOT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def knowledge(kb_dir: Path, write_topic) -> Path:
    write_topic("scheduling", "ecs-cron", questions={"en": [QUESTION] * 8, "ja": ["ECSで定期実行"] * 5})
    write_topic("secrets-config", "ecs-secrets")
    return kb_dir.resolve()


SMALL_VOCABULARY = """\
entities:
  ecs: {aliases: [ECS, Elastic Container Service]}
  eks: {aliases: [EKS], implies: [kubernetes]}
  kubernetes: {aliases: [k8s]}
synonyms:
  schedule: [cron, scheduled, 定期実行]
  secret: [secrets, password]
stopwords: {en: [how, do, i, the, what, is], ja: []}
smalltalk: {en: [hi, thanks], ja: [こんにちは]}
thanks: {en: [thanks], ja: [ありがとう]}
unresolved: {en: [but, still], ja: [まだ]}
"""


@pytest.fixture
def small_knowledge(knowledge: Path) -> Path:
    """The same topics with a vocabulary of a few words: an index a tenth the size, for the
    tests that damage one thousands of times."""
    (knowledge / "vocabulary.yaml").write_text(SMALL_VOCABULARY, encoding="utf-8")
    return knowledge


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The knowledge directories load_matcher has built an index for (not read one from disk)."""
    built: list[Path] = []
    load_knowledge = bot.cache.load_knowledge

    def counting(layers: Layers) -> Any:
        built.extend(layers.roots)
        return load_knowledge(layers)

    monkeypatch.setattr(bot.cache, "load_knowledge", counting)
    return built


def stored_index(root: Path) -> Path:
    path = index_path(root)
    assert path is not None and path.is_file()
    return path


def outcome(result: MatchResult) -> tuple[object, ...]:
    """Everything a person sees of a match."""
    return (
        result.outcome,
        result.topic.id if result.topic else None,
        result.confidence,
        [(s.topic.id, s.confidence) for s in result.suggestions],
        [(s.topic.id, s.confidence) for s in result.see_also],
    )


def answers(matcher: Matcher, questions: list[str] = QUESTIONS) -> list[tuple[object, ...]]:
    return [outcome(matcher.match(q)) for q in questions]


# --- reading back what was written ---------------------------------------------------------------


def test_second_load_comes_from_the_cache(knowledge: Path, builds: list[Path]) -> None:
    _, _, first = load_matcher(knowledge)
    path = stored_index(knowledge)
    assert path.stat().st_mode & 0o777 == 0o600
    _, _, second = load_matcher(knowledge)
    assert builds == [knowledge]  # built once, then read back
    assert second is not first
    assert second.match(QUESTION).topic.id == first.match(QUESTION).topic.id == "ecs-cron"
    assert answers(second) == answers(first)


def split_index(content: bytes) -> tuple[bytes, bytes, bytes]:
    """An index file's header line, its JSON line and its blob of sections."""
    header, body = content.split(b"\n", 1)
    manifest, blob = body.split(b"\n", 1)
    return header, manifest, blob


def test_the_index_is_a_json_header_a_json_line_and_raw_sections(knowledge: Path) -> None:
    load_matcher(knowledge)
    content = stored_index(knowledge).read_bytes()
    header, manifest, blob = split_index(content)
    fields = json.loads(header)
    assert fields == {
        "format": "platbot-index",
        "version": bot.cache.VERSION,
        "key": fingerprint(knowledge),
        "sha256": hashlib.sha256(content[len(header) + 1 :]).hexdigest(),
    }
    data = json.loads(manifest)
    # The sections lie end to end and fill the blob.
    table = data["sections"]
    assert [start for _, start, _, _ in table] == [0, *itertools.accumulate(size for _, _, size, _ in table[:-1])]
    assert sum(size for _, _, size, _ in table) == len(blob)
    texts = Sections(table, blob).strings(data["kb"]["topics"][0])
    assert [texts[0], texts[texts.index("ecs-secrets")]] == ["ecs-cron", "ecs-secrets"]


def test_the_real_knowledge_base_answers_the_same_from_the_cache(real_matcher: Matcher) -> None:
    load_matcher(KNOWLEDGE)
    kb, problems, cached = load_matcher(KNOWLEDGE)
    assert problems == []
    assert [asdict(t) for t in kb.topics] == [asdict(t) for t in real_matcher.kb.topics]
    assert (kb.vocabulary, kb.messages, kb.declined, kb.tuning) == (
        real_matcher.kb.vocabulary,
        real_matcher.kb.messages,
        real_matcher.kb.declined,
        real_matcher.kb.tuning,
    )
    # Every fifth labelled question, typos and Japanese included: same decisions, same numbers.
    questions = [case.question for case in load_cases([REPO / "tests" / "eval"])][::5]
    assert len(questions) > 500
    assert answers(cached, questions) == answers(real_matcher, questions)
    assert [cached.evidence(q) for q in questions[:100]] == [real_matcher.evidence(q) for q in questions[:100]]


def test_questions_read_back_are_decoded_when_read_and_behave_as_the_loaders_dict(knowledge: Path) -> None:
    kb, _, _ = load_matcher(knowledge)
    cached, _, _ = load_matcher(knowledge)
    topic, loaded = cached.get("ecs-cron"), kb.get("ecs-cron")
    assert topic is not None and loaded is not None
    questions = topic.questions
    assert not isinstance(questions, dict)  # decoded only when read...
    assert list(questions) == ["en", "ja"] and len(questions) == 2
    assert questions == loaded.questions == dict(questions)  # ...then the same as loaded
    assert questions["ja"] == ("ECSで定期実行",) * 5
    assert asdict(topic) == asdict(loaded)
    assert pickle.loads(pickle.dumps(topic)).questions == loaded.questions
    assert repr(questions) == repr(dict(loaded.questions))


def test_load_problems_are_kept_in_the_cache(knowledge: Path, write_topic, builds: list[Path]) -> None:
    write_topic("scheduling", "broken", text="id: [oops\n")
    _, first, _ = load_matcher(knowledge)
    _, second, _ = load_matcher(knowledge)
    assert len(builds) == 1
    assert first == second
    assert [p.code for p in second] == ["KB001"]


def test_a_date_in_tuning_yaml_is_kept_as_text(knowledge: Path, builds: list[Path]) -> None:
    (knowledge / "tuning.yaml").write_text("fitted:\n  date: 2026-12-01\nalpha: 0.05\n", encoding="utf-8")
    load_matcher(knowledge)
    kb, _, matcher = load_matcher(knowledge)
    assert len(builds) == 1
    assert kb.tuning == {"fitted": {"date": "2026-12-01"}, "alpha": 0.05}
    assert matcher.calibration.alpha == 0.05


def test_a_tuning_yaml_json_cannot_hold_is_not_cached(
    knowledge: Path, builds: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    (knowledge / "tuning.yaml").write_text("fitted:\n  2026-12-01: first fit\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="platbot.cache"):
        load_matcher(knowledge)
        _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    assert len(builds) == 2
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["platbot: cannot cache the index"] * 2


def test_an_index_read_back_is_written_again_byte_for_byte(knowledge: Path, tmp_path: Path) -> None:
    kb, problems, built = load_matcher(knowledge)
    written = stored_index(knowledge).read_bytes()
    kb, problems, cached = load_matcher(knowledge)
    assert answers(cached) == answers(built)
    again = tmp_path / "again.bin"
    bot.cache._write(again, fingerprint(knowledge), kb, problems, cached)
    assert again.read_bytes() == written


def test_a_string_holding_nul_is_not_cached(
    knowledge: Path, write_topic, builds: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    # NUL separates the strings of a section; the loader keeps it, the renderers drop it.
    write_topic("secrets-config", "ecs-secrets", answer={"en": "*Use\0 Secrets Manager.*", "ja": "*秘密*"})
    with caplog.at_level(logging.WARNING, logger="platbot.cache"):
        load_matcher(knowledge)
        kb, _, matcher = load_matcher(knowledge)
    assert kb.get("ecs-secrets").answer["en"] == "*Use\0 Secrets Manager.*"
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    assert len(builds) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "platbot: cannot cache the index (a string holds NUL); building it in memory"
    ] * 2


# --- what makes an index stale ---------------------------------------------------------------------


def test_editing_a_topic_rebuilds_the_index(knowledge: Path, write_topic) -> None:
    load_matcher(knowledge)
    path = write_topic("scheduling", "ecs-cron", title={"en": "Renamed", "ja": "改名"})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    kb, _, _ = load_matcher(knowledge)
    assert kb.get("ecs-cron").title["en"] == "Renamed"
    assert len(list(stored_index(knowledge).parent.glob("index-*"))) == 1


def test_an_edit_of_the_same_size_and_time_rebuilds_the_index(knowledge: Path, write_topic) -> None:
    path = write_topic("secrets-config", "ecs-secrets", answer={"en": "*Use Secrets Manager.*", "ja": "*秘密*"})
    load_matcher(knowledge)
    before = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("Secrets Manager", "Parameter Store"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    kb, _, _ = load_matcher(knowledge)
    assert kb.get("ecs-secrets").answer["en"] == "*Use Parameter Store.*"


def unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `path` unreadable: mode 000, and for root, whom modes do not stop, opening it
    (os.open or io.open) refused as the system would."""
    path.chmod(0)
    if not os.access(path, os.R_OK):
        return
    target = os.path.realpath(path)

    def refusing(open_file: Callable[..., Any]) -> Callable[..., Any]:
        def refuse(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | os.PathLike) and os.path.realpath(file) == target:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
            return open_file(file, *args, **kwargs)

        return refuse

    monkeypatch.setattr(os, "open", refusing(os.open))
    monkeypatch.setattr(io, "open", refusing(io.open))


def test_a_topic_that_became_unreadable_is_not_answered_from_the_cache(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch, builds: list[Path]
) -> None:
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    unreadable(knowledge / "scheduling" / "ecs-cron.yaml", monkeypatch)
    kb, problems, matcher = load_matcher(knowledge)
    assert kb.get("ecs-cron") is None
    assert [(p.path, p.code, p.message) for p in problems] == [
        ("knowledge/scheduling/ecs-cron.yaml", "KB001", "cannot read file: PermissionError")
    ]
    assert all(answer[1] != "ecs-cron" for answer in answers(matcher))
    # While it stays unreadable, the index without it comes from the cache, the problem too.
    assert load_matcher(knowledge)[1] == problems
    assert len(builds) == 2


def test_another_version_of_the_index_is_replaced(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch, builds: list[Path]
) -> None:
    load_matcher(knowledge)
    monkeypatch.setattr(bot.cache, "VERSION", bot.cache.VERSION + 1)
    load_matcher(knowledge)
    assert len(builds) == 2
    assert json.loads(stored_index(knowledge).read_bytes().split(b"\n")[0])["version"] == bot.cache.VERSION


# --- a file that is not what platbot wrote --------------------------------------------------------


class _WritesMarker:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('ran')",)


def test_a_planted_pickle_is_never_run_and_is_replaced(knowledge: Path, tmp_path: Path, builds: list[Path]) -> None:
    marker = tmp_path / "marker"
    planted = pickle.dumps(_WritesMarker(marker))
    pickle.loads(planted)
    assert marker.exists()  # a live one: unpickling it runs code
    marker.unlink()
    path = index_path(knowledge)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    legacy = path.with_suffix(".pickle")  # where earlier versions kept, and unpickled, the index
    path.write_bytes(planted)
    legacy.write_bytes(planted)

    _, _, matcher = load_matcher(knowledge)

    assert not marker.exists()
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    assert builds == [knowledge]
    assert read_index(path, fingerprint(knowledge)) is not None  # replaced by a sound index
    assert not legacy.exists()


def test_the_json_lines_index_of_earlier_versions_is_removed(knowledge: Path) -> None:
    path = index_path(knowledge)
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    legacy = path.with_suffix(".jsonl")
    legacy.write_bytes(b'{"format":"platbot-index","version":6}\n{}')
    load_matcher(knowledge)
    assert not legacy.exists()
    assert stored_index(knowledge).suffix == ".bin"


def mutations(valid: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Endless damaged copies of `valid`: flipped bits, truncations, inserted bytes, and two
    differing values of the JSON line swapped (the checksum left as it was)."""
    header, manifest, blob = split_index(valid)
    data = json.loads(manifest)
    leaves = list(_leaves(data))
    while True:
        kind = rng.choice(["flip", "truncate", "insert", "swap"])
        if kind == "flip":
            at = rng.randrange(len(valid))
            yield kind, valid[:at] + bytes([valid[at] ^ (1 << rng.randrange(8))]) + valid[at + 1 :]
        elif kind == "truncate":
            yield kind, valid[: rng.randrange(len(valid))]
        elif kind == "insert":
            at = rng.randrange(len(valid) + 1)
            yield kind, valid[:at] + rng.randbytes(rng.randint(1, 8)) + valid[at:]
        else:
            (get_a, set_a), (get_b, set_b) = rng.sample(leaves, 2)
            first, second = get_a(), get_b()
            if first == second:
                continue
            set_a(second)
            set_b(first)
            swapped = json.dumps(data, separators=(",", ":")).encode()
            set_a(first)
            set_b(second)
            yield kind, header + b"\n" + swapped + b"\n" + blob


def _leaves(node: Any) -> Iterator[tuple[Callable[[], Any], Callable[[Any], None]]]:
    """Each scalar of a JSON tree, as a getter and a setter."""
    for key, value in list(node.items() if isinstance(node, dict) else enumerate(node)):
        if isinstance(value, dict | list):
            yield from _leaves(value)
        else:
            yield (lambda node=node, key=key: node[key]), (lambda v, node=node, key=key: node.__setitem__(key, v))


def overwrite(path: Path, content: bytes) -> None:
    """Give the file at `path` new bytes, in place: emptying a file and writing it again
    costs milliseconds on ext4, and the tests below do it thousands of times."""
    with path.open("r+b") as file:
        file.write(content)
        file.truncate()


def test_thousands_of_damaged_files_are_all_refused(small_knowledge: Path) -> None:
    load_matcher(small_knowledge)
    path = stored_index(small_knowledge)
    key = fingerprint(small_knowledge)
    valid = path.read_bytes()
    seen = set()
    damaged = mutations(valid, random.Random(10))
    for _ in range(3000):
        kind, content = next(damaged)
        seen.add(kind)
        overwrite(path, content)
        assert read_index(path, key) is None, kind
    assert seen == {"flip", "truncate", "insert", "swap"}
    path.write_bytes(valid)
    assert read_index(path, key) is not None


def test_a_damaged_file_is_rebuilt_replaced_and_answers_as_a_fresh_build(
    small_knowledge: Path, builds: list[Path]
) -> None:
    knowledge = small_knowledge
    _, _, fresh = load_matcher(knowledge)
    expected = answers(fresh)
    path = stored_index(knowledge)
    damaged = mutations(path.read_bytes(), random.Random(11))
    for n in range(1, 17):
        kind, content = next(damaged)
        path.write_bytes(content)
        _, _, matcher = load_matcher(knowledge)
        assert answers(matcher) == expected, kind
        assert len(builds) == n + 1  # rebuilt...
        assert read_index(path, fingerprint(knowledge)) is not None  # ...and the file replaced
    assert not list(path.parent.glob(".index-*"))  # no temporary file left behind


def forgeries(valid: bytes, rng: random.Random) -> Iterator[bytes]:
    """Copies of `valid` whose JSON line (the section table too) or blob was changed and whose
    checksum was made to match: not accidents, but what any bug or any other writer might leave."""
    header, manifest, blob = split_index(valid)
    fields = json.loads(header)
    palette: list[Any] = [None, True, 0, -1, 2**40, 1.5, "", "x", [], {}, [0, "a"], {"a": 1}, "@@", [[]]]
    while True:
        data = json.loads(manifest)
        places = list(_places(data))
        forged_blob = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            (get_a, set_a), (get_b, set_b) = rng.sample(places, 2)
            kind = rng.random()
            if kind < 0.4:
                first, second = get_a(), get_b()
                set_a(second)
                set_b(first)
            elif kind < 0.8:
                set_a(rng.choice(palette))
            else:  # bytes of the blob: a NUL between strings, a class index, a run's end...
                at = rng.randrange(len(forged_blob))
                patch = rng.choice([b"\0", b"\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f", rng.randbytes(4)])
                forged_blob[at : at + len(patch)] = patch
        forged = json.dumps(data, separators=(",", ":")).encode() + b"\n" + forged_blob
        fields["sha256"] = hashlib.sha256(forged).hexdigest()
        yield json.dumps(fields, separators=(",", ":")).encode() + b"\n" + forged


def _places(node: Any) -> Iterator[tuple[Callable[[], Any], Callable[[Any], None]]]:
    """Each value of a JSON tree, containers too, as a getter and a setter (the long lists
    of numbers and strings are sampled: a few of each are enough)."""
    items = list(node.items() if isinstance(node, dict) else enumerate(node))
    if len(items) > 20:
        items = items[:: len(items) // 20]
    for key, value in items:
        yield (lambda node=node, key=key: node[key]), (lambda v, node=node, key=key: node.__setitem__(key, v))
        if isinstance(value, dict | list):
            yield from _places(value)


@pytest.mark.parametrize(
    "where", ["header", "after the header", "JSON line", "after the JSON line", "blob", "last byte"]
)
def test_a_truncated_index_is_rebuilt(knowledge: Path, builds: list[Path], where: str) -> None:
    _, _, fresh = load_matcher(knowledge)
    path = stored_index(knowledge)
    valid = path.read_bytes()
    header, manifest, blob = split_index(valid)
    cut = {
        "header": len(header) // 2,
        "after the header": len(header) + 1,
        "JSON line": len(header) + 1 + len(manifest) // 2,
        "after the JSON line": len(header) + len(manifest) + 2,
        "blob": len(valid) - len(blob) // 2,
        "last byte": len(valid) - 1,
    }[where]
    path.write_bytes(valid[:cut])
    assert read_index(path, fingerprint(knowledge)) is None
    _, _, matcher = load_matcher(knowledge)
    assert answers(matcher) == answers(fresh)
    assert len(builds) == 2
    assert path.read_bytes() == valid


@pytest.mark.parametrize("code", ["s", "B", "i", "d"])
def test_a_flipped_bit_in_any_kind_of_section_is_rebuilt(knowledge: Path, builds: list[Path], code: str) -> None:
    _, _, fresh = load_matcher(knowledge)
    path = stored_index(knowledge)
    valid = path.read_bytes()
    _, manifest, blob = split_index(valid)
    # The middle of the largest section of this kind.
    _, start, size, _ = max((e for e in json.loads(manifest)["sections"] if e[0] == code), key=lambda e: e[2])
    at = len(valid) - len(blob) + start + size // 2
    path.write_bytes(valid[:at] + bytes([valid[at] ^ 0x10]) + valid[at + 1 :])
    assert read_index(path, fingerprint(knowledge)) is None
    _, _, matcher = load_matcher(knowledge)
    assert answers(matcher) == answers(fresh)
    assert len(builds) == 2
    assert path.read_bytes() == valid


def test_a_section_outside_the_blob_is_refused_whatever_the_checksum(knowledge: Path) -> None:
    load_matcher(knowledge)
    path = stored_index(knowledge)
    header, manifest, blob = split_index(path.read_bytes())
    data = json.loads(manifest)
    data["sections"][-1][2] += 8  # the last section runs past the end
    body = json.dumps(data, separators=(",", ":")).encode() + b"\n" + blob
    fields = {**json.loads(header), "sha256": hashlib.sha256(body).hexdigest()}
    path.write_bytes(json.dumps(fields, separators=(",", ":")).encode() + b"\n" + body)
    assert read_index(path, fingerprint(knowledge)) is None


def test_a_forged_file_never_breaks_loading(small_knowledge: Path) -> None:
    load_matcher(small_knowledge)
    path = stored_index(small_knowledge)
    key = fingerprint(small_knowledge)
    refused = 0
    forged = forgeries(path.read_bytes(), random.Random(12))
    for _ in range(1000):
        overwrite(path, next(forged))
        loaded = read_index(path, key)  # never raises
        if loaded is None:
            refused += 1
        else:
            assert isinstance(loaded[2], Matcher)
    assert refused > 500  # most changes of shape are caught by decoding, not only by the checksum


def test_an_unreadable_cache_file_is_replaced(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch, builds: list[Path]
) -> None:
    load_matcher(knowledge)
    path = stored_index(knowledge)
    unreadable(path, monkeypatch)
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    assert len(builds) == 2
    assert path.stat().st_mode & 0o777 == 0o600  # a new file took its place


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_fifo_or_a_symlink_in_place_of_the_index_is_replaced(knowledge: Path, tmp_path: Path, kind: str) -> None:
    load_matcher(knowledge)
    path = stored_index(knowledge)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer forever
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_bytes(b"not platbot's")
        path.symlink_to(elsewhere)
    loaded: list[Any] = []
    loading = threading.Thread(target=lambda: loaded.append(load_matcher(knowledge)), daemon=True)
    loading.start()
    loading.join(timeout=30)
    assert loaded, "load_matcher is stuck"
    assert loaded[0][2].match(QUESTION).topic.id == "ecs-cron"
    assert path.is_file() and not path.is_symlink()
    if kind == "symlink":
        assert elsewhere.read_bytes() == b"not platbot's"


# --- where the cache cannot be ----------------------------------------------------------------


def test_an_unwritable_cache_directory_still_answers(
    knowledge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("PLATBOT_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="platbot.cache"):
        _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith(f"platbot: cannot write the index cache in {blocker / 'cache'}")
    assert blocker.read_text() == ""


def test_missing_directory_is_the_usual_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        load_matcher(tmp_path / "nowhere")


def test_no_home_directory_means_no_cache_but_an_answer(knowledge: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATBOT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    assert cache_dir() is None
    _, _, matcher = load_matcher(knowledge)
    assert matcher.match(QUESTION).topic.id == "ecs-cron"
