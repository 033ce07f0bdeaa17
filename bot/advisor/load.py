"""Reading knowledge/advisor.yaml into Rules, and checking them (`platbot check`).

A layered knowledge base (bot/kb/layers.py) reads the file in every layer that has one: a
team's option or question replaces the one with its id below it, a new id is added.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.advisor.decide import advise
from bot.advisor.model import Answer, Effect, Option, Question, Rules, Text
from bot.errors import Problem
from bot.kb.load import Source, read_source
from bot.kb.model import LANGS, KnowledgeBase, Link

ADVISOR_FILE = "advisor.yaml"
_OPTION_FIELDS = {"id", "title", "summary", "running_cost", "prior", "next_topics", "links"}
_QUESTION_FIELDS = {"id", "prompt", "answers", "multiple"}
_ANSWER_FIELDS = {"id", "label", "effects", "suits"}
_EFFECT_FIELDS = {"options", "weight", "excludes", "reason"}


def load_rules(roots: Sequence[Path | str]) -> tuple[Rules | None, list[Problem]]:
    """The advisor's rules from the knowledge layers `roots` (lowest first); None when no layer
    has a usable advisor.yaml. Each problem leaves out only the entry it is about."""
    problems: list[Problem] = []
    options: dict[str, Option] = {}
    questions: dict[str, Question] = {}
    sources: list[str] = []
    for root in map(Path, roots):
        path = root / ADVISOR_FILE
        if not os.path.lexists(path):
            continue
        src = read_source(path, root)
        if isinstance(src, Problem):
            problems.append(src)
            continue
        layer = _parse(src, problems)
        if layer is None:
            continue
        sources.append(src.path)
        options.update((o.id, o) for o in layer.options)  # same id: replaced in place
        questions.update((q.id, q) for q in layer.questions)
    if not options or not questions:
        return None, problems
    return Rules(tuple(options.values()), tuple(questions.values()), source=" + ".join(sources)), problems


def _parse(src: Source, problems: list[Problem]) -> Rules | None:
    data = src.data
    if not isinstance(data, dict):
        problems.append(src.problem("AD001", "expected 'options' and 'questions'"))
        return None
    options = [
        o for i, raw in enumerate(_list(src, data, "options", problems)) if (o := _option(src, raw, i, problems))
    ]
    questions = [
        q for i, raw in enumerate(_list(src, data, "questions", problems)) if (q := _question(src, raw, i, problems))
    ]
    return Rules(tuple(options), tuple(questions), source=src.path)


def _list(src: Source, data: Mapping[str, Any], key: str, problems: list[Problem]) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.append(src.problem("AD001", f"'{key}' must be a list", key))
        return []
    return value


def _text(src: Source, raw: Any, keys: tuple[Any, ...], problems: list[Problem]) -> Text | None:
    if not isinstance(raw, dict) or any(not isinstance(raw.get(lang), str) or not raw[lang].strip() for lang in LANGS):
        problems.append(src.problem("AD002", f"'{keys[-1]}' needs non-empty 'en' and 'ja' text", *keys))
        return None
    return {lang: raw[lang].strip() for lang in LANGS}


def _unknown_fields(src: Source, raw: dict[str, Any], allowed: set[str], keys: tuple[Any, ...]) -> list[Problem]:
    return [src.problem("AD001", f"unknown field '{name}'", *keys, name) for name in raw if name not in allowed]


def _ids(src: Source, raw: Any, keys: tuple[Any, ...], problems: list[Problem]) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        problems.append(src.problem("AD001", f"'{keys[-1]}' must be a list of ids", *keys))
        return None
    return tuple(raw)


def _option(src: Source, raw: Any, i: int, problems: list[Problem]) -> Option | None:
    at = ("options", i)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        problems.append(src.problem("AD001", "an option needs an 'id'", *at))
        return None
    problems += _unknown_fields(src, raw, _OPTION_FIELDS, at)
    title, summary, cost = (_text(src, raw.get(k), (*at, k), problems) for k in ("title", "summary", "running_cost"))
    prior = raw.get("prior", 0)
    if not isinstance(prior, int) or isinstance(prior, bool):
        problems.append(src.problem("AD001", "'prior' must be a whole number", *at, "prior"))
        return None
    topics = _ids(src, raw.get("next_topics", []), (*at, "next_topics"), problems)
    links = _links(src, raw.get("links", []), (*at, "links"), problems)
    if title is None or summary is None or cost is None or topics is None or links is None:
        return None
    return Option(raw["id"], title, summary, cost, prior, topics, links)


def _links(src: Source, raw: Any, keys: tuple[Any, ...], problems: list[Problem]) -> tuple[Link, ...] | None:
    ok = isinstance(raw, list) and all(
        isinstance(link, dict)
        and isinstance(link.get("title"), str)
        and str(link.get("url", "")).startswith("https://")
        for link in raw
    )
    if not ok:
        problems.append(src.problem("AD001", "'links' must be a list of {title, url} with https URLs", *keys))
        return None
    return tuple(Link(link["title"], link["url"]) for link in raw)


def _question(src: Source, raw: Any, i: int, problems: list[Problem]) -> Question | None:
    at = ("questions", i)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        problems.append(src.problem("AD001", "a question needs an 'id'", *at))
        return None
    problems += _unknown_fields(src, raw, _QUESTION_FIELDS, at)
    prompt = _text(src, raw.get("prompt"), (*at, "prompt"), problems)
    raw_answers = raw.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        problems.append(src.problem("AD001", "a question needs a list of 'answers'", *at))
        return None
    answers = [a for j, item in enumerate(raw_answers) if (a := _answer(src, item, (*at, "answers", j), problems))]
    if prompt is None or not answers:
        return None
    return Question(raw["id"], prompt, tuple(answers), multiple=raw.get("multiple") is True)


def _answer(src: Source, raw: Any, at: tuple[Any, ...], problems: list[Problem]) -> Answer | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        problems.append(src.problem("AD001", "an answer needs an 'id'", *at))
        return None
    problems += _unknown_fields(src, raw, _ANSWER_FIELDS, at)
    label = _text(src, raw.get("label"), (*at, "label"), problems)
    suits = _ids(src, raw.get("suits", []), (*at, "suits"), problems)
    raw_effects = raw.get("effects", [])
    if not isinstance(raw_effects, list):
        problems.append(src.problem("AD001", "'effects' must be a list", *at, "effects"))
        return None
    effects = [e for k, item in enumerate(raw_effects) if (e := _effect(src, item, (*at, "effects", k), problems))]
    if label is None or suits is None:
        return None
    return Answer(raw["id"], label, tuple(effects), suits)


def _effect(src: Source, raw: Any, at: tuple[Any, ...], problems: list[Problem]) -> Effect | None:
    if not isinstance(raw, dict):
        problems.append(src.problem("AD001", "an effect must be a mapping", *at))
        return None
    problems += _unknown_fields(src, raw, _EFFECT_FIELDS, at)
    options = _ids(src, raw.get("options"), (*at, "options"), problems)
    reason = _text(src, raw.get("reason"), (*at, "reason"), problems)
    weight, excludes = raw.get("weight", 0), raw.get("excludes", False)
    if not isinstance(weight, int) or isinstance(weight, bool) or not isinstance(excludes, bool):
        problems.append(src.problem("AD001", "'weight' must be a whole number and 'excludes' true or false", *at))
        return None
    if (weight != 0) == excludes:
        problems.append(src.problem("AD003", "an effect has either a non-zero 'weight' or 'excludes: true'", *at))
        return None
    if options is None or reason is None:
        return None
    return Effect(options, reason, weight, excludes)


# --- checks on the whole (platbot check) -------------------------------------------------------


def check_advisor(kb: KnowledgeBase) -> list[Problem]:
    """Every problem in the layers' advisor.yaml files, for `platbot check` (none without one)."""
    rules, problems = load_rules(kb.roots)
    return problems + (check_rules(rules, kb) if rules is not None else [])


def check_rules(rules: Rules, kb: KnowledgeBase) -> list[Problem]:
    """What `platbot check` reports beyond the file's shape: unknown ids, duplicate ids, an
    option no answers can put first, answers that together rule out every option."""
    where = rules.source or ADVISOR_FILE
    problems = [Problem(where, 1, "AD004", message) for message in _reference_problems(rules, kb)]
    if problems:
        return problems  # the searches below assume every id resolves
    problems += [Problem(where, 1, "AD005", f"no answers put '{o.id}' first") for o in _unreachable(rules)]
    if (dead_end := _dead_end(rules)) is not None:
        picked = ", ".join(f"{q}={'+'.join(a)}" for q, a in dead_end.items())
        problems.append(Problem(where, 1, "AD006", f"these answers rule out every option: {picked}"))
    return problems


def _reference_problems(rules: Rules, kb: KnowledgeBase) -> Iterable[str]:
    option_ids = [o.id for o in rules.options]
    known = set(option_ids)
    for duplicate in {i for i in option_ids if option_ids.count(i) > 1}:
        yield f"option '{duplicate}' is defined twice"
    for option in rules.options:
        for topic in option.next_topics:
            if kb.get(topic) is None:
                yield f"option '{option.id}': next topic '{topic}' is not a topic"
    for question in rules.questions:
        answer_ids = [a.id for a in question.answers]
        for duplicate in {i for i in answer_ids if answer_ids.count(i) > 1}:
            yield f"question '{question.id}': answer '{duplicate}' is defined twice"
        for answer in question.answers:
            named = {*answer.suits, *(o for effect in answer.effects for o in effect.options)}
            for unknown in sorted(named - known):
                yield f"question '{question.id}', answer '{answer.id}': no option '{unknown}'"


def _unreachable(rules: Rules) -> list[Option]:
    """Options that no answers put first, found by climbing: for each option, pick per question
    the answer that helps it most against the best other option, until nothing improves."""
    return [option for option in rules.options if not _can_come_first(rules, option.id)]


def _can_come_first(rules: Rules, option_id: str) -> bool:
    answers: dict[str, tuple[str, ...]] = {}

    def margin(trial: Mapping[str, tuple[str, ...]]) -> float:
        advice = advise(rules, trial, explore=False)
        scores = {r.option.id: r.score for r in advice.ranked}
        if option_id not in scores:
            return float("-inf")
        others = [s for o, s in scores.items() if o != option_id]
        # A tie goes to the option listed first, so a tie counts as winning only for it.
        best_other = max(others, default=float("-inf"))
        return scores[option_id] - best_other + (0.5 if advice.ranked[0].option.id == option_id else 0)

    for _ in range(3):
        improved = False
        for question in rules.questions:
            current = margin(answers)
            for answer in question.answers:
                trial = {**answers, question.id: (answer.id,)}
                if (tried := margin(trial)) > current:
                    answers, current, improved = trial, tried, True
        if not improved:
            break
    ranked = advise(rules, answers, explore=False).ranked
    return bool(ranked) and ranked[0].option.id == option_id


def _dead_end(rules: Rules) -> dict[str, tuple[str, ...]] | None:
    """One answer per question that together exclude every option, or None. Only answers that
    exclude something can contribute, which keeps the search small."""
    every = {o.id for o in rules.options}
    excluding = [
        [(q.id, a.id, {o for e in a.effects if e.excludes for o in e.options}) for a in q.answers]
        for q in rules.questions
    ]
    choices: list[list[tuple[str, tuple[str, ...], set[str]] | None]] = []
    for question, per_question in zip(rules.questions, excluding, strict=True):
        singles = [(q, (a,), out) for q, a, out in per_question if out]
        if question.multiple and len(singles) > 1:  # several picked at once exclude the most
            singles.append((question.id, tuple(a for _, (a,), _ in singles), set().union(*(s[2] for s in singles))))
        choices.append([*singles, None])  # None: not answered
    for combination in itertools.product(*choices):
        picked = [c for c in combination if c is not None]
        if picked and set().union(*(c[2] for c in picked)) >= every:
            return {q: a for q, a, _ in picked}
    return None
