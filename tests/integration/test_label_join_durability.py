"""The join's state survives its owner: a SIGKILL with predictions pending, then a rebalance that
moves the pending state to a worker that never held it (another state folder, as on another host).
Every later label must still join, and ``training-examples`` (read committed) must hold each
labelled id exactly once. While two workers share the partitions, labels come from librdkafka
(crc32 partitioner, some without a key), so many reach the worker that does not hold their
prediction and must be routed by event id to the one that does."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

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

FIRST, SECOND = 20_000, 6_000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, metrics_port=free_port(),
                             label_ttl_ms=600_000, monitors=False)


def events(ids: list[str], seed: int) -> list[tuple[bytes | None, bytes]]:
    rows = SyntheticStream(seed=seed).rows(len(ids))
    return [(i.encode(), orjson.dumps({"id": i, "features": r})) for i, r in zip(ids, rows, strict=True)]


def labels(ids: list[str]) -> list[tuple[bytes | None, bytes]]:
    return [(i.encode(), orjson.dumps({"id": i, "label": n % 2})) for n, i in enumerate(ids)]


def send_with_librdkafka(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for n, (key, value) in enumerate(records):
        producer.produce(topic, value, key if n % 3 else None)
    assert producer.flush(30) == 0


async def wait_for_pending(port: int, at_least: int, *, alive: Any, timeout: float = 120) -> None:
    deadline, pending = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        alive()
        pending = sum(v for (name, _), v in scrape(port).items()
                      if name == "driftline_join_pending_predictions")
        if pending >= at_least:
            return
        await asyncio.sleep(0.5)  # polling a condition with a deadline
    raise AssertionError(f"{pending} predictions pending, not {at_least}, within {timeout}s")


async def test_a_sigkill_and_a_rebalance_lose_no_pending_state_and_repeat_nothing(
        settings: Settings, worker: WorkerProcess, tmp_path: Path) -> None:
    await ensure_topics(settings)
    first = [f"a{i}" for i in range(FIRST)]
    worker.start()
    await wait_for_group(settings.broker, f"{settings.group_id}-join", 1, timeout=90,
                         alive=worker.assert_alive)
    await send_all(settings.broker, settings.topic_events, events(first, seed=1))
    await wait_for_pending(settings.metrics_port, FIRST, alive=worker.assert_alive)

    async with TopicReader(settings.broker, (settings.topic_training_examples,),
                           isolation_level="read_committed") as out:
        await send_all(settings.broker, settings.topic_labels, labels(first))
        await out.read_until(lambda r: r.count() >= 1000, timeout=60, alive=worker.assert_alive)
        worker.kill()  # mid-stream: thousands of predictions still pending, a transaction open
        assert out.count() < FIRST, "every label was joined before the kill: send more"

        restarted = WorkerProcess(settings, tmp_path / "restarted.log")  # same state folder and slot
        restarted.start()
        try:
            await out.read_until(lambda r: r.count() >= FIRST, timeout=120, alive=restarted.assert_alive)

            # Pending predictions of the restarted worker, then a second worker with an empty state
            # folder takes half the partitions over, then all of them when the first one stops.
            second = [f"b{i}" for i in range(SECOND)]
            await send_all(settings.broker, settings.topic_events, events(second, seed=2))
            await wait_for_pending(settings.metrics_port, SECOND, alive=restarted.assert_alive)
            elsewhere = dataclasses.replace(settings, metrics_port=free_port(),
                                            state_dir=Path(tempfile.mkdtemp(prefix="driftline-other-host-")))
            other = WorkerProcess(elsewhere, tmp_path / "other.log")
            other.start()
            await wait_for_group(settings.broker, f"{settings.group_id}-join", 2, timeout=90,
                                 alive=other.assert_alive)
            shared = second[:SECOND // 2]
            send_with_librdkafka(settings.broker, settings.topic_labels, labels(shared))
            await out.read_until(lambda r: r.count() >= FIRST + len(shared), timeout=120,
                                 alive=other.assert_alive)
            routed = sum(v for (name, _), v in scrape(settings.metrics_port).items()
                         if name == "driftline_labels_routed_total")
            routed += sum(v for (name, _), v in scrape(elsewhere.metrics_port).items()
                          if name == "driftline_labels_routed_total")
            assert routed > 0, "no label needed routing: the test did not exercise the routed path"
            assert restarted.stop() == 0
            await wait_for_group(settings.broker, f"{settings.group_id}-join", 1, timeout=90,
                                 alive=other.assert_alive)
            await wait_for_pending(elsewhere.metrics_port, SECOND - len(shared), alive=other.assert_alive)
            await send_all(settings.broker, settings.topic_labels, labels(second[SECOND // 2:]))
            await out.read_until(lambda r: r.count() >= FIRST + SECOND, timeout=120, alive=other.assert_alive)
            await out.read_until(lambda r: True, timeout=5)  # one more poll: a repeat would show
            other.stop()
        finally:
            restarted.stop()
        joined = [str(value["id"]) for _, value in out.records[settings.topic_training_examples]]

    assert len(joined) == len(set(joined)), "a training example was emitted twice"
    assert set(joined) == set(first) | set(second)
