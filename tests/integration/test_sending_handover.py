"""A batch of outputs reaches the broker before the worker's next synchronous stretch, not after.

The score agent queues a batch's outputs, then scores the next batch, which holds the event loop
for milliseconds to tens of milliseconds. Nothing the producer has not written by then can go
until the stretch ends. Here a blocking sleep stands in for that stretch (it is the thing being
modelled, not a wait for something), and the broker's append time of the record, from a topic
stamped with ``LogAppendTime``, says whether it arrived while the loop was held.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaProducer

from driftline.streams.bench.latency import APPEND_TIME_CONFIG
from driftline.streams.broker import create_topics
from driftline.streams.outputs import Output
from driftline.streams.sending import BatchSender

#: The stand-in for scoring the next micro-batch: far longer than a produce round trip on loopback.
BUSY_S = 1.0


@pytest.mark.integration
async def test_a_handed_over_batch_is_appended_while_the_loop_is_held(kafka_bootstrap: str,
                                                                      topic_prefix: str) -> None:
    topic = f"{topic_prefix}-predictions"
    await create_topics(kafka_bootstrap, {topic: 2}, configs={topic: APPEND_TIME_CONFIG})
    # linger_ms as long as the test: a batch that lingered would still be in the producer.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=60_000)
    await producer.start()
    try:
        sender = BatchSender(producer)
        # The first send also fetches metadata and connects; the pipeline is warm before timing.
        for delivery in await sender.send([Output(topic, b"warm", b"{}")]):
            await delivery
        deliveries = await sender.send([Output(topic, b"e-%d" % i, b'{"id": %d}' % i) for i in range(50)])
        await sender.hand_over()
        time.sleep(BUSY_S)
        held_until_ms = time.time() * 1000
        appended = [await delivery for delivery in deliveries]
    finally:
        await producer.stop()
    assert len(appended) == 2  # one record batch per partition
    assert all(metadata.timestamp < held_until_ms for metadata in appended), (
        f"appended at {[m.timestamp for m in appended]}, the loop was held until {held_until_ms:.0f}")
