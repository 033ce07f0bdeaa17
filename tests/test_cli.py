"""The `platbot` command, run the way people run it."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.conftest import KNOWLEDGE, REPO

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
    # A question only the layered topic knows: SCHEDULE_Q would be a fair toss-up between it
    # and the bundled ecs-scheduled-tasks, whose first example it is.
    question = "how do I run the quarterly ledger rollup on ECS?"
    write_topic("scheduling", "ecs-cron", questions={"en": [question] * 8, "ja": ["ECSで定期実行"] * 5})
    write_topic("scheduling", "broken", text="id: [oops\n")
    code = main(["--knowledge", str(kb_dir), "ask", "--json", question])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["intent"] == "ecs-cron"
    assert "warning: knowledge/scheduling/broken.yaml:" in err


def test_check_passes_on_the_real_knowledge(capsys) -> None:
    code, out, _ = run(capsys, "check")
    assert code == 0 and "no problems" in out


def test_check_fails_with_file_and_line(capsys, kb_dir: Path, write_topic) -> None:
    write_topic("scheduling", "nightly-report", related=["missing-topic"])
    code = main(["--knowledge", str(kb_dir), "check"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert out.startswith("knowledge/scheduling/nightly-report.yaml:") and "KB011" in out


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


def test_a_cached_ask_does_not_import_yaml() -> None:
    # With the index on disk there is no YAML to parse: importing yaml cost ~9 ms of ~120.
    ask = f"import sys; from bot.cli import main; main(['ask', {SCHEDULE_Q!r}]); "
    subprocess.run([sys.executable, "-c", ask], capture_output=True, check=True)  # the index, built if need be
    script = ask + "assert 'yaml' not in sys.modules, 'yaml imported'"
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


# Bytes from outside. Each test runs the installed `platbot` script the way a shell does, with
# bytes in and bytes out, under each of these environments.
_SCRIPT = Path(sys.executable).with_name("platbot")
PLATBOT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bot"]
JA_Q = "ECSでバッチを定期実行したい"
LOCALES = {
    "C": {"LC_ALL": "C"},
    "C.UTF-8": {"LC_ALL": "C.UTF-8"},
    # Decodes strictly where en_US.UTF-8 is installed; where it is not, Python falls back to C.
    "en_US.UTF-8": {"LANG": "en_US.UTF-8"},
    # What en_US.UTF-8 gives wherever it is installed: strict UTF-8 decoding and encoding.
    "strict UTF-8": {"PYTHONIOENCODING": "utf-8:strict"},
    # A terminal that shows ASCII only.
    "ASCII": {"LC_ALL": "C", "PYTHONUTF8": "0"},
}
_LOCALE_VARIABLES = {"LANG", "LANGUAGE", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONCOERCECLOCALE"}


@pytest.fixture(scope="session")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index for every `platbot` started here, so each run after the first loads it in a blink."""
    return tmp_path_factory.mktemp("cli-index")


def platbot_env(index_cache: Path, locale: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCALE_VARIABLES and not k.startswith("LC_")}
    return {**env, **LOCALES[locale], "PLATBOT_CACHE_DIR": str(index_cache)}


def platbot(index_cache: Path, locale: str, *argv: str | bytes, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        [*PLATBOT, "--knowledge", str(KNOWLEDGE), *argv],
        input=stdin,
        capture_output=True,
        env=platbot_env(index_cache, locale),
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("locale", LOCALES)
def test_invalid_utf8_on_stdin_costs_only_its_own_characters(index_cache: Path, locale: str) -> None:
    lines = [
        SCHEDULE_Q.encode(),
        b"\xff\xfe",
        "ECSで".encode() + b"\xe3\x81" + "バッチを定期実行したい".encode(),  # a character cut short
        b"what's for lunch?",
    ]
    code, out, err = platbot(index_cache, locale, "ask", "--json", stdin=b"\n".join(lines) + b"\n")
    assert code == 0 and err == b""
    rows = [json.loads(line) for line in out.decode("utf-8").splitlines()]  # strict: every byte is UTF-8
    assert [r["query"] for r in rows] == [
        SCHEDULE_Q,
        "\ufffd\ufffd",
        "ECSで\ufffdバッチを定期実行したい",
        "what's for lunch?",
    ]
    assert [r["intent"] for r in rows] == ["ecs-scheduled-tasks", None, "ecs-scheduled-tasks", None]
    assert rows[1]["outcome"] == "decline" and rows[2]["lang"] == "ja"


@pytest.mark.parametrize("locale", LOCALES)
def test_a_question_argument_with_invalid_bytes_is_answered(index_cache: Path, locale: str) -> None:
    code, out, err = platbot(index_cache, locale, "ask", "--json", SCHEDULE_Q.encode() + b" \xff")
    assert code == 0 and err == b""
    data = json.loads(out.decode("utf-8"))
    assert data["query"] == SCHEDULE_Q + " \ufffd" and data["intent"] == "ecs-scheduled-tasks"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("question", [SCHEDULE_Q, JA_Q], ids=["en", "ja"])
def test_text_answers_print_on_every_locale(index_cache: Path, locale: str, question: str) -> None:
    code, out, err = platbot(index_cache, locale, "ask", question)
    assert code == 0 and err == b""
    # On an ASCII terminal the Japanese and the bullets print as "?", the product names as they are.
    assert b"EventBridge Scheduler" in out.splitlines()[0]


@pytest.mark.parametrize("locale", LOCALES)
def test_chat_survives_invalid_bytes_and_ends_on_ctrl_d(index_cache: Path, locale: str, real_kb) -> None:
    code, out, err = platbot(index_cache, locale, "chat", stdin=b"\xff\xfe\n" + SCHEDULE_Q.encode() + b"\n")
    assert code == 0 and err == b""
    text = out.decode("utf-8")
    assert real_kb.message("unknown", "en").splitlines()[0] in text and "EventBridge Scheduler" in text
    assert text.count("\n> ") == 3 and text.endswith("> \n")  # end of input: a fresh line, then out


def read_until(fd: int, marker: bytes | None) -> bytes:
    """What platbot prints on `fd` up to and including `marker`, or (None) until it ends."""
    seen = b""
    while marker is None or marker not in seen:
        ready, _, _ = select.select([fd], [], [], 60)  # only so that a hang fails instead of waiting forever
        try:
            chunk = os.read(fd, 4096) if ready else b""
        except OSError:  # a terminal whose other end has gone
            chunk = b""
        if not chunk:
            if marker:
                pytest.fail(f"no {marker!r} from platbot; it printed {seen!r}")
            return seen
        seen += chunk
    return seen


def wait_until_reading(pid: int) -> None:
    """Return once `pid`, having shown its prompt, sleeps: it is then blocked reading the next line.

    Python notices a SIGINT that lands between the prompt and the read only when the read returns,
    so a Ctrl-C sent any earlier would leave the chat, and the test, waiting for input that never comes.
    """
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(6000):
        if not stat.exists():
            return  # not Linux: nothing to look at, and the gap is a few microseconds wide
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "S":
            return
        time.sleep(0.01)
    pytest.fail(f"platbot (pid {pid}) never waited for input")


def wait_for_exit(pid: int) -> int:
    for _ in range(6000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"platbot (pid {pid}) did not end on Ctrl-C")


@pytest.fixture
def deadline():
    """Fail a test that talks to a child process after two minutes, whatever it is blocked in:
    a hung terminal must cost CI one failure, not its time limit."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the test did not finish in 120 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("deadline")
def test_chat_ends_on_a_fresh_line_on_ctrl_c(index_cache: Path) -> None:
    chat = subprocess.Popen(
        [*PLATBOT, "--knowledge", str(KNOWLEDGE), "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=platbot_env(index_cache, "C.UTF-8"),
        # A shell running the tests in the background ignores SIGINT, and its children with it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    shown = read_until(chat.stdout.fileno(), b"\n> ")
    wait_until_reading(chat.pid)
    chat.send_signal(signal.SIGINT)
    try:
        rest, err = chat.communicate(timeout=60)
    finally:
        chat.kill()  # a no-op once it has ended
    assert chat.returncode == 130 and err == b""  # no traceback
    assert (shown + rest).endswith(b"> \n")


@pytest.mark.usefixtures("deadline")
def test_chat_at_a_terminal_reads_any_bytes_and_stops_on_ctrl_c(index_cache: Path, real_kb) -> None:
    pid, terminal = pty.fork()
    if pid == 0:  # the child: become `platbot chat` on the new terminal
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            argv = [*PLATBOT, "--knowledge", str(KNOWLEDGE), "chat"]
            os.execve(argv[0], argv, platbot_env(index_cache, "strict UTF-8"))
        finally:
            os._exit(127)
    shown = read_until(terminal, b"\n> ")
    os.write(terminal, b"\xff\xfe\r")  # bytes that are not UTF-8, typed, then Enter
    shown += read_until(terminal, b"\n> ")
    wait_until_reading(pid)
    os.write(terminal, b"\x03")  # Ctrl-C: the terminal sends SIGINT
    shown += read_until(terminal, None)
    os.close(terminal)
    assert wait_for_exit(pid) == 130
    assert b"Traceback" not in shown and real_kb.message("unknown", "en").splitlines()[0].encode() in shown
    assert shown.endswith(b"> ^C\r\n")


class TestCuratorStore:
    @pytest.fixture
    def data_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.setenv("USER", "UCLI")
        for name in ("PLATBOT_DATABASE_URL", "DATABASE_URL", "PLATBOT_USER_HASH_KEY"):
            monkeypatch.delenv(name, raising=False)
        return tmp_path / "data" / "platbot" / "platbot.db"

    def questions(self, database: Path) -> list[tuple[str, str, str | None, str]]:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT surface, outcome, topic_id, text FROM questions ORDER BY id").fetchall()

    def test_ask_record_keeps_the_question_after_answering_it(
        self, data_home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["ask", "--record", "how do I schedule jobs on ECS?"]) == 0
        assert main(["ask", "--record", "who won the world cup?"]) == 0

        assert "EventBridge Scheduler" in capsys.readouterr().out
        [(surface, outcome, topic, text), declined] = self.questions(data_home)
        assert (surface, topic, text) == ("cli", "ecs-scheduled-tasks", "how do I schedule jobs on ECS?")
        assert outcome in ("answered", "see_also")
        assert declined[1:3] == ("declined", None)

    def test_db_forget_deletes_one_persons_records(self, data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["ask", "--record", "how do I schedule jobs on ECS?"]) == 0

        assert main(["db", "forget", "--user", "USOMEONE-ELSE"]) == 0
        assert len(self.questions(data_home)) == 1
        assert main(["db", "forget", "--user", "UCLI"]) == 0
        assert self.questions(data_home) == []
        assert "deleted 1 questions and 0 actions of UCLI" in capsys.readouterr().out

    def test_db_upgrade_and_prune_report_in_one_line(self, data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["db", "upgrade"]) == 0
        assert main(["db", "prune"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [f"sqlite:///{data_home}: up to date", "deleted 0 questions and 0 actions older than 90 days"]

    def test_a_store_that_cannot_be_made_is_one_line_after_the_answer(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        blocked = tmp_path / "file"
        blocked.write_text("not a directory", encoding="utf-8")
        monkeypatch.setenv("XDG_DATA_HOME", str(blocked))
        monkeypatch.delenv("PLATBOT_DATABASE_URL", raising=False)
        monkeypatch.delenv("DATABASE_URL", raising=False)

        assert main(["ask", "--record", "how do I schedule jobs on ECS?"]) == 1

        captured = capsys.readouterr()
        assert "EventBridge Scheduler" in captured.out  # answered all the same
        assert captured.err.count("\n") == 1 and "cannot create the store" in captured.err

    def test_report_in_text_json_and_html(
        self, data_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["ask", "--record", "how do I schedule jobs on ECS?"]) == 0
        assert main(["ask", "--record", "who won the world cup?"]) == 0
        capsys.readouterr()

        assert main(["report", "--since", "7d"]) == 0
        first_line = capsys.readouterr().out.splitlines()[0]
        assert first_line.endswith("(UTC): 2 questions, 50.0% answered")

        assert main(["report", "--json", "--html", str(tmp_path / "report.html")]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["totals"]["questions"] == 2
        assert report["top_topics"] == [{"topic_id": "ecs-scheduled-tasks", "questions": 1}]
        assert "default-src 'none'" in (tmp_path / "report.html").read_text(encoding="utf-8")

    def test_report_refuses_an_age_it_cannot_read(self, data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as stopped:
            main(["report", "--since", "last tuesday"])
        assert stopped.value.code == 2
        assert "give an age such as 30d" in capsys.readouterr().err

    def test_unanswered_clusters_what_was_declined_and_drafts_a_stub(
        self, data_home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for question in ("what is the best pizza topping?", "best pizza toppings?", "how do I schedule jobs on ECS?"):
            assert main(["ask", "--record", question]) == 0
        capsys.readouterr()

        assert main(["unanswered", "--since", "1d"]) == 0
        out = capsys.readouterr().out
        assert "2 questions in 1 clusters shown" in out and "  1. 2 questions (en 2)" in out
        assert main(["unanswered", "--yaml", "1"]) == 0
        stub = yaml.safe_load(capsys.readouterr().out)
        assert "pizza" in stub["id"]  # one sample per wording; these two read alike once normalised
        assert set(stub["questions"]["en"]) <= {"what is the best pizza topping?", "best pizza toppings?"}
        assert main(["unanswered", "--yaml", "2"]) == 2  # no such cluster: one line

    def test_learn_proposes_a_picked_question_and_applies_it_only_when_asked(
        self, data_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from bot.store import Recorder, StoreSettings, make_engine, upgrade

        knowledge = tmp_path / "knowledge"
        shutil.copytree(REPO / "knowledge", knowledge)
        store = StoreSettings.from_env(os.environ)
        upgrade(store.url)
        recorder = Recorder(make_engine(store.url), user_hash_key=store.user_hash_key.reveal())
        question = "our task never sees the db password from secrets manager, where does it go?"
        ref = recorder.record_question(
            surface="command",
            workspace_id="T1",
            user_id="U1",
            lang="en",
            text=question,
            outcome="did_you_mean",
            latency_ms=3.0,
            offered=["ecs-secrets", "lambda-secrets"],
        )
        recorder.record_action(question_ref=ref, kind="pick", workspace_id="T1", user_id="U1", topic_id="ecs-secrets")
        recorder.close()

        assert main(["--no-bundled", "--knowledge", str(knowledge), "learn"]) == 0
        out = capsys.readouterr().out
        assert f'ecs-secrets en "{question}" (1 picks, 0 👍)' in out and f"+    - {question}" in out
        assert question not in (knowledge / "secrets-config" / "ecs-secrets.yaml").read_text(encoding="utf-8")

        assert main(["--no-bundled", "--knowledge", str(knowledge), "learn", "--apply"]) == 0
        assert question in (knowledge / "secrets-config" / "ecs-secrets.yaml").read_text(encoding="utf-8")


# --- platbot choose ------------------------------------------------------------------------------


def test_choose_with_an_answers_file_prints_the_advice_as_json(capsys, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("workloads: [web_api, batch_hpc]\nwork_duration: hours\noperators: nobody\n")
    code, out, err = run(capsys, "choose", "--answers", str(answers), "--json")

    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["ranked"][0]["option"] == "ecs_fargate"
    assert {"option": "lambda", "title": "AWS Lambda"}.items() <= data["ruled_out"][0].items()
    assert data["ruled_out"][0]["reasons"][0]["answer"] == "hours"
    assert data["alongside"] == [{"option": "batch", "for": ["batch_hpc"]}]
    assert "ecs-scheduled-tasks" in data["next_topics"]


def test_choose_asks_each_question_by_number_and_enter_skips(capsys, monkeypatch) -> None:
    # 1 (web) and 4 (batch) for what runs; 9 is not an answer, so it is asked again; then
    # "longer than 15 minutes"; the input ends, so the rest is skipped.
    monkeypatch.setattr(sys, "stdin", io.StringIO("1,4\n9\n3\n"))
    code, out, _ = run(capsys, "choose")

    assert code == 0
    assert "1/9 What will run on it?" in out and "  4. Long batch or HPC jobs" in out
    assert "Pick from the numbers shown." in out
    assert "From your answers: Web apps or APIs + Long batch or HPC jobs · Longer than 15 minutes" in out
    assert "AWS Lambda: A Lambda invocation stops at 15 minutes." in out
    assert "AWS Batch for long batch or HPC jobs" in out


def test_choose_speaks_japanese_with_lang_ja(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    _, out, _ = run(capsys, "choose", "--lang", "ja")
    assert "何を動かしますか?" in out and "どこで動かすか" in out and "Amazon ECS on AWS Fargate" in out


def test_choose_refuses_an_answer_the_rules_do_not_have(capsys, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("operators: everyone\n")
    code, out, err = run(capsys, "choose", "--answers", str(answers))
    assert code == 2 and out == ""
    expected = "'operators' has no answer 'everyone' (its answers: each_team, platform_team, nobody)"
    assert err == f"platbot: error: {answers}: {expected}\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"workloads: [web_api\n", "line 2: expected ',' or ']', but got '<stream end>'"),
        (b"\xff\xfe\n", "not UTF-8 text"),
        (None, "No such file or directory"),
    ],
)
def test_an_answers_file_that_cannot_be_read_is_one_line(capsys, tmp_path: Path, content, reason: str) -> None:
    answers = tmp_path / "answers.yaml"
    if content is not None:
        answers.write_bytes(content)
    code, out, err = run(capsys, "choose", "--answers", str(answers))
    assert (code, out) == (2, "")
    assert err == f"platbot: error: cannot read answers from {answers}: {reason}\n"


def test_check_reports_an_advisor_option_pointing_at_no_topic(capsys, tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    data = yaml.safe_load((KNOWLEDGE / "advisor.yaml").read_text(encoding="utf-8"))
    data["options"][0]["next_topics"].append("no-such-topic")
    (team / "advisor.yaml").write_text(yaml.safe_dump({"options": data["options"][:1]}, allow_unicode=True))
    code, out, _ = run(capsys, "--knowledge", str(team), "check")

    assert code == 1
    assert "AD004 option 'ecs_fargate': next topic 'no-such-topic' is not a topic" in out
