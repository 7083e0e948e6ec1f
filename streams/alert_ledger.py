"""Open alerts that outlive their owner: a compacted alert-state topic, read by every worker.

A monitor's alert state (which alert streams are open) used to live in the memory of the worker
that owned the model's monitor. A rebalance, a restart or a promote lost it: the new owner raised
an alert in progress a second time, an alert that cleared meanwhile was never resolved, and alerts
of a promoted-away version stayed open in incident tooling forever.

Every alert the monitor publishes is now written, after the alert itself, to the alert-state topic
keyed by its dedup key: the alert's data while open, a tombstone once resolved, a ``retired``
record when its model version stopped serving. Each worker follows that topic (all partitions,
from the beginning) and the publisher consults it:

* a ``raised`` for a key that is open becomes an ``updated`` (the new owner continues the alert);
* anything for a retired key is dropped (late deltas of a version that no longer serves);
* `unconfirmed` lists open keys of a model version that its monitor has not opened after judging
  a full window, so the new owner resolves them with the reason;
* `resolve_version` resolves and retires every open alert of a version (``models promote`` calls
  it for the version it replaced).

Limit: the alert and its state record are two writes; a crash between them leaves the state one
event behind (a ``raised`` may repeat once, or an alert resolve once more).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from driftline.detectors.monitor import DriftMonitor
from driftline.streams.alerts import alert_cloudevent
from driftline.streams.connection import client_options
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

RETIRED = "retired"
#: Alert kinds the ledger holds for the performance agent: a drift monitor never confirms them.
JUDGED_ELSEWHERE = frozenset({"performance", "fairness", "concept_drift", "label_drift"})
#: Longest wait for the ledger to read the alert-state topic to its end (at start-up, and when a
#: monitor takes a model over).
SYNC_TIMEOUT_S = 30.0


class AlertLedger:
    """The fleet's open (and retired) alerts by dedup key, and the one way alerts are published."""

    def __init__(self, settings: Settings, *, source: str) -> None:
        self.settings = settings
        self.source = source
        #: dedup key → the alert's last data (``status`` raised, updated or retired).
        self.entries: dict[str, dict[str, Any]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        settings = self.settings
        self._producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True,
                                          client_id=f"{settings.app_id}-alert-ledger")
        self._consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                          client_id=f"{settings.app_id}-alert-ledger")
        await self._producer.start()
        await self._consumer.start()
        await self._consumer.topics()  # loads metadata, so every partition is assigned
        partitions = self._consumer.partitions_for_topic(settings.topic_alert_state) or {0}
        assigned = [TopicPartition(settings.topic_alert_state, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        await self.sync()

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def __aenter__(self) -> AlertLedger:
        try:
            await self.start()
        except BaseException:  # a failed start leaves clients open that must still be closed
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def sync(self, timeout_s: float = SYNC_TIMEOUT_S) -> bool:
        """Read the alert-state topic up to its current end (what other owners wrote so far);
        False (and a log line) when Kafka did not let it within ``timeout_s``, for instance while
        the worker stops."""
        try:
            await asyncio.wait_for(self._read_to_end(), timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("the alert-state topic could not be read (%r); continuing with what was read", exc)
            return False
        return True

    async def _read_to_end(self) -> None:
        assert self._consumer is not None, "start() the ledger first"
        consumer = self._consumer
        ends = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    self._apply(record.key, record.value)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        dedup_key = key.decode(errors="replace")
        if value is None:
            self.entries.pop(dedup_key, None)
            return
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            log.warning("skipping an alert-state record that is not JSON (key %s)", dedup_key)
            return
        if isinstance(data, dict):
            self.entries[dedup_key] = data

    def is_open(self, dedup_key: str) -> bool:
        entry = self.entries.get(dedup_key)
        return entry is not None and entry.get("status") != RETIRED

    async def publish(self, status: str, data: dict[str, Any]) -> str | None:
        """Publish one alert event, log it and record its state; returns the status sent (None:
        dropped)."""
        key = str(data["dedup_key"])
        entry = self.entries.get(key)
        if entry is not None and entry.get("status") == RETIRED:
            log.info("dropping %s for %s: its version no longer serves", status, key)
            return None
        if status == "raised" and entry is not None:
            status = "updated"  # an alert another owner raised: this is its continuation
        try:
            await self._send(status, data)
        except KafkaError as exc:  # a monitor must not die on it (Faust would stop the worker)
            log.error("could not publish the %s alert %s (%r): %s", status, key, exc, data.get("summary"))
            return None
        return status

    async def _send(self, status: str, data: dict[str, Any], *, retire: bool = False) -> None:
        assert self._producer is not None, "start() the ledger first"
        key, envelope = alert_cloudevent(status, data, source=self.source)
        await self._producer.send_and_wait(self.settings.topic_alerts, envelope, key=key)
        state: dict[str, Any] | None = {**data, "status": RETIRED if retire else status}
        if status == "resolved" and not retire:
            state = None
        value = None if state is None else orjson.dumps(state, option=orjson.OPT_SERIALIZE_NUMPY)
        await self._producer.send_and_wait(self.settings.topic_alert_state, value, key=key)
        self._apply(key, value)
        # Logged once the state is written: a line in the log means a successor will know the alert.
        log.warning("alert %s: %s", status, data.get("summary", key.decode()))

    def unconfirmed(self, model: str, version: int | None, confirmed: set[str]) -> list[dict[str, Any]]:
        """Open alerts of ``model`` ``version`` whose dedup key is not among ``confirmed``."""
        return [data for key, data in sorted(self.entries.items())
                if self.is_open(key) and key not in confirmed
                and data.get("model") == model and data.get("version") == version]

    async def resolve(self, data: dict[str, Any], reason: str, *, retire: bool = False) -> None:
        """Resolve one open alert with ``reason`` (and mark its key retired if asked)."""
        resolved = {**data, "severity": "info", "reason": reason,
                    "summary": f"resolved: {data.get('summary', data['dedup_key'])} ({reason})"}
        await self._send("resolved", resolved, retire=retire)

    async def resolve_version(self, model: str, version: int, reason: str) -> int:
        """Resolve and retire every open alert of ``model`` ``version``; returns how many."""
        await self.sync()
        open_alerts = self.unconfirmed(model, version, confirmed=set())
        for data in open_alerts:
            await self.resolve(data, reason, retire=True)
        return len(open_alerts)

    async def reinstate_version(self, model: str, version: int) -> None:
        """Forget the retired marks of ``model`` ``version`` (it serves again and may alert again)."""
        await self.sync()
        assert self._producer is not None
        for key, data in list(self.entries.items()):
            if data.get("status") == RETIRED and (data.get("model"), data.get("version")) == (model, version):
                await self._producer.send_and_wait(self.settings.topic_alert_state, None, key=key.encode())
                self.entries.pop(key, None)


class MonitorLedger(AlertLedger):
    """The ledger as the drift monitor agent uses it: synced when a model's monitor changes hands,
    and reconciled once the new owner has judged a full window."""

    def __init__(self, settings: Settings, *, source: str) -> None:
        super().__init__(settings, source=source)
        #: Set once the topic was read at start-up; the agent waits for it before its first delta.
        self.started = asyncio.Event()
        self._owned: set[str] = set()
        self._reconciled: set[tuple[str, int | None]] = set()

    async def start(self) -> None:
        await super().start()
        self.started.set()

    async def take_over(self, model: str) -> None:
        """Before the first delta of ``model`` this process judges, read what its last owner wrote."""
        # A catch-up read, not a sync to the end offsets: a ListOffsets request that the broker does
        # not answer (seen on a SASL_SSL listener) would stall the monitor and then the worker's stop.
        # Without it the ledger still works; an alert the last owner raised may be raised once more.
        if model not in self._owned:
            self._owned.add(model)
            await self.catch_up()

    def release_all(self) -> None:
        """Partitions changed hands: catch up again before judging any model's next record, since
        a model this process judged before may have been raised meanwhile by another owner."""
        self._owned.clear()

    async def catch_up(self, rounds: int = 5) -> None:
        """Apply what the ledger's consumer has fetched (up to ``rounds`` short polls, until one is empty)."""
        assert self._consumer is not None, "start() the ledger first"
        for _ in range(rounds):
            try:
                batches = await self._consumer.getmany(timeout_ms=100)
            except KafkaError as exc:
                log.warning("the alert-state topic could not be read (%r); continuing without", exc)
                return
            if not batches:
                return
            for records in batches.values():
                for record in records:
                    self._apply(record.key, record.value)

    async def reconcile(self, monitor: DriftMonitor | None, sub_windows: int) -> None:
        """Once ``monitor`` has judged a full window, resolve the open alerts it did not confirm.

        "Judged a full window": its first full window, then ``sub_windows`` more evaluations, so a
        whole window of events has passed every detector's own hysteresis. Counted in evaluations,
        not events, because an evaluation (not an event) is what can raise.
        """
        if monitor is None:
            return
        version = (monitor.profile.model, monitor.profile.version)
        if version in self._reconciled or monitor.histogram.n_evaluations < 1 + sub_windows:
            return
        self._reconciled.add(version)
        for data in self.unconfirmed(*version, confirmed=set(monitor.open_alerts())):
            if data.get("kind") in JUDGED_ELSEWHERE:  # the performance agent's to confirm, not ours
                continue
            log.warning("resolving %s: its monitor did not confirm it", data["dedup_key"])
            await self.resolve(data, f"not confirmed by the monitor's new owner after "
                                     f"{monitor.n_seen} events")
