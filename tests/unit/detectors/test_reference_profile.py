"""Reference profiles: build, JSON round trip, both column forms, scoring a sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.detectors.reference import (
    FORMAT,
    SCORE,
    SCORE_FORMAT,
    ReferenceProfile,
    build_reference_for,
    columns_of,
)
from driftline.models.card import FeatureSpec, ModelCard, ModelOutput
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
    assert raw["format"] == SCORE_FORMAT  # one score row: what workers before per-class rows read
    assert ReferenceProfile.from_dict(raw) == profile
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({**raw, "format": FORMAT + 1})


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
    (score,) = profile.predictions
    assert score.name == SCORE and sum(score.counts) == 2000
    assert score.edges[0] >= 0.0 and score.edges[-1] <= 1.0 + 1e-12


#: A profile as `ReferenceProfile.to_dict` wrote it before prediction rows were per class (format 1,
#: one "score" row), copied from a registry of that time.
STORED_BEFORE_TASKS = {
    "format": 1, "model": "old", "version": 3, "events": 8, "bins": 2,
    "features": [{"name": "x", "type": "numeric", "counts": [0, 3, 5, 0, 0],
                  "edges": [0.0, 3.0, 7.000000000000001]},
                 {"name": "c", "type": "categorical", "counts": [5, 2, 0, 1], "categories": ["a", "b"]}],
    "score": {"name": "__score__", "type": "numeric", "counts": [0, 3, 5, 0, 0],
              "edges": [0.0, 0.42857142857142855, 1.0000000000000002]},
    "labels": {"0": 6, "1": 2},
}
IRIS = ModelCard(name="iris", features=(FeatureSpec(name="x", type="numeric"),),
                 output=ModelOutput(task="multiclass", classes=("setosa", "versicolor", "virginica")))
REGRESSOR = ModelCard(name="price", features=(FeatureSpec(name="x", type="numeric"),),
                      output=ModelOutput(task="regression"))


def test_a_profile_stored_before_per_class_rows_still_loads_and_is_written_back_unchanged() -> None:
    profile = ReferenceProfile.from_dict(STORED_BEFORE_TASKS)
    assert profile.row_names == ("x", "c", SCORE) and profile.prediction_rows == (2,)
    assert not profile.per_class and profile.label_counts == {"0": 6, "1": 2}
    assert profile.to_dict() == STORED_BEFORE_TASKS


def test_a_multiclass_profile_has_one_prediction_row_per_class() -> None:
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet([4.0, 2.0, 1.0], size=3000)
    labels = rng.choice(["setosa", "versicolor", 2], size=3000, p=[0.5, 0.3, 0.2]).tolist()
    profile = ReferenceProfile.build(IRIS, {"x": rng.normal(size=3000)}, probabilities, labels)
    assert profile.row_names == ("x", "__score__[setosa]", "__score__[versicolor]", "__score__[virginica]")
    assert profile.per_class and profile.prediction_rows == (1, 2, 3)
    assert (profile.counts().sum(axis=1) == 3000).all()
    # Each class's row is profiled on that class's column: its reference median is that column's.
    for j, row in enumerate(profile.predictions):
        median = np.median(probabilities[:, j])
        assert row.edges[0] < median < row.edges[-1]
    assert list(profile.label_counts) == ["0", "1", "2"] and sum(profile.label_counts.values()) == 3000
    raw = json.loads(json.dumps(profile.to_dict()))
    assert raw["format"] == FORMAT and "score" not in raw and len(raw["predictions"]) == 3
    assert ReferenceProfile.from_dict(raw) == profile


def test_the_label_prior_counts_every_class_by_index_whatever_form_the_labels_take() -> None:
    columns = {"x": np.zeros(5)}
    probabilities = np.full((5, 3), 1 / 3)
    profile = ReferenceProfile.build(IRIS, columns, probabilities, ["setosa", 0, "0", np.int64(1), 1.0])
    assert profile.label_counts == {"0": 3, "1": 2, "2": 0}
    with pytest.raises(ValueError, match="'daisy' names no class"):
        ReferenceProfile.build(IRIS, columns, probabilities, ["setosa", "daisy", 0, 0, 0])
    binary = ModelCard(name="fraud", features=IRIS.features, output=ModelOutput(classes=("legit", "fraud")))
    assert ReferenceProfile.build(binary, columns, np.zeros(5), ["fraud", 0, True, "legit", 1]).label_counts \
        == {"0": 2, "1": 3}


def test_a_regressor_watches_its_value_and_has_no_label_prior() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(3.0, 1.0, size=4000)  # skewed, far outside [0, 1]: edges are its quantiles
    profile = ReferenceProfile.build(REGRESSOR, {"x": rng.normal(size=4000)}, values, values.tolist())
    (row,) = profile.predictions
    assert row.name == SCORE and row.edges[0] == values.min() and row.edges[-1] > values.max()
    assert len(row.edges) == 11 and profile.label_counts == {}
    assert ReferenceProfile.from_dict(profile.to_dict()).to_dict()["format"] == SCORE_FORMAT
