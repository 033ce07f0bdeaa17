"""Content rules for the knowledge base, run by `platbot check` and by the test suite.

Each rule has a code; loading (load.py) reports KB001-KB009 (syntax and shape), this module
the rules that need the whole base:

    KB010 duplicate topic id            KB016 Japanese half left in English
    KB011 related id does not exist     KB017 en and ja answers link to different pages
    KB012 question in two topics        KB018 inline link missing from 'links'
    KB013 near-duplicate question       KB019 too few example questions
    KB014 answer over 3,000 characters  KB020 title longer than a button allows
    KB015 link is not an https URL      KB021 area folder without a display name
                                        KB022 out-of-scope example that a topic answers
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from rapidfuzz import fuzz, process

from bot.errors import KnowledgeError, Problem
from bot.kb.layers import Layers
from bot.kb.load import DECLINED_FILE, Source, iter_sources, load_knowledge, shared_source
from bot.kb.model import LANGS, KnowledgeBase, Topic
from bot.normalize import Normalizer

SECTION_LIMIT = 3000  # Slack's limit for a section block's text
BUTTON_LIMIT = 75  # Slack's limit for a button's text
MIN_QUESTIONS = {"en": 16, "ja": 10}  # fewer, and cross-validation shows the topic is missed
NEAR_DUPLICATE = 95  # token_sort_ratio at which two topics compete for one question
_INLINE_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")
_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# A Japanese answer keeps product names in English, but at least this share of its
# letters should be Japanese, or the translation was forgotten.
_MIN_JAPANESE_SHARE = 0.25


def check(knowledge: Path | Layers | None = None) -> list[Problem]:
    """Every problem in the knowledge base (one directory, or layers), sorted by file and line."""
    try:
        kb, problems = load_knowledge(knowledge)
    except KnowledgeError as exc:
        if not exc.problems:
            raise  # no directory: nothing to list
        return sorted(exc.problems, key=lambda p: (p.path, p.line, p.code, p.message))
    problems += lint(kb)
    return sorted(set(problems), key=lambda p: (p.path, p.line, p.code, p.message))


def lint(kb: KnowledgeBase) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: dict[str, str] = {}
    known = {t.id for t in kb.topics}
    owner_of: dict[str, tuple[str, str]] = {}
    normalize = Normalizer(kb.vocabulary)
    by_text: dict[str, list[tuple[str, str]]] = defaultdict(list)

    sources = list(iter_sources(kb))
    for topic, src in sources:
        if topic.id in seen_ids:
            problems.append(src.problem("KB010", f"duplicate id '{topic.id}' (also in {seen_ids[topic.id]})", "id"))
        seen_ids.setdefault(topic.id, src.path)

        for i, rel in enumerate(topic.related):
            if rel == topic.id:
                problems.append(src.problem("KB011", "a topic cannot be related to itself", "related", i))
            elif rel not in known:
                problems.append(src.problem("KB011", f"related id '{rel}' does not exist", "related", i))

        for lang in LANGS:
            questions = topic.questions[lang]
            if len(questions) < MIN_QUESTIONS[lang]:
                problems.append(
                    src.problem(
                        "KB019",
                        f"{len(questions)} {lang} questions; at least {MIN_QUESTIONS[lang]} needed",
                        "questions",
                        lang,
                    )
                )
            for i, question in enumerate(questions):
                key = normalize(question).text
                other = owner_of.get(key)
                if other and other[0] != topic.id:
                    problems.append(
                        src.problem(
                            "KB012", f"question '{question}' is also in topic '{other[0]}'", "questions", lang, i
                        )
                    )
                owner_of.setdefault(key, (topic.id, question))
                if key:
                    by_text[key].append((topic.id, src.path))

            answer = topic.answer[lang]
            if len(answer) > SECTION_LIMIT:
                problems.append(
                    src.problem(
                        "KB014",
                        f"{lang} answer is {len(answer)} characters; Slack shows at most {SECTION_LIMIT}",
                        "answer",
                        lang,
                    )
                )
            if len(topic.title[lang]) > BUTTON_LIMIT:
                problems.append(src.problem("KB020", f"{lang} title is over {BUTTON_LIMIT} characters", "title", lang))

        problems += _check_japanese(topic, src)
        problems += _check_links(topic, src)
        if f"area.{topic.area}" not in kb.messages:
            problems.append(src.problem("KB021", f"area '{topic.area}' has no 'area.{topic.area}' in messages.yaml"))

    problems += _near_duplicates(sources, normalize)
    problems += _declined_but_answered(kb, normalize, owner_of)
    return problems


def _declined_but_answered(
    kb: KnowledgeBase, normalize: Normalizer, owner_of: dict[str, tuple[str, str]]
) -> list[Problem]:
    """A question cannot be both one platbot must decline and one a topic answers."""
    src = shared_source(kb, DECLINED_FILE)
    if src is None:
        return []
    problems = []
    for lang in LANGS:
        for i, question in enumerate(kb.declined.get(lang, ())):
            owner = owner_of.get(normalize(question).text)
            if owner:
                message = f"out-of-scope example '{question}' is also a question of topic '{owner[0]}'"
                problems.append(src.problem("KB022", message, lang, i))
    return problems


def _check_japanese(topic: Topic, src: Source) -> list[Problem]:
    problems = []
    if not _JAPANESE_CHAR.search(topic.title["ja"]):
        problems.append(src.problem("KB016", "Japanese title has no Japanese text", "title", "ja"))
    letters = [c for c in _INLINE_LINK.sub("", topic.answer["ja"]) if c.isalpha()]
    share = sum(1 for c in letters if _JAPANESE_CHAR.match(c)) / max(len(letters), 1)
    if share < _MIN_JAPANESE_SHARE:
        problems.append(
            src.problem(
                "KB016", f"Japanese answer is mostly not Japanese ({share:.0%} Japanese letters)", "answer", "ja"
            )
        )
    for i, question in enumerate(topic.questions["ja"]):
        if not _JAPANESE_CHAR.search(question):
            problems.append(
                src.problem("KB016", f"Japanese question has no Japanese text: '{question}'", "questions", "ja", i)
            )
    return problems


def _check_links(topic: Topic, src: Source) -> list[Problem]:
    problems = []
    listed = {link.url for link in topic.links}
    for i, link in enumerate(topic.links):
        parts = urlsplit(link.url)
        if parts.scheme != "https" or not parts.netloc or " " in link.url:
            problems.append(src.problem("KB015", f"link is not an https URL: '{link.url}'", "links", i))
    inline = {lang: set(_INLINE_LINK.findall(topic.answer[lang])) for lang in LANGS}
    if inline["en"] != inline["ja"]:
        diff = sorted(inline["en"] ^ inline["ja"])
        problems.append(src.problem("KB017", f"en and ja answers link to different pages: {', '.join(diff)}", "answer"))
    for url in sorted((inline["en"] | inline["ja"]) - listed):
        problems.append(src.problem("KB018", f"answer links to {url}, which is not in 'links'", "answer"))
    return problems


def _near_duplicates(sources: list[tuple[Topic, Source]], normalize: Normalizer) -> list[Problem]:
    """Two topics whose example questions are nearly the same fight over one question."""
    source_of = {topic.id: src for topic, src in sources}
    entries = [
        (topic, lang, i, normalize(q))
        for topic, _ in sources
        for lang in LANGS
        for i, q in enumerate(topic.questions[lang])
    ]
    # Only questions naming the same products are compared ("secrets on ECS" and "secrets on
    # EKS" are meant to differ), and token-sort ratio is plain ratio over sorted words: both
    # cut a check of 9,000 questions from minutes to seconds.
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for a, (*_, norm) in enumerate(entries):
        groups[norm.entities].append(a)
    found_pairs: list[tuple[int, float, int, Problem]] = []
    for members in groups.values():
        texts = [" ".join(sorted(entries[a][3].tokens)) for a in members]
        for position, a in enumerate(members):
            topic, lang, i, norm = entries[a]
            if len(norm.tokens) < 3:
                continue  # short questions are near-duplicates of everything
            for _, score, found in process.extract(
                texts[position], texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE, limit=None
            ):
                b = members[found]
                other_topic, _, _, other = entries[b]
                if b <= a or other_topic.id == topic.id or other.text == norm.text:
                    continue
                other_question = other_topic.questions[entries[b][1]][entries[b][2]]
                found_pairs.append(
                    (
                        a,
                        -score,
                        b,
                        source_of[topic.id].problem(
                            "KB013",
                            f"question '{topic.questions[lang][i]}' is {score:.0f}% like "
                            f"'{other_question}' in topic '{other_topic.id}'",
                            "questions",
                            lang,
                            i,
                        ),
                    )
                )
    return [problem for *_, problem in sorted(found_pairs, key=lambda pair: pair[:3])]
