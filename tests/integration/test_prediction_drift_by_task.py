"""Prediction drift and realised performance by task, on a real broker: a multi-class classifier
(iris-like, per-class prediction rows) and a regressor (its value), both scikit-learn pipelines
exported with skl2onnx, one input per feature, ZipMap off.

Each model is registered with a reference profile of its training rows and their labels, served by
one worker; events follow the training distribution and then one where most flowers are virginica.
The monitor must raise ``prediction_drift`` on the multi-class model's per-class rows and on the
regressor's value, and the labels sent for every event (class names and indices; numbers) must be
joined, not dead-lettered, into performance snapshots with the task's metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.models.card import ModelCard
from driftline.models.registry import Registry
from driftline.streams.registration import register_with_reference
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings, send_all

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASSES = ("setosa", "versicolor", "virginica")
TRAINING, STEADY, SHIFTED = 3000, 1000, 1500
WINDOW = 200


def flowers(n: int, prior: tuple[float, ...], seed: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Iris-like rows: a class from ``prior``, then each feature normal around iris's class means."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(seed)
    classes = rng.choice(3, size=n, p=prior)
    means = np.array([x[y == c].mean(axis=0) for c in range(3)])
    sds = np.array([x[y == c].std(axis=0) for c in range(3)])
    values = rng.normal(means[classes], sds[classes])
    return [dict(zip(FEATURES, map(float, row), strict=True)) for row in values], classes


def export(folder: Path, name: str, estimator: Any, target: np.ndarray, rows: list[dict[str, Any]]) -> Path:
    """A scaling pipeline around ``estimator``, one float input per feature, ZipMap off."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    design = np.array([[row[f] for f in FEATURES] for row in rows])
    pipeline = Pipeline([("scale", ColumnTransformer([("numeric", StandardScaler(), [0, 1, 2, 3])])),
                         ("model", estimator)]).fit(design, target)
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    inputs = [(f, FloatTensorType([None, 1])) for f in FEATURES]
    graph = convert_sklearn(pipeline, name=name, initial_types=inputs, options=options, target_opset=17)
    artifact = folder / f"{name}.onnx"
    artifact.write_bytes(graph.SerializeToString())
    return artifact


def card(name: str, output: dict[str, Any]) -> ModelCard:
    return ModelCard.from_dict({"name": name, "output": output,
                                "features": [{"name": f, "type": "numeric"} for f in FEATURES]})


def register_models(registry: Path, folder: Path) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rows, classes = flowers(TRAINING, (1 / 3, 1 / 3, 1 / 3), seed=1)
    names = np.array(CLASSES, dtype=object)[classes]
    iris = export(folder, "iris", LogisticRegression(max_iter=1000), names, rows)
    iris_card = card("iris", {"task": "multiclass", "label_output": "label", "score_output": "probabilities",
                              "classes": list(CLASSES)})
    register_with_reference(Registry(registry), iris, iris_card, rows, names.tolist())
    area = np.array([petal_area(row) for row in rows])
    petals = export(folder, "petals", LinearRegression(), area, rows)
    register_with_reference(Registry(registry), petals, card("petals", {"task": "regression",
                                                                        "value_output": "variable"}),
                            rows, area.tolist())


def petal_area(row: dict[str, Any]) -> float:
    """The regressor's target: not linear in the features, so its errors are real."""
    return float(row["petal_length"] * row["petal_width"])


def events_and_labels(rows: list[dict[str, Any]], classes: np.ndarray,
                      start: int) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """Both models' events, and a label for each: class names or indices, and petal areas."""
    events, labels = [], []
    for i, (row, cls) in enumerate(zip(rows, classes.tolist(), strict=True), start=start):
        for model, truth in (("iris", CLASSES[cls] if i % 2 else cls), ("petals", petal_area(row))):
            event_id = f"{model}-{i}"
            event = {"id": event_id, "model": model, "features": row}
            events.append((event_id.encode(), orjson.dumps(event)))
            labels.append((event_id.encode(), orjson.dumps({"id": event_id, "label": truth})))
    return events, labels


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, tmp_path / "registry", drift_window_size=WINDOW,
                             drift_sub_windows=2, metrics_snapshot_ms=500,
                             perf_window_size=WINDOW, perf_evaluate_every=100, topic_partitions=2)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


def raised(reader: TopicReader, settings: Settings, model: str) -> set[str]:
    """Rows named by ``model``'s raised prediction-drift alerts."""
    found = set()
    for _, envelope in reader.records[settings.topic_alerts]:
        data: Any = envelope["data"]
        if data["model"] == model and data["kind"] == "prediction_drift" and data["status"] == "raised":
            found |= {finding["feature"] for finding in data["features"]}
    return found


def performance(reader: TopicReader, settings: Settings, model: str) -> dict[str, Any] | None:
    """``model``'s last performance snapshot over a full window."""
    snapshots = [v for _, v in reader.records[settings.topic_metrics]
                 if v.get("kind") == "performance" and v["model"] == model and v["window"] == WINDOW]
    return snapshots[-1] if snapshots else None


async def test_prediction_drift_and_performance_are_judged_per_task(settings: Settings, worker: WorkerProcess,
                                                                    tmp_path: Path) -> None:
    register_models(settings.registry, tmp_path)
    await ensure_topics(settings)
    worker.start()
    steady_rows, steady_classes = flowers(STEADY, (1 / 3, 1 / 3, 1 / 3), seed=2)
    shifted_rows, shifted_classes = flowers(SHIFTED, (0.05, 0.15, 0.8), seed=3)
    steady, steady_labels = events_and_labels(steady_rows, steady_classes, 0)
    shifted, shifted_labels = events_and_labels(shifted_rows, shifted_classes, STEADY)
    topics = (settings.topic_alerts, settings.topic_metrics, settings.topic_deadletter,
              settings.topic_predictions)
    async with TopicReader(settings.broker, topics) as out:
        await send_all(settings.broker, settings.topic_events, steady)
        await send_all(settings.broker, settings.topic_labels, steady_labels)
        await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= len(steady), timeout=180,
                             alive=worker.assert_alive)
        before = {model: raised(out, settings, model) for model in ("iris", "petals")}
        await send_all(settings.broker, settings.topic_events, shifted)
        await send_all(settings.broker, settings.topic_labels, shifted_labels)
        await out.read_until(lambda r: all(raised(r, settings, m) and performance(r, settings, m)
                                           for m in ("iris", "petals")),
                             timeout=180, alive=worker.assert_alive)
        assert before == {"iris": set(), "petals": set()}, "prediction drift before the shift"
        assert raised(out, settings, "iris") <= {f"__score__[{c}]" for c in CLASSES}
        assert raised(out, settings, "petals") == {"__score__"}
        assert [v for _, v in out.records[settings.topic_deadletter]] == []
        iris, petals = performance(out, settings, "iris"), performance(out, settings, "petals")
        assert iris is not None and petals is not None
        assert iris["task"] == "multiclass" and iris["metrics"]["accuracy"] > 0.8
        assert iris["metrics"]["macro_f1"] > 0.7 and iris["labels"]["checked"]
        assert petals["task"] == "regression" and 0 < petals["metrics"]["mae"] <= petals["metrics"]["rmse"]
        assert not petals["labels"]["checked"]
    snapshot = next(v for _, v in reversed(out.records[settings.topic_metrics])
                    if v.get("kind") == "drift" and v.get("model") == "iris")
    assert {f"__score__[{c}]" for c in CLASSES} <= set(snapshot["features"])
