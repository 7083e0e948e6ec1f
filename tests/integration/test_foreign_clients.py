"""Events from a client that is not aiokafka: librdkafka (confluent-kafka), every compression codec,
and transactions.

Producers we do not control compress with whatever their client defaults to; one batch in a codec
the worker cannot decompress used to crash-loop every worker. A producer's aborted transaction
must leave no prediction behind.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from driftline.models.synthetic import SyntheticStream
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 300


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry)


def produce_with_librdkafka(bootstrap: str, topic: str, codec: str, records: list[tuple[str, bytes]]) -> None:
    """One librdkafka producer per codec, so every record batch it writes uses that codec."""
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20,
                         "enable.idempotence": True})
    failures: list[str] = []
    for key, value in records:
        producer.produce(topic, value, key, on_delivery=lambda err, _msg: err and failures.append(str(err)))
    assert producer.flush(30) == 0, f"{codec}: records still queued after 30 s"
    assert not failures, f"{codec}: {failures[:3]}"


async def test_every_codec_from_librdkafka_is_scored(settings: Settings, worker: WorkerProcess) -> None:
    await ensure_topics(settings)
    rows = SyntheticStream(seed=5).rows(PER_CODEC * len(CODECS))
    expected: set[str] = set()
    for n, codec in enumerate(CODECS):
        chunk = rows[n * PER_CODEC:(n + 1) * PER_CODEC]
        records = [(f"{codec}-{i}", orjson.dumps({"id": f"{codec}-{i}", "features": row}))
                   for i, row in enumerate(chunk)]
        produce_with_librdkafka(settings.broker, settings.topic_events, codec, records)
        expected |= {key for key, _ in records}
    worker.start()

    async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_deadletter)) as out:
        await out.read_until(lambda r: r.count() >= len(expected), timeout=120, alive=worker.assert_alive)
        predicted = [str(value["id"]) for _, value in out.records[settings.topic_predictions]]
        dead = out.records[settings.topic_deadletter]

    assert not dead, f"dead letters: {dead[:3]}"
    assert sorted(predicted) == sorted(expected)
    worker.assert_alive()


async def test_events_of_an_aborted_transaction_are_not_scored(settings: Settings,
                                                               worker: WorkerProcess) -> None:
    await ensure_topics(settings)
    rows = SyntheticStream(seed=6).rows(400)
    producer = Producer({"bootstrap.servers": settings.broker, "transactional.id": f"{settings.app_id}-txn"})
    producer.init_transactions(30)
    for outcome, chunk in (("abort", rows[:200]), ("commit", rows[200:])):
        producer.begin_transaction()
        for i, row in enumerate(chunk):
            producer.produce(settings.topic_events, orjson.dumps({"id": f"{outcome}-{i}", "features": row}),
                             f"{outcome}-{i}")
        assert producer.flush(30) == 0
        if outcome == "abort":
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)
    worker.start()

    async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_deadletter)) as out:
        await out.read_until(lambda r: r.count() >= 200, timeout=120, alive=worker.assert_alive)
        await out.read_until(lambda r: True, timeout=5)  # one more poll: aborted events would show
        ids = [str(value["id"]) for _, value in out.records[settings.topic_predictions]]
    assert sorted(ids) == sorted(f"commit-{i}" for i in range(200))
    assert not out.records[settings.topic_deadletter]
