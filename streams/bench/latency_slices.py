"""One latency load offered to every target in slices, the targets taking turns.

Why: a latency load used to run 12 s on the full worker and then 12 s on the raw passthrough. The
p99 at 50% load is the backlog after the shared machine's worst stalls, so it was decided by which
12 s the slow stretches fell into (session 14: per round the worker's p99 ran 20-70 ms and the raw
client's 21-83 ms, and the judged ratio was 0.77, 1.29 and 1.64 in three runs of one tree). Now
each target gets the load in slices of ``latency_slice_seconds`` (2 s), alternating, until each
has been offered the whole load: a slow stretch of the machine falls on both targets' slices
alike, and each target's percentiles are those of all its slices pooled.

A slice of one target: resume the process (SIGCONT), let its due timers fire (``RESUME_SETTLE_S``),
let its pacer go (SIGUSR2), hold the pacer when the slice is over (SIGUSR1) and wait for it to say
every send was acknowledged, wait until the target has answered every event on its topic (its
predictions' end offsets reach its events' end offsets), pause the process (SIGSTOP). Nothing is
in flight at a pause, so no event's latency includes time the target was stopped. The pacers are
held, not stopped, between slices: each one's schedule restarts at every go, so a slice starts at
the offered rate instead of with a burst (``streams.bench.pacer``).
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from driftline.streams.bench.children import BenchError, ChildProcess, Children
from driftline.streams.bench.latency import (
    PACER_MODULE,
    Arrivals,
    LoadPlan,
    PredictionReader,
    load_result,
    pacer_args,
    pacer_summary,
    read_predictions,
    settle,
)
from driftline.streams.bench.watch import OutputWatcher
from driftline.streams.settings import Settings

#: After a target is resumed, before its slice starts: timers due while it was paused fire now.
RESUME_SETTLE_S = 1.0
#: How long a pacer may take to start held, or to confirm a hold (its sends acknowledged).
HOLD_TIMEOUT_S = 30.0
#: How long a target may take to answer the last events of its slice.
ANSWER_TIMEOUT_S = 30.0
POLL_S = 0.02


def slice_lengths(seconds: float, slice_seconds: float) -> list[float]:
    """A load of ``seconds`` cut into slices of ``slice_seconds``; the last one takes the rest."""
    if seconds <= 0 or slice_seconds <= 0:
        raise ValueError(f"a load and its slices need positive lengths, got {seconds:g} and "
                         f"{slice_seconds:g}")
    whole = max(1, math.ceil(seconds / slice_seconds - 1e-9))
    return [min(slice_seconds, seconds - k * slice_seconds) for k in range(whole)]


class SlicedTarget(Protocol):
    """What a sliced load needs of a target; ``latency_rounds`` passes its started targets."""

    @property
    def name(self) -> str: ...

    def resume(self) -> None: ...
    def pause(self) -> None: ...
    async def answered_all(self) -> bool: ...


class SlicedPacer(Protocol):
    async def run_slice(self, seconds: float) -> None: ...


async def take_turns(turns: Sequence[tuple[SlicedTarget, SlicedPacer]], slices: Sequence[float]) -> None:
    """Every slice, each target in turn: resume, settle, pace, wait for its answers, pause."""
    for seconds in slices:
        for target, pacer in turns:
            target.resume()
            await settle(RESUME_SETTLE_S)
            await pacer.run_slice(seconds)
            await _until(target.answered_all, ANSWER_TIMEOUT_S,
                         f"{target.name} did not answer its slice's events within {ANSWER_TIMEOUT_S:g} s")
            target.pause()


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise BenchError(failure)
        await asyncio.sleep(POLL_S)


class HeldPacer:
    """A pacer child started held (``--held``), let go one slice at a time."""

    def __init__(self, child: ChildProcess, summary: Path, prefix: str) -> None:
        self.child = child
        self.summary = summary
        self.prefix = prefix
        self._holds = 0

    @classmethod
    async def start(cls, children: Children, settings: Settings, plan: LoadPlan, *, work_dir: Path,
                    seed: int, label: str) -> HeldPacer:
        """Spawn it and wait until it is connected and held, ready for its first slice."""
        prefix = f"{label}{plan.load_pct}-"
        summary = work_dir / f"pacer-{label}{plan.load_pct}.json"
        summary.unlink(missing_ok=True)
        args = pacer_args(plan, seed=seed, prefix=prefix, summary=summary)
        pacer = cls(children.spawn(f"pacer-{label}{plan.load_pct}", PACER_MODULE, settings, *args, "--held"),
                    summary, prefix)
        await pacer._held()
        return pacer

    async def run_slice(self, seconds: float) -> None:
        """Let it go for ``seconds``, then hold it; return once its sends are acknowledged.

        A pacer that has sent its whole load sends nothing more, and still answers holds."""
        self.child.send_signal(signal.SIGUSR2)
        await asyncio.sleep(seconds)
        self.child.send_signal(signal.SIGUSR1)
        await self._held()

    def finish(self) -> tuple[int, float]:
        """Stop it (it writes its final summary on the way out); return (sent, seconds let go)."""
        self.child.stop()
        code = self.child.exit_code()
        if code != 0:
            raise BenchError(f"{self.child.name} exited with {code}:\n{self.child.log_tail()}")
        return pacer_summary(self.summary)

    async def _held(self) -> None:
        """Wait for the summary of the next hold."""
        self._holds += 1
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while (holds := _holds_in(self.summary)) != self._holds:
            self.child.ensure_alive()
            if holds is not None and holds > self._holds:
                raise BenchError(f"{self.child.name} reports {holds} holds, expected {self._holds}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.child.name} was not held within {HOLD_TIMEOUT_S:g} s:\n"
                                 f"{self.child.log_tail()}")
            await asyncio.sleep(POLL_S)


def _holds_in(summary: Path) -> int | None:
    """The hold count in a pacer's summary; None before the first one or in the final one."""
    try:
        holds = orjson.loads(summary.read_bytes()).get("holds")
    except (OSError, orjson.JSONDecodeError):
        return None
    return holds if isinstance(holds, int) else None


async def answered_all(watcher: OutputWatcher, settings: Settings) -> bool:
    """Whether a target has answered every event on its events topic: the end offsets of its
    predictions reach those of its events (one prediction per event in the bench). ``watcher``
    watches those two topics."""
    counts = await watcher.counts()
    return counts[settings.topic_predictions] >= counts[settings.topic_events]


@dataclass
class LoadTurn:
    """One target's part in a sliced load: its reader and pacer, and what it was offered."""

    reader: PredictionReader
    pacer: HeldPacer
    plan: LoadPlan

    async def result(self) -> dict[str, Any]:
        """Stop the pacer, read every prediction of its events, and summarise the load."""
        sent, seconds = self.pacer.finish()
        arrivals = Arrivals()
        await read_predictions(self.reader, self.pacer.prefix, arrivals, sent)
        return load_result(self.plan, sent, seconds, arrivals)
