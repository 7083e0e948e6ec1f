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
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import orjson

from driftline.detectors.binner import ProfileBinner
from driftline.detectors.reference import ReferenceProfile
from driftline.ext import json_rows
from driftline.models.card import ModelCard
from driftline.models.errors import ModelError
from driftline.models.runtime import OnnxModel, Prediction
from driftline.models.validation import FeatureValidator, Invalid
from driftline.streams.decoding import Event, decode_events
from driftline.streams.drift_outbox import DriftOutbox
from driftline.streams.outputs import ConsumedRecord, Output, answer_template, dead_letter
from driftline.streams.prediction_outbox import PredictionOutbox
from driftline.streams.rollout.guard import ServingGuard
from driftline.streams.rollout.health import VariantBatch
from driftline.streams.rollout.router import canary_mask

__all__ = ["SCORING_FAILED", "UNKNOWN_MODEL", "BatchOutcome", "BatchScorer", "ConsumedRecord", "Output",
           "Rollout", "ServedModel"]

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
    #: Whether the binner reads the validator's category codes: it does when the profile lists
    #: each feature's categories as the card does (a profile built from the card always does).
    binner_reads_codes: bool = False

    @classmethod
    def of(cls, model: OnnxModel, profile: ReferenceProfile | None = None) -> ServedModel:
        card: ModelCard = model.card
        binner = ProfileBinner(profile) if profile is not None else None
        reads_codes = binner is not None and binner.categories == {
            f.name: f.categories for f in card.features if f.type == "categorical"}
        return cls(card.name, int(card.version or 0), model, FeatureValidator(card), binner, reads_codes)


@dataclass(frozen=True)
class Rollout:
    """What serves beside a model's champion: a canary answering a share of its events (chosen by
    `streams.rollout.router`), and shadows scoring every event for the shadow topic only."""

    canary: ServedModel | None = None
    canary_share: float = 0.0
    shadows: tuple[ServedModel, ...] = ()

    @property
    def models(self) -> tuple[ServedModel, ...]:
        return tuple(m for m in (self.canary, *self.shadows) if m is not None)


@dataclass
class BatchOutcome:
    #: Exactly one output per consumed record: its prediction or its dead letter.
    outputs: list[Output]
    #: Predictions by (model, version, variant).
    predictions_by_model: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    unseen_categories: int = 0
    #: Shadow predictions (for the shadow topic; never an answer) and their count by (model, version).
    shadow_outputs: list[Output] = field(default_factory=list)
    shadow_predictions: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Alerts the batch caused (a circuit breaker opening or closing).
    alert_outputs: list[Output] = field(default_factory=list)
    #: How each (model, version, variant) fared in the batch, for the canary's health check.
    health: defaultdict[tuple[str, int, str], VariantBatch] = field(
        default_factory=lambda: defaultdict(VariantBatch))

    @property
    def predictions(self) -> int:
        return sum(self.predictions_by_model.values())

    @property
    def all_outputs(self) -> list[Output]:
        """What the batch publishes: its outputs, then its shadow predictions and alerts."""
        if not (self.shadow_outputs or self.alert_outputs):
            return self.outputs
        return self.outputs + self.shadow_outputs + self.alert_outputs


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
                 echo_features: bool = False, clock: Callable[[], float] = time.time,
                 shadow_topic: str = "shadow-predictions",
                 rollouts: Mapping[str, Rollout] | None = None, guard: ServingGuard | None = None,
                 predictions_out: PredictionOutbox | None = None) -> None:
        #: Each served model's champion, and what serves beside it.
        self.models = dict(models)
        self.rollouts = dict(rollouts or {})
        #: Time limit, breakers and fallbacks (by default: no limit, a breaker that never matters
        #: without a fallback, alerts to the default alerts topic).
        self.guard = guard or ServingGuard(timeout_s=None, failures_to_open=3, cooldown_s=30.0,
                                           alerts_topic="alerts", source="driftline/scoring")
        self.shadow_topic = shadow_topic
        self.default_model = default_model
        self.predictions_topic = predictions_topic
        self.deadletter_topic = deadletter_topic
        self.max_event_bytes = max_event_bytes
        self.deadletter_payload_max_bytes = deadletter_payload_max_bytes
        self.drift = drift
        #: Scores, classes and segments of binary answers, for estimated performance and fairness.
        self.predictions_out = predictions_out
        #: Predictions carry the event's features when the label join needs them for training
        #: examples (the join reads predictions, never events).
        self.echo_features = echo_features
        self._clock = clock

    def score(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        batch = _Batch(records, [None] * len(records), BatchOutcome(outputs=[]), self._clock() * 1000.0)
        groups: dict[str, list[_Accepted]] = {}
        events = decode_events([record.value for record in records], max_bytes=self.max_event_bytes)
        for index, event in enumerate(events):
            accepted = self._admit(index, event)
            if isinstance(accepted, Invalid):
                batch.slots[index] = self._dead_letter(records[index], accepted, batch.outcome)
            else:
                groups.setdefault(accepted.model, []).append(accepted)
        for name, accepted_rows in groups.items():
            self._score_model(name, accepted_rows, batch)
        outputs = [slot for slot in batch.slots if slot is not None]
        assert len(outputs) == len(records), "every record must yield exactly one output"
        batch.outcome.outputs = outputs
        return batch.outcome

    def _admit(self, index: int, event: Event | Invalid) -> _Accepted | Invalid:
        """Find a decoded event's model; features are checked per model and batch."""
        if isinstance(event, Invalid):
            return event
        name = event.model or self.default_model
        if not name or name not in self.models:
            return Invalid(UNKNOWN_MODEL, f"no served model {name!r}; serving {sorted(self.models)}"
                           if name else "the event names no model and no default model is set", "model")
        return _Accepted(index, event, name)

    def _score_model(self, name: str, rows: list[_Accepted], batch: _Batch) -> None:
        """Route the model's rows between champion and canary, score both, then the shadows."""
        rollout = self.rollouts.get(name)
        if rollout is None:
            self._score_group(self.models[name], rows, batch, "champion")
            return
        if rollout.canary is not None:
            to_canary = canary_mask([row.event.id.encode() for row in rows], rollout.canary_share).tolist()
            self._score_group(rollout.canary, [r for r, c in zip(rows, to_canary, strict=True) if c], batch,
                              "canary")
            self._score_group(self.models[name], [r for r, c in zip(rows, to_canary, strict=True) if not c],
                              batch, "champion")
        else:
            self._score_group(self.models[name], rows, batch, "champion")
        for shadow in rollout.shadows:
            self._score_shadow(shadow, rows, batch)

    def _score_shadow(self, served: ServedModel, rows: list[_Accepted], batch: _Batch) -> None:
        """Score every valid row with a shadow; nothing it does can change an answer or fail one."""
        checked = served.validator.validate_batch([row.event.features for row in rows])
        rows = [row for row, ok in zip(rows, checked.valid.tolist(), strict=True) if ok]
        if not rows:
            return
        try:
            prediction = served.model.predict(checked.columns, timeout_s=self.guard.timeout_s)
        except ModelError as exc:
            log.warning("shadow %s v%s failed on a batch of %d: %s", served.name, served.version, len(rows),
                        exc)
            return
        outputs = self._prediction_records(served, rows, prediction, batch, "shadow")
        batch.outcome.shadow_outputs += [Output(self.shadow_topic, key, value) for key, value, _ in outputs]
        batch.outcome.shadow_predictions[served.name, served.version] += len(rows)

    def _score_group(self, served: ServedModel, rows: list[_Accepted], batch: _Batch, variant: str) -> None:
        if not rows:
            return
        health = batch.outcome.health[served.name, served.version, variant]
        health.events += len(rows)
        checked = served.validator.validate_batch([row.event.features for row in rows])
        for position, problem in checked.errors.items():
            index = rows[position].index
            batch.slots[index] = self._dead_letter(batch.records[index], problem, batch.outcome)
        health.dead_letters += len(checked.errors)
        rows = [row for row, ok in zip(rows, checked.valid.tolist(), strict=True) if ok]
        batch.outcome.unseen_categories += checked.unseen_categories
        if not rows:
            return
        guard = self.guard if variant == "champion" else None
        if guard is not None and not guard.allows(served):
            self._fall_back(served, rows, batch, "its circuit breaker is open")
            return
        started = time.perf_counter()
        try:
            prediction = served.model.predict(checked.columns, timeout_s=self.guard.timeout_s)
        except ModelError as exc:
            health.failed += len(rows)
            log.error("model %s v%s failed on a batch of %d: %s", served.name, served.version, len(rows), exc)
            if variant == "canary":  # the champion answers for a failing canary
                self._score_group(self.models[served.name], rows, batch, "champion")
                return
            if guard is not None:
                batch.outcome.alert_outputs += guard.failed(served, str(exc))
            self._fall_back(served, rows, batch, f"failed: {exc}")
            return
        health.inference_ms.append((time.perf_counter() - started) * 1000)
        if guard is not None:
            batch.outcome.alert_outputs += guard.succeeded(served)
        self._answer(served, rows, prediction, batch, variant)
        if self.drift is not None and served.binner is not None:
            codes = served.binner.bin_codes(checked.columns, served.binner.monitored(prediction),
                                            checked.category_codes if served.binner_reads_codes else None)
            self.drift.add(served.name, served.version, codes, prediction.scores)

    def _fall_back(self, served: ServedModel, rows: list[_Accepted], batch: _Batch, why: str) -> None:
        """Answer ``rows`` with ``served``'s fallback; dead letters when its card declares none."""
        prediction = self.guard.fallback_prediction(served, len(rows))
        if prediction is not None:
            self._answer(served, rows, prediction, batch, "fallback")
            return
        failure = Invalid(SCORING_FAILED, f"model {served.name} v{served.version} {why}", None)
        for row in rows:
            batch.slots[row.index] = self._dead_letter(batch.records[row.index], failure, batch.outcome)

    def _answer(self, served: ServedModel, rows: list[_Accepted], prediction: Prediction, batch: _Batch,
                variant: str) -> None:
        for key, value, index in self._prediction_records(served, rows, prediction, batch, variant):
            batch.slots[index] = Output(self.predictions_topic, key, value)
        batch.outcome.predictions_by_model[served.name, served.version, variant] += len(rows)
        if self.predictions_out is not None and variant != "fallback":  # a fallback's score says nothing
            self.predictions_out.add(served.model.card, served.version, variant,
                                     attributes=[row.event.attributes for row in rows],
                                     features=[row.event.features for row in rows], prediction=prediction)

    def _prediction_records(self, served: ServedModel, rows: list[_Accepted], prediction: Prediction,
                            batch: _Batch, variant: str) -> list[tuple[bytes, bytes, int]]:
        """(key, value, record index) of each row's prediction by ``served`` as ``variant``.

        The members are those of the predictions topic's contract, in this order: ``id``, ``ts``,
        ``model``, ``version``, the answer, ``variant``, ``latency_ms``, ``event_ts``,
        ``attributes``, and ``features`` when they are echoed for the label join.
        """
        events = [row.event for row in rows]
        answer = answer_template(served.model.card.output, prediction)
        before = b',"ts":%d,"model":%b,"version":%d,' % (int(batch.now_ms), orjson.dumps(served.name),
                                                          served.version)
        after = b',"variant":%b,"latency_ms":' % orjson.dumps(variant)
        pieces = [b'{"id":', *answer.wrapped(before, after), b',"event_ts":', b',"attributes":']
        columns = [[event.id for event in events], *answer.columns, self._latencies_ms(rows, batch),
                   [event.ts for event in events], [event.attributes for event in events]]
        if self.echo_features:
            pieces.append(b',"features":')
            columns.append([event.features for event in events])
        values = json_rows([*pieces, b"}"], columns)
        return [(event.id.encode(), value, row.index)
                for event, value, row in zip(events, values, rows, strict=True)]

    @staticmethod
    def _latencies_ms(rows: list[_Accepted], batch: _Batch) -> list[float]:
        """Milliseconds from each record's Kafka timestamp to the batch's clock reading, to the µs."""
        timestamps = np.fromiter((batch.records[row.index].timestamp for row in rows), np.float64, len(rows))
        latencies: list[float] = np.round(np.maximum(0.0, batch.now_ms - timestamps), 3).tolist()
        return latencies

    def _dead_letter(self, record: ConsumedRecord, reason: Invalid, outcome: BatchOutcome) -> Output:
        outcome.dead_letters[reason.code] += 1
        return dead_letter(self.deadletter_topic, record, reason,
                           payload_max_bytes=self.deadletter_payload_max_bytes, now_ms=self._clock() * 1000)
