"""The latency rounds: the full worker and the raw passthrough at the same offered rates, load by
load, and each target's CPU share at a low steady rate.

The offered rates are shares of the full worker's median events/s from the throughput rounds, the
same in every round. In each round the full worker and the raw passthrough start on fresh topics of
their own, each warmed up by an unrecorded load and then paused (SIGSTOP); each load is offered to
both in alternating slices (``streams.bench.latency_slices``), so a slow stretch of the shared
machine falls on both (session 7: one run's full p99 at 50% load was 2.4x the raw client's,
measured three minutes later; session 14: 0.77, 1.29 and 1.64 with the two targets' 12 s of a load
back to back). Then the low steady rate: the full worker, the raw passthrough, then a fresh
scoring-only worker (the monitors' fixed cost is the difference of two measured shares), one at a
time, each stopped after. A paused target waits at most one slice or one low rate (~30 s at the
defaults), within the children's consumer session (``modes.BENCH_SESSION_TIMEOUT_MS``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from driftline.streams.bench.children import ChildProcess
from driftline.streams.bench.latency import LoadPlan, PredictionReader, run_load
from driftline.streams.bench.latency_slices import (
    HeldPacer,
    LoadTurn,
    answered_all,
    slice_lengths,
    take_turns,
)
from driftline.streams.bench.low_rate import measure_low_rate
from driftline.streams.bench.modes import MODES, ModeSpec
from driftline.streams.bench.phase import BenchRun, own_topics
from driftline.streams.bench.procfs import peak_rss_mb
from driftline.streams.bench.report import BenchReport, TargetRun
from driftline.streams.bench.stats import offered_loads
from driftline.streams.bench.watch import OutputWatcher
from driftline.streams.settings import Settings


def latency_targets(measured: tuple[str, ...], low_rate: bool) -> list[tuple[str, bool]]:
    """Who the latency rounds run, in order, and whether each is offered the loads: the full worker
    and the raw passthrough are; the scoring-only worker only gets the low rate (and only when it is
    measured), so the monitors' fixed cost there is the difference of two measured shares."""
    wanted = {"full": True, "scoring": low_rate, "raw": True}
    return [(name, name != "scoring") for name in ("full", "scoring", "raw")
            if wanted[name] and name in measured]


@dataclass
class _Target:
    """A started target of one round and the loads it has been offered so far."""

    spec: ModeSpec
    settings: Settings
    child: ChildProcess
    reader: PredictionReader
    #: The end offsets of its events and predictions topics.
    topics: OutputWatcher
    loads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def resume(self) -> None:
        self.child.resume()

    def pause(self) -> None:
        self.child.pause()

    async def answered_all(self) -> bool:
        return await answered_all(self.topics, self.settings)


async def latency_rounds(run: BenchRun, report: BenchReport) -> None:
    """Every latency round, recorded into ``report.latency`` by target."""
    options, full = run.options, report.modes.get("full")
    if not full or not (options.loads or options.low_rate_eps > 0):
        return
    rates = offered_loads(statistics.median(r.eps for r in full), options.loads)
    warm_rate = rates[0] if rates else options.low_rate_eps  # the same for every target
    targets = latency_targets(tuple(report.modes), options.low_rate_eps > 0)
    for round_ in range(options.repeat):
        measured = await _latency_round(run, round_, targets, rates, warm_rate)
        for name, _ in targets:
            report.latency.setdefault(name, []).append(measured[name])


async def _latency_round(run: BenchRun, round_: int, targets: Sequence[tuple[str, bool]], rates: list[float],
                         warm_rate: float) -> dict[str, TargetRun]:
    """Loads offered to the targets in alternating slices, then each target's low rate; everything
    stopped after."""
    results: dict[str, TargetRun] = {}
    async with AsyncExitStack() as stack:
        loaded = [await _start(run, stack, round_, MODES[name], warm_rate) for name, offered in targets
                  if offered and rates]
        for pct, rate in zip(run.options.loads, rates, strict=True):
            for target, load in zip(loaded, await _offer(run, round_, loaded, pct, rate), strict=True):
                target.loads.append(load)
        # The paused targets first, so none waits out a start-up; then, started now for their low
        # rate only, the targets offered no loads.
        for target in loaded:
            results[target.spec.name] = await _finish(run, round_, target)
        for name, _ in targets:
            if name not in results:
                results[name] = await _finish(run, round_, await _start(run, stack, round_, MODES[name],
                                                                         warm_rate))
    return results


async def _start(run: BenchRun, stack: AsyncExitStack, round_: int, spec: ModeSpec,
                 warm_rate: float) -> _Target:
    """A fresh process on fresh topics, warmed up by an unrecorded load, then paused."""
    options = run.options
    settings = run.settings_for(spec, round_, phase="-latency")
    await stack.enter_async_context(own_topics(run, settings))
    run.say(round_, f"{spec.name}: starting the {spec.title} again for the latency phase")
    child = run.spawn(spec, f"{spec.name}-latency-{round_ + 1}", settings)
    stack.callback(child.stop)  # before its topics are deleted: the stack unwinds in reverse
    reader = await stack.enter_async_context(
        PredictionReader(run.bootstrap, settings.topic_predictions, options.partitions))
    topics = await stack.enter_async_context(
        OutputWatcher(run.bootstrap, [settings.topic_events, settings.topic_predictions], options.partitions))
    if options.warmup_seconds > 0:
        run.say(round_, f"{spec.name}: warming up at {warm_rate:,.0f} events/s "
                        f"for {options.warmup_seconds:g} s")
        warmup = LoadPlan(0, warm_rate, options.warmup_seconds, options.latency_max_events)
        await run_load(reader, run.children, settings, warmup, work_dir=run.work_dir,
                       seed=options.seed + 1, label=f"{spec.name}{round_ + 1}-warm")
    child.pause()
    return _Target(spec, settings, child, reader, topics)


async def _offer(run: BenchRun, round_: int, loaded: list[_Target], pct: int,
                 rate: float) -> list[dict[str, Any]]:
    """One load offered to every target in alternating slices; each target's result, in order."""
    options = run.options
    slices = slice_lengths(options.latency_seconds, options.latency_slice_seconds)
    run.say(round_, f"{', '.join(t.name for t in loaded)}: latency at {pct}% load, {rate:,.0f} events/s for "
                    f"{options.latency_seconds:g} s each, taking turns in {len(slices)} slices")
    plan = LoadPlan(pct, rate, options.latency_seconds, options.latency_max_events)
    turns: list[LoadTurn] = []
    try:
        for target in loaded:
            await target.reader.skip_to_end()
            pacer = await HeldPacer.start(run.children, target.settings, plan, work_dir=run.work_dir,
                                          seed=options.seed + 1, label=f"{target.name}{round_ + 1}-lat")
            turns.append(LoadTurn(target.reader, pacer, plan))
        await take_turns([(t, turn.pacer) for t, turn in zip(loaded, turns, strict=True)], slices)
        loads = [await turn.result() for turn in turns]
    finally:
        for turn in turns:
            turn.pacer.child.stop()  # before the workers they feed, if this load is cut short
    for target, load in zip(loaded, loads, strict=True):
        run.say(round_, f"{target.name}: {pct}% load: {load['received']:,} predictions, "
                        f"p50 {_ms(load['p50_ms'])}, p99 {_ms(load['p99_ms'])}")
    return loads


async def _finish(run: BenchRun, round_: int, target: _Target) -> TargetRun:
    """Resume the target for its low rate (when measured), read its peak RSS, stop it."""
    target.child.resume()
    low_rate = await _low_rate(run, round_, target)
    rss = peak_rss_mb(target.child.pid)
    target.child.stop()
    return TargetRun(loads=target.loads, peak_rss_mb=rss, low_rate=low_rate)


async def _low_rate(run: BenchRun, round_: int, target: _Target) -> dict[str, Any] | None:
    options, name = run.options, target.spec.name
    if options.low_rate_eps <= 0:
        return None
    run.say(round_, f"{name}: CPU share at {options.low_rate_eps:,.0f} events/s "
                    f"for {options.low_rate_seconds:g} s")
    low = await measure_low_rate(target.reader, run.children, target.settings, target.child.pid,
                                 rate=options.low_rate_eps, seconds=options.low_rate_seconds,
                                 work_dir=run.work_dir, seed=options.seed + 1,
                                 label=f"{name}{round_ + 1}-low")
    share = low["cpu_share"]
    run.say(round_, f"{name}: {'n/a' if share is None else f'{share:.1%}'} of a core at "
                    f"{options.low_rate_eps:,.0f} events/s")
    return low


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
