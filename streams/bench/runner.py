"""One benchmark run, start to finish: broker, model, then each mode on the same data.

Order and lifetime: a broker is started only when none is given (``--broker``), the demo model is
registered into a temporary registry, and each mode gets fresh topics, the same preloaded events
and its own child process, which is stopped before the next mode starts so no two processes under
test ever share the two cores. The latency loads run against the ``full`` worker while it is still
up; then, if the raw mode ran too, a fresh passthrough on the raw mode's topics gets the same
offered rates, so the report can set the worker's latency beside the bare client's from the same
run. Every child and the broker are stopped on the way out, whatever happened (``finally`` blocks
and context managers, which Ctrl-C unwinds like any exception).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftline.models.registry import Registry
from driftline.streams.bench.children import Children
from driftline.streams.bench.labelled import preload_labelled
from driftline.streams.bench.latency import APPEND_TIME_CONFIG, LoadPlan, PredictionReader, run_load, settle
from driftline.streams.bench.modes import DEFAULT_MODES, MODES, TOPIC_FIELDS, ModeSpec, mode_settings
from driftline.streams.bench.payload import PRELOAD_BATCH_BYTES, PRELOAD_LINGER_MS
from driftline.streams.bench.procfs import machine, peak_rss_mb
from driftline.streams.bench.report import BenchReport, ModeResult
from driftline.streams.bench.stats import offered_loads
from driftline.streams.bench.watch import OutputWatcher, measure
from driftline.streams.broker.admin import create_topics
from driftline.streams.produce import produce_events
from driftline.streams.registration import register_demo_with_reference
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics

log = logging.getLogger(__name__)

Progress = Callable[[str], None]



@dataclass(frozen=True)
class BenchOptions:
    """What ``driftline bench`` was asked to do."""

    events: int = 200_000
    modes: tuple[str, ...] = DEFAULT_MODES
    partitions: int = 6
    #: ``host:port`` of an existing broker; None starts (and stops) one.
    broker: str | None = None
    seed: int = 0
    loads: tuple[int, ...] = (25, 50, 75)
    latency_seconds: float = 12.0
    latency_max_events: int | None = None
    #: Unrecorded load before each target's latency loads.
    warmup_seconds: float = 10.0
    command: str = "driftline bench"


@dataclass
class _Run:
    """Everything the phases of one run share."""

    options: BenchOptions
    base: Settings
    bootstrap: str
    registry: Path
    work_dir: Path
    children: Children
    progress: Progress
    run_id: str

    def settings_for(self, spec: ModeSpec) -> Settings:
        return mode_settings(self.base, spec, bootstrap=self.bootstrap, registry=self.registry,
                             run_id=self.run_id, partitions=self.options.partitions)


def run_bench(options: BenchOptions, settings: Settings, progress: Progress) -> BenchReport:
    """Measure every asked-for mode and return the report (the caller prints it)."""
    began = time.monotonic()
    report = _empty_report(options, settings)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        bootstrap = options.broker or _start_broker(work / "kafka", stack, progress, report)
        registry = work / "registry"
        progress("registering the demo model and its reference profile into a temporary registry")
        register_demo_with_reference(Registry(registry))  # without a reference, nothing is monitored
        children = stack.enter_context(Children(work))
        run = _Run(options, settings, bootstrap, registry, work, children, progress,
                   f"bench-{uuid.uuid4().hex[:8]}")
        asyncio.run(_run_modes(run, report))
    report.duration_s = time.monotonic() - began
    progress(f"done in {report.duration_s:.0f} s")
    return report


def _empty_report(options: BenchOptions, settings: Settings) -> BenchReport:
    tuning = ("batch_max_records", "poll_timeout_ms", "producer_linger_ms", "producer_max_batch_bytes",
              "fetch_max_wait_ms", "commit_interval_ms", "log_level")
    return BenchReport(
        events=options.events, partitions=options.partitions, seed=options.seed, command=options.command,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), kafka_version=None,
        broker={"bootstrap": options.broker, "started_by_bench": options.broker is None},
        machine=machine(), settings={name: getattr(settings, name) for name in tuning},
        latency_plan={"against": ["full", "raw"], "loads_pct": list(options.loads),
                      "warmup_seconds": options.warmup_seconds,
                      "seconds_per_load": options.latency_seconds,
                      "max_events_per_load": options.latency_max_events},
    )


def _start_broker(data_dir: Path, stack: ExitStack, progress: Progress, report: BenchReport) -> str:
    """Start a broker on a free port; the stack stops it when the run ends."""
    from driftline.streams.broker import KAFKA_VERSION, start_on_free_port, stop

    progress(f"starting Kafka {KAFKA_VERSION} in {data_dir}")
    stack.callback(stop, data_dir)
    handle = start_on_free_port(data_dir)
    report.kafka_version = KAFKA_VERSION
    report.broker["bootstrap"] = handle.bootstrap
    return handle.bootstrap


async def _run_modes(run: _Run, report: BenchReport) -> None:
    created: list[str] = []
    try:
        for name in run.options.modes:
            spec = MODES[name]
            report.modes[name] = await _run_mode(run, spec, created)
        await _raw_latency(run, report)
    finally:
        if run.options.broker is not None and created:
            await _delete_topics(run.bootstrap, created)


async def _run_mode(run: _Run, spec: ModeSpec, created: list[str]) -> ModeResult:
    """Preload, start the mode's process, measure it (and latency, for ``full``), stop it."""
    settings = run.settings_for(spec)
    # Predictions are stamped by the broker on append: latency ends when a prediction is available.
    await create_topics(run.bootstrap, {settings.topic_predictions: run.options.partitions},
                        configs={settings.topic_predictions: APPEND_TIME_CONFIG})
    await ensure_topics(settings)
    created.extend(getattr(settings, name) for name in TOPIC_FIELDS)
    await _preload(run, spec, settings)
    run.progress(f"{spec.name}: starting the {spec.title}")
    assert spec.module is not None
    child = run.children.spawn(spec.name, spec.module, settings, *spec.args)
    outputs = _outputs(spec, settings)
    try:
        # Training examples are written in transactions: their end offsets also count one commit
        # marker per partition and transaction (about 60/s at 100 ms cycles), a rate error < 0.5%.
        async with OutputWatcher(run.bootstrap, outputs, run.options.partitions) as watcher:
            measured = await measure(watcher, child, run.options.events)
        run.progress(f"{spec.name}: {measured.rate.eps:,.0f} events/s over {measured.rate.seconds:.1f} s, "
                     f"{measured.cpu_s_per_1k:.3f} CPU s per 1k events")
        latency = await _latency(run, settings, "full", measured.rate.eps) if spec.name == "full" else None
        rss = peak_rss_mb(child.pid)
    finally:
        child.stop()
    return ModeResult(eps=measured.rate.eps, window_s=measured.rate.seconds, events=measured.rate.events,
                      cpu_s_per_1k=measured.cpu_s_per_1k, peak_rss_mb=rss, startup_s=measured.startup_s,
                      latency=latency)


def _outputs(spec: ModeSpec, settings: Settings) -> list[str]:
    """The topics whose growth counts one unit of the mode's work."""
    if not spec.label_join:
        return [settings.topic_predictions, settings.topic_deadletter]
    return [settings.topic_training_examples if spec.labels else settings.topic_join_changelog]


async def _preload(run: _Run, spec: ModeSpec, settings: Settings) -> None:
    total = run.options.events
    step = max(total // 4, 1)
    reported = [0]

    def report(sent: int, count: int) -> None:
        if sent == count or sent // step > reported[0]:
            reported[0] = sent // step
            run.progress(f"{spec.name}: preloaded {sent:,}/{count:,} events")

    if spec.label_join:
        run.progress(f"{spec.name}: preloading {total:,} predictions" + (" and their labels" * spec.labels))
        await preload_labelled(settings, total, partitions=run.options.partitions, seed=run.options.seed,
                               labels=spec.labels, progress=report)
        return
    run.progress(f"{spec.name}: preloading {total:,} events into {settings.topic_events}")
    preloading = dataclasses.replace(settings, broker=run.bootstrap, producer_linger_ms=PRELOAD_LINGER_MS,
                                     producer_max_batch_bytes=PRELOAD_BATCH_BYTES)
    await produce_events(preloading, total, seed=run.options.seed, id_prefix="evt", progress=report)


async def _latency(run: _Run, settings: Settings, target: str, full_max_eps: float) -> list[dict[str, Any]]:
    """Warm ``target`` up, then offer each load (a share of the full worker's maximum) in turn."""
    options, results = run.options, list[dict[str, Any]]()
    rates = offered_loads(full_max_eps, options.loads)
    if not rates:  # --loads "": no latency phase (a reader stopped at once raised CancelledError)
        return results
    async with PredictionReader(run.bootstrap, settings.topic_predictions, options.partitions) as reader:
        if options.warmup_seconds > 0 and rates:
            run.progress(f"{target}: warming up at {rates[0]:,.0f} events/s for {options.warmup_seconds:g} s")
            warmup = LoadPlan(0, rates[0], options.warmup_seconds, options.latency_max_events)
            await run_load(reader, run.children, settings, warmup, work_dir=run.work_dir,
                           seed=options.seed + 1, label=f"{target}-warm")
        for pct, rate in zip(options.loads, rates, strict=True):
            run.progress(f"{target}: latency at {pct}% load, {rate:,.0f} events/s "
                         f"for {options.latency_seconds:g} s")
            plan = LoadPlan(pct, rate, options.latency_seconds, options.latency_max_events)
            load = await run_load(reader, run.children, settings, plan, work_dir=run.work_dir,
                                  seed=options.seed + 1, label=f"{target}-lat")
            results.append(load)
            run.progress(f"{target}: {pct}% load: {load['received']:,} predictions, p50 "
                         f"{_ms(load['p50_ms'])}, p99 {_ms(load['p99_ms'])}")
            await settle(1.0)
    return results


async def _raw_latency(run: _Run, report: BenchReport) -> None:
    """The same offered rates through a fresh raw passthrough: the client's own latency floor."""
    raw, full = report.modes.get("raw"), report.modes.get("full")
    if raw is None or full is None or not run.options.loads:
        return
    spec = MODES["raw"]
    assert spec.module is not None
    settings = run.settings_for(spec)
    run.progress(f"raw: starting the {spec.title} again for the same latency loads")
    child = run.children.spawn("raw-latency", spec.module, settings, *spec.args)
    try:
        latency = await _latency(run, settings, "raw", full.eps)
    finally:
        child.stop()
    report.modes["raw"] = dataclasses.replace(raw, latency=latency)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Best effort: a shared broker should not keep a benchmark's data around."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        await admin.delete_topics(topics)
    except KafkaError as exc:
        log.warning("could not delete the benchmark's topics: %s", exc)
    finally:
        await admin.close()
