"""Labels as label sources send them: the envelope, and the realised class it names.

A label record is ``{"id": "...", "label": ..., "ts": ...}``. The envelope is checked where the
label enters driftline (before it is re-partitioned by id); what the value means is only known
once it meets its prediction, because the prediction names the model. Which class a classifier's
label names is `driftline.models.labels.class_index`'s rule (the one the label prior is counted
with): the class name, the class index (``2``, ``"2"``), and for a binary model ``true``/``false``.
A regressor's label is a finite number.

Anything else is an ``invalid_label`` dead letter naming the forms accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from driftline.models.labels import class_index
from driftline.models.validation import MISSING_FIELD, WRONG_TYPE, Invalid
from driftline.streams.decoding import check_id_and_ts, decode_object

INVALID_LABEL: Final = "invalid_label"


@dataclass(frozen=True, slots=True)
class Label:
    """A label whose envelope is sound; ``value`` is still as the source sent it."""

    id: str
    value: bool | int | float | str
    ts: float | None


def decode_label(raw: bytes | None, *, max_bytes: int) -> Label | Invalid:
    obj = decode_object(raw, max_bytes=max_bytes, what="a label")
    if isinstance(obj, Invalid):
        return obj
    return _envelope(obj)


def _envelope(obj: dict[str, Any]) -> Label | Invalid:
    problem = check_id_and_ts(obj, "a label")
    if problem is not None:
        return problem
    value = obj.get("label")
    if value is None:
        return Invalid(MISSING_FIELD, "a label needs a non-null 'label'", "label")
    if not isinstance(value, bool | int | float | str):
        return Invalid(WRONG_TYPE, f"'label' must be a number, boolean or string, got {type(value).__name__}",
                       "label")
    return Label(obj["id"], value, obj.get("ts"))


def binary_class(value: bool | int | float | str, classes: tuple[str, ...] = ()) -> int | Invalid:
    """The class (0 or 1) a binary classifier's label names; see the module docstring."""
    index = class_index(value, classes or ("0", "1"))
    if index is not None:
        return index
    named = f", or one of {list(classes)}" if classes else ""
    return Invalid(INVALID_LABEL, f"label {value!r} is not a class of a binary model: send 0/1, "
                   f"true/false{named}", "label")


def multiclass_class(value: bool | int | float | str, classes: tuple[str, ...]) -> int | Invalid:
    """The class index a multi-class model's label names, among ``classes`` (its prediction's)."""
    index = class_index(value, classes)
    if index is not None:
        return index
    return Invalid(INVALID_LABEL, f"label {value!r} is not a class of this model: send one of "
                   f"{list(classes)} or its index 0-{len(classes) - 1}", "label")


def regression_target(value: bool | int | float | str) -> float | Invalid:
    """The realised value of a regressor's label: a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return Invalid(INVALID_LABEL, f"label {value!r} of a regression model must be a finite number",
                       "label")
    return float(value)
