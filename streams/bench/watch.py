"""Measuring a process's throughput from outside, by watching its output topics grow.

Why end offsets: they count outputs the broker has acknowledged, which is what a downstream
reader can see, at the cost of one ListOffsets request per poll — nothing is consumed, so the
watcher does not compete with the process under test. The clock starts at the first output seen,
so interpreter start-up, model loading and the consumer-group join are excluded; CPU time of the
process is read at the same two moments.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from driftline.streams.bench.children import BenchError, ChildProcess
from driftline.streams.bench.procfs import cpu_seconds
from driftline.streams.bench.stats import NoMeasurableWindowError, Rate, Sample, per_thousand, window_rate

log = logging.getLogger(__name__)

#: Until the first output is seen, poll often: the window starts at that observation.
FIRST_POLL_S = 0.01
POLL_S = 0.05
STARTUP_TIMEOUT_S = 180.0
#: No new output for this long means the process under test is stuck.
STALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Throughput:
    """One mode's measured rate and CPU cost."""

    rate: Rate
    cpu_s_per_1k: float
    startup_s: float


class OutputWatcher:
    """Sums the end offsets of a set of topics (a process's outputs), or of each one."""

    def __init__(self, bootstrap: str, topics: Sequence[str], partitions: int) -> None:
        self._partitions = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                          enable_auto_commit=False)

    async def __aenter__(self) -> OutputWatcher:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def count(self) -> int:
        return sum((await self.counts()).values())

    async def counts(self) -> dict[str, int]:
        """The sum of end offsets of each topic, read in one request."""
        offsets: dict[TopicPartition, int] = await self._consumer.end_offsets(self._partitions)
        totals = {tp.topic: 0 for tp in self._partitions}
        for tp, end in offsets.items():
            totals[tp.topic] += end
        return totals


@dataclass
class _Window:
    """What the poll loop knows: when it began, the last observation, the first with output."""

    launched: float
    last: Sample
    last_cpu: float
    first: Sample | None = None
    first_cpu: float = 0.0
    grew_at: float = 0.0


async def measure(watcher: OutputWatcher, child: ChildProcess, target: int,
                  clock: Callable[[], float] = time.monotonic) -> Throughput:
    """Poll until ``target`` outputs exist; rate and CPU/1k from the first output on.

    CPU time is read at every poll, so that when the first output and the target fall into the
    same poll (tiny runs) the window can start at the previous, empty observation instead.
    """
    launched = clock()
    window = _Window(launched, Sample(launched, await watcher.count()), cpu_seconds(child.pid))
    while True:
        child.ensure_alive()
        await asyncio.sleep(POLL_S if window.first else FIRST_POLL_S)
        now, cpu = Sample(clock(), await watcher.count()), cpu_seconds(child.pid)
        if window.first is None and now.count > 0:
            window.first, window.first_cpu = ((now, cpu) if now.count < target
                                              else (window.last, window.last_cpu))
        if now.count >= target:
            assert window.first is not None
            rate = window_rate(window.first, window.last, now, target)
            cost = per_thousand(cpu - window.first_cpu, now.count - window.first.count)
            return Throughput(rate, cost, window.first.at - launched)
        _check_deadlines(child, window, now)
        if now.count > window.last.count:
            window.grew_at = now.at
        window.last, window.last_cpu = now, cpu


async def measure_if_timed(watcher: OutputWatcher, child: ChildProcess, target: int,
                           clock: Callable[[], float] = time.monotonic) -> Throughput | None:
    """`measure`, or None when every output was there by the first observation: a run small
    enough to finish before its first count returned has no interval to be timed over."""
    try:
        return await measure(watcher, child, target, clock)
    except NoMeasurableWindowError:
        return None


def _check_deadlines(child: ChildProcess, window: _Window, now: Sample) -> None:
    """Every wait is bounded: by start-up time before the first output, by stalls after."""
    if window.first is None and now.at - window.launched > STARTUP_TIMEOUT_S:
        raise BenchError(f"{child.name} produced nothing within {STARTUP_TIMEOUT_S:.0f} s:\n"
                         f"{child.log_tail()}")
    if window.first is not None and now.at - max(window.grew_at, window.first.at) > STALL_TIMEOUT_S:
        raise BenchError(f"{child.name} stalled at {now.count} outputs for {STALL_TIMEOUT_S:.0f} s:\n"
                         f"{child.log_tail()}")
