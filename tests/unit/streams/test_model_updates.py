from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.streams.metrics import MODEL_INFO, MODEL_UPDATE_FAILURES
from driftline.streams.model_updates import ModelUpdatesReader, apply_update
from driftline.streams.scoring import BatchScorer
from driftline.streams.serving import load_served_model
from driftline.streams.settings import Settings


@pytest.fixture
def registry(demo_registry: Path, tmp_path: Path) -> Registry:
    """The demo registry with a second version (same artifact and reference) not yet champion."""
    root = tmp_path / "registry"
    shutil.copytree(demo_registry, root)
    registry = Registry(root)
    v1 = root / DEMO_MODEL_NAME / "1"
    reference = registry.reference(DEMO_MODEL_NAME, 1)
    registry.register(v1 / "model.onnx", registry.card(DEMO_MODEL_NAME, 1), reference=reference, stage=None)
    return registry


def scorer_for(registry: Registry) -> BatchScorer:
    served = load_served_model(registry, DEMO_MODEL_NAME, monitors=True)
    return BatchScorer({DEMO_MODEL_NAME: served}, default_model=None, predictions_topic="p",
                       deadletter_topic="d", max_event_bytes=1000, deadletter_payload_max_bytes=100)


def test_a_promotion_swaps_in_the_new_champion_with_its_drift_binner(registry: Registry) -> None:
    scorer = scorer_for(registry)
    assert scorer.models[DEMO_MODEL_NAME].version == 1
    registry.promote(DEMO_MODEL_NAME, 2)
    outcome = apply_update({"model": DEMO_MODEL_NAME, "action": "promote", "version": 2}, scorer, registry,
                           monitors=True)
    assert outcome == f"now serving {DEMO_MODEL_NAME} v2"
    assert scorer.models[DEMO_MODEL_NAME].version == 2 and scorer.models[DEMO_MODEL_NAME].binner is not None
    served = {s.labels["version"] for m in MODEL_INFO.collect() for s in m.samples
              if s.labels["model"] == DEMO_MODEL_NAME}
    assert served == {"2"}


def test_a_tampered_new_champion_is_refused_and_the_old_one_kept(registry: Registry) -> None:
    scorer = scorer_for(registry)
    registry.promote(DEMO_MODEL_NAME, 2)
    artifact = registry.root / DEMO_MODEL_NAME / "2" / "model.onnx"
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    outcome = apply_update({"model": DEMO_MODEL_NAME, "action": "promote"}, scorer, registry, monitors=True)
    assert outcome.startswith("kept:") and "sha256" in outcome
    assert scorer.models[DEMO_MODEL_NAME].version == 1


@pytest.mark.parametrize("update", [
    None, "promote", {"action": "promote"}, {"model": "other", "action": "promote"},
    {"model": DEMO_MODEL_NAME, "action": "register"},
])
def test_updates_that_need_no_reload_are_ignored(registry: Registry, update: object) -> None:
    scorer = scorer_for(registry)
    assert apply_update(update, scorer, registry, monitors=True).startswith("ignored")
    assert scorer.models[DEMO_MODEL_NAME].version == 1


async def test_the_reader_survives_a_version_it_cannot_load_and_applies_the_next(registry: Registry) -> None:
    """A promoted version whose reference profile is unreadable used to kill the reader silently,
    so the worker never heard of any later promotion."""
    scorer = scorer_for(registry)
    registry.promote(DEMO_MODEL_NAME, 2)
    broken = registry.root / DEMO_MODEL_NAME / "2" / "reference.json"
    saved = broken.read_bytes()
    broken.write_text('{"format": "from the future"}')

    class Record:
        def __init__(self, offset: int) -> None:
            self.offset, self.value = offset, orjson.dumps({"model": DEMO_MODEL_NAME, "action": "promote"})

    async def updates() -> AsyncIterator[Record]:
        yield Record(0)  # fails: the profile cannot be read
        broken.write_bytes(saved)
        yield Record(1)  # the same promotion again, now loadable

    reader = ModelUpdatesReader(Settings(registry=registry.root), scorer)
    failures = MODEL_UPDATE_FAILURES._value.get()
    await reader._follow(updates())  # type: ignore[arg-type]
    assert MODEL_UPDATE_FAILURES._value.get() == failures + 1
    assert scorer.models[DEMO_MODEL_NAME].version == 2


def test_a_worker_serving_every_model_serves_a_newly_promoted_one(registry: Registry) -> None:
    """A model registered after the worker started is served from its promotion on, as a restart
    would serve it, when the worker serves every model (setting ``models`` empty)."""
    scorer = scorer_for(registry)
    v1 = registry.root / DEMO_MODEL_NAME / "1"
    registry.register(v1 / "model.onnx", replace(registry.card(DEMO_MODEL_NAME, 1), name="iris"),
                      reference=registry.reference(DEMO_MODEL_NAME, 1))
    update = {"model": "iris", "action": "promote", "version": 1}
    assert apply_update(update, scorer, registry, monitors=True).startswith("ignored: iris is not served")
    outcome = apply_update(update, scorer, registry, monitors=True, serve_new=True)
    assert outcome == "now serving iris v1 (a model this worker did not serve before)"
    assert scorer.models["iris"].version == 1 and scorer.models["iris"].binner is not None
    assert scorer.models[DEMO_MODEL_NAME].version == 1


def test_a_new_model_that_cannot_be_loaded_is_not_served(registry: Registry) -> None:
    scorer = scorer_for(registry)
    outcome = apply_update({"model": "absent", "action": "promote"}, scorer, registry, monitors=True,
                           serve_new=True)
    assert outcome.startswith("kept:") and "absent" in outcome
    assert set(scorer.models) == {DEMO_MODEL_NAME}
