"""CUSUM detectors: pinned detections, batching, River's contract, calibration, the Gaussian one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.detectors.cusum import BernoulliCUSUM, GaussianCUSUM


def error_stream(seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random(5000) < 0.12, rng.random(3000) < 0.20]).astype(float)


def test_regression_bernoulli_indices() -> None:
    detector = BernoulliCUSUM(target_arl=1e6)
    detector.update_many(error_stream())
    assert detector.detections == (5260, 5485, 5572, 5951, 6158, 6583, 6871, 7027, 7502)


def test_detections_do_not_depend_on_batching() -> None:
    errors = error_stream(6)
    runs = []
    for parts in (1, 7, 80, 999):
        detector = BernoulliCUSUM(target_arl=1e6)
        for batch in np.array_split(errors, parts):
            detector.update_many(batch)
        runs.append((detector.detections, detector.baseline, detector.threshold))
    assert all(run == runs[0] for run in runs) and runs[0][0]
    expected = runs[0][0]
    single = BernoulliCUSUM(target_arl=1e6)
    for value in errors[:1500].tolist():
        single.update(value)
    single.update_many(errors[1500:])
    assert single.detections == expected


def test_drift_detected_holds_only_for_the_update_that_raised_it() -> None:
    detector = BernoulliCUSUM(target_arl=1e6)
    detector.update_many(error_stream()[:5261])
    assert detector.drift_detected and detector.detections == (5260,)
    detector.update(0.0)
    assert not detector.drift_detected


def test_nothing_is_detected_during_warm_up_and_the_threshold_follows_the_budget() -> None:
    detector = BernoulliCUSUM(target_arl=1e6, warmup=500)
    detector.update_many(np.ones(499))
    assert detector.detections == () and math.isnan(detector.baseline) and detector.threshold == math.inf
    detector.update_many(np.zeros(1))
    # h = ln(ARL * KL(p0 || p1)) for the learnt p0.
    p0 = 499.5 / 501
    odds = 1.8 * p0 / (1 - p0)
    p1 = odds / (1 + odds)
    kl = p0 * math.log(p0 / p1) + (1 - p0) * math.log((1 - p0) / (1 - p1))
    assert detector.baseline == pytest.approx(p0) and detector.threshold == pytest.approx(math.log(1e6 * kl))


def test_false_alarm_rate_is_within_the_budget() -> None:
    # At ARL 2e4 a 12 % stream of 400,000 events should see about 20 alarms; allow for the
    # approximation erring on the quiet side and for the learnt baseline's noise.
    rng = np.random.default_rng(9)
    detector = BernoulliCUSUM(target_arl=2e4)
    detector.update_many((rng.random(400_000) < 0.12).astype(float))
    assert 4 <= len(detector.detections) <= 30, len(detector.detections)


def test_a_detection_keeps_the_baseline_and_restarts_at_the_headstart() -> None:
    detector = BernoulliCUSUM(target_arl=1e6)
    detector.update_many(error_stream()[:5261])
    baseline = detector.baseline
    assert detector.statistic == pytest.approx(0.5 * detector.threshold)
    detector.update_many(error_stream()[5261:])
    assert detector.baseline == pytest.approx(baseline, abs=0.002)  # the degraded rate is not learnt


def test_gaussian_cusum_on_absolute_errors() -> None:
    """20 seeds: |N(0, 1)| errors whose sd grows to 1.5 at 5,000; stationary normal, Laplace, t(3).

    Measured: every change found, mean delay 80 (23-200); 1 false alarm in 1.3 million events.
    """
    delays: list[int] = []
    false_alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        errors = np.abs(np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 1.5, 5000)]))
        detector = GaussianCUSUM(1e6)
        detector.update_many(errors)
        false_alarms += sum(1 for i in detector.detections if i < 5000)
        delays.append(next(i for i in detector.detections if i >= 5000) - 4999)
        for stationary in (rng.normal(0, 1, 20_000), rng.laplace(0, 1, 20_000), rng.standard_t(3, 20_000)):
            detector = GaussianCUSUM(1e6)
            detector.update_many(np.abs(stationary))
            false_alarms += len(detector.detections)
    assert round(float(np.mean(delays))) == 80 and max(delays) == 200
    assert false_alarms == 1


def test_bad_parameters_fail_loudly() -> None:
    with pytest.raises(ValueError, match="odds_ratio"):
        BernoulliCUSUM(odds_ratio=1.0)
    with pytest.raises(ValueError, match="warmup"):
        BernoulliCUSUM(warmup=1)
    with pytest.raises(ValueError, match="clip"):
        GaussianCUSUM(shift=1.0, clip=0.5)
