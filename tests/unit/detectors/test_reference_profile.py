"""Reference profiles: build, JSON round trip, both column forms, scoring a sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors.reference import FORMAT, SCORE, ReferenceProfile, build_reference_for, columns_of
from driftline.models.card import ModelCard
from driftline.models.runtime import OnnxModel, columns_from_rows
from driftline.models.synthetic import DEMO_FEATURES, SyntheticStream


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard(name="demo", features=DEMO_FEATURES)


def test_profile_counts_every_event_in_every_row(card: ModelCard) -> None:
    columns, labels = SyntheticStream(seed=1).sample_columns(5000)
    profile = ReferenceProfile.build(card, columns, np.linspace(0, 1, 5000), labels)
    assert profile.row_names == (*card.feature_names, SCORE)
    assert (profile.counts().sum(axis=1) == 5000).all()
    assert sum(profile.label_counts.values()) == 5000 and set(profile.label_counts) <= {"0", "1"}
    region = profile.features[card.feature_names.index("merchant_region")]
    assert region.counts[-1] > 0 and region.counts[-2] == 0  # nulls counted, no unseen category


def test_profile_round_trips_through_json(card: ModelCard) -> None:
    profile = ReferenceProfile.build(card, SyntheticStream(seed=2).columns(2000), np.zeros(2000))
    raw = json.loads(json.dumps(profile.to_dict()))
    assert raw["format"] == FORMAT
    assert ReferenceProfile.from_dict(raw) == profile
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({**raw, "format": 2})


def test_raw_rows_and_feeding_columns_profile_alike(card: ModelCard) -> None:
    rows = SyntheticStream(seed=3).rows(3000)
    rows[0]["channel"] = "carrier-pigeon"  # unseen category, "other" under both forms
    raw = ReferenceProfile.build(card, columns_of(card, rows))
    fed = ReferenceProfile.build(card, columns_from_rows(card, rows))
    for a, b in zip(raw.features, fed.features, strict=True):
        if a.kind == "categorical":
            assert a == b
        else:  # the feeding form is float32: edges agree to float32 precision
            assert np.allclose(a.edges, b.edges, rtol=1e-6) and a.counts[-1] == b.counts[-1]
    assert raw.features[card.feature_names.index("channel")].counts[-2] == 1


def test_build_reference_for_scores_the_sample(demo_model: OnnxModel) -> None:
    rows = SyntheticStream(seed=4).rows(2000)
    profile = build_reference_for(demo_model.card, rows, demo_model)
    assert profile.score is not None and sum(profile.score.counts) == 2000
    assert profile.score.edges[0] >= 0.0 and profile.score.edges[-1] <= 1.0 + 1e-12
