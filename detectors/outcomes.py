"""The rolling window of labelled outcomes, and the realised metrics over it.

`OutcomeWindow` keeps the last ``size`` joined outcomes (true value or class index, prediction and,
for a binary model, the score) in numpy ring buffers, written a batch at a time; metrics are
computed only when asked, over the window as it stands. Every metric here is order-free, so the ring
is read in place, without rotating it.

The metrics are River's (``river.metrics``), vectorised: fed the same window, River's ``Accuracy``,
``Precision``, ``Recall``, ``F1``, ``MacroF1`` (multi-class), ``LogLoss``, ``MSE`` of the score (the
Brier score, which River does not name), ``MAE`` and ``RMSE`` agree to 1e-9, with River's
conventions (a ratio with an empty denominator is 0; probabilities are clamped to
``[1e-15, 1 - 1e-15]`` for the log loss). ROC AUC is exact -- the Mann-Whitney statistic, a tie
counting one half -- where River's ``ROCAUC`` integrates a curve over ``n_thresholds`` cut points.
Metrics that cannot be defined on the window (any on an empty window, ROC AUC with a single class,
score metrics without scores) are None.

Examples
--------
>>> import numpy as np
>>> window = OutcomeWindow(4, "binary")
>>> window.extend(np.array([1, 0, 1, 1, 0, 0]), np.array([1, 0, 0, 1, 1, 0]),
...               np.array([0.9, 0.2, 0.4, 0.8, 0.6, 0.1]))
>>> window.events, window.n_seen, window.positives
(4, 6, 2)
>>> {name: round(value, 4) for name, value in window.metrics(["accuracy", "roc_auc"]).items()}
{'accuracy': 0.5, 'roc_auc': 0.75}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt

Task = Literal["binary", "multiclass", "regression"]
FloatArray = npt.NDArray[np.float64]
Metric = Callable[[FloatArray, FloatArray, FloatArray], float | None]

#: River's clamp of probabilities before taking logs.
_EPSILON = 1e-15


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _confusion(y: FloatArray, p: FloatArray) -> tuple[float, float, float]:
    """True positives, predicted positives and actual positives."""
    return float(np.count_nonzero((y == 1) & (p == 1))), float(np.count_nonzero(p == 1)), \
        float(np.count_nonzero(y == 1))


def accuracy(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    return float(np.count_nonzero(y == p)) / y.size


def precision(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    tp, predicted, _ = _confusion(y, p)
    return _ratio(tp, predicted)


def recall(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    tp, _, actual = _confusion(y, p)
    return _ratio(tp, actual)


def f1(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    tp, predicted, actual = _confusion(y, p)
    pr, rc = _ratio(tp, predicted), _ratio(tp, actual)
    return _ratio(2.0 * pr * rc, pr + rc)


def macro_f1(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    """The mean F1 over the classes the window has seen, true or predicted (River's ``MacroF1``)."""
    seen = np.union1d(y, p)
    scores = []
    for c in seen.tolist():
        tp = float(np.count_nonzero((y == c) & (p == c)))
        pr, rc = _ratio(tp, float(np.count_nonzero(p == c))), _ratio(tp, float(np.count_nonzero(y == c)))
        scores.append(_ratio(2.0 * pr * rc, pr + rc))
    return float(np.mean(scores))


def roc_auc(y: FloatArray, p: FloatArray, s: FloatArray) -> float | None:
    positive = y == 1
    n1 = int(np.count_nonzero(positive))
    n0 = y.size - n1
    if n1 == 0 or n0 == 0 or np.isnan(s).any():
        return None
    # The Mann-Whitney count: negatives below each positive, a tie counting one half.
    negatives = np.sort(s[~positive])
    below = np.searchsorted(negatives, s[positive], side="left")
    up_to = np.searchsorted(negatives, s[positive], side="right")
    return float((below.sum() + up_to.sum()) / 2.0 / (n1 * n0))


def log_loss(y: FloatArray, p: FloatArray, s: FloatArray) -> float | None:
    if np.isnan(s).any():
        return None
    q = np.clip(s, _EPSILON, 1.0 - _EPSILON)
    return float(-np.mean(np.log(np.where(y == 1, q, 1.0 - q))))


def brier(y: FloatArray, p: FloatArray, s: FloatArray) -> float | None:
    if np.isnan(s).any():
        return None
    return float(np.mean((s - y) ** 2))


def mae(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    return float(np.mean(np.abs(y - p)))


def rmse(y: FloatArray, p: FloatArray, s: FloatArray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


#: The metrics of each task, in report order.
METRICS: dict[Task, dict[str, Metric]] = {
    "binary": {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1,
               "roc_auc": roc_auc, "log_loss": log_loss, "brier": brier},
    "multiclass": {"accuracy": accuracy, "macro_f1": macro_f1},
    "regression": {"mae": mae, "rmse": rmse},
}
#: Metrics where lower is better: a configured limit is a ceiling, not a floor.
ERROR_METRICS = frozenset({"log_loss", "brier", "mae", "rmse"})


class OutcomeWindow:
    """The last ``size`` labelled outcomes of one model, in ring buffers.

    Parameters
    ----------
    size
        Outcomes the window holds.
    task
        ``"binary"`` (true and predicted classes 0/1, scores P(class 1)), ``"multiclass"`` (class
        indices, no scores) or ``"regression"``.
    """

    def __init__(self, size: int, task: Task) -> None:
        if size < 1 or task not in METRICS:
            raise ValueError(f"need a positive size and a task in {sorted(METRICS)}")
        self.size = size
        self.task = task
        self._reset()

    def _reset(self) -> None:
        self._true = np.zeros(self.size)
        self._pred = np.zeros(self.size)
        self._score = np.full(self.size, np.nan)
        self._n_seen = 0

    @property
    def n_seen(self) -> int:
        """Outcomes received so far."""
        return self._n_seen

    @property
    def events(self) -> int:
        """Outcomes in the window."""
        return min(self._n_seen, self.size)

    @property
    def positives(self) -> int:
        """Outcomes in the window whose true class is 1 (binary)."""
        return int(np.count_nonzero(self._true[: self.events] == 1))

    def class_counts(self, n_classes: int) -> npt.NDArray[np.int64]:
        """Outcomes in the window per true class index ``0 .. n_classes - 1`` (classifiers)."""
        truth = self._true[: self.events].astype(np.int64)
        return np.bincount(truth[(truth >= 0) & (truth < n_classes)], minlength=n_classes)

    def extend(self, y_true: FloatArray, y_pred: FloatArray, score: FloatArray | None = None) -> None:
        """Append a batch in arrival order (only its last ``size`` outcomes can stay)."""
        n = y_true.size
        keep = min(n, self.size)
        at = (self._n_seen + n - keep + np.arange(keep)) % self.size
        self._true[at] = y_true[n - keep:]
        self._pred[at] = y_pred[n - keep:]
        self._score[at] = np.nan if score is None else score[n - keep:]
        self._n_seen += n

    def metrics(self, names: Iterable[str] | None = None) -> dict[str, float | None]:
        """The named metrics (default: all of the task's) over the window."""
        table = METRICS[self.task]
        chosen = list(table) if names is None else list(names)
        filled = self.events
        if filled == 0:
            return dict.fromkeys(chosen)
        y, p, s = self._true[:filled], self._pred[:filled], self._score[:filled]
        return {name: table[name](y, p, s) for name in chosen}
