"""Model updates: registry changes reach every running worker through Kafka.

``model-updates`` is a compacted topic keyed by model name. Every worker must see every update,
so this reader is not a consumer-group member (a Faust agent would split the partitions between
workers and only one of them would reload): it assigns itself all partitions and starts at their
end, since the registry, read at start-up, already holds the state before that point.

A ``promote`` or ``rollback`` record makes a worker that serves the model load the new champion
from the registry (verifying its sha256) and swap it in between two batches. A worker that serves
every model with a champion (setting ``models`` empty) also starts serving a model it did not
serve before from its first ``promote``, loaded the same way. Records it cannot
use are logged and skipped: a bad control record must never stop scoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.streams.alerts import alert_cloudevent
from driftline.streams.connection import client_options, running
from driftline.streams.metrics import MODEL_UPDATE_FAILURES
from driftline.streams.scoring import BatchScorer, Rollout
from driftline.streams.serving import load_rollout, record_rollout
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)


#: How `apply_update` begins its answer when the worker could not load what it was told to serve.
KEPT = "kept"


#: Actions after which a worker reloads the model's stages (champion, canary, shadows).
STAGE_ACTIONS = frozenset({"promote", "rollback", "canary", "shadow"})


def apply_update(update: Any, scorer: BatchScorer, registry: Registry, *, monitors: bool,
                 serve_new: bool = False) -> str:
    """Apply one model-updates record; returns what was done, for the log and tests.

    ``serve_new``: the worker serves every model that has a champion (setting ``models`` empty), so
    a model it did not serve at start is loaded and served from its first promotion on, as a
    restart would have done.
    """
    if not isinstance(update, dict) or not isinstance(update.get("model"), str):
        return "ignored: not a model update"
    name, action = update["model"], update.get("action")
    if name not in scorer.models and not serve_new:
        return f"ignored: {name} is not served here (the setting models lists the served models)"
    if action not in STAGE_ACTIONS:
        return f"ignored: {action!r} needs no reload"
    before = scorer.models.get(name)
    current = {m.version: m for m in (before, *scorer.rollouts.get(name, Rollout()).models) if m is not None}
    try:
        served, rollout = load_rollout(registry, name, monitors=monitors, loaded=current)
    except ModelError as exc:
        if before is None:
            log.error("not serving %s: cannot load its champion: %s", name, exc)
        else:
            log.error("keeping %s v%d: cannot load the new champion: %s", name, before.version, exc)
        MODEL_UPDATE_FAILURES.inc()
        return f"{KEPT}: {exc}"
    scorer.models[name], scorer.rollouts[name] = served, rollout
    record_rollout(served, rollout)
    new = " (a model this worker did not serve before)" if before is None else ""
    return f"now serving {name} v{served.version}{new}" + _describe(rollout)


def _describe(rollout: Rollout) -> str:
    parts = []
    if rollout.canary is not None:
        parts.append(f"canary v{rollout.canary.version} on {rollout.canary_share:.1%}")
    if rollout.shadows:
        parts.append("shadows " + ", ".join(f"v{s.version}" for s in rollout.shadows))
    return f" ({'; '.join(parts)})" if parts else ""


class ModelUpdatesReader:
    """Follows the model-updates topic on every worker and applies what it reads."""

    def __init__(self, settings: Settings, scorer: BatchScorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.registry = Registry(settings.registry)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**client_options(self.settings), acks="all",
                                          enable_idempotence=True,
                                          client_id=f"{self.settings.app_id}-model-updates")
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None,
                                          enable_auto_commit=False,
                                          client_id=f"{self.settings.app_id}-model-updates")
        await self._consumer.start()
        await self._consumer.topics()  # loads cluster metadata, so every partition is assigned
        partitions = self._consumer.partitions_for_topic(self.settings.topic_model_updates) or {0}
        assigned = [TopicPartition(self.settings.topic_model_updates, p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        self._task = asyncio.create_task(self._follow(self._consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            try:
                update = orjson.loads(record.value or b"")
            except orjson.JSONDecodeError:
                log.warning("skipping a model update that is not JSON at offset %d", record.offset)
                MODEL_UPDATE_FAILURES.inc()
                continue
            try:
                outcome = apply_update(update, self.scorer, self.registry, monitors=self.settings.monitors,
                                       serve_new=not self.settings.models)
            except Exception as exc:  # one bad update must not end the reader
                # A reader that died here would leave this worker on its old version while every
                # later promotion goes unheard; keep serving, say so, and keep listening.
                log.error("model update at offset %d failed, still serving what was served: %r",
                          record.offset, exc)
                MODEL_UPDATE_FAILURES.inc()
                outcome = f"{KEPT}: {exc!r}"
            log.info("model update %s: %s", update, outcome)
            if outcome.startswith(KEPT):
                await self._alert(update, outcome.removeprefix(f"{KEPT}: "))

    async def _alert(self, update: dict[str, Any], reason: str) -> None:
        """Tell incident tooling: this worker was told to switch and could not (one alert per
        attempted version; every worker that failed raises it under the same dedup key)."""
        if self._producer is None:
            return
        name = str(update["model"])
        try:
            attempted: int | None = self.registry.champion(name)
        except ModelError:
            attempted = None
        served = self.scorer.models.get(name)
        serving = f"still serves v{served.version}" if served is not None else "does not serve it"
        key, value = alert_cloudevent("raised", {
            "severity": "critical", "kind": "errors", "model": name, "version": attempted, "variant": None,
            "detector": "model_updates", "feature": None, "statistic": None, "value": None,
            "threshold": None, "features": [], "window": None,
            "dedup_key": f"{name}:{attempted}:errors:model_updates",
            "summary": f"critical: a worker could not load {name} v{attempted} after "
                       f"{update.get('action')!r} and {serving}: {reason}",
            "runbook": "docs/RUNBOOK.md#mixed-fleet"},
            source=f"driftline/{self.settings.app_id}/model-updates")
        try:
            await self._producer.send_and_wait(self.settings.topic_alerts, value, key=key)
        except KafkaError as exc:  # the metric and the log still say it
            log.warning("could not publish the alert for the failed model update: %r", exc)


async def publish_update(settings: Settings, model: str, action: str, **details: Any) -> None:
    """Publish one model-updates record (keyed by model: the topic is compacted)."""
    value = {"model": model, "action": action, "ts": int(time.time() * 1000), **details}
    async with running(AIOKafkaProducer(**client_options(settings), acks="all",
                                        enable_idempotence=True)) as producer:
        await producer.send_and_wait(settings.topic_model_updates, orjson.dumps(value), key=model.encode())
