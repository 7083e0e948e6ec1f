"""Calibration: levels, speed, determinism, and the tail model against a large bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.detectors.calibration import bootstrap, calibrate, fit_tail, per_test_alpha


def test_per_test_alpha_spends_the_budget_of_one_evaluation() -> None:
    alpha = per_test_alpha(1e7, 100, 63)
    assert 1 - (1 - alpha) ** 63 == pytest.approx(100 / 1e7, rel=1e-9)


def test_calibrating_21_rows_is_deterministic() -> None:
    # How long it takes is a benchmark's business (docs/PERFORMANCE.md), not a test's: under load a
    # timed assertion fails for reasons that have nothing to do with the code.
    rows = np.tile(np.arange(100, 1100, 100), (21, 1))
    first = calibrate(rows, window_size=500, alpha=1.6e-7, seed=3)
    second = calibrate(rows, window_size=500, alpha=1.6e-7, seed=3)
    assert np.array_equal(first.thresholds(np.full(21, 500)), second.thresholds(np.full(21, 500)))


# Rows with the shapes the demo profile has: deciles, a skewed categorical, a count feature.
ROWS = {
    "deciles": [5000] * 10,
    "categories": [7200, 1200, 600, 500, 500],
    "counts": [4000, 3000, 2000, 1000],
}


@pytest.mark.parametrize("statistic", ["psi", "js"])
@pytest.mark.parametrize("row", sorted(ROWS))
def test_tail_model_matches_a_million_replicate_bootstrap(row: str, statistic: str) -> None:
    """The model is fitted on 2000 replicates; it must extrapolate 10-100x further."""
    counts = np.array(ROWS[row])
    model = fit_tail(counts, 500, statistic=statistic, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    null = bootstrap(counts, 500, statistic=statistic, replicates=1_000_000,  # type: ignore[arg-type]
                     rng=np.random.default_rng(1))
    for alpha, low, high in ((1e-3, 0.7, 1.3), (1e-4, 0.4, 1.6), (1e-5, 0.2, 2.5)):
        rate = float((null > model.quantile(alpha)).mean())
        assert low * alpha <= rate <= high * alpha, (alpha, rate)


def test_single_bin_rows_never_drift() -> None:
    assert fit_tail(np.array([100, 0]), 500, rng=np.random.default_rng(0)).quantile(1e-9) == np.inf
