"""Performance floors judged on the CBPE estimate, while labels are pending.

`EstimatedPerformanceMonitor` runs a `detectors.cbpe.PerformanceEstimator` over the last
``window_size`` predictions of one model version and variant and, every ``evaluate_every``
predictions on a full window, steps the configured floors of the estimated metrics (accuracy,
precision, recall, F1, ROC AUC; the settings' other floors are the realised monitor's) through an
`AlertState`. A breach is a ``performance`` alert from detector ``cbpe``: its dedup key differs
from the realised floors' (``...:performance:floors``), so both can be open at once, and its
findings' statistic is ``estimated`` -- a consumer can tell an estimate from a measurement.

It takes `detectors.performance.PerformanceSettings`, so one configuration sets both monitors:
the same window, period, floors and alert policy.

Examples
--------
>>> from driftline.detectors.cbpe import ScoreCalibration
>>> calibration = ScoreCalibration(edges=(0.3, 0.5, 0.7), probabilities=(0.05, 0.4, 0.6, 0.95),
...                                counts=(100, 100, 100, 100))
>>> monitor = EstimatedPerformanceMonitor("toy", 1, "champion", calibration,
...                                       PerformanceSettings(floors={"accuracy": 0.75}))
>>> rng = np.random.default_rng(0)
>>> for start in range(0, 6000, 500):
...     spread = 0.45 if start < 3000 else 0.15   # scores crowd towards 0.5 from 3,000 on
...     for event in monitor.update(0.5 + rng.uniform(-spread, spread, 500)):
...         print(event.type, event.window.end, event.dedup_key, event.findings[0].statistic)
raised 3200 toy:1:champion:performance:cbpe estimated
updated 3600 toy:1:champion:performance:cbpe estimated
>>> round(monitor.snapshot()["estimated"]["accuracy"]["value"], 3)
0.6
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.detectors.alerting import (
    AlertEvent,
    AlertState,
    AlertWindow,
    Finding,
    confirming_evaluations,
    dedup_key,
)
from driftline.detectors.cbpe import ESTIMATED_METRICS, PerformanceEstimator, ScoreCalibration
from driftline.detectors.performance import PerformanceSettings

#: The detector name of estimated floors in alerts and dedup keys.
DETECTOR = "cbpe"


class EstimatedPerformanceMonitor:
    """CBPE estimates and their floors for one binary model version and variant.

    Parameters
    ----------
    model, version, variant
        What the predictions belong to.
    calibration
        The version's score calibration (`ReferenceProfile.calibration`).
    settings
        Window, period, floors and alert policy (shared with the realised monitor).
    threshold
        Predicted class 1 at a score of at least this, when `update` is given no classes.
    """

    def __init__(self, model: str, version: int | None, variant: str, calibration: ScoreCalibration,
                 settings: PerformanceSettings | None = None, *, threshold: float = 0.5) -> None:
        self.model = model
        self.version = version
        self.variant = variant
        self.calibration = calibration
        self.settings = settings or PerformanceSettings()
        self.threshold = threshold
        self.floor_names = tuple(name for name in self.settings.floors if name in ESTIMATED_METRICS)
        self._reset()

    def _reset(self) -> None:
        s = self.settings
        self._estimator = PerformanceEstimator(self.calibration, s.window_size, self.threshold)
        self._state = AlertState(len(self.floor_names), s.floor_policy())
        self._n_seen = 0
        self._evaluations = 0

    @property
    def n_seen(self) -> int:
        """Predictions received so far (with a score or not)."""
        return self._n_seen

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.model, self.version, "performance", DETECTOR, variant=self.variant)

    @property
    def is_open(self) -> bool:
        return self._state.is_open

    @property
    def n_evaluations(self) -> int:
        """Evaluations of a full window so far (with floors to judge or not)."""
        return self._evaluations

    @property
    def judged_a_full_window(self) -> bool:
        """True once an estimated floor still breached would be open again (`confirming_evaluations`)."""
        s = self.settings
        return self._evaluations >= confirming_evaluations(s.window_size, s.evaluate_every, s.floor_policy())

    def update(self, scores: npt.ArrayLike, y_pred: npt.ArrayLike | None = None) -> list[AlertEvent]:
        """Feed a batch of predictions' scores (and classes); returns the alert events it caused."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        predicted = None if y_pred is None else np.asarray(y_pred).reshape(-1)
        every = self.settings.evaluate_every
        events: list[AlertEvent] = []
        start = 0
        while start < s.size:
            stop = min(s.size, start + every - self._n_seen % every)
            self._estimator.update(s[start:stop], None if predicted is None else predicted[start:stop])
            self._n_seen += stop - start
            if self._n_seen % every == 0:
                events.extend(self._evaluate())
            start = stop
        return events

    def _evaluate(self) -> list[AlertEvent]:
        if self._estimator.events < self.settings.window_size:
            return []
        # Counted without floors too: a new owner configured without them has judged the window
        # (and finds a floor alert its last owner left open no longer true).
        self._evaluations += 1
        if not self.floor_names:
            return []
        estimates = self._estimator.estimates
        values = {name: None if estimates[name] is None else estimates[name].value  # type: ignore[union-attr]
                  for name in self.floor_names}
        ratios = np.array([_shortfall(values[name], self.settings.floors[name]) for name in self.floor_names])
        transition = self._state.step(ratios, np.ones(ratios.size), samples=self._estimator.events,
                                      events=self._n_seen)
        if transition is None:
            return []
        findings = tuple(Finding(feature=self.floor_names[i], statistic="estimated",
                                 value=_number(values[self.floor_names[i]]),
                                 threshold=float(self.settings.floors[self.floor_names[i]]))
                         for i in transition.active)
        end, size = self._n_seen, self._estimator.events
        label = f"estimated performance ({DETECTOR}) in {self.model} v{self.version} {self.variant}"
        if transition.type == "resolved":
            summary = f"resolved: {label}: back above its floors at prediction {end}"
        else:
            shown = "; ".join(f"estimated {f.feature} {f.value:.4g} < {f.threshold:.4g}" for f in findings)
            summary = (f"{transition.severity}: {label}: {shown} over the last {size} predictions "
                       f"(labels pending; realised values correct this once they arrive)")
        return [AlertEvent(type=transition.type, kind="performance", severity=transition.severity,
                           model=self.model, version=self.version, detector=DETECTOR, findings=findings,
                           window=AlertWindow(events=size, start=end - size, end=end),
                           dedup_key=self.dedup_key, summary=summary,
                           runbook=f"{self.settings.runbook}#estimated-performance", variant=self.variant)]

    def snapshot(self) -> dict[str, Any]:
        """The window's estimates with their bands (JSON-safe), the floors and whether they are open."""
        estimates = self._estimator.estimates
        return {
            "model": self.model, "version": self.version, "variant": self.variant,
            "predictions": self._n_seen, "window": self._estimator.events,
            "estimated": {name: None if value is None else value.to_dict()
                          for name, value in estimates.items()},
            "floors": {name: float(self.settings.floors[name]) for name in self.floor_names},
            "open_alerts": [self.dedup_key] if self.is_open else [],
        }


def _shortfall(value: float | None, floor: float) -> float:
    """How far below its floor an estimate is, as a ratio (> 1 below it; 0 when undefined)."""
    if value is None or floor <= 0:
        return 0.0
    return floor / value if value > 0 else math.inf


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)
