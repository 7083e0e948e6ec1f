"""Estimated performance, segments and fairness on a real broker, and what must never leak.

A binary model whose card declares a sensitive segment (``attributes.region`` with the declared
values ``north`` and ``south``) scores events whose regions include undeclared marker strings;
labels make the south's positives go unrecognised (a planted equal-opportunity disparity). The
worker must publish an estimated-performance snapshot with its gap to the realised value, raise a
``fairness`` alert naming ``south``, and never write a marker into its log, the alerts topic, the
metrics topic or a ``/metrics`` label value.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import free_port
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    scrape,
    send_all,
    wait_for_group,
)

MARKERS = ("MARKER-7f3a", "MARKER-9c1e")
REGIONS = ("north", "south", *MARKERS)
EVENTS = 6000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, segmented_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, segmented_registry, metrics_port=free_port(),
                             perf_window_size=500, perf_evaluate_every=100, metrics_snapshot_ms=500,
                             fairness_window_size=2000, fairness_evaluate_every=500, fairness_min_samples=30)


async def test_no_sensitive_raw_value_leaks_and_a_planted_disparity_is_found(settings: Settings,
                                                                              worker: WorkerProcess) -> None:
    reference = Registry(settings.registry).reference("card-fraud")
    assert reference is not None and reference.get("calibration"), "registration fits a calibration"
    await ensure_topics(settings)
    worker.start()
    for group in (settings.group_id, f"{settings.group_id}-join", f"{settings.group_id}-performance"):
        await wait_for_group(settings.broker, group, 1, timeout=90, alive=worker.assert_alive)

    rng = random.Random(5)
    rows = SyntheticStream(seed=5).rows(EVENTS)
    region = {f"e{i}": rng.choice(REGIONS) for i in range(EVENTS)}
    await send_all(settings.broker, settings.topic_events, [
        (i.encode(), orjson.dumps({"id": i, "features": row, "attributes": {"region": region[i]}}))
        for i, row in zip(region, rows, strict=True)])
    async with TopicReader(settings.broker, (settings.topic_predictions,)) as predictions:
        await predictions.read_until(lambda r: r.count() >= EVENTS, timeout=120, alive=worker.assert_alive)
        answers = predictions.records[settings.topic_predictions]
        predicted = {str(v["id"]): int(v["label"]) for _, v in answers}  # type: ignore[call-overload]
        # The predictions topic carries attributes as sent (its contract): the markers are in play.
        assert all(any(m in orjson.dumps(v).decode() for _, v in answers) for m in MARKERS)
    # Every label confirms its prediction, except the south's: all positive, so its recall is its
    # share predicted positive while every other group's is 1.
    labels = [(i.encode(), orjson.dumps({"id": i, "label": 1 if region[i] == "south" else predicted[i]}))
              for i in region]
    await send_all(settings.broker, settings.topic_labels, labels)

    async with TopicReader(settings.broker, (settings.topic_alerts, settings.topic_metrics)) as out:
        def found(reader: TopicReader) -> bool:
            return _fairness_alert(reader, settings) is not None and _estimate(reader, settings) is not None
        await out.read_until(found, timeout=120, alive=worker.assert_alive)
        await out.poll()
        alert = _fairness_alert(out, settings)
        estimate = _estimate(out, settings)
        published = orjson.dumps([out.records[settings.topic_alerts], out.records[settings.topic_metrics]],
                                 default=lambda b: b.decode(errors="replace")).decode()

    assert alert is not None and alert["feature"] == "region=south"
    assert alert["statistic"] in {"equal_opportunity", "predictive_parity"}
    assert alert["dedup_key"] == "card-fraud:1:champion:fairness:segments.region.labelled"
    assert estimate is not None and estimate["estimated"]["accuracy"]["value"] > 0
    assert set(estimate["gap"]) >= {"accuracy", "roc_auc"}
    segments = [v for _, v in out.records[settings.topic_metrics] if v.get("kind") == "segments"]
    assert set(segments[-1]["performance"]["region"]) <= {"north", "south", "other", "missing"}  # type: ignore[index, call-overload]

    label_values = {value for (_, series) in scrape(settings.metrics_port) for _, value in series}
    assert {"north", "south", "other"} <= label_values  # the declared names are published
    log = worker.log_path.read_text(errors="replace")
    assert "judging the fairness of card-fraud v1" in log  # the log was written, and is scanned
    for marker in MARKERS:
        assert marker not in log, "a sensitive raw value reached the worker's log"
        assert marker not in published, "a sensitive raw value reached the alerts or metrics topic"
        assert not any(marker in value for value in label_values), "a raw value became a metric label"


def _fairness_alert(reader: TopicReader, settings: Settings) -> dict[str, Any] | None:
    data = [v["data"] for _, v in reader.records[settings.topic_alerts]]
    return next((d for d in data if isinstance(d, dict) and d.get("kind") == "fairness"
                 and d.get("status") == "raised"), None)


def _estimate(reader: TopicReader, settings: Settings) -> dict[str, Any] | None:
    return next((v for _, v in reversed(reader.records[settings.topic_metrics])
                 if v.get("kind") == "estimated_performance" and v.get("gap")), None)
