"""Model updates: registry changes reach every running worker through Kafka.

``model-updates`` is a compacted topic keyed by model name. Every worker must see every update,
so this reader is not a consumer-group member (a Faust agent would split the partitions between
workers and only one of them would reload): it assigns itself all partitions and starts at their
end, since the registry, read at start-up, already holds the state before that point.

A ``promote`` or ``rollback`` record makes a worker that serves the model load the new champion
from the registry (verifying its sha256) and swap it in between two batches. Records it cannot
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

from models.errors import ModelError
from models.registry import Registry
from streams.metrics import MODEL_INFO, MODEL_UPDATE_FAILURES
from streams.scoring import BatchScorer
from streams.serving import load_served_model
from streams.settings import Settings

log = logging.getLogger(__name__)


def apply_update(update: Any, scorer: BatchScorer, registry: Registry, *, monitors: bool) -> str:
    """Apply one model-updates record; returns what was done, for the log and tests."""
    if not isinstance(update, dict) or not isinstance(update.get("model"), str):
        return "ignored: not a model update"
    name, action = update["model"], update.get("action")
    if name not in scorer.models:
        return f"ignored: {name} is not served here"
    if action not in ("promote", "rollback"):
        return f"ignored: {action!r} needs no reload"
    try:
        served = load_served_model(registry, name, monitors=monitors)
    except ModelError as exc:
        log.error("keeping %s v%d: cannot load the new champion: %s", name, scorer.models[name].version, exc)
        MODEL_UPDATE_FAILURES.inc()
        return f"kept: {exc}"
    retired = scorer.models[name]
    scorer.models[name] = served
    if retired.version != served.version:
        MODEL_INFO.remove(retired.name, str(retired.version), retired.model.card.sha256 or "")
    return f"now serving {name} v{served.version}"


class ModelUpdatesReader:
    """Follows the model-updates topic on every worker and applies what it reads."""

    def __init__(self, settings: Settings, scorer: BatchScorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.registry = Registry(settings.registry)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.broker, group_id=None,
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
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            try:
                update = orjson.loads(record.value or b"")
            except orjson.JSONDecodeError:
                log.warning("skipping a model update that is not JSON at offset %d", record.offset)
                MODEL_UPDATE_FAILURES.inc()
                continue
            try:
                outcome = apply_update(update, self.scorer, self.registry, monitors=self.settings.monitors)
            except Exception as exc:  # one bad update must not end the reader
                # A reader that died here would leave this worker on its old version while every
                # later promotion goes unheard; keep serving, say so, and keep listening.
                log.error("model update at offset %d failed, still serving what was served: %r",
                          record.offset, exc)
                MODEL_UPDATE_FAILURES.inc()
                continue
            log.info("model update %s: %s", update, outcome)


async def publish_update(settings: Settings, model: str, action: str, **details: Any) -> None:
    """Publish one model-updates record (keyed by model: the topic is compacted)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, acks="all", enable_idempotence=True,
                                request_timeout_ms=10_000)
    await producer.start()
    try:
        value = {"model": model, "action": action, "ts": int(time.time() * 1000), **details}
        await producer.send_and_wait(settings.topic_model_updates, orjson.dumps(value), key=model.encode())
    finally:
        await producer.stop()
