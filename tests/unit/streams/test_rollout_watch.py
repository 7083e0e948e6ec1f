"""The worker's side of an automatic rollback: the registry changes only if the version is still the
canary, the fleet is told once, and a registry that refuses never stops scoring. A stand-in
producer records what would be sent; ``tests/integration/test_auto_rollback.py`` does it for real."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.streams.rollout.auto import RolloutWatch
from driftline.streams.rollout.health import VariantBatch
from driftline.streams.scoring import BatchScorer
from driftline.streams.settings import Settings


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, orjson.loads(value)))


@pytest.fixture
def registry(demo_registry: Path, tmp_path: Path) -> Registry:
    root = tmp_path / "registry"
    shutil.copytree(demo_registry, root)
    registry = Registry(root)
    v1 = root / DEMO_MODEL_NAME / "1"
    registry.register(v1 / "model.onnx", registry.card(DEMO_MODEL_NAME, 1), stage=None)
    registry.change_stages(DEMO_MODEL_NAME, lambda s: s.with_canary(2, 0.2))
    return registry


def sick_watch(registry: Registry) -> RolloutWatch:
    settings = dataclasses.replace(Settings(), registry=registry.root, rollout_min_events=10)
    scorer = cast(BatchScorer, type("Scorer", (), {"models": {}, "rollouts": {}})())
    watch = RolloutWatch(settings, scorer)
    watch.observe({(DEMO_MODEL_NAME, 1, "champion"): VariantBatch(events=80),
                   (DEMO_MODEL_NAME, 2, "canary"): VariantBatch(events=20, failed=20)})
    return watch


async def test_a_sick_canary_is_ended_once_with_a_record_and_an_alert(registry: Registry) -> None:
    producer = RecordingProducer()
    await sick_watch(registry).act(cast(Any, producer))
    assert registry.stage_record(DEMO_MODEL_NAME).canary is None
    (updates, update), (alerts, alert) = producer.sent
    assert (updates, update["action"], update["automatic"]) == ("model-updates", "rollback", True)
    assert alerts == "alerts" and alert["data"]["kind"] == "rollout"
    assert alert["data"]["evidence"]["canary"]["error_share"] == 1.0

    again = RecordingProducer()  # another worker judging the same canary a moment later
    await sick_watch(registry).act(cast(Any, again))
    assert again.sent == []


async def test_a_registry_that_refuses_is_logged_not_raised(registry: Registry,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    stages = registry.root / DEMO_MODEL_NAME / "stages.json"
    stages.write_text("{not json")
    producer = RecordingProducer()
    await sick_watch(registry).act(cast(Any, producer))
    assert producer.sent == [] and "roll it back by hand" in caplog.text
