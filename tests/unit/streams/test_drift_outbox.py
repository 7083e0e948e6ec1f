from __future__ import annotations

import numpy as np
import orjson
import pytest

from streams.drift_outbox import DriftOutbox


def test_deltas_of_one_model_version_add_up_until_drained() -> None:
    outbox = DriftOutbox("w1", flush_interval_s=3600, score_chunk=2)
    outbox.add("m", 1, np.array([[1, 2], [0, 3]]), np.array([0.1, 0.2, 0.3]))
    outbox.add("m", 1, np.array([[4, 0], [1, 1]]), np.array([0.4, 0.5]))
    outbox.add("m", 2, np.array([[1, 0], [0, 1]]), np.array([0.9]))
    records = {orjson.loads(v)["version"]: (k, orjson.loads(v)) for k, v in outbox.drain()}
    key, v1 = records[1]
    assert key == b"m"
    assert v1["counts"] == [[5, 2], [1, 4]] and v1["events"] == 5
    assert v1["score_means"] == pytest.approx([0.15, 0.35]) and v1["worker"] == "w1"
    assert records[2][1]["counts"] == [[1, 0], [0, 1]]
    assert outbox.drain() == []


def test_flush_is_due_by_time_or_by_size() -> None:
    outbox = DriftOutbox("w", flush_interval_s=3600, max_events=3)
    assert not outbox.due()
    outbox.add("m", 1, np.zeros((1, 2), dtype=np.int64), np.array([0.5, 0.5]))
    assert not outbox.due()
    outbox.add("m", 1, np.zeros((1, 2), dtype=np.int64), np.array([0.5]))
    assert outbox.due()
    outbox.drain()
    immediate = DriftOutbox("w", flush_interval_s=0.0)
    immediate.add("m", 1, np.zeros((1, 2), dtype=np.int64), np.array([0.5]))
    assert immediate.due()


def test_sequence_numbers_grow_per_worker() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    seqs = []
    for _ in range(3):
        outbox.add("m", 1, np.ones((1, 1), dtype=np.int64), np.array([0.5]))
        seqs += [orjson.loads(v)["seq"] for _, v in outbox.drain()]
    assert seqs == [1, 2, 3]


def test_score_means_carry_a_partial_chunk_into_the_next_drain() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0, score_chunk=3)
    outbox.add("m", 1, np.ones((1, 1), dtype=np.int64), np.array([1.0, 2.0]))
    first = orjson.loads(outbox.drain()[0][1])
    outbox.add("m", 1, np.ones((1, 1), dtype=np.int64), np.array([3.0, 4.0, 5.0, 6.0]))
    second = orjson.loads(outbox.drain()[0][1])
    assert first["score_means"] == [] and second["score_means"] == [2.0, 5.0]
