"""A card's segments on the stream: events' raw values in, group codes and published labels out.

The score path and the label join both slice by the segments a card declares; both hand their
events' ``attributes`` and ``features`` to `CardSegments`, which passes each raw value straight
to its `detectors.segments.SegmentCoder` and keeps nothing else of it. What leaves (records on the
outcomes topic, metric labels, alerts, log lines) is codes and the coder's labels: declared names,
``other`` and ``missing`` for a sensitive segment, so none of its raw values can be published.

Codes travel between processes with their labels (``{"codes": [...], "labels": {code: label}}``)
because an undeclared segment's codes follow the order its values arrived in on *that* worker;
`GroupIndex` turns them back into the receiving side's own codes by label.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.detectors.segments import SegmentCoder
from driftline.models.segments import MISSING, OTHER, SegmentSpec

IntArray = npt.NDArray[np.int64]
Values = Mapping[str, Any] | None


class CardSegments:
    """The coders of one model version's declared segments."""

    def __init__(self, specs: Sequence[SegmentSpec]) -> None:
        self.coders = {spec.name: SegmentCoder(spec) for spec in specs}

    @property
    def sensitive(self) -> tuple[str, ...]:
        return tuple(name for name, coder in self.coders.items() if coder.spec.sensitive)

    def codes(self, attributes: Sequence[Values], features: Sequence[Values],
              names: Sequence[str] | None = None) -> dict[str, IntArray]:
        """Each segment's group code per event (``names``: only those segments)."""
        out = {}
        for name in self.coders if names is None else names:
            coder = self.coders[name]
            source = attributes if coder.spec.origin == "attributes" else features
            key = coder.spec.key
            out[name] = coder.codes([None if values is None else values.get(key) for values in source])
        return out

    def wire(self, codes: Mapping[str, IntArray]) -> dict[str, dict[str, Any]]:
        """Codes as an outcomes record carries them: base64 uint16 plus the labels in use."""
        return {name: {"codes": base64.b64encode(np.asarray(c, dtype=np.uint16).tobytes()).decode("ascii"),
                       "labels": {str(code): self.coders[name].label(code) for code in np.unique(c).tolist()}}
                for name, c in codes.items()}


def decode_wire(raw: Any, events: int) -> dict[str, tuple[IntArray, dict[int, str]]]:
    """A record's segments as (codes, labels by code); ValueError when they do not fit ``events``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("segments must be an object")
    out = {}
    for name, item in raw.items():
        codes = np.frombuffer(base64.b64decode(str(item["codes"]), validate=True), dtype=np.uint16)
        labels = {int(code): str(label) for code, label in dict(item["labels"]).items()}
        if codes.size != events or not set(np.unique(codes).tolist()) <= set(labels):
            raise ValueError(f"segment {name!r}: {codes.size} codes for {events} events, or a code "
                             f"without a label")
        out[str(name)] = (codes.astype(np.int64), labels)
    return out


class GroupIndex:
    """The receiving side's codes of one segment, found by the labels a record carries."""

    def __init__(self, spec: SegmentSpec) -> None:
        self.coder = SegmentCoder(spec)

    @property
    def labels(self) -> tuple[str, ...]:
        """The label of every code (declared segments: all of them; learnt slots show as ``other``)."""
        return tuple(self.coder.label(code) if self._known(code) else OTHER
                     for code in range(self.coder.n_codes))

    def _known(self, code: int) -> bool:
        return code >= self.coder.other or code < len(self.coder.labels) - 2

    def local(self, codes: IntArray, labels: Mapping[int, str]) -> IntArray:
        """``codes`` (with their ``labels``) as this side's codes."""
        table = np.zeros(max(labels, default=0) + 1, dtype=np.int64)
        for code, label in labels.items():
            table[code] = self._code(label)
        return table[codes]

    def _code(self, label: str) -> int:
        spec = self.coder.spec
        if label == OTHER:
            return self.coder.other
        if label == MISSING:
            return self.coder.missing
        if spec.declared:
            return spec.labels.index(label) if label in spec.labels else self.coder.other
        return int(self.coder.codes([label])[0])
