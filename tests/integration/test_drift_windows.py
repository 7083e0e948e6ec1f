"""Drift windows at a high per-worker rate: a backlog scored flat out, flushed once a second.

One worker drains a preloaded backlog of 12,000 events in batches of up to 2,000 and publishes
its bin codes every second, so each drift record carries thousands of events -- the regime where
count deltas made a 500-event window of several thousand events. The monitor must still judge
windows of exactly ``drift_window_size`` events every ``window / sub_windows`` events, and keep
sending snapshots once the backlog is done and traffic has stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from driftline.models.synthetic import Drift, MeanShift, SyntheticStream
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, drift_snapshots, isolated_settings, send_all

DRIFTING = "customer_age_years"
EVENTS = 12_000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, drift_flush_ms=1000,
                             batch_max_records=2000, metrics_snapshot_ms=500, topic_partitions=1)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


def events() -> list[tuple[bytes, bytes]]:
    rows = SyntheticStream(seed=43, drift=Drift(start=6000, mean_shift=MeanShift(DRIFTING, 3.0))).rows(EVENTS)
    return [(f"e{i}".encode(), orjson.dumps({"id": f"e{i}", "features": row})) for i, row in enumerate(rows)]


def record_sizes(reader: TopicReader, settings: Settings) -> list[int]:
    """Events per drift record, checked against the codes it carries."""
    sizes = []
    for _, record in reader.records[settings.topic_drift_counts]:
        assert record["format"] == 3
        raw = record["codes"]
        assert len(raw) == int(record["events"]) * int(record["rows"])  # type: ignore[arg-type, call-overload]
        sizes.append(int(record["events"]))  # type: ignore[call-overload]
    return sizes


async def test_windows_hold_the_configured_events_at_a_high_per_worker_rate(settings: Settings,
                                                                            worker: WorkerProcess) -> None:
    await ensure_topics(settings)
    await send_all(settings.broker, settings.topic_events, events())  # a backlog, before the worker
    worker.start()
    topics = (settings.topic_alerts, settings.topic_metrics, settings.topic_predictions,
              settings.topic_drift_counts)
    async with TopicReader(settings.broker, topics) as out:
        def done_and_idle(r: TopicReader) -> bool:
            snapshots = drift_snapshots(r, settings.topic_metrics)
            idle = [s for s in snapshots if s["events"] == EVENTS]
            return len(r.records[settings.topic_predictions]) >= EVENTS and len(idle) >= 3

        await out.read_until(done_and_idle, timeout=180, alive=worker.assert_alive)
        sizes = record_sizes(out, settings)
        alerts = [value["data"] for _, value in out.records[settings.topic_alerts]]
        snapshots = drift_snapshots(out, settings.topic_metrics)

    assert sum(sizes) == EVENTS and max(sizes) > 1000, sizes  # the regime: records of thousands of events
    for snapshot in snapshots:
        window = snapshot["window"]
        if snapshot["evaluations"]:
            assert window["events"] == 500 and window["end"] % 100 == 0, window
    final = snapshots[-1]
    assert final["evaluations"] == (EVENTS - 500) // 100 + 1  # judged every 100 events, from event 500
    shape = [a for a in alerts if a["detector"] == "histogram.psi" and a["kind"] == "data_drift"]
    assert shape and all(a["window"]["events"] == 500 for a in shape), [a["window"] for a in shape]
    assert any(a["feature"] == DRIFTING for a in shape)
    # Traffic stopped: snapshots keep coming, saying how long the monitor has been idle.
    idle = [s["idle_s"] for s in snapshots if s["events"] == EVENTS]
    assert len(idle) >= 3 and idle[-1] > idle[0]
