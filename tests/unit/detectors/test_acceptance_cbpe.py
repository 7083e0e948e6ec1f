"""Acceptance: CBPE estimates the realised accuracy and ROC AUC before labels, within its stated limits.

The stream: two standard-normal features, true ``P(label = 1 | x) = sigmoid(1.5 x0 - x1 + 0.3)``;
the model is slightly wrong (weights ``1.3, -1.2``) and over-confident (``sigmoid(1.8 logit +
0.4)``), so its raw scores are miscalibrated and ``P(label | score)`` is not exactly invariant
when the inputs move -- CBPE's assumption holds only approximately, as in practice. Each seed fits
the `ScoreCalibration` on a reference sample of `REFERENCE` events, then streams `WINDOWS` windows
of `WINDOW` events through a `PerformanceEstimator` and an `OutcomeWindow` of the same size in
batches of `BATCH`, comparing at the end of every window.

* From the reference distribution the estimate is unbiased and the per-window gap is the realised
  value's own sampling noise (its SD at accuracy 0.76 over 2,000 events is 0.0095 binomially;
  0.0090 given the window's events, measured by redrawing their labels from the true
  probabilities, the same for ROC AUC at 0.0081): per seed the mean |gap| is at most 0.02, and
  the gaps spread no more than that noise predicts.
* After a covariate shift (the features' mean moves by 0.5 and their SD shrinks to 0.6; the
  relation of label to features stays) the realised accuracy falls by about 0.06; the estimate
  follows it and the reference value does not.
* After a pure concept change (the true weights become ``0, -1.5``; the features, hence the
  scores, keep their distribution) the estimate stays where it was, the realised value drops,
  and the performance monitor's concept detector fires: the limit the README states.

Measured (10 seeds x 10 windows of 2,000 events each):

===============  =======  ==========  =========  ===========  ===========  =========
stream, metric   bias     mean |gap|  max |gap|  within 0.02  band covers  reference
===============  =======  ==========  =========  ===========  ===========  =========
reference, acc.  -0.0010  0.0073      0.0265     96 %         94 %         0.0079
reference, AUC   -0.0021  0.0064      0.0276     94 %         94 %         0.0068
covariate, acc.  -0.0165  0.0168      0.0393     65 %         64 %         0.0552
covariate, AUC   -0.0040  0.0097      0.0321     92 %         92 %         0.0872
===============  =======  ==========  =========  ===========  ===========  =========

("reference": the mean |gap| of the reference value, which a stale dashboard would show.)

From the reference distribution the gap is the realised value's own sampling noise (SD 0.0095
for accuracy at 0.76 over 2,000 events), so no estimator is within 0.02 of every window: 0.02
is 2.1 SD. Per seed the mean |gap| over its 10 windows is at most 0.0103 (accuracy) and 0.0087
(AUC). Standardised by each window's own noise SD, the gaps' squares sum to 110 and 109 over the
100 windows (chi-squared with 100 degrees of freedom: mean 100, 99.9 % point 149) and to at most
23 and 21 per seed (99.9 % point 29.6); the estimate's own error against the realised value's
expectation given the events is RMS 0.0033 and 0.0025, a third of the noise SD (it adds 13 and
10 % to the gap's variance). The test has teeth: an extra error of half the noise SD fails the
own-error bound, of three quarters the pooled spread. Under the covariate shift the estimate is
3 (accuracy) to 9 (AUC) times closer to the realised value than the reference value is, in every
seed; what remains (-0.017 on accuracy) is the model's misspecification: its score is not a
function of the true probability, so ``P(label | score)`` moves a little with the inputs. After
the concept change the realised accuracy falls from 0.76 to 0.65 and the estimate does not move.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from driftline.detectors.cbpe import PerformanceEstimator, ScoreCalibration
from driftline.detectors.outcomes import OutcomeWindow
from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings

FloatArray = npt.NDArray[np.float64]
SEEDS = range(10)
REFERENCE = 20_000
WINDOW = 2000
WINDOWS = 10
BATCH = 500
TRUE_WEIGHTS = np.array([1.5, -1.0])
MODEL_WEIGHTS = np.array([1.3, -1.2])
CONCEPT_WEIGHTS = np.array([0.0, -1.5])
METRICS = ("accuracy", "roc_auc")
#: Redraws of a window's labels that measure the realised value's own sampling noise.
REDRAWS = 400
#: The level at which the gaps' spread is tested against that noise (chi-squared upper point).
LEVEL = 0.999


@dataclass(frozen=True)
class Scored:
    score: FloatArray
    y_true: FloatArray
    #: The true P(label = 1 | x) of each event: what the labels are drawn from.
    p_true: FloatArray

    @property
    def y_pred(self) -> FloatArray:
        return (self.score >= 0.5).astype(np.float64)


def stream(rng: np.random.Generator, n: int, *, mean: float = 0.0, sd: float = 1.0,
           weights: FloatArray = TRUE_WEIGHTS) -> Scored:
    x = rng.normal(mean, sd, size=(n, 2))
    p = 1.0 / (1.0 + np.exp(-(x @ weights + 0.3)))
    y = (rng.random(n) < p).astype(np.float64)
    score = 1.0 / (1.0 + np.exp(-(1.8 * (x @ MODEL_WEIGHTS + 0.3) + 0.4)))
    return Scored(score, y, p)


def windows(calibration: ScoreCalibration, scored: Scored) -> list[tuple[dict, dict, Scored]]:
    """(estimates, realised metrics, the window's events) at the end of every full window."""
    estimator = PerformanceEstimator(calibration, WINDOW)
    realised = OutcomeWindow(WINDOW, "binary")
    out = []
    for start in range(0, scored.score.size, BATCH):
        part = slice(start, start + BATCH)
        estimator.update(scored.score[part])
        realised.extend(scored.y_true[part], scored.y_pred[part], scored.score[part])
        if realised.n_seen % WINDOW == 0:
            events = slice(realised.n_seen - WINDOW, realised.n_seen)
            out.append((estimator.estimates, realised.metrics(["accuracy", "roc_auc"]),
                        Scored(scored.score[events], scored.y_true[events], scored.p_true[events])))
    return out


def reference_metrics(reference: Scored) -> dict[str, float | None]:
    window = OutcomeWindow(reference.score.size, "binary")
    window.extend(reference.y_true, reference.y_pred, reference.score)
    return window.metrics(["accuracy", "roc_auc"])


def label_noise(window: Scored, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """The realised metrics' own sampling noise in ``window``: (SD, mean) over `REDRAWS` redraws of
    its labels from their true probabilities, its events (so scores and classes) fixed. No estimate
    from the scores has a smaller root-mean-square gap to the realised value than this SD."""
    labels = (rng.random((REDRAWS, window.score.size)) < window.p_true).astype(np.float64)
    accuracy = (labels == window.y_pred).mean(axis=1)
    # ROC AUC in its Mann-Whitney form: the scores' ranks stay, only the labels move.
    positives = labels.sum(axis=1)
    rank_sum = labels @ stats.rankdata(window.score)
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * (window.score.size - positives))
    return {"accuracy": (float(accuracy.std(ddof=1)), float(accuracy.mean())),
            "roc_auc": (float(auc.std(ddof=1)), float(auc.mean()))}


@dataclass(frozen=True)
class Comparison:
    """One seed's windows, per metric: the estimate's and the reference value's gap to the realised
    value, the band's coverage, and the realised value's own noise."""

    gap: dict[str, FloatArray]
    stale: dict[str, FloatArray]
    covered: dict[str, float]
    #: SD of the realised value over redraws of each window's labels (`label_noise`).
    noise: dict[str, FloatArray]
    #: Estimate minus the realised value's expectation given each window's events: the
    #: estimator's own error, with the labels' noise taken out.
    own_error: dict[str, FloatArray]


def compare(seed: int, **change: object) -> Comparison:
    rng = np.random.default_rng(seed)
    reference = stream(rng, REFERENCE)
    calibration = ScoreCalibration.fit(reference.score, reference.y_true)
    before = reference_metrics(reference)
    results = windows(calibration, stream(rng, WINDOW * WINDOWS, **change))  # type: ignore[arg-type]
    redraws = np.random.default_rng([seed, 1])  # apart from the stream's generator: its events stay
    noise = [label_noise(events, redraws) for _, _, events in results]
    return Comparison(
        gap={m: np.array([e[m].value - r[m] for e, r, _ in results]) for m in METRICS},
        stale={m: np.array([before[m] - r[m] for _, r, _ in results]) for m in METRICS},
        covered={m: float(np.mean([e[m].lower <= r[m] <= e[m].upper for e, r, _ in results]))
                 for m in METRICS},
        noise={m: np.array([n[m][0] for n in noise]) for m in METRICS},
        own_error={m: np.array([e[m].value - n[m][1] for (e, _, _), n in zip(results, noise, strict=True)])
                   for m in METRICS})


@functools.cache
def from_the_reference(seed: int) -> Comparison:
    return compare(seed)


def test_from_the_reference_distribution_the_estimate_is_the_realised_value() -> None:
    runs = [from_the_reference(seed) for seed in SEEDS]
    for m in METRICS:
        error = np.concatenate([run.gap[m] for run in runs])
        assert error.size == len(SEEDS) * WINDOWS
        # Unbiased; the per-window gap is the realised value's own sampling noise (SD 0.0095).
        assert abs(error.mean()) < 0.003, (m, error.mean())
        assert np.abs(error).mean() < 0.01, (m, np.abs(error).mean())
        assert np.mean(np.abs(error) <= 0.02) >= 0.9, (m, np.sort(np.abs(error))[-6:])
        assert 0.85 <= np.mean([run.covered[m] for run in runs]) <= 1.0


def standardised_spread(gap: FloatArray, noise: FloatArray) -> float:
    """Sum of (gap / noise SD)^2: chi-squared with one degree of freedom per window if the gap is
    the realised value's own noise and nothing more."""
    return float(np.sum((gap / noise) ** 2))


def test_within_0_02_per_seed_and_no_spread_beyond_the_realised_values_own_noise() -> None:
    """The done-when's "within 0.02 over windows of 2,000 events", as strong as the labels allow.

    Per seed, the mean |gap| over its windows is at most 0.02; every window cannot be, since the
    realised value's own sampling noise (SD 0.009 for accuracy, 0.008 for AUC here) puts 0.02 at
    2.2 to 2.5 SD. What the estimator adds to that noise is tested directly: the gaps' spread,
    standardised by each window's own noise SD, stays under the `LEVEL` point of chi-squared per
    seed (10 windows) and pooled (100); and the estimate's own error -- against the realised
    value's expectation given the window's events -- is under half that SD (RMS), so it adds less
    than a quarter to the gap's variance, which 100 windows cannot tell from nothing.
    """
    runs = [from_the_reference(seed) for seed in SEEDS]
    for m in METRICS:
        for seed, run in zip(SEEDS, runs, strict=True):
            assert np.abs(run.gap[m]).mean() <= 0.02, (seed, m, run.gap[m])
            spread = standardised_spread(run.gap[m], run.noise[m])
            assert spread <= stats.chi2.ppf(LEVEL, WINDOWS), (seed, m, spread)
        gap, noise = (np.concatenate([getattr(run, f)[m] for run in runs]) for f in ("gap", "noise"))
        assert standardised_spread(gap, noise) <= stats.chi2.ppf(LEVEL, gap.size), m
        own = np.concatenate([run.own_error[m] for run in runs])
        assert np.sqrt(np.mean(own ** 2)) < 0.5 * np.sqrt(np.mean(noise ** 2)), m


def test_after_a_covariate_shift_the_estimate_tracks_the_realised_value() -> None:
    for seed in SEEDS:
        run = compare(seed, mean=0.5, sd=0.6)
        for m in METRICS:
            assert np.abs(run.stale[m]).mean() > 0.04, (seed, m)  # the shift matters
            assert np.abs(run.gap[m]).mean() < np.abs(run.stale[m]).mean(), (seed, m)


def test_after_a_concept_change_only_the_labels_tell() -> None:
    """The README's limit: the estimate stays, the realised value drops, concept_drift fires."""
    change, after = 10_000, 10_000
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        reference = stream(rng, REFERENCE)
        calibration = ScoreCalibration.fit(reference.score, reference.y_true)
        pre, post = stream(rng, change), stream(rng, after, weights=CONCEPT_WEIGHTS)
        scored = Scored(*(np.concatenate([getattr(pre, f), getattr(post, f)])
                          for f in ("score", "y_true", "p_true")))
        results = windows(calibration, scored)
        monitor = PerformanceMonitor("acceptance", 1, "champion", "binary", PerformanceSettings())
        raised = []
        for start in range(0, scored.score.size, BATCH):
            part = slice(start, start + BATCH)
            raised += [event.window.end for event in
                       monitor.update(scored.y_true[part], scored.y_pred[part], scored.score[part])
                       if event.kind == "concept_drift" and event.type == "raised"]
        first, last = results[change // WINDOW - 1], results[-1]
        assert abs(last[0]["accuracy"].value - first[0]["accuracy"].value) < 0.01, seed  # the estimate stays
        assert first[1]["accuracy"] - last[1]["accuracy"] > 0.03, seed  # the realised value drops
        assert last[0]["accuracy"].value - last[1]["accuracy"] > 0.03, seed  # outside what CBPE expects
        assert not last[0]["accuracy"].lower <= last[1]["accuracy"] <= last[0]["accuracy"].upper, seed
        # Seed 1 also has the CUSUM's known false alarm while its baseline is young (event 1,897).
        assert any(change < end < change + after for end in raised), (seed, raised)

