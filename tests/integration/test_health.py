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

import pytest

from streams.broker import free_port
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.support import WorkerProcess, isolated_settings, wait_for_group


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

    idle = WorkerProcess(dataclasses.replace(settings, metrics_port=free_port()), tmp_path / "idle.log")
    idle.start()
    try:
        await wait_for_group(settings.broker, settings.group_id, 2, timeout=90, alive=idle.assert_alive)
        # The model is loaded, but the single partition is the first worker's: not ready.
        await wait_for_status(idle.settings.metrics_port, "/healthz", 200, alive=idle.assert_alive)
        assert status("127.0.0.1", idle.settings.metrics_port, "/readyz") == 503
        assert status("127.0.0.1", settings.metrics_port, "/readyz") == 200
        worker.stop()  # the partition moves: the idle worker becomes ready
        await wait_for_status(idle.settings.metrics_port, "/readyz", 200, alive=idle.assert_alive)
    finally:
        idle.stop()
