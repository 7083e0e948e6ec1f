"""Measuring several processes in alternating time slices, so that all of them meet the same machine.

Why: on a shared 2-vCPU VM the speed a process gets drifts by tens of percent over tens of
seconds (session 7: the same raw passthrough cost 0.0256 and 0.0341 CPU s per 1,000 events in two
phases of one run, and the full worker's CPU over the scoring worker's, 1.0-1.1 most of the time,
was 1.74 in one round). Measured one after the other, each mode of a round gets its own 20 s of
the machine, and a ratio of two modes measures the machine as much as the modes. Here the modes of
a round all start, each with its own backlog, and take turns: one runs for a slice (1 s), paused
(SIGSTOP) the rest of the time, so no two compete for the cores, and a slow stretch of the machine
falls on every mode's slices alike. Each one's rate is its outputs over its own running time, its
CPU cost the CPU time it used, which only grows while it runs.

What a pause costs the measurement: outputs whose produce requests were in flight at the pause are
acknowledged while the process is stopped; they are counted (the final count is read after they
settle), and that is right, the work was done in the slice. A timer inside the process (a commit
interval, a metrics snapshot) fires by wall clock, so while it runs a third or a quarter of the
time, its timers' work per running second drops to a third or a quarter; measured idle, the whole
of a worker's timer work is 3-5% of a core, so this understates a mode's cost by at most ~3%.
A paused consumer sends no heartbeats: the bench gives its children a session timeout longer than
any pause (``modes.BENCH_SESSION_TIMEOUT_MS``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from driftline.streams.bench.children import BenchError
from driftline.streams.bench.stats import Rate, Sample, crossing_time, per_thousand
from driftline.streams.bench.watch import FIRST_POLL_S, POLL_S, STALL_TIMEOUT_S, STARTUP_TIMEOUT_S

log = logging.getLogger(__name__)

# The polling cadence, the start-up deadline and the stall limit (counted here in running seconds:
# a whole-backlog entrant would otherwise take turns for ever) are those of a process measured
# alone (``streams.bench.watch``).
#: A paused process's count is read until two reads this far apart agree (acks in flight).
SETTLE_S = 0.05
SETTLE_TIMEOUT_S = 5.0


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Pausable(Protocol):
    """The process side of an entrant: ``ChildProcess`` in the bench, a fake in the tests."""

    name: str

    @property
    def pid(self) -> int: ...

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def ensure_alive(self) -> None: ...
    def cpu_seconds(self) -> float: ...
    def log_tail(self) -> str: ...


@dataclass
class Entrant:
    """One process taking turns: what it is, how to count its outputs, and what it has done so far."""

    process: Pausable
    count: Callable[[], Awaitable[int]]
    #: Outputs at which its backlog is done (the count of its preloaded input).
    target: int
    #: Running time after which it leaves the turns even with backlog left (infinite: it does it all).
    work_s: float = float("inf")
    startup_s: float = 0.0
    start_count: int = 0
    start_cpu: float = 0.0
    running_s: float = 0.0
    #: Outputs per running second of each slice (in-flight acks land in the next one).
    slice_rates: list[float] = field(default_factory=list)
    #: Whether its count reached ``target`` (its running time then ends at the crossing).
    finished: bool = False
    #: Its running time when its count last grew.
    grew_at_s: float = 0.0


@dataclass(frozen=True)
class SlicedResult:
    """One entrant's throughput over its own running time."""

    rate: Rate
    cpu_s_per_1k: float
    startup_s: float
    slice_rates: list[float]


async def start_paused(entrants: Sequence[Entrant], clock: Clock = time.monotonic,
                       sleep: Sleep = asyncio.sleep) -> None:
    """Wait for each (already started) process's first output, then pause it.

    Start-up (interpreter, model, group join) is excluded the way a sequential measurement excludes
    it: every process is paused as soon as its first output is seen, and measured from there.
    """
    launched = clock()
    starting = list(entrants)
    while starting:
        await sleep(FIRST_POLL_S)
        for entrant in list(starting):
            entrant.process.ensure_alive()
            if await entrant.count() > 0:
                entrant.process.pause()
                entrant.startup_s = clock() - launched
                starting.remove(entrant)
        if starting and clock() - launched > STARTUP_TIMEOUT_S:
            late = starting[0].process
            raise BenchError(f"{late.name} produced nothing within {STARTUP_TIMEOUT_S:.0f} s:\n"
                             f"{late.log_tail()}")
    for entrant in entrants:
        entrant.start_count = await settled_count(entrant.count, clock, sleep)
        entrant.start_cpu = entrant.process.cpu_seconds()
        if entrant.start_count >= entrant.target:
            raise BenchError(f"{entrant.process.name} did its whole backlog ({entrant.target:,} events) "
                             "while starting: nothing is left to measure; preload more events")


async def take_turns(entrants: Sequence[Entrant], *, slice_s: float, clock: Clock = time.monotonic,
                     sleep: Sleep = asyncio.sleep) -> list[SlicedResult]:
    """Run the paused entrants a slice each, in turn, until each has run its ``work_s`` seconds or
    done its backlog; returns their results in the same order. Everyone is paused again at the end."""
    if slice_s <= 0 or any(e.work_s <= 0 for e in entrants):
        raise ValueError(f"slice and work seconds must be positive, got {slice_s} and "
                         f"{[e.work_s for e in entrants]}")
    while waiting := [e for e in entrants if not e.finished and e.running_s < e.work_s]:
        for entrant in waiting:
            await run_slice(entrant, min(slice_s, entrant.work_s - entrant.running_s), clock, sleep)
    return [await _result(e, clock, sleep) for e in entrants]


async def run_slice(entrant: Entrant, budget_s: float, clock: Clock, sleep: Sleep) -> None:
    """Resume the entrant for ``budget_s`` seconds, or until its count reaches its target."""
    process = entrant.process
    at_pause = await entrant.count()
    if at_pause >= entrant.target:
        # Its last acknowledgements (or a join's transaction markers) landed while it was paused: it
        # finished in its previous slice. A slice now would end at once, and its rate, a negative
        # count over microseconds, read as minus billions of events a second (session 15).
        entrant.finished = True
        return
    process.resume()
    began = clock()
    first = last = Sample(began, at_pause)
    ended: float | None = None
    while ended is None:
        await sleep(min(POLL_S, budget_s))
        process.ensure_alive()
        now = Sample(clock(), await entrant.count())
        if now.count > last.count:
            entrant.grew_at_s = entrant.running_s + now.at - began
        if now.count >= entrant.target:
            ended, entrant.finished = crossing_time(last, now, entrant.target), True
        elif now.at - began >= budget_s:
            ended = clock()
        last = now
    process.pause()
    entrant.running_s += ended - began
    # Counted up to the target, like the slice's end: outputs past it (a join's transaction
    # markers, a peer's last burst) over a crossing a few microseconds in read as billions a second.
    entrant.slice_rates.append((min(last.count, entrant.target) - first.count) / max(ended - began, 1e-9))
    if entrant.running_s - entrant.grew_at_s > STALL_TIMEOUT_S:
        raise BenchError(f"{process.name} stalled at {last.count:,} of {entrant.target:,} outputs for "
                         f"{STALL_TIMEOUT_S:.0f} s of its running time:\n{process.log_tail()}")


async def settled_count(count: Callable[[], Awaitable[int]], clock: Clock, sleep: Sleep) -> int:
    """A paused process's output count once the acknowledgements still in flight have landed."""
    deadline = clock() + SETTLE_TIMEOUT_S
    previous = await count()
    while True:
        await sleep(SETTLE_S)
        current = await count()
        if current == previous or clock() > deadline:
            return current
        previous = current


async def _result(entrant: Entrant, clock: Clock, sleep: Sleep) -> SlicedResult:
    name = entrant.process.name
    final = await settled_count(entrant.count, clock, sleep)
    # Transaction markers count in end offsets (the join's outputs): a finished run stops at its target.
    events = (min(final, entrant.target) if entrant.finished else final) - entrant.start_count
    seconds = entrant.running_s
    if events <= 0 or seconds <= 0:
        raise BenchError(f"{name} produced no output in its {len(entrant.slice_rates)} slices "
                         f"({entrant.running_s:.1f} s):\n{entrant.process.log_tail()}")
    cost = per_thousand(entrant.process.cpu_seconds() - entrant.start_cpu, events)
    return SlicedResult(Rate(events / seconds, seconds, events), cost, entrant.startup_s, entrant.slice_rates)
