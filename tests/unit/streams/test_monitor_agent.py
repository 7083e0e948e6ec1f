"""The monitor agent's core: drift records in, silent detectors refused, snapshots on a timer,
calibration off the event loop (no broker needed: the agent's loop is a thin shell over these)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import types
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from driftline.detectors.monitor import DriftMonitor
from driftline.detectors.reference import ReferenceProfile
from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from driftline.streams.alert_ledger import MonitorLedger
from driftline.streams.drift_outbox import DriftOutbox
from driftline.streams.monitor_agent import (
    COMMIT_EVERY_S,
    MonitorAgent,
    SnapshotPublisher,
    _CatchUpAfterRebalance,
    decode_delta,
)
from driftline.streams.monitor_book import MonitorBook, SilentDetectorError, check_window, monitor_settings
from driftline.streams.settings import Settings


@pytest.fixture
def book(demo_registry: Path) -> MonitorBook:
    return MonitorBook(Settings(registry=demo_registry), Registry(demo_registry))


def demo_profile(registry: Path) -> tuple[int, ReferenceProfile]:
    reg = Registry(registry)
    version = reg.champion(DEMO_MODEL_NAME)
    reference = reg.reference(DEMO_MODEL_NAME, version)
    assert version is not None and reference is not None
    return version, ReferenceProfile.from_dict(reference)


def records(book: MonitorBook, version: int, events: int, per_flush: int) -> list[dict[str, Any]]:
    """Drift records of a worker that flushes every ``per_flush`` events, decoded."""
    decoded = [decode_delta(value) for value in raw_records(book, version, events, per_flush)]
    assert all(d is not None for d in decoded)
    return cast(list[dict[str, Any]], decoded)


def raw_records(book: MonitorBook, version: int, events: int, per_flush: int) -> list[bytes]:
    """Drift records of a worker that flushes every ``per_flush`` events (scores: a stand-in)."""
    monitor = book.monitor(DEMO_MODEL_NAME, version)
    assert monitor is not None
    from driftline.detectors.binner import ProfileBinner

    binner = ProfileBinner(monitor.profile)
    stream = SyntheticStream(seed=5)
    outbox = DriftOutbox("w", flush_interval_s=3600)
    out: list[bytes] = []
    for _ in range(events // per_flush):
        scores = np.random.default_rng(len(out)).beta(1.2, 6.0, per_flush)
        outbox.add(DEMO_MODEL_NAME, version, binner.bin_codes(stream.columns(per_flush), scores), scores)
        out += [value for _, value in outbox.drain()]
    return out


# --- windows at any rate ----------------------------------------------------------------------


@pytest.mark.parametrize("per_flush", [100, 1000, 5000])
def test_the_judged_window_is_the_configured_size_whatever_the_flush(book: MonitorBook,
                                                                     per_flush: int) -> None:
    version, _ = demo_profile(book.settings.registry)
    for record in records(book, version, 10_000, per_flush):
        book.feed(record)
    snapshot = book.snapshots()[0]
    assert snapshot["window"] == {"events": 500, "start": 9500, "end": 10_000}
    assert snapshot["evaluations"] == (10_000 - 500) // 100 + 1  # every 100 events from the first full window


def test_format_1_records_are_still_read_and_the_worker_is_logged_once(
        book: MonitorBook, caplog: pytest.LogCaptureFixture) -> None:
    version, profile = demo_profile(book.settings.registry)
    old = {"format": 1, "model": DEMO_MODEL_NAME, "version": version, "worker": "old-worker", "events": 100,
           "counts": np.zeros((len(profile.rows), profile.width), dtype=np.int64).tolist(), "score_means": []}
    book.monitor(DEMO_MODEL_NAME, version)
    with caplog.at_level(logging.WARNING, logger="driftline.streams.monitor_book"):
        for _ in range(3):
            book.feed(old)
        book.feed({**old, "format": 7})
    assert book.snapshots()[0]["events"] == 300
    messages = [r.getMessage() for r in caplog.records]
    assert sum("old-worker sends count deltas of format 1" in m for m in messages) == 1
    assert sum("unknown format 7" in m for m in messages) == 1


# --- silent detectors -------------------------------------------------------------------------


def test_binary_river_detectors_are_refused_on_scores() -> None:
    with pytest.raises(SilentDetectorError, match="never fire") as caught:
        monitor_settings(Settings(drift_river=("ADWIN", "DDM", "FHDDM")))
    assert caught.value.setting == "drift_river" and "DDM" in str(caught.value)


def test_a_window_where_no_statistic_can_fire_is_refused(demo_registry: Path) -> None:
    _, profile = demo_profile(demo_registry)
    with pytest.raises(SilentDetectorError, match="can ever fire") as caught:
        check_window(Settings(drift_window_size=30), [profile])
    assert caught.value.setting == "drift_window_size"
    check_window(Settings(drift_window_size=40), [profile])  # some rows still speak: logged, not refused


def test_rows_a_short_window_silences_are_logged_and_in_the_snapshot(
        demo_registry: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(registry=demo_registry, drift_window_size=50, drift_sub_windows=5)
    book = MonitorBook(settings, Registry(demo_registry))
    version, _ = demo_profile(demo_registry)
    with caplog.at_level(logging.WARNING, logger="driftline.streams.monitor_book"):
        monitor = book.monitor(DEMO_MODEL_NAME, version)
    assert monitor is not None
    off = monitor.snapshot()["off"]["histogram.psi"]
    assert "chargebacks_365d" in off and "too few for two bins" in off["chargebacks_365d"]
    logged = [r.getMessage() for r in caplog.records if "is off for" in r.getMessage()]
    assert len(logged) == len(off) and any("chargebacks_365d" in m for m in logged)
    assert DriftMonitor(monitor.profile).off() == {}  # at the default 500 every row speaks


# --- snapshots when traffic pauses ------------------------------------------------------------


async def test_snapshots_keep_coming_when_traffic_pauses(book: MonitorBook) -> None:
    version, _ = demo_profile(book.settings.registry)
    for record in records(book, version, 1000, 500):
        book.feed(record)
    sent: list[dict[str, Any]] = []

    async def send(*, key: bytes, value: bytes) -> None:
        sent.append(orjson.loads(value))

    publisher = SnapshotPublisher(book, send, every_s=0.05)
    deadline = time.monotonic() + 10.0
    while len(sent) < 3 and time.monotonic() < deadline:  # what the timer does, with no record fed
        await publisher.maybe_send()
        await asyncio.sleep(0.01)
    assert len(sent) >= 3, "no snapshot without traffic"
    assert all(s["events"] == 1000 for s in sent)
    assert sent[-1]["idle_s"] > sent[0]["idle_s"] > 0


# --- calibration off the event loop -----------------------------------------------------------


async def test_a_new_version_is_calibrated_off_the_event_loop(book: MonitorBook) -> None:
    version, _ = demo_profile(book.settings.registry)
    loop_ran = threading.Event()
    built_on: list[threading.Thread] = []
    real_build = book.build

    def slow_build(model: str, version: int) -> DriftMonitor | None:
        built_on.append(threading.current_thread())
        # Blocks until a coroutine on the loop has run: on the loop itself this would deadlock.
        assert loop_ran.wait(timeout=10.0), "the event loop did not run while calibrating"
        return real_build(model, version)

    book.build = slow_build  # type: ignore[method-assign]

    async def on_the_loop() -> None:
        loop_ran.set()

    await asyncio.gather(book.ensure(DEMO_MODEL_NAME, version), on_the_loop())
    assert built_on and built_on[0] is not threading.main_thread()
    assert book.monitor(DEMO_MODEL_NAME, version) is not None


@pytest.mark.parametrize("damage", [{"format": 2, "codes": "AAAA"}, {"format": 2, "rows": 3},
                                    {"format": 1, "counts": [[1, 2]]}, {"format": 1},
                                    {"format": 2, "score_means": ["x"]}])
def test_a_damaged_record_is_skipped_with_a_log_line(book: MonitorBook, damage: dict[str, Any],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    version, _ = demo_profile(book.settings.registry)
    record = records(book, version, 100, 100)[0]
    if damage.get("format") == 1:
        record.pop("codes")
    with caplog.at_level(logging.WARNING, logger="driftline.streams.monitor_book"):
        assert book.feed({**record, **damage}) == []
    assert book.snapshots()[0]["events"] == 0
    assert any("skipping a drift record" in r.getMessage() for r in caplog.records)


# --- the agent's cycle -------------------------------------------------------------------------


class _Consumer:
    """What the agent's cycle asks of its consumer: commits, counted (the first ``refuse`` fail as
    after a rebalance)."""

    def __init__(self, refuse: int = 0) -> None:
        self.commits = 0
        self.refuse = refuse

    async def commit(self) -> None:
        self.commits += 1
        if self.commits <= self.refuse:
            raise CommitFailedError("the group has already rebalanced")


class _Ledger:
    """An alert ledger that remembers what it was asked to publish."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def take_over(self, model: str) -> None: ...

    async def publish(self, status: str, data: dict[str, Any]) -> str:
        self.published.append(status)
        return status

    async def reconcile(self, monitor: object, sub_windows: int) -> None: ...


def an_agent(book: MonitorBook) -> tuple[MonitorAgent, _Consumer, list[bytes]]:
    snapshots: list[bytes] = []
    agent = MonitorAgent(dataclasses.replace(book.settings, metrics_snapshot_ms=1), book,
                         cast(MonitorLedger, _Ledger()))
    consumer = _Consumer()
    agent._consumer = cast(AIOKafkaConsumer, consumer)

    async def send(*, key: bytes, value: bytes) -> None:
        snapshots.append(value)

    agent.publisher.send = send
    return agent, consumer, snapshots


async def test_the_agent_feeds_records_skips_bad_ones_and_commits_at_most_once_a_second(
        book: MonitorBook, caplog: pytest.LogCaptureFixture) -> None:
    version, _ = demo_profile(book.settings.registry)
    agent, consumer, snapshots = an_agent(book)
    good = raw_records(book, version, 1000, 500)
    partition = TopicPartition(book.settings.topic_drift_counts, 0)

    def poll(*values: bytes) -> dict[TopicPartition, list[Any]]:
        return {partition: [types.SimpleNamespace(value=v) for v in values]} if values else {}

    agent._committed_at -= COMMIT_EVERY_S  # the last commit is a period old
    with caplog.at_level(logging.WARNING, logger="driftline.streams.monitor_agent"):
        await agent._cycle(poll(good[0], b"not json"))
    assert consumer.commits == 1
    assert "skipping a malformed drift record" in caplog.text
    await agent._cycle(poll(good[1]))  # judged, but the commit is not due yet
    assert consumer.commits == 1 and agent._judged_since_commit
    monitor = book.monitor(DEMO_MODEL_NAME, version)
    assert monitor is not None and monitor.snapshot()["events"] == 1000
    snapshots.clear()
    await asyncio.sleep(0.002)  # the 1 ms snapshot period passes
    await agent._cycle(poll())  # an empty poll still snapshots
    assert snapshots and orjson.loads(snapshots[0])["events"] == 1000


class _CountingLedger(MonitorLedger):
    """A ledger whose catch-up reads are counted instead of made."""

    def __init__(self) -> None:
        super().__init__(Settings(), source="test")
        self.catch_ups = 0

    async def catch_up(self, rounds: int = 5) -> None:
        self.catch_ups += 1


async def test_a_rebalance_makes_the_next_record_of_a_model_catch_up_with_the_ledger_again() -> None:
    ledger = _CountingLedger()
    await ledger.take_over("m")
    await ledger.take_over("m")
    assert ledger.catch_ups == 1  # once per model while its partition stays here
    await _CatchUpAfterRebalance(ledger).on_partitions_assigned([])
    await ledger.take_over("m")
    assert ledger.catch_ups == 2  # another owner may have raised its alerts meanwhile


async def test_a_commit_refused_after_a_rebalance_is_logged_not_fatal(
        book: MonitorBook, caplog: pytest.LogCaptureFixture) -> None:
    version, _ = demo_profile(book.settings.registry)
    agent, _, _ = an_agent(book)
    consumer = _Consumer(refuse=1)
    agent._consumer = cast(AIOKafkaConsumer, consumer)
    agent._committed_at -= COMMIT_EVERY_S
    partition = TopicPartition(book.settings.topic_drift_counts, 0)
    record = types.SimpleNamespace(value=raw_records(book, version, 500, 500)[0])
    with caplog.at_level(logging.INFO, logger="driftline.streams.polled_agent"):
        await agent._cycle({partition: [record]})
    assert consumer.commits == 1 and "handled again by their new owner" in caplog.text
