"""``models.importing``: card inference, export and the scikit-learn check on ordinary pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pytest

from driftline.models.card import MISSING_CATEGORY
from driftline.models.importing import ImportedModel, ImportRefused, import_pipeline
from driftline.models.importing.sample import read_sample
from driftline.models.registry import Registry
from tests.import_data import CHANNELS, NUMERIC, TIERS, column_pipeline, customers

FEATURES = [*NUMERIC, "channel"]


def imported(tmp_path: Path, model: Any, frame: Any, label: str, **options: Any) -> ImportedModel:
    """Dump ``model`` and ``frame`` as a user would, and import them."""
    joblib.dump(model, tmp_path / "model.joblib")
    frame.to_csv(tmp_path / "sample.csv", index=False)
    return import_pipeline(tmp_path / "model.joblib", tmp_path / "sample.csv", name="customers",
                           label=label, **options)


@pytest.fixture(scope="module")
def frame() -> Any:
    return customers(600, seed=5)


def fitted(estimator: Any, frame: Any, target: str) -> Any:
    return column_pipeline(estimator).fit(frame[FEATURES], frame[target])


def test_a_binary_pipeline_becomes_one_input_per_column_with_the_sample_s_card(
        frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    result = imported(tmp_path, fitted(LogisticRegression(), frame, "churned"), frame, "churned")
    card = result.card.to_dict()
    assert card["features"] == [
        {"name": "income", "type": "numeric", "nullable": False, "min": None, "max": None},
        {"name": "age", "type": "numeric", "nullable": False, "min": None, "max": None},
        {"name": "balance", "type": "numeric", "nullable": True, "min": None, "max": None},
        {"name": "channel", "type": "categorical", "nullable": True, "categories": sorted(CHANNELS),
         "unseen": "other"},
    ]
    assert card["output"] == {"task": "binary", "label_output": "label", "score_output": "probabilities",
                              "classes": ["0", "1"], "positive_index": 1}
    assert "input_tensor" not in card
    assert result.parity.rows == 600 and result.parity.max_abs_diff < 1e-5
    assert result.labels == [str(v) for v in frame["churned"]]
    first = frame.iloc[0]
    assert result.rows[0] == {"income": pytest.approx(first["income"]), "age": first["age"],
                              "balance": pytest.approx(first["balance"]), "channel": first["channel"]}
    assert sum(row["channel"] is None for row in result.rows) == frame["channel"].isna().sum() > 0


def test_a_null_category_is_answered_as_scikit_learn_answers_it(frame: Any, tmp_path: Path) -> None:
    """The encoder learnt NaN as a category; the graph gets __missing__ in its place."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import OneHotEncoder

    raw = ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), ["channel"])],
                            remainder="passthrough")
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(raw, RandomForestClassifier(n_estimators=10, random_state=0))
    clean = frame.assign(balance=frame["balance"].fillna(0))
    model.fit(clean[FEATURES], clean["churned"])
    result = imported(tmp_path, model, clean, "churned")
    assert result.parity.max_abs_diff < 1e-5
    assert MISSING_CATEGORY not in result.card.features[-1].categories


def test_a_multiclass_pipeline_names_its_classes(frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    result = imported(tmp_path, fitted(LogisticRegression(max_iter=500), frame, "tier"), frame, "tier")
    assert result.card.output.task == "multiclass"
    assert result.card.output.classes == tuple(sorted(TIERS))
    assert result.parity.max_abs_diff < 1e-4
    assert set(result.labels or []) == set(TIERS)


def test_a_regressor_has_a_value_output_and_no_label_prior(frame: Any, tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeRegressor

    model = fitted(DecisionTreeRegressor(max_depth=6, random_state=0), frame, "spend")
    result = imported(tmp_path, model, frame, "spend")
    assert result.card.output.to_dict() == {"task": "regression", "value_output": "variable"}
    assert result.labels is None
    assert result.parity.max_abs_diff < 1e-3


def test_a_model_fit_on_an_array_gets_one_input_tensor_named_from_the_header(
        frame: Any, tmp_path: Path) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    numbers = frame[["income", "age", "churned"]]
    model = GradientBoostingClassifier(n_estimators=20, random_state=0)
    model.fit(numbers[["income", "age"]].to_numpy(), numbers["churned"].to_numpy())
    result = imported(tmp_path, model, numbers, "churned")
    assert result.card.input_tensor == "X"
    assert result.card.feature_names == ("income", "age")
    assert result.parity.max_abs_diff < 1e-4


def test_ranges_from_the_sample_only_when_asked(frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    result = imported(tmp_path, fitted(LinearRegression(), frame, "spend"), frame, "spend", ranges="sample")
    income = result.card.features[0]
    assert (income.min, income.max) == (frame["income"].min(), frame["income"].max())


def test_categories_the_encoder_learnt_but_the_sample_misses_stay_in_the_card(
        frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = fitted(LogisticRegression(), frame, "churned")
    without_phone = frame[frame["channel"] != "phone"]
    result = imported(tmp_path, model, without_phone, "churned")
    assert result.card.features[-1].categories == tuple(sorted(CHANNELS))


def test_an_encoder_that_raises_on_unknown_categories_is_refused(frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = column_pipeline(LogisticRegression(), handle_unknown="error")
    model.fit(frame[FEATURES], frame["churned"])
    with pytest.raises(ImportRefused, match='refit it with handle_unknown="ignore"'):
        imported(tmp_path, model, frame, "churned")


def test_a_graph_that_answers_otherwise_is_refused_naming_the_row(frame: Any, tmp_path: Path) -> None:
    """float32 rounding is a real difference: with no tolerance at all, the check must see it."""
    from sklearn.linear_model import LogisticRegression

    refusal = r"does not answer like scikit-learn on \d+ of 600 sample rows; the worst is row \d+ .*'income'"
    with pytest.raises(ImportRefused, match=refusal):
        imported(tmp_path, fitted(LogisticRegression(), frame, "churned"), frame, "churned", tolerance=0.0)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns=["age"]), r"lacks columns the model was fit on: \['age'\]"),
    (lambda f: f.assign(age=f["age"] > 40), "is boolean"),
])
def test_a_sample_that_does_not_fit_is_refused(frame: Any, tmp_path: Path, change: Any, message: str) -> None:
    from sklearn.linear_model import LogisticRegression

    model = fitted(LogisticRegression(), frame, "churned")
    with pytest.raises(ImportRefused, match=message):
        imported(tmp_path, model, change(frame), "churned")


def test_a_text_column_of_identifiers_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    many = customers(1_200, seed=6)
    model = fitted(LogisticRegression(), many, "churned")
    # 1,200 identifiers, and the 4 channels the encoder learnt
    with pytest.raises(ImportRefused, match="'channel' has 1204 distinct values, more than 1000"):
        imported(tmp_path, model, many.assign(channel=[f"c{i}" for i in range(len(many))]), "churned")


def test_a_forest_split_at_a_float32_tie_is_refused_with_how_many_rows(frame: Any, tmp_path: Path) -> None:
    """Scaled inputs next to a forest's thresholds: float32 flips a few rows' trees (a known
    skl2onnx limit), and the refusal says how many, so the user can judge and pass --tolerance."""
    from sklearn.ensemble import RandomForestClassifier

    model = fitted(RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), frame, "tier")
    with pytest.raises(ImportRefused, match=r"on 4 of 600 sample rows; the worst is row 1 "):
        imported(tmp_path, model, frame, "tier")
    assert imported(tmp_path, model, frame, "tier", tolerance=0.1).parity.max_abs_diff > 1e-4


def test_an_estimator_skl2onnx_cannot_convert_is_refused(frame: Any, tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=5).fit(frame[["income", "age"]], frame["churned"])
    with pytest.raises(ImportRefused, match="skl2onnx cannot convert this HistGradientBoostingClassifier"):
        imported(tmp_path, model, frame, "churned")


def test_csv_parquet_and_json_lines_read_alike(frame: Any, tmp_path: Path) -> None:
    small = frame[FEATURES].head(50)
    small.to_csv(tmp_path / "s.csv", index=False)
    small.to_parquet(tmp_path / "s.parquet", row_group_size=7)
    rows = small.astype(object).where(small.notna(), None).to_dict("records")
    (tmp_path / "s.jsonl").write_bytes(b"\n".join(orjson.dumps({"id": i, "features": r})
                                                  for i, r in enumerate(rows)))
    read = {s: read_sample(tmp_path / f"s.{s}", limit=20) for s in ("csv", "parquet", "jsonl")}
    for got in read.values():
        assert len(got) == 20
        assert np.allclose(got["income"], small["income"].head(20))
        assert got["channel"].isna().tolist() == small["channel"].head(20).isna().tolist()


def test_the_imported_model_registers_and_serves_like_the_check(frame: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from driftline.models.runtime import columns_from_rows
    from driftline.streams.registration import register_with_reference

    model = fitted(LogisticRegression(), frame, "churned")
    result = imported(tmp_path, model, frame, "churned")
    (tmp_path / "model.onnx").write_bytes(result.artifact)
    registry = Registry(tmp_path / "registry")
    card = register_with_reference(registry, tmp_path / "model.onnx", result.card, result.rows,
                                   result.labels).card
    served = registry.load(card.name).predict(columns_from_rows(card, result.rows))
    assert served.probabilities is not None
    assert np.allclose(served.probabilities, model.predict_proba(frame[FEATURES]), atol=1e-4)
    assert registry.reference(card.name)["labels"] == {"0": int((frame["churned"] == 0).sum()),
                                                       "1": int(frame["churned"].sum())}
