"""HistogramDriftDetector: River's contract, the sub-window ring, mergeable deltas, results."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from driftline.detectors.binner import ProfileBinner, block_counts
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


def _state(detector: HistogramDriftDetector) -> dict[str, object]:
    return {"values": detector.values.tolist(), "thresholds": detector.thresholds.tolist(),
            "window": detector.window_counts.tolist(), "bounds": detector.window_bounds,
            "events": detector.window_events, "seen": detector.n_seen, "evaluations": detector.n_evaluations,
            "room": detector.room, "samples": detector.sample_counts.tolist(),
            "flags": (detector.evaluated, detector.sub_window_closed, detector.drift_detected,
                      detector.warning_detected)}


@pytest.mark.parametrize("sizes", [(100,), (2000,), (37, 463, 1200), (99, 1, 350)])
def test_many_quiet_sub_windows_at_once_leave_what_block_by_block_leaves(profile: ReferenceProfile,
                                                                      sizes: tuple[int, ...]) -> None:
    binner, rng = ProfileBinner(profile), np.random.default_rng(5)
    one_by_one = HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)
    at_once = HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)
    for size in (100, 100, 100, 100, 100, 30):  # the ring full, a sub-window open
        warm = batch(binner, rng, size)
        for d in (one_by_one, at_once):
            d.update(warm, size)
    for n in sizes:
        codes = binner.bin_codes({"x": rng.normal(size=n),
                                  "c": rng.choice(np.array(["a", "b", "c"], dtype=object), n)})
        blocks = at_once.block_sizes(n)
        assert blocks.sum() == n
        counts = block_counts(codes, blocks, profile.width)
        fed = at_once.advance_if_quiet(counts, blocks, quiet=lambda windows: True)
        assert fed == (blocks.size > 1)
        if not fed:
            at_once.update(counts[0], n)
        for block, size in zip(counts, blocks.tolist(), strict=True):
            one_by_one.update(block, size)
        assert _state(at_once) == _state(one_by_one)
    # And from then on, one update at a time, they go on alike.
    more = binner.bin_columns({"x": rng.normal(size=100), "c": np.array(["a"] * 100, dtype=object)})
    for d in (one_by_one, at_once):
        d.update(more, 100)
    assert _state(at_once) == _state(one_by_one)


def test_a_drifting_or_refused_sub_window_changes_nothing(profile: ReferenceProfile) -> None:
    binner, rng = ProfileBinner(profile), np.random.default_rng(6)
    detector = HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)
    for _ in range(5):
        detector.update(batch(binner, rng, 100), 100)
    before = _state(detector)
    x = np.concatenate([rng.normal(size=1500), rng.normal(3.0, size=500)])  # the last 5 sub-windows drift
    codes = binner.bin_codes({"x": x, "c": rng.choice(np.array(["a", "b", "c"], dtype=object), 2000)})
    sizes = detector.block_sizes(2000)
    counts = block_counts(codes, sizes, profile.width)
    assert not detector.advance_if_quiet(counts, sizes, quiet=lambda windows: True)
    assert _state(detector) == before
    seen: list[int] = []
    assert not detector.advance_if_quiet(counts[:10], sizes[:10].copy(),
                                         quiet=lambda windows: seen.append(len(windows)) is not None)
    assert _state(detector) == before and seen == [9]


def test_nothing_is_fed_at_once_while_the_ring_fills(profile: ReferenceProfile) -> None:
    detector = HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)
    sizes = detector.block_sizes(300)
    assert sizes.tolist() == [100, 100, 100, 0]
    counts = np.zeros((4, *profile.counts().shape), dtype=np.int64)
    counts[:3, 0, 1] = 100
    assert not detector.advance_if_quiet(counts, sizes, quiet=lambda windows: True) and detector.n_seen == 0
