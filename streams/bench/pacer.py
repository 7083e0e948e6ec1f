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

Held (``--held``): the latency rounds offer a load in slices, each target in turn
(``streams.bench.latency_slices``). A held pacer sends nothing; SIGUSR2 lets it go, SIGUSR1 holds
it again. On every hold it awaits its sends' acknowledgements and then writes its summary with the
number of holds so far, which is how the harness knows the hold is complete. Each go restarts the
schedule from that moment: a pacer whose clock kept running through the hold would send the whole
hold's worth of events at once on the next go, a burst no client would offer. ``seconds`` in the
summary is the time it was let go, and ``rate * --seconds`` events is still the most it sends;
having sent them, a held pacer waits for SIGTERM (it never exits while the harness may signal it).

``python -m driftline.streams.bench.pacer --rate R --seconds S [--max-events N] [--held]
--id-prefix P --summary F`` with settings in ``DRIFTLINE_*``; writes ``{"sent": n, "seconds": s,
"holds": k}`` as JSON to ``F`` (``holds`` is null in the summary written at exit).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from dataclasses import dataclass
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
    parser.add_argument("--summary", type=Path, required=True,
                        help="JSON file written at the end (and on every hold)")
    parser.add_argument("--held", action="store_true",
                        help="start held: SIGUSR2 lets the pacer go, SIGUSR1 holds it")
    return parser.parse_args(argv)


@dataclass
class PacingClock:
    """Events due at ``rate``, counted over the time the pacer was let go.

    ``go`` restarts the schedule at the count already sent, so a hold never turns into a burst.
    """

    rate: float
    limit: int
    sent: int = 0
    active_s: float = 0.0
    _went_at: float | None = None
    _sent_at_go: int = 0

    def go(self, now: float) -> None:
        if self._went_at is None:
            self._went_at, self._sent_at_go = now, self.sent

    def hold(self, now: float) -> None:
        if self._went_at is not None:
            self.active_s += now - self._went_at
            self._went_at = None

    def due(self, now: float) -> int:
        """Events that should have been sent by ``now`` (no more than ``limit``)."""
        if self._went_at is None:
            return self.sent
        return self._sent_at_go + due_events(self.rate, now - self._went_at, self.limit - self._sent_at_go)


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
    signals = _Signals(asyncio.get_running_loop(), held=args.held)
    sender = BatchSender(producer)
    clock, holds = PacingClock(args.rate, limit), 0
    pending: list[asyncio.Future[object]] = []
    ticks = 0
    while not signals.stopping.is_set():
        if clock.sent >= limit and not args.held:
            break
        if not signals.going.is_set():
            clock.hold(time.monotonic())
            await asyncio.gather(*pending)
            pending, holds = [], holds + 1
            write_summary(args.summary, clock.sent, clock.active_s, holds)
            await signals.wait_for_go()
            clock.go(time.monotonic())
            continue
        if clock.sent >= limit:
            # Held pacers never leave on their own: the harness may be about to hold this one, and
            # once the loop has closed SIGUSR1's default action would kill it (exit -10). The time
            # it waits is not pacing time.
            clock.hold(time.monotonic())
            await asyncio.sleep(TICK_S)
            continue
        clock.go(time.monotonic())
        due = clock.due(time.monotonic())
        if due > clock.sent:
            pending += await sender.send([_event(topic, f"{args.id_prefix}-{n}", pool[n % len(pool)])
                                          for n in range(clock.sent, due)])
        clock.sent, ticks = max(clock.sent, due), ticks + 1
        if ticks % _PRUNE_EVERY == 0:
            pending = _prune(pending)
        await asyncio.sleep(TICK_S)
    clock.hold(time.monotonic())
    await asyncio.gather(*pending)
    return clock.sent, clock.active_s


class _Signals:
    """SIGTERM/SIGINT stop the pacer; SIGUSR1 holds it and SIGUSR2 lets it go."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, held: bool) -> None:
        self.stopping, self.going = asyncio.Event(), asyncio.Event()
        if not held:
            self.going.set()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop)
        loop.add_signal_handler(signal.SIGUSR1, self.going.clear)
        loop.add_signal_handler(signal.SIGUSR2, self.going.set)

    def _stop(self) -> None:
        self.stopping.set()
        self.going.set()  # wakes a held pacer, which then sees it is stopping

    async def wait_for_go(self) -> None:
        await self.going.wait()


def write_summary(path: Path, sent: int, seconds: float, holds: int | None = None) -> None:
    """Replace the summary in one step: the harness may read it at any moment. The one written at
    exit has no ``holds``."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps({"sent": sent, "seconds": seconds, "holds": holds}))
    partial.replace(path)


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
    write_summary(args.summary, sent, seconds)
    log.info("paced %d events in %.2f s (%.0f/s asked, %.0f/s offered)", sent, seconds, args.rate,
             sent / seconds if seconds > 0 else 0.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
