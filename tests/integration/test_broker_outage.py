"""A broker outage longer than every client timeout, with a backlog in flight, is waited out.

The test runs its own broker (the session's is shared by other tests), stops it while a worker is
scoring a backlog with every monitor and the label join on, keeps it down for 90 s, then starts it
again on the same ports and data folder. Every event must end as a prediction or a dead letter,
the worker must still run, ``/readyz`` must say 503 during the outage and 200 after it, and the
outage must cost fewer than 100 log lines (aiokafka logs an error per retry: thousands a second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import BrokerHandle, free_port, start, stop
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings, send_all

BACKLOG = 120_000
OUTAGE_S = 90.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerHandle]:
    data_dir = tmp_path / "kafka"
    handle = start(free_port(), data_dir, controller_port=free_port())
    try:
        yield handle
    finally:
        stop(data_dir)


@pytest.fixture
def settings(own_broker: BrokerHandle, topic_prefix: str, demo_registry: Path) -> Settings:
    return isolated_settings(own_broker.bootstrap, topic_prefix, demo_registry, metrics_port=free_port())


def events(count: int) -> Iterator[tuple[bytes, bytes]]:
    for n, row in enumerate(SyntheticStream(seed=11).rows(count)):
        key = f"e{n}".encode()
        yield key, orjson.dumps({"id": key.decode(), "features": row})


async def wait_until(condition: object, *, timeout: float, alive: object, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        alive()  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not within {timeout}s"
        await asyncio.sleep(0.2)  # polling a condition with a deadline


def log_lines(worker: WorkerProcess) -> int:
    return len(worker.log_path.read_bytes().splitlines())


async def test_a_90_second_outage_with_a_backlog_in_flight_loses_nothing(
        settings: Settings, own_broker: BrokerHandle, worker: WorkerProcess) -> None:
    from tests.integration.test_health import status

    await ensure_topics(settings)
    await send_all(settings.broker, settings.topic_events, events(BACKLOG))
    worker.start()
    ready = lambda: status("127.0.0.1", settings.metrics_port, "/readyz")  # noqa: E731
    async with TopicReader(settings.broker, (settings.topic_predictions,)) as reader:
        await reader.read_until(lambda r: r.count() >= 5_000, timeout=120, alive=worker.assert_alive)
    before = log_lines(worker)

    stop(own_broker.data_dir)
    down_at = time.monotonic()
    await wait_until(lambda: ready() == 503, timeout=OUTAGE_S, alive=worker.assert_alive,
                     what="/readyz 503 during the outage")
    while time.monotonic() - down_at < OUTAGE_S:  # the outage itself: the worker must live through it
        worker.assert_alive()
        await asyncio.sleep(1)
    port = int(settings.broker.rsplit(":", 1)[1])
    start(port, own_broker.data_dir, controller_port=own_broker.controller_port)

    await wait_until(lambda: ready() == 200, timeout=120, alive=worker.assert_alive,
                     what="/readyz 200 after the outage")
    outputs = (settings.topic_predictions, settings.topic_deadletter)
    async with TopicReader(settings.broker, outputs) as reader:
        await reader.read_until(lambda r: len(answered(r)) >= BACKLOG, timeout=180, alive=worker.assert_alive)
        assert answered(reader) == {f"e{n}" for n in range(BACKLOG)}
    worker.assert_alive()
    assert ready() == 200
    # The outage and the whole recovery: the lines a person reads at 3 a.m.
    assert log_lines(worker) - before < 100, worker.log_tail(150)


def answered(reader: TopicReader) -> set[str]:
    ids = {str(value["id"]) for _, value in reader.records[reader.topics[0]]}
    return ids | {key.decode() for key, _ in reader.records[reader.topics[1]] if key is not None}
