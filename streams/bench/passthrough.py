"""The ceiling of a benchmark: a bare aiokafka consume → produce → commit loop, run as a child.

It does everything the scoring agent does except score: the same settings (batch size, poll
timeout, fetch wait and minimum bytes, linger, batch bytes, ``acks=all`` with idempotence,
explicit commits after every batch is acknowledged) and the same event loop (uvloop), and it
writes one record per event shaped like a prediction (same fields, so the same bytes on the
wire). The worker's rate divided by this one is therefore the share of the client-bound ceiling
that validation, inference and monitoring leave.
Run with ``python -m driftline.streams.bench.passthrough`` and settings in ``DRIFTLINE_*``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from driftline.streams.offsets import next_offsets
from driftline.streams.settings import Settings, load_settings

log = logging.getLogger(__name__)


def forward_value(value: bytes | None) -> bytes:
    """The output for one event: decoded, echoed in a prediction-shaped record, encoded."""
    event = orjson.loads(value or b"{}")
    ts = time.time() * 1000.0
    return orjson.dumps({
        "id": event.get("id"), "ts": int(ts), "model": "passthrough", "version": 0, "score": 0.0,
        "label": 0, "variant": "champion", "latency_ms": 0.0, "event_ts": event.get("ts"),
        "attributes": event.get("attributes"),
    })


def _clients(settings: Settings) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
    consumer = AIOKafkaConsumer(
        settings.topic_events, bootstrap_servers=settings.broker, group_id=settings.group_id,
        client_id=f"{settings.app_id}-passthrough", enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms, heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_partition_fetch_bytes=max(1 << 20, settings.max_event_bytes * 4),
        fetch_max_wait_ms=settings.fetch_max_wait_ms, fetch_min_bytes=settings.fetch_min_bytes,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.broker, client_id=f"{settings.app_id}-passthrough", acks="all",
        enable_idempotence=True, linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_max_batch_bytes,
    )
    return consumer, producer


async def _forward(producer: AIOKafkaProducer, topic: str, records: Sequence[Any]) -> None:
    """Send one output per record and wait until the broker has acknowledged them all."""
    send = producer.send
    deliveries = [await send(topic, forward_value(r.value), key=r.key) for r in records]
    await asyncio.gather(*deliveries)


async def run(settings: Settings) -> None:
    """Forward events to the predictions topic until SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    consumer, producer = _clients(settings)
    await producer.start()
    await consumer.start()
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=settings.poll_timeout_ms,
                                             max_records=settings.batch_max_records)
            records = [r for rs in batches.values() for r in rs]
            if records:
                await _forward(producer, settings.topic_predictions, records)
                await consumer.commit(next_offsets(batches))
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> int:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("passthrough %s -> %s as group %s", settings.topic_events, settings.topic_predictions,
             settings.group_id)
    uvloop.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
