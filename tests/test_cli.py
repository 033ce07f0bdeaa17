"""The `platbot` command, run the way people run it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import KNOWLEDGE

SCHEDULE_Q = "how do I schedule jobs on ECS?"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--knowledge", str(KNOWLEDGE), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_the_answer_as_plain_text_with_links(capsys) -> None:
    code, out, err = run(capsys, "ask", SCHEDULE_Q)
    assert code == 0 and err == ""
    assert "EventBridge Scheduler" in out
    assert "https://docs.aws.amazon.com/" in out
    assert "<https://" not in out and "*" not in out.splitlines()[0]


def test_ask_answers_japanese_in_japanese(capsys) -> None:
    _, out, _ = run(capsys, "ask", "ECSでバッチを定期実行したい")
    assert "ドキュメント:" in out and "EventBridge Scheduler" in out


def test_lang_flag_overrides_detection(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--lang", "ja", SCHEDULE_Q)
    assert "ドキュメント:" in out


def test_ask_json_has_the_documented_fields(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--json", SCHEDULE_Q)
    data = json.loads(out)
    assert data["query"] == SCHEDULE_Q and data["matched"] is True
    assert data["intent"] == "ecs-scheduled-tasks" and data["lang"] == "en"
    assert 0 < data["confidence"] <= 1 and data["answer"].startswith("*")
    assert isinstance(data["suggestions"], list)


def test_ask_json_says_which_outcome_and_what_else_fits(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--json", SCHEDULE_Q)
    data = json.loads(out)
    assert data["outcome"] == "answer" and isinstance(data["see_also"], list)
    assert all({"intent", "title", "confidence"} <= s.keys() for s in data["see_also"])


def test_other_topics_that_fit_are_listed_as_see_also_in_the_terminal(capsys, real_kb) -> None:
    _, out, _ = run(capsys, "ask", "--json", SCHEDULE_Q)
    see_also = json.loads(out)["see_also"]
    assert see_also  # the question also fits the mapping and the comparison topics
    _, out, _ = run(capsys, "ask", SCHEDULE_Q)
    assert real_kb.message("see_also", "en") in out and f"1. {see_also[0]['title']}" in out


def test_eval_adds_typos_on_request(capsys, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(f'- {{q: "{SCHEDULE_Q}", expect: ecs-scheduled-tasks, category: paraphrase}}\n')
    code, out, _ = run(capsys, "eval", str(cases), "--typos", "2", "--seed", "1", "--json")
    assert code == 0 and json.loads(out)["total"]["in_scope"] == 1
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.startswith("platbot: error: evaluation set not found")


def test_a_greeting_gets_how_to_ask_not_an_answer(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--json", "hi there!")
    data = json.loads(out)
    assert data["outcome"] == "smalltalk" and data["intent"] is None
    assert "how do I schedule jobs on ECS?" in data["answer"]


def test_choices_never_start_with_i_dont_know(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--json", "secrets")
    data = json.loads(out)
    assert data["outcome"] == "clarify" and len(data["suggestions"]) >= 2
    assert not data["answer"].startswith("I don't know")


def test_ask_json_declines_out_of_scope_with_fallback_text(capsys) -> None:
    _, out, _ = run(capsys, "ask", "--json", "what's for lunch?")
    data = json.loads(out)
    assert data["matched"] is False and data["intent"] is None
    assert data["answer"].startswith("I don't know that one yet.")


def test_ask_json_reads_questions_from_stdin_in_order(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{SCHEDULE_Q}\n\nwhat's for lunch?\nECSでバッチを定期実行したい\n"))
    code, out, _ = run(capsys, "ask", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 4
    assert [r.get("intent") for r in rows] == ["ecs-scheduled-tasks", None, None, "ecs-scheduled-tasks"]
    assert rows[1] == {"query": "", "error": "empty question"}
    assert rows[3]["lang"] == "ja"


@pytest.mark.parametrize("argv", [["ask"], ["ask", "   "]])
def test_bad_usage_is_one_line_and_exit_2(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("platbot: error: ") and err.count("\n") == 1


def test_missing_knowledge_directory_is_one_line(capsys, tmp_path: Path) -> None:
    code = main(["--knowledge", str(tmp_path / "nope"), "ask", SCHEDULE_Q])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "knowledge directory not found" in err


def test_a_broken_topic_is_a_warning_and_the_rest_still_answers(capsys, kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "ecs-cron", questions={"en": [SCHEDULE_Q] * 8, "ja": ["ECSで定期実行"] * 5})
    write_topic("scheduling", "broken", text="id: [oops\n")
    code = main(["--knowledge", str(kb_dir), "ask", "--json", SCHEDULE_Q])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["intent"] == "ecs-cron"
    assert "warning: knowledge/scheduling/broken.yaml:" in err


def test_check_passes_on_the_real_knowledge(capsys) -> None:
    code, out, _ = run(capsys, "check")
    assert code == 0 and "no problems" in out


def test_check_fails_with_file_and_line(capsys, kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "a", related=["missing-topic"])
    code = main(["--knowledge", str(kb_dir), "check"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert out.startswith("knowledge/scheduling/a.yaml:") and "KB011" in out


def test_list_shows_every_topic(capsys, real_kb) -> None:
    _, out, _ = run(capsys, "list")
    assert len(out.splitlines()) == len(real_kb.topics)
    _, out, _ = run(capsys, "list", "--json")
    topics = json.loads(out)
    assert {t["id"] for t in topics} == {t.id for t in real_kb.topics}
    assert {"questions", "answer", "services", "links", "related"} <= topics[0].keys()


def test_chat_picks_a_suggestion_by_number(capsys, monkeypatch, real_matcher) -> None:
    vague = next(
        q
        for q in ["secrets", "where do secrets go?", "how do I store config", "retries"]
        if real_matcher.match(q).suggestions
    )
    first = real_matcher.match(vague).suggestions[0].topic
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{vague}\n1\nquit\n"))
    code, out, _ = run(capsys, "chat")
    assert code == 0
    assert "1. " in out and first.links[0].url in out


def test_eval_prints_the_figures(capsys, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f'- {{q: "{SCHEDULE_Q}", expect: ecs-scheduled-tasks, category: paraphrase}}\n'
        '- {q: "what is for lunch", expect: null, category: out-of-scope}\n'
    )
    code, out, _ = run(capsys, "eval", str(cases))
    assert code == 0
    assert "1/1 = 100.0% answered right" in out and "1/1 = 100.0% declined" in out


def test_eval_cv_reports_every_outcome_as_json(capsys) -> None:
    code, out, _ = run(capsys, "eval", "--cv", "3", "--json")
    data = json.loads(out)
    total = data["total"]
    assert code == 0 and total["in_scope"] == sum(total[v] for v in ("right", "offered", "missed", "wrong"))
    assert set(data["by_lang"]) == {"en", "ja"}


@pytest.mark.parametrize("argv", [["eval", "--cv", "1"], ["eval", "--cv", "3", "tests/eval"]])
def test_eval_cv_rejects_bad_use(capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("platbot: error: --cv")


def test_ask_does_not_import_slack() -> None:
    script = (
        "import sys; from bot.cli import main; "
        f"main(['ask', {SCHEDULE_Q!r}]); "
        "assert 'slack_bolt' not in sys.modules and 'slack_sdk' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", SCHEDULE_Q],
        capture_output=True,
        text=True,
        check=False,
        cwd=KNOWLEDGE.parent,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["intent"] == "ecs-scheduled-tasks"
