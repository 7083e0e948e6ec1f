"""The scoring agent: consume events in micro-batches, score, produce, then commit.

Why not a plain Faust ``@app.agent``: Faust spends 100-190 us of CPU per event in its consumer
machinery (two asyncio tasks per message, see docs/PERFORMANCE.md), which caps a worker near
5,000 events/s before any scoring happens. This agent runs inside the Faust worker as a service
but reads with aiokafka's ``getmany`` so that decoding, validation, inference and sends all happen
per batch. Consumer-group scaling is aiokafka's own group protocol.

Delivery: outputs of a batch are produced with ``acks=all`` and acknowledged before the batch's
offsets are committed, so a crash at any point re-delivers uncommitted events (at-least-once: a
restart may produce an output twice, never zero times). The acknowledgements of batch N are awaited
after batch N+1 has been scored and queued, so the network round trip overlaps the next batch's
work instead of adding to every batch's latency. For that the request has to be written before the
next batch holds the loop: batches are handed over closed (no linger) and the agent gives the
producer its loop turns first (``BatchSender.hand_over``); otherwise a batch's outputs waited out
the linger and then the whole next batch. Acknowledged offsets are committed at most every
``commit_interval_ms`` while traffic flows (a commit per micro-batch cost the broker and the worker
more than scoring at low rates), and at once when the stream goes idle, on a rebalance and on stop.
A rebalance waits for the batches in flight to settle before giving partitions away, and records
of partitions lost meanwhile are left to their new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from driftline.streams.connection import client_options, close_abandoned
from driftline.streams.health import READINESS
from driftline.streams.metrics import forget_lag, record_batch, record_lag, record_segment_predictions
from driftline.streams.offsets import next_offsets
from driftline.streams.polled_agent import AgentClients
from driftline.streams.rollout.auto import RolloutWatch
from driftline.streams.scoring import BatchOutcome, BatchScorer, ConsumedRecord
from driftline.streams.sending import BatchSender
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)


class _SettleBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batches in flight have their outputs acknowledged and committed."""

    def __init__(self, agent: ScoreAgent) -> None:
        self._agent = agent

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._agent.in_flight:
            await self._agent.settle()
            forget_lag((tp.topic, tp.partition) for tp in revoked)
            log.info("partitions revoked: %s", sorted(str(tp) for tp in revoked))
            READINESS.set(READINESS.PARTITIONS, False)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(str(tp) for tp in assigned))
        # A worker with no partition (more workers than partitions) is idle, not broken, but not
        # serving either: a readiness probe should say so.
        READINESS.set(READINESS.PARTITIONS, bool(list(assigned)))


class ScoreAgent(AgentClients):
    """Runs ``BatchScorer`` over the events topic until stopped."""

    def __init__(self, settings: Settings, scorer: BatchScorer, watch: RolloutWatch | None = None) -> None:
        self.settings = settings
        self.scorer = scorer
        #: Judges canaries on the batches scored here (outlives a replaced agent: it is passed in).
        self.watch = watch
        self.consumed = 0
        #: Held from scoring a batch to queuing its outputs, and while settling.
        self.in_flight = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sender: BatchSender | None = None
        self._unsettled: _Unsettled | None = None
        #: Offsets whose outputs are acknowledged but not yet committed.
        self._acknowledged: dict[TopicPartition, int] = {}
        self._committed_at = 0.0

    async def start(self) -> None:
        """Create the clients (aiokafka binds them to the running loop) and join the group."""
        settings = self.settings
        self._producer = AIOKafkaProducer(
            **client_options(settings), client_id=f"{settings.app_id}-score", acks="all",
            enable_idempotence=True, linger_ms=settings.producer_linger_ms,
            max_batch_size=settings.producer_max_batch_bytes,
        )
        self._consumer = AIOKafkaConsumer(
            **client_options(settings), group_id=settings.group_id,
            client_id=f"{settings.app_id}-score", enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_partition_fetch_bytes=max(1 << 20, settings.max_event_bytes * 4),
            fetch_max_wait_ms=settings.fetch_max_wait_ms, fetch_min_bytes=settings.fetch_min_bytes,
            # Events of a producer's aborted transaction never happened: never score them.
            isolation_level="read_committed",
        )
        await self._producer.start()
        await self._consumer.start()
        self._sender = BatchSender(self._producer)
        self._consumer.subscribe([settings.topic_events], listener=_SettleBeforeRevoke(self))
        log.info("scoring %s -> %s (dead letters: %s) as group %s", settings.topic_events,
                 settings.topic_predictions, settings.topic_deadletter, settings.group_id)

    async def stop(self) -> None:
        self._stopping.set()
        async with self.in_flight:
            try:
                if self._consumer is not None and self._producer is not None:
                    await self.settle()
            finally:
                if self._consumer is not None:
                    await self._consumer.stop()
                if self._producer is not None:
                    await self._producer.stop()

    async def abandon(self) -> None:
        """Give up the batches in flight uncommitted (the agent that replaces this one reads their
        events again) and close the clients."""
        self._stopping.set()
        unsettled, self._unsettled, self._acknowledged = self._unsettled, None, {}
        if unsettled is not None:
            _ignore_outcomes(unsettled.deliveries)
        READINESS.set(READINESS.PARTITIONS, False)  # until the replacing agent is assigned some
        await close_abandoned(self._consumer, self._producer,
                              timeout_s=self.settings.kafka_request_timeout_ms / 1000)

    @property
    def sender(self) -> BatchSender:
        assert self._sender is not None, "start() the agent first"
        return self._sender

    async def run(self) -> None:
        """Poll-score-produce-commit until ``stop()``."""
        while not self._stopping.is_set():
            batches = await self.consumer.getmany(timeout_ms=self.settings.poll_timeout_ms,
                                                   max_records=self.settings.batch_max_records)
            if batches:
                await self.process(batches)
                continue
            async with self.in_flight:  # idle: nothing to overlap with, settle now
                await self.settle()
                record_lag(self.lag(await self._positions()))
                await asyncio.gather(*await self._queue_summaries())

    async def process(self, batches: dict[TopicPartition, list[Any]]) -> BatchOutcome | None:
        async with self.in_flight:
            # Partitions may have moved while we waited for the lock; their new owner re-reads them.
            owned = self.consumer.assignment()
            batches = {tp: rs for tp, rs in batches.items() if tp in owned}
            records: list[ConsumedRecord] = [r for rs in batches.values() for r in rs]
            if not records:
                return None
            started = time.perf_counter()
            outcome = self.scorer.score(records)
            deliveries = await self.sender.send(outcome.all_outputs)
            deliveries += await self._queue_summaries()
            try:
                await self.settle(commit_now=False)
            except KafkaError:
                _ignore_outcomes(deliveries)  # this batch is given up with the one that failed
                raise
            # On the wire before the next batch holds the loop, not after (the tail at 50% load).
            await self.sender.hand_over()
            positions = next_offsets(batches)
            self._unsettled = _Unsettled(deliveries, positions)
            self.consumed += len(records)
            record_batch(outcome, len(records), time.perf_counter() - started)
            if self.watch is not None:
                self.watch.observe(outcome.health)
                if self.watch.due():
                    await self.watch.act(self.producer)
            record_lag(self.lag(positions))
            return outcome

    async def _positions(self) -> dict[TopicPartition, int]:
        positions = {}
        for tp in self.consumer.assignment():
            with contextlib.suppress(IllegalStateError):  # unassigned meanwhile: its new owner reports it
                positions[tp] = await self.consumer.position(tp)
        return positions

    def lag(self, positions: dict[TopicPartition, int]) -> dict[tuple[str, int], int]:
        """Events behind the high watermark (from the last fetch response) per partition."""
        lags = {}
        for tp, position in positions.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                lags[tp.topic, tp.partition] = max(0, highwater - position)
        return lags

    async def settle(self, *, commit_now: bool = True) -> None:
        """Wait for the previous batch's acknowledgements, then commit what is acknowledged.

        With ``commit_now=False`` (inside a flowing stream) the commit waits until
        ``commit_interval_ms`` has passed since the last one.
        """
        unsettled, self._unsettled = self._unsettled, None
        if unsettled is not None:
            # Every outcome is collected (an unretrieved failure is an asyncio error line each).
            outcomes = await asyncio.gather(*unsettled.deliveries, return_exceptions=True)
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                raise failed
            self._acknowledged.update(unsettled.offsets)  # later batches carry later offsets
        interval_s = self.settings.commit_interval_ms / 1000
        if not self._acknowledged or (not commit_now and time.monotonic() - self._committed_at < interval_s):
            return
        offsets, self._acknowledged = self._acknowledged, {}
        self._committed_at = time.monotonic()
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # Outputs are out already; the partition's new owner will re-score these events.
            log.warning("commit failed after a rebalance (outputs of %d partitions may repeat): %s",
                        len(offsets), exc)

    async def _queue_summaries(self) -> list[asyncio.Future[Any]]:
        """Send what the monitors downstream judge, when due: drift codes to the monitor agent,
        binary predictions to the performance agent (each at most every ``drift_flush_ms``)."""
        send, deliveries = self.producer.send, []
        drift, predictions = self.scorer.drift, self.scorer.predictions_out
        if drift is not None and drift.due():
            deliveries += [await send(self.settings.topic_drift_counts, value, key=key)
                           for key, value in drift.drain()]
        if predictions is not None and predictions.due():
            record_segment_predictions(predictions.take_counts())
            deliveries += [await send(self.settings.topic_outcomes, value, key=key)
                           for key, value in predictions.drain()]
        return deliveries


def _ignore_outcomes(deliveries: list[asyncio.Future[Any]]) -> None:
    """Deliveries given up on: their failures are retrieved when they come, so asyncio does not
    log an error for each one."""
    for delivery in deliveries:
        delivery.add_done_callback(_retrieve)


def _retrieve(delivery: asyncio.Future[Any]) -> None:
    if not delivery.cancelled():
        delivery.exception()


@dataclass(frozen=True)
class _Unsettled:
    """A batch whose outputs are queued but not yet acknowledged, and the offsets it will commit."""

    deliveries: list[asyncio.Future[Any]]
    offsets: dict[TopicPartition, int]
