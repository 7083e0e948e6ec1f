"""The model-updates agent: registry changes reach running workers through Kafka.

``model-updates`` is a compacted topic keyed by model name; a ``promote`` record makes every
worker that serves the model load the new champion from the registry (verifying its sha256) and
swap it in between two batches. Records it cannot use are logged and skipped: a bad control
record must never stop scoring.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from models.errors import ModelError
from models.registry import Registry
from streams.scoring import BatchScorer, ServedModel
from streams.settings import Settings

log = logging.getLogger(__name__)


def apply_update(update: Any, scorer: BatchScorer, registry: Registry) -> str:
    """Apply one model-updates record; returns what was done, for the log and tests."""
    if not isinstance(update, dict) or not isinstance(update.get("model"), str):
        return "ignored: not a model update"
    name, action = update["model"], update.get("action")
    if name not in scorer.models:
        return f"ignored: {name} is not served here"
    if action not in ("promote", "rollback"):
        return f"ignored: {action!r} needs no reload"
    try:
        served = ServedModel.of(registry.load(name))
    except ModelError as exc:
        log.error("keeping %s v%d: cannot load the new champion: %s", name, scorer.models[name].version, exc)
        return f"kept: {exc}"
    scorer.models[name] = served
    return f"now serving {name} v{served.version}"


def register_model_updates_agent(app: faust.App, settings: Settings, scorer: BatchScorer) -> None:
    topic = app.topic(settings.topic_model_updates, value_serializer="json")
    registry = Registry(settings.registry)

    async def model_updates(stream: Any) -> None:
        async for update in stream:
            log.info("model update %s: %s", update, apply_update(update, scorer, registry))

    app.agent(topic, name=f"{settings.app_id}.model_updates")(model_updates)
