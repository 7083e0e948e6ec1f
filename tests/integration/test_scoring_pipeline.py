"""The scoring path end to end on a real broker: events in, predictions and dead letters out."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from driftline.models.card import ModelCard
from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.runtime import columns_from_rows
from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import create_topics
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, committed_total, isolated_settings, send_all

MAX_EVENT_BYTES = 20_000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, max_event_bytes=MAX_EVENT_BYTES,
                             batch_max_records=500)


def malformed_events(card: ModelCard, valid: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """(key, payload, expected error code) for every kind of bad input the worker must survive."""
    bounded = next(f for f in card.features if f.type == "numeric" and f.max is not None)
    required = next(f for f in card.features if not f.nullable)
    strict = next(f for f in card.features if f.type == "categorical" and f.unseen == "strict")

    def event(key: str, **changes: Any) -> bytes:
        return orjson.dumps({"id": key, "features": {**valid, **changes}})

    return [
        ("broken-json", b'{"id": "broken-json", "features": {', "invalid_json"),
        ("no-id", orjson.dumps({"features": valid}), "missing_field"),
        ("no-features", b'{"id": "no-features"}', "missing_field"),
        ("missing-feature", orjson.dumps({"id": "missing-feature", "features": {
            k: v for k, v in valid.items() if k != required.name}}), "missing_field"),
        ("wrong-type", event("wrong-type", **{bounded.name: "12"}), "wrong_type"),
        ("id-not-string", b'{"id": 12, "features": {}}', "wrong_type"),
        ("nan", event("nan", **{bounded.name: 1.0}).replace(b"1.0", b"NaN", 1), "non_finite_number"),
        ("infinity", event("infinity", **{bounded.name: 1.0}).replace(b"1.0", b"Infinity", 1),
         "non_finite_number"),
        ("out-of-range", event("out-of-range", **{bounded.name: bounded.max + 1}), "out_of_range"),
        ("null", event("null", **{required.name: None}), "null_not_allowed"),
        ("strict-unseen", event("strict-unseen", **{strict.name: "never-seen"}), "unknown_category"),
        ("unknown-model", orjson.dumps({"id": "unknown-model", "model": "nope", "features": valid}),
         "unknown_model"),
        ("oversize", event("oversize", padding="x" * MAX_EVENT_BYTES), "oversize_payload"),
        ("invalid-utf8", b'{"id": "invalid-utf8", "features": {"a": "\xc3\x28"}}', "invalid_utf8"),
        ("not-object", b"[1, 2, 3]", "not_an_object"),
        ("empty", b"", "empty_payload"),
    ]


def build_stream(card: ModelCard, n_valid: int, copies: int, seed: int) -> tuple[
        list[tuple[bytes, bytes]], dict[str, dict[str, Any]], dict[bytes, str]]:
    """Valid and malformed events shuffled together; returns (records, valid rows, expected codes)."""
    rows = SyntheticStream(seed=seed).rows(n_valid)
    lenient = next(f for f in card.features if f.type == "categorical" and f.unseen == "other")
    for row in rows[::97]:
        row[lenient.name] = "unseen-but-allowed"  # scored in the "other" bucket, not refused
    valid = {f"ok-{i}": row for i, row in enumerate(rows)}
    records = [(key.encode(), orjson.dumps({"id": key, "features": row})) for key, row in valid.items()]
    expected: dict[bytes, str] = {}
    for copy in range(copies):
        for key, payload, code in malformed_events(card, rows[copy]):
            unique = f"bad-{copy}-{key}".encode()
            expected[unique] = code
            records.append((unique, payload.replace(f'"{key}"'.encode(), b'"' + unique + b'"', 1)))
    random.Random(seed).shuffle(records)
    return records, valid, expected


async def test_every_event_ends_as_one_prediction_or_one_dead_letter(
        settings: Settings, worker: WorkerProcess, demo_registry: Path) -> None:
    registry = Registry(demo_registry)
    model = registry.load(DEMO_MODEL_NAME)
    records, valid, expected_codes = build_stream(model.card, n_valid=5000, copies=20, seed=11)
    await ensure_topics(settings)
    sent = await send_all(settings.broker, settings.topic_events, records)
    worker.start()

    async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_deadletter)) as out:
        await out.read_until(lambda r: r.count() >= sent, timeout=180, alive=worker.assert_alive)
        predictions = out.records[settings.topic_predictions]
        dead = out.records[settings.topic_deadletter]

    assert len(predictions) + len(dead) == sent
    by_id = {value["id"]: value for _, value in predictions}
    assert set(by_id) == set(valid) and len(by_id) == len(predictions)
    ids = list(valid)
    direct = model.predict(columns_from_rows(model.card, [valid[i] for i in ids]))
    assert [by_id[i]["score"] for i in ids] == direct.scores.tolist()
    assert [by_id[i]["label"] for i in ids] == direct.labels.tolist()
    assert {v["model"] for v in by_id.values()} == {DEMO_MODEL_NAME}

    # Predictions land on the partition of their event (the label join depends on it): the
    # worker partitions by itself, the test's producer with aiokafka's default partitioner.
    partitions, kafka_default = list(range(settings.topic_partitions)), DefaultPartitioner()
    landed = zip(predictions, out.partitions[settings.topic_predictions], strict=True)
    assert all(kafka_default(key, partitions, partitions) == partition for (key, _), partition in landed)

    codes = {key: value["error"]["code"] for key, value in dead}  # type: ignore[index]
    assert len(codes) == len(dead)
    assert codes == {key: code for key, code in expected_codes.items()}
    assert Counter(codes.values())["oversize_payload"] == 20


async def test_a_killed_worker_loses_nothing(settings: Settings, worker: WorkerProcess,
                                            demo_registry: Path, tmp_path: Path) -> None:
    model = Registry(demo_registry).load(DEMO_MODEL_NAME)
    records, valid, expected_codes = build_stream(model.card, n_valid=100_000, copies=5, seed=23)
    await ensure_topics(settings)
    sent = await send_all(settings.broker, settings.topic_events, records)
    worker.start()

    async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_deadletter)) as out:
        await out.read_until(lambda r: r.count() >= 2000, timeout=120, alive=worker.assert_alive)
        worker.kill()
        killed_ms = time.time() * 1000
        committed_at_kill = await committed_total(settings.broker, settings.group_id, settings.topic_events)
        seen_at_kill = out.count()
        assert seen_at_kill < sent, "the worker finished before it could be killed: send more events"
        restarted = WorkerProcess(settings, tmp_path / "worker-restarted.log")
        restarted.start()
        try:
            await out.read_until(lambda r: _accounted(r, settings) >= set(valid) | _keys(expected_codes),
                                 timeout=180, alive=restarted.assert_alive)
        finally:
            restarted.stop()
        outputs = out.count()

    # At-least-once: events whose offsets were not committed at the kill may be scored twice,
    # never dropped, and nothing committed is scored again. Every output built before the kill
    # (whenever the broker appended it) belongs to the first worker; of those, the committed ones
    # must not repeat, so repeats are at most the rest. (A commit still in flight at the kill only
    # makes the committed count read here smaller, which loosens the bound, never breaks it.)
    built_before_kill = sum(1 for topic in (settings.topic_predictions, settings.topic_deadletter)
                            for _, value in out.records[topic] if float(value["ts"]) <= killed_ms)  # type: ignore[arg-type]
    assert 0 <= outputs - sent <= built_before_kill - committed_at_kill
    assert committed_at_kill > 0, "nothing was committed before the kill: the bound above says nothing"


def _keys(codes: dict[bytes, str]) -> set[str]:
    return {k.decode() for k in codes}


def _accounted(reader: TopicReader, settings: Settings) -> set[str]:
    predicted = {str(v["id"]) for _, v in reader.records[settings.topic_predictions]}
    dead = {k.decode() for k, _ in reader.records[settings.topic_deadletter] if k is not None}
    return predicted | dead


async def test_a_megabyte_key_becomes_one_dead_letter_and_the_stream_goes_on(
        settings: Settings, worker: WorkerProcess, demo_registry: Path) -> None:
    """A 1 MB key with a 40 KB non-JSON value fits an events topic that allows 2 MB records; its
    dead letter kept the key whole, outgrew the dead-letter topic and crash-looped the worker."""
    await create_topics(settings.broker, {settings.topic_events: settings.topic_partitions},
                        configs={settings.topic_events: {"max.message.bytes": str(2 << 20)}})
    await ensure_topics(settings)
    rows = SyntheticStream(seed=31).rows(600)
    events = [(f"k{i}".encode(), orjson.dumps({"id": f"k{i}", "features": r})) for i, r in enumerate(rows)]
    huge = (b"K" * (1 << 20), bytes(range(256)) * 160)  # 1 MiB key, 40 KiB of binary
    await send_all(settings.broker, settings.topic_events, [*events[:300], huge, *events[300:]])
    worker.start()

    async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_deadletter)) as out:
        await out.read_until(lambda r: r.count() >= 601, timeout=120, alive=worker.assert_alive)
        await out.read_until(lambda r: True, timeout=5)  # one more poll: a repeat would show
        predicted = [str(v["id"]) for _, v in out.records[settings.topic_predictions]]
        [(key, dead)] = out.records[settings.topic_deadletter]
    worker.assert_alive()
    assert sorted(predicted) == sorted(f"k{i}" for i in range(600))  # each once: no restart replayed
    assert key == b"K" * 1024 and dead["key_truncated"] is True and dead["key_size"] == 1 << 20
    assert dead["error"]["code"] == "oversize_payload" and dead["payload_encoding"] == "base64"  # type: ignore[index]
