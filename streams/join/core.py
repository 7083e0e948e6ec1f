"""The label join's decisions: what a prediction, a label or the clock does to an event id's entry.

Pure with respect to Kafka: it reads and writes the `JoinStore` and collects the records to
produce (changelog entries, training examples, dead letters) and the joined outcomes per model
version and variant; the agent produces them in one transaction with the consumed offsets.

Every label ends as exactly one of: ``joined``; ``duplicate`` (its id already has a label, or is
joined: the first label wins); ``late`` (its prediction expired first: dead letter
``late_label``); ``unknown`` (no prediction came within ``label_ttl``: dead letter ``unknown_id``);
``malformed`` (a bad envelope, or a value that is no class of the model: dead letter). The model's
task, and so what a label means, is read off the prediction record (`task_of`). Every
prediction ends as ``joined``, ``expired`` or ``duplicate`` (the score path is at-least-once).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson

from driftline.models.labels import class_index
from driftline.models.validation import Invalid
from driftline.streams.join import store as entries
from driftline.streams.join.labels import Label, binary_class, multiclass_class, regression_target
from driftline.streams.join.store import DONE, HELD, PENDING, JoinStore
from driftline.streams.outputs import Output, dead_letter
from driftline.streams.segments import CardSegments

log = logging.getLogger(__name__)

LATE_LABEL: Final = "late_label"
UNKNOWN_ID: Final = "unknown_id"

_JOINED, _EXPIRED, _UNKNOWN = b"joined", b"expired", b"unknown"
#: About 60 KB of JSON per outcomes record.
OUTCOMES_PER_RECORD = 2000


@dataclass(frozen=True)
class JoinTopics:
    changelog: str
    training_examples: str
    deadletter: str
    outcomes: str


@dataclass(frozen=True, slots=True)
class LabelOrigin:
    """Where a label was first read, so its dead letter points at the source record."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class Outcomes:
    """Joined pairs of one model version and variant, in join order."""

    task: str
    y_true: list[float] = field(default_factory=list)
    y_pred: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    #: The model version's declared segments, and each one's group code per pair.
    segments: CardSegments | None = None
    codes: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class JoinCounts:
    labels: Counter[str] = field(default_factory=Counter)
    predictions: Counter[str] = field(default_factory=Counter)


class JoinCore:
    """Applies predictions, labels and expiry to the store; collects what to produce."""

    def __init__(self, store: JoinStore, topics: JoinTopics, *, ttl_ms: int, payload_max_bytes: int,
                 classes: Callable[[str], tuple[str, ...]], clock_ms: Callable[[], float],
                 segments: Callable[[str, int], CardSegments | None] = lambda model, version: None) -> None:
        self.store = store
        self.topics = topics
        self.ttl_ms = ttl_ms
        self.payload_max_bytes = payload_max_bytes
        self.classes = classes
        #: A model version's declared segments (None: it declares none).
        self.segments = segments
        self.clock_ms = clock_ms
        self.outputs: list[Output] = []
        self.outcomes: dict[tuple[str, int, str], Outcomes] = {}
        self.counts = JoinCounts()

    # -- what arrives ---------------------------------------------------------------------------

    def prediction(self, partition: int, event_id: bytes, value: bytes, timestamp_ms: float) -> None:
        old = self.store.get(partition, event_id)
        state = None if old is None else entries.state_of(old)
        if state == HELD:
            assert old is not None
            self._join(partition, event_id, value, entries.payload_of(old), old)  # the held label
        elif state is None or (state == DONE and entries.payload_of(old or b"") == _UNKNOWN):
            # A prediction whose label gave up waiting is pending again: the label is dead-lettered.
            self._write(partition, event_id, entries.entry(PENDING, timestamp_ms + self.ttl_ms, value), old)
        else:
            self.counts.predictions["duplicate"] += 1

    def label(self, partition: int, event_id: bytes, held: bytes) -> None:
        """A label, as the held entry `held_entry` built where it was first read."""
        old = self.store.get(partition, event_id)
        state = None if old is None else entries.state_of(old)
        if state == PENDING:
            assert old is not None
            self._join(partition, event_id, entries.payload_of(old), entries.payload_of(held), old)
        elif state is None:
            self._write(partition, event_id, held, old)
        elif state == DONE and entries.payload_of(old or b"") == _EXPIRED:
            self._refuse_label(entries.payload_of(held), Invalid(
                LATE_LABEL, f"label for {event_id.decode(errors='replace')!r} came after its prediction "
                f"expired (label_ttl {self.ttl_ms} ms)", "id"), "late")
        else:
            self.counts.labels["duplicate"] += 1

    def expire(self, partition: int, now_ms: int, limit: int = 10_000) -> int:
        """Move entries whose time is up: pending → expired, held → unknown, done → forgotten."""
        due = list(self.store.due(partition, now_ms, limit))
        for event_id, old in due:
            state = entries.state_of(old)
            if state == PENDING:
                self.counts.predictions["expired"] += 1
                self._write(partition, event_id, self._done(_EXPIRED), old)
            elif state == HELD:
                self._refuse_label(entries.payload_of(old), Invalid(
                    UNKNOWN_ID, f"no prediction for {event_id.decode(errors='replace')!r} within label_ttl "
                    f"({self.ttl_ms} ms)", "id"), "unknown")
                self._write(partition, event_id, self._done(_UNKNOWN), old)
            else:  # done markers are forgotten locally; the changelog drops them by age
                self.store.put(partition, event_id, None, old=old)
        return len(due)

    def refuse(self, origin: LabelOrigin, reason: Invalid) -> None:
        """A label whose envelope is bad: dead letter, counted as malformed."""
        self.counts.labels["malformed"] += 1
        self.outputs.append(dead_letter(self.topics.deadletter, origin, reason,
                                        payload_max_bytes=self.payload_max_bytes, now_ms=self.clock_ms()))

    # -- what goes out --------------------------------------------------------------------------

    def drain(self) -> list[Output]:
        """The records to produce for everything applied since the last drain."""
        outputs, self.outputs = self.outputs, []
        return outputs

    def drain_outcomes(self) -> list[Output]:
        """Outcomes records of what was joined since the last call, per model version and variant,
        in order, at most `OUTCOMES_PER_RECORD` pairs each (a cycle at 40,000 labels/s would
        otherwise outgrow the broker's 1 MB record limit)."""
        outputs = []
        for (model, version, variant), rows in self.outcomes.items():
            for start in range(0, len(rows.y_true), OUTCOMES_PER_RECORD):
                end = start + OUTCOMES_PER_RECORD
                outputs.append(Output(self.topics.outcomes, model.encode(), orjson.dumps({
                    "model": model, "version": version, "variant": variant, "task": rows.task,
                    "y_true": rows.y_true[start:end], "y_pred": rows.y_pred[start:end],
                    "score": rows.score[start:end] or None, **_segments(rows, start, end)})))
        self.outcomes.clear()
        return outputs

    def take_counts(self) -> JoinCounts:
        """What happened since the last call (the metrics' increments)."""
        counts, self.counts = self.counts, JoinCounts()
        return counts

    # -- the join itself ------------------------------------------------------------------------

    def _join(self, partition: int, event_id: bytes, prediction_raw: bytes, held: bytes, old: bytes) -> None:
        prediction, label = orjson.loads(prediction_raw), orjson.loads(held)
        realised = self._realised(prediction, label["label"])
        if isinstance(realised, Invalid):
            self._refuse_label(held, realised, "malformed", label)
            if entries.state_of(old) == HELD:  # the prediction stays, waiting for a valid label
                expires = float(prediction.get("ts") or self.clock_ms()) + self.ttl_ms
                self._write(partition, event_id, entries.entry(PENDING, expires, prediction_raw), old)
            return
        self.counts.labels["joined"] += 1
        self.counts.predictions["joined"] += 1
        self.outputs.append(Output(self.topics.training_examples, event_id,
                                   orjson.dumps(_training_example(prediction, label, realised))))
        self._outcome(prediction, realised)
        self._write(partition, event_id, self._done(_JOINED), old)

    def _realised(self, prediction: dict[str, Any], value: Any) -> float | int | Invalid:
        task = task_of(prediction)
        if task == "regression":
            return regression_target(value)
        if task == "multiclass":
            return multiclass_class(value, tuple(prediction["scores"]))
        return binary_class(value, self.classes(str(prediction.get("model"))))

    def _outcome(self, prediction: dict[str, Any], realised: float) -> None:
        task = task_of(prediction)
        variant = str(prediction.get("variant", "champion"))
        key = (str(prediction["model"]), int(prediction["version"]), variant)
        rows = self.outcomes.get(key)
        if rows is None:
            rows = self.outcomes[key] = Outcomes(task, segments=self.segments(key[0], key[1]))
        if rows.segments is not None:  # the only read of the prediction's raw segment values here
            for name, code in rows.segments.codes([prediction.get("attributes")],
                                                  [prediction.get("features")]).items():
                rows.codes.setdefault(name, []).append(int(code[0]))
        rows.y_true.append(realised)
        rows.y_pred.append(_predicted(prediction, task))
        if task == "binary":
            rows.score.append(prediction["score"])

    def _refuse_label(self, held: bytes, reason: Invalid, outcome: str,
                      label: dict[str, Any] | None = None) -> None:
        """Dead-letter a held label; ``label`` is ``held`` already parsed, when the caller has it."""
        self.counts.labels[outcome] += 1
        label = orjson.loads(held) if label is None else label
        source = label["source"]
        origin = LabelOrigin(source["topic"], source["partition"], source["offset"], source["timestamp"],
                             str(label["id"]).encode(), held)
        self.outputs.append(dead_letter(self.topics.deadletter, origin, reason,
                                        payload_max_bytes=self.payload_max_bytes, now_ms=self.clock_ms()))

    def _done(self, why: bytes) -> bytes:
        return entries.entry(DONE, self.clock_ms() + self.ttl_ms, why)

    def _write(self, partition: int, event_id: bytes, value: bytes, old: bytes | None) -> None:
        """A state change: the store sends its last value per id to the changelog at commit."""
        self.store.put(partition, event_id, value, old=old)


def _segments(rows: Outcomes, start: int, end: int) -> dict[str, Any]:
    """An outcomes record's ``segments`` field (none when the card declares no segment)."""
    if rows.segments is None or not rows.codes:
        return {}
    return {"segments": rows.segments.wire({name: np.asarray(codes[start:end], dtype=np.int64)
                                            for name, codes in rows.codes.items()})}


def held_entry(label: Label, origin: LabelOrigin, ttl_ms: int) -> bytes:
    """A label as the join routes and holds it: a held entry (expiring ``ttl_ms`` after the label's
    ``ts``, or its record's timestamp) whose payload is the label and where it was first read."""
    expires = (label.ts if label.ts is not None else origin.timestamp) + ttl_ms
    return entries.entry(HELD, expires, orjson.dumps({
        "id": label.id, "label": label.value, "ts": label.ts, "source": {
            "topic": origin.topic, "partition": origin.partition, "offset": origin.offset,
            "timestamp": origin.timestamp}}))


def task_of(prediction: dict[str, Any]) -> str:
    """The task of the model that made ``prediction``, read off the record's shape (the predictions
    topic's contract): a regressor's has ``value``, a binary classifier's ``score`` (the positive
    class's probability), a multi-class classifier's ``scores`` by class and no ``score``. The record
    says it for its own version; the registry's card is the latest version's, cached by model name."""
    if "value" in prediction:
        return "regression"
    return "multiclass" if "score" not in prediction and isinstance(prediction.get("scores"), dict) \
        else "binary"


def _predicted(prediction: dict[str, Any], task: str) -> float | int:
    """The predicted value or class index of a prediction record."""
    if task == "regression":
        return float(prediction["value"])
    if task == "binary":
        return int(prediction["label"])
    classes = tuple(prediction["scores"])
    index = class_index(prediction.get("label"), classes)
    # A graph whose labels are not the card's class names (nor indices): its most probable column.
    return index if index is not None else classes.index(max(classes, key=prediction["scores"].__getitem__))


def _training_example(prediction: dict[str, Any], label: dict[str, Any], realised: float) -> dict[str, Any]:
    task = task_of(prediction)
    if task == "regression":
        answer = {"value": prediction["value"]}
    elif task == "multiclass":
        answer = {"label": prediction.get("label"), "scores": prediction.get("scores")}
    else:
        answer = {"label": prediction.get("label"), "score": prediction.get("score")}
    return {
        "id": prediction["id"], "model": prediction["model"], "version": prediction["version"],
        "variant": prediction.get("variant", "champion"), "features": prediction.get("features"),
        "attributes": prediction.get("attributes"), "prediction": answer, "label": realised,
        "event_ts": prediction.get("event_ts"), "prediction_ts": prediction.get("ts"),
        "label_ts": label.get("ts") if label.get("ts") is not None else label["source"]["timestamp"],
    }
