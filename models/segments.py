"""Segments a model card declares: groups of events whose metrics are reported (and compared) apart.

A card's ``segments`` list names attributes to slice the monitored metrics by::

    "segments": [
        {"name": "region", "source": "attributes.region", "sensitive": true,
         "values": ["north", "south", "east", "west"]},
        {"name": "device", "source": "attributes.device", "max_values": 10},
        {"name": "age_band", "source": "features.age", "buckets": [18, 30, 50, 70], "sensitive": true}
    ]

``source`` reads the event's ``attributes`` object or one of the card's features. A numeric
source is cut at ``buckets`` (``< 18``, ``18-30``, ..., ``>= 70``). A categorical one reports its
``values`` when declared (anything else is ``other``), otherwise the first ``max_values`` values
seen, then ``other``: label sets stay bounded. A missing value is ``missing``.

A segment marked ``sensitive`` is judged for fairness, and its raw values must never reach a log,
an alert or a metric label. So it reports only names the card author chose to publish: it needs
``values`` or ``buckets``; an undeclared raw value becomes ``other`` and is not echoed anywhere.

Examples
--------
>>> spec = SegmentSpec.from_dict({"name": "age_band", "source": "features.age",
...                               "buckets": [18, 30, 50], "sensitive": True}, index=0)
>>> spec.origin, spec.key, spec.labels
('features', 'age', ('<18', '18-30', '30-50', '>=50', 'other', 'missing'))
>>> try:
...     SegmentSpec.from_dict({"name": "region", "source": "attributes.region", "sensitive": True}, index=2)
... except CardError as error:
...     print(error.field)
segments[2].values
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from driftline.models.errors import CardError

Origin = Literal["attributes", "features"]
#: Label of a value beyond the declared ones or the cardinality bound.
OTHER = "other"
#: Label of an event without the value.
MISSING = "missing"
#: Default bound on the values an undeclared categorical segment reports.
MAX_VALUES = 20

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_FIELDS = frozenset({"name", "source", "sensitive", "buckets", "values", "max_values"})


@dataclass(frozen=True)
class SegmentSpec:
    """One declared segment: where its value comes from and how values become labels."""

    name: str
    source: str
    sensitive: bool = False
    buckets: tuple[float, ...] = ()
    values: tuple[str, ...] = ()
    max_values: int = MAX_VALUES

    @property
    def origin(self) -> Origin:
        return "features" if self.source.startswith("features.") else "attributes"

    @property
    def key(self) -> str:
        """The attribute or feature name the value is read from."""
        return self.source.partition(".")[2]

    @property
    def declared(self) -> bool:
        """Whether every label is known from the card (buckets or values)."""
        return bool(self.buckets or self.values)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of a declared segment, ``other`` and ``missing`` last (empty if undeclared)."""
        if self.buckets:
            e = [f"{x:g}" for x in self.buckets]
            inner = tuple(f"{a}-{b}" for a, b in itertools.pairwise(e))
            return (f"<{e[0]}", *inner, f">={e[-1]}", OTHER, MISSING)
        return (*self.values, OTHER, MISSING) if self.values else ()

    @classmethod
    def from_dict(cls, raw: Any, *, index: int) -> SegmentSpec:
        """Parse one entry of a card's ``segments``; a mistake is a `CardError` naming the field."""
        where = f"segments[{index}]"
        if not isinstance(raw, dict):
            raise CardError(f"{where} must be an object like {_EXAMPLE}, not {raw!r}", field=where)
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise CardError(f"{where}.{unknown[0]} is not a segment field (allowed: {sorted(_FIELDS)})",
                            field=f"{where}.{unknown[0]}")
        spec = cls(name=_name(raw.get("name"), where), source=_source(raw.get("source"), where),
                   sensitive=_flag(raw.get("sensitive", False), where),
                   buckets=_buckets(raw.get("buckets", []), where),
                   values=_values(raw.get("values", []), where),
                   max_values=_max_values(raw.get("max_values", MAX_VALUES), where))
        spec.check(where)
        return spec

    def check(self, where: str) -> None:
        """Rules across fields (also run by `ModelCard` against its features)."""
        if self.buckets and self.values:
            raise CardError(f"{where}: buckets cut numbers and values name categories; declare one",
                            field=f"{where}.values")
        if self.sensitive and not self.declared:
            raise CardError(f"{where}.values: a sensitive segment publishes only declared names: declare "
                            f"its values (e.g. \"values\": [\"north\", \"south\"]) or buckets, so no raw "
                            f"value reaches a log, an alert or a metric label", field=f"{where}.values")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source, "sensitive": self.sensitive}
        if self.buckets:
            out["buckets"] = list(self.buckets)
        if self.values:
            out["values"] = list(self.values)
        if not self.declared:
            out["max_values"] = self.max_values
        return out


_EXAMPLE = '{"name": "region", "source": "attributes.region", "values": ["north", "south"]}'


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise CardError(f"{where}.name must be a lower-case identifier such as \"region\", not {value!r}",
                        field=f"{where}.name")
    return value


def _source(value: Any, where: str) -> str:
    origin, _, key = value.partition(".") if isinstance(value, str) else ("", "", "")
    if origin not in ("attributes", "features") or not key:
        raise CardError(f"{where}.source must be \"attributes.<key>\" or \"features.<feature>\", "
                        f"not {value!r}", field=f"{where}.source")
    return str(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CardError(f"{where}.sensitive must be true or false, not {value!r}", field=f"{where}.sensitive")
    return value


def _buckets(value: Any, where: str) -> tuple[float, ...]:
    ok = isinstance(value, list) and all(isinstance(x, int | float) and not isinstance(x, bool)
                                         and math.isfinite(x) for x in value)
    edges = tuple(float(x) for x in value) if ok else ()
    if not ok or any(b <= a for a, b in itertools.pairwise(edges)):
        raise CardError(f"{where}.buckets must be increasing finite numbers such as [18, 30, 50], "
                        f"not {value!r}", field=f"{where}.buckets")
    return edges


def _values(value: Any, where: str) -> tuple[str, ...]:
    ok = isinstance(value, list) and all(isinstance(x, str) and x for x in value)
    if not ok or len(set(value)) != len(value) or {OTHER, MISSING} & set(value):
        raise CardError(f"{where}.values must be distinct non-empty strings (not \"{OTHER}\" or "
                        f"\"{MISSING}\"), not {value!r}", field=f"{where}.values")
    return tuple(value)


def _max_values(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CardError(f"{where}.max_values must be a positive integer, not {value!r}",
                        field=f"{where}.max_values")
    return value


def parse_segments(raw: Any) -> tuple[SegmentSpec, ...]:
    """A card's ``segments`` list (absent: none); names must be unique."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CardError(f"segments must be a list like [{_EXAMPLE}], not {raw!r}", field="segments")
    specs = tuple(SegmentSpec.from_dict(item, index=i) for i, item in enumerate(raw))
    names = [spec.name for spec in specs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise CardError(f"segments[{i}].name {name!r} is declared twice", field=f"segments[{i}].name")
    return specs
