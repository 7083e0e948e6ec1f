"""The pure core of the scoring agent: a batch of raw records in, one output per record out.

No I/O happens here, so the "every consumed event ends as exactly one prediction or one
dead-letter record" rule is a property of one function that unit tests can check exhaustively.
Envelopes are decoded event by event; features are validated per model and batch, column by
column (per-value checks only where something is off, which is where reasons come from), and
scored in one ONNX Runtime call per model and batch, because per-row work is what caps throughput.
Valid rows are also binned for the drift monitors here, reusing the columns built for ONNX.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from detectors.binner import ProfileBinner
from detectors.reference import ReferenceProfile
from models.card import ModelCard
from models.errors import ModelError
from models.runtime import OnnxModel
from models.validation import FeatureValidator, Invalid
from streams.decoding import Event, decode_event
from streams.drift_outbox import DriftOutbox
from streams.outputs import ConsumedRecord, Output, dead_letter

__all__ = ["SCORING_FAILED", "UNKNOWN_MODEL", "BatchOutcome", "BatchScorer", "ConsumedRecord", "Output",
           "ServedModel"]

log = logging.getLogger(__name__)

UNKNOWN_MODEL: Final = "unknown_model"
SCORING_FAILED: Final = "scoring_failed"


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version, the validator built from its card, and its drift binner if any."""

    name: str
    version: int
    model: OnnxModel
    validator: FeatureValidator
    binner: ProfileBinner | None = None

    @classmethod
    def of(cls, model: OnnxModel, profile: ReferenceProfile | None = None) -> ServedModel:
        card: ModelCard = model.card
        binner = ProfileBinner(profile) if profile is not None else None
        return cls(card.name, int(card.version or 0), model, FeatureValidator(card), binner)


@dataclass
class BatchOutcome:
    outputs: list[Output]
    predictions_by_model: Counter[tuple[str, int]] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    unseen_categories: int = 0

    @property
    def predictions(self) -> int:
        return sum(self.predictions_by_model.values())


@dataclass(slots=True)  # one per event: a plain slotted init is the cheap one
class _Accepted:
    """An event whose envelope is sound, waiting for its model's batch validation."""

    index: int
    event: Event
    model: str


@dataclass(frozen=True, slots=True)
class _Batch:
    """One call's records, their output slots (filled out of order), outcome and clock reading."""

    records: Sequence[ConsumedRecord]
    slots: list[Output | None]
    outcome: BatchOutcome
    now_ms: float


class BatchScorer:
    """Scores batches of raw event records with the served models."""

    def __init__(self, models: Mapping[str, ServedModel], *, default_model: str | None,
                 predictions_topic: str, deadletter_topic: str, max_event_bytes: int,
                 deadletter_payload_max_bytes: int, drift: DriftOutbox | None = None,
                 echo_features: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.models = dict(models)
        self.default_model = default_model
        self.predictions_topic = predictions_topic
        self.deadletter_topic = deadletter_topic
        self.max_event_bytes = max_event_bytes
        self.deadletter_payload_max_bytes = deadletter_payload_max_bytes
        self.drift = drift
        #: Predictions carry the event's features when the label join needs them for training
        #: examples (the join reads predictions, never events).
        self.echo_features = echo_features
        self._clock = clock

    def score(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        batch = _Batch(records, [None] * len(records), BatchOutcome(outputs=[]), self._clock() * 1000.0)
        groups: dict[str, list[_Accepted]] = {}
        for index, record in enumerate(records):
            accepted = self._admit(index, record)
            if isinstance(accepted, Invalid):
                batch.slots[index] = self._dead_letter(record, accepted, batch.outcome)
            else:
                groups.setdefault(accepted.model, []).append(accepted)
        for name, accepted_rows in groups.items():
            self._score_group(self.models[name], accepted_rows, batch)
        outputs = [slot for slot in batch.slots if slot is not None]
        assert len(outputs) == len(records), "every record must yield exactly one output"
        batch.outcome.outputs = outputs
        return batch.outcome

    def _admit(self, index: int, record: ConsumedRecord) -> _Accepted | Invalid:
        """Decode the envelope and find the model; features are checked per model and batch."""
        event = decode_event(record.value, max_bytes=self.max_event_bytes)
        if isinstance(event, Invalid):
            return event
        name = event.model or self.default_model
        if not name or name not in self.models:
            return Invalid(UNKNOWN_MODEL, f"no served model {name!r}; serving {sorted(self.models)}"
                           if name else "the event names no model and no default model is set", "model")
        return _Accepted(index, event, name)

    def _score_group(self, served: ServedModel, rows: list[_Accepted], batch: _Batch) -> None:
        checked = served.validator.validate_batch([row.event.features for row in rows])
        for position, problem in checked.errors.items():
            index = rows[position].index
            batch.slots[index] = self._dead_letter(batch.records[index], problem, batch.outcome)
        rows = [row for row, ok in zip(rows, checked.valid.tolist(), strict=True) if ok]
        batch.outcome.unseen_categories += checked.unseen_categories
        if not rows:
            return
        try:
            prediction = served.model.predict(checked.columns)
        except ModelError as exc:
            log.error("model %s v%s failed on a batch of %d: %s", served.name, served.version, len(rows), exc)
            failure = Invalid(SCORING_FAILED, f"model {served.name} v{served.version} failed: {exc}", None)
            for row in rows:
                batch.slots[row.index] = self._dead_letter(batch.records[row.index], failure, batch.outcome)
            return
        self._predictions(served, rows, prediction.scores.tolist(), prediction.labels.tolist(), batch)
        if self.drift is not None and served.binner is not None:
            codes = served.binner.bin_codes(checked.columns, prediction.scores)
            self.drift.add(served.name, served.version, codes, prediction.scores)

    def _predictions(self, served: ServedModel, rows: list[_Accepted], scores: list[float],
                     labels: list[Any], batch: _Batch) -> None:
        now_ms, topic, dumps, echo = batch.now_ms, self.predictions_topic, orjson.dumps, self.echo_features
        for row, score, label in zip(rows, scores, labels, strict=True):
            event = row.event
            prediction = {
                "id": event.id, "ts": int(now_ms), "model": served.name, "version": served.version,
                "score": score, "label": label, "variant": "champion",
                "latency_ms": round(max(0.0, now_ms - batch.records[row.index].timestamp), 3),
                "event_ts": event.ts, "attributes": event.attributes,
            }
            if echo:
                prediction["features"] = event.features
            batch.slots[row.index] = Output(topic, event.id.encode(), dumps(prediction))
        batch.outcome.predictions_by_model[served.name, served.version] += len(rows)

    def _dead_letter(self, record: ConsumedRecord, reason: Invalid, outcome: BatchOutcome) -> Output:
        outcome.dead_letters[reason.code] += 1
        return dead_letter(self.deadletter_topic, record, reason,
                           payload_max_bytes=self.deadletter_payload_max_bytes, now_ms=self._clock() * 1000)
