from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.streams.drift_outbox import DELTA_FORMAT, FRAME_MAGIC, DriftOutbox, decode_codes, decode_record


def codes(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


def read(value: bytes) -> dict[str, Any]:
    message = decode_record(value)
    assert message is not None, value[:40]
    return message


def test_codes_of_one_model_version_are_kept_in_order_until_drained() -> None:
    outbox = DriftOutbox("w1", flush_interval_s=3600, score_chunk=2)
    outbox.add("m", 1, codes([1, 2], [0, 3], [2, 2]), np.array([0.1, 0.2, 0.3]))
    outbox.add("m", 1, codes([4, 0], [1, 1]), np.array([0.4, 0.5]))
    outbox.add("m", 2, codes([1, 0]), np.array([0.9]))
    records = {read(v)["version"]: (k, read(v)) for k, v in outbox.drain()}
    key, v1 = records[1]
    assert key == b"m" and v1["format"] == DELTA_FORMAT == 3
    assert decode_codes(v1).tolist() == [[1, 2], [0, 3], [2, 2], [4, 0], [1, 1]] and v1["events"] == 5
    assert v1["score_means"] == pytest.approx([0.15, 0.35]) and v1["worker"] == "w1"
    assert decode_codes(records[2][1]).tolist() == [[1, 0]]
    assert outbox.drain() == []


def test_a_large_drain_is_cut_into_records_under_the_size_limit_in_order() -> None:
    outbox = DriftOutbox("w", flush_interval_s=3600, score_chunk=4, max_record_bytes=30)
    batch = np.arange(50 * 3, dtype=np.uint8).reshape(50, 3)
    outbox.add("m", 1, batch, np.linspace(0.0, 1.0, 50))
    messages = [read(v) for _, v in outbox.drain()]
    assert [m["events"] for m in messages] == [10] * 5  # 30 bytes of codes = 10 events of 3 rows
    assert np.concatenate([decode_codes(m) for m in messages]).tolist() == batch.tolist()
    assert len(messages[0]["score_means"]) == 12 and all(m["score_means"] == [] for m in messages[1:])


def test_wide_profiles_ship_16_bit_codes() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    outbox.add("m", 1, np.array([[300, 2]], dtype=np.uint16), np.array([0.5]))
    message = read(outbox.drain()[0][1])
    assert message["code_dtype"] == "uint16" and decode_codes(message).tolist() == [[300, 2]]


@pytest.mark.parametrize("damage", [{"events": 3}, {"rows": 3}, {"code_dtype": "int64"}, {"codes": "%%%"},
                                    {"codes": b"\x01\x02\x03"}, {"code_dtype": "uint16", "codes": b"\x01"}])
def test_codes_that_do_not_add_up_are_refused(damage: dict[str, object]) -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    outbox.add("m", 1, codes([1, 2], [3, 4]), np.array([0.5, 0.5]))
    message = {**read(outbox.drain()[0][1]), **damage}
    with pytest.raises(ValueError):
        decode_codes(message)


def test_flush_is_due_by_time_or_by_size() -> None:
    outbox = DriftOutbox("w", flush_interval_s=3600, max_events=3)
    assert not outbox.due()
    outbox.add("m", 1, codes([0, 0], [0, 0]), np.array([0.5, 0.5]))
    assert not outbox.due()
    outbox.add("m", 1, codes([0, 0]), np.array([0.5]))
    assert outbox.due()
    outbox.drain()
    immediate = DriftOutbox("w", flush_interval_s=0.0)
    immediate.add("m", 1, codes([0, 0]), np.array([0.5]))
    assert immediate.due()


def test_sequence_numbers_grow_per_worker() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    seqs = []
    for _ in range(3):
        outbox.add("m", 1, codes([1]), np.array([0.5]))
        seqs += [read(v)["seq"] for _, v in outbox.drain()]
    assert seqs == [1, 2, 3]


def test_score_means_carry_a_partial_chunk_into_the_next_drain() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0, score_chunk=3)
    outbox.add("m", 1, codes([1], [1]), np.array([1.0, 2.0]))
    first = read(outbox.drain()[0][1])
    outbox.add("m", 1, codes([1], [1], [1], [1]), np.array([3.0, 4.0, 5.0, 6.0]))
    second = read(outbox.drain()[0][1])
    assert first["score_means"] == [] and second["score_means"] == [2.0, 5.0]


def test_records_are_frames_of_raw_codes_and_format_2_json_still_reads_the_same() -> None:
    outbox = DriftOutbox("w", flush_interval_s=0.0)
    outbox.add("m", 1, codes([1, 2], [3, 4]), np.array([0.5, 0.5]))
    value = outbox.drain()[0][1]
    assert value.startswith(FRAME_MAGIC) and value.endswith(bytes([1, 2, 3, 4]))
    frame = read(value)
    older = {**frame, "format": 2, "codes": base64.b64encode(bytes(frame["codes"])).decode()}
    assert decode_codes(read(orjson.dumps(older))).tolist() == decode_codes(frame).tolist()
    assert decode_codes(frame).tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("value", [b"", b"[1]", b"not json", FRAME_MAGIC, FRAME_MAGIC + b"\x00\x00\x00\x09{}",
                                   FRAME_MAGIC + b"\x00\x00\x00\x02[]", FRAME_MAGIC + b"\x00\x00\x00\x02{x"])
def test_what_is_neither_a_frame_nor_a_json_object_is_no_record(value: bytes) -> None:
    assert decode_record(value) is None
