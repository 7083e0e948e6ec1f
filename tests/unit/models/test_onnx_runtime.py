from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, ModelCard, ModelOutput
from driftline.models.errors import CardError, IntegrityError, ModelLoadError, ScoringError
from driftline.models.runtime import OnnxModel, columns_from_rows, sha256_file
from driftline.models.synthetic import SyntheticStream

# The shapes of the conftest fixtures (test modules do not import conftest: its name is not unique).
DemoArtifact = tuple[Path, ModelCard]
TinyModelFactory = Callable[..., Path]


def load(artifact: DemoArtifact, card: ModelCard | None = None) -> OnnxModel:
    path, demo_card = artifact
    return OnnxModel.load(path, card or demo_card, expected_sha256=None)


def with_feature(card: ModelCard, feature: str, **changes: object) -> ModelCard:
    features = tuple(replace(spec, **changes) if spec.name == feature else spec  # type: ignore[arg-type]
                     for spec in card.features)
    return replace(card, features=features)


def test_columns_follow_the_feeding_convention(tiny_card: ModelCard) -> None:
    rows: list[dict[str, float | str | None]] = [
        {"x": 0.25, "c": "a"}, {"x": None, "c": None}, {"c": "zebra"}, {"x": 1.0, "c": "b"}]
    columns = columns_from_rows(tiny_card, rows)
    assert columns["x"].dtype == np.float32 and columns["x"].shape == (4, 1)
    assert columns["x"][:, 0].tolist()[0] == 0.25 and columns["x"][3, 0] == 1.0
    assert math.isnan(columns["x"][1, 0]) and math.isnan(columns["x"][2, 0])
    assert columns["c"].dtype == object and columns["c"].shape == (4, 1)
    assert columns["c"][:, 0].tolist() == ["a", MISSING_CATEGORY, OTHER_CATEGORY, "b"]


def test_columns_of_no_rows_are_empty(tiny_card: ModelCard) -> None:
    columns = columns_from_rows(tiny_card, [])
    assert columns["x"].shape == (0, 1) and columns["c"].shape == (0, 1)


def test_predict_equals_a_direct_onnxruntime_run(demo_artifact: DemoArtifact) -> None:
    path, card = demo_artifact
    model = load(demo_artifact)
    rows = SyntheticStream(seed=21).rows(1500)
    rows[0] = {**rows[0], "channel": "carrier_pigeon", "merchant_category": None, "ip_risk_score": None}
    prediction = model.predict(columns_from_rows(card, rows))

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(["label", "probabilities"], columns_from_rows(card, rows))
    assert prediction.scores.dtype == np.float64 and prediction.scores.shape == (1500,)
    assert np.array_equal(prediction.scores, probabilities[:, 1].astype(np.float64))
    assert np.array_equal(prediction.labels, labels.reshape(-1))
    assert set(prediction.labels.tolist()) <= {0, 1}


def test_predict_matches_a_multithreaded_run_to_float32_rounding(demo_artifact: DemoArtifact) -> None:
    # With several intra-op threads ORT sums the trees in another order: equal up to float32 ulps.
    path, card = demo_artifact
    columns = columns_from_rows(card, SyntheticStream(seed=21).rows(1500))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], columns)[0]
    np.testing.assert_allclose(load(demo_artifact).predict(columns).scores, probabilities[:, 1], atol=1e-6)


def test_predict_accepts_flat_columns_and_empty_batches(demo_artifact: DemoArtifact) -> None:
    model = load(demo_artifact)
    columns = columns_from_rows(model.card, SyntheticStream(seed=22).rows(10))
    flat = {name: column.reshape(-1) for name, column in columns.items()}
    assert np.array_equal(model.predict(flat).scores, model.predict(columns).scores)
    empty = model.predict(columns_from_rows(model.card, []))
    assert empty.scores.shape == (0,) and empty.labels.shape == (0,)


def test_predict_refuses_caller_bugs(demo_artifact: DemoArtifact) -> None:
    model = load(demo_artifact)
    columns = columns_from_rows(model.card, SyntheticStream(seed=23).rows(4))
    with pytest.raises(ValueError, match="amount"):
        model.predict({name: column for name, column in columns.items() if name != "amount"})
    with pytest.raises(ValueError, match="different lengths"):
        model.predict({**columns, "amount": columns["amount"][:2]})


def test_an_onnxruntime_failure_is_a_retriable_scoring_error(tiny_model: TinyModelFactory,
                                                             tiny_card: ModelCard) -> None:
    model = OnnxModel.load(tiny_model(fixed_batch=True), replace(tiny_card, version=3), expected_sha256=None)
    assert model.predict(columns_from_rows(tiny_card, [{"x": 0.2, "c": "a"}])).scores.tolist() == [
        pytest.approx(0.2)]
    with pytest.raises(ScoringError) as caught:
        model.predict(columns_from_rows(tiny_card, [{"x": 0.2, "c": "a"}] * 3))
    assert caught.value.retriable and caught.value.model == "tiny" and caught.value.version == 3


def test_load_verifies_the_sha256(demo_artifact: DemoArtifact) -> None:
    path, card = demo_artifact
    registered = replace(card, version=4)
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path) == actual
    assert OnnxModel.load(path, registered, expected_sha256=actual).card.version == 4
    with pytest.raises(IntegrityError) as caught:
        OnnxModel.load(path, registered, expected_sha256="0" * 64)
    message = str(caught.value)
    assert "card-fraud" in message and "version 4" in message and "0" * 64 in message and actual in message
    assert (caught.value.model, caught.value.version) == ("card-fraud", 4)


def test_load_wraps_unreadable_artifacts(demo_artifact: DemoArtifact, tmp_path: Path) -> None:
    path, card = demo_artifact
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ModelLoadError, match="ONNX Runtime cannot load"):
        OnnxModel.load(broken, card, expected_sha256=None)
    with pytest.raises(ModelLoadError, match="cannot read"):
        OnnxModel.load(tmp_path / "absent.onnx", card, expected_sha256=None)


def test_session_runs_single_threaded(demo_artifact: DemoArtifact) -> None:
    options = load(demo_artifact).session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_check_inputs_accepts_the_demo_model(demo_artifact: DemoArtifact) -> None:
    model = load(demo_artifact)
    model.check_inputs()
    model.check_outputs()


def test_check_inputs_names_a_renamed_feature(demo_artifact: DemoArtifact) -> None:
    card = with_feature(demo_artifact[1], "amount", name="amount_eur")
    with pytest.raises(CardError, match="'amount_eur' is not an input") as caught:
        load(demo_artifact, card).check_inputs()
    assert caught.value.field == "amount_eur"


def test_check_inputs_names_a_feature_of_the_wrong_type(demo_artifact: DemoArtifact) -> None:
    card = with_feature(demo_artifact[1], "txn_count_1h", type="categorical", categories=("0", "1"))
    with pytest.raises(CardError, match=r"tensor\(string\)") as caught:
        load(demo_artifact, card).check_inputs()
    assert caught.value.field == "txn_count_1h"


def test_check_inputs_names_an_input_the_card_lacks(demo_artifact: DemoArtifact) -> None:
    card = demo_artifact[1]
    partial = replace(card, features=tuple(s for s in card.features if s.name != "card_type"))
    with pytest.raises(CardError, match="does not declare") as caught:
        load(demo_artifact, partial).check_inputs()
    assert caught.value.field == "card_type"


def test_check_outputs_names_a_missing_output(demo_artifact: DemoArtifact) -> None:
    card = replace(demo_artifact[1], output=ModelOutput(score_output="output_probability"))
    with pytest.raises(CardError, match="'output_probability'") as caught:
        load(demo_artifact, card).check_outputs()
    assert caught.value.field == "output.score_output"


def test_a_copied_artifact_has_the_same_digest(demo_artifact: DemoArtifact, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(demo_artifact[0], copy)
    assert sha256_file(copy) == sha256_file(demo_artifact[0]) == demo_artifact[1].sha256
