"""The join benchmark's input: predictions as the score agent publishes them, and their labels.

Predictions carry the demo model's synthetic features (the join keeps them for training examples)
and go to the partition Kafka's default partitioner picks for their id, as the score agent's do.
Labels come in two halves: one keyed by id on that same partition (a Java client keying by id),
which the join may join in place, and one put on another partition on purpose (a source with its
own partitioner), which the join must route by id through its internal topic first.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

import orjson
from aiokafka import AIOKafkaProducer

from driftline import ext
from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.synthetic import SyntheticStream
from driftline.streams.produce import Acknowledgements
from driftline.streams.settings import Settings

CHUNK = 2000


async def preload_labelled(settings: Settings, count: int, *, partitions: int, seed: int = 0,
                           labels: bool = True, progress: Callable[[int, int], None] | None = None) -> int:
    """Send ``count`` predictions and (with ``labels``) one label each; returns how many were sent."""
    stream, rng = SyntheticStream(seed=seed), random.Random(seed)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    sent, acks = 0, Acknowledgements(count, progress)
    try:
        while sent < count:
            n = min(CHUNK, count - sent)
            ids = [f"evt-{sent + i}" for i in range(n)]
            homes = ext.key_partitions([i.encode() for i in ids], partitions).tolist()
            deliveries = []
            for offset, (event_id, row, home) in enumerate(zip(ids, stream.rows(n), homes, strict=True)):
                score = rng.random()
                deliveries.append(await producer.send(
                    settings.topic_predictions, _prediction(event_id, row, score), key=event_id.encode(),
                    partition=home))
                if labels:
                    elsewhere = home if offset % 2 == 0 else (home + 1) % partitions
                    label = orjson.dumps({"id": event_id, "label": int(rng.random() < score)})
                    deliveries.append(await producer.send(settings.topic_labels, label,
                                                          key=event_id.encode(), partition=elsewhere))
            await acks.add(n, deliveries)
            sent += n
        return await acks.drain()
    finally:
        await producer.stop()


def _prediction(event_id: str, features: Mapping[str, object], score: float) -> bytes:
    now_ms = int(time.time() * 1000)
    return orjson.dumps({
        "id": event_id, "ts": now_ms, "model": DEMO_MODEL_NAME, "version": 1, "score": score,
        "label": int(score >= 0.5), "variant": "champion", "latency_ms": 1.0, "event_ts": now_ms,
        "attributes": None, "features": features})
