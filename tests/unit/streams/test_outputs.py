"""Dead letters are sized before they are sent: no input can make one the topic would refuse."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from driftline.models.validation import Invalid
from driftline.streams.outputs import DEAD_LETTER_KEY_MAX_BYTES, DEAD_LETTER_MAX_BYTES, dead_letter


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    topic: str = "events"
    partition: int = 0
    offset: int = 7
    timestamp: int = 1


REASON = Invalid("invalid_json", "payload is not valid JSON", None)


def test_a_small_record_is_kept_whole() -> None:
    out = dead_letter("dead", Record(b"id-1", b'{"id": '), REASON, payload_max_bytes=65536, now_ms=5)
    value = orjson.loads(out.value)
    assert out.key == b"id-1" and value["payload"] == '{"id": ' and value["key_truncated"] is False
    assert value["payload_truncated"] is False and value["offset"] == 7


def test_a_megabyte_key_is_cut_and_marked() -> None:
    out = dead_letter("dead", Record(b"K" * (1 << 20), bytes(range(256)) * 160), REASON,
                      payload_max_bytes=65536, now_ms=5)
    value = orjson.loads(out.value)
    assert out.key == b"K" * DEAD_LETTER_KEY_MAX_BYTES
    assert value["key_truncated"] is True and value["key_size"] == 1 << 20
    assert value["payload_encoding"] == "base64" and value["payload_truncated"] is False


@pytest.mark.parametrize("payload", [b"\x01" * (1 << 20), "é\n\"".encode() * 400_000,
                                     bytes(range(256)) * 8000])
def test_whatever_the_payload_the_dead_letter_fits_the_topic(payload: bytes) -> None:
    out = dead_letter("dead", Record(b"k" * 5000, payload), REASON, payload_max_bytes=1 << 22, now_ms=5)
    assert len(out.value) + len(out.key or b"") <= DEAD_LETTER_MAX_BYTES
    value = orjson.loads(out.value)
    assert value["payload_truncated"] is True and value["payload_size"] == len(payload)
