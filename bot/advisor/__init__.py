"""The platform advisor: a few questions about the team and the work, then a ranked choice of
AWS platforms with the reasons that came from the answers (`platbot choose`, `/platform choose`).

    rules, problems = load_rules(kb.roots)          # knowledge/advisor.yaml, layered
    advice = advise(rules, checked_answers(rules, {"workloads": ["web_api"], "operators": "nobody"}))

model (the rules as data), load (reading and checking them), decide (answers -> advice).
"""

from bot.advisor.decide import Advice, AnswersError, advise, checked_answers
from bot.advisor.load import ADVISOR_FILE, check_advisor, check_rules, load_rules
from bot.advisor.model import Answers, Rules

__all__ = [
    "ADVISOR_FILE",
    "Advice",
    "Answers",
    "AnswersError",
    "Rules",
    "advise",
    "check_advisor",
    "check_rules",
    "checked_answers",
    "load_rules",
]
