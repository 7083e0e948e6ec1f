"""Repeats of a benchmark: how their numbers are summarised.

One sample per mode cannot tell a 10% regression from a neighbour's burst on a shared machine, so
every mode runs in ``repeat`` rounds, and within a round the modes take turns in short slices
(``streams.bench.slices``): a slow minute then lands on every mode alike. Each figure is
reported as the median of its repeats with their spread (min, max), and the repeats themselves are
kept. Ratios between modes are taken within a round (the full worker of round 2 over the raw
client of round 2) before the median, so the pairs share their minute.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def spread(values: Iterable[float | None]) -> tuple[float | None, list[float] | None]:
    """The median of the measured values and their ``[min, max]`` (None, None when none were)."""
    measured = [v for v in values if v is not None]
    if not measured:
        return None, None
    return statistics.median(measured), [min(measured), max(measured)]


def summarise(repeats: Sequence[Mapping[str, Any]], keep: Sequence[str] = ()) -> dict[str, Any]:
    """One dict for several repeats of the same measurement.

    Every numeric field becomes its median, with ``spread[field] = [min, max]``; fields named in
    ``keep`` are copied from the first repeat (they are the same in each: a load's percentage);
    ``repeats`` holds the repeats as they were. Non-numeric fields other than ``keep`` are left to
    the repeats.
    """
    summary: dict[str, Any] = {name: repeats[0][name] for name in keep} if repeats else {}
    ranges: dict[str, list[float] | None] = {}
    for name in _numeric_fields(repeats, keep):
        summary[name], ranges[name] = spread(r.get(name) for r in repeats)
    summary["spread"] = ranges
    summary["repeats"] = [dict(r) for r in repeats]
    return summary


def _numeric_fields(repeats: Sequence[Mapping[str, Any]], keep: Sequence[str]) -> list[str]:
    """Numeric fields in first-seen order (a field may be None in some repeats)."""
    names: dict[str, None] = {}
    for record in repeats:
        for name, value in record.items():
            if name not in keep and isinstance(value, int | float) and not isinstance(value, bool):
                names.setdefault(name)
    return list(names)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator
