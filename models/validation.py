"""Validating decoded events against a model card's feature spec.

Validation is where a bad event gets its reason. Each check yields a stable error ``code`` (the
contract with whoever reads the dead-letter topic), a message a person can act on, and the
offending ``field``. A batch's valid events come back as ONNX feeding columns built by the same
convention as ``models.runtime.columns_from_rows`` (null to NaN or ``__missing__``, an unseen
category to ``__other__``), so serving and a direct ONNX run of the same rows cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from driftline.ext import numeric_matrix
from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, FeatureSpec, ModelCard

#: Error codes a consumer of the dead-letter topic can rely on.
MISSING_FIELD: Final = "missing_field"
WRONG_TYPE: Final = "wrong_type"
OUT_OF_RANGE: Final = "out_of_range"
NULL_NOT_ALLOWED: Final = "null_not_allowed"
UNKNOWN_CATEGORY: Final = "unknown_category"
NON_FINITE_NUMBER: Final = "non_finite_number"

FeatureValue = float | int | str | None
_FLOAT32_MAX: Final = float(np.finfo(np.float32).max)


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why an event cannot be scored."""

    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Validated:
    """A valid event's features, and how many categorical values fell into "other"."""

    features: Mapping[str, FeatureValue]
    unseen_categories: int = 0


@dataclass(frozen=True)
class BatchValidation:
    """A batch's verdict: feeding columns of its valid rows, and why the others were refused.

    ``columns`` follow the feeding convention of ``models.runtime.columns_from_rows`` (and equal
    it on the same rows), holding only the rows where ``valid`` is true, in batch order.
    """

    columns: dict[str, npt.NDArray[Any]]
    valid: npt.NDArray[np.bool_]
    errors: dict[int, Invalid]
    unseen_categories: int
    #: Each categorical feature's ``columns`` as ``int64`` codes: the category's position in the
    #: card's ``categories``, -1 for an unseen one (fed as ``OTHER_CATEGORY``), -2 for null (fed as
    #: ``MISSING_CATEGORY``), as ``ext.encode_categories`` codes the feeding column with
    #: ``detectors.reference.category_index``. Found while the labels are checked, so the drift
    #: binner need not read every label again.
    category_codes: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)


_ABSENT: Final = object()
#: A categorical column's feeding values and its codes (all rows).
_ColumnCheck = tuple[npt.NDArray[Any], npt.NDArray[np.int64]]


class FeatureValidator:
    """Checks events' ``features`` objects against a card.

    ``validate_batch`` is the hot path: it checks a batch column by column with vectorised range
    tests and looks at single values only where something is off (a null, a wrong type, a value
    out of range, an unlisted category), which costs a fraction of checking event by event.
    Features the card does not declare are ignored: producers may send more than one model needs,
    and refusing them would couple every producer to every model's schema.
    """

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self._specs = card.features
        self._known = {f.name: {category: code for code, category in enumerate(f.categories)}
                       for f in card.features if f.type == "categorical"}
        numeric = [f for f in card.features if f.type == "numeric"]
        self._numeric_names = tuple(f.name for f in numeric)
        self._numeric_index = {f.name: j for j, f in enumerate(numeric)}
        self._lower = np.array([-np.inf if f.min is None else f.min for f in numeric], dtype=np.float64)
        self._upper = np.array([np.inf if f.max is None else f.max for f in numeric], dtype=np.float64)

    def validate(self, features: Mapping[str, Any]) -> Validated | Invalid:
        """Check one event (the first problem in card order wins)."""
        unseen = 0
        for spec in self._specs:
            problem, is_unseen = self._check_value(spec, features.get(spec.name, _ABSENT))
            if problem is not None:
                return problem
            unseen += is_unseen
        return Validated(features, unseen)

    def validate_batch(self, batch: Sequence[Mapping[str, Any]]) -> BatchValidation:
        """Check a batch; an event's error is the first problem in card order, as in ``validate``."""
        errors: dict[int, Invalid] = {}
        unseen = np.zeros(len(batch), dtype=np.int64)
        numeric, numeric_suspects = self._numeric_block(batch)
        categorical: dict[str, npt.NDArray[Any]] = {}
        codes: dict[str, npt.NDArray[np.int64]] = {}
        for spec in self._specs:
            if spec.type == "numeric":
                suspects: Sequence[int] = numeric_suspects.get(self._numeric_index[spec.name], ())
            else:
                column = [features.get(spec.name, _ABSENT) for features in batch]
                categorical[spec.name], codes[spec.name] = self._categorical_column(spec, column)
                suspects = np.flatnonzero(codes[spec.name] < 0).tolist()
            for row in suspects:
                problem, is_unseen = self._check_value(spec, batch[row].get(spec.name, _ABSENT))
                if problem is not None:
                    errors.setdefault(row, problem)
                unseen[row] += is_unseen
        valid = np.ones(len(batch), dtype=np.bool_)
        valid[list(errors)] = False
        # One contiguous row per numeric feature, so each ONNX input column is a view, not a copy.
        kept = np.ascontiguousarray(numeric[valid].T)
        columns = {spec.name: (kept[self._numeric_index[spec.name]] if spec.type == "numeric"
                               else categorical[spec.name][valid]).reshape(-1, 1) for spec in self._specs}
        return BatchValidation(columns, valid, errors, int(unseen[valid].sum()),
                               {name: feature_codes[valid] for name, feature_codes in codes.items()})

    def _numeric_block(self, batch: Sequence[Mapping[str, Any]]) -> tuple[npt.NDArray[np.float32],
                                                                            dict[int, list[int]]]:
        """Every numeric feature of the batch as one events-by-features matrix, and per feature the
        rows whose value needs a closer look.

        One matrix instead of a column per feature: a small batch paid ~10 numpy calls per feature,
        which was most of its validation time; the compiled kernel reads the values out of the
        dicts, which took a list comprehension per event. Anything that is not a plain int or float
        becomes NaN there and a suspect (bool is excluded by the exact type test); the per-value
        check then tells nulls, absent keys, wrong types and non-finite numbers apart.
        """
        values = numeric_matrix(batch, self._numeric_names)
        suspect = (~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX) | (values < self._lower)
                   | (values > self._upper))
        rows, features = np.nonzero(suspect)  # row-major: each feature's rows come in batch order
        by_feature: dict[int, list[int]] = {}
        for row, feature in zip(rows.tolist(), features.tolist(), strict=True):
            by_feature.setdefault(feature, []).append(row)
        with np.errstate(over="ignore"):  # values past float32 are suspects: their rows never score
            return values.astype(np.float32), by_feature

    def _categorical_column(self, spec: FeatureSpec, column: list[Any]) -> _ColumnCheck:
        """A categorical column's feeding values and codes (see `BatchValidation.category_codes`);
        the rows coded below 0 (null, absent, unseen or not a string) need a closer look."""
        get = self._known[spec.name].get
        # The type test comes first: an unhashable value (a list, an object) must not reach ``get``.
        codes = np.array([get(x, -1) if type(x) is str else -2 if x is None or x is _ABSENT else -1
                          for x in column], dtype=np.int64)
        flagged = np.flatnonzero(codes < 0)
        # fromiter keeps each value an element (np.array would read a list value as a sequence).
        values = np.fromiter(column, dtype=object, count=len(column))
        values[flagged] = [MISSING_CATEGORY if code == -2 else OTHER_CATEGORY
                           for code in codes[flagged].tolist()]
        return values, codes

    def _check_value(self, spec: FeatureSpec, value: Any) -> tuple[Invalid | None, bool]:
        """One value's verdict: (problem or None, whether it is an unseen category scored as other)."""
        if value is _ABSENT or value is None:
            return (None if spec.nullable else _missing(spec, absent=value is _ABSENT)), False
        if spec.type == "numeric":
            return _check_number(spec, value), False
        return self._check_category(spec, value)

    def _check_category(self, spec: FeatureSpec, value: Any) -> tuple[Invalid | None, bool]:
        if not isinstance(value, str):
            return Invalid(WRONG_TYPE, f"feature {spec.name!r} must be a string category, "
                           f"got {type(value).__name__}", spec.name), False
        if value in self._known[spec.name]:
            return None, False
        if spec.unseen == "strict":
            return Invalid(UNKNOWN_CATEGORY, f"feature {spec.name!r}: category {value[:80]!r} is not "
                           "one of the card's categories and the card is strict", spec.name), False
        return None, True


def _missing(spec: FeatureSpec, *, absent: bool) -> Invalid:
    if absent:
        return Invalid(MISSING_FIELD, f"feature {spec.name!r} is required", spec.name)
    return Invalid(NULL_NOT_ALLOWED, f"feature {spec.name!r} may not be null", spec.name)


def _check_number(spec: FeatureSpec, value: Any) -> Invalid | None:
    # bool is an int subclass in Python, but true/false is never a meaningful measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Invalid(WRONG_TYPE, f"feature {spec.name!r} must be a number, got {type(value).__name__}",
                       spec.name)
    if not math.isfinite(value):
        return Invalid(NON_FINITE_NUMBER, f"feature {spec.name!r} is not a finite number", spec.name)
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        return Invalid(OUT_OF_RANGE, f"feature {spec.name!r} = {value!r} is outside "
                       f"[{spec.min}, {spec.max}]", spec.name)
    if abs(value) > _FLOAT32_MAX:  # the graph takes float32: this would reach the model as infinity
        return Invalid(NON_FINITE_NUMBER, f"feature {spec.name!r} = {value!r} overflows the model's "
                       "float32 input", spec.name)
    return None
