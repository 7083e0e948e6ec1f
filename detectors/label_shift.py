"""Label drift: a binary model's realised class shares against its training prior.

`LabelShiftTest` is a G-test -- the likelihood-ratio χ² with one degree of freedom,
``2 n KL(observed || prior)`` -- of a window's class counts against the prior's shares. The
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
>>> round(test.statistic(positives=105, events=1000), 2), round(test.statistic(200, 1000), 1)
(0.24, 80.7)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats


class LabelShiftTest:
    """G-test of a window's binary class counts against a label prior (class -> count).

    Parameters
    ----------
    prior
        Training class counts keyed ``"0"`` and ``"1"`` (`ReferenceProfile.label_counts`).
    alpha
        False-alarm level of one test.
    """

    def __init__(self, prior: Mapping[str, int], alpha: float) -> None:
        if not set(prior) <= {"0", "1"} or sum(prior.values()) <= 0:
            raise ValueError(f"a binary label prior has counts for '0' and '1', not {dict(prior)}")
        self.prior = prior
        self.alpha = alpha
        self.prior_events = float(sum(prior.values()))
        # Half a count each: a class never seen in training is unlikely, not impossible.
        self.share = (float(prior.get("1", 0)) + 0.5) / (self.prior_events + 1.0)
        self.threshold = float(stats.chi2.isf(alpha, 1))

    def statistic(self, positives: int, events: int) -> float:
        """``2 n KL(observed || prior) * m / (n + m)`` for ``positives`` of ``events``; 0 when empty."""
        if events == 0:
            return 0.0
        observed = np.array([events - positives, positives], dtype=np.float64)
        expected = events * np.array([1.0 - self.share, self.share])
        present = observed > 0  # 0 log 0 = 0
        terms = observed[present] * np.log(observed[present] / expected[present])
        return float(2.0 * terms.sum() * self.prior_events / (events + self.prior_events))
