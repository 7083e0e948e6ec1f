"""Exporting a fitted scikit-learn estimator to the ONNX graph a model card describes.

Inputs follow the card (one ``float[N, k]`` tensor, or one ``[N, 1]`` input per feature);
classifiers lose ZipMap so probabilities come out as a ``float[N, k]`` tensor. Two feeding rules of
driftline need the export's help, and a copy of the estimator is adjusted before converting:

- a null category reaches the graph as ``__missing__``, since a string tensor has no null. An
  encoder that learnt a null category gets ``__missing__`` in its place, and a text imputer
  (which skl2onnx converts only for a text marker) treats ``__missing__`` as its missing value, so
  the graph answers for a null what scikit-learn answers;
- an unseen category reaches the graph as ``__other__``, which an encoder must ignore: one
  fitted with ``handle_unknown="error"`` is refused, since ONNX Runtime would fail on every such event.
"""

from __future__ import annotations

import copy
from typing import Any

from driftline.models.card import MISSING_CATEGORY, ModelCard
from driftline.models.demo import TARGET_OPSET
from driftline.models.importing.errors import ImportRefused, first_line
from driftline.models.importing.structure import is_encoder, is_null, walk


def export_onnx(estimator: Any, card: ModelCard) -> bytes:
    """The serialized ONNX graph of ``estimator`` with the inputs and outputs ``card`` declares."""
    from skl2onnx import convert_sklearn

    refuse_unknown_errors(estimator)
    prepared = copy.deepcopy(estimator)
    for part in walk(prepared):
        _feed_missing_as_marker(part)
    options = {"zipmap": False} if card.output.is_classifier else None
    try:
        graph = convert_sklearn(prepared, name=card.name, initial_types=initial_types(card),
                                options=options, target_opset=TARGET_OPSET)
    except Exception as exc:  # skl2onnx raises RuntimeError, NotImplementedError, its own types ...
        raise ImportRefused(f"skl2onnx cannot convert this {type(estimator).__name__}: {first_line(exc)} "
                            f"(see skl2onnx's supported scikit-learn models)", field="model") from None
    serialized: bytes = graph.SerializeToString()
    return serialized


def initial_types(card: ModelCard) -> list[tuple[str, Any]]:
    """skl2onnx's ``initial_types`` for the card's inputs."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if card.input_tensor is not None:
        return [(card.input_tensor, FloatTensorType([None, len(card.features)]))]
    return [(f.name, FloatTensorType([None, 1]) if f.type == "numeric" else StringTensorType([None, 1]))
            for f in card.features]


def refuse_unknown_errors(estimator: Any) -> None:
    """Refuse an encoder that raises on an unknown category (driftline feeds unseen ones as ``__other__``)."""
    for part in walk(estimator):
        if is_encoder(part) and part.handle_unknown == "error":
            fix = ('handle_unknown="ignore"' if type(part).__name__ == "OneHotEncoder"
                   else 'handle_unknown="use_encoded_value", unknown_value=-1')
            raise ImportRefused(f"{type(part).__name__} was fit with handle_unknown=\"error\": the served "
                                f"graph would fail on every category it did not see in training; refit it "
                                f"with {fix}", field="model")


def _feed_missing_as_marker(part: Any) -> None:
    if is_encoder(part):
        part.categories_ = [_with_marker(categories) for categories in part.categories_]
    elif _is_text_imputer(part):
        part.missing_values = MISSING_CATEGORY


def _with_marker(categories: Any) -> Any:
    import numpy as np

    if categories.dtype != object or not any(is_null(c) for c in categories):
        return categories
    return np.array([MISSING_CATEGORY if is_null(c) else c for c in categories], dtype=object)


def _is_text_imputer(part: Any) -> bool:
    statistics = getattr(part, "statistics_", None)
    return (type(part).__name__ == "SimpleImputer" and statistics is not None
            and statistics.dtype == object and is_null(part.missing_values))
