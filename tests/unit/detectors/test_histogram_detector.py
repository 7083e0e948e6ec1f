"""HistogramDriftDetector: River's contract, the sub-window ring, mergeable deltas, results."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from driftline.detectors.binner import ProfileBinner
from driftline.detectors.histogram import HistogramDriftDetector
from driftline.detectors.reference import ReferenceProfile
from driftline.models.card import FeatureSpec, ModelCard

CARD = ModelCard(name="toy", features=(
    FeatureSpec(name="x", type="numeric"),
    FeatureSpec(name="c", type="categorical", categories=("a", "b", "c")),
))


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    columns = {"x": rng.normal(size=20_000), "c": rng.choice(np.array(["a", "b", "c"], dtype=object), 20_000)}
    return ReferenceProfile.build(CARD, columns)


@pytest.fixture(scope="module")
def detector(profile: ReferenceProfile) -> HistogramDriftDetector:
    return HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)


def batch(binner: ProfileBinner, rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    c = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    return binner.bin_columns({"x": rng.normal(shift, size=n), "c": c})


def test_constructor_arguments_are_public_attributes(detector: HistogramDriftDetector) -> None:
    for name in inspect.signature(HistogramDriftDetector).parameters:
        assert hasattr(detector, name), name


def test_flags_hold_only_for_the_update_that_raised_them(detector: HistogramDriftDetector,
                                                         profile: ReferenceProfile) -> None:
    detector._reset()
    binner, rng = ProfileBinner(profile), np.random.default_rng(1)
    flags = []
    for i in range(60):
        assert detector.update(batch(binner, rng, 50, 2.0 if i >= 30 else 0.0), 50) is None
        flags.append(detector.drift_detected)
    first = flags.index(True)
    assert first >= 30 and detector.n_seen == 3000
    assert not any(flags[:30])


def test_regression_detection_indices(detector: HistogramDriftDetector, profile: ReferenceProfile) -> None:
    detector._reset()
    binner, rng = ProfileBinner(profile), np.random.default_rng(2)
    detected = []
    for i in range(100):
        detector.update(batch(binner, rng, 50, 0.5 if i >= 40 else 0.0), 50)
        if detector.drift_detected:
            detected.append(detector.n_seen)
    assert detected[:3] == [2300, 2400, 2500]


def test_windows_evaluate_once_per_sub_window_and_only_when_full(detector: HistogramDriftDetector,
                                                                 profile: ReferenceProfile) -> None:
    detector._reset()
    binner, rng = ProfileBinner(profile), np.random.default_rng(3)
    evaluated = []
    for _ in range(12):
        detector.update(batch(binner, rng, 50), 50)
        evaluated.append(detector.evaluated)
    # 100-event sub-windows: the ring is full after 500 events, then one evaluation per 100.
    assert evaluated == [False] * 9 + [True, False, True]
    assert detector.window_events == 500 and detector.window_bounds == (100, 600)


def test_a_delta_straddling_a_boundary_overshoots_and_thresholds_follow(detector: HistogramDriftDetector,
                                                                        profile: ReferenceProfile) -> None:
    detector._reset()
    binner, rng = ProfileBinner(profile), np.random.default_rng(4)
    for _ in range(5):
        detector.update(batch(binner, rng, 300), 300)  # each delta closes a 300-event sub-window
    assert detector.window_events == 1500
    nominal = detector.thresholds_for([450, 500])
    assert (detector.thresholds < nominal).all()  # larger windows, smaller cutoffs, same false-alarm level


def test_summed_deltas_equal_sequential_feeding(profile: ReferenceProfile) -> None:
    binner, rng = ProfileBinner(profile), np.random.default_rng(5)
    deltas = [batch(binner, rng, 25) for _ in range(80)]
    one = HistogramDriftDetector(profile, threshold=0.2)
    two = HistogramDriftDetector(profile, threshold=0.2)
    for a, b in zip(deltas[::2], deltas[1::2], strict=True):
        one.update(a, 25)
        one.update(b, 25)
        two.update(a + b, 50)  # two workers' deltas merged
    assert np.array_equal(one.window_counts, two.window_counts)
    assert np.allclose(one.values, two.values) and one.n_evaluations == two.n_evaluations


def test_results_name_rank_and_explain_the_drift(detector: HistogramDriftDetector,
                                                 profile: ReferenceProfile) -> None:
    detector._reset()
    binner, rng = ProfileBinner(profile), np.random.default_rng(6)
    for _ in range(10):
        detector.update(binner.bin_columns({"x": rng.normal(size=100),
                                            "c": np.array(["a"] * 80 + ["b"] * 20, dtype=object)}), 100)
    ranked = detector.ranked()
    assert [f.name for f in ranked] == ["c"] and ranked[0].ratio > 1
    labels, reference, current = detector.shares("c")
    assert labels == ("a", "b", "c", "other", "missing")
    assert current.tolist() == [0.8, 0.2, 0.0, 0.0, 0.0] and abs(reference[0] - 1 / 3) < 0.01
    assert detector.sample_counts.tolist() == [500.0, 500.0]


def test_fixed_threshold_applies_to_every_row(profile: ReferenceProfile) -> None:
    fixed = HistogramDriftDetector(profile, threshold=0.2)
    assert fixed.alpha is None and fixed.thresholds.tolist() == [0.2, 0.2]
