"""Data-quality tests: exact conditional binomial p-values, one-sided, per row."""

from __future__ import annotations

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from driftline.detectors.quality import DataQualityCheck
from driftline.detectors.reference import ReferenceProfile
from driftline.models.card import FeatureSpec, ModelCard

CARD = ModelCard(name="toy", features=(
    FeatureSpec(name="x", type="numeric", nullable=True),
    FeatureSpec(name="c", type="categorical", categories=("a", "b")),
))


def profile() -> ReferenceProfile:
    x = np.linspace(0.0, 1.0, 10_000)
    x[::50] = np.nan  # 2 % missing
    c = np.array(["a", "b"] * 5000, dtype=object)
    return ReferenceProfile.build(CARD, {"x": x, "c": c}, bins=4)


def window(missing: int, below: int, other: int) -> np.ndarray:
    out = np.zeros((2, 7), dtype=np.int64)
    out[0, [0, 1, 6]] = [below, 500 - missing - below, missing]
    out[1, [0, 2]] = [500 - other, other]
    return out


def test_missing_rate_p_value_is_the_conditional_binomial_tail() -> None:
    check = DataQualityCheck(profile(), alpha=1e-6)
    result = check.evaluate(window(missing=30, below=0, other=0))
    expected = stats.binom.sf(29, 30 + 200, 500 / 10_500)
    assert result.missing[0] == np.float64(-np.log10(expected)).round(10) or \
        abs(result.missing[0] + np.log10(expected)) < 1e-9
    assert result.missing_share[0] == 30 / 500


def test_fewer_missing_values_than_usual_is_no_alarm() -> None:
    result = DataQualityCheck(profile(), alpha=1e-6).evaluate(window(missing=0, below=0, other=0))
    assert result.missing.tolist() == [0.0, 0.0]


def test_out_of_range_and_unseen_categories_are_flagged() -> None:
    check = DataQualityCheck(profile(), alpha=1e-6)
    result = check.evaluate(window(missing=10, below=8, other=9))
    assert (result.out_of_range > check.threshold).all()
    assert result.out_of_range_share.tolist() == [8 / 500, 9 / 500]


def test_may_exceed_agrees_with_the_scores_on_every_count_around_the_critical_one() -> None:
    check = DataQualityCheck(profile(), alpha=1e-6)
    seen = set()
    for missing in range(0, 60):
        for other in (0, 1, 2, 3, 40):
            counts = window(missing=missing, below=0, other=other)
            result = check.evaluate(counts)
            scores = np.concatenate([result.missing, result.out_of_range])
            passes = bool((scores > check.threshold).any())
            assert check.may_exceed(counts) == passes, (missing, other)
            seen.add(passes)
    assert seen == {True, False}


def test_may_exceed_follows_the_window_totals_of_a_filling_window() -> None:
    check = DataQualityCheck(profile(), alpha=1e-6)
    for events in (50, 100, 250, 500, 50):  # each total its own critical counts; a repeat is cached
        counts = np.zeros((2, 7), dtype=np.int64)
        counts[0, [1, 6]] = [events - events // 5, events // 5]
        counts[1, 0] = events
        result = check.evaluate(counts)
        assert check.may_exceed(counts) == bool((result.missing > check.threshold).any())


def test_may_exceed_over_a_stack_of_windows_is_whether_any_one_may() -> None:
    check = DataQualityCheck(profile(), alpha=1e-6)
    quiet = [window(missing=m, below=0, other=0) for m in (0, 5, 9)]
    loud = window(missing=50, below=0, other=0)
    assert check.may_exceed(loud) and not any(check.may_exceed(w) for w in quiet)
    for place in range(4):  # the passing window first, in the middle, last, or absent
        stack = [*quiet[:place], loud, *quiet[place:]] if place < 3 else quiet
        assert check.may_exceed(np.stack(stack)) == any(check.may_exceed(w) for w in stack)
    half = window(missing=0, below=0, other=0) // 2  # other totals: looked up as their own run
    assert check.may_exceed(np.stack([*quiet, half, loud // 2])) == check.may_exceed(loud // 2)
