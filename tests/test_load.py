"""Loading knowledge/: lenient per topic, strict about the shared files, always with file:line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bot.errors import KnowledgeError, Problem
from bot.kb.layers import resolve_layers
from bot.kb.load import MAX_FILE_BYTES, MAX_YAML_NODES, RefusedFile, load_knowledge, read_file
from bot.kb.model import KnowledgeBase
from tests.conftest import topic_data


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_loads_topics_with_area_from_folder(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "ecs-cron")
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    topic = kb.get("ecs-cron")
    assert topic is not None and topic.area == "scheduling"
    assert topic.source == "knowledge/scheduling/ecs-cron.yaml"
    assert len(topic.questions["en"]) == 16 and topic.answer["ja"].startswith("*")


def test_broken_yaml_leaves_that_topic_out_and_names_the_line(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "good-one")
    write_topic("scheduling", "broken", text="id: broken\ntitle:\n  en: [unclosed\n  ja: x\n")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    assert codes(problems) == ["KB001"]
    assert str(problems[0]).startswith("knowledge/scheduling/broken.yaml:4: KB001 YAML syntax error")


def test_missing_field_is_reported_with_file_and_code(kb_dir: Path, write_topic) -> None:
    data_path = write_topic("scheduling", "no-answer")
    text = data_path.read_text().split("answer:")[0] + "links: []\nrelated: []\n"
    write_topic("scheduling", "no-answer", text=text)
    _, problems = load_knowledge(kb_dir)
    assert "knowledge/scheduling/no-answer.yaml:1: KB005 missing 'answer'" in map(str, problems)


def test_missing_japanese_half_points_at_the_field(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "no-ja", answer={"en": "only English"})
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == ()
    [problem] = problems
    assert problem.code == "KB008" and "missing its Japanese half" in problem.message
    text = (kb_dir / "scheduling" / "no-ja.yaml").read_text().splitlines()
    assert text[problem.line - 1].strip().startswith("answer:")


def test_wrong_types_and_unknown_fields(kb_dir: Path, write_topic) -> None:
    write_topic("a", "typed", services="Amazon ECS", colour="blue")
    _, problems = load_knowledge(kb_dir)
    assert sorted(codes(problems)) == ["KB006"]  # shape errors stop before field checks
    write_topic("a", "typed", services="Amazon ECS")
    _, problems = load_knowledge(kb_dir)
    assert codes(problems) == ["KB009"] and "'services'" in problems[0].message


def test_id_must_equal_file_name(kb_dir: Path, write_topic) -> None:
    write_topic("a", "file-name", id="other-name")
    _, problems = load_knowledge(kb_dir)
    assert codes(problems) == ["KB007"]


def test_no_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        load_knowledge(tmp_path / "nowhere")


def test_a_vocabulary_that_cannot_be_read_stops_loading(kb_dir: Path) -> None:
    (kb_dir / "vocabulary.yaml").write_text("- a list\n- not a mapping\n")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_dir)
    assert "knowledge/vocabulary.yaml:1: KB003 expected a mapping" in str(caught.value)


def test_yaml_is_loaded_safely(kb_dir: Path, write_topic) -> None:
    # A python tag would run code under yaml.load with an unsafe loader.
    write_topic("a", "evil", text="id: !!python/object/apply:os.system ['echo hacked']\n")
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == () and codes(problems) == ["KB001"]


# --- a knowledge directory nobody reviewed ----------------------------------------------------
# One bad file costs that file: each of these loads the rest and reports the file, file:line.


@pytest.fixture
def memory_ceiling() -> Iterator[None]:
    """Lets the process grow by at most 256 MiB during the test: a loader that expands an alias
    bomb or reads /dev/zero to its end fails with MemoryError instead of eating the machine."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("measures the address space in Linux's /proc")
    import resource

    used = int(statm.read_text().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = used + 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (ceiling if hard == resource.RLIM_INFINITY else min(ceiling, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def alias_bomb(levels: int, width: int) -> str:
    """A "billion laughs": each level lists the one before `width` times, so a file of a few
    hundred bytes stands for width**levels strings."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def problem_lines(problems) -> list[str]:
    return sorted(map(str, problems))


def test_an_alias_bomb_is_refused_before_anything_expands_it(kb_dir: Path, write_topic, memory_ceiling) -> None:
    write_topic("scheduling", "good-one")
    write_topic("scheduling", "lol", text=alias_bomb(levels=9, width=9))  # 9**9 strings
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    # Counted on the composed file, each node once: line 6 is the first level past the budget
    # (9**6 nodes; line 5 has 9**5 = 59,049).
    assert problem_lines(problems) == [
        f"knowledge/scheduling/lol.yaml:6: KB001 more than {MAX_YAML_NODES:,} YAML nodes once aliases are expanded"
    ]


def test_aliases_within_the_budget_are_fine(kb_dir: Path, write_topic) -> None:
    text = yaml.safe_dump(topic_data("reuse"), allow_unicode=True, sort_keys=False)
    text = text.replace("title:", "title: &same", 1).split("answer:")[0] + "answer: *same\n"
    text += "links: [{title: Docs, url: 'https://docs.aws.amazon.com/'}]\nrelated: []\n"
    write_topic("scheduling", "reuse", text=text)
    kb, problems = load_knowledge(kb_dir)
    assert problems == []
    assert kb.get("reuse").answer == kb.get("reuse").title


def test_a_recursive_alias_is_refused(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "loop", text="id: loop\nrelated: &r [*r]\n")
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == () and problem_lines(problems) == [
        f"knowledge/scheduling/loop.yaml:2: KB001 more than {MAX_YAML_NODES:,} YAML nodes once aliases are expanded"
    ]


def load_unless_blocked(root: Path, fifo: Path) -> tuple[KnowledgeBase, list[Problem]]:
    """load_knowledge(root), failing the test (not hanging it) if reading `fifo` blocks."""
    pool = ThreadPoolExecutor(max_workers=1)
    loading = pool.submit(load_knowledge, root)
    try:
        return loading.result(timeout=30)
    except TimeoutError:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # end-of-file for the stuck reader
        pytest.fail(f"loading blocked on the FIFO {fifo}")
    finally:
        pool.shutdown(wait=False)


def test_a_fifo_is_reported_and_never_opened(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "good-one")
    os.mkfifo(kb_dir / "scheduling" / "pipe.yaml")  # nobody will ever write to it
    kb, problems = load_unless_blocked(kb_dir, kb_dir / "scheduling" / "pipe.yaml")
    assert [t.id for t in kb.topics] == ["good-one"]
    assert problem_lines(problems) == ["knowledge/scheduling/pipe.yaml:1: KB001 not a regular file (a FIFO)"]


def test_a_symlink_to_dev_zero_costs_nothing(kb_dir: Path, write_topic, memory_ceiling) -> None:
    write_topic("scheduling", "good-one")
    (kb_dir / "scheduling" / "zero.yaml").symlink_to("/dev/zero")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    assert problem_lines(problems) == ["knowledge/scheduling/zero.yaml:1: KB001 links outside the knowledge directory"]
    # The check that would stop it inside the directory too: a device is never read.
    with pytest.raises(RefusedFile, match=r"not a regular file \(a device\)"):
        read_file("/dev/zero")


def test_a_file_over_the_cap_is_refused_and_one_at_the_cap_loads(kb_dir: Path, write_topic) -> None:
    topic = yaml.safe_dump(topic_data("at-cap"), allow_unicode=True, sort_keys=False).encode()
    padding = MAX_FILE_BYTES - len(topic) - len(b"#\n")
    (kb_dir / "a").mkdir()
    (kb_dir / "a" / "at-cap.yaml").write_bytes(topic + b"#" + b"x" * padding + b"\n")
    (kb_dir / "a" / "over-cap.yaml").write_bytes(topic.replace(b"at-cap", b"over-cap") + b"#" + b"x" * padding + b"x\n")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["at-cap"]
    assert problem_lines(problems) == ["knowledge/a/over-cap.yaml:1: KB001 larger than 1 MiB"]


def test_links_out_of_the_knowledge_directory_are_not_followed(tmp_path: Path, kb_dir: Path, write_topic) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outside.yaml").write_text(yaml.safe_dump(topic_data("outside")))
    (kb_dir / "ext").symlink_to(elsewhere)
    write_topic("scheduling", "good-one")
    (kb_dir / "scheduling" / "outside.yaml").symlink_to(elsewhere / "outside.yaml")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    assert problem_lines(problems) == [
        "knowledge/ext:1: KB001 links outside the knowledge directory",
        "knowledge/scheduling/outside.yaml:1: KB001 links outside the knowledge directory",
    ]


def test_links_back_to_the_knowledge_directory_are_not_followed(tmp_path: Path, kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "good-one")
    (kb_dir / "self").symlink_to(".")  # self/*.yaml would read vocabulary.yaml as a topic
    (kb_dir / "up").symlink_to("..")  # up/*.yaml would read the folder holding knowledge/
    (tmp_path / "above.yaml").write_text(yaml.safe_dump(topic_data("above")))
    (kb_dir / "loop").symlink_to("loop")
    kb, problems = load_knowledge(kb_dir)
    assert [t.id for t in kb.topics] == ["good-one"]
    assert problem_lines(problems) == [
        "knowledge/loop:1: KB001 cannot open folder: Too many levels of symbolic links",
        "knowledge/self:1: KB001 links back to the knowledge directory or a folder holding it",
        "knowledge/up:1: KB001 links back to the knowledge directory or a folder holding it",
    ]


def test_a_file_is_read_once_whatever_links_to_it(kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "good-one")
    (kb_dir / "alias").symlink_to("scheduling")  # sorts first, yet the folder itself is the one read
    (kb_dir / "scheduling" / "vocab.yaml").symlink_to("../vocabulary.yaml")
    kb, problems = load_knowledge(kb_dir)
    assert [t.source for t in kb.topics] == ["knowledge/scheduling/good-one.yaml"]
    assert problem_lines(problems) == [
        "knowledge/alias:1: KB001 the same folder as knowledge/scheduling",
        "knowledge/scheduling/vocab.yaml:1: KB001 the same file as knowledge/vocabulary.yaml",
    ]


def test_a_symlink_loop_as_the_root_is_one_line_error(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    root.symlink_to(root)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    assert str(caught.value) == f"knowledge directory is a symlink loop: {root}"


def test_values_python_cannot_hold_are_problems(kb_dir: Path, write_topic) -> None:
    write_topic("a", "bad-int", text="id: !!int nope\n")
    write_topic("a", "bad-date", text="id: 2001-13-45\n")
    kb, problems = load_knowledge(kb_dir)
    assert kb.topics == ()
    assert problem_lines(problems) == [
        "knowledge/a/bad-date.yaml:1: KB001 invalid YAML value: month must be in 1..12",
        "knowledge/a/bad-int.yaml:1: KB001 invalid YAML value: invalid literal for int() with base 10: 'nope'",
    ]


# --- a bad entry in a shared file costs that entry --------------------------------------------


def test_a_mistyped_vocabulary_section_costs_that_section(kb_dir: Path, write_topic) -> None:
    (kb_dir / "vocabulary.yaml").write_text(
        "entities: [ecs, eks]\nsynonyms:\n  schedule: [cron, timer]\nstopwords: {en: [the], ja: []}\n"
    )
    write_topic("scheduling", "good-one")
    kb, problems = load_knowledge(kb_dir)
    assert problem_lines(problems) == [
        "knowledge/vocabulary.yaml:1: KB003 'entities' must be a mapping of entity names to their aliases"
    ]
    assert kb.vocabulary.entities == {} and kb.vocabulary.synonyms == {"schedule": ("cron", "timer")}
    assert [t.id for t in kb.topics] == ["good-one"]


def test_a_mistyped_vocabulary_entry_costs_that_entry(kb_dir: Path) -> None:
    (kb_dir / "vocabulary.yaml").write_text(
        "entities:\n"
        "  ecs: {aliases: [elastic container service]}\n"
        "  eks: {aliases: eks}\n"
        "  fargate: {aliases: [fargate], implies: ecs}\n"
        "decline: {off_topic: poem, other_platforms: [gke]}\n"
    )
    kb, problems = load_knowledge(kb_dir)
    assert problem_lines(problems) == [
        "knowledge/vocabulary.yaml:3: KB003 entity 'eks': 'aliases' must be a list of strings",
        "knowledge/vocabulary.yaml:4: KB003 entity 'fargate': 'implies' must be a list of strings",
        "knowledge/vocabulary.yaml:5: KB003 decline.off_topic must be a list of strings",
    ]
    assert kb.vocabulary.entities == {"ecs": ("elastic container service",), "fargate": ("fargate",)}
    assert kb.vocabulary.other_platforms == ("gke",)


def test_a_mistyped_message_costs_that_message(kb_dir: Path) -> None:
    text = (kb_dir / "messages.yaml").read_text(encoding="utf-8")
    text = text.replace('related:\n  en: "Related"\n  ja: "関連トピック"\n', 'related:\n  en: "Related"\n')
    text = text.replace('docs:\n  en: "Docs"\n  ja: "ドキュメント"\n', "docs: [Docs]\n")
    (kb_dir / "messages.yaml").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    kb, problems = load_knowledge(kb_dir)
    assert problem_lines(problems) == [
        f"knowledge/messages.yaml:{lines.index('related:') + 1}: KB008 'related' is missing its Japanese half ('ja')",
        f"knowledge/messages.yaml:{lines.index('docs: [Docs]') + 1}: KB008 'docs' must have 'en' and 'ja' texts",
    ]
    assert kb.message("related", "ja") == "Related"  # the half there is, rather than no reply
    assert kb.message("unknown", "en") == "I don't know that one yet."
    # The bundled text stands in for the broken one: a reply never fails for want of a label.
    bundled, _ = load_knowledge(resolve_layers())
    assert kb.message("docs", "ja") == bundled.message("docs", "ja")
