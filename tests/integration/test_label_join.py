"""The delayed-label join on a real broker, with labels sent the way other people's systems send them.

Labels come from librdkafka (crc32 partitioner, some without a key) to a labels topic with its own
partition count, before and after their predictions, shuffled, duplicated, never, after their TTL,
for ids nobody scored, and malformed. Every label must be accounted for exactly, every joined id
must reach ``training-examples`` once, and the realised accuracy must be the offline one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import create_topics, free_port
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

TTL_MS = 20_000
EVENTS = 20_000
LABEL_PARTITIONS = 5  # not the predictions' 3: the join must not rely on the source's layout


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, metrics_port=free_port(),
                             label_ttl_ms=TTL_MS, perf_window_size=EVENTS, metrics_snapshot_ms=500)


def send_labels(bootstrap: str, topic: str, labels: list[tuple[str | None, bytes]]) -> None:
    """librdkafka's default partitioner (crc32 of the key, random without one), lz4 batches."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4", "linger.ms": 5})
    failures: list[str] = []
    for key, value in labels:
        producer.produce(topic, value, key, on_delivery=lambda err, _m: err and failures.append(str(err)))
        producer.poll(0)
    assert producer.flush(30) == 0 and not failures, failures[:3]


def label(event_id: str, cls: int, rng: random.Random) -> bytes:
    """One of the forms a binary label arrives in."""
    value: Any = rng.choice([cls, bool(cls), str(cls), "true" if cls else "false", float(cls)])
    return orjson.dumps({"id": event_id, "label": value, "ts": int(time.time() * 1000)})


def keyed(event_id: str, rng: random.Random) -> str | None:
    return event_id if rng.random() < 0.7 else None


MALFORMED = [b'{"id": "m", "label": ', b'{"label": 1}', b'{"id": "m", "label": null}',
             b'{"id": 7, "label": 1}', b'[1]', b'', b'{"id": "m", "label": {"a": 1}}']


class Plan:
    """Which event ids get which kind of label, and what the join must make of them."""

    def __init__(self, ids: list[str], seed: int) -> None:
        rng = random.Random(seed)
        shuffled = rng.sample(ids, len(ids))
        self.early, rest = shuffled[:1500], shuffled[1500:]
        self.never, self.late, self.invalid = rest[:2000], rest[2000:3000], rest[3000:3500]
        self.normal = rest[3500:]
        self.duplicated = rng.sample(self.normal, 1000) + rng.sample(self.early, 200)
        self.unknown = [f"nobody-{i}" for i in range(300)]
        self.truth = {i: rng.randint(0, 1) for i in ids}

    def expected_labels(self) -> Counter[str]:
        return Counter(joined=len(self.early) + len(self.normal), duplicate=len(self.duplicated),
                       late=len(self.late), unknown=len(self.unknown),
                       malformed=len(MALFORMED) * 30 + len(self.invalid))


async def test_every_label_is_accounted_for_exactly(settings: Settings, worker: WorkerProcess) -> None:
    await create_topics(settings.broker, {settings.topic_labels: LABEL_PARTITIONS})
    await ensure_topics(settings)
    rng = random.Random(3)
    rows = SyntheticStream(seed=3).rows(EVENTS)
    ids = [f"e{i}" for i in range(EVENTS)]
    plan = Plan(ids, seed=3)
    worker.start()
    await wait_for_group(settings.broker, f"{settings.group_id}-join", 1, timeout=90,
                         alive=worker.assert_alive)

    early = [(keyed(i, rng), label(i, plan.truth[i], rng)) for i in plan.early]
    junk = [(None if n % 2 else f"m{n}", bad) for n, bad in enumerate(MALFORMED * 30)]
    nobody = [(keyed(i, rng), label(i, 1, rng)) for i in plan.unknown]
    send_labels(settings.broker, settings.topic_labels, early + junk + nobody)
    events = [(i.encode(), orjson.dumps({"id": i, "features": r})) for i, r in zip(ids, rows, strict=True)]
    await send_all(settings.broker, settings.topic_events, events)

    normal = [(keyed(i, rng), label(i, plan.truth[i], rng)) for i in plan.normal]
    normal += [(keyed(i, rng), label(i, plan.truth[i], rng)) for i in plan.duplicated]
    normal += [(keyed(i, rng), orjson.dumps({"id": i, "label": "maybe"})) for i in plan.invalid]
    rng.shuffle(normal)
    for chunk in range(0, len(normal), 2000):  # in bursts, a little apart: labels trickle in
        send_labels(settings.broker, settings.topic_labels, normal[chunk:chunk + 2000])
        await asyncio.sleep(rng.uniform(0.05, 0.5))

    expired = len(plan.never) + len(plan.late) + len(plan.invalid)
    await wait_for_metric(settings.metrics_port, "driftline_join_predictions_total", {"outcome": "expired"},
                          expired, timeout=TTL_MS / 1000 + 90, alive=worker.assert_alive)
    send_labels(settings.broker, settings.topic_labels,
                [(keyed(i, rng), label(i, plan.truth[i], rng)) for i in plan.late])
    expected = plan.expected_labels()
    await wait_for_metric(settings.metrics_port, "driftline_labels_total", None, sum(expected.values()),
                          timeout=TTL_MS / 1000 + 90, alive=worker.assert_alive)

    metrics = scrape(settings.metrics_port)
    outcomes = Counter({dict(labels)["outcome"]: int(v) for (name, labels), v in metrics.items()
                        if name == "driftline_labels_total"})
    assert outcomes == expected
    joined = set(plan.early) | set(plan.normal)

    async with TopicReader(settings.broker, (settings.topic_training_examples,),
                           isolation_level="read_committed") as out:
        await out.read_until(lambda r: r.count() >= len(joined), timeout=60)
        await out.read_until(lambda r: True, timeout=5)  # one more poll: anything extra would show
        examples = [value for _, value in out.records[settings.topic_training_examples]]
    assert sorted(str(e["id"]) for e in examples) == sorted(joined)  # each joined id exactly once
    assert all(e["label"] == plan.truth[str(e["id"])] for e in examples)
    assert all(isinstance(e["features"], dict) and e["model"] and e["label_ts"] for e in examples)

    async with TopicReader(settings.broker, (settings.topic_deadletter,)) as dead:
        await dead.read_until(lambda r: r.count() >= expected["late"] + expected["unknown"]
                              + expected["malformed"], timeout=30)
        codes = Counter(str(v["error"]["code"]) for _, v in dead.records[settings.topic_deadletter]  # type: ignore[index]
                        if v["topic"] == settings.topic_labels)
    assert codes["late_label"] == len(plan.late) and codes["unknown_id"] == len(plan.unknown)
    assert codes["invalid_label"] == len(plan.invalid)
    assert codes.total() == expected["late"] + expected["unknown"] + expected["malformed"]

    offline = sum(e["label"] == e["prediction"]["label"] for e in examples) / len(examples)  # type: ignore[index]
    snapshot = await latest_performance(settings, labelled=len(joined))
    assert snapshot["metrics"]["accuracy"] == pytest.approx(offline, abs=1e-12)


async def wait_for_metric(port: int, name: str, labels: dict[str, str] | None, at_least: float, *,
                          timeout: float, alive: Any) -> None:
    """Poll a worker's /metrics until ``name`` (summed over series matching ``labels``) reaches a value."""
    deadline, total = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        alive()
        total = sum(v for (n, series), v in scrape(port).items()
                    if n == name and (labels is None or labels.items() <= dict(series).items()))
        if total >= at_least:
            return
        await asyncio.sleep(0.5)  # polling a condition with a deadline
    raise AssertionError(f"{name}{labels or ''} reached {total}, not {at_least}, within {timeout}s")


async def latest_performance(settings: Settings, *, labelled: int) -> dict[str, Any]:
    async with TopicReader(settings.broker, (settings.topic_metrics,)) as snapshots:
        def has_all(reader: TopicReader) -> bool:
            return any(v.get("kind") == "performance" and v.get("labelled") == labelled
                       for _, v in reader.records[settings.topic_metrics])
        await snapshots.read_until(has_all, timeout=60)
        return next(v for _, v in reversed(snapshots.records[settings.topic_metrics])
                    if v.get("kind") == "performance" and v.get("labelled") == labelled)
