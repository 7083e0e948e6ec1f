"""The card's segments: what parses, and every mistake named by its field."""

from __future__ import annotations

from typing import Any

import pytest

from driftline.models.card import ModelCard
from driftline.models.errors import CardError
from driftline.models.segments import SegmentSpec

BASE: dict[str, Any] = {
    "name": "toy", "output": {"task": "binary"},
    "features": [{"name": "age", "type": "numeric"}, {"name": "plan", "type": "categorical",
                                                     "categories": ["a", "b"]}],
}
GOOD = [
    {"name": "region", "source": "attributes.region", "sensitive": True, "values": ["north", "south"]},
    {"name": "device", "source": "attributes.device", "max_values": 5},
    {"name": "age_band", "source": "features.age", "buckets": [18, 30, 50, 70], "sensitive": True},
    {"name": "plan", "source": "features.plan"},
]


def card(segments: Any) -> ModelCard:
    return ModelCard.from_dict({**BASE, "segments": segments})


def test_segments_parse_and_round_trip() -> None:
    parsed = card(GOOD)
    assert [s.name for s in parsed.segments] == ["region", "device", "age_band", "plan"]
    assert parsed.segments[2].labels == ("<18", "18-30", "30-50", "50-70", ">=70", "other", "missing")
    assert parsed.segments[0].labels == ("north", "south", "other", "missing")
    assert parsed.segments[1].labels == () and parsed.segments[1].max_values == 5
    assert ModelCard.from_dict(parsed.to_dict()) == parsed


def test_a_card_without_segments_is_unchanged() -> None:
    plain = ModelCard.from_dict(BASE)
    assert plain.segments == () and "segments" not in plain.to_dict()


@pytest.mark.parametrize(("segments", "field"), [
    ({"name": "x"}, "segments"),
    (["region"], "segments[0]"),
    ([{"name": "Region", "source": "attributes.region"}], "segments[0].name"),
    ([{"name": "region", "source": "region"}], "segments[0].source"),
    ([{"name": "region", "source": "attributes.region", "colour": 1}], "segments[0].colour"),
    ([{"name": "region", "source": "attributes.region", "sensitive": "yes"}], "segments[0].sensitive"),
    ([{"name": "region", "source": "attributes.region", "sensitive": True}], "segments[0].values"),
    ([{"name": "region", "source": "attributes.region", "values": ["a", "a"]}], "segments[0].values"),
    ([{"name": "region", "source": "attributes.region", "values": ["other"]}], "segments[0].values"),
    ([{"name": "region", "source": "attributes.region", "max_values": 0}], "segments[0].max_values"),
    ([{"name": "age", "source": "features.age", "buckets": [30, 18]}], "segments[0].buckets"),
    ([{"name": "age", "source": "features.age", "buckets": [1], "values": ["a"]}], "segments[0].values"),
    ([{"name": "age", "source": "features.age"}], "segments[0].buckets"),
    ([{"name": "plan", "source": "features.plan", "buckets": [1]}], "segments[0].buckets"),
    ([{"name": "x", "source": "features.nope"}], "segments[0].source"),
    ([GOOD[1], GOOD[1]], "segments[1].name"),
])
def test_mistakes_name_their_field(segments: Any, field: str) -> None:
    with pytest.raises(CardError) as caught:
        card(segments)
    assert caught.value.field == field


def test_spec_reads_its_source() -> None:
    spec = SegmentSpec(name="region", source="attributes.region")
    assert (spec.origin, spec.key, spec.declared) == ("attributes", "region", False)
