"""Estimate and fairness alerts outlive the worker that raised them, on a real broker.

The first worker raises an estimated-floor alert (``accuracy=0.99``, which no estimate of the demo
model reaches) and a labelled fairness alert (the south's positives go unrecognised, as in
``test_sensitive_segments``), and is SIGKILLed. Its successor is configured with a lower floor
(``accuracy=0.5``), so the estimate's breach is no longer true while the disparity still is. On
the alerts topic each dedup key must read one ``raised`` in all: the fairness alert goes on as
``updated`` from the successor, the estimate's is ``resolved`` with the reason once the successor
has judged a full window. The logic is unit-tested in ``tests/unit/streams/test_alert_handover.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from driftline.models.synthetic import SyntheticStream
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings, send_all, wait_for_group

REGIONS = ("north", "south", "east", "west")
EVENTS = 3000
CBPE = "card-fraud:1:champion:performance:cbpe"
FAIRNESS = "card-fraud:1:champion:fairness:segments.region.labelled"


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, segmented_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, segmented_registry, perf_window_size=500,
                             perf_evaluate_every=100, perf_floors=("accuracy=0.99",), metrics_snapshot_ms=500,
                             fairness_window_size=2000, fairness_evaluate_every=500, fairness_min_samples=30)


@pytest.fixture
def pair(settings: Settings, tmp_path: Path) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """The first owner, and its successor with the lower floor; both stopped at the end."""
    first = WorkerProcess(settings, tmp_path / "first.log")
    successor = WorkerProcess(dataclasses.replace(settings, perf_floors=("accuracy=0.5",)),
                              tmp_path / "successor.log")
    yield first, successor
    for worker in (first, successor):
        worker.stop()


async def send_unfairly_labelled(settings: Settings, phase: str, seed: int,
                                 alive: Callable[[], None]) -> None:
    """``EVENTS`` events; once scored, their labels: every south event positive, the rest as predicted."""
    rng = random.Random(seed)
    region = {f"{phase}{i}": rng.choice(REGIONS) for i in range(EVENTS)}
    rows = SyntheticStream(seed=seed).rows(EVENTS)
    await send_all(settings.broker, settings.topic_events, [
        (i.encode(), orjson.dumps({"id": i, "features": row, "attributes": {"region": region[i]}}))
        for i, row in zip(region, rows, strict=True)])
    async with TopicReader(settings.broker, (settings.topic_predictions,)) as predictions:
        def scored(reader: TopicReader) -> bool:
            ids = {v["id"] for _, v in reader.records[settings.topic_predictions]}
            return len(ids & region.keys()) == EVENTS
        await predictions.read_until(scored, timeout=120, alive=alive)
        predicted = {str(v["id"]): int(v["label"])  # type: ignore[call-overload]
                     for _, v in predictions.records[settings.topic_predictions]}
    await send_all(settings.broker, settings.topic_labels, [
        (i.encode(), orjson.dumps({"id": i, "label": 1 if region[i] == "south" else predicted[i]}))
        for i in region])


def history(reader: TopicReader, settings: Settings, key: str) -> list[dict[str, object]]:
    return [v["data"] | {"type": str(v["type"]).rsplit(".", 1)[-1]}  # type: ignore[operator]
            for _, v in reader.records[settings.topic_alerts]
            if v["data"]["dedup_key"] == key]  # type: ignore[index]


def fairness_lines(worker: WorkerProcess, status: str) -> list[str]:
    """The worker's log lines of a fairness alert it sent as ``status`` (the ledger's word)."""
    return [line for line in worker.log_path.read_text(errors="replace").splitlines()
            if f"alert {status}: " in line and "fairness (region)" in line]


async def until_logged(worker: WorkerProcess, status: str, timeout: float = 30) -> None:
    """Wait for ``worker``'s log line of the fairness alert sent as ``status``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not fairness_lines(worker, status):
        worker.assert_alive()
        assert asyncio.get_running_loop().time() < deadline, f"no fairness alert {status} logged"
        await asyncio.sleep(0.1)  # polling a condition with a deadline


def types(reader: TopicReader, settings: Settings, key: str) -> list[object]:
    return [a["type"] for a in history(reader, settings, key)]


async def test_a_successor_continues_what_is_still_true_and_resolves_what_is_not(
        settings: Settings, pair: tuple[WorkerProcess, WorkerProcess]) -> None:
    first, successor = pair
    await ensure_topics(settings)
    first.start()
    for group in (settings.group_id, f"{settings.group_id}-join", f"{settings.group_id}-performance"):
        await wait_for_group(settings.broker, group, 1, timeout=90, alive=first.assert_alive)

    async with TopicReader(settings.broker, (settings.topic_alerts,)) as alerts:
        await send_unfairly_labelled(settings, "a", 5, first.assert_alive)
        await alerts.read_until(lambda r: all("raised" in types(r, settings, k) for k in (CBPE, FAIRNESS)),
                                timeout=120, alive=first.assert_alive)
        # Both alerts are in the alert-state topic (written just after each alert) before the kill,
        # and logged (just after their state).
        async with TopicReader(settings.broker, (settings.topic_alert_state,)) as state:
            await state.read_until(lambda r: {CBPE, FAIRNESS} <= {k.decode() for k, _ in r.records[
                settings.topic_alert_state] if k is not None}, timeout=60, alive=first.assert_alive)
        await until_logged(first, "raised")
        first.kill()
        before = len(history(alerts, settings, CBPE))

        successor.start()
        await send_unfairly_labelled(settings, "b", 6, successor.assert_alive)

        def settled(r: TopicReader) -> bool:
            resolved = "resolved" in types(r, settings, CBPE)[before:]
            return resolved and bool(fairness_lines(successor, "updated"))
        await alerts.read_until(settled, timeout=180, alive=successor.assert_alive)
        await alerts.poll()

    for key in (CBPE, FAIRNESS):
        assert types(alerts, settings, key).count("raised") == 1, types(alerts, settings, key)
    resolved = history(alerts, settings, CBPE)[-1]
    assert resolved["type"] == "resolved", types(alerts, settings, CBPE)
    assert str(resolved["reason"]).startswith("not confirmed by its new owner after "), resolved
    assert "resolved" not in types(alerts, settings, FAIRNESS)  # still true: the successor holds it open
    assert f"resolving {CBPE}: its new owner did not confirm it" in successor.log_path.read_text()
    assert fairness_lines(first, "raised") and not fairness_lines(successor, "raised")
