"""Text folding: the same question typed any way ends up as the same tokens."""

from __future__ import annotations

import pytest

from bot.kb.model import Vocabulary
from bot.normalize import Normalizer, detect_lang, strip_slack_markup


@pytest.fixture(scope="module")
def normalize(real_kb) -> Normalizer:
    return Normalizer(real_kb.vocabulary)


def test_full_width_and_case_fold_to_the_same_tokens(normalize: Normalizer) -> None:
    assert normalize("ＥＣＳ　でジョブ").tokens == normalize("ecs でジョブ").tokens


def test_half_width_katakana_folds(normalize: Normalizer) -> None:
    assert normalize("ｽｹｼﾞｭｰﾙ").tokens == normalize("スケジュール").tokens == ("schedule",)


def test_aliases_become_entities(normalize: Normalizer) -> None:
    n = normalize("k8s cronjobs vs Amazon ECS")
    assert {"kubernetes", "ecs"} <= n.entities
    assert "schedule" in n.tokens and "compare" in n.tokens


def test_eks_implies_kubernetes(normalize: Normalizer) -> None:
    assert normalize("secrets on EKS").entities == {"eks", "kubernetes"}


def test_english_and_japanese_synonyms_meet(normalize: Normalizer) -> None:
    assert "schedule" in normalize("ECSで定期実行したい").tokens
    assert "secret" in normalize("パスワードはどこに置く?").tokens
    assert "secret" in normalize("where do creds go").tokens


def test_aliases_respect_word_boundaries(normalize: Normalizer) -> None:
    # "ack" is an entity (AWS Controllers for Kubernetes) but must not fire inside "backup".
    assert "ack" not in normalize("how do we backup our data").entities


def test_japanese_runs_become_bigrams_and_katakana_words(normalize: Normalizer) -> None:
    tokens = normalize("本番環境のタスク").tokens
    assert "本番" in tokens and "番環" in tokens and "タスク" in tokens


def test_slack_markup_and_emoji_are_dropped() -> None:
    text = "<@U123ABC> <!channel> see <https://example.com|the docs> :tada: please"
    assert strip_slack_markup(text).split() == ["see", "the", "docs", "please"]


def test_plurals_fold_but_acronyms_do_not(normalize: Normalizer) -> None:
    assert normalize("tasks queries").tokens == ("task", "query")
    assert "ecs" in normalize("ecs").tokens


@pytest.mark.parametrize(
    ("text", "lang"),
    [("how do I schedule jobs on ECS?", "en"), ("ECSのcronは?", "ja"), ("ＥＣＳ", "en"), ("", "en")],
)
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def test_empty_vocabulary_still_tokenizes() -> None:
    assert Normalizer(Vocabulary())("Hello, World!").tokens == ("hello", "world")


def test_camel_case_field_names_are_split_but_known_names_kept(normalize: Normalizer) -> None:
    n = normalize("logConfiguration RequestCountPerTarget EventBridge")
    assert n.tokens == ("log", "config", "request", "count", "target", "eventbridge")


def test_camel_case_is_split_inside_japanese_text(normalize: Normalizer) -> None:
    assert normalize("minimumHealthyPercentとは").tokens == ("minimum", "healthy", "percent")
