"""A reference sample is screened like live events before it becomes a profile."""

from __future__ import annotations

from typing import Any

import pytest

from driftline.models.card import FeatureSpec, ModelCard
from driftline.models.errors import ReferenceSampleError
from driftline.models.reference_sample import screen_reference

CARD = ModelCard(name="tiny", features=(
    FeatureSpec(name="x", type="numeric", min=0.0, max=1.0),
    FeatureSpec(name="note", type="numeric", nullable=True),
    FeatureSpec(name="c", type="categorical", categories=("a", "b"), unseen="strict"),
))


def rows(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [{"x": (i % 10) / 10, "note": None, "c": "ab"[i % 2], **overrides} for i in range(n)]


def test_a_sample_that_fits_is_kept_whole_with_its_labels() -> None:
    sample = screen_reference(CARD, rows(200), labels=[i % 2 for i in range(200)])
    assert (len(sample.rows), sample.rejected, sample.labels) == (200, {}, tuple(i % 2 for i in range(200)))


def test_rejected_rows_refuse_the_sample_with_counts_per_code_and_the_first_one() -> None:
    sample = rows(200)
    sample[5]["x"], sample[9]["x"], sample[11]["c"] = 7.0, "1", "z"
    with pytest.raises(ReferenceSampleError) as caught:
        screen_reference(CARD, sample, lines=list(range(2, 202)))
    assert caught.value.field == "reference"
    assert str(caught.value).startswith("3 of 200 reference rows do not fit the card (out_of_range 1, "
                                        "unknown_category 1, wrong_type 1)")
    assert "first: line 7: feature 'x' = 7.0 is outside [0.0, 1.0]" in str(caught.value)


def test_skipping_keeps_the_valid_rows_and_their_labels() -> None:
    sample = rows(200)
    sample[0]["x"] = -1.0
    screened = screen_reference(CARD, sample, labels=list(range(200)), rejects="skip")
    assert len(screened.rows) == 199 and screened.labels == tuple(range(1, 200))
    assert screened.rejected == {"out_of_range": 1} and screened.first_rejected is not None


def test_too_few_valid_rows_are_refused_in_either_policy() -> None:
    with pytest.raises(ReferenceSampleError, match="99 valid rows, fewer than the 100"):
        screen_reference(CARD, rows(99), rejects="skip")


def test_a_declared_feature_in_no_row_is_a_misspelt_key_even_when_nullable() -> None:
    misspelt = [{"x": r["x"], "notes": 1.0, "c": r["c"]} for r in rows(200)]
    with pytest.raises(ReferenceSampleError, match="'note' of the card is in none of the 200 reference rows; "
                                                   "did you mean 'notes'"):
        screen_reference(CARD, misspelt)
