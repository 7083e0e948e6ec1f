"""OutcomeWindow: River's metrics to 1e-9, exact ROC AUC, the ring, undefined metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river import metrics as river_metrics

from driftline.detectors.outcomes import METRICS, OutcomeWindow

RIVER_BINARY: dict[str, Any] = {
    "accuracy": river_metrics.Accuracy, "precision": river_metrics.Precision, "recall": river_metrics.Recall,
    "f1": river_metrics.F1,
}


def binary_outcomes(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = (rng.random(n) < 0.3).astype(np.int64)
    score = np.clip(0.3 * y_true + rng.beta(2.0, 4.0, n), 0.0, 1.0)
    score[:5] = [0.0, 1.0, 0.5, 0.5, 1e-17]  # the clamp and ties are part of the contract
    return y_true, (score > 0.5).astype(np.int64), score


def river_value(metric: Any, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    for yt, yp in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        metric.update(yt, yp)
    return float(metric.get())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_equal_rivers_fed_the_same_window(seed: int) -> None:
    y_true, y_pred, score = binary_outcomes(seed, 3000)
    window = OutcomeWindow(1000, "binary")
    for part in np.array_split(np.arange(3000), 7):
        window.extend(y_true[part].astype(float), y_pred[part].astype(float), score[part])
    ours = window.metrics()
    last = slice(2000, 3000)
    yt, yp, s = y_true[last].astype(bool), y_pred[last].astype(bool), score[last]
    for name, factory in RIVER_BINARY.items():
        assert ours[name] == pytest.approx(river_value(factory(), yt, yp), abs=1e-9), name
    assert ours["log_loss"] == pytest.approx(river_value(river_metrics.LogLoss(), yt, s), abs=1e-9)
    # River has no Brier score by name: it is the MSE of the probability against the 0/1 truth.
    assert ours["brier"] == pytest.approx(river_value(river_metrics.MSE(), y_true[last], s), abs=1e-9)


def test_roc_auc_is_exact_and_close_to_rivers_fine_grid() -> None:
    from sklearn.metrics import roc_auc_score

    y_true, _, score = binary_outcomes(4, 1000)
    score = np.round(score, 2)  # many ties
    window = OutcomeWindow(1000, "binary")
    window.extend(y_true.astype(float), (score > 0.5).astype(float), score)
    ours = window.metrics(["roc_auc"])["roc_auc"]
    assert ours == pytest.approx(roc_auc_score(y_true, score), abs=1e-12)
    positives, negatives = score[y_true == 1], score[y_true == 0]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert ours == pytest.approx(pairs.mean(), abs=1e-12)
    river = river_value(river_metrics.ROCAUC(n_thresholds=200), y_true.astype(bool), score)
    assert ours == pytest.approx(river, abs=0.01)


def test_regression_metrics_equal_rivers() -> None:
    rng = np.random.default_rng(5)
    y_true = rng.normal(size=1500)
    y_pred = y_true + rng.standard_t(3, 1500)
    window = OutcomeWindow(1000, "regression")
    window.extend(y_true[:700], y_pred[:700])
    window.extend(y_true[700:], y_pred[700:])
    ours = window.metrics()
    assert list(ours) == list(METRICS["regression"])
    yt, yp = y_true[500:], y_pred[500:]
    assert ours["mae"] == pytest.approx(river_value(river_metrics.MAE(), yt, yp), abs=1e-9)
    assert ours["rmse"] == pytest.approx(river_value(river_metrics.RMSE(), yt, yp), abs=1e-9)


def test_the_ring_keeps_the_last_outcomes_whatever_the_batching() -> None:
    y_true, y_pred, score = binary_outcomes(6, 2500)
    results = []
    for parts in (1, 3, 250, 2500):
        window = OutcomeWindow(400, "binary")
        for part in np.array_split(np.arange(2500), parts):
            window.extend(y_true[part].astype(float), y_pred[part].astype(float), score[part])
        assert (window.events, window.n_seen) == (400, 2500)
        assert window.positives == int(y_true[-400:].sum())
        results.append(window.metrics())
    assert all(r == results[0] for r in results)


def test_undefined_metrics_are_none() -> None:
    window = OutcomeWindow(10, "binary")
    assert set(window.metrics().values()) == {None}
    window.extend(np.zeros(5), np.zeros(5))  # no scores, one class
    out = window.metrics()
    assert out["roc_auc"] is None and out["log_loss"] is None and out["brier"] is None
    assert out["accuracy"] == 1.0 and out["precision"] == 0.0 and out["f1"] == 0.0
    with pytest.raises(ValueError, match="task"):
        OutcomeWindow(10, "ranking")  # type: ignore[arg-type]
