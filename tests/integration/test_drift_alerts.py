"""Drift end to end: two workers share an events topic, one monitor judges their merged counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.synthetic import Drift, MeanShift, SyntheticStream
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    drift_snapshots,
    isolated_settings,
    send_all,
    wait_for_group,
)

DRIFTING = "customer_age_years"
DRIFT_STARTS = 3000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, drift_flush_ms=100,
                             metrics_snapshot_ms=1000)


def phases() -> list[dict[str, Any]]:
    """3,000 reference events, 3,000 with a +3 sigma shift of one feature, 6,000 reference again."""
    shifted = SyntheticStream(seed=41, drift=Drift(start=DRIFT_STARTS, mean_shift=MeanShift(DRIFTING, 3.0)))
    return shifted.rows(6000) + SyntheticStream(seed=42).rows(6000)


async def send_paced(settings: Settings, rows: list[dict[str, Any]], *, per_second: int,
                     mark: int) -> datetime:
    """Offer the events at a steady rate, so the monitor sees many small deltas as in production.

    Returns the wall-clock time just before the event at index ``mark`` was sent: nothing the
    monitor says before then can be caused by that event or any later one.
    """
    step = per_second // 10
    marked = datetime.max.replace(tzinfo=UTC)
    for start in range(0, len(rows), step):
        if start <= mark < start + step:
            marked = datetime.now(UTC)
        records = [(f"e{i}".encode(), orjson.dumps({"id": f"e{i}", "features": row}))
                   for i, row in enumerate(rows[start:start + step], start=start)]
        await send_all(settings.broker, settings.topic_events, records)
        await asyncio.sleep(0.1)  # pacing, not synchronisation: every send above was acknowledged
    return marked


def raised_at(alert: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(alert["time"])


def alerts_of(reader: TopicReader, settings: Settings, kind: str) -> list[dict[str, Any]]:
    envelopes = [value for _, value in reader.records[settings.topic_alerts]]
    return [e for e in envelopes if e["data"]["kind"] == kind]  # type: ignore[index]


async def test_two_workers_raise_one_drift_alert_and_resolve_it(settings: Settings,
                                                                workers: list[WorkerProcess]) -> None:
    await ensure_topics(settings)
    for worker in workers:
        worker.start()

    def alive() -> None:
        for worker in workers:
            worker.assert_alive()

    await wait_for_group(settings.broker, settings.group_id, 2, timeout=90, alive=alive)
    await wait_for_group(settings.broker, f"{settings.group_id}-monitor", 2, timeout=90, alive=alive)
    rows = phases()
    async with TopicReader(settings.broker, (settings.topic_alerts, settings.topic_predictions,
                                             settings.topic_metrics)) as out:
        drift_began = await send_paced(settings, rows, per_second=2000, mark=DRIFT_STARTS)
        await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= len(rows) and any(
            a["type"].endswith("resolved") and a["data"]["detector"] == "histogram.psi"
            for a in alerts_of(r, settings, "data_drift")),
            timeout=180, alive=alive)
        drift = alerts_of(out, settings, "data_drift")
        snapshots = drift_snapshots(out, settings.topic_metrics)

    # Two detectors watch the shape and the location of every feature: one alert stream each.
    location = [a for a in drift if a["data"]["detector"] == "cusum.location"]
    assert [a["type"] for a in location][:1] == ["io.driftline.alert.raised"]
    assert location[0]["data"]["feature"] == DRIFTING
    # No alert before the drift began. Not judged by the window's end: that counts events in the
    # order the two workers' deltas reach the monitor, so a lagging worker's stationary events
    # can be counted after the other's drifted ones.
    assert raised_at(location[0]) >= drift_began, (location[0]["time"], drift_began)
    drift = [a for a in drift if a["data"]["detector"] == "histogram.psi"]
    raised = [a for a in drift if a["type"] == "io.driftline.alert.raised"]
    resolved = [a for a in drift if a["type"] == "io.driftline.alert.resolved"]
    assert len(raised) == 1, [a["data"]["summary"] for a in drift]
    assert len(resolved) == 1
    alert = raised[0]["data"]
    assert alert["feature"] == DRIFTING and alert["features"][0]["feature"] == DRIFTING
    assert alert["model"] == "card-fraud" and alert["version"] == 1
    assert alert["value"] > alert["threshold"]
    assert raised_at(raised[0]) >= drift_began, (raised[0]["time"], drift_began)
    assert alert["window"]["end"] <= 4500, alert["window"]
    assert alert["window"]["events"] == 500
    assert resolved[0]["data"]["dedup_key"] == alert["dedup_key"]
    assert drift.index(resolved[0]) > drift.index(raised[0])
    # Drift statistics reach the metrics topic too: one monitor's snapshots, every feature in them.
    assert snapshots and {(s["model"], s["version"]) for s in snapshots} == {("card-fraud", 1)}
    assert DRIFTING in snapshots[-1]["features"] and len(snapshots[-1]["features"]) == 21
