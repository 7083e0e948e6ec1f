"""CBPE's parts: the isotonic calibration, the windowed counts, the estimates' arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors.cbpe import PerformanceEstimator, ScoreCalibration, estimate_metrics
from driftline.detectors.reference import ReferenceProfile
from driftline.models.card import FeatureSpec, ModelCard, ModelOutput


def sample(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n)
    return truth ** 0.5, (rng.random(n) < truth).astype(np.float64)


def test_the_calibration_is_monotone_and_recovers_the_truth() -> None:
    scores, labels = sample(0, 50_000)
    calibration = ScoreCalibration.fit(scores, labels)
    p = np.asarray(calibration.probabilities)
    assert (np.diff(p) >= 0).all() and calibration.events == 50_000
    grid = np.linspace(0.05, 0.95, 19)
    assert np.abs(calibration.calibrate(grid) - grid ** 2).max() < 0.05  # truth = score ** 2
    assert ScoreCalibration.from_dict(calibration.to_dict()) == calibration


def test_pool_adjacent_violators_on_a_small_case() -> None:
    calibration = ScoreCalibration.fit([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    assert calibration.edges == pytest.approx((0.15, 0.35))
    assert calibration.counts == (1, 2, 1)
    assert calibration.probabilities == pytest.approx((0.25, 0.5, 0.75))  # the ends are never certain


def test_the_window_slides_like_a_batch_over_its_last_events() -> None:
    scores, _ = sample(1, 7_003)
    calibration = ScoreCalibration.fit(*sample(2, 5_000))
    estimator = PerformanceEstimator(calibration, window_size=1_000)
    for start in range(0, scores.size, 377):
        estimator.update(scores[start:start + 377])
    assert estimator.events == 1_000 and estimator.n_seen == 7_003
    batch = estimate_metrics(calibration, scores[-1_000:])
    assert estimator.estimates == batch
    estimator.update(scores[:2_500])  # a batch larger than the window
    assert estimator.estimates == estimate_metrics(calibration, scores[1_500:2_500])


def test_given_classes_and_missing_scores() -> None:
    calibration = ScoreCalibration(edges=(0.5,), probabilities=(0.1, 0.8), counts=(50, 50))
    estimator = PerformanceEstimator(calibration, window_size=10)
    estimator.update([0.2, np.nan, 0.9], y_pred=[1, 1, 1])
    estimates = estimator.estimates
    assert estimator.events == 2
    assert estimates["precision"] is not None and estimates["precision"].value == pytest.approx(0.45)
    assert estimates["accuracy"] is not None and estimates["accuracy"].value == pytest.approx(0.45)
    assert PerformanceEstimator(calibration).estimates["accuracy"] is None


def test_the_profile_keeps_the_calibration_and_old_profiles_load_without() -> None:
    card = ModelCard(name="toy", features=(FeatureSpec(name="x", type="numeric"),))
    scores, labels = sample(3, 2_000)
    profile = ReferenceProfile.build(card, {"x": scores}, scores, labels.astype(int), bins=4)
    assert profile.calibration == ScoreCalibration.fit(scores, labels)
    assert ReferenceProfile.from_dict(profile.to_dict()) == profile
    old = profile.to_dict()
    del old["calibration"]
    assert ReferenceProfile.from_dict(old).calibration is None
    assert ReferenceProfile.build(card, {"x": scores}, scores, bins=4).calibration is None
    regressor = ModelCard(name="toy", features=card.features, output=ModelOutput(task="regression"))
    regression = ReferenceProfile.build(regressor, {"x": scores}, scores, scores * 10, bins=4)
    assert regression.calibration is None
