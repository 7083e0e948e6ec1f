"""Binary predictions on their way from a scoring worker to the performance agent.

Estimated performance (CBPE) and the prediction side of fairness (demographic parity, disparate
impact) are judged on predictions, before labels arrive. Judging them on each worker would raise
one alert per worker for the same dedup key and judge windows of a worker's share only, so each
worker ships, every ``drift_flush_ms``, what those judges need of every prediction -- its score,
its predicted class and the group code of every sensitive segment -- to the outcomes topic, keyed
by model, where the performance agent that owns the model judges the whole stream (as the monitor
agent judges the drift codes of every worker). About 11 bytes an event before base64.

Record (JSON, on the outcomes topic beside the join's outcomes)::

    {"kind": "predictions", "model": str, "version": int, "variant": str, "events": N,
     "scores": base64 float64[N], "y_pred": base64 uint8[N],
     "segments": {name: {"codes": base64 uint16[N], "labels": {code: label}}}}

Every segment (not only the sensitive ones) is also counted here by group and predicted class for
``driftline_segment_predictions_total``: counters add up across workers in Prometheus.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from driftline.models.card import ModelCard
from driftline.models.runtime import Prediction
from driftline.streams.drift_outbox import flush_due
from driftline.streams.segments import CardSegments, Values, decode_wire

log = logging.getLogger(__name__)

KIND = "predictions"
#: Events per record: about 300 kB of JSON with two segments, under Kafka's 1 MB default.
EVENTS_PER_RECORD = 20_000

#: (model, version, segment, group label, predicted class) → predictions.
SegmentCounts = Counter[tuple[str, int, str, str, int]]


@dataclass
class _Pending:
    scores: list[npt.NDArray[np.float64]] = field(default_factory=list)
    y_pred: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    codes: dict[str, list[npt.NDArray[np.int64]]] = field(default_factory=dict)
    events: int = 0


class PredictionOutbox:
    """Accumulates binary predictions per model version and variant; drains them as records."""

    def __init__(self, flush_interval_s: float, *, max_events: int = 50_000) -> None:
        self.flush_interval_s = flush_interval_s
        self.max_events = max_events
        self._segments: dict[tuple[str, int], CardSegments] = {}
        self._pending: dict[tuple[str, int, str], _Pending] = {}
        self._counts: SegmentCounts = Counter()
        self._last_flush = time.monotonic()
        self._said: set[tuple[str, int]] = set()

    def add(self, card: ModelCard, version: int, variant: str, *, attributes: Sequence[Values],
            features: Sequence[Values], prediction: Prediction) -> None:
        """Keep one answered group of a batch (nothing for a model that is not binary)."""
        if card.output.task != "binary":
            self._say_once(card, version)
            return
        segments = self._segments.get((card.name, version))
        if segments is None:
            segments = self._segments[card.name, version] = CardSegments(card.segments)
        y_pred = _predicted(prediction)
        codes = segments.codes(attributes, features)
        self._count(card.name, version, segments, codes, y_pred)
        pending = self._pending.setdefault((card.name, version, variant), _Pending())
        pending.scores.append(prediction.scores)
        pending.y_pred.append(y_pred)
        for name in segments.sensitive:
            pending.codes.setdefault(name, []).append(codes[name])
        pending.events += y_pred.size

    def _say_once(self, card: ModelCard, version: int) -> None:
        if (card.name, version) not in self._said:
            self._said.add((card.name, version))
            log.info("no estimated performance or fairness for %s v%d: its task is %s, not binary",
                     card.name, version, card.output.task)

    def _count(self, model: str, version: int, segments: CardSegments, codes: dict[str, Any],
               y_pred: npt.NDArray[np.uint8]) -> None:
        for name, c in codes.items():
            coder = segments.coders[name]
            cells = np.bincount(2 * c + y_pred, minlength=2 * coder.n_codes)
            for cell in np.flatnonzero(cells).tolist():
                self._counts[model, version, name, coder.label(cell // 2), cell % 2] += int(cells[cell])

    def take_counts(self) -> SegmentCounts:
        """Predictions by segment group and class since the last call (the metrics' increments)."""
        counts, self._counts = self._counts, Counter()
        return counts

    def due(self) -> bool:
        return flush_due([p.events for p in self._pending.values()], max_events=self.max_events,
                         last_flush=self._last_flush, interval_s=self.flush_interval_s)

    def drain(self) -> list[tuple[bytes, bytes]]:
        """(key, value) records of everything kept since the last drain, in scoring order."""
        records = [(key[0].encode(), value) for key, pending in self._pending.items() if pending.events
                   for value in self._records(*key, pending)]
        self._pending.clear()
        self._last_flush = time.monotonic()
        return records

    def _records(self, model: str, version: int, variant: str, pending: _Pending) -> list[bytes]:
        segments = self._segments[model, version]
        scores, y_pred = np.concatenate(pending.scores), np.concatenate(pending.y_pred)
        codes = {name: np.concatenate(parts) for name, parts in pending.codes.items()}
        records = []
        for start in range(0, y_pred.size, EVENTS_PER_RECORD):
            part = slice(start, start + EVENTS_PER_RECORD)
            records.append(orjson.dumps({
                "kind": KIND, "model": model, "version": version, "variant": variant,
                "events": int(y_pred[part].size), "scores": _b64(scores[part].astype(np.float64)),
                "y_pred": _b64(y_pred[part]),
                "segments": segments.wire({name: c[part] for name, c in codes.items()})}))
        return records


def _predicted(prediction: Prediction) -> npt.NDArray[np.uint8]:
    """The predicted class (1 positive), as the join reports it: the graph's label when it is a
    number, else the score's side of 0.5."""
    labels = prediction.labels
    positive = labels == 1 if labels is not None and labels.dtype.kind in "biu" else prediction.scores >= 0.5
    return np.asarray(positive, dtype=np.uint8)


def _b64(values: npt.NDArray[Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


@dataclass(frozen=True)
class PredictionBatch:
    """A decoded predictions record."""

    model: str
    version: int
    variant: str
    scores: npt.NDArray[np.float64]
    y_pred: npt.NDArray[np.uint8]
    segments: dict[str, tuple[npt.NDArray[np.int64], dict[int, str]]]


def decode_predictions(raw: dict[str, Any]) -> PredictionBatch:
    """A predictions record (already JSON-decoded); ValueError or KeyError when it is malformed."""
    events = int(raw["events"])
    scores = np.frombuffer(base64.b64decode(str(raw["scores"]), validate=True), dtype=np.float64)
    y_pred = np.frombuffer(base64.b64decode(str(raw["y_pred"]), validate=True), dtype=np.uint8)
    if scores.size != events or y_pred.size != events:
        raise ValueError(f"{scores.size} scores and {y_pred.size} classes for {events} events")
    return PredictionBatch(str(raw["model"]), int(raw["version"]), str(raw["variant"]), scores, y_pred,
                           decode_wire(raw.get("segments"), events))
