"""One benchmark run, start to finish: broker, model, the throughput rounds, the latency rounds.

Order and lifetime: a broker is started only when none is given (``--broker``; it keeps its data
in memory when it can, ``streams.bench.memory_disk`` says why), the demo model is registered into a
temporary registry, an unrecorded raw passthrough warms a fresh broker up, and then come
``repeat`` throughput rounds (``streams.bench.rounds``: every mode of a round started at once,
taking turns in short slices) and ``repeat`` latency rounds (``streams.bench.latency_rounds``: the
full worker and the raw passthrough offered each load in turn, then the low steady rate). Every
phase gets fresh topics, deleted as soon as it ends (``streams.bench.phase``). Every child and the
broker are stopped on the way out, whatever happened (``finally`` blocks and context managers,
which Ctrl-C unwinds like any exception).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from driftline.models.registry import ARTIFACT_FILE, Registry
from driftline.streams.bench.children import Children
from driftline.streams.bench.latency_rounds import latency_rounds
from driftline.streams.bench.memory_disk import broker_data_place, claim, remove, sweep_abandoned
from driftline.streams.bench.modes import MODES
from driftline.streams.bench.phase import BenchOptions, BenchRun, Progress
from driftline.streams.bench.procfs import machine
from driftline.streams.bench.report import BenchReport
from driftline.streams.bench.rounds import run_round, warm_up_broker
from driftline.streams.registration import register_demo_with_reference
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["BenchOptions", "run_bench"]


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
        run = BenchRun(options, settings, bootstrap, registry, work, children, progress,
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
                      "slice_seconds": options.latency_slice_seconds,
                      "max_events_per_load": options.latency_max_events},
        repeat=options.repeat, peer_events=min(options.events, options.peer_events) if peers else None,
        low_rate_plan=({"offered_eps": options.low_rate_eps, "seconds": options.low_rate_seconds}
                       if options.low_rate_eps > 0 else {}),
    )


def _start_broker(work: Path, stack: ExitStack, progress: Progress, report: BenchReport) -> str:
    """Start a broker on a free port; the stack stops it (and removes its data) when the run ends."""
    from driftline.streams.broker import KAFKA_VERSION, start_on_free_port, stop

    for swept in sweep_abandoned(stop):
        progress(f"removed {swept}, left by a bench that was killed (its broker stopped)")
    place = broker_data_place(work)
    claim(place)
    progress(f"starting Kafka {KAFKA_VERSION} in {place.path} ({place.reason})")
    stack.callback(remove, place)  # runs after the stop below: the stack unwinds in reverse
    stack.callback(stop, place.path)
    handle = start_on_free_port(place.path)
    report.kafka_version = KAFKA_VERSION
    report.broker.update(bootstrap=handle.bootstrap, data_dir=str(place.path), data_in_memory=place.in_memory)
    return handle.bootstrap


async def _run_modes(run: BenchRun, report: BenchReport) -> None:
    if run.options.broker_warmup_events > 0:
        await warm_up_broker(run)  # not recorded
    for round_ in range(run.options.repeat):
        results = await run_round(run, round_)
        for name in run.options.modes:
            report.modes.setdefault(name, []).append(results[name])
    await latency_rounds(run, report)
