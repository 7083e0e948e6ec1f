"""Bring your own model: ordinary scikit-learn exports registered through the CLI and served on a real broker.

Logistic regression, random forest and gradient boosting (binary and multi-class, exported as one
float tensor ``X``), a pipeline with imputation, scaling and one-hot encoding (binary and multi-class,
one input per feature), a linear regressor (tensor) and a tree regressor (per feature) are each
registered with ``driftline models register --reference``, served by one worker, and every
prediction is compared with ONNX Runtime's own run on the same rows; each model's drift monitor
must have judged at least one window.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.models.registry import Registry
from driftline.models.runtime import Prediction, columns_from_rows
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
from tests.integration.support import TopicReader, WorkerProcess, drift_snapshots, isolated_settings, send_all
from tests.model_zoo import ZooModel, build_zoo, sample

EVENTS_PER_MODEL = 300
WINDOW = 200


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> list[ZooModel]:
    return build_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, tmp_path / "registry", drift_window_size=WINDOW,
                             drift_sub_windows=2, metrics_snapshot_ms=500, topic_partitions=2)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


def register(model: ZooModel, registry: Path, folder: Path) -> None:
    """``driftline models register`` with the card a user writes and the training rows as reference."""
    card, reference = folder / f"{model.name}.card.json", folder / f"{model.name}.reference.jsonl"
    card.write_bytes(orjson.dumps(model.card))
    reference.write_bytes(b"\n".join(orjson.dumps({"features": row, "label": label})
                                     for row, label in zip(model.rows, model.labels, strict=True)))
    done = subprocess.run([*DRIFTLINE, "models", "register", str(model.artifact), "--name", model.name,
                           "--card", str(card), "--reference", str(reference), "--registry", str(registry)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{model.name}: {done.stderr}"


def events(zoo: list[ZooModel]) -> list[tuple[bytes, bytes]]:
    rows, _ = sample(EVENTS_PER_MODEL, seed=11)
    return [(f"{model.name}-{i}".encode(), orjson.dumps({"id": f"{model.name}-{i}", "model": model.name,
                                                         "features": row}))
            for model in zoo for i, row in enumerate(rows)]


def expected_answers(registry: Registry, model: ZooModel) -> tuple[Prediction, list[str]]:
    """ONNX Runtime's own run of the registered artifact on the events' rows, and the class names."""
    served = registry.load(model.name)
    rows, _ = sample(EVENTS_PER_MODEL, seed=11)
    prediction = served.predict(columns_from_rows(served.card, rows))
    classes = list(served.card.output.classes)
    return prediction, classes


def check_answers(model: ZooModel, records: dict[int, dict[str, Any]], expected: Prediction,
                  classes: list[str]) -> None:
    task = model.card["output"]["task"]
    for i, record in records.items():
        assert record["variant"] == "champion" and record["version"] == 1
        if task == "regression":
            assert expected.values is not None
            assert "label" not in record and "scores" not in record
            assert math.isclose(record["value"], expected.values[i], rel_tol=1e-6, abs_tol=1e-6)
            continue
        assert expected.probabilities is not None and expected.labels is not None
        assert list(record["scores"]) == classes
        assert np.allclose(list(record["scores"].values()), expected.probabilities[i], rtol=0, atol=1e-6)
        assert str(record["label"]) == str(expected.labels[i])
        if task == "binary":
            assert record["score"] == record["scores"][classes[1]]
        else:
            assert "score" not in record


async def test_every_common_export_is_registered_served_and_monitored(
        zoo: list[ZooModel], settings: Settings, worker: WorkerProcess, tmp_path: Path) -> None:
    for model in zoo:
        register(model, settings.registry, tmp_path)
    await ensure_topics(settings)
    worker.start()
    sent = await send_all(settings.broker, settings.topic_events, events(zoo))
    topics = (settings.topic_predictions, settings.topic_deadletter, settings.topic_metrics)

    def judged(reader: TopicReader) -> set[str]:
        return {str(s["model"]) for s in drift_snapshots(reader, settings.topic_metrics) if s["evaluations"]}

    async with TopicReader(settings.broker, topics) as out:
        await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= sent
                             and judged(r) == {m.name for m in zoo}, timeout=240, alive=worker.assert_alive)
        assert out.records[settings.topic_deadletter] == []
        predictions = [value for _, value in out.records[settings.topic_predictions]]
        snapshots = [s for s in drift_snapshots(out, settings.topic_metrics) if s["evaluations"]]

    registry = Registry(settings.registry)
    for model in zoo:
        mine = {int(str(p["id"]).rsplit("-", 1)[1]): p for p in predictions if p["model"] == model.name}
        assert len(mine) == EVENTS_PER_MODEL, model.name
        expected, classes = expected_answers(registry, model)
        check_answers(model, mine, expected, classes)
        # The registered artifact answers like scikit-learn on its training rows (float32 in the graph).
        served = registry.load(model.name).predict(columns_from_rows(registry.card(model.name), model.rows))
        ours = served.values if served.values is not None else served.probabilities
        assert np.allclose(ours, model.expected, rtol=1e-4, atol=1e-4), model.name
        # Drift is monitored: a judged window over every feature and the prediction.
        snapshot = next(s for s in reversed(snapshots) if s["model"] == model.name)
        assert snapshot["window"]["events"] == WINDOW
        rows = set(snapshot["features"])
        assert {f["name"] for f in model.card["features"]} < rows
        assert any(row.startswith("__score__") for row in rows), rows
