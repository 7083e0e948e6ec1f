"""Estimated performance (CBPE) per model, version and variant, for the performance agent.

Two estimators per binary model version and variant, both from the version's
`ReferenceProfile.calibration`:

* an `EstimatedPerformanceMonitor` over the last ``perf_window_size`` *predictions* (the score
  path's records): today's performance before labels, its band, and its floors (``performance``
  alerts from detector ``cbpe``);
* a `PerformanceEstimator` over the last ``perf_window_size`` *labelled* events (the join's
  outcomes), the same events the realised metrics are computed on, so ``realised - estimated``
  compares like with like: a gap far from 0 says the calibration no longer holds (concept drift),
  which no estimate on predictions alone can show.

A version without a calibration (registered without labels, or before calibrations existed) gets
no estimate, said once in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.cbpe import PerformanceEstimator, ScoreCalibration
from driftline.detectors.estimated_performance import EstimatedPerformanceMonitor
from driftline.detectors.performance import PerformanceSettings
from driftline.detectors.reference import ReferenceProfile
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.streams.prediction_outbox import PredictionBatch

log = logging.getLogger(__name__)

Key = tuple[str, int, str]


class EstimateBook:
    """The CBPE estimators of the models this agent judges, built on their first records."""

    def __init__(self, settings: PerformanceSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.monitors: dict[Key, EstimatedPerformanceMonitor] = {}
        self.labelled: dict[Key, PerformanceEstimator] = {}
        self._calibrations: dict[tuple[str, int], ScoreCalibration | None] = {}

    def feed_predictions(self, batch: PredictionBatch) -> list[AlertEvent]:
        key = (batch.model, batch.version, batch.variant)
        monitor = self.monitors.get(key)
        if monitor is None:
            calibration = self.calibration(batch.model, batch.version)
            if calibration is None:
                return []
            monitor = self.monitors[key] = EstimatedPerformanceMonitor(*key, calibration, self.settings)
        return monitor.update(batch.scores, batch.y_pred)

    def alert_streams(self, model: str) -> list[EstimatedPerformanceMonitor]:
        """The monitors of ``model`` whose floors raise alerts (each of its versions and variants)."""
        return [monitor for key, monitor in self.monitors.items() if key[0] == model]

    def feed_outcomes(self, outcomes: Mapping[str, Any]) -> None:
        """The labelled window's scores, for the gap (binary outcomes with scores only)."""
        if outcomes.get("task") != "binary" or not outcomes.get("score"):
            return
        model, version = str(outcomes["model"]), int(outcomes["version"])
        key = (model, version, str(outcomes["variant"]))
        estimator = self.labelled.get(key)
        if estimator is None:
            calibration = self.calibration(model, version)
            if calibration is None:
                return
            estimator = self.labelled[key] = PerformanceEstimator(calibration, self.settings.window_size)
        scores = np.asarray([np.nan if s is None else s for s in outcomes["score"]], dtype=np.float64)
        estimator.update(scores, np.asarray(outcomes["y_pred"], dtype=np.float64))

    def calibration(self, model: str, version: int) -> ScoreCalibration | None:
        """The version's score calibration; None (said once) when its profile has none."""
        if (model, version) not in self._calibrations:
            self._calibrations[model, version] = self._load(model, version)
        return self._calibrations[model, version]

    def _load(self, model: str, version: int) -> ScoreCalibration | None:
        try:
            raw = self.registry.reference(model, version)
            calibration = None if raw is None else ReferenceProfile.from_dict(raw).calibration
        except (ModelError, ValueError, KeyError) as exc:
            log.warning("no estimate for %s v%d: its reference profile could not be read (%s)",
                        model, version, exc)
            return None
        if calibration is None:
            log.info("no estimate for %s v%d: its reference profile has no calibration (register it with "
                     "labelled reference rows to get one)", model, version)
        return calibration

    def snapshots(self, realised: Mapping[Key, Mapping[str, float | None]]) -> list[dict[str, Any]]:
        """Each estimate with its band, and the gap realised - estimated over the labelled window."""
        return [{**monitor.snapshot(), "gap": self._gap(key, realised.get(key) or {})}
                for key, monitor in self.monitors.items()]

    def _gap(self, key: Key, realised: Mapping[str, float | None]) -> dict[str, float | None]:
        estimator = self.labelled.get(key)
        if estimator is None or estimator.events == 0:
            return {}
        gaps: dict[str, float | None] = {}
        for name, estimate in estimator.estimates.items():
            value = realised.get(name)
            gaps[name] = None if value is None or estimate is None else float(value) - estimate.value
        return gaps

    def forget(self, models: set[str]) -> list[Key]:
        gone = [key for key in {*self.monitors, *self.labelled} if key[0] in models]
        for key in gone:
            self.monitors.pop(key, None)
            self.labelled.pop(key, None)
        return gone
