"""``driftline produce``: publish synthetic demo events, optionally at a fixed rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from driftline.models.synthetic import Drift, SyntheticStream
from driftline.streams.connection import client_options, running
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: Events generated (and sent) per step; also the granularity of rate pacing and progress.
CHUNK = 500


async def produce_events(settings: Settings, count: int, *, rate: float | None = None, seed: int = 0,
                         model: str | None = None, id_prefix: str = "evt", drift: Drift | None = None,
                         progress: Callable[[int, int], None] | None = None) -> int:
    """Send ``count`` synthetic events to the events topic; return how many the broker acknowledged.

    ``rate`` is in events per second; pacing sleeps between chunks, which is rate control, not
    synchronisation: every send is still awaited for its acknowledgement.
    """
    stream = SyntheticStream(seed=seed, drift=drift)
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True,
                                linger_ms=settings.producer_linger_ms,
                                max_batch_size=settings.producer_max_batch_bytes)
    started, queued = time.monotonic(), 0
    acks = Acknowledgements(count, progress)
    async with running(producer):
        while queued < count:
            n = min(CHUNK, count - queued)
            await acks.add(n, await _send_chunk(producer, settings.topic_events, stream, n, first=queued,
                                                id_prefix=id_prefix, model=model))
            queued += n
            if rate:
                await asyncio.sleep(max(0.0, started + queued / rate - time.monotonic()))
        return await acks.drain()


class Acknowledgements:
    """Chunks of sends in flight, their acknowledgements awaited oldest first, ``depth`` chunks behind.

    Waiting for each chunk's acknowledgements before generating the next held the preloads at about
    15,000 events/s (a linger and a round trip per chunk); with a few chunks in flight the producer
    stays busy, and progress still counts acknowledged events, in order.
    """

    def __init__(self, total: int, progress: Callable[[int, int], None] | None = None, *,
                 depth: int = 4) -> None:
        self.total, self.progress, self.depth = total, progress, depth
        self.acknowledged = 0
        self._in_flight: deque[tuple[int, asyncio.Future[Any]]] = deque()

    async def add(self, n: int, deliveries: list[asyncio.Future[Any]]) -> None:
        """Track a chunk of ``n`` events; wait for the oldest while more than ``depth`` are ahead."""
        self._in_flight.append((n, asyncio.gather(*deliveries)))
        while len(self._in_flight) > self.depth:
            await self._settle_oldest()

    async def drain(self) -> int:
        """Wait for every chunk; returns the events acknowledged."""
        while self._in_flight:
            await self._settle_oldest()
        return self.acknowledged

    async def _settle_oldest(self) -> None:
        n, deliveries = self._in_flight.popleft()
        await deliveries
        self.acknowledged += n
        if self.progress:
            self.progress(self.acknowledged, self.total)


async def _send_chunk(producer: AIOKafkaProducer, topic: str, stream: SyntheticStream, n: int, *, first: int,
                      id_prefix: str, model: str | None) -> list[asyncio.Future[Any]]:
    """Queue ``n`` events; one delivery future each."""
    deliveries = []
    now_ms = int(time.time() * 1000)
    for offset, row in enumerate(stream.rows(n)):
        event_id = f"{id_prefix}-{first + offset}"
        event = {"id": event_id, "ts": now_ms, "features": row}
        if model:
            event["model"] = model
        deliveries.append(await producer.send(topic, orjson.dumps(event), key=event_id.encode()))
    return deliveries
