"""The performance agent's book: monitors built on first outcomes, and forgotten with their series
when the model's outcomes partition moves to another worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from aiokafka import TopicPartition

from driftline.models.registry import Registry
from driftline.streams.metrics import PERFORMANCE, PERFORMANCE_FLOOR, forget_performance, record_performance
from driftline.streams.performance_agent import (
    PerformanceAgent,
    PerformanceBook,
    decode_outcomes,
    performance_settings,
)
from driftline.streams.settings import Settings


def series(model: str) -> set[tuple[str, ...]]:
    return {tuple(s.labels.values()) for gauge in (PERFORMANCE, PERFORMANCE_FLOOR)
            for family in gauge.collect() for s in family.samples if s.labels["model"] == model}


def test_a_forgotten_model_stops_exporting_its_series(tmp_path: Path) -> None:
    settings = Settings(perf_window_size=50, perf_evaluate_every=10, perf_floors=("accuracy=0.5",))
    book = PerformanceBook(performance_settings(settings), Registry(tmp_path / "none"))
    for model in ("moved", "stays"):
        book.feed({"model": model, "version": 1, "variant": "champion", "task": "binary",
                   "y_true": [0, 1] * 30, "y_pred": [0, 1] * 30, "score": [0.1, 0.9] * 30})
    for snapshot in book.snapshots():
        record_performance(snapshot, book.settings.floors)
    assert ("moved", "1", "champion", "accuracy") in series("moved") and series("stays")

    forget_performance(book.forget({"moved"}))
    assert series("moved") == set() and series("stays")
    assert [key[0] for key in book.monitors] == ["stays"]


def test_outcomes_records_are_checked_before_they_are_judged() -> None:
    assert decode_outcomes(b"{") is None
    assert decode_outcomes(b'{"model": "m", "version": 1, "variant": "c", "task": "binary", '
                           b'"y_true": [1], "y_pred": [1, 0]}') is None  # lengths disagree


class CommitHeldConsumer:
    """One poll of one malformed outcomes record, then empty polls; its commit waits to be released."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.committing = asyncio.Event()
        self.release = asyncio.Event()
        self.polls = 0

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        self.polls += 1
        if self.polls > 1:
            await asyncio.sleep(timeout_ms / 1000)  # an empty poll's wait, as the real consumer's
            return {}
        record = SimpleNamespace(key=None, value=b"{", partition=0)
        return {TopicPartition("outcomes", 0): [record]}

    async def commit(self) -> None:
        self.log.append("commit")
        self.committing.set()
        await self.release.wait()
        self.log.append("committed")

    async def stop(self) -> None:
        self.log.append("consumer stopped")


class StoppedProducer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def stop(self) -> None:
        self.log.append("producer stopped")


async def test_stop_closes_the_clients_only_after_the_commit_in_flight(tmp_path: Path) -> None:
    """A commit cut off by its consumer's close retried the coordinator lookup for ever, and the
    worker then ignored SIGTERM (seen in CI on the secured broker)."""
    log: list[str] = []
    agent = PerformanceAgent(Settings(registry=tmp_path / "registry", metrics_snapshot_ms=3_600_000))
    consumer = CommitHeldConsumer(log)
    agent._consumer, agent._producer = cast(Any, consumer), cast(Any, StoppedProducer(log))
    running = asyncio.create_task(agent.run())
    await asyncio.wait_for(consumer.committing.wait(), timeout=10)

    stopping = asyncio.create_task(agent.stop())
    await asyncio.sleep(0)  # let stop() reach the cycle's lock
    assert log == ["commit"] and not stopping.done()
    consumer.release.set()
    await asyncio.wait_for(asyncio.gather(stopping, running), timeout=10)
    assert log == ["commit", "committed", "consumer stopped", "producer stopped"]
