"""Shared fixtures for the model-layer tests: a demo model trained once, and tiny hand-built graphs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from driftline.models.card import FeatureSpec, ModelCard
from driftline.models.demo import train_demo_model

DemoArtifact = tuple[Path, ModelCard]
TinyModelFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def demo_artifact(tmp_path_factory: pytest.TempPathFactory) -> DemoArtifact:
    """The demo model trained once on a few thousand rows; tests copy it before changing it."""
    return train_demo_model(tmp_path_factory.mktemp("demo-model"), seed=7, n_train=3000)


@pytest.fixture
def tiny_card() -> ModelCard:
    return ModelCard(name="tiny", features=(
        FeatureSpec(name="x", type="numeric", nullable=False, min=0.0, max=1.0),
        FeatureSpec(name="c", type="categorical", categories=("a", "b")),
    ))


@pytest.fixture
def tiny_model(tmp_path: Path) -> TinyModelFactory:
    """Builds a graph whose positive probability is ``scale * x`` (input ``c`` is unused).

    With ``scale`` 1 and ``x`` in [0, 1] it is a valid model; a larger scale yields scores above
    1, and ``fixed_batch`` adds a reshape that fails for any batch but one row.
    """
    from onnx import NodeProto, TensorProto, helper, save_model

    def constant(name: str, value: float) -> NodeProto:
        return helper.make_node("Constant", [], [name],
                                value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))

    def build(*, scale: float = 1.0, fixed_batch: bool = False, name: str = "tiny.onnx") -> Path:
        nodes = [
            constant("scale", scale),
            constant("one", 1.0),
            constant("half", 0.5),
            helper.make_node("Mul", ["x", "scale"], ["positive"]),
            helper.make_node("Sub", ["one", "positive"], ["negative"]),
            helper.make_node("Concat", ["negative", "positive"], ["stacked"], axis=1),
            helper.make_node("Greater", ["positive", "half"], ["is_positive"]),
            helper.make_node("Cast", ["is_positive"], ["label"], to=TensorProto.INT64),
        ]
        if fixed_batch:
            nodes.append(helper.make_node("Constant", [], ["shape"],
                                          value=helper.make_tensor("sh", TensorProto.INT64, [2], [1, 2])))
            nodes.append(helper.make_node("Reshape", ["stacked", "shape"], ["probabilities"]))
        else:
            nodes.append(helper.make_node("Identity", ["stacked"], ["probabilities"]))
        graph = helper.make_graph(
            nodes, "tiny",
            inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1]),
                    helper.make_tensor_value_info("c", TensorProto.STRING, [None, 1])],
            outputs=[helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
                     helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        path = tmp_path / name
        save_model(model, str(path))
        return path

    return build
