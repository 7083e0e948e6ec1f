"""``driftline produce``: publish synthetic demo events, optionally at a fixed rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

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
    started, sent = time.monotonic(), 0
    async with running(producer):
        while sent < count:
            n = min(CHUNK, count - sent)
            deliveries = []
            now_ms = int(time.time() * 1000)
            for offset, row in enumerate(stream.rows(n)):
                event_id = f"{id_prefix}-{sent + offset}"
                event = {"id": event_id, "ts": now_ms, "features": row}
                if model:
                    event["model"] = model
                deliveries.append(await producer.send(settings.topic_events, orjson.dumps(event),
                                                      key=event_id.encode()))
            await asyncio.gather(*deliveries)
            sent += n
            if progress:
                progress(sent, count)
            if rate:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
    return sent
