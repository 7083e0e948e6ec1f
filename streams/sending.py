"""Producing a batch's outputs as whole record batches, one per partition.

``AIOKafkaProducer.send`` costs tens of microseconds of Python per record (a future, a
partitioner call in pure Python, an accumulator lookup); for a scoring worker that was a quarter
of its CPU. Outputs of a batch are known together, so they are grouped by partition, with the
partition of each key computed by ``ext.key_partitions`` (Kafka's murmur2, compiled; the same
partition Kafka's own producers pick, which keeps predictions co-partitioned with labels), and
appended to one record batch per partition. Order within a partition is the batch's order.

Each record batch is closed before the producer gets it. An open batch lingers in the producer's
accumulator for ``linger_ms`` waiting for more records, and the only records that could join it
are other callers' ``producer.send()`` calls; ours are all in already. On the event loop a
lingering batch waits longer than ``linger_ms``: its timer fires during the caller's next
synchronous stretch (scoring the next micro-batch, 5-40 ms) and the batch goes out only after it.
(aiokafka's docstring of ``BatchBuilder.close`` says closing has no effect on when a batch is
sent; its ``MessageBatch.remaining_linger`` says otherwise, and the code is what runs.)

A closed batch still needs the loop for a few turns before its produce request is written:
``hand_over`` gives them, so that a caller about to block the loop lets its outputs go first.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from driftline import ext
from driftline.streams.outputs import Output

#: Turns of the event loop from a ready batch to its produce request being written: on the first
#: the accumulator's waiter wakes the sender, which drains the batch into a request task; on the
#: second that task writes it (aiokafka 0.14; ``test_sending_handover`` fails with one turn).
SENDER_TURNS = 2


class BatchSender:
    """Sends outputs through a started producer as per-partition record batches."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        # Records without a key (dead letters of keyless events) are spread round-robin;
        # records that name their partition (changelog entries) go there.
        self._keyless = itertools.count()

    async def send(self, outputs: Sequence[Output]) -> list[asyncio.Future[Any]]:
        """Queue every output; returns the delivery futures (one per record batch)."""
        by_topic: dict[str, list[Output]] = {}
        for output in outputs:
            by_topic.setdefault(output.topic, []).append(output)
        deliveries: list[asyncio.Future[Any]] = []
        for topic, records in by_topic.items():
            for partition, partition_records in (await self._by_partition(topic, records)).items():
                deliveries += await self._send_partition(topic, partition, partition_records)
        return deliveries

    @staticmethod
    async def hand_over() -> None:
        """Give the producer the loop turns it needs to put queued batches on the wire.

        The producer keeps one request in flight per broker, so a batch goes now only when the
        previous request is answered: call it after awaiting the previous acknowledgements.
        """
        for _ in range(SENDER_TURNS):
            await asyncio.sleep(0)

    async def _by_partition(self, topic: str, records: list[Output]) -> dict[int, list[Output]]:
        count = len(await self.producer.partitions_for(topic))
        keys = [record.key if record.key is not None else b"" for record in records]
        partitions = ext.key_partitions(keys, count).tolist()
        grouped: dict[int, list[Output]] = {}
        for record, keyed in zip(records, partitions, strict=True):
            if record.partition is not None:
                partition = record.partition
            else:
                partition = keyed if record.key is not None else next(self._keyless) % count
            grouped.setdefault(partition, []).append(record)
        return grouped

    async def _send_partition(self, topic: str, partition: int,
                              records: list[Output]) -> list[asyncio.Future[Any]]:
        deliveries = []
        batch = self.producer.create_batch()
        for record in records:
            if batch.append(timestamp=None, key=record.key, value=record.value) is None:
                deliveries.append(await self._queue(batch, topic, partition))
                batch = self.producer.create_batch()
                if batch.append(timestamp=None, key=record.key, value=record.value) is None:
                    raise MessageSizeTooLargeError(f"a {len(record.value)}-byte record for {topic} does "
                                                   "not fit an empty batch (producer_max_batch_bytes)")
        deliveries.append(await self._queue(batch, topic, partition))
        return deliveries

    async def _queue(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        """Hand one record batch to the producer, waiting as long as the broker takes to accept it.

        The producer holds one batch per partition in flight and makes the next wait for room, at
        most its request timeout; while the broker is down that wait runs out (KafkaTimeoutError)
        with the batch not queued. Offering it again is safe and is how an outage of any length
        is waited out with the pipeline intact (``streams.reachability`` says why we wait).
        """
        batch.close()  # ready at once: see the module's docstring
        while True:
            try:
                delivery: asyncio.Future[Any] = await self.producer.send_batch(
                    batch, topic, partition=partition)
            except KafkaTimeoutError:
                continue
            return delivery
