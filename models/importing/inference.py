"""Inferring a model card from a fitted scikit-learn estimator and a sample of its training rows.

Types come from the sample's column types (numbers: numeric; text: categorical), nullability from
whether the sample has a null in the column, categories from the values seen in the sample together
with those the model's encoders learnt (a rare category the sample happens to miss is still the
model's, and must not be fed as ``__other__``). Ranges are left open unless asked for: a range
taken from a sample turns every later event just outside it into a dead letter (``out_of_range``),
which is rarely what a first deployment wants; drift monitoring sees a shifted distribution anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from driftline.models.card import FeatureSpec, ModelCard, ModelOutput, Task
from driftline.models.importing.errors import ImportRefused
from driftline.models.importing.structure import encoder_categories, selects_columns

#: More distinct values than this in a text column is an identifier or free text, not a category.
MAX_CATEGORIES = 1_000
#: The single float input of a model fit on a numeric array (skl2onnx's customary name).
INPUT_TENSOR = "X"

Ranges = Literal["none", "sample"]


def feature_names(estimator: Any, frame: Any, label: str | None) -> list[str]:
    """The model's input columns, in the order it was fit on.

    A model fit on a DataFrame knows its columns (``feature_names_in_``); the sample must have them
    and may have more (ignored). A model fit on an array knows only how many: the sample's columns
    other than the label are taken in file order.
    """
    if label is not None and label not in frame.columns:
        raise ImportRefused(f"the sample has no label column {label!r} (columns: {list(frame.columns)})",
                            field="label")
    known = getattr(estimator, "feature_names_in_", None)
    if known is not None:
        return _named_columns([str(n) for n in known], frame, label)
    names = [str(c) for c in frame.columns if c != label]
    expected = getattr(estimator, "n_features_in_", len(names))
    if len(names) != expected:
        raise ImportRefused(f"the model was fit on an array of {expected} columns, but the sample has "
                            f"{len(names)} columns besides the label ({names}); give the sample exactly "
                            f"the model's columns in training order, and --label for the label column",
                            field="sample")
    return names


def _named_columns(names: list[str], frame: Any, label: str | None) -> list[str]:
    if label in names:
        raise ImportRefused(f"--label {label!r} is one of the model's input columns {names}", field="label")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ImportRefused(f"the sample lacks columns the model was fit on: {missing}", field="sample")
    return names


def infer_card(estimator: Any, frame: Any, *, name: str, label: str | None, task: Task | None = None,
               ranges: Ranges = "none", source: str = "the sample") -> ModelCard:
    """The card a user would write for ``estimator``, from ``frame`` (a sample of its training rows)."""
    names = feature_names(estimator, frame, label)
    learnt = encoder_categories(estimator, names)
    features = tuple(infer_feature(frame[n], n, ranges=ranges, learnt=learnt.get(n, ())) for n in names)
    single = all(f.type == "numeric" for f in features) and not selects_columns(estimator)
    training = {"source": source, "rows": len(frame), "label": label,
                "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}"}
    return ModelCard(name=name, features=features, output=infer_output(estimator, task),
                     input_tensor=INPUT_TENSOR if single else None, training_data=training,
                     limitations=_limitations(len(frame), source, ranges))


def infer_feature(column: Any, name: str, *, ranges: Ranges = "none",
                  learnt: Sequence[Any] = ()) -> FeatureSpec:
    """One column's spec: numeric or categorical, nullable if the sample has a null in it."""
    nullable = bool(column.isna().any())
    if _is_numeric(column, name):
        low, high = (_finite_bounds(column) if ranges == "sample" else (None, None))
        return FeatureSpec(name=name, type="numeric", nullable=nullable, min=low, max=high)
    return FeatureSpec(name=name, type="categorical", nullable=nullable,
                       categories=_categories(column, name, learnt))


def _is_numeric(column: Any, name: str) -> bool:
    from pandas.api import types

    if types.is_bool_dtype(column):
        # Events carry true/false, which driftline does not take for a number; 0/1 it does.
        raise ImportRefused(f"column {name!r} is boolean: refit with it as 0/1 integers (events then send "
                            f"0 or 1) or as text categories", field=name)
    if types.is_datetime64_any_dtype(column) or types.is_timedelta64_dtype(column):
        raise ImportRefused(f"column {name!r} holds dates or durations: derive numbers from them in the "
                            f"pipeline's input (events carry numbers and text only)", field=name)
    return bool(types.is_numeric_dtype(column))


def _categories(column: Any, name: str, learnt: Sequence[Any]) -> tuple[str, ...]:
    seen = column.dropna().unique().tolist()
    odd = next((v for v in seen if not isinstance(v, str)), None)
    if odd is not None:
        raise ImportRefused(f"column {name!r} mixes text with {type(odd).__name__} values such as {odd!r}: "
                            f"a column is either all numbers or all text", field=name)
    known = [c for c in learnt if isinstance(c, str)]
    categories = sorted(set(seen) | set(known))
    if not categories:
        raise ImportRefused(f"column {name!r} is null in every sample row, so its type cannot be inferred: "
                            f"give a sample where it has values", field=name)
    if len(categories) > MAX_CATEGORIES:
        raise ImportRefused(f"column {name!r} has {len(categories)} distinct values, more than "
                            f"{MAX_CATEGORIES}: an identifier or free text is not a category; drop it from "
                            f"the model or bucket it into fewer values", field=name)
    return tuple(categories)


def _finite_bounds(column: Any) -> tuple[float | None, float | None]:
    values = [float(v) for v in column.dropna().tolist() if math.isfinite(float(v))]
    return (min(values), max(values)) if values else (None, None)


def infer_output(estimator: Any, task: Task | None) -> ModelOutput:
    """The output: the task (from the estimator unless given) and, for classifiers, its classes."""
    from sklearn.base import is_classifier

    classes = [str(c) for c in getattr(estimator, "classes_", [])] if is_classifier(estimator) else []
    inferred: Task = "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"
    chosen = task or inferred
    if (chosen == "regression") != (inferred == "regression") or (chosen == "binary" and len(classes) != 2):
        kind = f"a classifier of {len(classes)} classes" if classes else "a regressor"
        raise ImportRefused(f"--task {chosen} does not fit the model, {kind} ({type(estimator).__name__})",
                            field="task")
    if chosen == "regression":
        return ModelOutput(task="regression")
    return ModelOutput(task=chosen, classes=tuple(classes))


def _limitations(rows: int, source: str, ranges: Ranges) -> str:
    bounds = ("numeric ranges are the sample's minimum and maximum, so events outside them are dead "
              "letters (out_of_range)" if ranges == "sample" else "numeric ranges are open")
    return (f"Card inferred by `driftline models import` from {rows} rows of {source}: types and "
            f"nullability as seen there, categories seen there or learnt by the model's encoders; {bounds}. "
            f"Review it, edit it, and register again with `driftline models register`.")
