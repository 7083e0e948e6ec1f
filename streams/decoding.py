"""Turning a raw ``events`` record into an event object, or into the reason it is not one.

The envelope is checked here (size, UTF-8, JSON, object, ``id``, ``features``, ``model``, ``ts``);
the features themselves are checked against the model card by ``models.validation``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from driftline.models.validation import MISSING_FIELD, NON_FINITE_NUMBER, WRONG_TYPE, Invalid

OVERSIZE_PAYLOAD: Final = "oversize_payload"
INVALID_UTF8: Final = "invalid_utf8"
INVALID_JSON: Final = "invalid_json"
NOT_AN_OBJECT: Final = "not_an_object"
EMPTY_PAYLOAD: Final = "empty_payload"

# orjson refuses NaN/Infinity literals and overflowing numbers like any strict JSON parser; naming
# them separately tells a producer team "your serializer writes non-finite floats", which is the
# usual bug, rather than a generic "bad JSON".
_NON_FINITE = re.compile(rb"(?<![A-Za-z_\"])-?(NaN|Infinity|inf)(?![A-Za-z_\"])|[0-9.][eE]\+?[0-9]{3,}")


@dataclass(slots=True)  # not frozen: one is built per event, and frozen init costs ~3x
class Event:
    """An event whose envelope is sound; its features are not validated yet."""

    id: str
    features: dict[str, Any]
    model: str | None
    ts: float | None
    attributes: dict[str, Any] | None


def decode_events(values: Sequence[bytes | None], *, max_bytes: int) -> list[Event | Invalid]:
    """Each value's event, or the reason it holds none.

    A sound event costs one parse, one test of its envelope and one constructor, written inline:
    this loop runs once per consumed event, and the calls it saves were a tenth of a batch's
    scoring. Anything else is decoded again step by step, which names the problem.
    """
    loads = orjson.loads
    decoded: list[Event | Invalid] = []
    for value in values:
        try:
            obj = loads(value) if value and len(value) <= max_bytes else None
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is dict:
            event_id, features, ts = obj.get("id"), obj.get("features"), obj.get("ts")
            model, attributes = obj.get("model"), obj.get("attributes")
            # Exact type tests suffice for what orjson builds.
            if (type(event_id) is str and event_id and type(features) is dict
                    and (ts is None or type(ts) is float or type(ts) is int)
                    and (model is None or type(model) is str)
                    and (attributes is None or type(attributes) is dict)):
                decoded.append(Event(event_id, features, model, ts, attributes))
                continue
        decoded.append(_refusal(value, max_bytes))
    return decoded


def decode_object(value: bytes | None, *, max_bytes: int, what: str) -> dict[str, Any] | Invalid:
    """The JSON object a record holds, or why it holds none (shared by events and labels)."""
    if not value:
        return Invalid(EMPTY_PAYLOAD, "the record has no value")
    if len(value) > max_bytes:
        return Invalid(OVERSIZE_PAYLOAD, f"payload is {len(value)} bytes, above the {max_bytes}-byte limit")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _classify_json_error(value, exc)
    if not isinstance(obj, dict):
        return Invalid(NOT_AN_OBJECT, f"{what} is a JSON object, got {type(obj).__name__}")
    return obj


def _classify_json_error(value: bytes, exc: orjson.JSONDecodeError) -> Invalid:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Invalid(INVALID_UTF8, f"payload is not valid UTF-8 at byte {bad.start}")
    if _NON_FINITE.search(value):
        return Invalid(NON_FINITE_NUMBER, f"payload holds NaN, Infinity or an overflowing number: {exc}")
    return Invalid(INVALID_JSON, f"payload is not valid JSON: {exc}")


def check_id_and_ts(obj: dict[str, Any], what: str) -> Invalid | None:
    """The fields events and labels share: a required non-empty string ``id`` and an optional
    numeric ``ts`` (epoch milliseconds)."""
    event_id, ts = obj.get("id"), obj.get("ts")
    if event_id is None:
        return Invalid(MISSING_FIELD, f"{what} needs an 'id'", "id")
    if not isinstance(event_id, str) or not event_id:
        return Invalid(WRONG_TYPE, "'id' must be a non-empty string", "id")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
        return Invalid(WRONG_TYPE, "'ts' must be a number (epoch milliseconds)", "ts")
    return None


def _refusal(value: bytes | None, max_bytes: int) -> Event | Invalid:
    """What is wrong with a value the fast test did not pass, step by step (an event after all
    only if the fast test is stricter than these steps, which a unit test rules out)."""
    obj = decode_object(value, max_bytes=max_bytes, what="an event")
    if isinstance(obj, Invalid):
        return obj
    problem = check_id_and_ts(obj, "an event")
    if problem is not None:
        return problem
    event_id, features = obj["id"], obj.get("features")
    if features is None:
        return Invalid(MISSING_FIELD, "an event needs a 'features' object", "features")
    if not isinstance(features, dict):
        return Invalid(WRONG_TYPE, f"'features' must be an object, got {type(features).__name__}", "features")
    problem = _optional_fields(obj)
    if problem is not None:
        return problem
    return Event(event_id, features, obj.get("model"), obj.get("ts"), obj.get("attributes"))


def _optional_fields(obj: dict[str, Any]) -> Invalid | None:
    model, attributes = obj.get("model"), obj.get("attributes")
    if model is not None and not isinstance(model, str):
        return Invalid(WRONG_TYPE, "'model' must be a string", "model")
    if attributes is not None and not isinstance(attributes, dict):
        return Invalid(WRONG_TYPE, "'attributes' must be an object", "attributes")
    return None
