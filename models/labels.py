"""Which class a label names: the one rule for labels of classifiers, wherever they come from.

Labels reach driftline twice: with the reference sample at registration (the label prior) and from
label sources at run time (the label join). Both must read ``"fraud"``, ``1`` and ``"1"`` as the
same class, so both call `class_index`. A class is its index, the column of the model's
probabilities (``ModelOutput.class_names(k)`` names them). A label names class ``i`` when it is:

* the class name ``classes[i]`` (a name wins over an index: a card may name its classes ``"3"``,
  ``"5"``, ``"7"``);
* the index ``i`` as a number (``2``, ``2.0``) or as text (``"2"``);
* for a binary model only, ``true``/``false`` (any case, as booleans or text) for 1/0.

Examples
--------
>>> class_index("virginica", ("setosa", "versicolor", "virginica"))
2
>>> class_index(1, ("setosa", "versicolor", "virginica")), class_index(" 0 ", ("a", "b", "c"))
(1, 0)
>>> class_index(True, ("legit", "fraud")), class_index("FALSE", ("0", "1"))
(1, 0)
>>> class_index(3, ("a", "b", "c")) is None, class_index(True, ("a", "b", "c")) is None
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_TRUTH = {"false": 0, "true": 1}


def class_index(value: object, classes: Sequence[str]) -> int | None:
    """The index of the class ``value`` names among ``classes``; None when it names none."""
    binary = len(classes) == 2
    if isinstance(value, bool):
        return int(value) if binary else None
    if isinstance(value, str):
        if value in classes:
            return list(classes).index(value)
        text = value.strip()
        if binary and text.lower() in _TRUTH:
            return _TRUTH[text.lower()]
        return _in_range(int(text), classes) if text.isdecimal() else None
    if isinstance(value, int | float) and math.isfinite(value) and float(value).is_integer():
        return _in_range(int(value), classes)
    return None


def _in_range(index: int, classes: Sequence[str]) -> int | None:
    return index if 0 <= index < len(classes) else None
