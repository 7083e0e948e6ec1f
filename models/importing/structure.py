"""What an import needs to know about a fitted scikit-learn estimator's insides.

Pipelines, column transformers and feature unions are walked to their leaves, so an import can
find the encoders (their categories widen the card's; their unknown-category policy decides whether
driftline can feed ``__other__``) and the imputers whose null marker the export rewrites.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any


def walk(estimator: Any) -> Iterator[Any]:
    """``estimator`` and every fitted estimator inside it, depth first."""
    yield estimator
    for child in _children(estimator):
        if not isinstance(child, str):  # "drop" and "passthrough" stand for no estimator
            yield from walk(child)


def _children(estimator: Any) -> list[Any]:
    if hasattr(estimator, "transformers_"):  # a fitted ColumnTransformer
        return [transformer for _, transformer, _ in estimator.transformers_]
    if hasattr(estimator, "steps"):  # Pipeline
        return [step for _, step in estimator.steps]
    if hasattr(estimator, "transformer_list"):  # FeatureUnion
        return [transformer for _, transformer in estimator.transformer_list]
    return []


def selects_columns(estimator: Any) -> bool:
    """Whether a column transformer inside routes columns, which needs one graph input per column:
    skl2onnx maps a column transformer's columns to the graph's inputs, not to a tensor's slices."""
    return any(hasattr(part, "transformers_") for part in walk(estimator))


def is_encoder(estimator: Any) -> bool:
    """A fitted OneHotEncoder or OrdinalEncoder (anything with per-column ``categories_``)."""
    return hasattr(estimator, "categories_") and hasattr(estimator, "handle_unknown")


def encoder_categories(estimator: Any, features: Sequence[str]) -> dict[str, list[Any]]:
    """The categories the estimator's encoders learnt, by input column.

    ``features`` names the input columns in order, so integer column selections resolve too. A
    transformer whose encoder sees another number of columns than it selects (a step before it
    adds or drops columns) is skipped: its categories cannot be attributed.
    """
    found: dict[str, list[Any]] = {}
    for transformer in walk(estimator):
        for _, part, columns in getattr(transformer, "transformers_", []):
            names = _column_names(columns, features)
            if names and not isinstance(part, str):
                found.update(_learnt_by(part, names))
    return found


def _learnt_by(part: Any, names: list[str]) -> dict[str, list[Any]]:
    inside = list(walk(part))
    encoders = [e for e in inside if is_encoder(e)]
    if not encoders or len(encoders[0].categories_) != len(names):
        return {}
    # An imputer's constant is a value the encoder learnt, not one that events carry.
    filled = {getattr(e, "fill_value", None) for e in inside if getattr(e, "strategy", "") == "constant"}
    return {n: [c for c in learnt if c not in filled]
            for n, learnt in zip(names, encoders[0].categories_, strict=True)}


def _column_names(columns: Any, features: Sequence[str]) -> list[str]:
    """A column selection as names; empty for selections this cannot read (slices, masks, callables)."""
    if isinstance(columns, str | int):
        columns = [columns]
    if not isinstance(columns, list | tuple) and not hasattr(columns, "tolist"):
        return []
    selected = columns.tolist() if hasattr(columns, "tolist") else list(columns)
    if all(isinstance(c, str) for c in selected):
        return [str(c) for c in selected]
    if all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(features) for c in selected):
        return [features[c] for c in selected]
    return []


def is_null(value: Any) -> bool:
    """None or NaN: how pandas and scikit-learn spell a missing value in a column of objects."""
    return value is None or (isinstance(value, float) and math.isnan(value))
