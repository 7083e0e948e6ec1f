"""What agents produce, and the one way a consumed record becomes a dead letter.

Every agent that consumes records (the score agent, the label join) ends each one as an output
or a dead letter with a reason; this module is the shape both share, so a dead letter of an event
and of a label read the same to whoever drains the dead-letter topic.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from driftline.models.card import ModelOutput
from driftline.models.runtime import Prediction
from driftline.models.validation import Invalid


class ConsumedRecord(Protocol):
    """What the agents need of a consumed Kafka record (aiokafka's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Output:
    """One record to produce. ``partition`` is set where the partition is not the key's (a changelog
    record goes to the partition of the state it records); otherwise the key decides."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None


#: A dead letter's key is the original key, cut here (an id is short; a megabyte key is a bug
#: upstream, and kept whole it would make the dead letter too large for the topic).
DEAD_LETTER_KEY_MAX_BYTES = 1024
#: Key and value of a dead letter stay under this, below Kafka's default 1 MiB record limit, so
#: the dead-letter topic never refuses one (which would stop the worker on that record for good).
DEAD_LETTER_MAX_BYTES = 900_000


def dead_letter(topic: str, record: ConsumedRecord, reason: Invalid, *, payload_max_bytes: int,
                now_ms: float) -> Output:
    """The dead letter of ``record``: the reason, where the record was, and its raw payload.

    Sized before it is sent: the key is cut at `DEAD_LETTER_KEY_MAX_BYTES` and the payload at
    ``payload_max_bytes``, then cut further until the record fits `DEAD_LETTER_MAX_BYTES` (JSON
    escaping can make a payload up to six times its raw size); both cuts are marked.
    """
    raw_key = record.key or b""
    key = record.key[:DEAD_LETTER_KEY_MAX_BYTES] if record.key is not None else None
    value: dict[str, Any] = {
        "error": {"code": reason.code, "message": reason.message, "field": reason.field},
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp": record.timestamp, "ts": int(now_ms),
        "key_size": len(raw_key), "key_truncated": len(raw_key) > DEAD_LETTER_KEY_MAX_BYTES,
    }
    limit = payload_max_bytes
    while True:
        encoded = orjson.dumps(value | _raw_payload(record.value, limit))
        if len(encoded) + len(key or b"") <= DEAD_LETTER_MAX_BYTES or limit == 0:
            return Output(topic, key, encoded)
        limit //= 2


def _raw_payload(raw: bytes | None, limit: int) -> dict[str, Any]:
    """The original bytes, as text when they are UTF-8 and base64 otherwise, cut at ``limit``."""
    raw = raw or b""
    kept = raw[:limit]
    try:
        payload, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return {"payload": payload, "payload_encoding": encoding, "payload_size": len(raw),
            "payload_truncated": len(raw) > limit}


@dataclass(frozen=True, slots=True)
class AnswerTemplate:
    """Each row's answer as JSON object members (no braces), in the template form of
    `ext.json_rows`: ``pieces`` (one more than ``columns``) around one value per column and row."""

    pieces: list[bytes]
    columns: list[list[Any]]

    def wrapped(self, before: bytes, after: bytes) -> list[bytes]:
        """The pieces with ``before`` ahead of the first member and ``after`` behind the last."""
        return [before + self.pieces[0], *self.pieces[1:-1], self.pieces[-1] + after]


def answer_template(output: ModelOutput, prediction: Prediction) -> AnswerTemplate:
    """Each row's answer as the predictions topic carries it, by the card's task.

    Classifiers: ``label`` (the graph's predicted class) and ``scores`` (probability by class name);
    a binary model also ``score``, the positive class's probability. Regressors: ``value``. A
    template rather than a dict per row: the rows are written by a compiled kernel, and building
    and encoding a dict per prediction was a sixth of a worker's main thread.
    """
    if prediction.values is not None:
        return AnswerTemplate([b'"value":', b""], [prediction.values.tolist()])
    if prediction.probabilities is None or prediction.labels is None:
        raise ValueError(f"a {output.task} prediction without probabilities or labels")
    names = output.class_names(prediction.probabilities.shape[1])
    labels = prediction.labels.tolist()
    if output.task == "binary":  # the hot path's common case: one column per probability
        negative, positive = (orjson.dumps(name) for name in names)
        by_class = prediction.probabilities.T.tolist()  # one list per class, made once
        return AnswerTemplate(
            [b'"score":', b',"label":', b',"scores":{' + negative + b":", b"," + positive + b":", b"}"],
            [by_class[output.positive_index], labels, by_class[0], by_class[1]])
    scores = [dict(zip(names, row, strict=True)) for row in prediction.probabilities.tolist()]
    return AnswerTemplate([b'"label":', b',"scores":', b""], [labels, scores])
