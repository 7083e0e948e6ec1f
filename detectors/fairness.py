"""Fairness: does the model treat the groups of a sensitive segment unequally?

`FairnessMonitor` watches one sensitive segment (a card's ``segments`` entry marked
``sensitive``) of one model version and variant. It keeps, over a sliding window of the last
``window_size`` events, the count of every (group, predicted class, true class) cell -- the true
class unknown for predictions whose label has not arrived -- and every ``evaluate_every`` events
compares each group with the best-off one:

========================  ======================================  ===============  ======
metric                    per group                               judged           limit
========================  ======================================  ===============  ======
``demographic_parity``    share predicted positive                best - group     0.1
``disparate_impact``      share predicted positive                group / best    0.8
``equal_opportunity``     recall (true positive rate)             best - group     0.1
``predictive_parity``     precision (positive predictive value)   best - group     0.1
========================  ======================================  ===============  ======

The 0.8 is the four-fifths rule of the US EEOC's Uniform Guidelines. The first two need only
predictions; the last two only labelled events. A group is judged on a metric once its
denominator (events; actual positives; predicted positives) reaches ``min_samples``.

Why a statistical test on top of the limit: a window's shares are noisy, and the best-off group
is the *largest* of several noisy shares, so the point estimate alone crosses a limit by chance
-- at a positive rate of 5 %, 1,000 events a group and six groups, a disparate-impact ratio under
0.8 happens in most windows of a fair model. So a finding needs the data to show, beyond noise,
that the disparity is past its limit: a one-sided two-proportion z-test of ``H0: disparity within
the limit`` (for the ratio, ``H0: group >= limit * best``, tested as ``group - limit * best``).
Its level is the false-alarm budget ``target_arl`` split over the evaluations and, by Bonferroni,
over every ordered pair of groups and every metric (which covers the choice of the best-off
group). Under ``H0`` at the limit's edge that bounds the false alarms; a fair model sits far
inside it. Consecutive windows overlap, so the realised run length is longer than the target.

Published names: groups appear only as the segment's declared labels (`detectors.segments`); the
monitor never sees a raw value.

References
----------
Hardt, M., Price, E. and Srebro, N. (2016). Equality of opportunity in supervised learning.
*NeurIPS*. (Equal opportunity.)

US EEOC (1978). Uniform Guidelines on Employee Selection Procedures, 29 CFR 1607.4(D). (The
four-fifths rule.)

Examples
--------
>>> rng = np.random.default_rng(3)
>>> monitor = FairnessMonitor("loans", 2, "champion", "region", ("north", "south", "other", "missing"),
...                           settings=FairnessSettings(window_size=8000, min_samples=500))
>>> for start in range(0, 40_000, 1000):
...     groups = rng.integers(0, 2, 1000)
...     rate = np.where((groups == 1) & (start >= 20_000), 0.15, 0.30)  # south halved at 20,000
...     for event in monitor.update(groups, (rng.random(1000) < rate).astype(int)):
...         if event.type == "raised":
...             top = event.findings[0]
...             print(event.window.end, top.feature, top.statistic, round(top.value, 2), top.samples)
26000 region=south disparate_impact 0.66 (4029, 3971)
>>> monitor.dedup_key
'loans:2:champion:fairness:segments.region'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats

from driftline.detectors.alerting import (
    AlertEvent,
    AlertPolicy,
    AlertState,
    AlertWindow,
    Finding,
    Transition,
    confirming_evaluations,
    dedup_key,
)
from driftline.detectors.calibration import per_test_alpha

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Default limits: a difference of shares (best minus group), or the ratio group / best.
LIMITS: Mapping[str, float] = {"demographic_parity": 0.1, "disparate_impact": 0.8,
                               "equal_opportunity": 0.1, "predictive_parity": 0.1}
RATIOS = frozenset({"disparate_impact"})
#: Metrics that need the true class.
LABELLED = frozenset({"equal_opportunity", "predictive_parity"})
# Cell layout per group: predicted class (2) x true class (unknown, 0, 1).
_UNKNOWN, _CELLS = 0, 6


@dataclass(frozen=True)
class FairnessSettings:
    """Window, evaluation period, limits, sample minimum, budget and alert policy.

    ``limits`` maps the metrics to judge (a subset of `LIMITS`) to their limits.
    """

    window_size: int = 20_000
    evaluate_every: int = 1000
    limits: Mapping[str, float] = field(default_factory=lambda: dict(LIMITS))
    min_samples: int = 500
    target_arl: float = 1e6
    raise_after: int = 1
    resolve_after: int = 3
    cooldown: int = 20_000
    update_every: int = 50
    runbook: str = "docs/RUNBOOK.md"

    def policy(self) -> AlertPolicy:
        # A finding's value is its z statistic over the critical z: no resolve ratio below 1
        # makes sense for it, so a finding clears once it is no longer significant.
        return AlertPolicy(raise_after=self.raise_after, resolve_after=self.resolve_after, resolve_ratio=1.0,
                           cooldown=self.cooldown, update_every=self.update_every, critical_ratio=2.0)


@dataclass(frozen=True)
class GroupRates:
    """One metric's share per group and the sample size it rests on."""

    shares: FloatArray
    samples: IntArray


class FairnessMonitor:
    """Fairness metrics of one sensitive segment of one model version and variant.

    Parameters
    ----------
    model, version, variant
        What the events belong to.
    segment
        The segment's declared name (``"region"``).
    labels
        The label of every group code (`detectors.segments.SegmentCoder.labels`).
    settings
        Window, period, limits, minimum samples, budget and alert policy.
    detector
        The detector name in alerts and the dedup key (default ``segments.<segment>``): two
        monitors of one segment -- one fed predictions, one labelled events -- need two.
    """

    def __init__(self, model: str, version: int | None, variant: str, segment: str, labels: Sequence[str], *,
                 settings: FairnessSettings | None = None, detector: str | None = None) -> None:
        self._detector = detector or f"segments.{segment}"
        self.model = model
        self.version = version
        self.variant = variant
        self.segment = segment
        self.labels = tuple(labels)
        self.settings = settings or FairnessSettings()
        s = self.settings
        if not set(s.limits) <= set(LIMITS) or not s.limits or s.evaluate_every < 1 or len(self.labels) < 2:
            raise ValueError(f"judge some of {sorted(LIMITS)} over at least two groups")
        self.metrics = tuple(name for name in LIMITS if name in s.limits)
        k = len(self.labels)
        self.alpha = per_test_alpha(s.target_arl, s.evaluate_every, len(self.metrics) * k * (k - 1))
        self.critical_z = float(stats.norm.isf(self.alpha))
        self._reset()

    def _reset(self) -> None:
        self._codes = np.zeros(self.settings.window_size, dtype=np.int64)
        self._counts = np.zeros(len(self.labels) * _CELLS, dtype=np.int64)
        self._state = AlertState(len(self.metrics) * len(self.labels), self.settings.policy())
        self._n_seen = 0
        self._evaluations = 0
        self._events: list[AlertEvent] = []

    @property
    def n_seen(self) -> int:
        return self._n_seen

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.model, self.version, "fairness", self.detector, variant=self.variant)

    @property
    def detector(self) -> str:
        return self._detector

    @property
    def n_evaluations(self) -> int:
        """Evaluations of a full window so far."""
        return self._evaluations

    @property
    def judged_a_full_window(self) -> bool:
        """True once a disparity still past its limit would be open again (`confirming_evaluations`)."""
        s = self.settings
        return self._evaluations >= confirming_evaluations(s.window_size, s.evaluate_every, s.policy())

    @property
    def events(self) -> list[AlertEvent]:
        """The alert events the last `update` caused."""
        return list(self._events)

    def update(self, groups: npt.ArrayLike, y_pred: npt.ArrayLike,
               y_true: npt.ArrayLike | None = None) -> list[AlertEvent]:
        """Feed a batch of group codes and predicted classes (and true classes, when labelled)."""
        codes = self._cell_codes(groups, y_pred, y_true)
        every = self.settings.evaluate_every
        self._events = []
        start = 0
        while start < codes.size:
            stop = min(codes.size, start + every - self._n_seen % every)
            self._push(codes[start:stop])
            if self._n_seen % every == 0:
                self._events.extend(self._evaluate())
            start = stop
        return list(self._events)

    def _cell_codes(self, groups: npt.ArrayLike, y_pred: npt.ArrayLike,
                    y_true: npt.ArrayLike | None) -> IntArray:
        g = np.asarray(groups, dtype=np.int64).reshape(-1)
        p = np.asarray(y_pred).reshape(-1) == 1
        t = np.full(g.size, _UNKNOWN) if y_true is None else 1 + (np.asarray(y_true).reshape(-1) == 1)
        in_range = g.size == 0 or 0 <= g.min() <= g.max() < len(self.labels)
        if p.size != g.size or t.size != g.size or not in_range:
            raise ValueError("one group code (0 .. len(labels) - 1) and one class per event")
        return np.asarray(g * _CELLS + 3 * p + t, dtype=np.int64)

    def _push(self, codes: IntArray) -> None:
        size, width = self.settings.window_size, self._counts.size
        for part in (codes[i:i + size] for i in range(0, codes.size, size)):
            position = self._n_seen + np.arange(part.size)
            at = position % size
            self._counts -= np.bincount(self._codes[at[position >= size]], minlength=width)
            self._codes[at] = part
            self._counts += np.bincount(part, minlength=width)
            self._n_seen += part.size

    # --- judging ---------------------------------------------------------------------------------

    @property
    def rates(self) -> dict[str, GroupRates]:
        """Each metric's per-group share and its denominator over the window."""
        c = self._counts.reshape(len(self.labels), 2, 3)
        predicted = c[:, 1, :].sum(axis=1)
        events = c.sum(axis=(1, 2))
        tp, actual = c[:, 1, 2], c[:, :, 2].sum(axis=1)
        labelled_predicted = c[:, 1, 1:].sum(axis=1)
        share = {"positive": _shares(predicted, events), "recall": _shares(tp, actual),
                 "precision": _shares(tp, labelled_predicted)}
        basis = {"demographic_parity": ("positive", events), "disparate_impact": ("positive", events),
                 "equal_opportunity": ("recall", actual),
                 "predictive_parity": ("precision", labelled_predicted)}
        return {m: GroupRates(share[basis[m][0]], basis[m][1]) for m in self.metrics}

    def judge(self) -> dict[str, dict[str, float | int | str | None]]:
        """Per metric: the worst-off judged group, its disparity, z (past its limit beyond noise above
        ``critical_z``) and sample sizes (for snapshots)."""
        out: dict[str, dict[str, float | int | str | None]] = {}
        for name, rates in self.rates.items():
            value, z, best = self._compare(name, rates)
            judged = np.flatnonzero(np.isfinite(z))
            if best < 0 or judged.size == 0:
                out[name] = {"judged": False, "limit": self.settings.limits[name]}
                continue
            worst = int(judged[np.argmax(z[judged])])
            out[name] = {"judged": True, "limit": self.settings.limits[name], "group": self.labels[worst],
                         "best": self.labels[best], "value": float(value[worst]), "z": float(z[worst]),
                         "critical_z": self.critical_z, "samples": int(rates.samples[worst]),
                         "best_samples": int(rates.samples[best])}
        return out

    def _compare(self, name: str, rates: GroupRates) -> tuple[FloatArray, FloatArray, int]:
        """Disparity of every group against the best-off one, and the z of ``H0: within the limit``."""
        r, n = rates.shares, rates.samples.astype(np.float64)
        eligible = rates.samples >= self.settings.min_samples
        k = r.size
        if eligible.sum() < 2:
            return np.full(k, np.nan), np.full(k, np.nan), -1
        best = int(np.flatnonzero(eligible)[np.argmax(r[eligible])])
        limit = self.settings.limits[name]
        variance = np.divide(r * (1.0 - r), n, out=np.zeros(k), where=n > 0)
        if name in RATIOS:
            value = np.divide(r, r[best], out=np.ones(k), where=r[best] > 0)
            margin, spread = limit * r[best] - r, variance + limit * limit * variance[best]
        else:
            value = r[best] - r
            margin, spread = value - limit, variance + variance[best]
        sd = np.sqrt(spread)
        z = np.divide(margin, sd, out=np.where(margin > 0, np.inf, 0.0), where=sd > 0)
        z[~eligible] = np.nan
        z[best] = np.nan
        return value, z, best

    def _evaluate(self) -> list[AlertEvent]:
        if self._n_seen < self.settings.window_size:
            return []
        self._evaluations += 1
        rates = self.rates
        compared = [self._compare(name, rates[name]) for name in self.metrics]
        z = np.concatenate([np.nan_to_num(c[1], nan=0.0, posinf=1e6) for c in compared])
        transition = self._state.step(z, np.full(z.size, self.critical_z), samples=self._n_seen,
                                      events=self._n_seen)
        if transition is None:
            return []
        return [self._event(transition, rates, compared)]

    def _event(self, transition: Transition, rates: dict[str, GroupRates],
               compared: list[tuple[FloatArray, FloatArray, int]]) -> AlertEvent:
        k = len(self.labels)
        findings = []
        for row in transition.active:
            m, g = divmod(row, k)
            name = self.metrics[m]
            value, _, best = compared[m]
            shares, samples = rates[name].shares, rates[name].samples
            best = best if best >= 0 else g
            findings.append(Finding(
                feature=f"{self.segment}={self.labels[g]}", statistic=name, value=float(value[g]),
                threshold=float(self.settings.limits[name]), bins=(self.labels[g], self.labels[best]),
                current_shares=(float(shares[g]), float(shares[best])),
                samples=(int(samples[g]), int(samples[best]))))
        size = self.settings.window_size
        window = AlertWindow(events=size, start=self._n_seen - size, end=self._n_seen)
        label = f"fairness ({self.segment}) in {self.model} v{self.version} {self.variant}"
        if transition.type == "resolved":
            summary = f"resolved: {label}: within limits at event {self._n_seen}"
        else:
            summary = f"{transition.severity}: {label}: " + "; ".join(_describe(f) for f in findings)
        return AlertEvent(type=transition.type, kind="fairness", severity=transition.severity,
                          model=self.model, version=self.version, detector=self.detector,
                          findings=tuple(findings), window=window, dedup_key=self.dedup_key, summary=summary,
                          runbook=f"{self.settings.runbook}#fairness", variant=self.variant)

    @property
    def is_open(self) -> bool:
        return self._state.is_open


def _shares(numerator: IntArray, denominator: IntArray) -> FloatArray:
    return np.divide(numerator, denominator, out=np.zeros(numerator.size), where=denominator > 0)


def _describe(finding: Finding) -> str:
    group, best = finding.bins
    how = f"{group} / {best}" if finding.statistic in RATIOS else f"{best} - {group}"
    return (f"{finding.statistic} {finding.value:.3g} ({how}; limit {finding.threshold:g}), "
            f"{group} {finding.current_shares[0]:.3g} of {finding.samples[0]:,} vs "
            f"{best} {finding.current_shares[1]:.3g} of {finding.samples[1]:,}")
