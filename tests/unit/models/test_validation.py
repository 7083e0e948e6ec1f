from __future__ import annotations

from typing import Any

import pytest

from models.card import FeatureSpec, ModelCard
from models.validation import FeatureValidator, Invalid, Validated

CARD = ModelCard(name="m", features=(
    FeatureSpec("amount", "numeric", min=0.0, max=100.0),
    FeatureSpec("age", "numeric", nullable=True),
    FeatureSpec("channel", "categorical", categories=("web", "app")),
    FeatureSpec("country", "categorical", categories=("de", "fr"), unseen="strict", nullable=True),
))
VALID: dict[str, Any] = {"amount": 5, "age": 30.5, "channel": "web", "country": "fr"}


def check(**changes: Any) -> Validated | Invalid:
    features = {**VALID, **changes}
    return FeatureValidator(CARD).validate({k: v for k, v in features.items() if v != "<absent>"})


def test_valid_features_pass_untouched() -> None:
    assert check() == Validated(VALID, 0)


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({"amount": "<absent>"}, "missing_field", "amount"),
    ({"amount": None}, "null_not_allowed", "amount"),
    ({"amount": "5"}, "wrong_type", "amount"),
    ({"amount": True}, "wrong_type", "amount"),
    ({"amount": -0.01}, "out_of_range", "amount"),
    ({"amount": 100.5}, "out_of_range", "amount"),
    ({"amount": float("nan")}, "non_finite_number", "amount"),
    ({"channel": 3}, "wrong_type", "channel"),
    ({"channel": None}, "null_not_allowed", "channel"),
    ({"country": "xx"}, "unknown_category", "country"),
])
def test_each_bad_value_names_its_code_and_field(changes: dict[str, Any], code: str, field: str) -> None:
    result = check(**changes)
    assert isinstance(result, Invalid)
    assert (result.code, result.field) == (code, field)


def test_nullable_features_may_be_null_or_absent() -> None:
    assert isinstance(check(age=None, country="<absent>"), Validated)


def test_unseen_category_under_policy_other_is_counted_not_refused() -> None:
    result = check(channel="kiosk")
    assert isinstance(result, Validated)
    assert result.unseen_categories == 1


def test_range_bounds_are_inclusive() -> None:
    assert isinstance(check(amount=0), Validated)
    assert isinstance(check(amount=100.0), Validated)


def test_extra_features_are_ignored() -> None:
    assert isinstance(check(unrelated="anything"), Validated)
