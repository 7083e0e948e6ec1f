from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.runtime import columns_from_rows
from driftline.models.synthetic import SyntheticStream
from driftline.streams.scoring import BatchScorer, ServedModel


@dataclass
class Record:
    value: bytes | None
    key: bytes | None = b"k"
    topic: str = "events"
    partition: int = 0
    offset: int = 0
    timestamp: int = 1_000


@pytest.fixture(scope="module")
def served(demo_registry: Path) -> ServedModel:
    return ServedModel.of(Registry(demo_registry).load(DEMO_MODEL_NAME))


def scorer(served: ServedModel, *, default: str | None = DEMO_MODEL_NAME) -> BatchScorer:
    return BatchScorer({DEMO_MODEL_NAME: served}, default_model=default, predictions_topic="predictions",
                       deadletter_topic="deadletter", max_event_bytes=10_000, deadletter_payload_max_bytes=64,
                       clock=lambda: 2.0)


def events(n: int, seed: int = 3) -> list[Record]:
    rows = SyntheticStream(seed=seed).rows(n)
    return [Record(orjson.dumps({"id": f"e{i}", "features": row}), offset=i) for i, row in enumerate(rows)]


def test_a_batch_is_scored_in_one_call_and_matches_a_direct_run(served: ServedModel) -> None:
    records = events(300)
    outcome = scorer(served).score(records)
    assert outcome.predictions == 300 and not outcome.dead_letters
    scores = [orjson.loads(o.value)["score"] for o in outcome.outputs]
    rows = [orjson.loads(r.value or b"")["features"] for r in records]
    assert scores == served.model.predict(columns_from_rows(served.model.card, rows)).scores.tolist()


def test_outputs_keep_input_order_and_one_per_record(served: ServedModel) -> None:
    records = events(20)
    records[5] = Record(b"{broken", key=b"bad-5", offset=5)
    records[11] = Record(b'{"id": "x", "features": {}, "model": "other"}', key=b"bad-11", offset=11)
    outcome = scorer(served).score(records)
    assert [o.topic for o in outcome.outputs].count("deadletter") == 2
    assert outcome.outputs[5].key == b"bad-5" and outcome.outputs[11].key == b"bad-11"
    assert [orjson.loads(o.value)["id"] for i, o in enumerate(outcome.outputs) if i not in (5, 11)] == [
        f"e{i}" for i in range(20) if i not in (5, 11)]
    assert outcome.dead_letters == {"invalid_json": 1, "unknown_model": 1}


def test_prediction_record_follows_the_contract(served: ServedModel) -> None:
    value = orjson.loads(scorer(served).score(events(1)).outputs[0].value)
    assert set(value) >= {"id", "ts", "model", "version", "score", "label", "variant", "latency_ms"}
    assert (value["model"], value["version"], value["variant"]) == (DEMO_MODEL_NAME, 1, "champion")
    assert value["ts"] == 2000
    assert value["latency_ms"] == 1000.0
    assert 0.0 <= value["score"] <= 1.0


def test_dead_letter_keeps_source_position_and_cuts_large_payloads(served: ServedModel) -> None:
    raw = b'{"id": "big", "features": {"x": "' + b"y" * 500 + b'"}'
    outcome = scorer(served).score([Record(raw, partition=4, offset=77)])
    letter = orjson.loads(outcome.outputs[0].value)
    assert (letter["partition"], letter["offset"], letter["topic"]) == (4, 77, "events")
    assert letter["error"]["code"] == "invalid_json"
    assert letter["payload"] == raw[:64].decode() and letter["payload_truncated"] is True
    assert letter["payload_size"] == len(raw)


def test_binary_payloads_are_kept_as_base64(served: ServedModel) -> None:
    letter = orjson.loads(scorer(served).score([Record(b"\xff\x00\x01")]).outputs[0].value)
    assert (letter["error"]["code"], letter["payload_encoding"], letter["payload"]) == (
        "invalid_utf8", "base64", "/wAB")


def test_without_a_default_model_events_must_name_one(served: ServedModel) -> None:
    outcome = scorer(served, default=None).score(events(2))
    assert outcome.dead_letters == {"unknown_model": 2}


def test_a_failing_model_dead_letters_its_batch_and_carries_on(served: ServedModel,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from driftline.models.errors import ScoringError

    def broken(columns: object, *, timeout_s: float | None = None) -> None:
        raise ScoringError("onnxruntime exploded")

    monkeypatch.setattr(served.model, "predict", broken)
    outcome = scorer(served).score(events(3))
    assert outcome.dead_letters == {"scoring_failed": 3} and len(outcome.outputs) == 3


@pytest.mark.parametrize("reorder", [False, True])
def test_drift_codes_follow_the_profile_whether_or_not_it_lists_the_card_categories(
        demo_registry: Path, reorder: bool) -> None:
    """The validator's category codes number the card's categories; a profile listing them in
    another order must not read them (it bins the labels instead), or every bin would be wrong."""
    import dataclasses

    import numpy as np

    from driftline.detectors.reference import ReferenceProfile
    from driftline.streams.drift_outbox import DriftOutbox, decode_codes, decode_record

    model = Registry(demo_registry).load(DEMO_MODEL_NAME)
    card = model.card
    if reorder:
        card = dataclasses.replace(card, features=tuple(
            dataclasses.replace(f, categories=f.categories[::-1]) if f.type == "categorical" else f
            for f in card.features))
    reference = SyntheticStream(seed=4).columns(5_000)
    profile = ReferenceProfile.build(card, reference, np.random.default_rng(4).random(5_000))
    served = ServedModel.of(model, profile)
    assert served.binner is not None and served.binner_reads_codes is not reorder
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    batch = BatchScorer({DEMO_MODEL_NAME: served}, default_model=DEMO_MODEL_NAME, predictions_topic="p",
                        deadletter_topic="d", max_event_bytes=10_000, deadletter_payload_max_bytes=64,
                        drift=outbox, clock=lambda: 2.0)
    records = events(300)
    batch.score(records)
    [(_, value)] = outbox.drain()
    message = decode_record(value)
    assert message is not None
    rows = [orjson.loads(r.value or b"")["features"] for r in records]
    columns = columns_from_rows(model.card, rows)
    scores = model.predict(columns)
    expected = served.binner.bin_codes(columns, served.binner.monitored(scores))
    assert np.array_equal(decode_codes(message), expected)
