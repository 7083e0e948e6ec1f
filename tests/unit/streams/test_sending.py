"""BatchSender: outputs grouped into one record batch per partition, each closed when handed over.

The producer is a stand-in that keeps the batches it is given; its batches are built by a real
(unstarted) ``AIOKafkaProducer``, so their lingering is aiokafka's own. That a handed-over batch
reaches the broker before the loop is next held is shown on a real broker by
``tests/integration/test_sending_handover.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import MessageBatch
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from driftline import ext
from driftline.streams.outputs import Output
from driftline.streams.sending import BatchSender

PARTITIONS = 6


class KeepingProducer:
    """Takes record batches the way ``AIOKafkaProducer.send_batch`` does and keeps them."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self.create_batch = real.create_batch
        self.handed: list[tuple[Any, str, int]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.handed.append((batch, topic, partition))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery.set_result(None)
        return delivery


async def handed_over(outputs: list[Output]) -> list[tuple[Any, str, int]]:
    real = AIOKafkaProducer(linger_ms=60_000)  # never started: only its batch builder is used
    try:
        producer = KeepingProducer(real)
        await BatchSender(cast(AIOKafkaProducer, producer)).send(outputs)
        return producer.handed
    finally:
        await real.stop()


def predictions(count: int) -> list[Output]:
    return [Output("predictions", f"e-{i}".encode(), b'{"id":"e-%d"}' % i) for i in range(count)]


async def test_every_batch_is_closed_so_it_does_not_wait_out_linger() -> None:
    handed = await handed_over(predictions(50))
    assert handed and all(batch.closed() for batch, _, _ in handed)
    # What the producer's accumulator would do with them: a closed batch is ready to drain at once.
    for batch, topic, partition in handed:
        lingering = MessageBatch(TopicPartition(topic, partition), batch, ttl=30, linger_time=60.0)
        assert lingering.remaining_linger() is None


async def test_records_go_to_their_keys_partition_in_order_one_batch_each() -> None:
    outputs = predictions(200)
    handed = await handed_over(outputs)
    expected = ext.key_partitions([o.key or b"" for o in outputs], PARTITIONS).tolist()
    assert sorted(partition for _, _, partition in handed) == sorted(set(expected))
    for batch, topic, partition in handed:
        assert topic == "predictions"
        ours = [o.value for o, p in zip(outputs, expected, strict=True) if p == partition]
        assert values(batch) == ours


def values(batch: Any) -> list[bytes]:
    """The values of a built record batch, in its order."""
    records = MemoryRecords(bytes(batch._build()))
    built = records.next_batch()
    assert built is not None and records.next_batch() is None
    return [record.value for record in built]
