"""River's own drift detectors, fed batch by batch on derived streams.

`RiverAdapter` wraps one River detector -- ADWIN, PageHinkley or KSWIN on a numeric stream (the
prediction score, a feature's batch means), or DDM, EDDM, HDDMA, HDDMW or FHDDM on a 0/1 error
stream -- without re-implementing it: `RiverAdapter.update_many` feeds a batch value by value,
records the stream index of every detection, and exposes River's ``drift_detected`` /
``warning_detected`` contract for the batch.

Per-value River costs add up on a hot path (ADWIN about 235 ns a value, PageHinkley 745 ns,
HDDMA 5 µs, KSWIN 300 µs), so numeric detectors can be fed chunk means instead:
``chunk_size=k`` averages every ``k`` consecutive values (across batch boundaries, so results
do not depend on how the stream was batched) and feeds the mean, at a ``k``-fold lower cost and
with a ``sqrt(k)``-fold smaller noise, which suits mean-shift detectors. Binary detectors need
the 0/1 values themselves and refuse chunking.

River 0.26 quirks handled here: ``from river.drift import *`` fails (stale ``__all__``), so
names are imported explicitly; HDDM_A/HDDM_W are ``HDDMA``/``HDDMW``; and FHDDM watches the
share of *correct* predictions (it fires when its input's mean drops) whereas DDM, EDDM and
HDDM take 1 for an error: the adapter's binary input is always 1 = error, and it is inverted for
FHDDM.

References
----------
Bifet, A. and Gavaldà, R. (2007). Learning from time-changing data with adaptive windowing.
*Proceedings of the 2007 SIAM International Conference on Data Mining*, 443-448.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> adapter = RiverSpec("ADWIN").build()
>>> for start in range(0, 4000, 500):
...     adapter.update_many(rng.normal(0.0 if start < 2000 else 0.5, 1.0, 500))
>>> adapter.detections
(2111,)
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes ``import <name>`` fail as if the package were not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == self.name:
            raise ImportError(f"{fullname} is not imported while river loads (driftline)")


@contextlib.contextmanager
def _without(name: str) -> Iterator[None]:
    """Refuse a package's first import for the duration (an import done already is unaffected)."""
    refuse = _Refuse(name)
    sys.meta_path.insert(0, refuse)
    try:
        yield
    finally:
        sys.meta_path.remove(refuse)


# river.drift imports its datasets, whose stream helpers import scikit-learn when it is installed
# (the train extras): 153 MB of resident memory in every worker, for a dataset loader nothing here
# calls. River guards that import, so refusing it changes nothing else.
with _without("sklearn"):
    from river.drift import ADWIN, KSWIN, PageHinkley
    from river.drift.binary import DDM, EDDM, FHDDM, HDDMA, HDDMW

FACTORIES: Mapping[str, Callable[..., Any]] = {
    "ADWIN": ADWIN, "PageHinkley": PageHinkley, "KSWIN": KSWIN,
    "DDM": DDM, "EDDM": EDDM, "HDDMA": HDDMA, "HDDMW": HDDMW, "FHDDM": FHDDM,
}
#: Detectors of a 0/1 stream (1 = error).
BINARY = frozenset({"DDM", "EDDM", "HDDMA", "HDDMW", "FHDDM"})
#: Binary detectors that watch the share of correct predictions rather than errors.
_COUNTS_CORRECT = frozenset({"FHDDM"})


class RiverAdapter:
    """Feeds a River drift detector from batches, recording detection indices.

    Parameters
    ----------
    detector
        A River detector instance, used as a template: the adapter runs a clone of it.
    chunk_size
        Feed the mean of every ``chunk_size`` values (numeric detectors only).
    name
        Name in alerts and metrics; defaults to the detector's class name.
    """

    def __init__(self, detector: Any, *, chunk_size: int = 1, name: str | None = None) -> None:
        kind = type(detector).__name__
        if chunk_size < 1 or (chunk_size > 1 and kind in BINARY):
            raise ValueError(f"chunk_size must be 1 for the binary detector {kind}, and positive")
        self.detector = detector
        self.chunk_size = chunk_size
        self.name = name or kind
        self._binary = kind in BINARY
        self._invert = kind in _COUNTS_CORRECT
        self._reset()

    def _reset(self) -> None:
        self._detector = self.detector.clone()
        self._pending = np.empty(0, dtype=np.float64)
        self._n_seen = 0
        self._detections: list[int] = []
        self._drift_detected = False
        self._warning_detected = False

    @property
    def drift_detected(self) -> bool:
        """The last update detected drift at least once."""
        return self._drift_detected

    @property
    def warning_detected(self) -> bool:
        """The last update raised a warning (detectors that have one), and no drift."""
        return self._warning_detected

    @property
    def detections(self) -> tuple[int, ...]:
        """0-based stream index of the value (last of its chunk) at each detection."""
        return tuple(self._detections)

    @property
    def n_seen(self) -> int:
        """Values received so far (including a chunk not yet complete)."""
        return self._n_seen

    def update(self, x: float) -> None:
        """Feed one value (River's single-value contract)."""
        self.update_many(np.array([x], dtype=np.float64))

    def update_many(self, values: npt.ArrayLike) -> None:
        """Feed a batch of values in order."""
        batch = np.asarray(values, dtype=np.float64).reshape(-1)
        first = self._n_seen - self._pending.size  # stream index of the first value to feed
        self._n_seen += batch.size
        self._drift_detected = self._warning_detected = False
        feed, last = self._chunks(batch, first)
        self._feed(feed, last)

    def _chunks(self, batch: npt.NDArray[np.float64], first: int) -> tuple[list[Any], list[int]]:
        """The values River gets, and the stream index of the last raw value behind each."""
        k = self.chunk_size
        if k == 1:
            values: list[Any] = batch.tolist()
            if self._binary:
                values = [(v == 0.0) if self._invert else (v != 0.0) for v in values]
            return values, list(range(first, first + batch.size))
        joined = np.concatenate([self._pending, batch])
        full = joined.size // k
        self._pending = joined[full * k:]
        means = joined[: full * k].reshape(full, k).mean(axis=1)
        return means.tolist(), [first + (j + 1) * k - 1 for j in range(full)]

    def _feed(self, values: list[Any], last: list[int]) -> None:
        detector = self._detector
        warned = False
        for value, index in zip(values, last, strict=True):
            detector.update(value)
            if detector.drift_detected:
                self._detections.append(index)
                self._drift_detected = True
            elif getattr(detector, "warning_detected", False):
                warned = True
        self._warning_detected = warned and not self._drift_detected


@dataclass(frozen=True)
class RiverSpec:
    """A River detector by name and parameters: settings-friendly, built into an adapter.

    >>> RiverSpec("PageHinkley", {"threshold": 80.0}, chunk_size=10).build().name
    'PageHinkley'
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    chunk_size: int = 1

    def build(self) -> RiverAdapter:
        if self.name not in FACTORIES:
            raise ValueError(f"unknown River detector {self.name!r}; known: {sorted(FACTORIES)}")
        return RiverAdapter(FACTORIES[self.name](**self.params), chunk_size=self.chunk_size, name=self.name)
