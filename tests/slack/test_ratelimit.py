"""The per-user question limit: the bucket arithmetic with a fake clock, the table shared by
forked workers, and one run over HTTP against the real server."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import SettingsError
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher
from bot.slack.ratelimit import Bucket, Decision, Limit, RateLimiter, Verdict, decide
from tests.slack.conftest import RunningServer
from tests.slack.fakes import FakeSlack, SlackSender, mention
from tests.slack.test_faults import SCHEDULE_EN, SCHEDULE_TOPIC, new_id, serving, topic_answered

THREE_A_MINUTE = Limit(3, 60.0)  # one more every 20 s once the first three are used


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def verdicts(limiter: RateLimiter, count: int, user: str = "U1", workspace: str = "T1") -> list[Verdict]:
    return [limiter.check(workspace, user).verdict for _ in range(count)]


ANSWER, NOTE, DROP = Verdict.ANSWER, Verdict.NOTE, Verdict.DROP


class TestLimitSetting:
    @pytest.mark.parametrize(("text", "limit"), [("10/60", Limit(10, 60.0)), (" 3 / 20s ", Limit(3, 20.0))])
    def test_questions_per_seconds(self, text: str, limit: Limit) -> None:
        assert Limit.parse(text) == limit

    @pytest.mark.parametrize("text", [None, "", "off", "OFF", "0"])
    def test_unset_or_off_means_no_limit(self, text: str | None) -> None:
        assert Limit.parse(text) is None

    @pytest.mark.parametrize("text", ["10", "ten/60", "0/60", "10/0", "-1/60", "10/60/2", "1.5/60"])
    def test_anything_else_stops_start_up_naming_the_variable(self, text: str) -> None:
        with pytest.raises(SettingsError, match="PLATBOT_RATE_LIMIT must be QUESTIONS/SECONDS"):
            Limit.parse(text)


class TestDecide:
    def test_a_full_bucket_answers_a_burst_then_notes_once_then_drops(self) -> None:
        bucket, seen = Bucket(), []
        for _ in range(6):
            decision, bucket = decide(THREE_A_MINUTE, bucket, now=100.0)
            seen.append(decision)
        assert [d.verdict for d in seen] == [ANSWER, ANSWER, ANSWER, NOTE, DROP, DROP]
        assert seen[3].wait == seen[4].wait == 20.0  # one interval: the oldest of the three has dripped out

    def test_after_the_wait_one_more_is_answered_and_a_new_refusal_is_noted_again(self) -> None:
        bucket = Bucket()
        for _ in range(4):
            _, bucket = decide(THREE_A_MINUTE, bucket, now=100.0)

        almost, bucket = decide(THREE_A_MINUTE, bucket, now=119.9)
        on_time, bucket = decide(THREE_A_MINUTE, bucket, now=120.0)
        again, bucket = decide(THREE_A_MINUTE, bucket, now=120.0)

        assert (almost.verdict, on_time.verdict, again.verdict) == (DROP, ANSWER, NOTE)
        assert again.wait == 20.0

    def test_asking_at_the_sustained_rate_is_never_refused(self) -> None:
        bucket = Bucket()
        for n in range(50):
            decision, bucket = decide(THREE_A_MINUTE, bucket, now=100.0 + 20.0 * n)
            assert decision.verdict is ANSWER

    def test_an_idle_minute_refills_the_whole_bucket(self) -> None:
        bucket = Bucket()
        for _ in range(3):
            _, bucket = decide(THREE_A_MINUTE, bucket, now=100.0)
        answered = []
        for _ in range(4):
            decision, bucket = decide(THREE_A_MINUTE, bucket, now=160.0)
            answered.append(decision.verdict)
        assert answered == [ANSWER, ANSWER, ANSWER, NOTE]

    @pytest.mark.parametrize(("wait", "shown"), [(0.2, 1), (1.0, 1), (19.01, 20), (20.0, 20)])
    def test_the_wait_is_shown_in_whole_seconds_rounded_up(self, wait: float, shown: int) -> None:
        assert Decision(NOTE, wait).wait_seconds == shown


# Whole-number times and limits whose interval is whole, so the bounds below are exact.
LIMITS = st.builds(lambda n, k: Limit(n, float(n * k)), st.integers(1, 6), st.integers(1, 20))
TIMES = st.lists(st.integers(0, 400), min_size=1, max_size=60).map(sorted)


class TestDecideProperties:
    @given(LIMITS, TIMES)
    def test_no_window_answers_more_than_the_burst_plus_what_dripped_in(self, limit: Limit, times: list[int]) -> None:
        answered = _answered_times(limit, times)
        for i, start in enumerate(answered):
            for end in answered[i:]:
                in_window = sum(1 for t in answered if start <= t <= end)
                assert in_window <= limit.questions + (end - start) // limit.interval

    @given(LIMITS, TIMES)
    def test_the_first_questions_up_to_the_limit_are_always_answered(self, limit: Limit, times: list[int]) -> None:
        answered = _answered_times(limit, times)
        assert len(answered) >= min(limit.questions, len(times))

    @given(LIMITS, TIMES)
    def test_between_two_notes_there_is_always_an_answer(self, limit: Limit, times: list[int]) -> None:
        bucket, told = Bucket(), []
        for t in times:
            decision, bucket = decide(limit, bucket, float(t))
            if decision.verdict is not DROP:
                told.append(decision.verdict)
        assert all(not (a is NOTE and b is NOTE) for a, b in itertools.pairwise(told))


def _answered_times(limit: Limit, times: list[int]) -> list[int]:
    bucket, answered = Bucket(), []
    for t in times:
        decision, bucket = decide(limit, bucket, float(t))
        if decision.verdict is ANSWER:
            answered.append(t)
    return answered


class TestRateLimiter:
    def test_each_user_of_each_workspace_has_their_own_bucket(self) -> None:
        limiter = RateLimiter(THREE_A_MINUTE, clock=FakeClock())

        assert verdicts(limiter, 4, user="U1") == [ANSWER, ANSWER, ANSWER, NOTE]
        assert verdicts(limiter, 4, user="U2") == [ANSWER, ANSWER, ANSWER, NOTE]
        assert verdicts(limiter, 4, user="U1", workspace="T2") == [ANSWER, ANSWER, ANSWER, NOTE]
        assert verdicts(limiter, 1, user="U1") == [DROP]

    def test_the_clock_refills_buckets(self) -> None:
        clock = FakeClock()
        limiter = RateLimiter(THREE_A_MINUTE, clock=clock)
        assert verdicts(limiter, 4) == [ANSWER, ANSWER, ANSWER, NOTE]

        clock.advance(20.0)
        assert verdicts(limiter, 2) == [ANSWER, NOTE]
        clock.advance(60.0)
        assert verdicts(limiter, 4) == [ANSWER, ANSWER, ANSWER, NOTE]

    def test_a_small_table_reuses_the_slots_of_users_whose_buckets_are_full_again(self) -> None:
        clock = FakeClock()
        limiter = RateLimiter(Limit(1, 10.0), clock=clock, slots=4, probes=4)
        for n in range(40):  # ten times more users than slots, each asking twice
            assert verdicts(limiter, 2, user=f"U{n}") == [ANSWER, NOTE]
            clock.advance(10.0)

    def test_a_table_full_of_users_still_being_limited_answers_rather_than_refuse(self) -> None:
        limiter = RateLimiter(Limit(1, 10.0), clock=FakeClock(), slots=2, probes=2)
        assert verdicts(limiter, 2, user="U1") == [ANSWER, NOTE]
        assert verdicts(limiter, 2, user="U2") == [ANSWER, NOTE]
        # No slot is free: U3 is not counted, so not limited. The limit is a courtesy.
        assert verdicts(limiter, 3, user="U3") == [ANSWER, ANSWER, ANSWER]
        assert verdicts(limiter, 1, user="U1") == [DROP]

    def test_processes_forked_after_it_was_made_count_together(self) -> None:
        # gunicorn forks its workers after the app (and its limiter) is built.
        limiter = RateLimiter(THREE_A_MINUTE, clock=FakeClock())
        assert verdicts(limiter, 2) == [ANSWER, ANSWER]

        child = os.fork()
        if child == 0:  # the child uses the third question and reports the fourth
            third, fourth = verdicts(limiter, 2)
            os._exit(0 if (third, fourth) == (ANSWER, NOTE) else 1)
        _, status = os.waitpid(child, 0)

        assert os.waitstatus_to_exitcode(status) == 0
        assert verdicts(limiter, 1) == [DROP]  # the parent sees what the child counted


# --- over HTTP, against the real server -------------------------------------------------


@pytest.fixture(scope="module")
def api() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def limited_server(api: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log_path: Path = tmp_path_factory.mktemp("ratelimit") / "platbot.log"
    with serving(api.api_url, log_path, PLATBOT_RATE_LIMIT="3/60") as running:
        yield running


def test_over_http_the_fourth_question_gets_one_note_and_other_users_are_unaffected(
    limited_server: RunningServer, api: FakeSlack, engine: tuple[KnowledgeBase, Matcher]
) -> None:
    kb, _ = engine
    api.reset()
    slack = SlackSender(limited_server.port)

    def ask(text: str, ts: str, user: str = "UASKER") -> None:
        assert slack.event(mention(text, ts=ts, user=user), new_id("Ev")).status == 200

    def answers_to(ts: str) -> list[str | None]:
        return [topic_answered(c) for c in api.calls("chat.postMessage") if c.body.get("thread_ts") == ts]

    # One at a time, so which question is the fourth does not depend on the two workers' timing.
    for n in range(1, 4):
        ask(SCHEDULE_EN, ts=f"1700000000.00000{n}")
        api.wait_for("chat.postMessage", count=n)
    ask("ECSでバッチを定期実行したい", ts="1700000000.000004")
    [note] = api.wait_for("chat.postEphemeral")
    ask(SCHEDULE_EN, ts="1700000000.000005")  # told already: nothing more, until the wait is over
    ask(SCHEDULE_EN, ts="1700000000.000006", user="UOTHER")
    [other] = api.wait_for("chat.postMessage", where=lambda c: c.body.get("thread_ts") == "1700000000.000006")
    time.sleep(0.3)

    assert [answers_to(f"1700000000.00000{n}") for n in range(1, 6)] == [[SCHEDULE_TOPIC]] * 3 + [[], []]
    assert topic_answered(other) == SCHEDULE_TOPIC
    assert (note.body["user"], note.body["channel"], note.body["thread_ts"]) == (
        "UASKER",
        "CGENERAL",
        "1700000000.000004",
    )
    assert note.body["text"] in {kb.message("rate_limited", "ja", seconds=s) for s in range(1, 21)}  # in Japanese
    assert len(api.calls("chat.postEphemeral")) == 1
    assert len(api.calls()) == 5  # three answers, one note, UOTHER's answer: one post per question at most
    limited_server.wait_for_log("rate limit: user UASKER of T0PLATBOT asked more than 3 questions in 60 s")
