"""Drift detection for driftline: pure, synchronous detectors fed with batches of bin counts.

A `ReferenceProfile` records what a model version's inputs and scores looked like when it was
approved; a `ProfileBinner` turns each live micro-batch into a count delta in the same bins
(deltas from many workers merge by addition); a `DriftMonitor` feeds merged deltas to a sliding-
window `HistogramDriftDetector` (PSI or Jensen-Shannon per feature, thresholds calibrated to a
target number of events between false alarms), to `DataQualityCheck` (missing-rate and
out-of-range jumps) and to River's own detectors through `RiverAdapter`, and turns what they
find into `AlertEvent` objects via an `AlertState` machine (hysteresis, cooldown, updates).
Nothing here imports faust, asyncio or a Kafka client.
"""

from __future__ import annotations

from detectors.alerting import (
    AlertEvent,
    AlertPolicy,
    AlertState,
    AlertWindow,
    Finding,
    Transition,
    dedup_key,
)
from detectors.binner import ProfileBinner
from detectors.calibration import Calibration, TailModel, calibrate, fit_tail, per_test_alpha
from detectors.histogram import FeatureStatistic, HistogramDriftDetector
from detectors.monitor import DriftMonitor, MonitorSettings
from detectors.quality import DataQualityCheck, QualityResult
from detectors.reference import SCORE, FeatureReference, ReferenceProfile, build_reference_for
from detectors.river_adapters import RiverAdapter, RiverSpec

__all__ = [
    "SCORE",
    "AlertEvent",
    "AlertPolicy",
    "AlertState",
    "AlertWindow",
    "Calibration",
    "DataQualityCheck",
    "DriftMonitor",
    "FeatureReference",
    "FeatureStatistic",
    "Finding",
    "HistogramDriftDetector",
    "MonitorSettings",
    "ProfileBinner",
    "QualityResult",
    "ReferenceProfile",
    "RiverAdapter",
    "RiverSpec",
    "TailModel",
    "Transition",
    "build_reference_for",
    "calibrate",
    "dedup_key",
    "fit_tail",
    "per_test_alpha",
]
