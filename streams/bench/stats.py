"""The arithmetic of a benchmark: percentiles, rates between offset samples, pacing.

Pure functions, kept apart from the I/O so that what a number means can be checked by unit tests
rather than trusted: a rate is measured between two observations of the output topics (never from
process start), a crossing of the target count is interpolated between the two samples around it,
and a paced producer owes ``floor(rate * elapsed)`` events at any moment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """Outputs observed on the output topics (sum of end offsets) at a monotonic time."""

    at: float
    count: int


@dataclass(frozen=True, slots=True)
class Rate:
    """Events per second over a measured window, and the window itself."""

    eps: float
    seconds: float
    events: int


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    This is numpy's default ("linear") definition, so numbers agree with a notebook's. The input
    must be sorted ascending and non-empty; sorting once serves every percentile asked for.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p99, p99.9 and max of latencies in ms (all None when nothing was measured)."""
    if not latencies_ms:
        return {"p50_ms": None, "p99_ms": None, "p99_9_ms": None, "max_ms": None}
    ordered = sorted(latencies_ms)
    return {"p50_ms": percentile(ordered, 50.0), "p99_ms": percentile(ordered, 99.0),
            "p99_9_ms": percentile(ordered, 99.9), "max_ms": ordered[-1]}


def crossing_time(before: Sample, after: Sample, target: int) -> float:
    """When the count reached ``target``, interpolated linearly between two samples.

    Polling every 50 ms would otherwise add up to 50 ms to every window, 1 % of a 5 s run.
    """
    if after.count <= before.count or target <= before.count:
        return before.at if target <= before.count else after.at
    fraction = (min(target, after.count) - before.count) / (after.count - before.count)
    return before.at + fraction * (after.at - before.at)


class NoMeasurableWindowError(ValueError):
    """Every output was there by the first observation: there is no interval to time them over."""


def window_rate(first: Sample, before: Sample, after: Sample, target: int) -> Rate:
    """Rate from the first observed output to the ``target``-th, excluding start-up and joins.

    ``first`` is the first sample that saw any output; ``before``/``after`` bracket the crossing.
    When the first output and the crossing fall in the same poll (tiny runs), ``first`` is the
    last empty sample and the window starts there, which can only understate the rate.
    """
    end = crossing_time(before, after, target)
    events = target - first.count
    seconds = end - first.at
    if seconds <= 0.0 or events <= 0:
        raise NoMeasurableWindowError(
            f"no measurable window between {first} and {after} for {target} outputs")
    return Rate(eps=events / seconds, seconds=seconds, events=events)


def due_events(rate: float, elapsed: float, limit: int) -> int:
    """Events a producer pacing at ``rate`` per second should have sent after ``elapsed`` s."""
    if rate <= 0.0 or elapsed <= 0.0:
        return 0
    return min(limit, math.floor(rate * elapsed))


def pacing_limit(rate: float, seconds: float, max_events: int | None) -> int:
    """Events in one paced run: ``rate * seconds``, capped by ``max_events`` when given."""
    planned = math.floor(rate * seconds)
    return planned if max_events is None else min(planned, max_events)


def offered_loads(max_eps: float, load_percents: Sequence[int]) -> list[float]:
    """Offered rates (events/s) at each percentage of a measured maximum."""
    return [max_eps * pct / 100.0 for pct in load_percents]


def per_thousand(cpu_seconds: float, events: int) -> float:
    """CPU seconds per 1,000 events (the unit capacity planning multiplies by)."""
    if events <= 0:
        raise ValueError("CPU per event needs at least one event")
    return cpu_seconds * 1000.0 / events
