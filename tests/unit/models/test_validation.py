from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driftline.models.card import FeatureSpec, ModelCard
from driftline.models.validation import FeatureValidator, Invalid, Validated

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


def mixed_batch() -> list[dict[str, Any]]:
    bad_values: list[dict[str, Any]] = [
        {"amount": "<absent>"}, {"amount": None}, {"amount": "5"}, {"amount": True}, {"amount": -1},
        {"amount": float("inf")}, {"age": float("-inf")}, {"channel": 3}, {"channel": ["web"]},
        {"channel": None}, {"country": "xx"}, {"channel": "kiosk"}, {"age": None, "country": "<absent>"},
        {"amount": "x", "channel": 3}, {},
    ]
    rows = []
    for i, changes in enumerate(bad_values * 3):
        row = {**VALID, "amount": float(i % 100), **changes}
        rows.append({k: v for k, v in row.items() if v != "<absent>"})
    return rows


def test_batch_validation_agrees_with_event_by_event_validation() -> None:
    validator = FeatureValidator(CARD)
    batch = mixed_batch()
    result = validator.validate_batch(batch)
    one_by_one = [validator.validate(features) for features in batch]
    assert result.errors == {i: r for i, r in enumerate(one_by_one) if isinstance(r, Invalid)}
    assert result.valid.tolist() == [isinstance(r, Validated) for r in one_by_one]
    unseen = sum(r.unseen_categories for r in one_by_one if isinstance(r, Validated))
    assert result.unseen_categories == unseen > 0


def test_batch_columns_equal_the_feeding_convention_on_the_valid_rows() -> None:
    from driftline.models.runtime import columns_from_rows

    batch = mixed_batch()
    result = FeatureValidator(CARD).validate_batch(batch)
    expected = columns_from_rows(CARD, [row for row, ok in zip(batch, result.valid, strict=True) if ok])
    assert set(result.columns) == set(expected)
    for name, column in expected.items():
        assert result.columns[name].dtype == column.dtype and result.columns[name].shape == column.shape
        assert np.array_equal(result.columns[name], column, equal_nan=column.dtype != object), name


def test_an_empty_or_all_refused_batch_gives_empty_feeding_columns() -> None:
    validator = FeatureValidator(CARD)
    for batch in ([], [{"amount": None}, {}]):
        result = validator.validate_batch(batch)
        assert not result.valid.any() and len(result.errors) == len(batch)
        assert {column.shape for column in result.columns.values()} == {(0, 1)}


def test_a_number_past_float32_is_refused_not_fed_to_the_model_as_infinity() -> None:
    """Found by the fuzz test: 1e308 is a finite JSON number but infinity once cast to float32."""
    card = ModelCard(name="m", features=(FeatureSpec("unbounded", "numeric", nullable=True),
                                         FeatureSpec("bounded", "numeric", min=0, max=10)))
    checked = FeatureValidator(card).validate_batch([{"unbounded": 1e308, "bounded": 1.0},
                                                     {"unbounded": 1.0, "bounded": 1e308},
                                                     {"unbounded": -3.5e38, "bounded": 2.0},
                                                     {"unbounded": 3.0e38, "bounded": 3.0}])
    assert {i: e.code for i, e in checked.errors.items()} == {0: "non_finite_number", 1: "out_of_range",
                                                               2: "non_finite_number"}
    assert checked.valid.tolist() == [False, False, False, True]


def test_category_codes_code_the_feeding_columns_as_the_drift_binner_would() -> None:
    """One rule: the codes found while checking equal encoding the fed labels with the profile's
    index (null → missing, unseen → other), row for row, on the valid rows only."""
    from driftline.detectors.reference import category_index
    from driftline.ext import encode_categories

    batch = [*mixed_batch(), {**VALID, "channel": "app", "country": None}, {**VALID, "channel": {"a": 1}}]
    result = FeatureValidator(CARD).validate_batch(batch)
    assert set(result.category_codes) == {"channel", "country"}
    for spec in CARD.features:
        if spec.type == "categorical":
            fed = result.columns[spec.name].reshape(-1)
            expected = encode_categories(list(fed), category_index(spec.categories))
            assert result.category_codes[spec.name].tolist() == expected.tolist(), spec.name
    assert -1 in result.category_codes["channel"] and -2 in result.category_codes["country"]
    assert result.valid[-2] and not result.valid[-1]  # a dict as a category is refused, not coded
