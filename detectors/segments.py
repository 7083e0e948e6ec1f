"""Segment codes: an event's segment value as a small integer, the one place raw values are read.

`SegmentCoder` turns the raw values of one declared segment (`models.segments.SegmentSpec`) into
codes ``0 .. n_codes - 1`` whose `labels` are what metrics, alerts and logs show. A bucketed
segment cuts numbers at its edges; a segment with declared ``values`` knows every label up front;
an undeclared one (never a sensitive one: the card refuses it) learns its first ``max_values``
values in arrival order. Anything else is ``other``; null, NaN or an absent value is
``missing``. Raw values go no further than this module: a detector downstream sees codes only,
and nothing here logs a value.

Examples
--------
>>> from driftline.models.segments import SegmentSpec
>>> ages = SegmentCoder(SegmentSpec(name="age_band", source="features.age", buckets=(18.0, 30.0)))
>>> ages.codes([12, 18, 45.5, None, float("nan"), "x"]).tolist()
[0, 1, 2, 4, 4, 3]
>>> [ages.labels[code] for code in (0, 1, 2, 3, 4)]
['<18', '18-30', '>=30', 'other', 'missing']
>>> devices = SegmentCoder(SegmentSpec(name="device", source="attributes.device", max_values=2))
>>> devices.codes(["ios", "web", "ios", "tv", None]).tolist()
[0, 1, 0, 2, 3]
>>> devices.labels
('ios', 'web', 'other', 'missing')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.models.segments import MISSING, OTHER, SegmentSpec

IntArray = npt.NDArray[np.int64]


class SegmentCoder:
    """Codes of one declared segment's values; ``n_codes`` is fixed from the start.

    Parameters
    ----------
    spec
        The segment as the card declares it.
    """

    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self._edges = np.asarray(spec.buckets, dtype=np.float64)
        slots = len(spec.buckets) + 1 if spec.buckets else len(spec.values) or spec.max_values
        self.n_codes = slots + 2
        self.other = slots
        self.missing = slots + 1
        self._reset()

    def _reset(self) -> None:
        self._known: dict[str, int] = {value: code for code, value in enumerate(self.spec.values)}

    @property
    def labels(self) -> tuple[str, ...]:
        """The label of every code in use: values (or buckets), then ``other`` and ``missing``."""
        if self.spec.declared:
            return self.spec.labels
        return (*self._known, OTHER, MISSING)

    def label(self, code: int) -> str:
        """The label of one code (also of a learnt slot's code while fewer values are known)."""
        if code == self.other:
            return OTHER
        if code == self.missing:
            return MISSING
        return self.labels[code]

    def codes(self, values: Sequence[Any]) -> IntArray:
        """The code of every raw value (a number, a string, None)."""
        if self.spec.buckets:
            return np.fromiter((self._bucket(v) for v in values), dtype=np.int64, count=len(values))
        return np.fromiter((self._category(v) for v in values), dtype=np.int64, count=len(values))

    def _bucket(self, value: Any) -> int:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.other
        return int(np.searchsorted(self._edges, float(value), side="right"))

    def _category(self, value: Any) -> int:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing
        text = str(value)
        code = self._known.get(text)
        if code is not None:
            return code
        if self.spec.declared or len(self._known) >= self.other:
            return self.other
        code = self._known[text] = len(self._known)
        return code
