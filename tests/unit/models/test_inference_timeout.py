"""A batch that ONNX Runtime does not finish in time is stopped and reported as ``ScoringTimeout``.

The graph is built for it: a ``Loop`` whose trip count comes from the input, so one event with
``x = 1e9`` keeps the session busy for minutes while ordinary values finish at once.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from models.card import FeatureSpec, ModelCard, ModelOutput
from models.errors import ScoringTimeout
from models.runtime import OnnxModel


def slow_graph(path: Path) -> Path:
    """label = 0, probabilities = [0.7, 0.3] per row, after max(x) iterations of a counting loop."""
    body = helper.make_graph(
        [helper.make_node("Add", ["v_in", "one"], ["v_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "count", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                  helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                  helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["x_max"], keepdims=0),
        helper.make_node("Cast", ["x_max"], ["trips"], to=TensorProto.INT64),
        helper.make_node("Loop", ["trips", "true", "zero"], ["counted"], body=body),
        helper.make_node("Mul", ["counted", "zero"], ["nothing"]),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "start", "end"], ["rows"]),
        helper.make_node("Concat", ["rows", "two"], ["prob_shape"], axis=0),
        helper.make_node("Expand", ["base", "prob_shape"], ["expanded"]),
        helper.make_node("Add", ["expanded", "nothing"], ["probabilities"]),
        helper.make_node("ConstantOfShape", ["rows"], ["label"],
                         value=helper.make_tensor("l", TensorProto.INT64, [1], [0])),
    ]
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor("true", TensorProto.BOOL, [], [True]),
         helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
         helper.make_tensor("start", TensorProto.INT64, [1], [0]),
         helper.make_tensor("end", TensorProto.INT64, [1], [1]),
         helper.make_tensor("two", TensorProto.INT64, [1], [2]),
         helper.make_tensor("base", TensorProto.FLOAT, [1, 2], [0.7, 0.3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    card = ModelCard(name="slow", features=(FeatureSpec(name="x", type="numeric"),),
                     output=ModelOutput(label_output="label", score_output="probabilities"))
    path = slow_graph(tmp_path_factory.mktemp("slow") / "model.onnx")
    return OnnxModel.load(path, card, expected_sha256=None)


def test_an_ordinary_batch_finishes_within_its_limit(slow: OnnxModel) -> None:
    prediction = slow.predict({"x": np.array([[3.0], [5.0]])}, timeout_s=5.0)
    assert prediction.scores.tolist() == pytest.approx([0.3, 0.3])


def test_a_batch_past_its_limit_is_stopped_and_the_session_serves_on(slow: OnnxModel) -> None:
    started = time.monotonic()
    with pytest.raises(ScoringTimeout, match="within 200 ms"):
        slow.predict({"x": np.array([[1e9], [1.0]])}, timeout_s=0.2)
    assert time.monotonic() - started < 5  # the caller got its answer at the limit, not after the loop
    assert slow.predict({"x": np.array([[2.0]])}, timeout_s=5.0).scores.tolist() == pytest.approx([0.3])
