"""The performance agent: realised metrics, concept drift, label drift and floors per model.

Reads the joined outcomes the join agent publishes (one record per model version, variant and
join cycle, keyed by model), so one agent sees every partition's and worker's outcomes of a model
and judges them as one stream. A plain aiokafka consumer rather than a Faust agent because the
outcomes are written in transactions and must be read ``read_committed`` (Faust reads committed
records only when the whole app runs exactly-once, which shared/KAFKA-AND-FAUST.md calls
experimental); the volume is a few records per second, so nothing here is hot.

The same topic carries the scoring workers' binary predictions (`streams.prediction_outbox`,
``"kind": "predictions"``), so the agent that owns a model also judges what needs no label: the
CBPE estimate (`streams.estimates`) and the prediction side of fairness (`streams.segment_book`).
Their alerts (``performance`` from detector ``cbpe``, ``fairness``) go through the open-alert
ledger and `streams.alert_handover`, so they outlive this worker: a new owner continues what is
still true and resolves what is not once it has judged a full window. The realised monitor's
alerts are sent directly, as before.

Windows live in memory, like the drift monitor's: after a restart they refill from new records
(documented in the README's known limits).
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from collections.abc import Iterable
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.outcomes import Task
from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.streams.alert_handover import AlertHandover
from driftline.streams.alert_ledger import MonitorLedger
from driftline.streams.alerts import alert_cloudevent, alert_data
from driftline.streams.connection import client_options
from driftline.streams.estimates import EstimateBook
from driftline.streams.metrics import (
    forget_performance,
    record_estimates,
    record_performance,
    record_segments,
)
from driftline.streams.polled_agent import Poll, PolledAgent
from driftline.streams.prediction_outbox import KIND, decode_predictions
from driftline.streams.segment_book import SegmentBook, fairness_settings
from driftline.streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)

#: Higher is better for these; for the rest (errors and losses) a floor is a ceiling.
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "macro_f1", "roc_auc"})
METRICS = HIGHER_IS_BETTER | {"log_loss", "brier", "mae", "rmse"}


def performance_settings(settings: Settings) -> PerformanceSettings:
    """The performance monitors' configuration; fails on a floor that names no metric."""
    floors: dict[str, float] = {}
    for item in settings.perf_floors:
        name, _, value = item.partition("=")
        try:
            floors[name.strip()] = float(value)
        except ValueError:
            raise SettingsError(f"perf_floors: {item!r} is not metric=number",
                                setting="perf_floors") from None
        if name.strip() not in METRICS:
            raise SettingsError(f"perf_floors: unknown metric {name.strip()!r}; known: {sorted(METRICS)}",
                                setting="perf_floors")
    return PerformanceSettings(window_size=settings.perf_window_size,
                               evaluate_every=settings.perf_evaluate_every, floors=floors,
                               target_arl=settings.perf_target_arl, raise_after=settings.drift_raise_after,
                               resolve_after=settings.drift_resolve_after,
                               cooldown=settings.drift_cooldown_events)


class PerformanceBook:
    """One `PerformanceMonitor` per model, version and variant, built on the first outcome."""

    def __init__(self, settings: PerformanceSettings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.monitors: dict[tuple[str, int, str], PerformanceMonitor] = {}

    def feed(self, outcomes: dict[str, Any]) -> list[AlertEvent]:
        key = (str(outcomes["model"]), int(outcomes["version"]), str(outcomes["variant"]))
        monitor = self.monitors.get(key)
        if monitor is None:
            monitor = self.monitors[key] = self._build(*key, task=str(outcomes["task"]))
        return monitor.update(outcomes["y_true"], outcomes["y_pred"], outcomes.get("score"))

    def snapshots(self) -> list[dict[str, Any]]:
        return [monitor.snapshot() for monitor in self.monitors.values()]

    def forget(self, models: set[str]) -> list[tuple[str, int, str]]:
        """Drop the monitors of ``models`` (their outcomes now go to another worker's agent)."""
        gone = [key for key in self.monitors if key[0] in models]
        for key in gone:
            del self.monitors[key]
        return gone

    def _build(self, model: str, version: int, variant: str, *, task: str) -> PerformanceMonitor:
        kind = cast(Task, task) if task in ("binary", "multiclass", "regression") else "binary"
        log.info("judging the realised performance of %s v%d (%s), window %d labelled events", model,
                 version, variant, self.settings.window_size)
        prior = self._prior(model, version) if kind != "regression" else None
        try:
            return PerformanceMonitor(model, version, variant, kind, self.settings, label_prior=prior)
        except ValueError as exc:  # a prior counted before priors were per class index
            log.warning("label prior of %s v%d is unusable (%s): label drift is not judged", model, version,
                        exc)
            return PerformanceMonitor(model, version, variant, kind, self.settings)

    def _prior(self, model: str, version: int) -> dict[str, int] | None:
        try:
            reference = self.registry.reference(model, version)
        except ModelError as exc:
            log.warning("no label prior for %s v%d (%s): label drift is not judged", model, version, exc)
            return None
        return (reference or {}).get("labels") or None


def decode_outcomes(value: bytes | None) -> dict[str, Any] | None:
    try:
        outcomes = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return checked_outcomes(outcomes)


def checked_outcomes(outcomes: Any) -> dict[str, Any] | None:
    """A decoded outcomes record if it has what the monitors need, else None."""
    required = ("model", "version", "variant", "task", "y_true", "y_pred")
    ok = isinstance(outcomes, dict) and all(k in outcomes for k in required)
    return outcomes if ok and len(outcomes["y_true"]) == len(outcomes["y_pred"]) else None


class _ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """A model whose outcomes partition moves away is judged by its new owner: stop exporting it
    here, or Prometheus keeps this worker's last, frozen values (and a floor alert keeps firing)."""

    def __init__(self, agent: PerformanceAgent) -> None:
        self._agent = agent

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        lost = {tp.partition for tp in revoked}
        models = {model for model, partition in self._agent.partition_of.items() if partition in lost}
        agent = self._agent
        forget_performance([*agent.book.forget(models), *agent.estimates.forget(models),
                            *agent.segments.forget(models)])
        if agent.handover is not None:
            agent.handover.release(models)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Monitors of newly assigned models are built on their first outcomes."""


class PerformanceAgent(PolledAgent):
    """Follows the outcomes topic in the ``<group_id>-performance`` group until stopped."""

    def __init__(self, settings: Settings, ledger: MonitorLedger | None = None) -> None:
        super().__init__(settings)
        registry = Registry(settings.registry)
        self.book = PerformanceBook(performance_settings(settings), registry)
        self.estimates = EstimateBook(self.book.settings, registry)
        self.segments = SegmentBook(settings.perf_window_size, fairness_settings(settings), registry)
        #: Where estimate and fairness alerts go (None: straight to the alerts topic).
        self.ledger = ledger
        self.handover = None if ledger is None else AlertHandover(ledger)
        self.source = f"driftline/{settings.app_id}/performance"
        self._snapshot_at = time.monotonic()
        #: The outcomes partition each model's records came from (what a revocation takes away).
        self.partition_of: dict[str, int] = {}

    async def start(self) -> None:
        settings = self.settings
        client_id = f"{settings.app_id}-performance"
        await self._open(
            AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True,
                             client_id=client_id),
            AIOKafkaConsumer(
                **client_options(settings), group_id=f"{settings.group_id}-performance",
                client_id=client_id, enable_auto_commit=False, auto_offset_reset="earliest",
                isolation_level="read_committed", session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms),
            settings.topic_outcomes, _ForgetRevoked(self))

    async def _cycle(self, batches: Poll) -> None:
        """Judge one poll's outcomes, send what they raise and the due snapshots, then commit."""
        deliveries = []
        for record in (r for rs in batches.values() for r in rs):
            model = None if record.key is None else record.key.decode(errors="replace")
            if model is not None:
                self.partition_of[model] = record.partition
                await self._take_over(model)
            direct, ledgered = self._judge(record.value)
            deliveries += [await self.producer.send(self.settings.topic_alerts, value, key=key)
                           for key, value in direct]
            for event in ledgered:
                delivery = await self._publish(event)
                deliveries += [] if delivery is None else [delivery]
            if model is not None:
                await self._settle(model)
        if time.monotonic() - self._snapshot_at >= self.settings.metrics_snapshot_ms / 1000:
            self._snapshot_at = time.monotonic()
            deliveries += [await self.producer.send(self.settings.topic_metrics, value, key=key)
                           for key, value in self._snapshots()]
        await asyncio.gather(*deliveries)
        if batches:
            await self.commit()

    async def _publish(self, event: AlertEvent) -> asyncio.Future[Any] | None:
        """One estimate or fairness alert: through the ledger (sent and acknowledged there), or,
        without one, queued on the alerts topic (its delivery returned)."""
        if self.ledger is None:
            log.warning("alert %s: %s", event.type, event.summary)
            key, value = alert_cloudevent(event.type, alert_data(event), source=self.source)
            topic = self.settings.topic_alerts
            delivery: asyncio.Future[Any] = await self.producer.send(topic, value, key=key)
            return delivery
        await self._take_over(event.model)  # records are keyed by model: normally done already
        await self.ledger.publish(event.type, alert_data(event))  # logs what went out
        return None

    async def _take_over(self, model: str) -> None:
        if self.handover is not None:
            await self.handover.take(model)

    async def _settle(self, model: str) -> None:
        """Resolve what ``model``'s last owner left open and its monitors, having judged a full
        window, do not confirm."""
        if self.handover is not None:
            await self.handover.settle([*self.estimates.alert_streams(model),
                                        *self.segments.alert_streams(model)])

    def _judge(self, value: bytes | None) -> tuple[list[tuple[bytes, bytes]], list[AlertEvent]]:
        """Alert records of the realised monitor, and the alert events of the estimates and segments."""
        try:
            raw = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            raw = None
        if isinstance(raw, dict) and raw.get("kind") == KIND:
            return [], self._judge_predictions(raw)
        outcomes = checked_outcomes(raw)
        if outcomes is None:
            log.warning("skipping a malformed outcomes record")
            return [], []
        records = []
        for event in self.book.feed(outcomes):
            log.warning("alert %s: %s", event.type, event.summary)
            records.append(alert_cloudevent(event.type, alert_data(event), source=self.source))
        self.estimates.feed_outcomes(outcomes)
        try:
            ledgered = self.segments.feed_outcomes(outcomes)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("skipping the segments of an outcomes record of %s: %s", outcomes["model"], exc)
            ledgered = []
        return records, ledgered

    def _judge_predictions(self, raw: dict[str, Any]) -> list[AlertEvent]:
        try:
            batch = decode_predictions(raw)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("skipping a malformed predictions record: %s", exc)
            return []
        return self.estimates.feed_predictions(batch) + self.segments.feed_predictions(batch)

    def _snapshots(self) -> list[tuple[bytes, bytes]]:
        """Snapshots for the metrics topic (and /metrics): realised, estimated, per segment."""
        realised = self.book.snapshots()
        for snapshot in realised:
            record_performance(snapshot, self.book.settings.floors)
        by_key = {(str(s["model"]), int(s["version"]), str(s["variant"])): s.get("metrics") or {}
                  for s in realised}
        estimated = self.estimates.snapshots(by_key)
        for snapshot in estimated:
            record_estimates(snapshot)
        segments = self.segments.snapshots()
        for snapshot in segments:
            record_segments(snapshot)
        return [_snapshot_record(kind, snapshot)
                for kind, snapshots in (("performance", realised), ("estimated_performance", estimated),
                                        ("segments", segments))
                for snapshot in snapshots]


def _snapshot_record(kind: str, snapshot: dict[str, Any]) -> tuple[bytes, bytes]:
    return str(snapshot["model"]).encode(), orjson.dumps({"kind": kind, **snapshot},
                                                         option=orjson.OPT_SERIALIZE_NUMPY)
