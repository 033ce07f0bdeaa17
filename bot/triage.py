"""Before matching: is this a question at all, and which part of it asks?

Slack brings more than questions: "hi", "thanks!", "test", a lone emoji, a pasted SQL line, a
shell command or a stack trace with nothing around it. None of those should get a confident
answer about blue/green deployments. And a long message is mostly context ("we're a team of
six, we moved off Heroku last year...") around one or two sentences that ask; those
sentences, and any error names pasted in, say more about intent than the rest.

A thank-you note is smalltalk too, even when it says what fixed the problem ("obrigado! the
stop timeout did it"): its topic words would otherwise earn it that topic's answer again. So
is a hello that announces questions to come ("morning all, I'll have a few ECS questions after
standup"): it names a subject but asks nothing yet.

Pure: text in, a `Triage` out. The smalltalk, thanks and heads-up phrases come from the vocabulary.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.normalize import fold, strip_slack_markup

Kind = Literal["question", "empty", "smalltalk", "junk"]

# A message this long (in words) gets a focus: the sentences that ask, and pasted error names.
FOCUS_MIN_WORDS = 25
# A thank-you note is short and opens with its thanks: "the ALB keeps failing, thanks in
# advance" puts them last, and a long message that opens with thanks goes on to ask more.
# A heads-up hello opens with its greeting the same way.
THANKS_MAX_CHARS = 160
OPENING_WITHIN_CHARS = 10
# A heads-up hello is shorter still: past a sentence, "hi, a few questions about task roles:
# when does the execution role apply" is the first question, asked without a question mark.
HEADS_UP_MAX_CHARS = 120
_QUESTION_WORDS = "how|what|why|where|when|which|who"
_INTERROGATIVE = re.compile(rf"(?<![a-z])(?:{_QUESTION_WORDS})(?![a-z])|どう|なぜ|なんで|どこ|いつ|どれ|何")

_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[a-z]{2,}|[\u3040-\u30ff\u3400-\u9fff]")
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
_ERROR_NAME = re.compile(r"\b[A-Z][A-Za-z]+(?:Error|Exception|BackOff|Failed|Denied|Unauthorized|Killed)\b")
_ASKS_EN = re.compile(
    rf"^(?:{_QUESTION_WORDS}|can|could|should|would|is|are|does|do|did|any|anyone|"
    r"has|have|will|whats|what's|hows|is there|are there)\b"
)
_ASKS_JA = re.compile(
    r"(?:か|かな|かね|の|たい|ですか|ますか|でしょうか|には|べき|方法|ほしい|欲しい|教えて|知りたい)[?？]*$"
)

# Lines that are code, not prose. Each pattern must match the whole line (a lone ARN, URL, UUID
# or IP address is a paste with no question around it), and commands count
# only with a flag, a path or an assignment among their arguments: "kubectl drain hangs on
# one node" and "cd pipeline for ecs" are questions, "kubectl get pods -A" and "ls -la" are not.
_ARGUMENTS = r"(?=(?:.*\s)?(?:-{1,2}[a-z]|\S*[/=]))[\x21-\x7e ]*"
_CODE_LINE = re.compile(
    r"""^\s*(?:
        select\s+[\w*.,\s()]+?\s+from\s+[\w.]+(?:\s+where\s.*)?;?
      | (?:insert\s+into|drop\s+table|union\s+(?:all\s+)?select|delete\s+from\s+\w+\s*(?:where\s.*)?;)\s.*
      | update\s+\w+\s+set\s+\w+\s*=.*
      | '?\s*(?:or|and)\s+(?:\d+|'[^']*')\s*=\s*(?:\d+|'[^']*')\s*(?:--.*)?
      | <\s*/?\s*[a-z][a-z0-9]*(?:\s[^>]*)?>.*
      | \$\s+\S.*
      | (?:kubectl|oc|docker|podman|nerdctl|crictl|aws|eksctl|helm|terraform|git|copilot|sudo|rm|ls|cd|cat
         |echo|grep|chmod|chown|curl|wget|mkdir|export|ssh|scp|systemctl|apt|apt-get|yum|pip|npm)\s"""
    + _ARGUMENTS
    + r"""
      | at\s+[\w.$]+\([\w.]*(?::\d+)?\)
      | traceback\s\(most\srecent\scall\slast\):?
      | file\s"[^"]+",\sline\s\d+.*
      | [{}\[\];,]+
      | arn:[\w-]+:[\w-]*:[\w-]*:\d*:\S+
      | (?:https?|s3)://\S+
      | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
      | \d{1,3}(?:\.\d{1,3}){3}(?::\d+)?
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# A line that asks, or says a sentence's worth of plain words, is prose even when it starts
# like a command: "eksctl or terraform for our clusters (dev/prod)?" and "terraform destroy on
# our dev eks has been stuck 40 min on the subnets / vpc" have a command's first word and a path.
_ASKS_MARK = re.compile(r"[?？](?:\s|$)")
PROSE_WORDS = 12


def _only_code(text: str) -> bool:
    """Every non-blank line of the text is code (and there is one)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(_is_code(line) for line in lines)


def _is_code(line: str) -> bool:
    if not _CODE_LINE.match(line) or _ASKS_MARK.search(line):
        return False
    return sum(1 for token in line.split() if token.strip(",.;:'\"`()").isalpha()) < PROSE_WORDS


@dataclass(frozen=True)
class Triage:
    kind: Kind
    focus: str = ""  # the asking sentences and error names of a long question, else ""


def _phrases(words: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for the phrases, longest first. Latin ones on word boundaries ("hi" must not
    fire inside "this"); Japanese anywhere."""
    phrases = sorted({fold(p) for p in words if p.strip()}, key=len, reverse=True)
    alternatives = [rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])" if p.isascii() else re.escape(p) for p in phrases]
    return re.compile("|".join(alternatives)) if alternatives else None


class Triager:
    """Sorts messages with one vocabulary's smalltalk phrases. Build once; calling is pure."""

    def __init__(
        self,
        smalltalk: Iterable[str],
        thanks: Iterable[str] = (),
        unresolved: Iterable[str] = (),
        heads_up: Iterable[str] = (),
    ) -> None:
        self._smalltalk = _phrases(smalltalk)
        self._thanks = _phrases(thanks)
        self._unresolved = _phrases(unresolved)
        self._heads_up = _phrases(heads_up)

    def __call__(self, text: str) -> Triage:
        plain = html.unescape(strip_slack_markup(text))
        if not _LETTER.search(plain):
            return Triage("empty" if not plain.strip() or not re.search(r"\w", plain) else "junk")
        folded = fold(plain)
        note = " ".join(folded.split())  # what the short-note checks read: one space between words
        if self._only_smalltalk(folded) or self._thank_you_note(plain, note) or self._heads_up_note(plain, note):
            return Triage("smalltalk")
        words = _WORD.findall(folded)
        if len(words) < 2 and not any(len(w) >= 3 or not w.isascii() for w in words):
            return Triage("junk")  # "x", "a?", "ok"
        # The text as typed counts too: outside Slack (the CLI) HTML arrives as is and passes
        # for Slack's markup, so `<div class="alert">Deploy paused</div>` would read as prose.
        if _only_code(plain) or _only_code(html.unescape(text)):
            return Triage("junk")
        return Triage("question", _focus(plain))

    def _only_smalltalk(self, folded: str) -> bool:
        # Greetings are short; the spaces a mention or a line break leaves behind do not count.
        if self._smalltalk is None or len(" ".join(folded.split())) > 80:
            return False
        rest, found = self._smalltalk.subn(" ", folded)
        return found > 0 and not _LETTER.search(rest)

    def _thank_you_note(self, plain: str, text: str) -> bool:
        """Thanks first, then at most a few words on what worked: nothing asked, no error pasted,
        no "but it still..." and no "also, how..."."""
        if not _opens_short_note(self._thanks, text, plain, THANKS_MAX_CHARS):
            return False
        return self._unresolved is None or not self._unresolved.search(text)

    def _heads_up_note(self, plain: str, text: str) -> bool:
        """A greeting first, then word that questions will follow; none asked, no problem told."""
        if self._heads_up is None or not _opens_short_note(self._smalltalk, text, plain, HEADS_UP_MAX_CHARS):
            return False
        if _INTERROGATIVE.search(text):
            return False  # "hi, a few questions about task roles: when does..." has begun asking
        rest, found = self._heads_up.subn(" ", text)
        # "hi, our tasks keep failing, I have a few questions" has a problem in it already.
        return found > 0 and (self._unresolved is None or not self._unresolved.search(rest))


def _opens_short_note(opening: re.Pattern[str] | None, text: str, plain: str, max_chars: int) -> bool:
    """`text` opens with one of the phrases, is at most `max_chars` long, asks nothing and pastes
    no error name."""
    if opening is None or len(text) > max_chars:
        return False
    found = opening.search(text)
    if found is None or found.start() > OPENING_WITHIN_CHARS:
        return False
    sentences = [s.strip() for s in _SENTENCE.findall(plain) if s.strip()]
    return not any(_asks(s) for s in sentences) and not _ERROR_NAME.search(plain)


def _focus(text: str) -> str:
    """The sentences of a long message that ask something, plus the error names it pastes."""
    if len(_WORD.findall(fold(text))) < FOCUS_MIN_WORDS:
        return ""
    asking = [s.strip() for s in _SENTENCE.findall(text) if _asks(s.strip())]
    errors = list(dict.fromkeys(_ERROR_NAME.findall(text)))
    return " ".join([*asking, *errors])


def _asks(sentence: str) -> bool:
    folded = fold(sentence)
    return folded.endswith(("?", "？")) or bool(_ASKS_EN.match(folded)) or bool(_ASKS_JA.search(folded))
