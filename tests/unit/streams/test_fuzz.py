"""Property tests: whatever the world sends, every record ends as an output, and nothing raises.

Two tests, because Hypothesis shrinks well but generates large structured inputs slowly (a batch
of 200 nested records took about five seconds):

* records drawn one by one from Hypothesis strategies (arbitrary bytes, arbitrary JSON, demo
  events with features mutated to every wrong type, missing keys, hostile numbers, cut in half),
  so a failure shrinks to a minimal payload;
* 100,000 records (100 examples of 1,000) from the same kinds of generators written against a
  Hypothesis-seeded ``random.Random``, for volume.

Both go through the score path's decode, validation and scoring, and the same payloads through the
label, count-delta, outcomes and model-update decoders, under random keys (or none) and headers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from driftline.models.validation import Invalid
from driftline.streams.join.labels import Label, binary_class, decode_label
from driftline.streams.model_updates import apply_update
from driftline.streams.monitor_agent import decode_delta
from driftline.streams.performance_agent import decode_outcomes
from driftline.streams.scoring import BatchScorer
from driftline.streams.serving import load_served_model

EXAMPLES = 300
VOLUME_EXAMPLES, PER_EXAMPLE = 100, 1000
CODES = {"empty_payload", "oversize_payload", "invalid_utf8", "invalid_json", "non_finite_number",
         "not_an_object", "missing_field", "wrong_type", "null_not_allowed", "out_of_range",
         "unknown_category", "unknown_model", "scoring_failed"}
VALID_ROW = SyntheticStream(seed=1).rows(1)[0]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
hostile_values = json_values | st.sampled_from([1e308, -1e308, 2**63 - 1, "", "NaN", "__other__", [], {}])


@st.composite
def mutated_event(draw: st.DrawFn) -> bytes:
    features: dict[str, Any] = dict(VALID_ROW)
    for name in draw(st.lists(st.sampled_from(sorted(features)), max_size=4, unique=True)):
        if draw(st.booleans()):
            features[name] = draw(hostile_values)
        else:
            del features[name]
    event: dict[str, Any] = {"id": draw(st.text(min_size=1, max_size=30) | json_values), "features": features}
    if draw(st.booleans()):
        event["model"] = draw(st.sampled_from([DEMO_MODEL_NAME, "other"]) | json_values)
    if draw(st.booleans()):
        event["ts"] = draw(json_values)
    return orjson.dumps(event)


#: Numbers a strict serializer will not write but a producer's might: past 64 bits, past a double.
RAW_NUMBERS = [b"1e400", b"-1e400", b"123456789012345678901234567890", b"NaN", b"Infinity", b"-0.0"]


@st.composite
def raw_number_event(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(VALID_ROW)))
    marker = b'"' + name.encode() + b'": '
    raw = orjson.dumps({"id": "n", "features": {**VALID_ROW, name: 0}})
    return raw.replace(marker + b"0", marker + draw(st.sampled_from(RAW_NUMBERS)), 1)


payloads = (st.binary(max_size=300) | json_values.map(orjson.dumps) | mutated_event()
            | mutated_event().map(lambda raw: raw[: len(raw) // 2]) | raw_number_event())


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


records = st.builds(Record, st.just("events"), st.integers(0, 5), st.integers(0, 2**40),
                    st.integers(0, 2**42), st.none() | st.binary(max_size=64), st.none() | payloads,
                    st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=16)), max_size=2).map(tuple))


@pytest.fixture(scope="module")
def scorer(demo_registry: Path) -> BatchScorer:
    served = load_served_model(Registry(demo_registry), DEMO_MODEL_NAME, monitors=True)
    return BatchScorer({DEMO_MODEL_NAME: served}, default_model=DEMO_MODEL_NAME, predictions_topic="p",
                       deadletter_topic="d", max_event_bytes=10_000, deadletter_payload_max_bytes=512)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_each_record_ends_as_one_prediction_or_one_coded_dead_letter(scorer: BatchScorer,
                                                                       record: Record) -> None:
    assert_every_record_accounted_for(scorer, [record])


@settings(max_examples=VOLUME_EXAMPLES, deadline=None)
@given(rng=st.randoms(use_true_random=True))
def test_a_hundred_thousand_records_end_as_outputs(scorer: BatchScorer, rng: random.Random) -> None:
    batch = [Record("events", rng.randrange(6), rng.randrange(2**40), rng.randrange(2**42),
                    random_key(rng), random_payload(rng), ()) for _ in range(PER_EXAMPLE)]
    assert_every_record_accounted_for(scorer, batch)


def assert_every_record_accounted_for(scorer: BatchScorer, batch: list[Record]) -> None:
    outcome = scorer.score(batch)
    assert len(outcome.outputs) == len(batch)
    for output in outcome.outputs:
        value = orjson.loads(output.value)
        if output.topic == "p":
            assert isinstance(value["id"], str) and 0.0 <= value["score"] <= 1.0
        else:
            assert output.topic == "d" and value["error"]["code"] in CODES
    for record in batch:
        check_other_decoders(record.value)


def random_key(rng: random.Random) -> bytes | None:
    return None if rng.random() < 0.2 else rng.randbytes(rng.randrange(64))


def random_payload(rng: random.Random) -> bytes | None:
    kind = rng.randrange(6)
    if kind == 0:
        return None if rng.random() < 0.1 else rng.randbytes(rng.randrange(300))
    if kind == 1:
        return orjson.dumps(random_json(rng, 3))
    event = random_event(rng)
    if kind == 2:
        return event[: rng.randrange(len(event))]
    if kind == 3:
        name = rng.choice(sorted(VALID_ROW))
        marker = b'"' + name.encode() + b'": '
        raw = orjson.dumps({"id": "n", "features": {**VALID_ROW, name: 0}})
        return raw.replace(marker + b"0", marker + rng.choice(RAW_NUMBERS), 1)
    return event


def random_event(rng: random.Random) -> bytes:
    features: dict[str, Any] = dict(VALID_ROW)
    for name in rng.sample(sorted(features), rng.randrange(4)):
        if rng.random() < 0.5:
            del features[name]
        else:
            features[name] = random_json(rng, 2)
    event: dict[str, Any] = {"id": f"r{rng.randrange(10**6)}" if rng.random() < 0.9 else random_json(rng, 1),
                             "features": features}
    if rng.random() < 0.3:
        event["model"] = rng.choice([DEMO_MODEL_NAME, "other", 7, None])
    if rng.random() < 0.3:
        event["ts"] = random_json(rng, 1)
    return orjson.dumps(event)


def random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth > 0 else 6)
    text = "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(5))
    number = rng.uniform(-1e308, 1e308)
    scalars: list[Any] = [None, rng.random() < 0.5, rng.randrange(-(2**63), 2**63), number, text,
                          rng.choice(["", "NaN", "__other__", "__missing__"])]
    if kind < 6:
        return scalars[kind]
    if kind == 6:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {str(rng.randrange(100)): random_json(rng, depth - 1) for _ in range(rng.randrange(4))}


def check_other_decoders(raw: bytes | None) -> None:
    """The label, delta, outcomes and model-update decoders take anything without raising."""
    label = decode_label(raw, max_bytes=10_000)
    assert isinstance(label, Label | Invalid)
    if isinstance(label, Label):
        realised = binary_class(label.value, ("legit", "fraud"))
        assert realised in (0, 1) or isinstance(realised, Invalid)
    decode_delta(raw)
    decode_outcomes(raw)
    try:
        update = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return
    assert isinstance(apply_update(update, _NO_MODELS, Registry(Path("/nonexistent")), monitors=False), str)


class _NoModels:
    def __init__(self) -> None:
        self.models: dict[str, Any] = {}


_NO_MODELS: Any = _NoModels()


def test_the_generators_reach_the_interesting_cases(scorer: BatchScorer) -> None:
    """A property test only proves what its inputs reach: make sure they reach valid events too."""
    example = orjson.dumps({"id": "x", "features": VALID_ROW})
    outcome = scorer.score([Record("events", 0, 0, 0, None, example, ())])
    assert outcome.predictions == 1 and not math.isnan(orjson.loads(outcome.outputs[0].value)["score"])
