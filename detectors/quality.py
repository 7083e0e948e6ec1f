"""Data-quality tests: has the missing rate, or the share of out-of-range values, jumped?

For every row of a reference profile, two one-sided tests compare a window with the reference:

* ``missing_rate`` -- the missing bin;
* ``out_of_range`` -- numeric values outside the reference range (the under- and overflow bins),
  or categories the card does not list (the "other" bin).

Each is the exact conditional test of two Poisson rates (Przyborowski and Wilenski 1940): with
``x`` flagged values among ``n`` window events and ``r`` among ``m`` reference events, under no
change ``x`` given ``x + r`` is ``Binomial(x + r, n / (n + m))``, so the p-value is that
binomial's upper tail. It needs no calibration, handles a reference without a single missing
value (``r = 0``: the p-value is then ``(n / (n + m)) ** x``) and accounts for the reference's own
sampling noise. Results are scores ``-log10(p)`` against the threshold ``-log10(alpha)``, so a
larger score is a stronger jump and the alert state machine treats them like drift statistics.

References
----------
Przyborowski, J. and Wilenski, H. (1940). Homogeneity of results in testing samples from Poisson
series. *Biometrika* 31(3/4), 313-323.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> card = ModelCard(name="toy", features=(FeatureSpec(name="x", type="numeric"),))
>>> profile = ReferenceProfile.build(card, {"x": np.linspace(0.0, 1.0, 10_000)}, bins=4)
>>> check = DataQualityCheck(profile, alpha=1e-6)
>>> window = np.array([[0, 120, 125, 125, 125, 0, 5]])  # 5 of 500 events missing, none in the reference
>>> result = check.evaluate(window)
>>> round(float(result.missing[0]), 1), round(check.threshold, 1)
(6.6, 6.0)
>>> float(result.out_of_range[0])
0.0
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from driftline.detectors.reference import ReferenceProfile

FloatArray = npt.NDArray[np.float64]

#: Scores are capped here: p-values below 1e-300 are all "certainly changed".
MAX_SCORE = 300.0
#: Distinct window totals whose critical counts are kept (a full window needs one).
_CRITICAL_CACHE = 8


@dataclass(frozen=True)
class QualityResult:
    """Scores ``-log10(p)`` and window shares of one evaluation, per row."""

    missing: FloatArray
    out_of_range: FloatArray
    missing_share: FloatArray
    out_of_range_share: FloatArray


class DataQualityCheck:
    """Missing-rate and out-of-range jump tests of a window against a reference profile.

    Parameters
    ----------
    profile
        The reference profile (rows, layouts, reference counts).
    alpha
        Per-test false-alarm level of one evaluation (see `detectors.calibration.per_test_alpha`).
    """

    def __init__(self, profile: ReferenceProfile, *, alpha: float) -> None:
        self.profile = profile
        self.alpha = alpha
        rows = profile.rows
        width = profile.width
        self._missing = np.zeros((len(rows), width), dtype=np.int64)
        self._range = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            self._missing[r, row.missing_bin] = 1
            self._range[r, list(row.out_of_range_bins)] = 1
        reference = profile.counts()
        self._reference_total = reference.sum(axis=1).astype(np.float64)
        self._reference_missing = (reference * self._missing).sum(axis=1).astype(np.float64)
        self._reference_range = (reference * self._range).sum(axis=1).astype(np.float64)

        #: Smallest flagged counts whose scores pass the threshold, by the window's per-row totals.
        self._critical: dict[bytes, tuple[FloatArray, FloatArray]] = {}

    @property
    def threshold(self) -> float:
        """``-log10(alpha)``: a score above it is a jump."""
        return -math.log10(self.alpha)

    def may_exceed(self, window: npt.NDArray[np.int64]) -> bool:
        """Whether some score of this window (``[rows, width]``), or of any of a stack of windows
        (``[E, rows, width]``), may be above the threshold (False: `evaluate` would find none),
        decided from counts alone.

        A score only grows with its flagged count, so for given window totals each row has a
        smallest count that passes; those are found once per distinct totals (a full window's are
        the same at every evaluation) and then the test is two comparisons instead of two
        incomplete-beta evaluations: a third of the monitor's time went there.
        """
        stack = window.reshape(-1, *window.shape[-2:])
        totals = stack.sum(axis=2)
        missing = (stack * self._missing).sum(axis=2)
        out = (stack * self._range).sum(axis=2)
        for total, same in _runs_of_equal_rows(totals):
            critical_missing, critical_range = self._critical_counts(total)
            if (missing[same] >= critical_missing).any() or (out[same] >= critical_range).any():
                return True
        return False

    def _critical_counts(self, total: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        key = total.tobytes()
        found = self._critical.get(key)
        if found is None:
            if len(self._critical) >= _CRITICAL_CACHE:  # totals of a filling window: seen once each
                self._critical.clear()
            totals = total.astype(np.float64)
            found = (self._smallest_passing(totals, self._reference_missing),
                     self._smallest_passing(totals, self._reference_range))
            self._critical[key] = found
        return found

    def _smallest_passing(self, total: FloatArray, reference: FloatArray) -> FloatArray:
        """Per row, the smallest flagged count in [1, total] whose score passes (total + 1: none)."""
        low, high = np.ones_like(total), total + 1.0  # invariant: the answer lies in [low, high]
        while (low < high).any():
            middle = np.floor((low + high) / 2.0)
            passes = self._scores(middle, total, reference) > self.threshold
            high = np.where(passes & (low < high), middle, high)
            low = np.where(~passes & (low < high), middle + 1.0, low)
        return low

    def evaluate(self, window: npt.NDArray[np.int64]) -> QualityResult:
        """Test one window's counts (``int64[rows, width]``, the profile's layout)."""
        total = window.sum(axis=1).astype(np.float64)
        missing = (window * self._missing).sum(axis=1).astype(np.float64)
        out = (window * self._range).sum(axis=1).astype(np.float64)
        return QualityResult(
            missing=self._scores(missing, total, self._reference_missing),
            out_of_range=self._scores(out, total, self._reference_range),
            missing_share=_share(missing, total), out_of_range_share=_share(out, total))

    def _scores(self, flagged: FloatArray, total: FloatArray, reference: FloatArray) -> FloatArray:
        pi = total / np.maximum(total + self._reference_total, 1.0)
        # P(Binomial(x + r, pi) >= x) = I_pi(x, r + 1), the regularised incomplete beta function.
        p = special.betainc(np.maximum(flagged, 1.0), reference + 1.0, pi)
        p = np.where((flagged > 0) & (pi > 0), p, 1.0)
        # + 0.0 turns log10(1) = -0.0 into 0.0.
        return np.asarray(np.minimum(-np.log10(np.maximum(p, 1e-300)), MAX_SCORE) + 0.0, dtype=np.float64)


def _runs_of_equal_rows(totals: npt.NDArray[np.int64]) -> list[tuple[npt.NDArray[np.int64], slice]]:
    """``totals`` (``[E, rows]``) cut where a row changes: full windows all have the same totals,
    so a stack of them is one run and its critical counts are looked up once."""
    cuts = np.flatnonzero((totals[1:] != totals[:-1]).any(axis=1)) + 1
    bounds = [0, *cuts.tolist(), totals.shape[0]]
    return [(totals[a], slice(a, b)) for a, b in itertools.pairwise(bounds)]


def _share(part: FloatArray, total: FloatArray) -> FloatArray:
    return np.asarray(np.where(total > 0, part / np.maximum(total, 1.0), 0.0), dtype=np.float64)
