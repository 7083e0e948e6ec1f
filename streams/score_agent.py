"""The scoring agent: consume events in micro-batches, score, produce, then commit.

Why not a plain Faust ``@app.agent``: Faust spends 100-190 us of CPU per event in its consumer
machinery (two asyncio tasks per message, see docs/PERFORMANCE.md), which caps a worker near
5,000 events/s before any scoring happens. This agent runs inside the Faust worker as a service
but reads with aiokafka's ``getmany`` so that decoding, validation, inference and sends all happen
per batch. Consumer-group scaling is aiokafka's own group protocol.

Delivery: outputs of a batch are produced with ``acks=all`` and awaited before the batch's offsets
are committed, so a crash at any point re-delivers uncommitted events (at-least-once: a restart may
produce an output twice, never zero times). A rebalance waits for the in-flight batch to commit
before giving partitions away, and records of partitions lost meanwhile are left to their new owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError

from streams.metrics import record_batch
from streams.scoring import BatchOutcome, BatchScorer, ConsumedRecord
from streams.settings import Settings

log = logging.getLogger(__name__)


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batch in flight has produced its outputs and committed."""

    def __init__(self, in_flight: asyncio.Lock) -> None:
        self._in_flight = in_flight

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._in_flight:
            log.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))


class ScoreAgent:
    """Runs ``BatchScorer`` over the events topic until stopped."""

    def __init__(self, settings: Settings, scorer: BatchScorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.consumed = 0
        self.produced = 0
        self._in_flight = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Create the clients (aiokafka binds them to the running loop) and join the group."""
        settings = self.settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.broker, client_id=f"{settings.app_id}-score", acks="all",
            enable_idempotence=True, linger_ms=settings.producer_linger_ms,
            max_batch_size=settings.producer_max_batch_bytes,
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.broker, group_id=settings.group_id,
            client_id=f"{settings.app_id}-score", enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_partition_fetch_bytes=max(1 << 20, settings.max_event_bytes * 4),
        )
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe([settings.topic_events], listener=_CommitBeforeRevoke(self._in_flight))
        log.info("scoring %s -> %s (dead letters: %s) as group %s", settings.topic_events,
                 settings.topic_predictions, settings.topic_deadletter, settings.group_id)

    async def stop(self) -> None:
        self._stopping.set()
        async with self._in_flight:
            if self._consumer is not None:
                await self._consumer.stop()
            if self._producer is not None:
                await self._producer.stop()

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "start() the agent first"
        return self._consumer

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "start() the agent first"
        return self._producer

    async def run(self) -> None:
        """Poll-score-produce-commit until ``stop()``."""
        while not self._stopping.is_set():
            batches = await self.consumer.getmany(timeout_ms=self.settings.poll_timeout_ms,
                                                   max_records=self.settings.batch_max_records)
            if batches:
                await self.process(batches)
            elif self.scorer.drift is not None and self.scorer.drift.due():
                async with self._in_flight:
                    await self._flush_drift()

    async def process(self, batches: dict[TopicPartition, list[Any]]) -> BatchOutcome | None:
        async with self._in_flight:
            # Partitions may have moved while we waited for the lock; their new owner re-reads them.
            owned = self.consumer.assignment()
            records: list[ConsumedRecord] = [r for tp, rs in batches.items() if tp in owned for r in rs]
            if not records:
                return None
            started = time.perf_counter()
            outcome = self.scorer.score(records)
            await self._produce(outcome)
            if self.scorer.drift is not None and self.scorer.drift.due():
                await self._flush_drift()
            await self._commit(records)
            self.consumed += len(records)
            record_batch(outcome, len(records), time.perf_counter() - started)
            return outcome

    async def _produce(self, outcome: BatchOutcome) -> None:
        send = self.producer.send
        deliveries = [await send(out.topic, out.value, key=out.key) for out in outcome.outputs]
        await asyncio.gather(*deliveries)
        self.produced += len(deliveries)

    async def _flush_drift(self) -> None:
        assert self.scorer.drift is not None
        send, topic = self.producer.send, self.settings.topic_drift_counts
        deliveries = [await send(topic, value, key=key) for key, value in self.scorer.drift.drain()]
        await asyncio.gather(*deliveries)

    async def _commit(self, records: Sequence[ConsumedRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # Outputs are out already; the partition's new owner will re-score these events.
            log.warning("commit of %d records failed after a rebalance (outputs may repeat): %s",
                        len(records), exc)
