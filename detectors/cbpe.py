"""Confidence-based performance estimation (CBPE): a binary model's performance before its labels.

Labels often come days late. If the model's scores are *calibrated* -- of the events scored ``p``,
a share ``p`` are positive -- the confusion matrix a window of predictions will turn out to have
is known in expectation before any label arrives: an event predicted positive is a true positive
with probability ``p`` and a false positive with ``1 - p``. Raw scores are rarely calibrated, so
`ScoreCalibration` maps them first: isotonic regression (pool-adjacent-violators) of the reference
sample's labels on its scores, fitted at registration and stored in the reference profile as
score bins (``edges``) and each bin's positive share (``probabilities``).

`PerformanceEstimator` keeps, over a sliding window of the last ``window_size`` predictions, the
count of events in every (calibration bin, predicted class) cell; an estimate is then O(bins),
whatever the window. With ``c[b, k]`` events of bin ``b`` predicted ``k`` and ``p_b`` the bin's
calibrated probability::

    E[TP] = sum_b c[b, 1] p_b        E[FP] = sum_b c[b, 1] (1 - p_b)
    E[FN] = sum_b c[b, 0] p_b        E[TN] = sum_b c[b, 0] (1 - p_b)

and accuracy, precision, recall and F1 follow as the ratios of these expectations (as in
NannyML's CBPE). ROC AUC is the expected Mann-Whitney count over the bins in score order: bin
``b`` holds ``n_b p_b`` positives and ``n_b (1 - p_b)`` negatives in expectation; a positive
outranks every negative of a lower bin and half of its own bin's (within a bin the reference saw
no signal, so the order there is a coin toss).

Each estimate carries a band: where the *realised* value of the same window falls with
probability ``confidence`` if the calibration still holds. Every event's outcome is then an
independent Bernoulli draw, so the realised TP (and FN) count has variance ``sum p(1 - p)`` over
the events predicted positive (negative); the ratios get theirs by the delta method, ROC AUC by
Hanley and McNeil's formula at the expected class counts. The band leaves out the calibration's
own error (a reference of 20,000 events moves ``p_b`` by about a percentage point).

What CBPE cannot see: it assumes ``P(label | score)`` is what it was on the reference (no concept
drift). Under covariate shift -- the inputs move, the relation between inputs and labels stays --
the estimate follows the realised value, because the window's score mix carries the shift. Under
a change of concept the scores look as before, so the estimate stays where it was while the
realised value falls; only the labels show it (`detectors.concept`, and the gap between realised
and estimated metrics over the same labelled events, `estimate_metrics`).

References
----------
Zadrozny, B. and Elkan, C. (2002). Transforming classifier scores into accurate multiclass
probability estimates. *KDD '02*. (Isotonic calibration.)

Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a receiver operating
characteristic (ROC) curve. *Radiology* 143(1). (The standard error of ROC AUC.)

NannyML. Confidence-based performance estimation (CBPE).
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html

Examples
--------
>>> rng = np.random.default_rng(7)
>>> def sample(n):
...     truth = rng.random(n)                     # the true P(label = 1) of each event
...     return truth ** 0.5, (rng.random(n) < truth).astype(int)   # over-confident scores
>>> calibration = ScoreCalibration.fit(*sample(20_000))
>>> estimator = PerformanceEstimator(calibration, window_size=2000)
>>> scores, labels = sample(2000)
>>> estimator.update(scores)
>>> accuracy = estimator.estimates["accuracy"]
>>> realised = float(np.mean((scores >= 0.5) == labels))
>>> round(accuracy.value, 3), round(realised, 3), bool(accuracy.lower < realised < accuracy.upper)
(0.679, 0.669, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The metrics CBPE estimates, in report order (names as in `detectors.outcomes.METRICS`).
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class ScoreCalibration:
    """A monotone map from a binary model's score to the probability that the label is 1.

    ``edges`` split the score axis into ``len(edges) + 1`` bins (a score equal to an edge falls in
    the upper bin); ``probabilities`` are the bins' calibrated positive shares, non-decreasing;
    ``counts`` the reference events in each bin. Build it with `fit`.
    """

    edges: tuple[float, ...]
    probabilities: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.probabilities) != len(self.edges) + 1 or len(self.counts) != len(self.probabilities):
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} probabilities and counts")

    @property
    def n_bins(self) -> int:
        return len(self.probabilities)

    @property
    def events(self) -> int:
        """Reference events the calibration was fitted on."""
        return sum(self.counts)

    @classmethod
    def fit(cls, scores: npt.ArrayLike, labels: npt.ArrayLike) -> ScoreCalibration:
        """Isotonic regression of 0/1 ``labels`` on ``scores`` (NaN scores are left out)."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        y = np.asarray(labels, dtype=np.float64).reshape(-1)
        if s.size != y.size or not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("need one 0/1 label per score")
        keep = np.isfinite(s)
        s, y = s[keep], y[keep]
        if s.size == 0:
            raise ValueError("no finite scores to calibrate on")
        values, inverse = np.unique(s, return_inverse=True)
        positives = np.bincount(inverse, weights=y).astype(np.float64)
        totals = np.bincount(inverse).astype(np.float64)
        starts, block_pos, block_n = _pool_adjacent_violators(positives, totals)
        edges = (values[starts[1:] - 1] + values[starts[1:]]) / 2.0
        # A block of all 0s or all 1s (the ends) gets half an event of the other class: no bin is
        # certain, so a window full of one still gets a band. The running maximum keeps it monotone.
        shares = np.clip(block_pos / block_n, 0.5 / (block_n + 1.0), (block_n + 0.5) / (block_n + 1.0))
        shares = np.maximum.accumulate(shares)
        return cls(edges=tuple(edges.tolist()), probabilities=tuple(shares.tolist()),
                   counts=tuple(int(n) for n in block_n.tolist()))

    def bins(self, scores: npt.ArrayLike) -> IntArray:
        """The calibration bin of each score (NaN falls in the top bin: callers drop NaN first)."""
        return np.searchsorted(np.asarray(self.edges), np.asarray(scores, dtype=np.float64),
                               side="right").astype(np.int64)

    def calibrate(self, scores: npt.ArrayLike) -> FloatArray:
        """``P(label = 1 | score)`` by the calibration."""
        return np.asarray(self.probabilities)[self.bins(scores)]

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "edges": list(self.edges), "probabilities": list(self.probabilities),
                "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScoreCalibration:
        if raw.get("method") != "isotonic":
            raise ValueError(f"score calibration method {raw.get('method')!r} is not 'isotonic'")
        return cls(edges=tuple(float(x) for x in raw["edges"]),
                   probabilities=tuple(float(x) for x in raw["probabilities"]),
                   counts=tuple(int(x) for x in raw["counts"]))


def _pool_adjacent_violators(positives: FloatArray,
                             totals: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """Blocks of the non-decreasing least-squares fit: their first index, positives and events."""
    starts: list[int] = []
    pos: list[float] = []
    n: list[float] = []
    for i, (k, m) in enumerate(zip(positives.tolist(), totals.tolist(), strict=True)):
        starts.append(i)
        pos.append(k)
        n.append(m)
        # Merge while the last block's share is below its predecessor's (cross-multiplied).
        while len(n) > 1 and pos[-1] * n[-2] <= pos[-2] * n[-1]:
            k_last, m_last = pos.pop(), n.pop()
            starts.pop()
            pos[-1] += k_last
            n[-1] += m_last
    return np.array(starts, dtype=np.int64), np.array(pos), np.array(n)


@dataclass(frozen=True)
class Estimate:
    """An estimated metric and the band the realised value falls in if the calibration holds."""

    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


def estimates_from_counts(counts: IntArray, probabilities: FloatArray,
                          confidence: float = 0.95) -> dict[str, Estimate | None]:
    """The CBPE metrics of ``counts[bin, predicted class]`` (O(bins)); None where undefined."""
    c = counts.astype(np.float64)
    p = probabilities
    n = float(c.sum())
    if n == 0:
        return dict.fromkeys(ESTIMATED_METRICS)
    z = float(stats.norm.isf((1.0 - confidence) / 2.0))
    noise = p * (1.0 - p)
    tp, fn = float(c[:, 1] @ p), float(c[:, 0] @ p)
    predicted = float(c[:, 1].sum())
    var_tp, var_fn = float(c[:, 1] @ noise), float(c[:, 0] @ noise)
    out: dict[str, Estimate | None] = dict.fromkeys(ESTIMATED_METRICS)
    # Accuracy: the right answers are TP + TN = TP + (negatives predicted) - FN.
    out["accuracy"] = _band((tp + (n - predicted) - fn) / n, math.sqrt(var_tp + var_fn) / n, z)
    if predicted > 0:
        out["precision"] = _band(tp / predicted, math.sqrt(var_tp) / predicted, z)
    if tp + fn > 0:
        d = (tp + fn) ** 2
        out["recall"] = _band(tp / (tp + fn), math.sqrt(fn * fn * var_tp + tp * tp * var_fn) / d, z)
        denominator = predicted + tp + fn  # F1 = 2 TP / (2 TP + FP + FN), FP = predicted - TP
        grad_tp, grad_fn = 2.0 * (predicted + fn) / denominator ** 2, -2.0 * tp / denominator ** 2
        out["f1"] = _band(2.0 * tp / denominator, math.sqrt(grad_tp ** 2 * var_tp + grad_fn ** 2 * var_fn), z)
    out["roc_auc"] = _roc_auc(c.sum(axis=1), p, z)
    return out


def _roc_auc(per_bin: FloatArray, p: FloatArray, z: float) -> Estimate | None:
    positives = per_bin * p
    negatives = per_bin - positives
    n1, n0 = float(positives.sum()), float(negatives.sum())
    if n1 < 1.0 or n0 < 1.0:
        return None
    below = np.cumsum(negatives) - negatives  # negatives in lower bins
    auc = float(positives @ (below + negatives / 2.0)) / (n1 * n0)
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1.0 - auc) + (n1 - 1.0) * (q1 - auc * auc) + (n0 - 1.0) * (q2 - auc * auc)) / (n1 * n0)
    return _band(auc, math.sqrt(max(variance, 0.0)), z)


def _band(value: float, sd: float, z: float) -> Estimate:
    return Estimate(value=value, lower=max(0.0, value - z * sd), upper=min(1.0, value + z * sd))


def cell_counts(calibration: ScoreCalibration, scores: FloatArray, predicted: FloatArray) -> IntArray:
    """``counts[bin, predicted class]`` of a batch (events without a score are left out)."""
    keep = np.isfinite(scores)
    codes = 2 * calibration.bins(scores[keep]) + (predicted[keep] == 1)
    return np.bincount(codes, minlength=2 * calibration.n_bins).reshape(-1, 2).astype(np.int64)


def estimate_metrics(calibration: ScoreCalibration, scores: npt.ArrayLike,
                     y_pred: npt.ArrayLike | None = None, *, threshold: float = 0.5,
                     confidence: float = 0.95) -> dict[str, Estimate | None]:
    """CBPE over one batch: what the labelled window's realised metrics are compared with.

    >>> calibration = ScoreCalibration(edges=(0.5,), probabilities=(0.1, 0.8), counts=(50, 50))
    >>> estimate_metrics(calibration, [0.2, 0.3, 0.7, 0.9])["accuracy"].value
    0.85
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    predicted = (s >= threshold).astype(np.float64) if y_pred is None \
        else np.asarray(y_pred, dtype=np.float64).reshape(-1)
    counts = cell_counts(calibration, s, predicted)
    return estimates_from_counts(counts, np.asarray(calibration.probabilities), confidence)


class PerformanceEstimator:
    """CBPE over a sliding window of the last ``window_size`` predictions of a binary model.

    Parameters
    ----------
    calibration
        The model version's `ScoreCalibration` (from its reference profile).
    window_size
        Predictions in the window; use the realised metrics' window so the two compare.
    threshold
        Predicted class 1 at a score of at least this, when `update` is given no classes.
    confidence
        Coverage of the bands.
    """

    def __init__(self, calibration: ScoreCalibration, window_size: int = 1000, threshold: float = 0.5,
                 confidence: float = 0.95) -> None:
        if window_size < 1 or not 0.0 < confidence < 1.0:
            raise ValueError("need a positive window and a confidence in (0, 1)")
        self.calibration = calibration
        self.window_size = window_size
        self.threshold = threshold
        self.confidence = confidence
        self._probabilities = np.asarray(calibration.probabilities)
        self._reset()

    def _reset(self) -> None:
        self._codes = np.zeros(self.window_size, dtype=np.int64)
        self._counts = np.zeros(2 * self.calibration.n_bins, dtype=np.int64)
        self._n_seen = 0

    @property
    def n_seen(self) -> int:
        """Scored predictions received so far."""
        return self._n_seen

    @property
    def events(self) -> int:
        """Predictions in the window."""
        return min(self._n_seen, self.window_size)

    def update(self, scores: npt.ArrayLike, y_pred: npt.ArrayLike | None = None) -> None:
        """Add a batch of scores (and the classes predicted, else ``score >= threshold``).

        Predictions without a score (NaN: the fallback answered, say) are skipped.
        """
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        predicted = s >= self.threshold if y_pred is None else np.asarray(y_pred).reshape(-1) == 1
        if predicted.size != s.size:
            raise ValueError("scores and y_pred must have one value per prediction")
        keep = np.isfinite(s)
        codes = 2 * self.calibration.bins(s[keep]) + predicted[keep]
        self._push(codes)

    def _push(self, codes: IntArray) -> None:
        n, size, width = codes.size, self.window_size, self._counts.size
        if n >= size:
            self._codes[:] = codes[n - size:]
            self._counts = np.bincount(self._codes, minlength=width)
        else:
            at = (self._n_seen + np.arange(n)) % size
            evicted = self._codes[at[self._n_seen + np.arange(n) >= size]]
            self._counts -= np.bincount(evicted, minlength=width)
            self._codes[at] = codes
            self._counts += np.bincount(codes, minlength=width)
        self._n_seen += n

    @property
    def counts(self) -> IntArray:
        """The window's events per calibration bin (rows) and predicted class (columns), a copy."""
        return self._counts.reshape(-1, 2).copy()

    @property
    def estimates(self) -> dict[str, Estimate | None]:
        """The CBPE metrics of the window (`ESTIMATED_METRICS`); None where undefined."""
        return estimates_from_counts(self.counts, self._probabilities, self.confidence)
