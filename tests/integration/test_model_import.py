"""``driftline models import`` to a served, monitored model: a scikit-learn user's one command.

A pipeline with imputation, scaling and one-hot encoding (a ColumnTransformer by column name on a
DataFrame) is fit, dumped with joblib beside a CSV of its training rows, and imported through the
command line. A worker then serves it on a real broker: every prediction must carry ONNX Runtime's
own answer for the event's row (and be within 1e-4 of scikit-learn's), and its drift monitor must
have judged a window over every feature and the score.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pytest

from driftline.models.registry import Registry
from driftline.models.runtime import columns_from_rows
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
from tests.import_data import CATEGORICAL, NUMERIC, column_pipeline, customers
from tests.integration.support import TopicReader, WorkerProcess, drift_snapshots, isolated_settings, send_all

FEATURES = [*NUMERIC, *CATEGORICAL]
EVENTS = 400
WINDOW = 200


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return isolated_settings(kafka_bootstrap, topic_prefix, tmp_path / "registry", drift_window_size=WINDOW,
                             drift_sub_windows=2, metrics_snapshot_ms=500, topic_partitions=2)


def fit_and_dump(folder: Path) -> Any:
    """What the user has: a fitted pipeline in a joblib file and its training rows in a CSV."""
    from sklearn.linear_model import LogisticRegression

    training = customers(2_000, seed=3)
    pipeline = column_pipeline(LogisticRegression(max_iter=500)).fit(training[FEATURES], training["churned"])
    joblib.dump(pipeline, folder / "churn.joblib")
    training.to_csv(folder / "training.csv", index=False)
    return pipeline


def import_model(folder: Path, registry: Path) -> dict[str, Any]:
    done = subprocess.run([*DRIFTLINE, "models", "import", str(folder / "churn.joblib"), "--sample",
                           str(folder / "training.csv"), "--label", "churned", "--name", "churn", "--json",
                           "--registry", str(registry)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def event_rows() -> list[dict[str, Any]]:
    frame = customers(EVENTS, seed=11)[FEATURES]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


async def test_an_imported_pipeline_is_served_as_onnx_runtime_answers_and_monitored(
        settings: Settings, worker: WorkerProcess, tmp_path: Path) -> None:
    pipeline = fit_and_dump(tmp_path)
    report = import_model(tmp_path, settings.registry)
    assert (report["version"], report["champion"]) == (1, 1)
    assert [f["name"] for f in report["card"]["features"]] == FEATURES
    await ensure_topics(settings)
    worker.start()
    rows = event_rows()
    sent = await send_all(settings.broker, settings.topic_events, [
        (f"e{i}".encode(), orjson.dumps({"id": f"e{i}", "model": "churn", "features": row}))
        for i, row in enumerate(rows)])
    topics = (settings.topic_predictions, settings.topic_deadletter, settings.topic_metrics)

    def judged(reader: TopicReader) -> list[dict[str, Any]]:
        return [s for s in drift_snapshots(reader, settings.topic_metrics) if s["evaluations"]]

    async with TopicReader(settings.broker, topics) as out:
        await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= sent and judged(r) != [],
                             timeout=180, alive=worker.assert_alive)
        assert out.records[settings.topic_deadletter] == []
        predictions = {int(str(p["id"])[1:]): p for _, p in out.records[settings.topic_predictions]}
        snapshot = judged(out)[-1]

    served = Registry(settings.registry).load("churn")
    onnx = served.predict(columns_from_rows(served.card, rows)).probabilities
    frame = customers(EVENTS, seed=11)[FEATURES]
    sklearn = pipeline.predict_proba(frame)
    assert onnx is not None and len(predictions) == EVENTS
    scores = np.array([[predictions[i]["scores"][c] for c in ("0", "1")] for i in range(EVENTS)])
    assert np.allclose(scores, onnx, rtol=0, atol=1e-6)
    assert np.allclose(scores, sklearn, rtol=0, atol=1e-4)
    assert {p["version"] for p in predictions.values()} == {1}
    assert snapshot["model"] == "churn" and snapshot["window"]["events"] == WINDOW
    assert set(FEATURES) < set(snapshot["features"])
    assert any(name.startswith("__score__") for name in snapshot["features"])
