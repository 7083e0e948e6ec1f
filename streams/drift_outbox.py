"""Count deltas on their way from a scoring worker to the monitor agent.

Each worker bins its batches into the reference profile's layout (cheap: one kernel call per
batch) and adds the counts up here; every ``drift_flush_ms`` the sums go to the drift-counts
topic, keyed by model, so one monitor agent sees the deltas of every worker and partition for a
model and judges drift on their sum. Counts merge by addition, so neither the flush boundaries
nor the number of workers changes what the monitor sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

#: Version of the count-delta message layout.
DELTA_FORMAT = 1


@dataclass
class _Pending:
    counts: npt.NDArray[np.int64]
    events: int = 0
    scores: list[npt.NDArray[np.float64]] = field(default_factory=list)


@dataclass
class _ScoreChunks:
    """Scores left over from the last drain, short of a whole chunk; they open the next one."""

    carry: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    def means(self, scores: list[npt.NDArray[np.float64]], size: int) -> npt.NDArray[np.float64]:
        pending = np.concatenate([self.carry, *scores])
        whole = len(pending) - len(pending) % size
        self.carry = pending[whole:]
        means: npt.NDArray[np.float64] = pending[:whole].reshape(-1, size).mean(axis=1)
        return means


class DriftOutbox:
    """Accumulates per-model count deltas and drains them as drift-counts records."""

    def __init__(self, worker: str, flush_interval_s: float, *, score_chunk: int = 20,
                 max_events: int = 50_000) -> None:
        self.worker = worker
        self.flush_interval_s = flush_interval_s
        #: River detectors on the score see means of this many scores: 1/score_chunk of the data
        #: to ship, and means of several workers' chunks still form one meaningful stream.
        self.score_chunk = score_chunk
        #: Bounds a record's size (and the window stretch of one delta) at very high rates.
        self.max_events = max_events
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._chunks: dict[tuple[str, int], _ScoreChunks] = {}
        self._last_flush = time.monotonic()
        self._sequence = 0

    def add(self, model: str, version: int, counts: npt.NDArray[np.int64],
            scores: npt.NDArray[np.float64]) -> None:
        pending = self._pending.get((model, version))
        if pending is None:
            pending = self._pending[model, version] = _Pending(np.zeros_like(counts))
        pending.counts += counts
        pending.events += len(scores)
        pending.scores.append(scores)

    def due(self) -> bool:
        if not self._pending:
            return False
        if any(p.events >= self.max_events for p in self._pending.values()):
            return True
        return time.monotonic() - self._last_flush >= self.flush_interval_s

    def drain(self) -> list[tuple[bytes, bytes]]:
        """(key, value) records of everything accumulated since the last drain."""
        records = [(model.encode(), self._message(model, version, pending))
                   for (model, version), pending in self._pending.items() if pending.events]
        self._pending.clear()
        self._last_flush = time.monotonic()
        return records

    def _message(self, model: str, version: int, pending: _Pending) -> bytes:
        self._sequence += 1
        message: dict[str, Any] = {
            "format": DELTA_FORMAT, "model": model, "version": version, "worker": self.worker,
            "seq": self._sequence, "events": pending.events, "counts": pending.counts,
            "score_chunk": self.score_chunk,
            "score_means": self._chunks.setdefault((model, version), _ScoreChunks()).means(
                pending.scores, self.score_chunk),
        }
        return orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY)
