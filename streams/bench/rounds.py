"""The throughput rounds of a benchmark, and the unrecorded broker warm-up before them.

In a round, every asked-for mode gets fresh topics and its backlog, all its processes start, and
then they take turns in short slices (``streams.bench.slices``), so a slow stretch of the shared
machine falls on every mode alike. The modes that read events (raw, scoring, full, the peers) read
the same events topic, each in its own consumer group: one preload instead of one per mode, the
same bytes for all. The join reads predictions and labels preloaded for it alone.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

from driftline.streams.bench.modes import MODES, ModeSpec
from driftline.streams.bench.phase import (
    WARMUP_ROUND,
    BenchRun,
    delete_topics,
    outputs_of,
    own_topics,
    preload,
)
from driftline.streams.bench.procfs import peak_rss_mb
from driftline.streams.bench.report import ModeResult
from driftline.streams.bench.slices import Entrant, SlicedResult, start_paused, take_turns
from driftline.streams.bench.watch import OutputWatcher, measure_if_timed
from driftline.streams.broker.admin import create_topics


async def warm_up_broker(run: BenchRun) -> None:
    """An unrecorded raw passthrough over ``broker_warmup_events``, alone, while a fresh broker's JIT
    warms up (without it, round 1 measured 23-47% fewer events/s than rounds 2 and 3)."""
    spec, round_ = MODES["raw"], WARMUP_ROUND
    settings = run.settings_for(spec, round_)
    async with own_topics(run, settings):
        events = run.events_for(spec, round_)
        await preload(run, spec, round_, settings, events)
        run.say(round_, f"{spec.name}: starting the {spec.title}")
        topics = outputs_of(spec, settings)
        async with OutputWatcher(run.bootstrap, topics, run.options.partitions) as watcher:
            child = run.spawn(spec, f"{spec.name}-warm-up", settings)
            try:
                measured = await measure_if_timed(watcher, child, events)
            finally:
                child.stop()
    # A small warm-up can be done before its first count returns (seen in CI with 2,000 events);
    # the broker served it all the same, which is all a warm-up is for.
    rate = "done before it could be timed" if measured is None else f"{measured.rate.eps:,.0f} events/s"
    run.say(round_, f"{spec.name}: {rate} (not recorded)")


async def run_round(run: BenchRun, round_: int) -> dict[str, ModeResult]:
    """Every mode of one round, taking turns; every process is stopped and every topic deleted after."""
    options = run.options
    async with AsyncExitStack() as stack:
        events_topic = await _shared_events(run, round_, stack)
        entrants: list[tuple[ModeSpec, Entrant]] = []
        watchers = []
        for name in options.modes:
            spec = MODES[name]
            settings = run.settings_for(spec, round_)
            shared: frozenset[str] = frozenset()
            if events_topic and not spec.label_join:
                settings = dataclasses.replace(settings, topic_events=events_topic)
                shared = frozenset({events_topic})
            await stack.enter_async_context(own_topics(run, settings, keep=shared))
            if spec.label_join:
                await preload(run, spec, round_, settings, run.events_for(spec, round_))
            watchers.append((spec, settings, await stack.enter_async_context(
                OutputWatcher(run.bootstrap, outputs_of(spec, settings), options.partitions))))
        run.say(round_, f"starting {', '.join(options.modes)}; each is paused at its first output")
        for spec, settings, watcher in watchers:
            child = run.spawn(spec, f"{spec.name}-{round_ + 1}", settings)
            stack.callback(child.stop)  # before its topics are deleted: the stack unwinds in reverse
            # The join's outputs lag its inputs (a label waits for its prediction): it is measured
            # over its whole backlog, its own unit of work, not over a fixed running time.
            work_s = float("inf") if spec.label_join else options.work_seconds
            entrants.append((spec, Entrant(child, watcher.count, run.events_for(spec, round_), work_s)))
        await start_paused([entrant for _, entrant in entrants])
        run.say(round_, f"taking turns in {options.slice_seconds:g} s slices until each has run "
                        f"{options.work_seconds:g} s or done its backlog")
        results = await take_turns([entrant for _, entrant in entrants], slice_s=options.slice_seconds)
        return {spec.name: _recorded(run, round_, spec, entrant, result)
                for (spec, entrant), result in zip(entrants, results, strict=True)}


def _recorded(run: BenchRun, round_: int, spec: ModeSpec, entrant: Entrant,
              result: SlicedResult) -> ModeResult:
    slowest, fastest = min(result.slice_rates), max(result.slice_rates)
    run.say(round_, f"{spec.name}: {result.rate.eps:,.0f} events/s over {result.rate.seconds:.1f} s in "
                    f"{len(result.slice_rates)} slices ({slowest:,.0f}-{fastest:,.0f} events/s), "
                    f"{result.cpu_s_per_1k:.4f} CPU s per 1k events")
    return ModeResult(eps=result.rate.eps, window_s=result.rate.seconds, events=result.rate.events,
                      cpu_s_per_1k=result.cpu_s_per_1k, peak_rss_mb=peak_rss_mb(entrant.process.pid),
                      startup_s=result.startup_s, slices=len(result.slice_rates))


async def _shared_events(run: BenchRun, round_: int, stack: AsyncExitStack) -> str | None:
    """Create and preload the round's events topic (deleted last); None when no mode reads events."""
    readers = [MODES[name] for name in run.options.modes if not MODES[name].label_join]
    if not readers:
        return None
    settings = run.settings_for(MODES["raw"], round_)
    # Only the events topic: the raw mode's own topics (same names) are created and deleted by its
    # own phase, which keeps this one for the others.
    await create_topics(run.bootstrap, {settings.topic_events: run.options.partitions})
    stack.push_async_callback(delete_topics, run.bootstrap, [settings.topic_events])
    events = max(run.events_for(spec, round_) for spec in readers)
    await preload(run, MODES["raw"], round_, settings, events, who=", ".join(spec.name for spec in readers))
    return settings.topic_events
