"""Checking an exported graph against the scikit-learn estimator it came from, on the sample.

The graph is run the way the worker runs it (``columns_from_rows`` then ``OnnxModel.predict``), so
the check covers driftline's feeding rules as well as the conversion. scikit-learn is given the
sample with its numbers rounded to float32, as the graph receives them: what remains is the
conversion's own error. Classifiers: every probability within ``tolerance`` (absolute), and equal
labels except where the two top probabilities tie within ``TIE``; regressors: every value within
``tolerance`` absolute plus ``tolerance`` relative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.models.card import ModelCard
from driftline.models.importing.errors import ImportRefused, first_line
from driftline.models.importing.structure import is_null
from driftline.models.runtime import OnnxModel, Prediction, Row, columns_from_rows

#: float32 rounding between a float64 estimator and its float32 graph stays well inside this.
TOLERANCE = 1e-4
#: Top probabilities this close may pick either class: a label disagreement there is rounding.
TIE = 1e-5


@dataclass(frozen=True)
class Parity:
    """How closely the graph answered like scikit-learn on ``rows`` sample rows."""

    rows: int
    #: The largest absolute difference of a probability (classifiers) or a value (regressors).
    max_abs_diff: float
    #: Rows whose labels differ on a tie of the top two probabilities (accepted).
    tied_labels: int = 0


def sample_rows(frame: Any, card: ModelCard) -> list[Row]:
    """The sample's rows as events carry them: numbers as float, text as str, null as None."""
    columns = [_event_values(frame[f.name], f.type == "numeric") for f in card.features]
    return [dict(zip(card.feature_names, values, strict=True)) for values in zip(*columns, strict=True)]


def _event_values(column: Any, numeric: bool) -> list[float | str | None]:
    if numeric:
        return [None if math.isnan(v) else v for v in column.astype("float64").tolist()]
    return [None if is_null(v) else str(v) for v in column.tolist()]


def check_parity(estimator: Any, model: OnnxModel, frame: Any, rows: Sequence[Row], *,
                 tolerance: float = TOLERANCE) -> Parity:
    """Refuse (`ImportRefused`, naming the worst row) a graph that does not answer like ``estimator``."""
    served = model.predict(columns_from_rows(model.card, rows))
    design = sklearn_input(estimator, frame, model.card)
    try:
        if model.card.output.is_classifier:
            return _check_classifier(estimator, design, served, rows, tolerance)
        return _check_regressor(estimator, design, served, rows, tolerance)
    except ImportRefused:
        raise
    except Exception as exc:  # whatever the estimator raises on the sample (NaN it cannot take, ...)
        raise ImportRefused(f"scikit-learn cannot score the sample: {first_line(exc)}",
                            field="sample") from None


def sklearn_input(estimator: Any, frame: Any, card: ModelCard) -> Any:
    """The sample as the estimator was fit on it (a DataFrame or an array), numbers through float32."""
    data = frame[list(card.feature_names)].copy()
    for spec in card.features:
        if spec.type == "numeric":
            data[spec.name] = data[spec.name].astype("float32").astype("float64")
    if hasattr(estimator, "feature_names_in_"):
        return data
    if card.input_tensor is not None:
        return data.to_numpy(dtype=np.float64)
    return data.to_numpy(dtype=object)


def _check_classifier(estimator: Any, design: Any, served: Prediction, rows: Sequence[Row],
                      tolerance: float) -> Parity:
    expected = np.asarray(estimator.predict_proba(design), dtype=np.float64)
    assert served.probabilities is not None and served.labels is not None
    gaps = np.abs(served.probabilities - expected).max(axis=1)
    worst = int(np.argmax(gaps))
    if gaps[worst] > tolerance:
        raise _disagreement(rows, worst, int((gaps > tolerance).sum()),
                            f"probabilities {_rounded(expected[worst])} from scikit-learn, "
                            f"{_rounded(served.probabilities[worst])} from ONNX (off by {gaps[worst]:.3g}, "
                            f"more than {tolerance:g})")
    labels = np.asarray(estimator.predict(design)).reshape(-1)
    differ = np.array([str(a) != str(b) for a, b in zip(labels, served.labels, strict=True)], dtype=bool)
    top_two = np.sort(expected, axis=1)[:, -2:]
    tied = (top_two[:, 1] - top_two[:, 0]) <= TIE
    wrong = np.flatnonzero(differ & ~tied)
    if wrong.size:
        i = int(wrong[0])
        raise _disagreement(rows, i, wrong.size,
                            f"label {labels[i]!r} from scikit-learn, {served.labels[i]!r} from ONNX")
    return Parity(len(rows), float(gaps.max()), tied_labels=int((differ & tied).sum()))


def _check_regressor(estimator: Any, design: Any, served: Prediction, rows: Sequence[Row],
                     tolerance: float) -> Parity:
    expected = np.asarray(estimator.predict(design), dtype=np.float64).reshape(-1)
    assert served.values is not None
    gaps = np.abs(served.values - expected)
    excess = gaps / (tolerance + tolerance * np.abs(expected))
    worst = int(np.argmax(excess))
    if excess[worst] > 1:
        raise _disagreement(rows, worst, int((excess > 1).sum()), f"{expected[worst]:.6g} from scikit-learn, "
                            f"{served.values[worst]:.6g} from ONNX (off by {gaps[worst]:.3g}, more than "
                            f"{tolerance:g} + {tolerance:g} relative)")
    return Parity(len(rows), float(gaps.max()))


def _disagreement(rows: Sequence[Row], index: int, count: int, what: str) -> ImportRefused:
    # A few rows point at float32 rounding next to a tree's threshold; most rows at a conversion.
    return ImportRefused(f"the ONNX export does not answer like scikit-learn on {count} of {len(rows)} "
                         f"sample rows; the worst is row {index} (0-based, header not counted) "
                         f"{dict(rows[index])}: {what}. A few rows: float32 rounding at a tree's threshold "
                         f"(--tolerance accepts it); many: a step skl2onnx converts differently",
                         field="sample")


def _rounded(values: npt.NDArray[np.float64]) -> list[float]:
    return [round(float(v), 6) for v in values]
