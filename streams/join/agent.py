"""The join agent: predictions and labels in, training examples and outcomes out, exactly once.

Like the score agent it reads with aiokafka's ``getmany`` inside the Faust worker rather than as a
Faust agent: at 30,000-45,000 predictions/s per worker, Faust's per-event machinery (and its tables,
which may not be written from batches) would cap the join far below the score path.

One consumer group reads three topics: ``predictions``, the internal labels-by-id topic, and the
public ``labels`` topic. The range assignor gives a worker the same partition numbers of the first
two (they have the same count), so partition p's predictions and labels meet in one store
partition. A label read from ``labels`` is routed to labels-by-id keyed by its event id, unless
it already sits on its prediction's partition number and this worker owns that (a Java client
keying by id with murmur2 does that), in which case it is joined at once.

Each cycle is one Kafka transaction: routed labels, changelog entries, training examples, dead
letters, outcomes and the consumed offsets commit together or not at all, and the store writes the
cycle's changes locally only after the commit. A SIGKILL therefore loses nothing and emits nothing
twice: the restarted worker (same slot, same transactional id) aborts the open transaction and
re-reads from the committed offsets. Readers of ``training-examples`` must read ``read_committed``.
Limit: a worker that stalls past its session timeout while holding an open transaction (a zombie)
is not fenced by the group generation (aiokafka sends no group metadata with its offsets), so the
commit of that one cycle could duplicate what its successor re-joins; SIGKILLs, restarts and
rebalances of live workers are unaffected.

Expiry runs only while the join is caught up on all three topics, so a backlog after an outage
never expires predictions whose labels are still waiting in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import IllegalOperation, KafkaError

from driftline import ext
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.models.validation import Invalid
from driftline.streams.connection import client_options, close_abandoned
from driftline.streams.join.core import JoinCore, JoinTopics, LabelOrigin, held_entry
from driftline.streams.join.labels import Label, decode_label
from driftline.streams.join.pacing import PredictionPacer
from driftline.streams.join.restore import restore_partitions
from driftline.streams.join.slots import Slot
from driftline.streams.join.store import JoinStore
from driftline.streams.metrics import record_join
from driftline.streams.outputs import Output
from driftline.streams.segments import CardSegments
from driftline.streams.sending import BatchSender
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: Expiry sweeps run at most this often (they scan an index, cheap, but not free).
SWEEP_INTERVAL_S = 1.0
#: A cycle commits early when it has changed this many entries. It bounds the overlay and the
#: changelog burst of one commit: at 50,000 predictions/s, 500 ms cycles (25,000 entries) made a
#: worker holding a million pending predictions peak at 508 MB; at 10,000 it peaked at 357 MB.
MAX_DIRTY = 10_000
JOIN_LINGER_MS = 20
JOIN_BATCH_BYTES = 256 * 1024


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, agent: JoinAgent) -> None:
        self._agent = agent

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        if self._agent.abandoned:  # failed: nothing of the open cycle may be committed now
            return
        async with self._agent.cycle:
            await self._agent.commit()
            for p in {tp.partition for tp in revoked if tp.topic == self._agent.settings.topic_predictions}:
                self._agent.store.close_partition(p)
            self._agent.pacer.forget(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        predictions = self._agent.settings.topic_predictions
        partitions = sorted({tp.partition for tp in assigned if tp.topic == predictions})
        log.info("join partitions assigned: %s", partitions)
        async with self._agent.cycle:
            await self._agent.restore(partitions)


class JoinAgent:
    """Runs the label join over this worker's share of the partitions until stopped."""

    def __init__(self, settings: Settings, slot: Slot) -> None:
        self.settings = settings
        self.slot = slot
        self.group_id = f"{settings.group_id}-join"
        self.store = JoinStore(slot.path / "join")
        self.registry = Registry(settings.registry)
        self.core = JoinCore(self.store, JoinTopics(
            settings.topic_join_changelog, settings.topic_training_examples, settings.topic_deadletter,
            settings.topic_outcomes), ttl_ms=settings.label_ttl_ms,
            payload_max_bytes=settings.deadletter_payload_max_bytes, classes=self._classes,
            clock_ms=lambda: time.time() * 1000, segments=self._segments)
        #: Held for one cycle (process, expire, commit) and through rebalance callbacks.
        self.cycle = asyncio.Lock()
        self._stopping = asyncio.Event()
        #: Set when the agent failed and is being replaced.
        self.abandoned = False
        self._consumer: AIOKafkaConsumer | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sender: BatchSender | None = None
        self._in_transaction = False
        #: When the cycle in progress read its first records (None: nothing read since the commit).
        self._cycle_started: float | None = None
        self._swept_at = 0.0
        self._offsets: dict[TopicPartition, int] = {}
        self._deliveries: list[asyncio.Future[Any]] = []
        self._class_names: dict[str, tuple[str, ...]] = {}
        self._card_segments: dict[tuple[str, int], CardSegments | None] = {}
        self.pacer = PredictionPacer(settings.topic_predictions)
        self._routed = 0
        self._partition_count = 0

    async def start(self) -> None:
        settings = self.settings
        self._producer = AIOKafkaProducer(
            **client_options(settings), client_id=f"{settings.app_id}-join", acks="all",
            enable_idempotence=True, transactional_id=self.slot.transactional_id(settings.app_id, "join"),
            transaction_timeout_ms=settings.transaction_timeout_ms,
            # Nothing waits on a join output but the commit, so batch them harder than predictions:
            # fewer, larger produce requests cost the worker and the broker less per record.
            linger_ms=JOIN_LINGER_MS, max_batch_size=JOIN_BATCH_BYTES)
        self._consumer = AIOKafkaConsumer(
            **client_options(settings), group_id=self.group_id, client_id=f"{settings.app_id}-join",
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_partition_fetch_bytes=4 << 20, fetch_max_wait_ms=settings.fetch_max_wait_ms)
        self._restorer = AIOKafkaConsumer(
            **client_options(settings), group_id=None, enable_auto_commit=False,
            client_id=f"{settings.app_id}-join-restore", isolation_level="read_committed")
        await self._producer.start()
        await self._restorer.start()
        await self._consumer.start()
        self._partition_count = await self._check_copartitioned()
        self._sender = BatchSender(self._producer)
        self._consumer.subscribe(
            [settings.topic_predictions, settings.topic_labels_by_id, settings.topic_labels],
            listener=_CommitBeforeRevoke(self))
        log.info("joining %s with %s (via %s) as group %s, state in %s", settings.topic_predictions,
                 settings.topic_labels, settings.topic_labels_by_id, self.group_id, self.store.path)

    async def stop(self) -> None:
        self._stopping.set()
        async with self.cycle:
            try:
                if self._producer is not None and self._consumer is not None:
                    await self._commit_or_abort()
            finally:
                try:
                    for client in (self._consumer, self._restorer, self._producer):
                        if client is not None:
                            await client.stop()
                finally:
                    self.store.close()

    async def abandon(self) -> None:
        """Drop the open cycle (the broker aborts its transaction; the agent that replaces this one
        re-joins it from the committed offsets) and close the store, then the clients."""
        self._stopping.set()
        self.abandoned = True
        self.store.discard()
        self.store.close()  # first: the replacing agent opens the same store
        await close_abandoned(self._consumer, self._restorer, self._producer,
                              timeout_s=self.settings.kafka_request_timeout_ms / 1000)

    async def run(self) -> None:
        assert self._consumer is not None, "start() the agent first"
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=self.settings.poll_timeout_ms,
                                                    max_records=self.settings.batch_max_records)
            async with self.cycle:
                if self._stopping.is_set():
                    return  # stop() ran its final cycle and closed the store while we polled
                if batches:
                    await self.process(batches)
                await self._expire_if_caught_up()
                if not batches or self._cycle_due():
                    await self.commit()

    def _cycle_due(self) -> bool:
        if self.store.dirty > MAX_DIRTY:
            return True
        started, interval_s = self._cycle_started, self.settings.join_commit_interval_ms / 1000
        return started is not None and time.monotonic() - started >= interval_s

    async def process(self, batches: dict[TopicPartition, list[Any]]) -> None:
        assert self._consumer is not None
        owned = self._consumer.assignment()
        if self._cycle_started is None:
            self._cycle_started = time.monotonic()
        settings = self.settings
        for tp, records in batches.items():
            if tp not in owned or not records:
                continue  # moved while we waited: its new owner reads it
            if tp.topic == settings.topic_predictions:
                for r in records:
                    self.core.prediction(tp.partition, r.key, r.value, r.timestamp)
            elif tp.topic == settings.topic_labels_by_id:
                for r in records:  # our own topic: keyed by id, valued with held entries
                    self.core.label(tp.partition, r.key, r.value)
            else:
                self._incoming_labels(records, owned)
            self._offsets[tp] = records[-1].offset + 1
            self.pacer.observe(tp, records)
        await self._send(self.core.drain())
        self._pace(owned)

    def _pace(self, owned: frozenset[TopicPartition]) -> None:
        assert self._consumer is not None
        waiting = self.pacer.to_pause(owned, self._consumer.last_stable_offset)
        self._consumer.resume(*(owned - waiting))
        self._consumer.pause(*waiting)

    def _incoming_labels(self, records: list[Any], owned: frozenset[TopicPartition]) -> None:
        """Labels as their sources sent them: refused, joined here when this worker holds their
        prediction's partition, or routed by event id to the worker that does."""
        labels: list[tuple[Label, LabelOrigin]] = []
        for r in records:
            origin = LabelOrigin(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)
            label = decode_label(r.value, max_bytes=self.settings.max_label_bytes)
            if isinstance(label, Invalid):
                self.core.refuse(origin, label)
            else:
                labels.append((label, origin))
        if not labels:
            return
        ids = [label.id.encode() for label, _ in labels]
        homes = ext.key_partitions(ids, self._partition_count).tolist()
        predictions, routed, ttl = self.settings.topic_predictions, self.settings.topic_labels_by_id, \
            self.settings.label_ttl_ms
        for (label, origin), event_id, home in zip(labels, ids, homes, strict=True):
            held = held_entry(label, origin, ttl)
            if TopicPartition(predictions, home) in owned:
                self.core.label(home, event_id, held)
            else:
                self.core.outputs.append(Output(routed, event_id, held, partition=home))
                self._routed += 1

    async def _expire_if_caught_up(self) -> None:
        if time.monotonic() - self._swept_at < SWEEP_INTERVAL_S or not await self._caught_up():
            return
        self._swept_at = time.monotonic()
        now_ms = int(time.time() * 1000)
        for partition in list(self.store.partitions):
            self.core.expire(partition, now_ms)
        await self._send(self.core.drain())

    async def _caught_up(self) -> bool:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            stable = self._consumer.last_stable_offset(tp)
            if stable is None or await self._consumer.position(tp) < stable:
                return False
        return True

    async def _send(self, outputs: list[Output]) -> None:
        if not outputs:
            return
        assert self._sender is not None
        await self._begin()
        self._deliveries += await self._sender.send(outputs)

    async def _begin(self) -> None:
        assert self._producer is not None
        if not self._in_transaction:
            await self._producer.begin_transaction()
            self._in_transaction = True

    async def commit(self) -> None:
        """Commit the cycle: its outcomes and consumed offsets join its transaction, then the store."""
        assert self._producer is not None
        if not (self._in_transaction or self._offsets or self.core.outcomes or self.store.dirty):
            return
        changelog = self.settings.topic_join_changelog
        await self._send([Output(changelog, event_id, value, partition=partition)
                          for partition, event_id, value in self.store.changes()])
        await self._send(self.core.drain_outcomes())
        if self._offsets:
            await self._begin()
            await self._producer.send_offsets_to_transaction(self._offsets, self.group_id)
        if self._in_transaction:
            await self._producer.commit_transaction()
        delivered = await asyncio.gather(*self._deliveries)
        self.store.commit(_changelog_offsets(delivered, self.settings.topic_join_changelog))
        self._record()
        self._in_transaction, self._offsets, self._deliveries = False, {}, []
        self._cycle_started = None

    async def _commit_or_abort(self) -> None:
        """On the way out: commit the open cycle, or abort it when the agent failed mid-cycle (it is
        re-joined from the committed offsets after a restart; nothing of it is visible)."""
        assert self._producer is not None
        try:
            await self.commit()
        except (KafkaError, IllegalOperation) as exc:
            log.warning("the last join cycle could not commit (%r); aborting it, a restart re-joins it", exc)
            self.store.discard()
            with contextlib.suppress(KafkaError, IllegalOperation):
                await self._producer.abort_transaction()

    async def restore(self, partitions: list[int]) -> None:
        assert self._restorer is not None
        await restore_partitions(self._restorer, self.store, self.settings.topic_join_changelog, partitions)
        self._record()

    def _record(self) -> None:
        counts = self.core.take_counts()
        states = list(self.store.partitions.values())
        # Every joined label is published as exactly one training example.
        record_join(counts.labels, counts.predictions, counts.labels["joined"], routed=self._routed,
                    pending=sum(s.pending for s in states), held=sum(s.held for s in states))
        self._routed = 0

    async def _check_copartitioned(self) -> int:
        """The partition count shared by predictions, labels-by-id and the changelog."""
        assert self._producer is not None
        topics = (self.settings.topic_predictions, self.settings.topic_labels_by_id,
                  self.settings.topic_join_changelog)
        counts = {t: len(await self._producer.partitions_for(t)) for t in topics}
        if len(set(counts.values())) != 1 or 0 in counts.values():
            raise JoinNotPossible(f"the label join needs these topics to have one partition count: {counts}")
        return next(iter(counts.values()))

    def _classes(self, model: str) -> tuple[str, ...]:
        if model not in self._class_names:
            try:
                self._class_names[model] = self.registry.card(model).output.classes
            except ModelError:
                self._class_names[model] = ()
        return self._class_names[model]

    def _segments(self, model: str, version: int) -> CardSegments | None:
        """The segments ``model`` ``version``'s card declares (None: none, or no such card)."""
        if (model, version) not in self._card_segments:
            try:
                specs = self.registry.card(model, version).segments
            except ModelError:
                specs = ()
            self._card_segments[model, version] = CardSegments(specs) if specs else None
        return self._card_segments[model, version]


class JoinNotPossible(Exception):  # noqa: N818 - reads as the condition it reports
    """The topics are not laid out for the join (partition counts differ)."""


def _changelog_offsets(delivered: list[Any], topic: str) -> dict[int, int]:
    """Per changelog partition, the base offset of the last batch written: a checkpoint from which
    a replay re-applies at most one batch (replays are idempotent)."""
    offsets: dict[int, int] = {}
    for metadata in delivered:
        if metadata is not None and metadata.topic == topic:
            offsets[metadata.partition] = max(offsets.get(metadata.partition, 0), metadata.offset)
    return offsets
