"""Drift detection for driftline: pure, synchronous detectors fed with batches of bin codes.

A `ReferenceProfile` records what a model version's inputs and scores looked like when it was
approved; a `ProfileBinner` turns each live micro-batch into the bin codes of its events in the
same bins (or a count delta); a `DriftMonitor` feeds the codes of all workers, in order, to a
sliding-window `HistogramDriftDetector` (PSI or Jensen-Shannon per feature over windows of exact
event counts, thresholds calibrated to a target number of events between false alarms), to
`NormalScoreCUSUM` (location shifts of every numeric feature and the score, event by event), to
`DataQualityCheck` (missing-rate and out-of-range jumps) and to River's own detectors through
`RiverAdapter`, and turns what they find into `AlertEvent` objects via an `AlertState` machine
(hysteresis, cooldown, updates).

Once labels arrive, a `PerformanceMonitor` per model version and served variant keeps the last
outcomes in an `OutcomeWindow` (River's metrics, vectorised), watches the error stream for
concept drift (`BernoulliCUSUM`, `GaussianCUSUM` or a River detector, via
`build_concept_detector`), the class shares against the label prior (`LabelShiftTest`) and the
configured metric floors, and raises ``concept_drift``, ``label_drift`` and ``performance``
alerts through the same `AlertState` machine. Before labels arrive, an
`EstimatedPerformanceMonitor` estimates the same metrics from the scores (CBPE: a
`ScoreCalibration` fitted at registration, a windowed `PerformanceEstimator`) and judges the
floors on the estimate. A `SegmentCoder` turns a declared segment's raw values into bounded codes;
a `FairnessMonitor` per sensitive segment compares its groups and raises ``fairness`` alerts.
Nothing here imports faust, asyncio or a Kafka client.
"""

from __future__ import annotations

from driftline.detectors.alerting import (
    AlertEvent,
    AlertPolicy,
    AlertState,
    AlertWindow,
    Finding,
    Transition,
    dedup_key,
)
from driftline.detectors.binner import ProfileBinner
from driftline.detectors.calibration import Calibration, TailModel, calibrate, fit_tail, per_test_alpha
from driftline.detectors.cbpe import Estimate, PerformanceEstimator, ScoreCalibration, estimate_metrics
from driftline.detectors.concept import ErrorDetector, build_concept_detector
from driftline.detectors.cusum import BernoulliCUSUM, GaussianCUSUM
from driftline.detectors.estimated_performance import EstimatedPerformanceMonitor
from driftline.detectors.fairness import FairnessMonitor, FairnessSettings
from driftline.detectors.histogram import FeatureStatistic, HistogramDriftDetector
from driftline.detectors.label_shift import LabelShiftTest
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.normal_score_cusum import NormalScoreCUSUM
from driftline.detectors.outcomes import METRICS, OutcomeWindow
from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings
from driftline.detectors.quality import DataQualityCheck, QualityResult
from driftline.detectors.reference import SCORE, FeatureReference, ReferenceProfile, build_reference_for
from driftline.detectors.river_adapters import RiverAdapter, RiverSpec
from driftline.detectors.segments import SegmentCoder

__all__ = [
    "METRICS",
    "SCORE",
    "AlertEvent",
    "AlertPolicy",
    "AlertState",
    "AlertWindow",
    "BernoulliCUSUM",
    "Calibration",
    "DataQualityCheck",
    "DriftMonitor",
    "ErrorDetector",
    "Estimate",
    "EstimatedPerformanceMonitor",
    "FairnessMonitor",
    "FairnessSettings",
    "FeatureReference",
    "FeatureStatistic",
    "Finding",
    "GaussianCUSUM",
    "HistogramDriftDetector",
    "LabelShiftTest",
    "MonitorSettings",
    "NormalScoreCUSUM",
    "OutcomeWindow",
    "PerformanceEstimator",
    "PerformanceMonitor",
    "PerformanceSettings",
    "ProfileBinner",
    "QualityResult",
    "ReferenceProfile",
    "RiverAdapter",
    "RiverSpec",
    "ScoreCalibration",
    "SegmentCoder",
    "TailModel",
    "Transition",
    "build_concept_detector",
    "build_reference_for",
    "calibrate",
    "dedup_key",
    "estimate_metrics",
    "fit_tail",
    "per_test_alpha",
]
