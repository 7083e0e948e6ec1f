"""One benchmark run, start to finish: broker, model, then each mode on the same data, repeated.

Order and lifetime: a broker is started only when none is given (``--broker``; it keeps its data
in memory when it can, ``streams.bench.memory_disk`` says why), the demo model is registered into a
temporary registry, and then the modes run ``repeat`` rounds, interleaved (raw, scoring, full, raw,
scoring, full, ...; ``streams.bench.repeats`` says why). Every phase (a mode of a round, a latency
round of a target) gets fresh topics, deleted as soon as it ends, so every phase meets a broker
holding the same data: nothing but its own. Each mode gets the same preloaded events and its own
child process, which is stopped before the next one starts so no two processes under test ever
share the two cores. The latency rounds come after: in each, a fresh full worker is warmed up and
offered each load, then fed a low steady rate to read its CPU share; a fresh scoring-only worker is
warmed up and fed the same low rate (the monitors' fixed cost is the difference); and a fresh raw
passthrough gets the same offered rates (shares of the full worker's median maximum, the same in
every round), so the worker's latency is set beside the bare client's from the same run. Every
child and the broker are stopped on the way out, whatever happened (``finally`` blocks and context
managers, which Ctrl-C unwinds like any exception).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftline.models.registry import ARTIFACT_FILE, Registry
from driftline.streams.bench.children import Children
from driftline.streams.bench.labelled import preload_labelled
from driftline.streams.bench.latency import APPEND_TIME_CONFIG, LoadPlan, PredictionReader, run_load, settle
from driftline.streams.bench.low_rate import measure_low_rate
from driftline.streams.bench.memory_disk import broker_data_place, remove
from driftline.streams.bench.modes import DEFAULT_MODES, MODES, TOPIC_FIELDS, ModeSpec, mode_settings
from driftline.streams.bench.payload import PRELOAD_BATCH_BYTES, PRELOAD_LINGER_MS
from driftline.streams.bench.procfs import machine, peak_rss_mb
from driftline.streams.bench.repeats import interleaved
from driftline.streams.bench.report import BenchReport, ModeResult, TargetRun
from driftline.streams.bench.stats import offered_loads
from driftline.streams.bench.watch import OutputWatcher, measure
from driftline.streams.broker.admin import create_topics
from driftline.streams.produce import produce_events
from driftline.streams.registration import register_demo_with_reference
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: The round number of the unrecorded broker warm-up (its topics are ``bench-<run>-0-raw-*``).
WARMUP_ROUND = -1

Progress = Callable[[str], None]



@dataclass(frozen=True)
class BenchOptions:
    """What ``driftline bench`` was asked to do."""

    #: Events preloaded for each mode and round: about 15 s of work at 40,000 events/s.
    events: int = 600_000
    modes: tuple[str, ...] = DEFAULT_MODES
    partitions: int = 6
    #: ``host:port`` of an existing broker; None starts (and stops) one.
    broker: str | None = None
    seed: int = 0
    #: Rounds of every mode (and of the latency phase), interleaved.
    repeat: int = 3
    loads: tuple[int, ...] = (25, 50, 75)
    latency_seconds: float = 12.0
    latency_max_events: int | None = None
    #: Unrecorded load before each target's latency loads.
    warmup_seconds: float = 10.0
    #: The steady rate at which each target's CPU share is read (0: not measured).
    low_rate_eps: float = 1_000.0
    low_rate_seconds: float = 20.0
    #: Events of an unrecorded raw passthrough run before the rounds (0: none). A fresh broker's JIT
    #: warms up for about a minute: without this, round 1 measured 23-47% fewer events/s than
    #: rounds 2 and 3; 200,000 events (5 s) did not change that, 1,500,000 (~40 s) did.
    broker_warmup_events: int = 1_500_000
    #: Events of each peer (a prefix of the same events): a Faust agent scores ~1,000 events/s here.
    peer_events: int = 50_000
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
    #: What a peer is started with: the model's artifact, name and version.
    peer_args: tuple[str, ...]

    def settings_for(self, spec: ModeSpec, round_: int, phase: str = "") -> Settings:
        """The settings of one phase; ``phase`` tells apart phases of a round that need own topics."""
        return mode_settings(self.base, spec, bootstrap=self.bootstrap, registry=self.registry,
                             run_id=f"{self.run_id}-{round_ + 1}{phase}", partitions=self.options.partitions)

    def events_for(self, spec: ModeSpec, round_: int) -> int:
        if round_ == WARMUP_ROUND:
            return self.options.broker_warmup_events
        return min(self.options.events, self.options.peer_events) if spec.peer else self.options.events

    def spawn(self, spec: ModeSpec, name: str, settings: Settings) -> Any:
        assert spec.module is not None
        return self.children.spawn(name, spec.module, settings,
                                   *spec.args, *(self.peer_args if spec.peer else ()))

    def say(self, round_: int, message: str) -> None:
        where = "warm-up" if round_ == WARMUP_ROUND else f"{round_ + 1}/{self.options.repeat}"
        self.progress(f"[{where}] {message}")


def run_bench(options: BenchOptions, settings: Settings, progress: Progress) -> BenchReport:
    """Measure every asked-for mode and return the report (the caller prints it)."""
    began = time.monotonic()
    report = _empty_report(options, settings)
    with tempfile.TemporaryDirectory(prefix="driftline-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        bootstrap = options.broker or _start_broker(work, stack, progress, report)
        registry = work / "registry"
        progress("registering the demo model and its reference profile into a temporary registry")
        card = register_demo_with_reference(Registry(registry))  # without a reference, nothing is monitored
        artifact = registry / card.name / str(card.version) / ARTIFACT_FILE
        children = stack.enter_context(Children(work))
        run = _Run(options, settings, bootstrap, registry, work, children, progress,
                   f"bench-{uuid.uuid4().hex[:8]}",
                   ("--model", str(artifact), "--name", card.name, "--version", str(card.version)))
        asyncio.run(_run_modes(run, report))
    report.duration_s = time.monotonic() - began
    progress(f"done in {report.duration_s:.0f} s")
    return report


def _empty_report(options: BenchOptions, settings: Settings) -> BenchReport:
    tuning = ("batch_max_records", "poll_timeout_ms", "producer_linger_ms", "producer_max_batch_bytes",
              "fetch_max_wait_ms", "commit_interval_ms", "log_level")
    peers = any(MODES[m].peer for m in options.modes)
    return BenchReport(
        events=options.events, partitions=options.partitions, seed=options.seed, command=options.command,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), kafka_version=None,
        broker={"bootstrap": options.broker, "started_by_bench": options.broker is None},
        machine=machine(), settings={name: getattr(settings, name) for name in tuning},
        latency_plan={"against": ["full", "raw"], "loads_pct": list(options.loads),
                      "offered_from": "median full_eps", "warmup_seconds": options.warmup_seconds,
                      "seconds_per_load": options.latency_seconds,
                      "max_events_per_load": options.latency_max_events},
        repeat=options.repeat, peer_events=min(options.events, options.peer_events) if peers else None,
        low_rate_plan=({"offered_eps": options.low_rate_eps, "seconds": options.low_rate_seconds}
                       if options.low_rate_eps > 0 else {}),
    )


def _start_broker(work: Path, stack: ExitStack, progress: Progress, report: BenchReport) -> str:
    """Start a broker on a free port; the stack stops it (and removes its data) when the run ends."""
    from driftline.streams.broker import KAFKA_VERSION, start_on_free_port, stop

    place = broker_data_place(work)
    progress(f"starting Kafka {KAFKA_VERSION} in {place.path} ({place.reason})")
    stack.callback(remove, place)  # runs after the stop below: the stack unwinds in reverse
    stack.callback(stop, place.path)
    handle = start_on_free_port(place.path)
    report.kafka_version = KAFKA_VERSION
    report.broker.update(bootstrap=handle.bootstrap, data_dir=str(place.path), data_in_memory=place.in_memory)
    return handle.bootstrap


async def _run_modes(run: _Run, report: BenchReport) -> None:
    if run.options.broker_warmup_events > 0:
        await _run_mode(run, MODES["raw"], WARMUP_ROUND)  # not recorded
    for round_, name in interleaved(run.options.modes, run.options.repeat):
        result = await _run_mode(run, MODES[name], round_)
        report.modes.setdefault(name, []).append(result)
    await _latency_rounds(run, report)


@asynccontextmanager
async def _own_topics(run: _Run, settings: Settings) -> AsyncIterator[None]:
    """A phase's topics, created for it and deleted when it ends (its processes stopped first)."""
    # Predictions are stamped by the broker on append: latency ends when a prediction is available.
    await create_topics(run.bootstrap, {settings.topic_predictions: run.options.partitions},
                        configs={settings.topic_predictions: APPEND_TIME_CONFIG})
    try:
        await ensure_topics(settings)
        yield
    finally:
        await _delete_topics(run.bootstrap, [getattr(settings, name) for name in TOPIC_FIELDS])


async def _run_mode(run: _Run, spec: ModeSpec, round_: int) -> ModeResult:
    """On fresh topics: preload, start the mode's process, measure its throughput, stop it."""
    settings = run.settings_for(spec, round_)
    async with _own_topics(run, settings):
        return await _measure_mode(run, spec, round_, settings)


async def _measure_mode(run: _Run, spec: ModeSpec, round_: int, settings: Settings) -> ModeResult:
    events = run.events_for(spec, round_)
    await _preload(run, spec, round_, settings, events)
    run.say(round_, f"{spec.name}: starting the {spec.title}")
    # Training examples are written in transactions: their end offsets also count one commit
    # marker per partition and transaction (about 60/s at 100 ms cycles), a rate error < 0.5%.
    # The watcher is up before the child starts: a passthrough could otherwise be done with a small
    # run before the first count, leaving no window to measure.
    async with OutputWatcher(run.bootstrap, _outputs(spec, settings), run.options.partitions) as watcher:
        child = run.spawn(spec, f"{spec.name}-{round_ + 1}", settings)
        try:
            measured = await measure(watcher, child, events)
            run.say(round_, f"{spec.name}: {measured.rate.eps:,.0f} events/s over "
                            f"{measured.rate.seconds:.1f} s, {measured.cpu_s_per_1k:.4f} CPU s per 1k events")
            rss = peak_rss_mb(child.pid)
        finally:
            child.stop()
    return ModeResult(eps=measured.rate.eps, window_s=measured.rate.seconds, events=measured.rate.events,
                      cpu_s_per_1k=measured.cpu_s_per_1k, peak_rss_mb=rss, startup_s=measured.startup_s)


def _outputs(spec: ModeSpec, settings: Settings) -> list[str]:
    """The topics whose growth counts one unit of the mode's work."""
    if not spec.label_join:
        return [settings.topic_predictions, settings.topic_deadletter]
    return [settings.topic_training_examples if spec.labels else settings.topic_join_changelog]


async def _preload(run: _Run, spec: ModeSpec, round_: int, settings: Settings, total: int) -> None:
    step = max(total // 4, 1)
    reported = [0]

    def report(sent: int, count: int) -> None:
        if sent == count or sent // step > reported[0]:
            reported[0] = sent // step
            run.say(round_, f"{spec.name}: preloaded {sent:,}/{count:,} events")

    if spec.label_join:
        labels = " and their labels" if spec.labels else ""
        run.say(round_, f"{spec.name}: preloading {total:,} predictions{labels}")
        await preload_labelled(settings, total, partitions=run.options.partitions, seed=run.options.seed,
                               labels=spec.labels, progress=report)
        return
    run.say(round_, f"{spec.name}: preloading {total:,} events into {settings.topic_events}")
    preloading = dataclasses.replace(settings, broker=run.bootstrap, producer_linger_ms=PRELOAD_LINGER_MS,
                                     producer_max_batch_bytes=PRELOAD_BATCH_BYTES)
    await produce_events(preloading, total, seed=run.options.seed, id_prefix="evt", progress=report)


async def _latency_rounds(run: _Run, report: BenchReport) -> None:
    """Per round: the full worker, the scoring-only worker (low rate only), then the raw passthrough,
    at the same offered rates."""
    options, full = run.options, report.modes.get("full")
    if not full or not (options.loads or options.low_rate_eps > 0):
        return
    rates = offered_loads(statistics.median(r.eps for r in full), options.loads)
    warm_rate = rates[0] if rates else options.low_rate_eps  # the same for every target
    for round_ in range(options.repeat):
        for target, offer_loads in latency_targets(tuple(report.modes), options.low_rate_eps > 0):
            measured = await _latency_round(run, MODES[target], round_, rates if offer_loads else [],
                                            warm_rate)
            report.latency.setdefault(target, []).append(measured)


def latency_targets(measured: tuple[str, ...], low_rate: bool) -> list[tuple[str, bool]]:
    """Who the latency rounds run, in order, and whether each is offered the loads: the full worker
    and the raw passthrough are; the scoring-only worker only gets the low rate (and only when it is
    measured), so the monitors' fixed cost there is the difference of two measured shares."""
    wanted = {"full": True, "scoring": low_rate, "raw": True}
    return [(name, name != "scoring") for name in ("full", "scoring", "raw")
            if wanted[name] and name in measured]


async def _latency_round(run: _Run, spec: ModeSpec, round_: int, rates: list[float],
                         warm_rate: float) -> TargetRun:
    """A fresh process on fresh topics: warm-up, each of ``rates``, then the low steady rate."""
    settings = run.settings_for(spec, round_, phase="-latency")
    async with _own_topics(run, settings):
        run.say(round_, f"{spec.name}: starting the {spec.title} again for the "
                        f"{'latency loads' if rates else 'low rate'}")
        child = run.spawn(spec, f"{spec.name}-latency-{round_ + 1}", settings)
        try:
            topic, partitions = settings.topic_predictions, run.options.partitions
            async with PredictionReader(run.bootstrap, topic, partitions) as reader:
                loads = await _latency(run, reader, settings, target=spec.name, round_=round_, rates=rates,
                                       warm_rate=warm_rate)
                low_rate = await _low_rate(run, reader, settings, target=spec.name, round_=round_,
                                           pid=child.pid)
            rss = peak_rss_mb(child.pid)
        finally:
            child.stop()
    return TargetRun(loads=loads, peak_rss_mb=rss, low_rate=low_rate)


async def _latency(run: _Run, reader: PredictionReader, settings: Settings, *, target: str, round_: int,
                   rates: list[float], warm_rate: float) -> list[dict[str, Any]]:
    """Warm ``target`` up, then offer each of ``rates`` (shares of the full worker's maximum) in turn."""
    options, results = run.options, list[dict[str, Any]]()
    if options.warmup_seconds > 0:
        run.say(round_, f"{target}: warming up at {warm_rate:,.0f} events/s "
                        f"for {options.warmup_seconds:g} s")
        warmup = LoadPlan(0, warm_rate, options.warmup_seconds, options.latency_max_events)
        await run_load(reader, run.children, settings, warmup, work_dir=run.work_dir,
                       seed=options.seed + 1, label=f"{target}{round_ + 1}-warm")
    for pct, rate in zip(options.loads if rates else (), rates, strict=True):
        run.say(round_, f"{target}: latency at {pct}% load, {rate:,.0f} events/s "
                        f"for {options.latency_seconds:g} s")
        plan = LoadPlan(pct, rate, options.latency_seconds, options.latency_max_events)
        load = await run_load(reader, run.children, settings, plan, work_dir=run.work_dir,
                              seed=options.seed + 1, label=f"{target}{round_ + 1}-lat")
        results.append(load)
        run.say(round_, f"{target}: {pct}% load: {load['received']:,} predictions, p50 "
                        f"{_ms(load['p50_ms'])}, p99 {_ms(load['p99_ms'])}")
        await settle(1.0)
    return results


async def _low_rate(run: _Run, reader: PredictionReader, settings: Settings, *, target: str, round_: int,
                    pid: int) -> dict[str, Any] | None:
    options = run.options
    if options.low_rate_eps <= 0:
        return None
    run.say(round_, f"{target}: CPU share at {options.low_rate_eps:,.0f} events/s "
                    f"for {options.low_rate_seconds:g} s")
    low = await measure_low_rate(reader, run.children, settings, pid, rate=options.low_rate_eps,
                                 seconds=options.low_rate_seconds, work_dir=run.work_dir,
                                 seed=options.seed + 1, label=f"{target}{round_ + 1}-low")
    share = low["cpu_share"]
    run.say(round_, f"{target}: {'n/a' if share is None else f'{share:.1%}'} of a core at "
                    f"{options.low_rate_eps:,.0f} events/s")
    return low


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Best effort: neither the next phase nor a shared broker should keep a phase's data around."""
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
