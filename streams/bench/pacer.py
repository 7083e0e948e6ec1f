"""A paced producer, run as a child: offer events at a fixed rate for a bounded time.

Why a separate process: the harness's event loop stays free, and the pacer's clock is its own.
Events are sent in small ticks (``TICK_S``, the linger of Kafka's default producer), and each
event's ``ts`` is taken just before it is queued: if the pacer falls behind its schedule, that
delay is not charged to the pipeline.

Each tick's events go out as one record batch per partition (``BatchSender``, as the worker
sends): a ``send()`` per event cost the pacer half a core at 17,500 events/s, CPU taken from the
worker and the broker on a small machine, which showed up as their latency. Sends are not awaited
tick by tick (that would pace by the broker's round trip, not the clock); acknowledgements are
collected as they complete and all awaited at the end.

``python -m driftline.streams.bench.pacer --rate R --seconds S [--max-events N] --id-prefix P --summary F``
with settings in ``DRIFTLINE_*``; writes ``{"sent": n, "seconds": s}`` as JSON to ``F``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

import orjson
import uvloop
from aiokafka import AIOKafkaProducer

from driftline.streams.bench.payload import encode_event, feature_pool, now_ms
from driftline.streams.bench.stats import due_events, pacing_limit
from driftline.streams.scoring import Output
from driftline.streams.sending import BatchSender
from driftline.streams.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: Kafka's own producer has lingered 5 ms by default since 4.0: a tick of that length offers load
#: the way a default client sends it.
TICK_S = 0.005
POOL_SIZE = 4096
#: Completed sends are pruned every this many ticks, which bounds memory on long runs.
_PRUNE_EVERY = 250


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m driftline.streams.bench.pacer")
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--seconds", type=float, required=True, help="how long to offer load")
    parser.add_argument("--max-events", type=int, help="stop after this many events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--id-prefix", required=True, help="event ids are PREFIX-N")
    parser.add_argument("--summary", type=Path, required=True, help="JSON file written at the end")
    return parser.parse_args(argv)


async def pace(settings: Settings, args: argparse.Namespace) -> tuple[int, float]:
    """Send at ``args.rate`` until the limit, the duration or a signal; return (sent, seconds)."""
    pool = feature_pool(args.seed, POOL_SIZE)
    limit = pacing_limit(args.rate, args.seconds, args.max_events)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all", enable_idempotence=True,
                                linger_ms=settings.producer_linger_ms,
                                max_batch_size=settings.producer_max_batch_bytes)
    await producer.start()
    try:
        await producer.partitions_for(settings.topic_events)  # metadata before the clock starts
        return await _send_paced(producer, settings.topic_events, pool, args, limit)
    finally:
        await producer.stop()


async def _send_paced(producer: AIOKafkaProducer, topic: str, pool: list[orjson.Fragment],
                      args: argparse.Namespace, limit: int) -> tuple[int, float]:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    sender = BatchSender(producer)
    pending: list[asyncio.Future[object]] = []
    started, sent, ticks = time.monotonic(), 0, 0
    while sent < limit and not stopping.is_set():
        due = due_events(args.rate, time.monotonic() - started, limit)
        if due > sent:
            pending += await sender.send([_event(topic, f"{args.id_prefix}-{n}", pool[n % len(pool)])
                                          for n in range(sent, due)])
        sent, ticks = max(sent, due), ticks + 1
        if ticks % _PRUNE_EVERY == 0:
            pending = _prune(pending)
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*pending)
    return sent, time.monotonic() - started


def _event(topic: str, event_id: str, features: orjson.Fragment) -> Output:
    return Output(topic, event_id.encode(), encode_event(event_id, features, now_ms()))


def _prune(pending: list[asyncio.Future[object]]) -> list[asyncio.Future[object]]:
    """Drop acknowledged sends, re-raising the first failed one."""
    for future in pending:
        if future.done():
            future.result()
    return [f for f in pending if not f.done()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sent, seconds = uvloop.run(pace(settings, args))
    args.summary.write_bytes(orjson.dumps({"sent": sent, "seconds": seconds}))
    log.info("paced %d events in %.2f s (%.0f/s asked, %.0f/s offered)", sent, seconds, args.rate,
             sent / seconds if seconds > 0 else 0.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
