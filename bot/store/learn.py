"""Questions people tied to a topic themselves, proposed as that topic's new example questions.

    found = proposals(engine, kb, since, until)
    print(as_diff(found, kb))        # a unified diff against the topic files; nothing is written
    apply(found, kb)                 # a curator's decision: writes the files
    downvotes(engine, since, until)  # topic -> the questions answered with it that got a 👎, and why

A question counts as confirmed for a topic when its asker picked that topic from a did-you-mean,
or gave a 👍 to the answer platbot chose for it. Each confirmed wording is proposed once per
topic, in the language its text is written in, unless a rule of `platbot check` would refuse it
or it teaches nothing new: it is longer than MAX_CHARS or carries Slack markup (a pasted
message, not a question); it normalises to a question some topic (or out-of-scope.yaml) already
has; it is a near-duplicate of another topic's question; it was voted down for that topic as
often as it was confirmed. When two topics claim one wording, the better confirmed one keeps it.

Files are edited as text: each new question goes on a line of its own after the last item of
its list, indented and quoted as YAML writes that one string, so comments, order and every
other line stay as the curator left them.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from rapidfuzz import fuzz, process
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import PlatbotError
from bot.kb.lint import NEAR_DUPLICATE
from bot.kb.load import read_file
from bot.kb.model import LANGS, KnowledgeBase, Lang, Topic
from bot.kb.safe_yaml import BoundedLoader
from bot.normalize import Normalized, Normalizer, detect_lang, strip_slack_markup
from bot.store.db import store_error
from bot.store.models import Action, Question

MAX_CHARS = 300
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as one
ANSWERED = ("answered", "see_also")


class LearnError(PlatbotError):
    """A topic file cannot be edited as text (its question list is not a block list)."""


@dataclass(frozen=True)
class Proposal:
    topic_id: str
    lang: Lang
    question: str
    picks: int  # did-you-mean picks of this topic for this wording
    upvotes: int  # 👍 on this topic's answer to it

    @property
    def confirmations(self) -> int:
        return self.picks + self.upvotes


class Downvote(NamedTuple):
    question: str | None  # None when the store keeps no text
    comment: str | None  # the "what was wrong?" text, if given


@dataclass
class _Evidence:
    texts: Counter[str]
    picks: int = 0
    upvotes: int = 0
    downvotes: int = 0


def proposals(engine: Engine, kb: KnowledgeBase, since: datetime, until: datetime) -> list[Proposal]:
    """New example questions confirmed in [since, until), best confirmed first."""
    normalize = Normalizer(kb.vocabulary)
    known = _KnownQuestions(kb, normalize)
    evidence: dict[tuple[str, tuple[str, ...]], _Evidence] = {}
    for kind, topic_id, text in _confirmations(engine, since, until):
        text = " ".join(text.split())
        if len(text) > MAX_CHARS or strip_slack_markup(text) != text or kb.get(topic_id) is None:
            continue
        tokens = normalize(text).tokens
        if not tokens:
            continue
        found = evidence.setdefault((topic_id, tokens), _Evidence(Counter()))
        if kind == "feedback_down":
            found.downvotes += 1
            continue
        found.texts[text] += 1
        if kind == "pick":
            found.picks += 1
        else:
            found.upvotes += 1
    ranked = [
        # The wording people typed most often stands for the others that normalise like it.
        Proposal(topic_id, detect_lang(text), text, e.picks, e.upvotes)
        for (topic_id, _), e in evidence.items()
        if e.picks + e.upvotes > e.downvotes
        for text, _ in e.texts.most_common(1)
    ]
    ranked.sort(key=lambda p: (-p.confirmations, -p.picks, p.topic_id, p.question))
    accepted = []
    for proposal in ranked:
        if known.admits(proposal):  # also keeps a wording two topics claim for the better confirmed
            known.add(proposal)
            accepted.append(proposal)
    return accepted


def downvotes(engine: Engine, since: datetime, until: datetime) -> dict[str, list[Downvote]]:
    """Topic id -> the questions whose answer with that topic got a 👎 in [since, until), newest
    first; the topics with most 👎 first."""
    topic = func.coalesce(Action.topic_id, Question.topic_id)
    query = (
        select(topic, Question.text, Action.comment)
        .join(Question, Question.ref == Action.question_ref)
        .where(Action.kind == "feedback_down", Action.at >= since, Action.at < until, topic.is_not(None))
        .order_by(Action.at.desc(), Action.id.desc())
    )
    by_topic: dict[str, list[Downvote]] = defaultdict(list)
    for topic_id, text, comment in _rows(engine, query):
        by_topic[topic_id].append(Downvote(text, comment))
    return dict(sorted(by_topic.items(), key=lambda item: (-len(item[1]), item[0])))


def as_diff(found: Iterable[Proposal], kb: KnowledgeBase) -> str:
    """The edits `apply` would make, as a unified diff of the topic files (paths as `platbot
    check` shows them, under a/ and b/: `patch -p1` applies it from the knowledge directory's parent)."""
    diff: list[str] = []
    for topic, (_, old, new) in _edits(found, kb).items():
        diff += difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"a/{topic.source}",
            f"b/{topic.source}",
        )
    return "".join(diff)


def apply(found: Iterable[Proposal], kb: KnowledgeBase) -> list[Path]:
    """Write the proposed questions into their topic files; return the files changed."""
    written = []
    for path, _, new in _edits(found, kb).values():
        _replace(path, new)
        written.append(path)
    return written


def add_questions(text: str, lang: Lang, questions: Iterable[str]) -> str:
    """A topic file's `text` with `questions` added at the end of its `questions: <lang>:` list,
    every other character as it was."""
    items = _question_list(text, lang)
    dash = items.start_mark  # marks count characters, as str indexes do
    indent = text[dash.index - dash.column : dash.index]
    newline = "\r\n" if "\r\n" in text else "\n"
    end = items.value[-1].end_mark
    at, lead = end.index, ""  # a block scalar item ends where the next line starts
    if end.column > 0:  # a plain or quoted item: after the rest of its line (a comment, say)
        line_break = _LINE_BREAK.search(text, end.index)
        at, lead = (line_break.end(), "") if line_break else (len(text), newline)
    added = "".join(indent + yaml_item(question) + newline for question in questions)
    return text[:at] + lead + added + text[at:]


# --- reading the store --------------------------------------------------------------------------


def _confirmations(engine: Engine, since: datetime, until: datetime) -> list[tuple[str, str, str]]:
    """(kind, topic id, question text) for each pick, 👍 and 👎 that ties a question to a topic;
    one person clicking the same button on one answer again counts once."""
    joined = select(Action.kind).join(Question, Question.ref == Action.question_ref)
    window = (Action.at >= since, Action.at < until, Question.text.is_not(None))
    picks = joined.add_columns(Action.topic_id, Question.text).where(
        *window, Action.kind == "pick", Action.topic_id.is_not(None)
    )
    # A 👍 on the answer itself: an action naming another topic was on a see-also or related one.
    votes = joined.add_columns(Question.topic_id, Question.text).where(
        *window,
        Action.kind.in_(("feedback_up", "feedback_down")),
        Question.outcome.in_(ANSWERED),
        Question.topic_id.is_not(None),
        (Action.topic_id.is_(None)) | (Action.topic_id == Question.topic_id),
    )
    columns = (Action.question_ref, Action.user_hash)
    unique: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    for query in (picks.add_columns(*columns), votes.add_columns(*columns)):
        for kind, topic_id, text, ref, user in _rows(engine, query):
            unique.setdefault((kind, topic_id, ref, user), (kind, topic_id, text))
    return list(unique.values())


def _rows(engine: Engine, query: Select[Any]) -> list[tuple[Any, ...]]:
    try:
        with engine.connect() as connection:
            return list(connection.execute(query))
    except SQLAlchemyError as error:
        raise store_error(error, engine, "read") from None


# --- what the knowledge base already has --------------------------------------------------------


class _KnownQuestions:
    """Every example question by normalised text, to refuse what `platbot check` would: a question
    in two topics (KB012), one also out of scope (KB022), a near-duplicate of another topic's (KB013)."""

    def __init__(self, kb: KnowledgeBase, normalize: Normalizer) -> None:
        self._normalize = normalize
        self._owner: dict[str, str] = {}
        self._texts: list[str] = []
        self._entries: list[tuple[str, Normalized]] = []
        for lang in LANGS:
            for question in kb.declined.get(lang, ()):
                self._owner.setdefault(normalize(question).text, "(out of scope)")
        for topic in kb.topics:
            for lang in LANGS:
                for question in topic.questions[lang]:
                    self._add(topic.id, normalize(question))

    def admits(self, proposal: Proposal) -> bool:
        norm = self._normalize(proposal.question)
        if norm.text in self._owner:
            return False
        # Stricter than lint, which leaves out questions under three words: one rule is enough here.
        near = process.extract(
            norm.text, self._texts, scorer=fuzz.token_sort_ratio, score_cutoff=NEAR_DUPLICATE, limit=None
        )
        return not any(
            self._entries[i][0] != proposal.topic_id and self._entries[i][1].entities == norm.entities
            for _, _, i in near
        )

    def add(self, proposal: Proposal) -> None:
        self._add(proposal.topic_id, self._normalize(proposal.question))

    def _add(self, topic_id: str, norm: Normalized) -> None:
        self._owner.setdefault(norm.text, topic_id)
        self._texts.append(norm.text)
        self._entries.append((topic_id, norm))


# --- editing the files --------------------------------------------------------------------------


def _edits(found: Iterable[Proposal], kb: KnowledgeBase) -> dict[Topic, tuple[Path, str, str]]:
    """For each topic with proposals: its file, the file's text now, and with the questions added."""
    by_topic: dict[Topic, list[Proposal]] = defaultdict(list)
    for proposal in found:
        topic = kb.get(proposal.topic_id)
        if topic is not None:
            by_topic[topic].append(proposal)
    edits = {}
    for topic in sorted(by_topic, key=lambda t: t.source):
        root = Path(kb.roots[topic.layer])
        path = (root.parent / topic.source).resolve()  # a linked file is written, not replaced by a copy
        old = read_file(path).decode("utf-8")
        new = old
        for lang in LANGS:
            questions = [p.question for p in by_topic[topic] if p.lang == lang]
            if questions:
                try:
                    new = add_questions(new, lang, questions)
                except LearnError as error:
                    raise LearnError(f"{topic.source}: {error}") from None
        edits[topic] = (path, old, new)
    return edits


def _question_list(text: str, lang: Lang) -> yaml.SequenceNode:
    document = yaml.compose(text, Loader=BoundedLoader)
    questions = _value(document, "questions")
    items = _value(questions, lang)
    if not isinstance(items, yaml.SequenceNode) or items.flow_style or not items.value:
        raise LearnError(f"questions.{lang} is not a list written one '- item' per line; add the questions by hand")
    return items


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def yaml_item(text: str) -> str:
    """`- text`, as YAML writes that one list item: quoted when the text needs it, on one line
    (runs of spaces and line breaks become one space)."""
    return yaml.safe_dump([" ".join(text.split())], allow_unicode=True, width=float("inf")).rstrip("\n")


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` whole: `platbot serve --watch` never reads a half-written file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
