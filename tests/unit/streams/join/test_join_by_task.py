"""Multi-class and regression predictions through the join and on to the performance monitors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings
from driftline.streams.join.core import JoinCore, JoinTopics, LabelOrigin, held_entry, task_of
from driftline.streams.join.labels import Label, decode_label
from driftline.streams.join.store import JoinStore
from driftline.streams.performance_agent import PerformanceBook, decode_outcomes

TTL = 1000
TOPICS = JoinTopics("changelog", "training", "dead", "outcomes")
CLASSES = ("setosa", "versicolor", "virginica")
SETTINGS = PerformanceSettings(window_size=100, evaluate_every=50, target_arl=1e4)


@pytest.fixture
def core(tmp_path: Path) -> JoinCore:
    store = JoinStore(tmp_path / "join")
    store.open_partition(0)
    # The card lookup answers a binary model's classes: multi-class and regression records must not need it.
    return JoinCore(store, TOPICS, ttl_ms=TTL, payload_max_bytes=1000, classes=lambda model: ("no", "yes"),
                    clock_ms=lambda: 10_000.0)


def multiclass_prediction(event_id: str, label: Any, probabilities: tuple[float, ...]) -> bytes:
    return orjson.dumps({"id": event_id, "ts": 10_000, "model": "iris", "version": 1, "variant": "champion",
                         "label": label, "scores": dict(zip(CLASSES, probabilities, strict=True))})


def regression_prediction(event_id: str, value: float) -> bytes:
    return orjson.dumps({"id": event_id, "ts": 10_000, "model": "price", "version": 4, "variant": "champion",
                         "value": value})


def send_label(core: JoinCore, event_id: str, value: object) -> None:
    raw = orjson.dumps({"id": event_id, "label": value})
    decoded = decode_label(raw, max_bytes=1000)
    assert isinstance(decoded, Label)
    core.label(0, event_id.encode(), held_entry(decoded, LabelOrigin("labels", 0, 0, 10_000, None, raw), TTL))


def outcomes_of(core: JoinCore) -> list[dict[str, Any]]:
    records = [decode_outcomes(o.value) for o in core.drain_outcomes()]
    assert all(r is not None for r in records)
    return [r for r in records if r is not None]


class Priors:
    """A registry that knows only reference profiles' label priors (what the performance book reads)."""

    def __init__(self, labels: dict[str, int]) -> None:
        self.labels = labels

    def reference(self, name: str, version: int | None = None) -> dict[str, Any]:
        return {"labels": self.labels}


def test_the_task_is_read_off_the_prediction_record() -> None:
    assert task_of({"value": 3.0}) == "regression"
    assert task_of({"label": 1, "score": 0.8, "scores": {"0": 0.2, "1": 0.8}}) == "binary"
    assert task_of({"label": 1, "score": 0.8}) == "binary"  # a record from before scores by class
    assert task_of({"label": "setosa", "scores": {"setosa": 0.9}}) == "multiclass"


def test_multiclass_labels_join_by_name_or_index(core: JoinCore) -> None:
    cases = [("a", "setosa", "setosa", 0), ("b", 1, "virginica", 1), ("c", "2", "virginica", 2),
             ("d", 2.0, 0, 2)]  # the graph's label as an index, or as a class name
    for event_id, truth, predicted, _ in cases:
        record = multiclass_prediction(event_id, predicted, (0.2, 0.3, 0.5))
        core.prediction(0, event_id.encode(), record, 10_000)
        send_label(core, event_id, truth)
    examples = [orjson.loads(o.value) for o in core.drain() if o.topic == "training"]
    assert [e["label"] for e in examples] == [expected for *_, expected in cases]
    scores = dict(zip(CLASSES, (0.2, 0.3, 0.5), strict=True))
    assert examples[0]["prediction"] == {"label": "setosa", "scores": scores}
    (outcomes,) = outcomes_of(core)
    assert outcomes["task"] == "multiclass" and outcomes["score"] is None
    assert outcomes["y_true"] == [0, 1, 2, 2] and outcomes["y_pred"] == [0, 2, 2, 0]


def test_a_label_that_names_no_class_is_dead_lettered_and_the_prediction_waits(core: JoinCore) -> None:
    core.prediction(0, b"e", multiclass_prediction("e", "setosa", (0.8, 0.1, 0.1)), 10_000)
    for wrong in ("daisy", 3, True):
        send_label(core, "e", wrong)
    dead = [orjson.loads(o.value) for o in core.drain() if o.topic == "dead"]
    assert [d["error"]["code"] for d in dead] == ["invalid_label"] * 3
    assert "one of ['setosa', 'versicolor', 'virginica'] or its index 0-2" in dead[0]["error"]["message"]
    send_label(core, "e", "versicolor")
    assert [o.topic for o in core.drain()] == ["training"]


def test_multiclass_outcomes_give_accuracy_macro_f1_and_label_drift() -> None:
    rng = np.random.default_rng(5)
    book = PerformanceBook(SETTINGS, Priors({"0": 500, "1": 300, "2": 200}))  # type: ignore[arg-type]
    truth = rng.choice(3, size=300, p=[0.5, 0.3, 0.2])
    shifted = rng.choice(3, size=300, p=[0.1, 0.3, 0.6])  # far more virginica than in training
    events = []
    for y in (truth, shifted):
        predicted = np.where(rng.random(300) < 0.8, y, (y + 1) % 3)
        events += book.feed({"model": "iris", "version": 1, "variant": "champion", "task": "multiclass",
                             "y_true": y.tolist(), "y_pred": predicted.tolist(), "score": None})
    (snapshot,) = book.snapshots()
    assert snapshot["task"] == "multiclass" and set(snapshot["metrics"]) == {"accuracy", "macro_f1"}
    assert 0.7 < snapshot["metrics"]["accuracy"] < 0.9 and 0.6 < snapshot["metrics"]["macro_f1"] < 0.9
    drift = [e for e in events if e.kind == "label_drift" and e.type == "raised"]
    assert len(drift) == 1 and drift[0].window.end > 300
    assert drift[0].findings[0].bins == ("0", "1", "2") and "class 2 share" in drift[0].summary
    assert snapshot["labels"]["checked"] and set(snapshot["labels"]["prior"]) == {"0", "1", "2"}


def test_a_multiclass_prior_from_before_priors_were_by_index_is_skipped_not_a_crash() -> None:
    book = PerformanceBook(SETTINGS, Priors({"setosa": 50, "versicolor": 50}))  # type: ignore[arg-type]
    book.feed({"model": "iris", "version": 1, "variant": "champion", "task": "multiclass", "y_true": [0, 1],
               "y_pred": [0, 2], "score": None})
    (snapshot,) = book.snapshots()
    assert snapshot["labels"] == {"checked": False, "reason": "no label prior"}


def test_regression_predictions_join_and_give_mae_and_rmse(core: JoinCore) -> None:
    for i, (value, truth) in enumerate([(10.0, 12.0), (20.0, 19.0), (5.0, "5")]):
        core.prediction(0, f"r{i}".encode(), regression_prediction(f"r{i}", value), 10_000)
        send_label(core, f"r{i}", truth)
    dead = [orjson.loads(o.value) for o in core.drain() if o.topic == "dead"]
    assert [d["error"]["code"] for d in dead] == ["invalid_label"]  # "5" is text, not a number
    (outcomes,) = outcomes_of(core)
    assert outcomes["task"] == "regression" and outcomes["y_true"] == [12.0, 19.0]
    book = PerformanceBook(SETTINGS, Priors({"12.0": 1}))  # type: ignore[arg-type]
    book.feed(outcomes)
    (snapshot,) = book.snapshots()
    assert snapshot["metrics"] == {"mae": 1.5, "rmse": pytest.approx(np.sqrt(2.5))}
    assert snapshot["labels"] == {"checked": False, "reason": "regression has no label prior"}


def test_a_multiclass_monitor_refuses_outcomes_that_are_not_class_indices() -> None:
    monitor = PerformanceMonitor("iris", 1, "champion", "multiclass", SETTINGS)
    with pytest.raises(ValueError, match="class indices"):
        monitor.update([0.5], [1])
