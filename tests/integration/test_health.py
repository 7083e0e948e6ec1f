"""Probes a deployment can trust: ``/readyz`` says whether a worker really serves, ``/healthz``
whether it lives, and neither (nor ``/metrics``) is open to the network unless asked for."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import free_port
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings, send_all, wait_for_group


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path) -> Settings:
    # One partition for two workers: one of them has nothing to serve.
    return isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, metrics_port=free_port(),
                             topic_partitions=1, label_join=False)


def status(host: str, port: int, path: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


async def wait_for_status(port: int, path: str, expected: int, *, alive: object, timeout: float = 90) -> None:
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        alive()  # type: ignore[operator]
        seen = status("127.0.0.1", port, path)
        if seen == expected:
            return
        await asyncio.sleep(0.2)  # polling a condition with a deadline
    raise AssertionError(f"{path} on :{port} answered {seen}, not {expected}, within {timeout}s")


def non_loopback_address() -> str:
    """An address of this machine that is not loopback (where another host would connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address: str = probe.getsockname()[0]
    assert not address.startswith("127."), "this machine has no non-loopback address to test with"
    return address


async def test_readiness_follows_partitions_and_nothing_listens_beyond_loopback(
        settings: Settings, worker: WorkerProcess, tmp_path: Path) -> None:
    await ensure_topics(settings)
    worker.start()
    await wait_for_status(settings.metrics_port, "/readyz", 200, alive=worker.assert_alive)
    assert status("127.0.0.1", settings.metrics_port, "/healthz") == 200
    assert status("127.0.0.1", settings.metrics_port, "/metrics") == 200
    assert status("127.0.0.1", settings.metrics_port, "/anything") == 404
    assert status(non_loopback_address(), settings.metrics_port, "/metrics") is None  # refused

    second = WorkerProcess(dataclasses.replace(settings, metrics_port=free_port()), tmp_path / "second.log")
    second.start()
    try:
        await wait_for_group(settings.broker, settings.group_id, 2, timeout=90, alive=second.assert_alive)
        await wait_for_status(second.settings.metrics_port, "/healthz", 200, alive=second.assert_alive)
        # Both have the model loaded; the single partition is one worker's: the other is not ready.
        workers = {w.settings.metrics_port: w for w in (worker, second)}
        ready = await settled_readiness(list(workers))
        assert sorted(ready.values()) == [200, 503], ready
        serving = next(port for port, code in ready.items() if code == 200)
        idle = next(port for port in workers if port != serving)
        workers[serving].stop()  # the partition moves: the idle worker becomes ready
        await wait_for_status(idle, "/readyz", 200, alive=workers[idle].assert_alive)
    finally:
        second.stop()


async def settled_readiness(ports: list[int], timeout: float = 30) -> dict[int, int | None]:
    """Each worker's /readyz once exactly one of them is ready (a rebalance settles first)."""
    deadline = time.monotonic() + timeout
    while True:
        codes = {port: status("127.0.0.1", port, "/readyz") for port in ports}
        if sorted(codes.values(), key=str) == [200, 503] or time.monotonic() > deadline:
            return codes
        await asyncio.sleep(0.2)  # polling a condition with a deadline


async def test_a_worker_writes_nothing_to_its_working_directory(
        kafka_bootstrap: str, topic_prefix: str, demo_registry: Path, tmp_path: Path) -> None:
    """A container with a read-only root runs the worker: every file it writes (Faust's data
    folder, the join store) goes under ``state_dir``, none into the working directory."""
    settings = isolated_settings(kafka_bootstrap, topic_prefix, demo_registry, metrics_port=free_port(),
                                 state_dir=tmp_path / "state")  # the label join and monitors on
    await ensure_topics(settings)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    worker = WorkerProcess(settings, tmp_path / "worker.log", cwd=workdir)
    worker.start()
    try:
        await send_all(settings.broker, settings.topic_events, demo_events(settings, 500))
        async with TopicReader(settings.broker, (settings.topic_predictions,)) as reader:
            await reader.read_until(lambda r: r.count() >= 500, timeout=120, alive=worker.assert_alive)
        assert worker.stop() == 0
    finally:
        worker.stop()
    assert list(workdir.iterdir()) == []
    assert (tmp_path / "state").is_dir() and any((tmp_path / "state").rglob("*"))


def demo_events(settings: Settings, count: int) -> list[tuple[bytes | None, bytes]]:
    rows = SyntheticStream(seed=5).rows(count)
    return [(f"w{n}".encode(), orjson.dumps({"id": f"w{n}", "features": row})) for n, row in enumerate(rows)]
