"""Text folding: the same question typed any way ends up as the same tokens."""

from __future__ import annotations

import pytest

from bot.kb.model import Vocabulary
from bot.normalize import AliasScanner, Normalizer, detect_lang, plain_terms, strip_slack_markup


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


def test_a_lone_kanji_stays_a_token_of_its_own(normalize: Normalizer) -> None:
    # The stems of 重い, 削る and 効く say what these questions are about; the particles do not.
    assert normalize("イメージが重い").tokens == ("イメージ", "重")
    assert normalize("どこから削るのが効く?").tokens == ("削", "効")


def test_plain_terms_keep_the_words_as_typed() -> None:
    # No vocabulary: the pasted field keeps its own words, the stop words stay (BM25 weighs
    # them down), Japanese runs become bigrams, particles included.
    assert plain_terms("Why is <@U1> AWS_CONTAINER_CREDENTIALS_RELATIVE_URI empty?") == [
        "why", "is", "aws", "container", "credentials", "relative", "uri", "empty",
    ]  # fmt: skip
    assert plain_terms("タスクが落ちる") == ["タス", "スク", "クが", "が落", "落ち", "ちる"]


def test_slack_markup_and_emoji_are_dropped() -> None:
    text = "<@U123ABC> <!channel> see <https://example.com|the docs> :tada: please"
    assert strip_slack_markup(text).split() == ["see", "the", "docs", "please"]


def test_an_arn_is_not_mistaken_for_emoji_codes() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbC123"
    assert strip_slack_markup(f"can't read {arn} :cry:").split() == ["can't", "read", arn]


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


@pytest.fixture
def scanner() -> AliasScanner:
    return AliasScanner.of(
        ["cron job", "ecs", "ecs task", "ack", "ecs_cluster", "/etc/ecs/ecs.config", "定期実行", "apiキー"]
    )


def mark(scanner: AliasScanner, text: str) -> str:
    return scanner.sub(lambda alias: f"[{alias}]", text)


def test_an_alias_is_found_however_its_words_are_joined(scanner: AliasScanner) -> None:
    assert mark(scanner, "a cron job, a cron-job, a cron__ -job, a cronjob") == (
        "a [cron job], a [cron-job], a [cron__ -job], a [cronjob]"
    )


def test_the_longest_alias_wins_and_latin_ones_match_whole_words(scanner: AliasScanner) -> None:
    assert mark(scanner, "ecs tasks") == "[ecs] tasks"  # "ecs task" ends inside a word: the shorter one
    assert mark(scanner, "an ecs task; backup ack") == "an [ecs task]; backup [ack]"
    assert mark(scanner, "see /etc/ecs/ecs.config.") == "see [/etc/ecs/ecs.config]."


def test_other_aliases_match_anywhere_but_one_opening_with_a_letter_opens_a_word(scanner: AliasScanner) -> None:
    assert mark(scanner, "ECSで定期実行したい".casefold()) == "[ecs]で[定期実行]したい"
    assert mark(scanner, "apiキーとmyapiキー") == "[apiキー]とmyapiキー"


def test_a_latin_alias_is_tried_before_an_other_one_at_the_same_place(scanner: AliasScanner) -> None:
    # "ecs_cluster" (ECS_CLUSTER in ecs.config) is written with its underscore: not a Latin
    # alias, so a word that starts with a Latin one ("ecs") stays that one.
    assert mark(scanner, "our ecs cluster") == "our [ecs] cluster"


def test_a_normalizer_read_back_from_its_data_folds_the_same(real_kb, normalize: Normalizer) -> None:
    again = Normalizer.from_data(real_kb.vocabulary, normalize.to_data())
    for text in ["ECS の cron-job と k8s", "EKSでALBを消さずにクラスタを作り直すには?", "ecs_cluster in ecs.config"]:
        assert again(text) == normalize(text)
