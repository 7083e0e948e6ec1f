"""DriftMonitor: what its alerts carry, its snapshot, and its reset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.binner import ProfileBinner
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.reference import ReferenceProfile
from driftline.detectors.river_adapters import RiverSpec
from driftline.models.card import FeatureSpec, ModelCard

CARD = ModelCard(name="toy", version=3, features=(
    FeatureSpec(name="x", type="numeric"),
    FeatureSpec(name="y", type="numeric", nullable=True),
))


@pytest.fixture(scope="module")
def setup() -> tuple[DriftMonitor, ProfileBinner]:
    rng = np.random.default_rng(0)
    profile = ReferenceProfile.build(CARD, {"x": rng.normal(size=20_000), "y": rng.normal(size=20_000)},
                                     scores=rng.random(20_000))
    settings = MonitorSettings(cooldown=0, river=(RiverSpec("ADWIN"),))
    return DriftMonitor(profile, settings), ProfileBinner(profile)


def feed(monitor: DriftMonitor, binner: ProfileBinner, n: int, x_shift: float, y_missing: float, *,
         score_power: float, rng: np.random.Generator) -> list[AlertEvent]:
    x = rng.normal(x_shift, size=n)
    y = np.where(rng.random(n) < y_missing, np.nan, rng.normal(size=n))
    scores = rng.random(n) ** score_power  # power < 1 moves scores up, within the reference range
    return monitor.update(binner.bin_columns({"x": x, "y": y}, scores), n, scores)


def test_alerts_carry_kind_ranked_findings_window_and_keys(setup: tuple[DriftMonitor, ProfileBinner]) -> None:
    monitor, binner = setup
    monitor.reset()
    rng = np.random.default_rng(1)
    events = []
    for i in range(30):
        drifting = i >= 10
        events += feed(monitor, binner, 100, 1.0 * drifting, 0.2 * drifting, score_power=1.0, rng=rng)
    raised = {(e.kind, e.detector): e for e in events if e.type == "raised"}
    drift = raised["data_drift", "histogram.psi"]
    assert drift.findings[0].feature == "x" and drift.findings[0].value > drift.findings[0].threshold
    assert drift.dedup_key == "toy:3:data_drift:histogram.psi"
    assert drift.runbook == "docs/RUNBOOK.md#data-drift"
    assert drift.window.end - drift.window.start == drift.window.events == 500
    assert len(drift.findings[0].current_shares) == len(drift.findings[0].bins)
    assert "x" in drift.summary and drift.severity in ("warning", "critical")
    quality = raised["data_quality", "missing_rate"]
    assert [f.feature for f in quality.findings] == ["y"]


def test_score_shift_is_prediction_drift(setup: tuple[DriftMonitor, ProfileBinner]) -> None:
    monitor, binner = setup
    monitor.reset()
    rng = np.random.default_rng(2)
    events = []
    for i in range(40):
        events += feed(monitor, binner, 100, 0.0, 0.0, score_power=0.6 if i >= 10 else 1.0, rng=rng)
    kinds = {(e.kind, e.detector) for e in events if e.type == "raised"}
    assert ("prediction_drift", "histogram.psi") in kinds and ("prediction_drift", "river.ADWIN") in kinds
    assert all(kind == "prediction_drift" for kind, _ in kinds)


def test_snapshot_is_json_and_reset_starts_over(setup: tuple[DriftMonitor, ProfileBinner]) -> None:
    monitor, binner = setup
    monitor.reset()
    rng = np.random.default_rng(3)
    for _ in range(7):
        feed(monitor, binner, 100, 0.0, 0.0, score_power=1.0, rng=rng)
    snapshot = json.loads(json.dumps(monitor.snapshot()))
    assert snapshot["events"] == 700 and snapshot["evaluations"] == 3
    assert set(snapshot["features"]) == {"x", "y", "__score__"}
    assert snapshot["features"]["x"]["threshold"] > 0 and snapshot["open_alerts"] == []
    monitor.reset()
    assert monitor.snapshot()["events"] == 0
