"""Estimated floors: an alert of its own, marked estimated, that resolves when the estimate recovers."""

from __future__ import annotations

import numpy as np

from driftline.detectors.cbpe import ScoreCalibration
from driftline.detectors.estimated_performance import EstimatedPerformanceMonitor
from driftline.detectors.performance import PerformanceSettings

CALIBRATION = ScoreCalibration(edges=(0.3, 0.5, 0.7), probabilities=(0.05, 0.4, 0.6, 0.95),
                               counts=(1, 1, 1, 1))


def test_raise_and_resolve_on_the_estimate() -> None:
    settings = PerformanceSettings(window_size=1000, evaluate_every=200,
                                   floors={"accuracy": 0.75, "mae": 1.0}, resolve_after=2, cooldown=0)
    monitor = EstimatedPerformanceMonitor("toy", 3, "canary", CALIBRATION, settings)
    assert monitor.floor_names == ("accuracy",)  # a regression floor is not estimated
    confident, unsure = np.tile([0.1, 0.9], 500), np.full(1000, 0.55)
    events = monitor.update(confident) + monitor.update(unsure) + monitor.update(confident)
    kinds = [(e.type, e.kind, e.detector, e.findings[0].statistic, e.variant) for e in events]
    assert kinds[0] == ("raised", "performance", "cbpe", "estimated", "canary")
    assert kinds[-1][0] == "resolved"
    assert events[0].dedup_key == "toy:3:canary:performance:cbpe"
    assert "estimated accuracy 0.74 < 0.75" in events[0].summary
    snapshot = monitor.snapshot()
    assert snapshot["estimated"]["accuracy"]["value"] == 0.95 and snapshot["open_alerts"] == []


def test_a_full_window_is_judged_after_two_windows_with_floors_or_without() -> None:
    for floors in ({"accuracy": 0.75}, {}):
        settings = PerformanceSettings(window_size=1000, evaluate_every=200, floors=floors)
        monitor = EstimatedPerformanceMonitor("toy", 3, "champion", CALIBRATION, settings)
        monitor.update(np.full(1999, 0.9))
        assert not monitor.judged_a_full_window and monitor.n_evaluations == 5
        monitor.update([0.9])  # the first full window, then a window more: what a new owner waits for
        assert monitor.judged_a_full_window and not monitor.is_open
