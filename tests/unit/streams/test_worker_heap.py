"""A worker's collector settings let a full batch come and go without a young-generation scan."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.streams.app import build_scorer
from driftline.streams.bench.batch_cost import batch_of
from driftline.streams.serving import load_served_models
from driftline.streams.settings import Settings
from driftline.streams.worker import YOUNG_COLLECTION_THRESHOLD, settle_heap


@pytest.fixture
def settled_heap() -> Iterator[list[int]]:
    """`settle_heap` for one test, with every collection's generation recorded; undone after."""
    threshold, collected = gc.get_threshold(), []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    settle_heap()
    gc.callbacks.append(record)
    try:
        yield collected
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*threshold)
        gc.unfreeze()


def test_a_full_batch_is_scored_without_a_collection(demo_registry: Path, settled_heap: list[int]) -> None:
    settings = Settings(registry=demo_registry, models=(DEMO_MODEL_NAME,), monitors=True, label_join=False)
    scorer = build_scorer(settings, load_served_models(settings))
    records = batch_of(settings.batch_max_records)
    scorer.score(records)  # first-call allocations (caches, buffers) are not the batch's
    gc.collect()
    settled_heap.clear()
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
    for _ in range(3):
        outcome = scorer.score(records)
        assert outcome.predictions == len(records)
    assert settled_heap == []
