"""End-to-end latency at fixed offered loads, against a running worker.

For each load a paced producer (a child, see ``streams.bench.pacer``) offers events for a bounded
time while this process reads the predictions topic and stamps each prediction's arrival: latency
is the reader's receive time minus the event's ``ts`` (echoed as ``event_ts``), so it covers the
producer's linger, the broker, the worker's poll-score-produce cycle and the reader's fetch, which
is what a consumer of predictions experiences. Before each load the reader seeks to the end of the
predictions topic and it only counts ids of that load's prefix, so loads never mix.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.bench.children import BenchError, ChildProcess, Children
from streams.bench.stats import latency_summary
from streams.settings import Settings

log = logging.getLogger(__name__)

#: After the pacer exits, how long predictions may still take to arrive.
DRAIN_TIMEOUT_S = 30.0
#: Slack on top of the planned duration before a pacer counts as hung.
PACER_GRACE_S = 60.0
READ_TIMEOUT_MS = 20


@dataclass(frozen=True)
class LoadPlan:
    """One offered load: a share of the measured maximum, for a bounded time or count."""

    load_pct: int
    rate: float
    seconds: float
    max_events: int | None


@dataclass
class Arrivals:
    """Latencies (ms) of one load: end to end, and the part until the worker built the prediction.

    The second comes from the prediction's own ``latency_ms`` (record timestamp to prediction
    built), so the split says whether time goes before scoring (queueing, the worker's fetch) or
    after it (the worker's produce and ack, the reader's fetch).
    """

    total: list[float] = field(default_factory=list)
    to_scoring: list[float] = field(default_factory=list)

    def add(self, prediction: dict[str, Any], received_ms: float) -> None:
        self.total.append(received_ms - float(prediction["event_ts"]))
        if isinstance(prediction.get("latency_ms"), int | float):
            self.to_scoring.append(float(prediction["latency_ms"]))


class PredictionReader:
    """Reads the predictions topic from its current end and stamps arrival times."""

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
        """One fetch: record the predictions whose id starts with ``prefix``, stamped on arrival."""
        batches = await self._consumer.getmany(timeout_ms=READ_TIMEOUT_MS)
        received_ms = time.time() * 1000.0
        for records in batches.values():
            for record in records:
                prediction = orjson.loads(record.value or b"{}")
                ours = str(prediction.get("id", "")).startswith(prefix)
                if ours and prediction.get("event_ts") is not None:
                    into.add(prediction, received_ms)


async def run_load(reader: PredictionReader, children: Children, settings: Settings, plan: LoadPlan, *,
                   work_dir: Path, seed: int) -> dict[str, Any]:
    """Offer one load and return its percentiles, offered and achieved rate, sent and received."""
    prefix = f"lat{plan.load_pct}-"
    summary = work_dir / f"pacer-{plan.load_pct}.json"
    await reader.skip_to_end()
    args = ["--rate", f"{plan.rate:.3f}", "--seconds", f"{plan.seconds}", "--seed", str(seed),
            "--id-prefix", prefix.rstrip("-"), "--summary", str(summary)]
    if plan.max_events is not None:
        args += ["--max-events", str(plan.max_events)]
    pacer = children.spawn(f"pacer-{plan.load_pct}", "streams.bench.pacer", settings, *args)
    arrivals = Arrivals()
    try:
        sent, seconds = await _read_while_pacing(reader, pacer, plan, prefix=prefix, arrivals=arrivals,
                                                 summary=summary)
    finally:
        pacer.stop()  # before the worker it feeds, if this load is cut short
    if len(arrivals.total) < sent:
        log.warning("load %d%%: %d of %d predictions arrived within %.0f s", plan.load_pct,
                    len(arrivals.total), sent, DRAIN_TIMEOUT_S)
    to_scoring = latency_summary(arrivals.to_scoring)
    return {"load_pct": plan.load_pct, "offered_eps": plan.rate,
            "achieved_eps": sent / seconds if seconds > 0 else 0.0, "sent": sent,
            "received": len(arrivals.total), **latency_summary(arrivals.total),
            "to_scoring_p50_ms": to_scoring["p50_ms"], "to_scoring_p99_ms": to_scoring["p99_ms"]}


async def _read_while_pacing(reader: PredictionReader, pacer: ChildProcess, plan: LoadPlan, *, prefix: str,
                             arrivals: Arrivals, summary: Path) -> tuple[int, float]:
    """Read until the pacer is done and all its events are predicted, within deadlines."""
    hung_at = time.monotonic() + plan.seconds + PACER_GRACE_S
    drained_by: float | None = None
    sent, seconds = 0, 0.0
    while drained_by is None or (len(arrivals.total) < sent and time.monotonic() < drained_by):
        await reader.read(prefix, arrivals)
        code = pacer.exit_code() if drained_by is None else None
        if code is not None:
            if code != 0:
                raise BenchError(f"{pacer.name} exited with {code}:\n{pacer.log_tail()}")
            sent, seconds = _pacer_summary(summary)
            drained_by = time.monotonic() + DRAIN_TIMEOUT_S
        elif drained_by is None and time.monotonic() > hung_at:
            raise BenchError(f"{pacer.name} did not finish in time:\n{pacer.log_tail()}")
    return sent, seconds


def _pacer_summary(path: Path) -> tuple[int, float]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BenchError(f"the pacer left no summary at {path}: {exc}") from exc
    return int(data["sent"]), float(data["seconds"])


async def settle(seconds: float) -> None:
    """A pause between loads so one load's tail does not queue ahead of the next."""
    await asyncio.sleep(seconds)
