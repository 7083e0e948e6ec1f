"""Prometheus metrics of a worker, exposed on ``/metrics`` (setting ``metrics_port``).

Counters are updated once per batch, not per event, so exposition costs nothing on the hot path.
Names follow Prometheus conventions (``_total`` counters, base units in seconds).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from driftline.streams.scoring import BatchOutcome

log = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter("driftline_events_consumed_total", "Events read from the events topic")
PREDICTIONS = Counter("driftline_predictions_total", "Predictions published", ["model", "version", "variant"])
SHADOW_PREDICTIONS = Counter("driftline_shadow_predictions_total",
                             "Shadow predictions published (never an answer)", ["model", "version"])
DEAD_LETTERS = Counter("driftline_dead_letters_total", "Events sent to the dead-letter topic", ["code"])
UNSEEN_CATEGORIES = Counter("driftline_unseen_categories_total",
                            "Categorical values scored in the 'other' bucket")
BATCH_SECONDS = Histogram("driftline_batch_seconds", "Time to score, produce and commit one batch",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
BATCH_SIZE = Histogram("driftline_batch_records", "Records per scoring batch",
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
DRIFT_STATISTIC = Gauge("driftline_drift_statistic", "Latest drift statistic of a feature's window",
                        ["model", "version", "feature", "statistic"])
DRIFT_THRESHOLD = Gauge("driftline_drift_threshold", "Calibrated threshold of a feature's statistic",
                        ["model", "version", "feature", "statistic"])
CONSUMER_LAG = Gauge("driftline_consumer_lag",
                     "Events on a partition of the events topic not yet read by this worker "
                     "(high watermark minus position)", ["topic", "partition"])
LABELS = Counter("driftline_labels_total", "Labels by what became of them: joined, duplicate, late, "
                 "unknown, malformed", ["outcome"])
JOIN_PREDICTIONS = Counter("driftline_join_predictions_total",
                           "Predictions the join finished with: joined, expired, duplicate", ["outcome"])
LABELS_ROUTED = Counter("driftline_labels_routed_total",
                        "Labels sent on to the worker holding their prediction's partition")
TRAINING_EXAMPLES = Counter("driftline_training_examples_total", "Joined examples published")
JOIN_PENDING = Gauge("driftline_join_pending_predictions",
                     "Predictions this worker holds waiting for a label")
JOIN_HELD = Gauge("driftline_join_held_labels", "Labels this worker holds waiting for their prediction")
PERFORMANCE = Gauge("driftline_performance", "Realised metric of a model version's last window of labelled "
                    "events", ["model", "version", "variant", "metric"])
PERFORMANCE_FLOOR = Gauge("driftline_performance_floor", "Configured floor (a ceiling for error metrics) "
                          "of a realised or estimated metric", ["model", "version", "variant", "metric"])
ESTIMATED = Gauge("driftline_estimated_performance", "CBPE estimate of a binary model version's metric over "
                  "its last window of predictions, before labels", ["model", "version", "variant", "metric"])
ESTIMATED_LOWER = Gauge("driftline_estimated_performance_lower", "Lower end of the estimate's 95% band",
                        ["model", "version", "variant", "metric"])
ESTIMATED_UPPER = Gauge("driftline_estimated_performance_upper", "Upper end of the estimate's 95% band",
                        ["model", "version", "variant", "metric"])
PERFORMANCE_GAP = Gauge("driftline_performance_gap", "Realised minus estimated metric over the same "
                        "labelled window (far from 0: the calibration no longer holds)",
                        ["model", "version", "variant", "metric"])
SEGMENT_PERFORMANCE = Gauge("driftline_segment_performance", "Realised metric of one group of a declared "
                            "segment over its last window of labelled events",
                            ["model", "version", "variant", "segment", "group", "metric"])
SEGMENT_PREDICTIONS = Counter("driftline_segment_predictions_total", "Binary predictions by group of a "
                              "declared segment and predicted class", ["model", "version", "segment", "group",
                                                                       "predicted"])
FAIRNESS = Gauge("driftline_fairness", "Worst-off judged group's disparity of a sensitive segment "
                 "(a difference of shares, or the ratio for disparate_impact)",
                 ["model", "version", "variant", "segment", "metric"])
FAIRNESS_LIMIT = Gauge("driftline_fairness_limit", "The limit that disparity is held to",
                       ["model", "version", "variant", "segment", "metric"])
# The limit alone is no verdict: the largest of several noisy shares crosses it by chance (a fair
# model's small groups, in most windows). The monitor's z test is, so the rules read it too.
FAIRNESS_Z = Gauge("driftline_fairness_z", "z statistic of 'that disparity is within its limit' (past "
                   "its limit beyond noise above driftline_fairness_critical_z)",
                   ["model", "version", "variant", "segment", "metric"])
FAIRNESS_CRITICAL_Z = Gauge("driftline_fairness_critical_z", "The z the fairness monitor's false-alarm "
                            "budget sets", ["model", "version", "variant", "segment", "metric"])
MODEL_UPDATE_FAILURES = Counter("driftline_model_update_failures_total",
                                "model-updates records this worker could not apply (it kept its model)")
MODEL_INFO = Gauge("driftline_model_served", "1 for each model version this worker serves, by role "
                   "(champion, canary, shadow)", ["model", "version", "sha256", "role"])
#: The label sets set per model, so a new plan replaces the old one's series.
_SERVED: dict[str, list[tuple[str, str, str, str]]] = {}


def record_served(name: str, versions: list[tuple[int, str, str]]) -> None:
    """The versions of ``name`` this worker serves now, as (version, sha256, role)."""
    for labels in _SERVED.pop(name, []):
        with contextlib.suppress(KeyError):
            MODEL_INFO.remove(*labels)
    _SERVED[name] = [(name, str(version), sha256, role) for version, sha256, role in versions]
    for labels in _SERVED[name]:
        MODEL_INFO.labels(*labels).set(1)


def record_batch(outcome: BatchOutcome, consumed: int, seconds: float) -> None:
    EVENTS_CONSUMED.inc(consumed)
    for (model, version, variant), n in outcome.predictions_by_model.items():
        PREDICTIONS.labels(model, str(version), variant).inc(n)
    for (model, version), n in outcome.shadow_predictions.items():
        SHADOW_PREDICTIONS.labels(model, str(version)).inc(n)
    for code, n in outcome.dead_letters.items():
        DEAD_LETTERS.labels(code).inc(n)
    UNSEEN_CATEGORIES.inc(outcome.unseen_categories)
    BATCH_SECONDS.observe(seconds)
    BATCH_SIZE.observe(consumed)


def record_lag(lags: Mapping[tuple[str, int], int]) -> None:
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)


def forget_lag(partitions: Iterable[tuple[str, int]]) -> None:
    """Drop the series of partitions this worker no longer owns: their new owner reports them."""
    for topic, partition in partitions:
        with contextlib.suppress(KeyError):  # never reported: nothing to drop
            CONSUMER_LAG.remove(topic, str(partition))


def record_join(labels: Mapping[str, int], predictions: Mapping[str, int], training_examples: int, *,
                routed: int, pending: int, held: int) -> None:
    for outcome, n in labels.items():
        LABELS.labels(outcome).inc(n)
    for outcome, n in predictions.items():
        JOIN_PREDICTIONS.labels(outcome).inc(n)
    TRAINING_EXAMPLES.inc(training_examples)
    LABELS_ROUTED.inc(routed)
    JOIN_PENDING.set(pending)
    JOIN_HELD.set(held)


def forget_performance(monitors: Iterable[tuple[str, int, str]]) -> None:
    """Drop every series of these (model, version, variant): another worker judges them now."""
    gone = {(model, str(version), variant) for model, version, variant in monitors}
    for gauge in (PERFORMANCE, PERFORMANCE_FLOOR, *_JUDGED_PER_VARIANT):
        names = gauge._labelnames  # the label order `remove` takes
        series = {tuple(s.labels[name] for name in names)
                  for family in gauge.collect() for s in family.samples}
        for labels in series:
            if labels[:3] in gone:
                gauge.remove(*labels)


def record_performance(snapshot: Mapping[str, Any], floors: Mapping[str, float]) -> None:
    """Export a performance snapshot's windowed metrics (and the floors they are held to)."""
    labels = (str(snapshot["model"]), str(snapshot["version"]), str(snapshot["variant"]))
    for metric, value in (snapshot.get("metrics") or {}).items():
        if value is not None:
            PERFORMANCE.labels(*labels, metric).set(value)
        if metric in floors:
            PERFORMANCE_FLOOR.labels(*labels, metric).set(floors[metric])


def record_drift(snapshot: dict[str, Any]) -> None:
    """Export a monitor snapshot's per-feature statistics as gauges."""
    model, version = str(snapshot["model"]), str(snapshot["version"])
    for feature, row in snapshot.get("features", {}).items():
        labels = (model, version, str(feature), str(row["statistic"]))
        if row.get("value") is not None:
            DRIFT_STATISTIC.labels(*labels).set(row["value"])
        if row.get("threshold") is not None:
            DRIFT_THRESHOLD.labels(*labels).set(row["threshold"])


#: Series of the performance agent's estimates, segments and fairness, per model version and variant.
_JUDGED_PER_VARIANT = (ESTIMATED, ESTIMATED_LOWER, ESTIMATED_UPPER, PERFORMANCE_GAP, SEGMENT_PERFORMANCE,
                       FAIRNESS, FAIRNESS_LIMIT, FAIRNESS_Z, FAIRNESS_CRITICAL_Z)
#: What a fairness metric exports only while it is judged (a group below min_samples: not judged).
_FAIRNESS_VERDICT = ((FAIRNESS, "value"), (FAIRNESS_Z, "z"), (FAIRNESS_CRITICAL_Z, "critical_z"))


def record_segment_predictions(counts: Mapping[tuple[str, int, str, str, int], int]) -> None:
    """Count binary predictions by segment group (labels: declared names, ``other``, ``missing``)."""
    for (model, version, segment, group, predicted), n in counts.items():
        SEGMENT_PREDICTIONS.labels(model, str(version), segment, group, str(predicted)).inc(n)


def record_estimates(snapshot: Mapping[str, Any]) -> None:
    """Export an estimated-performance snapshot: estimates, their bands, the gap to the realised values,
    and the floors (exported here too: the estimate matters before any label, hence any realised value)."""
    labels = (str(snapshot["model"]), str(snapshot["version"]), str(snapshot["variant"]))
    for metric, floor in (snapshot.get("floors") or {}).items():
        PERFORMANCE_FLOOR.labels(*labels, metric).set(floor)
    for metric, estimate in (snapshot.get("estimated") or {}).items():
        if estimate is not None:
            ESTIMATED.labels(*labels, metric).set(estimate["value"])
            ESTIMATED_LOWER.labels(*labels, metric).set(estimate["lower"])
            ESTIMATED_UPPER.labels(*labels, metric).set(estimate["upper"])
    for metric, gap in (snapshot.get("gap") or {}).items():
        if gap is not None:
            PERFORMANCE_GAP.labels(*labels, metric).set(gap)


def record_segments(snapshot: Mapping[str, Any]) -> None:
    """Export a segments snapshot: realised metrics per group, and each fairness metric's worst group."""
    labels = (str(snapshot["model"]), str(snapshot["version"]), str(snapshot["variant"]))
    for segment, groups in (snapshot.get("performance") or {}).items():
        for group, metrics in groups.items():
            for metric, value in metrics.items():
                if value is not None:
                    SEGMENT_PERFORMANCE.labels(*labels, segment, group, metric).set(value)
    for segment, judged in (snapshot.get("fairness") or {}).items():
        for metric, row in judged.items():
            FAIRNESS_LIMIT.labels(*labels, segment, metric).set(row["limit"])
            for gauge, field in _FAIRNESS_VERDICT:
                if row.get("judged"):
                    gauge.labels(*labels, segment, metric).set(row[field])
                else:  # a stale verdict would keep a rule firing on a group no longer judged
                    with contextlib.suppress(KeyError):
                        gauge.remove(*labels, segment, metric)
