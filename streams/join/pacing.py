"""Letting labels catch up before predictions, when both inputs have a backlog.

When the join reads a backlog (after an outage, or preloaded topics), whichever input it reads
first is held as entries until the other arrives. Holding a prediction costs several times more
than holding a label (a pending entry carries the prediction with its features, ~700 bytes on the
demo model, against ~150 for a label), and a prediction that finds its label waiting is written
once (done) instead of twice (pending, then done). So, in the spirit of Kafka Streams' timestamp
synchronisation but one-sided, a predictions partition whose records are more than ``lead_ms``
ahead (by record timestamp) of the earliest labels partition that still has records to read
pauses until the labels catch up. Labels are never paused.

Why this never stalls: labels are always read; a labels partition with nothing left to read never
holds predictions back; and a pause that sees no progress for ``patience_s`` is lifted anyway.
In steady traffic, labels come long after their predictions and no labels partition lags, so
nothing is ever paused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import TopicPartition


class PredictionPacer:
    """Tracks the time reached on each partition and says which prediction partitions should wait."""

    def __init__(self, predictions_topic: str, *, lead_ms: int = 100, patience_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.predictions_topic = predictions_topic
        self.lead_ms = lead_ms
        self.patience_s = patience_s
        self._clock = clock
        self._time_ms: dict[TopicPartition, int] = {}
        self._next_offset: dict[TopicPartition, int] = {}
        self._progress_at = clock()

    def observe(self, tp: TopicPartition, records: list[Any]) -> None:
        """Records just processed from ``tp`` (in offset order)."""
        self._time_ms[tp] = records[-1].timestamp
        self._next_offset[tp] = records[-1].offset + 1
        self._progress_at = self._clock()

    def to_pause(self, owned: Iterable[TopicPartition],
                 end_offset: Callable[[TopicPartition], int | None]) -> set[TopicPartition]:
        """The prediction partitions to pause now (every other partition flows)."""
        if self._clock() - self._progress_at >= self.patience_s:
            return set()  # no progress at all: let everything flow
        seen = [tp for tp in owned if tp in self._time_ms]
        labels_behind = min((self._time_ms[tp] for tp in seen if tp.topic != self.predictions_topic
                             and (end_offset(tp) or 0) > self._next_offset[tp]), default=math.inf)
        return {tp for tp in seen if tp.topic == self.predictions_topic
                and self._time_ms[tp] > labels_behind + self.lead_ms}

    def forget(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self._time_ms.pop(tp, None)
            self._next_offset.pop(tp, None)
