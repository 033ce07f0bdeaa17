"""The weights and thresholds file, and the logistic fit behind it."""

from __future__ import annotations

import math
import random

import pytest

from bot.calibration import Calibration, Logistic, Thresholds, fit_logistic, sigmoid


def test_sigmoid_is_stable_at_the_extremes() -> None:
    assert sigmoid(0.0) == 0.5 and sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0


def test_the_fit_recovers_the_weights_that_made_the_data() -> None:
    rng = random.Random(3)
    truth = Logistic(-1.0, (2.0, -3.0))
    rows = [(rng.uniform(-2, 2), rng.uniform(-2, 2)) for _ in range(4000)]
    labels = [rng.random() < truth.probability(x) for x in rows]
    fitted = fit_logistic(rows, labels)
    assert math.isclose(fitted.bias, -1.0, abs_tol=0.25)
    assert all(math.isclose(w, t, abs_tol=0.3) for w, t in zip(fitted.weights, truth.weights, strict=True))


def test_separable_data_still_gives_finite_weights() -> None:
    fitted = fit_logistic([(0.0,), (1.0,)] * 10, [False, True] * 10)
    assert all(math.isfinite(w) for w in (fitted.bias, *fitted.weights))
    assert fitted.probability((1.0,)) > 0.9 > 0.1 > fitted.probability((0.0,))


def test_the_file_shape_round_trips() -> None:
    calibration = Calibration(
        Logistic(-2.0, (1.0, 2.0, 3.0, 4.0, 5.0)),
        Logistic(0.5, (1.0, 1.0, -1.0, 2.0, 3.0, 0.5, 1.5, 1.0, 0.5, 0.5, 1.0, 0.8, 0.9, 1.2)),
        Logistic(1.5, (2.0, 0.5, -1.0, 2.0, 1.0, 0.5, 1.0, 0.5, 0.2, 0.2, 0.5, 0.7, 0.3, 0.6)),
        Thresholds(0.7, 0.5, 0.2, 0.8, 0.1),
        0.05,
    )
    assert Calibration.from_mapping(calibration.to_mapping()) == calibration


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"ranking": "oops"},
        {"ranking": {"bias": "x"}},
        {"thresholds": {"answer": True}},
        {"alpha": float("nan")},
    ],
)
def test_missing_or_broken_values_keep_the_defaults(data) -> None:
    assert Calibration.from_mapping(data) == Calibration()
