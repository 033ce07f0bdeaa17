"""The `platbot` command: ask | chat | list | check | eval | tune | serve.

Only this module talks to the terminal. Errors a person can fix end as one line on stderr
and a non-zero exit, never a traceback. Slack is imported by `serve` alone, so `ask` starts
fast.

Text in is UTF-8 and text out never fails, whatever the locale: a byte that does not decode
becomes U+FFFD in its own line or argument only, JSON is always written as UTF-8, and a
character the terminal cannot show becomes "?".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.cache import load_matcher
from bot.errors import PlatbotError
from bot.kb.layers import Layers, layers_from_env
from bot.kb.load import load_knowledge, topic_files
from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.matcher import Matcher, MatchResult, Suggestion
from bot.render.text import choices as terminal_choices
from bot.render.text import reply_mrkdwn, result_for_terminal, topic_for_terminal

if TYPE_CHECKING:
    import datetime

    from sqlalchemy import Engine

    from bot.store import StoreSettings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
_QUIT = {"quit", "exit", ":q", "q", "終了"}


class UsageError(PlatbotError):
    """The command line asks for something platbot cannot do."""


class StoreUnavailable(PlatbotError):
    """The curator store did not take what it was given."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    # `serve` has options of its own (bot/slack/serve.py parses them): pass them through.
    args, rest = parser.parse_known_args(argv)
    if args.command == "serve":
        return _serve(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _decode_input_leniently(sys.stdin)
    _encode_output_safely(sys.stdout, utf8=getattr(args, "json", False))
    try:
        return int(args.run(args))
    except PlatbotError as exc:
        print(f"platbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK  # `platbot list | head` closed the pipe; nothing was lost


def _decode_input_leniently(stream: TextIO) -> None:
    """Read `stream` as UTF-8, a bad byte costing one character (U+FFFD), never the line or the run."""
    # Both `for line in sys.stdin` and input() decode with the stream's own encoding and errors,
    # which are strict on a UTF-8 locale and surrogate escapes on C.UTF-8. A test's StringIO is
    # text already and is left alone.
    if isinstance(stream, io.TextIOWrapper):
        # main() run again in a process that has read from stdin already: it was set the first time.
        with contextlib.suppress(io.UnsupportedOperation):
            stream.reconfigure(encoding="utf-8", errors="replace")


def _encode_output_safely(stream: TextIO, utf8: bool) -> None:
    """JSON goes out as UTF-8 whatever the locale; text in the locale's encoding, "?" for what it lacks."""
    if isinstance(stream, io.TextIOWrapper):
        if utf8:
            stream.reconfigure(encoding="utf-8", errors="replace")
        else:
            stream.reconfigure(errors="replace")


def _decoded_argument(arg: str) -> str:
    """A command-line word as UTF-8 text, a byte that does not decode becoming U+FFFD."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        # Python hands on argument bytes its locale could not decode as lone surrogates
        # (PEP 383); os.fsencode gives the bytes back. Text that decoded is left as it was.
        return os.fsencode(arg).decode("utf-8", "replace")
    return arg


def _json_line(data: Any) -> str:
    # Non-ASCII stays readable; every string has come through a decoder with errors="replace",
    # so no lone surrogate reaches the UTF-8 output.
    return json.dumps(data, ensure_ascii=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platbot",
        description="Answers platform-choice questions about running containers on AWS.",
    )
    _knowledge_options(parser, dest="knowledge")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    # The knowledge options work after the command too: `platbot ask --knowledge team-kb "..."`.
    after = argparse.ArgumentParser(add_help=False)
    _knowledge_options(after, dest="knowledge_after")
    commands = _WithParents(commands, after)

    ask = commands.add_parser("ask", help="answer one question (or, with --json, one per stdin line)")
    ask.add_argument("question", nargs="*", help="the question; quote it")
    ask.add_argument("--lang", choices=LANGS, help="answer in this language (default: the question's)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--record", action="store_true", help="keep the question in the curator store, as Slack's are")
    ask.set_defaults(run=_ask)

    chat = commands.add_parser("chat", help="try the bot in a terminal prompt")
    chat.add_argument("--lang", choices=LANGS, help="answer in this language")
    chat.set_defaults(run=_chat)

    listing = commands.add_parser("list", help="list every topic")
    listing.add_argument("--json", action="store_true", help="print whole topics as JSON")
    listing.set_defaults(run=_list)

    check = commands.add_parser("check", help="validate the knowledge base")
    check.set_defaults(run=_check)

    choose = commands.add_parser("choose", help="a few questions about the team and the work, then where to run it")
    choose.add_argument("--answers", metavar="FILE", help="answers from a YAML file ({question: answer}), no prompts")
    choose.add_argument("--json", action="store_true", help="print the advice as one JSON object")
    choose.add_argument("--lang", choices=LANGS, default="en", help="the language of questions and advice")
    choose.set_defaults(run=_choose)

    init = commands.add_parser("init", help="start a team knowledge directory to layer over the bundled one")
    init.add_argument("directory", type=Path, metavar="DIR", help="a new or empty directory")
    init.set_defaults(run=_init)

    ev = commands.add_parser("eval", help="measure accuracy on a labelled question set")
    ev.add_argument("files", nargs="*", type=Path, help="YAML files or folders (default: tests/eval)")
    ev.add_argument("--quiet", action="store_true", help="leave out the list of misses")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation over the example questions instead")
    ev.add_argument("--typos", type=int, default=0, metavar="N", help="add N random typos to each English question")
    ev.add_argument("--seed", type=int, default=0, help="seed for --cv folds and --typos (default: 0)")
    ev.set_defaults(run=_eval)

    db = commands.add_parser("db", help="the curator store: upgrade | prune | forget", parents=False)
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="migrate the database to this version's schema (never drops data)")
    db_commands.add_parser("prune", help="delete records older than $PLATBOT_RETENTION_DAYS (default 90)")
    forget = db_commands.add_parser("forget", help="delete every record of one Slack user")
    forget.add_argument("--user", required=True, metavar="USER_ID", help="the Slack user id, such as U0123ABCD")
    forget.add_argument("--workspace", metavar="TEAM_ID", help="only in this workspace (default: every one)")
    db.set_defaults(run=_db)

    report = commands.add_parser("report", help="what people asked and how it went, from the curator store")
    report.add_argument("--since", type=_since, default="30d", metavar="AGE", help="30d, 2w or a date (default: 30d)")
    report.add_argument("--top", type=int, default=10, metavar="N", help="topics and clusters to list (default: 10)")
    report.add_argument("--json", action="store_true", help="print the figures as JSON")
    report.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML page with charts")
    report.set_defaults(run=_report)

    unanswered = commands.add_parser("unanswered", help="declined and did-you-mean questions, clustered")
    unanswered.add_argument("--since", type=_since, default="7d", metavar="AGE", help="7d, 2w or a date (default: 7d)")
    unanswered.add_argument("--limit", type=int, default=20, metavar="N", help="clusters to show (default: 20)")
    unanswered.add_argument("--yaml", type=int, metavar="N", help="print a topic stub for cluster N instead")
    unanswered.set_defaults(run=_unanswered)

    learn = commands.add_parser("learn", help="questions people confirmed, as a diff against the knowledge")
    learn.add_argument("--since", type=_since, default="30d", metavar="AGE", help="30d, 2w or a date (default: 30d)")
    learn.add_argument("--apply", action="store_true", help="write the proposed questions into the topic files")
    learn.set_defaults(run=_learn)

    digest = commands.add_parser("digest", help="post the week in numbers to $PLATBOT_CURATOR_CHANNEL")
    digest.add_argument("--lang", choices=LANGS, default="en", help="the digest's language (default: en)")
    digest.set_defaults(run=_digest)

    tune = commands.add_parser("tune", help="fit the matcher's weights and thresholds by cross-validation")
    tune.add_argument("--cv", type=int, default=5, metavar="K", help="folds (default: 5)")
    tune.add_argument("--seed", type=int, default=0, help="seed for the folds (default: 0)")
    tune.add_argument(
        "--sets", nargs="*", type=Path, default=[], metavar="SET", help="labelled sets to fit the decisions on"
    )
    tune.add_argument("--dry-run", action="store_true", help="print the result instead of writing tuning.yaml")
    tune.set_defaults(run=_tune)

    commands.add_parser(
        "serve",
        parents=False,
        help="run the Slack app: [auto|socket|http] (see `platbot serve --help`)",
        add_help=False,
    )
    return parser


def _knowledge_options(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "--knowledge",
        type=Path,
        action="append",
        dest=dest,
        metavar="DIR",
        help="a knowledge directory layered over the bundled one; repeat for more "
        "(default: $PLATBOT_KNOWLEDGE, directories separated by ':')",
    )
    parser.add_argument(
        "--no-bundled",
        action="store_true",
        dest=f"{dest}_no_bundled",
        help="leave out the bundled knowledge: the given directories alone",
    )


class _WithParents:
    """`add_parser` that gives every command the knowledge options, except where it says not to."""

    def __init__(self, commands: Any, parent: argparse.ArgumentParser) -> None:
        self._commands = commands
        self._parent = parent

    def add_parser(self, name: str, *, parents: bool = True, **kwargs: Any) -> argparse.ArgumentParser:
        return self._commands.add_parser(name, parents=[self._parent] if parents else [], **kwargs)  # type: ignore[no-any-return]


def layers_of(args: argparse.Namespace) -> Layers:
    """The knowledge layers the command line and the environment ask for."""
    dirs = [*(args.knowledge or []), *(getattr(args, "knowledge_after", None) or [])]
    no_bundled = args.knowledge_no_bundled or getattr(args, "knowledge_after_no_bundled", False)
    return layers_from_env(os.environ, dirs, no_bundled=no_bundled)


def _load(args: argparse.Namespace) -> tuple[KnowledgeBase, Matcher]:
    kb, problems, matcher = load_matcher(layers_of(args))
    for problem in problems:
        print(f"platbot: warning: {problem} (left out; run `platbot check`)", file=sys.stderr)
    return kb, matcher


def _ask(args: argparse.Namespace) -> int:
    question = " ".join(_decoded_argument(word) for word in args.question)
    if not args.question:
        if not args.json:
            raise UsageError('ask needs a question, e.g. platbot ask "how do I schedule jobs on ECS?"')
        kb, matcher = _load(args)
        return _ask_stream(kb, matcher, sys.stdin, sys.stdout, args.lang)
    if not question.strip():
        raise UsageError("the question is empty")
    kb, matcher = _load(args)
    started = time.monotonic()
    result = matcher.match(question, args.lang)
    if args.json:
        print(_json_line(result_json(kb, result)))
    else:
        print(result_for_terminal(kb, result, color=sys.stdout.isatty()))
    if args.record:
        sys.stdout.flush()  # the answer first: recording waits on the database
        _record(question, result, latency_ms=(time.monotonic() - started) * 1000)
    return EXIT_OK


def _record(question: str, result: MatchResult, latency_ms: float) -> None:
    """Keep one CLI question in the curator store, written before the command exits."""
    from bot.store import Recorder, upgrade
    from bot.store.answers import answer_fields

    store = _store_settings()
    engine = store.engine()
    upgrade(engine)
    recorder = Recorder(engine, user_hash_key=store.user_hash_key.reveal(), store_text=store.store_text)
    recorder.record_question(
        surface="cli",
        workspace_id="",
        user_id=os.environ.get("USER", ""),
        text=question,
        **answer_fields(result),
        latency_ms=latency_ms,
    )
    recorder.close()
    if recorder.written == 0:
        raise StoreUnavailable("the question was answered but not recorded: the store did not take it")


def _db(args: argparse.Namespace) -> int:
    from bot.store import forget, mask, prune, upgrade

    store = _store_settings()
    engine = store.engine()
    try:
        if args.db_command == "upgrade":
            upgrade(engine)
            print(f"{mask(store.url)}: up to date")
            return EXIT_OK
        if args.db_command == "prune":
            deleted = prune(engine, store.retention_days)
            what = f"older than {store.retention_days} days"
        else:
            deleted = forget(engine, store.user_hash_key.reveal(), args.user, args.workspace)
            what = f"of {args.user}" + (f" in {args.workspace}" if args.workspace else "")
    finally:
        engine.dispose()
    print(f"deleted {deleted.questions} questions and {deleted.actions} actions {what}")
    return EXIT_OK


def _since(text: str) -> datetime.datetime:
    """`30d`, `2w` (from 00:00 UTC that many days ago, so the first day is whole) or a date."""
    import datetime as dt
    import re

    now = dt.datetime.now(dt.UTC)
    if match := re.fullmatch(r"\s*(\d{1,4})\s*([dw])\s*", text):
        days = int(match[1]) * (7 if match[2] == "w" else 1)
        return (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text.strip()), dt.time(), dt.UTC)
    except ValueError:
        raise argparse.ArgumentTypeError("give an age such as 30d or 2w, or a date such as 2026-11-01") from None


def _read_store() -> Engine:
    """The store, for reading: no user hash key needed."""
    from bot.store import engine_from_env

    try:
        return engine_from_env(os.environ)
    except OSError as exc:
        raise StoreUnavailable(f"no store to read ({exc.strerror}: {exc.filename})") from None


def _report(args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.store.report import UnansweredCluster, build_report, report_data, report_html, report_json
    from bot.store.unanswered import clusters

    engine = _read_store()
    try:
        unanswered: list[UnansweredCluster] = []
        if args.html or args.json:
            kb, matcher = _load(args)
            found = clusters(engine, kb, matcher, args.since, dt.datetime.now(dt.UTC), limit=args.top)
            unanswered = [UnansweredCluster(c.count, c.closest, tuple(s.text for s in c.samples)) for c in found]
        report = build_report(engine, args.since, top=args.top, unanswered=unanswered)
    finally:
        engine.dispose()
    if args.html:
        args.html.write_text(report_html(report), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        print(report_json(report))
    elif not args.html:
        print(_report_text(report_data(report)))
    return EXIT_OK


def _report_text(data: dict[str, Any]) -> str:
    """The report's headline figures, for a terminal."""
    totals, latency = data["totals"], data["latency_ms"]
    rate = f"{totals['answered_rate']:.1%}" if totals["answered_rate"] is not None else "-"
    lines = [
        f"{data['since'][:10]} to {data['until'][:10]} (UTC): {totals['questions']} questions, {rate} answered",
        "outcomes: " + ", ".join(f"{name} {count}" for name, count in totals["outcomes"].items() if count),
    ]
    if latency["median"] is not None:
        lines.append(f"answer time: median {latency['median']:.0f} ms, p95 {latency['p95']:.0f} ms")
    lines += [f"most asked: {t['topic_id']} ({t['questions']})" for t in data["top_topics"][:5]]
    lines += [f"most 👎: {t['topic_id']} ({t['down']} 👎, {t['up']} 👍)" for t in data["most_downvoted"][:5]]
    return "\n".join(lines)


def _unanswered(args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.store.unanswered import cluster_stub_yaml, clusters, unanswered_counts

    kb, matcher = _load(args)
    until = dt.datetime.now(dt.UTC)
    engine = _read_store()
    try:
        found = clusters(engine, kb, matcher, args.since, until, limit=max(args.limit, args.yaml or 0))
        counts = unanswered_counts(engine, args.since, until)
    finally:
        engine.dispose()
    if args.yaml is not None:
        if not 1 <= args.yaml <= len(found):
            raise UsageError(f"there is no cluster {args.yaml}: {len(found)} found")
        print(cluster_stub_yaml(found[args.yaml - 1], kb), end="")
        return EXIT_OK
    print(
        f"unanswered since {args.since:%Y-%m-%d}: {counts.with_text} questions in {len(found)} clusters shown"
        + (f"; {counts.without_text} kept without text, not clustered" if counts.without_text else "")
    )
    for n, cluster in enumerate(found[: args.limit], start=1):
        langs = ", ".join(f"{lang} {count}" for lang, count in cluster.languages.items())
        closest = cluster.closest or "none"
        now = f"; now answered by {cluster.answered_by}" if cluster.answered_by else ""
        print(f"{n:3}. {cluster.count} questions ({langs}), closest topic: {closest}{now}")
        for sample in cluster.samples[:3]:
            print(f"       - {_one_line(sample.text)}")
    return EXIT_OK


def _learn(args: argparse.Namespace) -> int:
    import datetime as dt

    from bot.kb.layers import bundled_root
    from bot.store.learn import apply, as_diff, downvotes, proposals

    kb, _ = _load(args)
    until = dt.datetime.now(dt.UTC)
    engine = _read_store()
    try:
        found = proposals(engine, kb, args.since, until)
        voted_down = downvotes(engine, args.since, until)
    finally:
        engine.dispose()
    for proposal in found:
        print(
            f"{proposal.topic_id} {proposal.lang} {json.dumps(proposal.question, ensure_ascii=False)} "
            f"({proposal.picks} picks, {proposal.upvotes} 👍)"
        )
    if found:
        print(as_diff(found, kb), end="")
    for topic_id, votes in voted_down.items():
        print(f"👎 {topic_id}: {len(votes)}")
        for vote in votes[:5]:
            comment = f" — {_one_line(vote.comment)}" if vote.comment else ""
            print(f"       - {_one_line(vote.question or '')}{comment}")
    if not args.apply:
        print(f"{len(found)} proposed questions; nothing changed (--apply writes them)", file=sys.stderr)
        return EXIT_OK
    installed = "site-packages" in bundled_root().resolve().parts  # the bundled layer of a wheel: never edited
    editable = [p for p in found if not (installed and kb.get(p.topic_id) and kb.get(p.topic_id).layer == 0)]  # type: ignore[union-attr]
    for path in apply(editable, kb):
        print(f"wrote {path}", file=sys.stderr)
    if len(editable) < len(found):
        print(
            f"{len(found) - len(editable)} proposals are for bundled topics of an installed copy: copy the topic "
            "into your own layer to extend it",
            file=sys.stderr,
        )
    print("now run: platbot check, platbot tune and platbot eval", file=sys.stderr)
    return EXIT_OK


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _digest(args: argparse.Namespace) -> int:
    from bot.slack.digest import run_digest

    kb, matcher = _load(args)
    return run_digest(os.environ, kb, matcher, lang=args.lang)


def _store_settings() -> StoreSettings:
    from bot.store import StoreSettings

    try:
        return StoreSettings.from_env(os.environ)
    except OSError as exc:  # the default SQLite file's directory cannot be made
        raise StoreUnavailable(
            f"cannot create the store ({exc.strerror}: {exc.filename}): set PLATBOT_DATABASE_URL or XDG_DATA_HOME"
        ) from None


def _ask_stream(kb: KnowledgeBase, matcher: Matcher, lines: Iterable[str], out: TextIO, lang: Lang | None) -> int:
    """One JSON object per input line, in order; blank lines get an error object, not a crash."""
    for line in lines:
        question = line.rstrip("\r\n")
        if not question.strip():
            print(_json_line({"query": question, "error": "empty question"}), file=out)
            continue
        print(_json_line(result_json(kb, matcher.match(question, lang))), file=out)
        out.flush()
    return EXIT_OK


def result_json(kb: KnowledgeBase, result: MatchResult) -> dict[str, object]:
    topic = result.topic

    def listed(suggestions: tuple[Suggestion, ...]) -> list[dict[str, object]]:
        return [
            {"intent": s.topic.id, "title": s.topic.title[result.lang], "confidence": s.confidence} for s in suggestions
        ]

    return {
        "query": result.query,
        "matched": result.matched,
        "outcome": result.outcome,
        "intent": topic.id if topic else None,
        "title": topic.title[result.lang] if topic else None,
        "confidence": result.confidence,
        "lang": result.lang,
        "answer": reply_mrkdwn(kb, result),
        "links": [{"title": link.title, "url": link.url} for link in topic.links] if topic else [],
        "related": list(topic.related) if topic else [],
        "suggestions": listed(result.suggestions),
        "see_also": listed(result.see_also),
    }


def _chat(args: argparse.Namespace) -> int:
    kb, matcher = _load(args)
    color = sys.stdout.isatty()
    print("platbot chat: ask a question; a number picks a suggestion; 'quit' or Ctrl-D ends.")
    try:
        return _chat_loop(kb, matcher, args.lang, color)
    except KeyboardInterrupt:
        print()  # Ctrl-C: the shell's prompt starts on a line of its own
        return 130


def _chat_loop(kb: KnowledgeBase, matcher: Matcher, forced: Lang | None, color: bool) -> int:
    choices: list[Topic] = []
    lang: Lang = forced or "en"
    while True:
        try:
            line = input("\n> ").strip()
        except EOFError:
            print()
            return EXIT_OK
        if not line:
            continue
        if line.casefold() in _QUIT:
            return EXIT_OK
        if line.isdigit() and choices:
            pick = int(line)
            if 1 <= pick <= len(choices):
                print(topic_for_terminal(kb, choices[pick - 1], lang, color))
                choices = []
            else:
                print(f"Pick a number from 1 to {len(choices)}, or ask another question.")
            continue
        result = matcher.match(line, forced)
        lang = result.lang
        choices = terminal_choices(result)
        print(result_for_terminal(kb, result, color))


def _list(args: argparse.Namespace) -> int:
    kb, _ = _load(args)
    topics = sorted(kb.topics, key=lambda t: (t.area, t.id))
    if args.json:
        print(json.dumps([_topic_json(t) for t in topics], ensure_ascii=False, indent=2))
        return EXIT_OK
    width = max(len(t.id) for t in topics)
    for topic in topics:
        print(f"{topic.area + '/' + topic.id:<{width + 16}} {topic.title['en']}")
    return EXIT_OK


def _topic_json(topic: Topic) -> dict[str, object]:
    return {
        "id": topic.id,
        "area": topic.area,
        "title": dict(topic.title),
        "questions": {lang: list(qs) for lang, qs in topic.questions.items()},
        "answer": dict(topic.answer),
        "services": list(topic.services),
        "links": [{"title": link.title, "url": link.url} for link in topic.links],
        "related": list(topic.related),
        "source": topic.source,
    }


def _check(args: argparse.Namespace) -> int:
    from bot.advisor import check_advisor
    from bot.kb.lint import check

    layers = layers_of(args)
    problems = check(layers)
    if not problems:  # the advisor's checks need the topics its options point to
        problems = check_advisor(load_knowledge(layers)[0])
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        return EXIT_PROBLEMS
    kb, _ = load_knowledge(layers)
    for line in layer_summary(layers, kb):
        print(line)
    print(f"{layers.describe()}: {len(kb.topics)} topics, no problems")
    return EXIT_OK


def layer_summary(layers: Layers, kb: KnowledgeBase) -> list[str]:
    """One line per layer when there are several: where it is, what it adds and replaces."""
    if len(layers.layers) < 2:
        return []
    lines = []
    for index, layer in enumerate(layers.layers):
        own = [topic for topic in kb.topics if topic.layer == index]
        replaced = [topic.id for topic in own if index and _defined_below(layers, index, topic)]
        what = f"{len(own)} topics" + (f", replacing {', '.join(replaced)}" if replaced else "")
        lines.append(f"  layer {index + 1}: {layer.name} ({layer.root}): {what}")
    return lines


def _defined_below(layers: Layers, index: int, topic: Topic) -> bool:
    # A topic's id is its file's name (KB007), in whichever area folder.
    return any(path.stem == topic.id for root in layers.roots[:index] for path in topic_files(root))


def _choose(args: argparse.Namespace) -> int:
    from bot.advisor import AnswersError, advise, checked_answers, load_rules
    from bot.render.advice import advice_data, advice_text

    kb, problems = load_knowledge(layers_of(args))
    rules, rule_problems = load_rules(kb.roots)
    for problem in [*problems, *rule_problems]:
        print(f"platbot: warning: {problem} (left out; run `platbot check`)", file=sys.stderr)
    if rules is None:
        print(f"platbot: error: no advisor rules in {', '.join(kb.roots)} (advisor.yaml)", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        raw = _answers_file(args.answers) if args.answers else _ask_each(kb, rules, args.lang, sys.stdin, sys.stdout)
        answers = checked_answers(rules, raw)
    except AnswersError as exc:
        print(f"platbot: error: {args.answers}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    advice = advise(rules, answers)
    if args.json:
        print(_json_line(advice_data(advice, args.lang)))
    else:
        print(advice_text(kb, rules, advice, args.lang, color=sys.stdout.isatty()))
    return EXIT_OK


def _answers_file(path: str) -> dict[str, object]:
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        if isinstance(exc, OSError):
            reason = exc.strerror
        elif isinstance(exc, UnicodeDecodeError):
            reason = "not UTF-8 text"
        else:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            reason = f"{where}{getattr(exc, 'problem', None) or 'invalid YAML'}"
        raise UsageError(f"cannot read answers from {path}: {reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of question ids to answers")
    return data


def _ask_each(kb: KnowledgeBase, rules: Any, lang: Lang, stdin: TextIO, out: TextIO) -> dict[str, object]:
    """Each question in turn, answered by number (several, comma-separated, where several fit);
    Enter skips, end of input skips the rest."""
    picked: dict[str, object] = {}
    total = len(rules.questions)
    for n, question in enumerate(rules.questions, 1):
        hint = kb.message("advisor_prompt_many" if question.multiple else "advisor_prompt_skip", lang)
        print(f"\n{n}/{total} {question.prompt[lang]} ({hint})", file=out)
        for i, answer in enumerate(question.answers, 1):
            print(f"  {i}. {answer.label[lang]}", file=out)
        while True:
            print("> ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                print(file=out)
                return picked
            numbers = [part.strip() for part in line.replace("、", ",").split(",") if part.strip()]
            if not numbers:
                break
            if all(x.isdigit() and 1 <= int(x) <= len(question.answers) for x in numbers) and (
                question.multiple or len(numbers) == 1
            ):
                picked[question.id] = [question.answers[int(x) - 1].id for x in numbers]
                break
            print(kb.message("advisor_prompt_invalid", lang), file=out)
    print(file=out)
    return picked


def _init(args: argparse.Namespace) -> int:
    from bot.kb.scaffold import scaffold

    created = scaffold(args.directory)
    for path in created:
        print(f"created {path}")
    print(
        f"next: platbot --knowledge {args.directory} check, then "
        f'platbot --knowledge {args.directory} ask "who owns our EKS clusters?"'
    )
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluate import evaluate, evaluate_cv, format_report, load_cases, report_json, with_typos

    if args.cv is not None:
        if args.files:
            raise UsageError("--cv measures on the example questions; give no files with it")
        if args.cv < 2:
            raise UsageError("--cv needs at least 2 folds")
        kb, _ = _load(args)
        report = evaluate_cv(kb, args.cv, args.seed)
    else:
        cases = load_cases(args.files or [_default_eval_dir()])
        if args.typos:
            cases = with_typos(cases, args.typos, args.seed)
        _, matcher = _load(args)
        report = evaluate(matcher, cases)
    layers = layers_of(args)
    if len(layers.layers) > 1:  # which knowledge was measured, when it is more than the bundled base
        print(f"knowledge: {layers.describe()}", file=sys.stderr)
    print(report_json(report) if args.json else format_report(report, show_misses=not args.quiet))
    return EXIT_OK


def _tune(args: argparse.Namespace) -> int:
    import datetime

    from bot.evaluate import load_cases
    from bot.kb.load import TUNING_FILE
    from bot.tune import tune, tuning_yaml

    if args.cv < 2:
        raise UsageError("--cv needs at least 2 folds")
    layers = layers_of(args)
    kb, problems = load_knowledge(layers)
    if problems:
        raise UsageError(f"fix the knowledge base first ({len(problems)} problems; run `platbot check`)")
    sets = [load_cases([path]) for path in args.sets]
    names = [str(path) for path in args.sets]
    tuning = tune(kb, args.cv, args.seed, sets, names)
    text = tuning_yaml(tuning, args.cv, args.seed, datetime.date.today().isoformat())
    if args.dry_run:
        print(text, end="")
        return EXIT_OK
    written = layers.top.root / TUNING_FILE  # the team's layer, if there is one: never below it
    written.write_text(text, encoding="utf-8")
    measured = tuning.held_out or tuning.cross_validated
    where = "each labelled set, fitted on the others" if args.sets else f"{args.cv}-fold cross-validation"
    print(
        f"{written}: {tuning.ranked_first:.1%} of held-out examples ranked first; "
        f"on {where}: {measured.right:.1%} right, {measured.wrong:.1%} wrong, {measured.offered:.1%} offered; "
        f"out of scope {measured.declined:.1%} declined, {measured.answered:.1%} answered"
    )
    return EXIT_OK


def _default_eval_dir() -> Path:
    here = Path.cwd() / "tests" / "eval"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "tests" / "eval"


def _serve(args: argparse.Namespace, rest: list[str]) -> int:
    from bot.slack.serve import main as serve_main

    knowledge = [arg for directory in args.knowledge or [] for arg in ("--knowledge", str(directory))]
    if args.knowledge_no_bundled:
        knowledge.append("--no-bundled")
    return serve_main([*rest, *knowledge])
