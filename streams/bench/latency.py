"""End-to-end latency at fixed offered loads, against a running worker (or the raw passthrough).

For each load a paced producer (a child, see ``streams.bench.pacer``) offers events for a bounded
time. Latency is the moment the prediction became available, its broker append time (the bench's
predictions topic uses ``LogAppendTime``), minus the event's ``ts`` (taken just before the
producer's ``send`` and echoed as ``event_ts``). It covers the producer's linger, the broker, the
worker's poll-score-produce cycle and the broker's append of the prediction: everything until a
consumer of predictions could read it, and nothing of that consumer's own fetch schedule.

Why read afterwards: the predictions stay in the topic with their append times, so this process
reads them once the pacer is done instead of competing for the two cores while the load runs (a
concurrent reader cost a fifth of a core at 17,500 events/s, which showed up as the worker's
latency). The reader seeks to the end of the topic before each load and only counts ids of that
load's prefix, so loads never mix. Each target is warmed up by an unrecorded load first: a
process's first seconds of traffic are slower (imports finishing, caches, the broker's JIT).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from driftline.streams.bench.children import BenchError, ChildProcess, Children
from driftline.streams.bench.stats import latency_summary
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: After the pacer exits, how long predictions may still take to arrive.
DRAIN_TIMEOUT_S = 30.0
#: Slack on top of the planned duration before a pacer counts as hung.
PACER_GRACE_S = 60.0
READ_TIMEOUT_MS = 20
#: How often the harness looks at the pacer while it runs (it reads nothing meanwhile).
PACER_POLL_S = 0.05
#: Kafka's timestamp type of a record stamped by the broker (``message.timestamp.type``).
LOG_APPEND_TIME = 1
#: Topic config that makes the broker stamp each record when it appends it.
APPEND_TIME_CONFIG = {"message.timestamp.type": "LogAppendTime"}
PACER_MODULE = "driftline.streams.bench.pacer"


@dataclass(frozen=True)
class LoadPlan:
    """One offered load: a share of the measured maximum, for a bounded time or count."""

    load_pct: int
    rate: float
    seconds: float
    max_events: int | None


@dataclass
class Arrivals:
    """Latencies (ms) of one load: until the prediction was available, and until it was built.

    The second comes from the prediction's own ``ts`` (when the worker built it, to the
    millisecond), so the split says whether time goes before scoring (the producer, the broker,
    the worker's fetch and queue) or after it (the worker's produce and the broker's append).
    """

    total: list[float] = field(default_factory=list)
    to_scoring: list[float] = field(default_factory=list)

    def add(self, prediction: dict[str, Any], available_ms: float) -> None:
        event_ts = float(prediction["event_ts"])
        self.total.append(available_ms - event_ts)
        if isinstance(prediction.get("ts"), int | float):
            self.to_scoring.append(float(prediction["ts"]) - event_ts)


class PredictionReader:
    """Reads a predictions topic from a remembered end; latency comes from broker append times."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                          enable_auto_commit=False, fetch_max_wait_ms=100)

    async def __aenter__(self) -> PredictionReader:
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def skip_to_end(self) -> None:
        await self._consumer.seek_to_end(*self._partitions)
        for tp in self._partitions:
            await self._consumer.position(tp)

    async def read(self, prefix: str, into: Arrivals) -> None:
        """One fetch: record the predictions whose id starts with ``prefix``."""
        batches = await self._consumer.getmany(timeout_ms=READ_TIMEOUT_MS)
        for records in batches.values():
            for record in records:
                if record.timestamp_type != LOG_APPEND_TIME:
                    raise BenchError(f"{record.topic} does not stamp records with their append time "
                                     "(message.timestamp.type=LogAppendTime); latency cannot be measured")
                prediction = orjson.loads(record.value or b"{}")
                ours = str(prediction.get("id", "")).startswith(prefix)
                if ours and prediction.get("event_ts") is not None:
                    into.add(prediction, float(record.timestamp))


async def run_load(reader: PredictionReader, children: Children, settings: Settings, plan: LoadPlan, *,
                   work_dir: Path, seed: int, label: str = "lat",
                   probe: Callable[[], None] | None = None) -> dict[str, Any]:
    """Offer one load and return its percentiles, offered and achieved rate, sent and received.

    ``label`` names the pacer and prefixes event ids; it must differ between targets and between
    a warm-up and the loads. ``probe`` is called every ``PACER_POLL_S`` while the pacer runs.
    """
    prefix = f"{label}{plan.load_pct}-"
    summary = work_dir / f"pacer-{label}{plan.load_pct}.json"
    await reader.skip_to_end()
    pacer = children.spawn(f"pacer-{label}{plan.load_pct}", PACER_MODULE, settings,
                           *pacer_args(plan, seed=seed, prefix=prefix, summary=summary))
    arrivals = Arrivals()
    try:
        sent, seconds = await _await_pacer_then_read(reader, pacer, plan, prefix=prefix, arrivals=arrivals,
                                                     summary=summary, probe=probe)
    finally:
        pacer.stop()  # before the worker it feeds, if this load is cut short
    return load_result(plan, sent, seconds, arrivals)


def pacer_args(plan: LoadPlan, *, seed: int, prefix: str, summary: Path) -> list[str]:
    """The pacer's command line for one load (``streams.bench.pacer``)."""
    args = ["--rate", f"{plan.rate:.3f}", "--seconds", f"{plan.seconds}", "--seed", str(seed),
            "--id-prefix", prefix.rstrip("-"), "--summary", str(summary)]
    return args if plan.max_events is None else [*args, "--max-events", str(plan.max_events)]


def load_result(plan: LoadPlan, sent: int, seconds: float, arrivals: Arrivals) -> dict[str, Any]:
    """One load's percentiles, offered and achieved rate, sent and received."""
    if len(arrivals.total) < sent:
        log.warning("load %d%%: %d of %d predictions arrived within %.0f s", plan.load_pct,
                    len(arrivals.total), sent, DRAIN_TIMEOUT_S)
    to_scoring = latency_summary(arrivals.to_scoring)
    return {"load_pct": plan.load_pct, "offered_eps": plan.rate,
            "achieved_eps": sent / seconds if seconds > 0 else 0.0, "sent": sent,
            "received": len(arrivals.total), **latency_summary(arrivals.total),
            "to_scoring_p50_ms": to_scoring["p50_ms"], "to_scoring_p99_ms": to_scoring["p99_ms"]}


async def read_predictions(reader: PredictionReader, prefix: str, arrivals: Arrivals, sent: int) -> None:
    """Read until every one of ``sent`` events has its prediction, or ``DRAIN_TIMEOUT_S`` passed."""
    drained_by = time.monotonic() + DRAIN_TIMEOUT_S
    while len(arrivals.total) < sent and time.monotonic() < drained_by:
        await reader.read(prefix, arrivals)


async def _await_pacer_then_read(reader: PredictionReader, pacer: ChildProcess, plan: LoadPlan, *,
                                 prefix: str, arrivals: Arrivals, summary: Path,
                                 probe: Callable[[], None] | None) -> tuple[int, float]:
    """Wait for the pacer, then read until all its events are predicted, within deadlines."""
    hung_at = time.monotonic() + plan.seconds + PACER_GRACE_S
    while (code := pacer.exit_code()) is None:
        if time.monotonic() > hung_at:
            raise BenchError(f"{pacer.name} did not finish in time:\n{pacer.log_tail()}")
        if probe is not None:
            probe()
        await asyncio.sleep(PACER_POLL_S)
    if code != 0:
        raise BenchError(f"{pacer.name} exited with {code}:\n{pacer.log_tail()}")
    sent, seconds = pacer_summary(summary)
    await read_predictions(reader, prefix, arrivals, sent)
    return sent, seconds


def pacer_summary(path: Path) -> tuple[int, float]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BenchError(f"the pacer left no summary at {path}: {exc}") from exc
    return int(data["sent"]), float(data["seconds"])


async def settle(seconds: float) -> None:
    """A pause between loads so one load's tail does not queue ahead of the next."""
    await asyncio.sleep(seconds)
