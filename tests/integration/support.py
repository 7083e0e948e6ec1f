"""Driving real workers and reading real topics in integration tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from driftline.streams.drift_outbox import FRAME_MAGIC, decode_record
from driftline.streams.settings import Settings
from tests.command import DRIFTLINE


def isolated_settings(bootstrap: str, prefix: str, registry: Path, **overrides: Any) -> Settings:
    """Settings of one test on the shared broker: its own topics, app id and group, 3 partitions,
    sessions short enough for quick rebalances, no metrics endpoint unless asked for."""
    topics = {f.name: f"{prefix}-{f.name.removeprefix('topic_')}" for f in fields(Settings)
              if f.name.startswith("topic_") and f.name != "topic_partitions"}
    defaults: dict[str, Any] = {"broker": bootstrap, "registry": registry, "app_id": f"{prefix}-app",
                                "state_dir": Path(tempfile.gettempdir()) / "driftline-tests" / prefix,
                                "group_id": f"{prefix}-scoring", "topic_partitions": 3, "metrics_port": 0,
                                "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
    return Settings(**(defaults | topics | overrides))


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a ``driftline worker`` subprocess use ``settings``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")} | settings.to_environ()


@dataclass
class WorkerProcess:
    """A ``driftline worker`` (or another long-running ``driftline`` command) subprocess with its log
    in a file."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    #: The worker's working directory (the test's own when None).
    cwd: Path | None = None
    #: The ``driftline`` subcommand it runs.
    command: tuple[str, ...] = ("worker",)

    def start(self) -> None:
        environment = worker_environment(self.settings)
        if self.cwd is not None:  # ``-m driftline.streams.cli`` must still find the project from elsewhere
            environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path.cwd()),
                                                                      environment.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen([*DRIFTLINE, *self.command], stdout=log,
                                            stderr=subprocess.STDOUT, env=environment, cwd=self.cwd)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def assert_alive(self) -> None:
        assert self.process is not None and self.process.poll() is None, (
            f"worker exited with {self.process and self.process.returncode}:\n{self.log_tail()}")


async def send_all(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=4 << 20)
    await producer.start()
    try:
        deliveries = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    return len(deliveries)


def decoded(value: bytes) -> dict[str, object]:
    """A record's value: JSON, or a drift record's frame (its codes as bytes under ``"codes"``)."""
    if value.startswith(FRAME_MAGIC):
        frame = decode_record(value)
        assert frame is not None, value[:40]
        return frame
    parsed: dict[str, object] = orjson.loads(value)
    return parsed


@dataclass
class TopicReader:
    """Reads topics from the beginning, keeping every record's key and decoded value."""

    bootstrap: str
    topics: tuple[str, ...]
    #: ``read_committed`` for topics written in transactions (the join's outputs).
    isolation_level: str = "read_uncommitted"
    records: dict[str, list[tuple[bytes | None, dict[str, object]]]] = field(default_factory=dict)
    #: The partition each record was read from, parallel to ``records``.
    partitions: dict[str, list[int]] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap, group_id=None,
                                          auto_offset_reset="earliest", enable_auto_commit=False,
                                          isolation_level=self.isolation_level)
        await self._consumer.start()
        self.records = {t: [] for t in self.topics}
        self.partitions = {t: [] for t in self.topics}
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    def count(self) -> int:
        return sum(len(v) for v in self.records.values())

    async def poll(self, timeout_ms: int = 500) -> None:
        """Read what arrives within ``timeout_ms`` (one fetch)."""
        assert self._consumer is not None
        for tp, batch in (await self._consumer.getmany(timeout_ms=timeout_ms)).items():
            self.records[tp.topic].extend((r.key, decoded(r.value)) for r in batch)
            self.partitions[tp.topic].extend(tp.partition for _ in batch)

    async def read_until(self, done: Callable[[TopicReader], bool], *, timeout: float,
                         alive: Callable[[], None] = lambda: None) -> None:
        """Poll until ``done(self)`` holds; fail with what was seen when ``timeout`` passes."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        while not done(self):
            alive()
            if time.monotonic() > deadline:
                counts = {t: len(v) for t, v in self.records.items()}
                raise AssertionError(f"condition not met within {timeout}s; records so far: {counts}")
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, batch in batches.items():
                self.records[tp.topic].extend((r.key, decoded(r.value)) for r in batch)
                self.partitions[tp.topic].extend(tp.partition for _ in batch)


def drift_snapshots(reader: TopicReader, topic: str) -> list[dict[str, Any]]:
    """The monitor agent's snapshots among the records read from the metrics ``topic`` (the
    performance agent publishes its own kinds there too)."""
    return [value for _, value in reader.records[topic] if value.get("kind") == "drift"]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A worker's ``/metrics`` as {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def wait_for_group(bootstrap: str, group: str, members: int, *, timeout: float,
                         alive: Callable[[], None] = lambda: None) -> None:
    """Wait until ``group`` is Stable with ``members`` members (so partitions are spread)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline, seen = time.monotonic() + timeout, ("unknown", 0)
    try:
        while time.monotonic() < deadline:
            alive()
            try:
                responses = await admin.describe_consumer_groups([group])
            except KafkaError as exc:  # the offsets topic may not exist yet on a fresh broker
                if not exc.retriable:
                    raise
                responses = []
            for response in responses:
                for described in response.groups:
                    # (error_code, group_id, state, protocol_type, protocol, members, ...)
                    seen = (described[2], len(described[5]))
            if seen == ("Stable", members):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise AssertionError(f"group {group} not Stable with {members} members within {timeout}s: {seen}")


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Sum of ``group``'s committed offsets on ``topic``: how many of its records are done for good
    (offsets start at 0 on the fresh topics tests use)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0)
