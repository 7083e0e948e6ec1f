"""Bin layouts: quantile edges of a reference sample, and the bins a drift statistic compares.

A numeric feature's edges are its reference minimum, interior quantile edges, and the float just
above its maximum, so the layout of ``ext.bin_numeric`` reads::

    underflow (below the reference range) | interior bins | overflow (above it) | missing

Interior edges are the deduplicated ``1/bins .. (bins-1)/bins`` quantiles; a feature with few
distinct values (counts, flags) also gets an edge at each distinct value, so that an atom such as
"96 % zeros" does not swallow the whole range. Edges that would leave an interior bin with less
than ``min_share`` of the reference are dropped.

A drift statistic then compares the *shape* of the present values on coarser bins
(`shape_groups`): the out-of-range bins fold into their neighbours, adjacent numeric bins or rare
categories merge until each statistic bin expects enough events in a window, and the missing and
unseen ("other") bins are left out -- the data-quality tests watch those. Small expected counts
are what break both PSI and its χ² tail model: a bin expecting 10 events in a window is empty
once in 22,000 windows, and that alone adds ``10 * ln(p / eps)``, about 60, to ``n * PSI``, more
than a calibrated threshold.

Examples
--------
>>> import numpy as np
>>> edges = quantile_edges(np.arange(100.0), bins=4)
>>> edges[:-1], edges[-1] > 99.0
((0.0, 24.0, 49.0, 74.0), True)
>>> quantile_edges(np.array([0.0] * 96 + [1.0] * 4), bins=10)[:-1]
(0.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Features with at most this many distinct values per bin get an edge at every distinct value.
_DISTINCT_PER_BIN = 2


def quantile_edges(values: npt.NDArray[np.float64], *, bins: int = 10,
                   min_share: float = 0.01) -> tuple[float, ...]:
    """Edges of one numeric feature from its reference values (NaN ignored).

    Parameters
    ----------
    values
        The reference sample of the feature; NaN counts as missing and is left out.
    bins
        Target number of interior bins (equal reference shares for a continuous feature).
    min_share
        Smallest reference share an interior bin may hold.

    Returns
    -------
    tuple of float
        ``()`` when no value is present; otherwise strictly increasing finite edges, the first
        the reference minimum and the last just above the maximum. A constant feature gets
        ``(c, nextafter(c))``: one interior bin, and any other value is out of range.
    """
    present = np.sort(values[~np.isnan(values)])
    if present.size == 0:
        return ()
    low, high = float(present[0]), float(present[-1])
    candidates = _candidates(present, bins)
    candidates = candidates[(candidates > low) & (candidates <= high)]
    counts = np.diff(np.searchsorted(present, candidates, side="left"), prepend=0, append=present.size)
    groups = merge_adjacent(counts, min_share * present.size)
    # A candidate edge survives when the bins on its two sides landed in different groups.
    kept = [float(e) for e, a, b in zip(candidates, groups[:-1], groups[1:], strict=True) if a != b]
    return (low, *kept, math.nextafter(high, math.inf))


def _candidates(present: npt.NDArray[np.float64], bins: int) -> npt.NDArray[np.float64]:
    levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    # "lower" keeps edges on observed values, so an atom sits at the left end of its own bin.
    quantiles = np.quantile(present, levels, method="lower")
    distinct = np.unique(present)
    if distinct.size <= _DISTINCT_PER_BIN * bins:
        quantiles = np.concatenate([quantiles, distinct])
    return np.asarray(np.unique(quantiles), dtype=np.float64)


def merge_adjacent(counts: npt.ArrayLike, min_count: float) -> tuple[int, ...]:
    """Group consecutive bins, left to right, so that every group holds at least ``min_count``.

    A group closes once it holds ``min_count`` and the bins right of it hold as much again; the
    remainder joins the last group. Returns the group of each bin, ``0 .. G-1``.

    >>> merge_adjacent([10, 1, 1, 10, 2], 5)
    (0, 1, 1, 1, 1)
    >>> merge_adjacent([0, 0], 1)
    (0, 0)
    """
    sizes = np.asarray(counts, dtype=np.float64)
    total = float(sizes.sum())
    groups: list[int] = []
    group = held = seen = 0.0
    for size in sizes.tolist():
        if held >= min_count and total - seen >= min_count:
            group, held = group + 1, 0.0
        groups.append(int(group))
        held += size
        seen += size
    return tuple(groups)


def pool_rare(counts: npt.ArrayLike, min_share: float) -> tuple[int, ...]:
    """Group unordered categories: each common one alone, the rare ones (``< min_share``) together.

    The pool joins the smallest common category if it is itself below ``min_share``.

    >>> pool_rare([72, 12, 6, 5, 3, 2], 0.05)
    (0, 1, 2, 3, 4, 4)
    >>> pool_rare([50, 46, 4], 0.05)
    (0, 1, 1)
    """
    sizes = np.asarray(counts, dtype=np.float64)
    total = float(sizes.sum())
    shares = sizes / total if total > 0 else np.zeros_like(sizes)
    common = [i for i in range(sizes.size) if shares[i] >= min_share]
    groups = [len(common)] * sizes.size
    for g, i in enumerate(common):
        groups[i] = g
    rare = [i for i in range(sizes.size) if shares[i] < min_share]
    if rare and common and shares[rare].sum() < min_share:
        smallest = min(common, key=lambda i: (shares[i], i))
        for i in rare:
            groups[i] = groups[smallest]
    return tuple(groups)


def shape_groups(kind: str, counts: Sequence[int], min_share: float) -> tuple[int, ...]:
    """Statistic bin of each stored bin of one feature (``-1``: left out of the statistic).

    Parameters
    ----------
    kind
        ``"numeric"`` (layout: underflow, interior..., overflow, missing) or ``"categorical"``
        (categories..., other, missing).
    counts
        The feature's reference counts in that layout.
    min_share
        Smallest share of the present reference values a statistic bin may hold.

    Examples
    --------
    >>> shape_groups("numeric", [0, 30, 30, 2, 38, 0, 5], 0.05)
    (0, 0, 1, 2, 2, 2, -1)
    >>> shape_groups("categorical", [60, 37, 3, 4, 9], 0.05)
    (0, 1, 1, -1, -1)
    """
    if kind == "categorical":
        return (*pool_rare(counts[:-2], min_share), -1, -1)
    if len(counts) <= 2:  # no present reference values: one bin, never drifts
        return (0, -1)
    interior = np.asarray(counts[1:-2], dtype=np.float64)
    merged = merge_adjacent(interior, min_share * float(interior.sum()))
    return (merged[0], *merged, merged[-1], -1)
