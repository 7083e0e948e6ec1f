"""Automatic rollback: a canary that `CanaryHealth` finds sick is taken back by the worker that saw it.

Every ``rollout_evaluate_ms`` the watch judges the canaries of the models this worker serves. A
verdict ends that canary in the registry (only if it is still the canary: several workers may
judge at once, the first one acts), publishes a ``rollback`` record on ``model-updates`` (every
worker drops the canary between two batches) and raises a ``rollout`` alert whose data carries
the evidence of both sides.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.models.stages import StageError, Stages
from driftline.streams.alerts import alert_cloudevent
from driftline.streams.rollout.health import CanaryHealth, VariantBatch, Verdict
from driftline.streams.scoring import BatchScorer
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)


class RolloutWatch:
    """Feeds batch health to `CanaryHealth` and acts on its verdicts."""

    def __init__(self, settings: Settings, scorer: BatchScorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.health = CanaryHealth(min_events=settings.rollout_min_events,
                                   error_margin=settings.rollout_error_margin,
                                   dead_letter_margin=settings.rollout_error_margin,
                                   latency_ratio=settings.rollout_latency_ratio)
        self._canaries: dict[str, int | None] = {}
        self._judged_at = time.monotonic()

    def observe(self, batch: dict[tuple[str, int, str], VariantBatch]) -> None:
        self._follow_stage_changes()
        self.health.observe(batch)

    def due(self) -> bool:
        return self.settings.rollout_auto and \
            time.monotonic() - self._judged_at >= self.settings.rollout_evaluate_ms / 1000

    async def act(self, producer: AIOKafkaProducer) -> None:
        """Judge now, and roll back every canary found sick."""
        self._judged_at = time.monotonic()
        for verdict in self.health.verdicts():
            await self._roll_back(verdict, producer)

    def _follow_stage_changes(self) -> None:
        """A new (or no) canary starts a fresh comparison: evidence of another canary does not carry."""
        for name in self.scorer.models:
            rollout = self.scorer.rollouts.get(name)
            canary = rollout.canary.version if rollout is not None and rollout.canary is not None else None
            if self._canaries.get(name, canary) != canary:
                self.health.forget(name)
            self._canaries[name] = canary

    async def _roll_back(self, verdict: Verdict, producer: AIOKafkaProducer) -> None:
        registry = Registry(self.settings.registry)
        try:
            _, after = registry.change_stages(verdict.model, lambda stages: _end(stages, verdict.version))
        except StageError:
            log.info("canary v%d of %s is no longer the canary: nothing to roll back", verdict.version,
                     verdict.model)
            self.health.forget(verdict.model)
            return
        except (ModelError, OSError) as exc:  # a read-only or damaged registry must not stop scoring
            log.error("%s: canary v%d should be rolled back (%s) but the registry refused: %s; roll it "
                      "back by hand", verdict.model, verdict.version, verdict.rule, exc)
            self.health.forget(verdict.model)
            return
        what = (f"canary v{verdict.version} rolled back automatically: its {verdict.rule} is worse than "
                "the champion's")
        log.warning("%s: %s (%s)", verdict.model, what, orjson.dumps(verdict.evidence).decode())
        update = {"model": verdict.model, "action": "rollback", "what": what, "automatic": True,
                  "evidence": verdict.evidence, "stages": after.to_dict(), "ts": int(time.time() * 1000)}
        await producer.send_and_wait(self.settings.topic_model_updates, orjson.dumps(update),
                                     key=verdict.model.encode())
        key, value = alert_cloudevent("raised", _alert_data(verdict, what),
                                      source=f"driftline/{self.settings.app_id}/rollout")
        await producer.send_and_wait(self.settings.topic_alerts, value, key=key)
        self.health.forget(verdict.model)


def _end(stages: Stages, version: int) -> Stages:
    if stages.canary != version:
        raise StageError(f"v{version} is not the canary")
    return stages.without_canary()


def _alert_data(verdict: Verdict, what: str) -> dict[str, Any]:
    canary = verdict.evidence["canary"]
    return {"severity": "warning", "kind": "rollout", "model": verdict.model, "version": verdict.version,
            "variant": "canary", "detector": "auto_rollback", "feature": None, "statistic": verdict.rule,
            "value": canary.get("error_share"), "threshold": None, "features": [], "window": None,
            "evidence": verdict.evidence,
            "dedup_key": f"{verdict.model}:{verdict.version}:rollout:auto_rollback",
            "summary": f"warning: {verdict.model} {what}", "runbook": "docs/RUNBOOK.md#rollout"}
