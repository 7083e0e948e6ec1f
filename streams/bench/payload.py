"""Benchmark events: the demo model's synthetic features in the events-topic envelope.

``ts`` is the moment the event is handed to the producer, as epoch milliseconds with sub-ms
precision (a float): predictions echo it as ``event_ts``, and a latency of a few milliseconds
cannot be measured from a timestamp truncated to whole milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import orjson
from aiokafka import AIOKafkaProducer

from models.synthetic import SyntheticStream

log = logging.getLogger(__name__)

#: Events generated and awaited per preload step (also the progress granularity).
PRELOAD_CHUNK = 5_000
#: Preloading is not measured, so it batches harder than the worker does.
PRELOAD_LINGER_MS = 20
PRELOAD_BATCH_BYTES = 256 * 1024


def encode_event(event_id: str, features: orjson.Fragment | Mapping[str, object], ts_ms: float) -> bytes:
    """One event as the worker expects it; ``features`` may be pre-encoded (a Fragment)."""
    return orjson.dumps({"id": event_id, "ts": ts_ms, "features": features})


def now_ms() -> float:
    """Epoch milliseconds with sub-millisecond precision."""
    return time.time() * 1000.0


def feature_pool(seed: int, size: int) -> list[orjson.Fragment]:
    """``size`` pre-encoded feature objects: a paced producer then spends ~1 µs per event."""
    return [orjson.Fragment(orjson.dumps(row)) for row in SyntheticStream(seed=seed).rows(size)]


async def preload(bootstrap: str, topic: str, count: int, *, seed: int, id_prefix: str,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Write ``count`` fresh synthetic events to ``topic``; return how many were acknowledged.

    The same seed gives every mode the same feature values in the same order.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=PRELOAD_LINGER_MS,
                                max_batch_size=PRELOAD_BATCH_BYTES)
    await producer.start()
    stream, sent = SyntheticStream(seed=seed), 0
    try:
        while sent < count:
            rows = stream.rows(min(PRELOAD_CHUNK, count - sent))
            deliveries = []
            for offset, row in enumerate(rows):
                event_id = f"{id_prefix}-{sent + offset}"
                deliveries.append(await producer.send(topic, encode_event(event_id, row, now_ms()),
                                                      key=event_id.encode()))
            await asyncio.gather(*deliveries)
            sent += len(rows)
            if progress is not None:
                progress(sent, count)
    finally:
        await producer.stop()
    return sent
