"""Label drift: a classifier's realised class shares against its training prior.

`LabelShiftTest` is a G-test -- the likelihood-ratio χ² with ``k - 1`` degrees of freedom for
``k`` classes, ``2 n KL(observed || prior)`` -- of a window's class counts against the prior's
shares. The
likelihood ratio rather than Pearson's χ² because its tail is χ² far out (Wilks, and Sanov for
large deviations), where a monitor's per-test levels of 1e-5 and below live; Pearson's statistic
overshoots it for rare classes. The statistic is scaled by ``m / (n + m)`` (``n`` window events,
``m`` prior events) so that the prior's own sampling noise is part of the null, as the drift
calibration's ``n_eff`` is (`detectors.calibration`). The threshold is the χ² quantile at the
per-test level the monitor derives from its false-alarm budget (`detectors.calibration.
per_test_alpha`); consecutive windows overlap, so their exceedances are correlated and the
realised run length is longer than the target.

Examples
--------
>>> test = LabelShiftTest({"0": 9000, "1": 1000}, alpha=2e-5)
>>> round(test.threshold, 2)
18.19
>>> round(test.statistic([895, 105]), 2), round(test.statistic([800, 200]), 1)
(0.24, 80.7)
>>> three = LabelShiftTest({"0": 500, "1": 300, "2": 200}, alpha=2e-5)
>>> round(three.threshold, 2), round(three.statistic([500, 300, 200]), 2) == 0.0
(21.64, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from scipy import stats


class LabelShiftTest:
    """G-test of a window's class counts against a label prior (class index -> count).

    Parameters
    ----------
    prior
        Training class counts keyed by class index, ``"0"`` .. ``"k-1"``
        (`ReferenceProfile.label_counts`); a class the prior lacks counts 0.
    alpha
        False-alarm level of one test.
    """

    def __init__(self, prior: Mapping[str, int], alpha: float) -> None:
        indices = [int(k) for k in prior if k.isdecimal()]
        if len(indices) != len(prior) or sum(prior.values()) <= 0:
            raise ValueError(f"a label prior counts classes by index ('0', '1', ...), not {dict(prior)}")
        self.prior = prior
        self.alpha = alpha
        self.n_classes = max(2, max(indices) + 1)
        counts = np.array([prior.get(str(i), 0) for i in range(self.n_classes)], dtype=np.float64)
        self.prior_events = float(counts.sum())
        # Half a count each: a class never seen in training is unlikely, not impossible.
        self.shares = (counts + 0.5) / (self.prior_events + 0.5 * self.n_classes)
        self.threshold = float(stats.chi2.isf(alpha, self.n_classes - 1))

    def statistic(self, counts: npt.ArrayLike) -> float:
        """``2 n KL(observed || prior) * m / (n + m)`` for the window's counts per class; 0 when empty."""
        observed = np.asarray(counts, dtype=np.float64).reshape(-1)
        if observed.size != self.n_classes:
            raise ValueError(f"{observed.size} class counts for a prior of {self.n_classes} classes")
        events = float(observed.sum())
        if events == 0:
            return 0.0
        expected = events * self.shares
        present = observed > 0  # 0 log 0 = 0
        terms = observed[present] * np.log(observed[present] / expected[present])
        return float(2.0 * terms.sum() * self.prior_events / (events + self.prior_events))
