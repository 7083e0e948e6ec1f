from __future__ import annotations

import itertools

import orjson
import pytest

from driftline.models.validation import Invalid
from driftline.streams import decoding
from driftline.streams.decoding import Event, decode_events


def code_of(raw: bytes | None, max_bytes: int = 1000) -> str:
    result = decode_events([raw], max_bytes=max_bytes)[0]
    assert isinstance(result, Invalid), result
    return result.code


@pytest.mark.parametrize(("raw", "code"), [
    (None, "empty_payload"),
    (b"", "empty_payload"),
    (b'{"id": "a", "features": {}', "invalid_json"),
    (b"\xff\xfe{}", "invalid_utf8"),
    (b'{"id": "a\xc3", "features": {}}', "invalid_utf8"),
    (b'{"id": "a", "features": {"x": NaN}}', "non_finite_number"),
    (b'{"id": "a", "features": {"x": -Infinity}}', "non_finite_number"),
    (b'{"id": "a", "features": {"x": 1e400}}', "non_finite_number"),
    (b"[1, 2]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b'{"features": {}}', "missing_field"),
    (b'{"id": 5, "features": {}}', "wrong_type"),
    (b'{"id": "", "features": {}}', "wrong_type"),
    (b'{"id": "a"}', "missing_field"),
    (b'{"id": "a", "features": [1]}', "wrong_type"),
    (b'{"id": "a", "features": {}, "ts": "yesterday"}', "wrong_type"),
    (b'{"id": "a", "features": {}, "model": 3}', "wrong_type"),
    (b'{"id": "a", "features": {}, "attributes": 3}', "wrong_type"),
])
def test_envelope_errors_have_stable_codes(raw: bytes, code: str) -> None:
    assert code_of(raw) == code


def test_a_string_mentioning_nan_is_plain_bad_json_not_non_finite() -> None:
    assert code_of(b'{"id": "NaN", "features": {"x": }}') == "invalid_json"


def test_oversize_payload_is_refused_before_parsing() -> None:
    raw = b'{"id": "a", "features": {"x": "' + b"y" * 2000 + b'"}}'
    assert code_of(raw, max_bytes=1000) == "oversize_payload"


def test_a_sound_envelope_decodes() -> None:
    [event] = decode_events([b'{"id": "e1", "features": {"x": 1.5}, "ts": 17, "model": "m", '
                             b'"attributes": {"segment": "eu"}}'], max_bytes=1000)
    assert event == Event("e1", {"x": 1.5}, "m", 17, {"segment": "eu"})



#: Values an envelope field may hold, sound or not, for every field.
FIELD_VALUES = [None, "", "e-1", 0, 1.5, True, [], {}, {"f": 1.0}, "fraud"]


def test_the_fast_test_of_a_sound_envelope_agrees_with_the_step_by_step_checks() -> None:
    optional = [{}, *({name: v} for name in ("ts", "model", "attributes") for v in FIELD_VALUES)]
    values = [orjson.dumps({"id": event_id, "features": features, **rest})
              for event_id, features, rest in itertools.product(FIELD_VALUES, FIELD_VALUES, optional)]
    values += [b"", None, b"[1]", b"{", b"\xff", b"x" * 2000]
    sound = 0
    for value, verdict in zip(values, decode_events(values, max_bytes=1000), strict=True):
        assert verdict == decoding._refusal(value, 1000), value
        sound += isinstance(verdict, Event)
    assert sound == 2 * 2 * (1 + 3 + 4 + 3)  # sound ids x features x (nothing, ts, model, attributes)
