"""An ONNX model built to fail on demand, for the fallback, breaker and time-limit tests.

One numeric feature ``x``; every row scores 0.3 (label 0). A batch whose largest ``x`` is huge
runs a counting ``Loop`` that many times (``x = 1e9``: minutes, a hang); a batch whose smallest
``x`` is at or below -1,000 (or whose largest, divided by 1,000 and floored, is odd) makes a
``Gather`` index out of range (ONNX Runtime raises). Ordinary values (0 to 999) finish at once.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from driftline.models.card import Fallback, FeatureSpec, ModelCard, ModelOutput

HANG = 1e9
RAISE = -5000.0


def faulty_card(name: str = "faulty", fallback: float | None = 0.03) -> ModelCard:
    return ModelCard(name=name, features=(FeatureSpec(name="x", type="numeric"),),
                     output=ModelOutput(label_output="label", score_output="probabilities"),
                     fallback=None if fallback is None else Fallback(fallback))


def faulty_graph(path: Path, *, raise_from: float = 1000.0) -> Path:
    """The graph (see the module docstring). A batch whose smallest ``x`` is at or below
    ``-raise_from``, or whose largest divided by ``raise_from`` floors to an odd number, fails. Below
    1,000 it makes a version that passes the registry's smoke test (values in [-1, 1]) and fails
    on ordinary traffic, as a broken new version would."""
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
        # The hang: max(x) iterations of a counting loop.
        helper.make_node("ReduceMax", ["x"], ["x_max"], keepdims=0),
        helper.make_node("Cast", ["x_max"], ["trips"], to=TensorProto.INT64),
        helper.make_node("Loop", ["trips", "true", "zero"], ["counted"], body=body),
        # The failure: gather index floor(min(x) / 1000), valid only for 0 (and -1).
        helper.make_node("ReduceMin", ["x"], ["x_min"], keepdims=0),
        helper.make_node("Div", ["x_min", "thousand"], ["scaled"]),
        helper.make_node("Floor", ["scaled"], ["floored"]),
        helper.make_node("Cast", ["floored"], ["quotient_min"], to=TensorProto.INT64),
        helper.make_node("Min", ["quotient_min", "zero_index"], ["index"]),
        helper.make_node("Gather", ["table", "index"], ["picked"], axis=0),
        helper.make_node("Div", ["x_max", "thousand"], ["scaled_max"]),
        helper.make_node("Floor", ["scaled_max"], ["floored_max"]),
        helper.make_node("Cast", ["floored_max"], ["quotient"], to=TensorProto.INT64),
        helper.make_node("Mod", ["quotient", "two_scalar"], ["index_max"]),
        helper.make_node("Gather", ["table", "index_max"], ["picked_max"], axis=0),
        helper.make_node("Mul", ["picked", "picked_max"], ["both"]),
        helper.make_node("Mul", ["counted", "both"], ["nothing"]),
        helper.make_node("Mul", ["nothing", "zero"], ["zeroed"]),
        # The answer: [0.7, 0.3] per row, label 0.
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "start", "end"], ["rows"]),
        helper.make_node("Concat", ["rows", "two"], ["prob_shape"], axis=0),
        helper.make_node("Expand", ["base", "prob_shape"], ["expanded"]),
        helper.make_node("Add", ["expanded", "zeroed"], ["probabilities"]),
        helper.make_node("ConstantOfShape", ["rows"], ["label"],
                         value=helper.make_tensor("l", TensorProto.INT64, [1], [0])),
    ]
    graph = helper.make_graph(
        nodes, "faulty", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor("true", TensorProto.BOOL, [], [True]),
         helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
         helper.make_tensor("thousand", TensorProto.FLOAT, [], [raise_from]),
         helper.make_tensor("table", TensorProto.FLOAT, [1], [1.0]),
         helper.make_tensor("start", TensorProto.INT64, [1], [0]),
         helper.make_tensor("end", TensorProto.INT64, [1], [1]),
         helper.make_tensor("two", TensorProto.INT64, [1], [2]),
         helper.make_tensor("two_scalar", TensorProto.INT64, [], [2]),
         helper.make_tensor("zero_index", TensorProto.INT64, [], [0]),
         helper.make_tensor("base", TensorProto.FLOAT, [1, 2], [0.7, 0.3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
