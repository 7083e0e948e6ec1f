"""The monitor agent: merges the bin codes of every worker and judges drift on their sequence.

Reads the drift-counts topic, keyed by model, in the ``<group_id>-monitor`` group: the group gives
each model's records to exactly one worker's agent, so two workers sharing a stream raise one
alert, not two. `streams.monitor_book` holds the monitors; alerts go out through the open-alert
ledger (`streams.alert_ledger`), so an alert outlives the worker that raised it.

A plain aiokafka consumer polled on the event loop, like the other batch agents, rather than a
Faust agent: Faust fetched these records in its consumer thread and handed each over through two
tasks, which cost the full worker about 1-2% of a core at 40,000 events/s for a few records a
second (per-thread CPU in /proc, docs/PERFORMANCE.md). Offsets are committed at most every
``COMMIT_EVERY_S`` and when the agent stops: after a crash the new owner re-reads at most that much,
which feeds a window a few hundred events twice, never loses one.

Snapshots go to the metrics topic every ``metrics_snapshot_ms``, traffic or not: the loop polls at
least twice a period, and each snapshot says how long its monitor has been idle.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from driftline.streams.alert_ledger import MonitorLedger
from driftline.streams.alerts import alert_data
from driftline.streams.connection import client_options
from driftline.streams.drift_outbox import decode_record
from driftline.streams.metrics import record_drift
from driftline.streams.monitor_book import MonitorBook
from driftline.streams.polled_agent import Poll, PolledAgent
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: Longest stretch of judged records left uncommitted (what a successor may judge twice).
COMMIT_EVERY_S = 1.0
#: Longest poll: a stop, or a due snapshot, waits at most this long.
POLL_MAX_MS = 200


def decode_delta(value: bytes | None) -> dict[str, Any] | None:
    """A drift record as a dict (`streams.drift_outbox.decode_record`), or None when it is not one
    or names no model version (format checks come later)."""
    delta = decode_record(value)
    if delta is None or not all(k in delta for k in ("model", "version", "events")):
        return None
    if not isinstance(delta["version"], int) or not isinstance(delta["model"], str):
        return None
    return delta


class SnapshotPublisher:
    """Sends the monitors' snapshots at most every ``every_s`` seconds, whenever it is asked.

    Asked after every poll, records or not, so the metrics topic and the gauges stay alive when
    traffic pauses; each snapshot says how long the monitor has been idle (``idle_s``).
    """

    def __init__(self, book: MonitorBook, send: Callable[..., Awaitable[Any]], every_s: float) -> None:
        self.book = book
        self.send = send
        self.every_s = every_s
        self.sent_at = time.monotonic()

    async def maybe_send(self) -> int:
        """Send if a period has passed since the last snapshot; returns how many were sent."""
        if time.monotonic() - self.sent_at < self.every_s:
            return 0
        self.sent_at = time.monotonic()
        snapshots = self.book.snapshots()
        for snapshot in snapshots:
            record_drift(snapshot)
            # "kind" tells drift snapshots from the performance agent's on the shared metrics topic.
            value = orjson.dumps({"kind": "drift", **snapshot}, option=orjson.OPT_SERIALIZE_NUMPY)
            await self.send(key=snapshot["model"].encode(), value=value)
        return len(snapshots)


class _CatchUpAfterRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """A model this agent judged, lost to another worker and got back may have been raised there:
    the ledger must read what that owner wrote before the next record is judged, or the alert is
    raised twice."""

    def __init__(self, ledger: MonitorLedger) -> None:
        self._ledger = ledger

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Nothing to hand over: the windows are in memory, the open alerts in the ledger."""

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._ledger.release_all()


class MonitorAgent(PolledAgent):
    """Follows the drift-counts topic in the ``<group_id>-monitor`` group until stopped.

    ``book`` outlives the agent: an agent the broker failed is replaced by a fresh one
    (`streams.supervision`) that keeps judging the same windows.
    """

    def __init__(self, settings: Settings, book: MonitorBook, ledger: MonitorLedger) -> None:
        super().__init__(settings)
        self.book = book
        self.ledger = ledger
        self.publisher = SnapshotPublisher(book, self._send_snapshot, settings.metrics_snapshot_ms / 1000)
        self.poll_ms = max(1, min(POLL_MAX_MS, settings.metrics_snapshot_ms // 2))
        self._judged_since_commit = False
        self._committed_at = time.monotonic()

    async def start(self) -> None:
        settings = self.settings
        client_id = f"{settings.app_id}-monitor"
        await self._open(
            AIOKafkaProducer(**client_options(settings), acks="all", client_id=client_id),
            AIOKafkaConsumer(
                **client_options(settings), group_id=f"{settings.group_id}-monitor", client_id=client_id,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms),
            settings.topic_drift_counts, _CatchUpAfterRebalance(self.ledger))

    async def _before_close(self) -> None:
        if self._consumer is not None and self._judged_since_commit:
            with contextlib.suppress(KafkaError):  # the successor then re-judges up to a second
                await self._commit()

    async def _cycle(self, batches: Poll) -> None:
        """Judge one poll's records in order, send the due snapshots, commit when due."""
        for records in batches.values():
            for record in records:
                await self.judge(record.value)
        self._judged_since_commit |= bool(batches)
        await self.publisher.maybe_send()
        if self._judged_since_commit and time.monotonic() - self._committed_at >= COMMIT_EVERY_S:
            await self._commit()

    async def _commit(self) -> None:
        self._judged_since_commit, self._committed_at = False, time.monotonic()
        await self.commit()

    async def judge(self, value: bytes | None) -> None:
        """Feed one drift record to its monitor and publish what it raises or resolves."""
        delta = decode_delta(value)
        if delta is None:
            log.warning("skipping a malformed drift record")
            return
        model, version = str(delta["model"]), int(delta["version"])
        await self.book.ensure(model, version)
        await self.ledger.take_over(model)
        for event in self.book.feed(delta):
            await self.ledger.publish(event.type, alert_data(event))
        await self.ledger.reconcile(self.book.monitor(model, version), self.settings.drift_sub_windows)

    async def _send_snapshot(self, *, key: bytes, value: bytes) -> None:
        await self.producer.send_and_wait(self.settings.topic_metrics, value, key=key)
