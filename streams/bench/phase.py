"""What every phase of a benchmark run shares: the options, the run's context, a phase's own topics
and its preloaded input.

A phase is a throughput round (``streams.bench.rounds``) or a latency round
(``streams.bench.latency_rounds``). Every phase gets fresh topics, deleted as soon as it ends, so
every phase meets a broker holding the same data: nothing but its own.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from driftline.streams.bench.children import ChildProcess, Children
from driftline.streams.bench.labelled import preload_labelled
from driftline.streams.bench.latency import APPEND_TIME_CONFIG
from driftline.streams.bench.modes import DEFAULT_MODES, TOPIC_FIELDS, ModeSpec, mode_settings
from driftline.streams.bench.payload import PRELOAD_BATCH_BYTES, PRELOAD_LINGER_MS
from driftline.streams.broker.admin import create_topics
from driftline.streams.produce import produce_events
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics

log = logging.getLogger(__name__)

#: The round number of the unrecorded broker warm-up (its topics are ``bench-<run>-0-raw-*``).
WARMUP_ROUND = -1

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    """What ``driftline bench`` was asked to do."""

    #: Events preloaded for each round: more than 15 s of work at 45,000 events/s.
    events: int = 800_000
    modes: tuple[str, ...] = DEFAULT_MODES
    partitions: int = 6
    #: ``host:port`` of an existing broker; None starts (and stops) one.
    broker: str | None = None
    seed: int = 0
    #: Rounds of every mode (and of the latency phase).
    repeat: int = 3
    #: Running time of each mode in a round, in turns of ``slice_seconds`` (``streams.bench.slices``).
    work_seconds: float = 15.0
    slice_seconds: float = 1.0
    loads: tuple[int, ...] = (25, 50, 75)
    latency_seconds: float = 12.0
    #: Each load is offered to the targets in alternating slices this long (``streams.bench.latency_slices``).
    latency_slice_seconds: float = 2.0
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
class BenchRun:
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
        if spec.peer:
            return min(self.options.events, self.options.peer_events)
        # The join runs its whole backlog (its outputs lag its inputs), at ~40% of the worker's rate:
        # half the events keeps its running time near the others' (20-25 s here, not 50).
        return max(self.options.events // 2, 1) if spec.label_join and spec.labels else self.options.events

    def spawn(self, spec: ModeSpec, name: str, settings: Settings) -> ChildProcess:
        assert spec.module is not None
        return self.children.spawn(name, spec.module, settings,
                                   *spec.args, *(self.peer_args if spec.peer else ()))

    def say(self, round_: int, message: str) -> None:
        where = "warm-up" if round_ == WARMUP_ROUND else f"{round_ + 1}/{self.options.repeat}"
        self.progress(f"[{where}] {message}")


@asynccontextmanager
async def own_topics(run: BenchRun, settings: Settings,
                     keep: frozenset[str] = frozenset()) -> AsyncIterator[None]:
    """A phase's topics, created for it and deleted when it ends (its processes stopped first);
    ``keep`` names topics it shares, which whoever created them deletes."""
    # Predictions are stamped by the broker on append: latency ends when a prediction is available.
    await create_topics(run.bootstrap, {settings.topic_predictions: run.options.partitions},
                        configs={settings.topic_predictions: APPEND_TIME_CONFIG})
    try:
        await ensure_topics(settings)
        yield
    finally:
        await delete_topics(run.bootstrap, [getattr(settings, name) for name in TOPIC_FIELDS
                                             if getattr(settings, name) not in keep])


def outputs_of(spec: ModeSpec, settings: Settings) -> list[str]:
    """The topics whose growth counts one unit of the mode's work."""
    if not spec.label_join:
        return [settings.topic_predictions, settings.topic_deadletter]
    return [settings.topic_training_examples if spec.labels else settings.topic_join_changelog]


async def preload(run: BenchRun, spec: ModeSpec, round_: int, settings: Settings, total: int, *,
                   who: str = "") -> None:
    step = max(total // 4, 1)
    reported = [0]

    def report(sent: int, count: int) -> None:
        if sent == count or sent // step > reported[0]:
            reported[0] = sent // step
            run.say(round_, f"{who or spec.name}: preloaded {sent:,}/{count:,} events")

    if spec.label_join:
        labels = " and their labels" if spec.labels else ""
        run.say(round_, f"{spec.name}: preloading {total:,} predictions{labels}")
        await preload_labelled(settings, total, partitions=run.options.partitions, seed=run.options.seed,
                               labels=spec.labels, progress=report)
        return
    run.say(round_, f"{who or spec.name}: preloading {total:,} events into {settings.topic_events}")
    preloading = dataclasses.replace(settings, broker=run.bootstrap, producer_linger_ms=PRELOAD_LINGER_MS,
                                     producer_max_batch_bytes=PRELOAD_BATCH_BYTES)
    await produce_events(preloading, total, seed=run.options.seed, id_prefix="evt", progress=report)


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
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
