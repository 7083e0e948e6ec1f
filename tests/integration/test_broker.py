"""Round trips through a real broker: what the worker relies on, proved with aiokafka 0.14.

- a consumer group that commits and restarts resumes exactly at its committed offsets;
- ``stop`` then ``start`` over the same data dir keeps what was produced;
- a broker that dies or is too slow is killed and reported with its log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from driftline.streams.broker import BrokerStartTimeout, create_topics, free_port, is_formatted, start, stop
from driftline.streams.broker.server import PID_NAME

DEADLINE_S = 30.0


@asynccontextmanager
async def _producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def _group_consumer(bootstrap: str, topic: str, group: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _produce(bootstrap: str, topic: str, values: range) -> None:
    async with _producer(bootstrap) as producer:
        sends = [await producer.send(topic, str(v).encode(), key=str(v).encode()) for v in values]
        await asyncio.gather(*sends)


async def _take(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Exactly ``count`` records (getmany is bounded by what is still wanted)."""
    taken: list[ConsumerRecord[bytes, bytes]] = []
    async with asyncio.timeout(DEADLINE_S):
        while len(taken) < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=count - len(taken))
            for records in batches.values():
                taken.extend(records)
    return taken


def _next_offsets(records: list[ConsumerRecord[bytes, bytes]], topic: str) -> dict[TopicPartition, int]:
    """Offsets to commit: one past the last record seen per partition."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


async def test_group_resumes_at_committed_offset(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}-events", f"{topic_prefix}-group"
    await create_topics(kafka_bootstrap, {topic: 3})
    await _produce(kafka_bootstrap, topic, range(100))

    async with _group_consumer(kafka_bootstrap, topic, group) as consumer:
        first = await _take(consumer, 60)
        committed = _next_offsets(first, topic)
        await consumer.commit(committed)
        for tp, offset in committed.items():
            assert await consumer.committed(tp) == offset

    async with _group_consumer(kafka_bootstrap, topic, group) as consumer:
        second = await _take(consumer, 40)
        await consumer.commit(_next_offsets(second, topic))
        end = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
        for tp, last in end.items():
            assert await consumer.committed(tp) == last
            assert await consumer.position(tp) == last

    seen = [int(r.value) for r in first + second if r.value is not None]
    assert sorted(seen) == list(range(100)), "every message exactly once across the restart"
    for partition in {r.partition for r in second}:
        resumed_at = min(r.offset for r in second if r.partition == partition)
        assert resumed_at == committed.get(TopicPartition(topic, partition), 0)
    assert sum(end.values()) == 100
    assert len({r.partition for r in first + second}) == 3, "keys spread over all partitions"


async def _read_all(bootstrap: str, topic: str, count: int) -> list[bytes | None]:
    """Read a one-partition topic from the beginning without a group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        return [r.value for r in await _take(consumer, count)]
    finally:
        await consumer.stop()


async def test_restart_over_same_data_dir_keeps_messages(tmp_path: Path, topic_prefix: str) -> None:
    """A second, private broker: stopping the session broker would disturb the other tests."""
    data_dir, port, topic = tmp_path / "kafka-restart", free_port(), f"{topic_prefix}-kept"
    try:
        handle = await asyncio.to_thread(start, port, data_dir)
        await create_topics(handle.bootstrap, {topic: 1})
        await _produce(handle.bootstrap, topic, range(1))
        assert await asyncio.to_thread(stop, data_dir) is True
        assert await asyncio.to_thread(stop, data_dir) is False, "stop is idempotent"
        assert is_formatted(data_dir)

        handle = await asyncio.to_thread(start, port, data_dir)
        await create_topics(handle.bootstrap, {topic: 1})  # already there: a no-op
        assert await _read_all(handle.bootstrap, topic, 1) == [b"0"]
    finally:
        await asyncio.to_thread(stop, data_dir)


def _running_from(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``data_dir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(data_dir).encode() in cmdline:
            pids.append(int(proc.name))
    return pids


def test_broker_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka-dies"
    with pytest.raises(BrokerStartTimeout) as caught:
        start(free_port(), data_dir, heap="1k")  # the JVM refuses a 1 KiB heap
    assert "exited" in str(caught.value)
    assert "heap" in caught.value.log_tail.lower()
    assert not (data_dir / PID_NAME).exists()


def test_broker_past_its_deadline_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka-slow"
    with pytest.raises(BrokerStartTimeout) as caught:
        start(free_port(), data_dir, timeout=0.01)
    assert "within" in str(caught.value)
    assert not (data_dir / PID_NAME).exists()
    assert _running_from(data_dir) == []
