"""The binner: one delta per batch, in the profile's layout, mergeable by addition."""

from __future__ import annotations

import numpy as np

from driftline.detectors.binner import ProfileBinner
from driftline.detectors.reference import ReferenceProfile
from driftline.models.card import ModelCard
from driftline.models.runtime import columns_from_rows
from driftline.models.synthetic import DEMO_FEATURES, SyntheticStream

CARD = ModelCard(name="demo", features=DEMO_FEATURES)


def profile() -> ReferenceProfile:
    reference = SyntheticStream(seed=5).columns(20_000)
    return ReferenceProfile.build(CARD, reference, np.random.default_rng(5).random(20_000))


def test_binning_the_reference_sample_reproduces_its_counts() -> None:
    reference = SyntheticStream(seed=5).columns(20_000)
    scores = np.random.default_rng(5).random(20_000)
    p = ReferenceProfile.build(CARD, reference, scores)
    assert (ProfileBinner(p).bin_columns(reference, scores) == p.counts()).all()


def test_deltas_of_split_batches_add_up_to_the_whole() -> None:
    binner = ProfileBinner(profile())
    columns = SyntheticStream(seed=6).columns(1000)
    half = {name: column[:400] for name, column in columns.items()}
    rest = {name: column[400:] for name, column in columns.items()}
    assert (binner.bin_columns(half) + binner.bin_columns(rest) == binner.bin_columns(columns)).all()


def test_feeding_form_bins_like_the_raw_form() -> None:
    binner = ProfileBinner(profile())
    stream = SyntheticStream(seed=7)
    rows = stream.rows(500)
    kinds = {"numeric": float, "categorical": object}
    raw = {spec.name: np.array([r[spec.name] for r in rows], dtype=kinds[spec.type])
           for spec in DEMO_FEATURES}
    raw_delta = binner.bin_columns(raw)
    assert (binner.bin_columns(columns_from_rows(CARD, rows)) == raw_delta).all()


def test_score_row_stays_empty_without_scores() -> None:
    p = profile()
    delta = ProfileBinner(p).bin_columns(SyntheticStream(seed=8).columns(100))
    assert delta[-1].sum() == 0 and (delta[:-1].sum(axis=1) == 100).all()


def test_codes_from_validation_bin_like_the_labels_they_code() -> None:
    from driftline.models.validation import FeatureValidator

    binner = ProfileBinner(profile())
    rows = SyntheticStream(seed=9).rows(700)
    rows[3]["merchant_category"], rows[4]["channel"] = None, "kiosk"  # the missing and other bins
    checked = FeatureValidator(CARD).validate_batch(rows)
    scores = np.random.default_rng(9).random(int(checked.valid.sum()))
    assert binner.categories == {s.name: s.categories for s in DEMO_FEATURES if s.type == "categorical"}
    by_labels = binner.bin_codes(checked.columns, scores)
    assert np.array_equal(binner.bin_codes(checked.columns, scores, checked.category_codes), by_labels)
    merchant_category = [s.name for s in DEMO_FEATURES].index("merchant_category")
    assert by_labels[3, merchant_category] == len(binner.categories["merchant_category"]) + 1
