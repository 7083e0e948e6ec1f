"""The streams wiring of estimated performance, segments and fairness, without a broker: the score
path's predictions outbox, its records decoded by the performance agent's books, the gauges."""

from __future__ import annotations

import logging
from typing import Any, cast

import numpy as np
import orjson
import pytest

from driftline.detectors.cbpe import ScoreCalibration
from driftline.detectors.fairness import FairnessSettings
from driftline.detectors.performance import PerformanceSettings
from driftline.models.card import FeatureSpec, ModelCard, ModelOutput
from driftline.models.registry import Registry
from driftline.models.runtime import Prediction
from driftline.models.segments import SegmentSpec
from driftline.streams.estimates import EstimateBook
from driftline.streams.metrics import (
    FAIRNESS,
    FAIRNESS_CRITICAL_Z,
    FAIRNESS_Z,
    PERFORMANCE_FLOOR,
    SEGMENT_PERFORMANCE,
    record_estimates,
    record_segments,
)
from driftline.streams.prediction_outbox import PredictionOutbox, decode_predictions
from driftline.streams.segment_book import SegmentBook, fairness_settings
from driftline.streams.segments import CardSegments, GroupIndex, decode_wire
from driftline.streams.settings import Settings, SettingsError

MARKER = "MARKER-7f3a"
REGION = SegmentSpec(name="region", source="attributes.region", sensitive=True, values=("north", "south"))
DEVICE = SegmentSpec(name="device", source="attributes.device", max_values=2)
CARD = ModelCard(name="loans", version=1, features=(FeatureSpec(name="x", type="numeric"),),
                 output=ModelOutput(task="binary"), segments=(REGION, DEVICE))
CALIBRATION = ScoreCalibration(edges=(0.5,), probabilities=(0.1, 0.9), counts=(500, 500))


class StubRegistry:
    """The two registry reads the books make."""

    def __init__(self, card: ModelCard, reference: dict[str, Any] | None) -> None:
        self._card, self._reference = card, reference

    def card(self, name: str, version: int | None = None) -> ModelCard:
        return self._card

    def reference(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        return self._reference


def registry(reference: dict[str, Any] | None = None) -> Registry:
    return cast(Registry, StubRegistry(CARD, reference))


def planted(n: int, seed: int, *, south_rate: float) -> tuple[list[dict[str, Any]], Prediction]:
    """Events of three regions (one an undeclared marker value), south predicted positive less often."""
    rng = np.random.default_rng(seed)
    regions = rng.choice(["north", "south", MARKER], n)
    rate = np.where(regions == "south", south_rate, 0.3)
    positive = rng.random(n) < rate
    scores = np.where(positive, 0.75, 0.25)
    attributes = [{"region": str(r), "device": f"{MARKER}-d{i % 3}"} for i, r in enumerate(regions)]
    return attributes, Prediction(scores=scores, labels=positive.astype(np.int64),
                                  probabilities=np.column_stack([1 - scores, scores]))


def test_a_planted_disparity_on_predictions_raises_a_fairness_alert_naming_declared_groups() -> None:
    outbox = PredictionOutbox(0.0)
    fairness = FairnessSettings(window_size=4000, evaluate_every=1000, min_samples=300,
                                limits={"demographic_parity": 0.1, "disparate_impact": 0.8})
    book = SegmentBook(100, fairness, registry())
    raised, wire = [], b""
    for batch in range(12):
        attributes, prediction = planted(1000, batch, south_rate=0.3 if batch < 5 else 0.1)
        outbox.add(CARD, 1, "champion", attributes=attributes, features=[None] * 1000, prediction=prediction)
        for _key, value in outbox.drain():
            wire += value
            raised += [e for e in book.feed_predictions(decode_predictions(orjson.loads(value)))
                       if e.type == "raised"]
    assert MARKER not in wire.decode()
    assert len(raised) == 1 and raised[0].kind == "fairness"
    top = raised[0].findings[0]
    assert top.feature == "region=south" and top.bins == ("south", "north")
    assert raised[0].dedup_key == "loans:1:champion:fairness:segments.region"
    assert MARKER not in orjson.dumps([e.summary for e in raised]).decode()
    counts = outbox.take_counts()
    assert {group for (_, _, segment, group, _) in counts if segment == "device"} <= {
        f"{MARKER}-d0", f"{MARKER}-d1", "other"}  # an undeclared, non-sensitive segment: bounded
    regions = {group for (_, _, segment, group, _) in counts if segment == "region"}
    assert regions == {"north", "south", "other"}


def test_labelled_outcomes_give_per_group_metrics_and_labelled_fairness() -> None:
    fairness = FairnessSettings(window_size=2000, evaluate_every=500, min_samples=200)
    book = SegmentBook(500, fairness, registry())
    segments = CardSegments(CARD.segments)
    rng = np.random.default_rng(5)
    raised = []
    for _ in range(8):
        regions = rng.choice(["north", "south", MARKER], 1000)
        y_true = rng.integers(0, 2, 1000)
        # south's positives are missed: its recall collapses, everything else is right.
        y_pred = np.where((regions == "south") & (y_true == 1) & (rng.random(1000) < 0.6), 0, y_true)
        codes = segments.codes([{"region": r} for r in regions.tolist()], [None] * 1000, names=["region"])
        raised += [e for e in book.feed_outcomes({
            "model": "loans", "version": 1, "variant": "champion", "task": "binary",
            "y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "score": None,
            "segments": segments.wire(codes)}) if e.type == "raised"]
    assert [e.dedup_key for e in raised] == ["loans:1:champion:fairness:segments.region.labelled"]
    assert raised[0].findings[0].statistic == "equal_opportunity"
    snapshot = book.snapshots()[0]
    assert set(snapshot["performance"]["region"]) == {"north", "south", "other"}
    assert snapshot["performance"]["region"]["north"]["accuracy"] == 1.0
    record_segments(snapshot)
    exported = {s.labels["group"] for family in SEGMENT_PERFORMANCE.collect() for s in family.samples
                if s.labels["model"] == "loans"}
    assert exported == {"north", "south", "other"}
    assert any(s.labels["metric"] == "equal_opportunity"
               for family in FAIRNESS.collect() for s in family.samples)


def test_codes_travel_with_their_labels_between_workers() -> None:
    sender, receiver = CardSegments((DEVICE,)), GroupIndex(DEVICE)
    receiver.local(np.array([0]), {0: "tv"})  # the receiver learnt "tv" first, from another worker
    codes = sender.codes([{"device": d} for d in ("ios", "web", "tv", None)], [None] * 4)
    (received, labels), = decode_wire(sender.wire(codes), 4).values()
    local = receiver.local(received, labels)
    # The sender knew ios and web (tv was its "other"); the receiver, bounded at two, knew tv and
    # learns ios: labels, not codes, decide, and the bound holds on both sides.
    assert [receiver.coder.label(c) for c in local.tolist()] == ["ios", "other", "other", "missing"]
    with pytest.raises(ValueError, match="codes"):
        decode_wire(sender.wire(codes), 5)


def test_the_estimate_follows_the_calibration_and_the_gap_compares_the_labelled_window(
        caplog: pytest.LogCaptureFixture) -> None:
    settings = PerformanceSettings(window_size=400, evaluate_every=100)
    book = EstimateBook(settings, registry({"format": "missing"}))
    with caplog.at_level(logging.INFO):
        attributes, prediction = planted(400, 1, south_rate=0.3)
        outbox = PredictionOutbox(0.0)
        outbox.add(CARD, 1, "champion", attributes=attributes, features=[None] * 400, prediction=prediction)
        batch = decode_predictions(orjson.loads(outbox.drain()[0][1]))
        assert book.feed_predictions(batch) == [] and book.feed_predictions(batch) == []
    assert book.snapshots({}) == []
    assert sum("could not be read" in r.getMessage() for r in caplog.records) == 1  # once, not per record

    book = EstimateBook(settings, registry(None))
    book._calibrations["loans", 1] = CALIBRATION  # as read from a profile with a calibration
    book.feed_predictions(batch)
    book.feed_outcomes({"model": "loans", "version": 1, "variant": "champion", "task": "binary",
                        "y_true": [1, 0] * 200, "y_pred": [1, 0] * 200, "score": [0.9, 0.1] * 200})
    snapshot, = book.snapshots({("loans", 1, "champion"): {"accuracy": 1.0}})
    assert snapshot["estimated"]["accuracy"]["value"] == pytest.approx(0.9)
    assert snapshot["gap"]["accuracy"] == pytest.approx(0.1)


def test_fairness_limits_come_from_settings() -> None:
    limits = fairness_settings(Settings(fairness_limits=("disparate_impact=0.75",))).limits
    assert limits["disparate_impact"] == 0.75
    with pytest.raises(SettingsError, match="fairness_limits"):
        fairness_settings(Settings(fairness_limits=("parity=0.1",)))


def exported(gauge: Any, model: str) -> dict[str, float]:
    return {s.labels["metric"]: s.value for family in gauge.collect() for s in family.samples
            if s.labels["model"] == model}


def test_a_fairness_verdict_is_exported_while_judged_and_dropped_when_not() -> None:
    """What the Prometheus rule DriftlineFairnessPastLimit reads: value, z and critical z together."""
    judged = {"judged": True, "limit": 0.8, "group": "south", "best": "north", "value": 0.6, "z": 9.0,
              "critical_z": 5.5, "samples": 800, "best_samples": 900}
    snapshot = {"model": "verdicts", "version": 1, "variant": "champion", "performance": {},
                "fairness": {"region": {"disparate_impact": judged}}}
    record_segments(snapshot)
    assert exported(FAIRNESS, "verdicts") == {"disparate_impact": 0.6}
    assert exported(FAIRNESS_Z, "verdicts") == {"disparate_impact": 9.0}
    assert exported(FAIRNESS_CRITICAL_Z, "verdicts") == {"disparate_impact": 5.5}
    # The south fell below min_samples: no verdict, so no stale one for a rule to keep firing on.
    snapshot["fairness"] = {"region": {"disparate_impact": {"judged": False, "limit": 0.8}}}
    record_segments(snapshot)
    assert exported(FAIRNESS, "verdicts") == exported(FAIRNESS_Z, "verdicts") == {}
    assert exported(FAIRNESS_CRITICAL_Z, "verdicts") == {}


def test_the_monitor_judges_with_the_critical_z_it_exports() -> None:
    fairness = FairnessSettings(window_size=2000, evaluate_every=500, min_samples=200)
    book = SegmentBook(500, fairness, registry())
    attributes, prediction = planted(2000, 7, south_rate=0.1)
    outbox = PredictionOutbox(0.0)
    outbox.add(CARD, 1, "champion", attributes=attributes, features=[None] * 2000, prediction=prediction)
    events = book.feed_predictions(decode_predictions(orjson.loads(outbox.drain()[0][1])))
    row = book.snapshots()[0]["fairness"]["region"]["disparate_impact"]
    monitor = book.alert_streams("loans")[0]
    assert row["judged"] and row["critical_z"] == monitor.critical_z
    assert row["z"] > row["critical_z"] and monitor.is_open and [e.type for e in events] == ["raised"]


def test_the_estimate_exports_its_floors_before_any_label() -> None:
    record_estimates({"model": "unlabelled", "version": 1, "variant": "champion",
                      "estimated": {"accuracy": {"value": 0.7, "lower": 0.68, "upper": 0.72}},
                      "floors": {"accuracy": 0.8}})
    assert exported(PERFORMANCE_FLOOR, "unlabelled") == {"accuracy": 0.8}
