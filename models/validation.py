"""Validating decoded events against a model card's feature spec.

Validation is where a bad event gets its reason. Each check yields a stable error ``code`` (the
contract with whoever reads the dead-letter topic), a message a person can act on, and the
offending ``field``. A valid event comes back as its feature mapping, untouched: turning values
into ONNX feeds (null to NaN, unseen category to the "other" bucket) is ``columns_from_rows``'s
job, so serving and a direct ONNX run of the same rows cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from models.card import FeatureSpec, ModelCard

#: Error codes a consumer of the dead-letter topic can rely on.
MISSING_FIELD: Final = "missing_field"
WRONG_TYPE: Final = "wrong_type"
OUT_OF_RANGE: Final = "out_of_range"
NULL_NOT_ALLOWED: Final = "null_not_allowed"
UNKNOWN_CATEGORY: Final = "unknown_category"
NON_FINITE_NUMBER: Final = "non_finite_number"

FeatureValue = float | int | str | None


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


_ABSENT: Final = object()


class FeatureValidator:
    """Checks one event's ``features`` object against a card, feature by feature.

    Features the card does not declare are ignored: producers may send more than one model
    needs, and refusing them would couple every producer to every model's schema.
    """

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self._specs = card.features
        self._known = {f.name: frozenset(f.categories) for f in card.features if f.type == "categorical"}

    def validate(self, features: Mapping[str, Any]) -> Validated | Invalid:
        unseen = 0
        for spec in self._specs:
            value = features.get(spec.name, _ABSENT)
            if value is _ABSENT or value is None:
                if not spec.nullable:
                    return _missing(spec, absent=value is _ABSENT)
                continue
            if spec.type == "numeric":
                problem = _check_number(spec, value)
            else:
                problem, is_unseen = self._check_category(spec, value)
                unseen += is_unseen
            if problem is not None:
                return problem
        return Validated(features, unseen)

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
    return None
