"""The join's decisions on a real RocksDB store, without Kafka: every case ends as one outcome."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftline.models.validation import Invalid
from driftline.streams.join.core import OUTCOMES_PER_RECORD, JoinCore, JoinTopics, LabelOrigin, held_entry
from driftline.streams.join.labels import Label, binary_class, decode_label
from driftline.streams.join.slots import claim_slot
from driftline.streams.join.store import JoinStore

TTL = 1000
TOPICS = JoinTopics("changelog", "training", "dead", "outcomes")


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> JoinStore:
    store = JoinStore(tmp_path / "join")
    store.open_partition(0)
    return store


@pytest.fixture
def core(store: JoinStore, clock: Clock) -> JoinCore:
    return JoinCore(store, TOPICS, ttl_ms=TTL, payload_max_bytes=1000,
                    classes=lambda model: ("legit", "fraud"), clock_ms=clock)


def prediction(event_id: str, label: int = 1, score: float = 0.9) -> bytes:
    return orjson.dumps({"id": event_id, "ts": 10_000, "model": "m", "version": 2, "variant": "champion",
                         "label": label, "score": score, "features": {"x": 1.5}})


def send_label(core: JoinCore, event_id: str, value: object, offset: int = 0) -> None:
    raw = orjson.dumps({"id": event_id, "label": value})
    origin = LabelOrigin("labels", 4, offset, 10_000, None, raw)
    decoded = decode_label(raw, max_bytes=1000)
    assert isinstance(decoded, Label)
    core.label(0, event_id.encode(), held_entry(decoded, origin, TTL))


def topics_of(core: JoinCore) -> list[str]:
    return [o.topic for o in core.drain()]


def test_a_label_after_its_prediction_joins_once(core: JoinCore, store: JoinStore) -> None:
    core.prediction(0, b"a", prediction("a"), 10_000)
    assert store.partitions[0].pending == 1
    send_label(core, "a", True)
    send_label(core, "a", 1)
    outputs = core.drain()
    assert [o.topic for o in outputs] == ["training"]
    example = orjson.loads(outputs[0].value)
    assert example["label"] == 1 and example["features"] == {"x": 1.5}
    assert example["prediction"]["score"] == 0.9
    assert core.counts.labels == {"joined": 1, "duplicate": 1}
    assert store.partitions[0].pending == 0
    [outcomes] = core.drain_outcomes()
    assert orjson.loads(outcomes.value) == {"model": "m", "version": 2, "variant": "champion",
                                            "task": "binary", "y_true": [1], "y_pred": [1], "score": [0.9]}


def test_a_label_before_its_prediction_is_held_then_joined(core: JoinCore, store: JoinStore) -> None:
    send_label(core, "b", "fraud")
    assert store.partitions[0].held == 1
    core.prediction(0, b"b", prediction("b"), 10_000)
    core.prediction(0, b"b", prediction("b"), 10_000)  # the score path is at-least-once
    assert topics_of(core) == ["training"]
    assert [state[:1] for _, _, state in store.changes()] == [b"d"]  # one changelog record: done
    assert core.counts.predictions == {"joined": 1, "duplicate": 1}
    assert store.partitions[0].held == 0


def test_expiry_turns_pending_into_expired_and_late_labels_into_dead_letters(
        core: JoinCore, store: JoinStore, clock: Clock) -> None:
    core.prediction(0, b"c", prediction("c"), 10_000)
    send_label(core, "ghost", 0)
    store.commit({})
    core.drain()
    assert core.expire(0, 10_000 + TTL - 1) == 0
    assert core.expire(0, 10_000 + TTL) == 2
    dead = [orjson.loads(o.value) for o in core.drain() if o.topic == "dead"]
    assert [d["error"]["code"] for d in dead] == ["unknown_id"] and dead[0]["topic"] == "labels"
    store.commit({})
    send_label(core, "c", 1)
    dead = [orjson.loads(o.value) for o in core.drain() if o.topic == "dead"]
    assert [d["error"]["code"] for d in dead] == ["late_label"]
    assert core.counts.labels == {"unknown": 1, "late": 1}
    assert core.counts.predictions == {"expired": 1}
    clock.now += 2 * TTL  # done markers are forgotten after another TTL
    assert core.expire(0, int(clock.now)) == 2
    store.commit({})
    assert store.get(0, b"c") is None


def test_an_invalid_label_value_is_refused_and_the_prediction_keeps_waiting(core: JoinCore,
                                                                           store: JoinStore) -> None:
    send_label(core, "d", "maybe")
    core.prediction(0, b"d", prediction("d"), 10_000)
    dead = [orjson.loads(o.value) for o in core.drain() if o.topic == "dead"]
    assert [d["error"]["code"] for d in dead] == ["invalid_label"]
    assert store.partitions[0].pending == 1 and store.partitions[0].held == 0
    send_label(core, "d", 0)
    assert core.counts.labels == {"malformed": 1, "joined": 1}


def test_an_aborted_transaction_leaves_the_store_as_committed(core: JoinCore, store: JoinStore) -> None:
    core.prediction(0, b"e", prediction("e"), 10_000)
    store.commit({0: 7})
    send_label(core, "e", 1)
    store.discard()
    assert store.get(0, b"e") is not None and store.get(0, b"e")[:1] == b"p"  # type: ignore[index]
    assert store.partitions[0].pending == 1 and store.partitions[0].offset == 7


@pytest.mark.parametrize(("value", "expected"), [
    (True, 1), (False, 0), (1, 1), (0, 0), (1.0, 1), ("1", 1), ("0", 0), ("TRUE", 1), ("false", 0),
    ("fraud", 1), ("legit", 0)])
def test_binary_label_forms(value: bool | int | float | str, expected: int) -> None:
    assert binary_class(value, ("legit", "fraud")) == expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "yes", "", "Fraud"])
def test_binary_label_refusals(value: bool | int | float | str) -> None:
    refused = binary_class(value, ("legit", "fraud"))
    assert isinstance(refused, Invalid) and refused.code == "invalid_label"


def test_outcomes_are_cut_into_records_a_broker_accepts(core: JoinCore) -> None:
    many = OUTCOMES_PER_RECORD * 2 + 1
    for n in range(many):
        core.prediction(0, f"o{n}".encode(), prediction(f"o{n}", label=n % 2), 10_000)
        send_label(core, f"o{n}", n % 2)
    outputs = core.drain_outcomes()
    records = [orjson.loads(o.value) for o in outputs]
    assert [len(r["y_true"]) for r in records] == [OUTCOMES_PER_RECORD, OUTCOMES_PER_RECORD, 1]
    assert [y for r in records for y in r["y_true"]] == [n % 2 for n in range(many)]
    assert max(len(o.value) for o in outputs) < 100_000


def test_a_slot_keeps_its_identity_and_two_state_folders_never_share_one(tmp_path: Path) -> None:
    first = claim_slot(tmp_path / "a", "app")
    second = claim_slot(tmp_path / "a", "app")  # the first still holds slot 0
    elsewhere = claim_slot(tmp_path / "b", "app")
    ids = {s.transactional_id("app", "join") for s in (first, second, elsewhere)}
    assert (first.number, second.number, elsewhere.number) == (0, 1, 0) and len(ids) == 3
    first.release()
    again = claim_slot(tmp_path / "a", "app")
    assert again.number == 0
    assert again.transactional_id("app", "join") == first.transactional_id("app", "join")
