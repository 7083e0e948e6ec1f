"""PerformanceMonitor: evaluations counted in events, label drift, floors, alerts and snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.bench_concept import concept_stream
from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings


def labelled(seed: int, n: int, positive_share: float, error_rate: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = (rng.random(n) < positive_share).astype(np.int64)
    wrong = rng.random(n) < error_rate
    return y_true, np.where(wrong, 1 - y_true, y_true)


def feed(monitor: PerformanceMonitor, y_true: np.ndarray, y_pred: np.ndarray, batch: int,
         score: np.ndarray | None = None) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for start in range(0, y_true.size, batch):
        part = slice(start, start + batch)
        events += monitor.update(y_true[part], y_pred[part], None if score is None else score[part])
    return events


def summary(events: list[AlertEvent]) -> list[tuple[str, str, int]]:
    return [(e.type, e.kind, e.window.end) for e in events]


def test_a_big_batch_triggers_every_evaluation_inside_it() -> None:
    outcomes = concept_stream(3, 12_000, 4000)
    settings = PerformanceSettings(target_arl=1e6, floors={"accuracy": 0.83}, cooldown=0)
    runs = []
    for batch in (50, 137, 5000, 12_000):
        monitor = PerformanceMonitor("m", 2, "canary", "binary", settings, label_prior={"0": 500, "1": 500})
        runs.append(summary(feed(monitor, outcomes.y_true, outcomes.y_pred, batch, outcomes.score)))
        assert monitor.snapshot()["evaluations"] == 12_000 // 200
    assert runs[0] and all(run == runs[0] for run in runs)
    assert runs[0] == [("raised", "concept_drift", 4592), ("raised", "performance", 4800)]
    assert {kind for _, kind, _ in runs[0]} == {"concept_drift", "performance"}


def test_label_prior_of_ten_percent_met_raises_nothing_over_a_long_run() -> None:
    monitor = PerformanceMonitor("m", 1, "champion", "binary", label_prior={"0": 9000, "1": 1000})
    y_true, y_pred = labelled(1, 400_000, 0.10, 0.1)
    events = feed(monitor, y_true, y_pred, 2000)
    assert [e for e in events if e.kind == "label_drift"] == []
    labels = monitor.snapshot()["labels"]
    assert labels["checked"] and labels["statistic"] < labels["threshold"]


def test_label_share_of_twenty_percent_against_a_ten_percent_prior_raises_label_drift() -> None:
    monitor = PerformanceMonitor("m", 1, "champion", "binary", label_prior={"0": 9000, "1": 1000})
    y_true, y_pred = labelled(2, 3000, 0.20, 0.1)
    events = [e for e in feed(monitor, y_true, y_pred, 100) if e.kind == "label_drift"]
    assert [(e.type, e.window.end) for e in events] == [("raised", 1000)]  # the first full window
    alert = events[0]
    assert alert.dedup_key == "m:1:champion:label_drift:labels.g_test"
    assert alert.runbook == "docs/RUNBOOK.md#label-drift" and "class 1 share" in alert.summary
    finding = alert.findings[0]
    assert finding.bins == ("0", "1") and finding.reference_shares[1] == pytest.approx(0.1, abs=1e-3)
    assert finding.current_shares[1] == pytest.approx(y_true[:1000].mean())


def test_floors_and_ceilings_raise_and_resolve_with_hysteresis() -> None:
    settings = PerformanceSettings(floors={"accuracy": 0.85, "brier": 0.2}, cooldown=0)
    monitor = PerformanceMonitor("m", 1, "champion", "binary", settings)
    rng = np.random.default_rng(4)
    good, bad = labelled(5, 3000, 0.5, 0.05), labelled(6, 2000, 0.5, 0.3)
    y_true = np.concatenate([good[0], bad[0], good[0]])
    y_pred = np.concatenate([good[1], bad[1], good[1]])
    score = np.clip(np.where(y_pred == 1, 0.8, 0.2) + rng.normal(0, 0.05, y_true.size), 0, 1)
    events = [e for e in feed(monitor, y_true, y_pred, 300, score) if e.kind == "performance"]
    assert events[0].type == "raised" and events[-1].type == "resolved"
    raised = events[0]
    assert raised.findings[0].feature in ("accuracy", "brier") and raised.runbook.endswith("#performance")
    assert raised.dedup_key == "m:1:champion:performance:floors"
    assert 3000 < raised.window.end <= 4000 and events[-1].window.end > 5000
    for finding in raised.findings:
        if finding.feature == "brier":
            assert finding.value > finding.threshold, finding
        else:
            assert finding.value < finding.threshold, finding


def test_floors_wait_for_a_full_window() -> None:
    monitor = PerformanceMonitor("m", 1, "champion", "binary", PerformanceSettings(floors={"accuracy": 0.99}))
    y_true, y_pred = labelled(7, 999, 0.5, 0.3)
    assert monitor.update(y_true, y_pred) == []  # evaluations at 200, ..., 800 judge no floor
    assert [(e.type, e.kind, e.window.events) for e in monitor.update([1], [1])] == [
        ("raised", "performance", 1000)]


def test_concept_drift_alert_names_variant_baseline_and_runbook() -> None:
    outcomes = concept_stream(0, 10_000, 5000)
    monitor = PerformanceMonitor("fraud", 7, "canary", "binary", PerformanceSettings(target_arl=1e6))
    events = feed(monitor, outcomes.y_true, outcomes.y_pred, 1000)
    raised = [e for e in events if e.type == "raised"]
    assert [(e.kind, e.window.end) for e in raised] == [("concept_drift", 5293)]
    alert = raised[0]
    assert alert.dedup_key == "fraud:7:canary:concept_drift:cusum.bernoulli" and alert.variant == "canary"
    assert alert.runbook == "docs/RUNBOOK.md#concept-drift"
    assert "baseline 0.1" in alert.summary and "canary" in alert.summary
    assert monitor.open_alerts() == ["fraud:7:canary:concept_drift:cusum.bernoulli"]


def test_snapshot_is_json_and_says_when_labels_are_not_checked() -> None:
    settings = PerformanceSettings(floors={"roc_auc": 0.7})
    monitor = PerformanceMonitor("m", None, "champion", "binary", settings)
    empty = json.loads(json.dumps(monitor.snapshot(), allow_nan=False))
    assert empty["labels"] == {"checked": False, "reason": "no label prior"}
    assert empty["metrics"]["accuracy"] is None and empty["concept"]["threshold"] is None
    outcomes = concept_stream(1, 1500)
    monitor.update(outcomes.y_true, outcomes.y_pred, outcomes.score)
    snapshot = json.loads(json.dumps(monitor.snapshot(), allow_nan=False))
    assert (snapshot["labelled"], snapshot["window"], snapshot["variant"]) == (1500, 1000, "champion")
    assert list(snapshot["metrics"]) == ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss",
                                         "brier"]
    assert snapshot["concept"]["detector"] == "cusum.bernoulli" and snapshot["concept"]["baseline"] > 0.05
    assert snapshot["floors"] == {"roc_auc": {"limit": 0.7, "kind": "floor"}}


def test_regression_monitor_watches_absolute_errors() -> None:
    rng = np.random.default_rng(8)
    y_true = rng.normal(size=8000)
    y_pred = y_true + np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 1.5, 3000)])
    settings = PerformanceSettings(target_arl=1e6, floors={"mae": 1.0, "accuracy": 0.9})  # binary's ignored
    monitor = PerformanceMonitor("r", 1, "champion", "regression", settings, label_prior={"1.5": 3})
    events = feed(monitor, y_true, y_pred, 400)
    raised = [(e.kind, e.detector) for e in events if e.type == "raised"]
    assert raised == [("concept_drift", "cusum.gaussian"), ("performance", "floors")]
    snapshot = monitor.snapshot()
    assert snapshot["labels"] == {"checked": False, "reason": "regression has no label prior"}
    assert snapshot["floors"] == {"mae": {"limit": 1.0, "kind": "ceiling"}}


def test_river_detectors_can_be_named() -> None:
    outcomes = concept_stream(0, 10_000, 5000)
    monitor = PerformanceMonitor("m", 1, "champion", "binary", PerformanceSettings(concept_detector="ADWIN"))
    raised = [e for e in feed(monitor, outcomes.y_true, outcomes.y_pred, 500) if e.type == "raised"]
    assert [(e.detector, e.window.end > 5000) for e in raised] == [("river.ADWIN", True)]


def test_bad_input_fails_loudly() -> None:
    with pytest.raises(ValueError, match="no metric"):
        PerformanceMonitor("m", 1, "champion", "binary", PerformanceSettings(floors={"auc": 0.7}))
    with pytest.raises(ValueError, match="0/1 errors"):
        PerformanceMonitor("m", 1, "champion", "regression", PerformanceSettings(concept_detector="DDM"))
    monitor = PerformanceMonitor("m", 1, "champion", "binary")
    with pytest.raises(ValueError, match="classes 0 and 1"):
        monitor.update([0, 2], [0, 1])
    with pytest.raises(ValueError, match="one value per outcome"):
        monitor.update([0, 1], [0])
