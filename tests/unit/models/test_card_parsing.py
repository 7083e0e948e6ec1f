"""Parsing a hand-written card: each mistake is a `CardError` with ``field`` set and a message that
names the field, the value and what is allowed; a good card round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from driftline.models.card import FeatureSpec, ModelCard
from driftline.models.errors import CardError

GOOD: dict[str, Any] = {"name": "fraud", "output": {"task": "binary"}, "features": [
    {"name": "age", "type": "numeric", "min": 0, "max": 120, "nullable": False},
    {"name": "channel", "type": "categorical", "categories": ["web", "app"], "unseen": "strict"},
]}


def with_age(**changes: Any) -> dict[str, Any]:
    return {**GOOD, "features": [{**GOOD["features"][0], **changes}, GOOD["features"][1]]}


@pytest.mark.parametrize(("raw", "field", "message"), [
    (with_age(min="zero"), "age.min", "feature 'age': min must be a finite number or null, not 'zero'"),
    (with_age(max=True), "age.max", "max must be a finite number or null, not True"),
    (with_age(nullable="false"), "age.nullable",
     "nullable must be true or false (a JSON boolean), not 'false'"),
    (with_age(type="number"), "age.type", "type must be \"numeric\" or \"categorical\", not 'number'"),
    (with_age(name=""), "features", "every feature needs a \"name\" that is a non-empty string"),
    (with_age(categories=["a"]), "age.categories", "unknown key 'categories' for a numeric feature"),
    (with_age(min=5, max=1), "age.min", "min (5) must not be above max (1)"),
    ({**GOOD, "features": [GOOD["features"][0], {**GOOD["features"][1], "categories": "web"}]},
     "channel.categories", "categories must be a non-empty list of strings"),
    ({**GOOD, "features": [GOOD["features"][0], {**GOOD["features"][1], "categories": []}]},
     "channel.categories", "categories must be a non-empty list of strings"),
    ({**GOOD, "features": ["age"]}, "features", "a feature must be an object like"),
    ({**GOOD, "features": []}, "features", "features must be a non-empty list"),
    ({"features": GOOD["features"]}, "name", "the card's name must be a non-empty string, not None"),
    ([GOOD], "card", "a model card must be a JSON object"),
    ({**GOOD, "version": "2"}, "version", "the card's version must be a whole number or absent, not '2'"),
    ({**GOOD, "metrics": {"auc": "0.9"}}, "metrics", "metrics must be an object of numbers"),
])
def test_a_card_mistake_names_the_field_the_value_and_what_is_allowed(raw: Any, field: str,
                                                                      message: str) -> None:
    with pytest.raises(CardError) as caught:
        ModelCard.from_dict(raw)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_a_good_card_round_trips() -> None:
    card = ModelCard.from_dict(GOOD)
    assert card.features[0] == FeatureSpec("age", "numeric", nullable=False, min=0.0, max=120.0)
    assert ModelCard.from_dict(card.to_dict()) == card
