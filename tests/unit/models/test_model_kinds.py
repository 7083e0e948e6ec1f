"""Model kinds the card declares (binary, multi-class, regression), single-tensor inputs, score tolerance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.ext import json_rows
from driftline.models.card import ModelCard, ModelOutput
from driftline.models.errors import CardError, ScoringError
from driftline.models.registry import Registry
from driftline.models.runtime import OnnxModel, columns_from_rows
from driftline.streams.outputs import answer_template
from tests.model_zoo import ZooModel, build_zoo

TinyModelFactory = Callable[..., Path]
FEATURES = [{"name": "x", "type": "numeric"}]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ZooModel]:
    return {model.name: model for model in build_zoo(tmp_path_factory.mktemp("zoo"), rows=600)}


def load(model: ZooModel, **card_changes: Any) -> OnnxModel:
    card = ModelCard.from_dict({**model.card, **card_changes})
    return OnnxModel.load(model.artifact, card, expected_sha256=None)


@pytest.mark.parametrize(("output", "field", "says"), [
    (None, "output", "the card has no output"),
    ({"label_output": "label"}, "output.task", "output.task must be one of"),
    ({"task": "ranking"}, "output.task", "'ranking'"),
    ({"task": "binary", "label_outptu": "label"}, "output.label_outptu", "allowed:"),
    ({"task": "regression", "score_output": "p"}, "output.score_output", "not a field of a regression"),
    ({"task": "binary", "positive_index": 2}, "output.positive_index", "0 or 1"),
    ({"task": "binary", "positive_index": True}, "output.positive_index", "0 or 1"),
    ({"task": "binary", "classes": ["a", "b", "c"]}, "output.classes", "names 2 classes"),
    ({"task": "multiclass", "classes": "abc"}, "output.classes", "list of class names"),
    ({"task": "multiclass", "classes": ["a", "a"]}, "output.classes", "duplicates"),
    ({"task": "binary", "score_output": ""}, "output.score_output", "must name a graph output"),
    (["label"], "output", "must be an object"),
])
def test_an_output_mistake_names_its_field(output: Any, field: str, says: str) -> None:
    raw: dict[str, Any] = {"name": "m", "features": FEATURES}
    if output is not None:
        raw["output"] = output
    with pytest.raises(CardError) as refused:
        ModelCard.from_dict(raw)
    assert refused.value.field == field and says in str(refused.value)


def test_a_card_round_trips_with_its_task() -> None:
    raw = {"name": "m", "features": FEATURES, "input_tensor": "X",
           "output": {"task": "multiclass", "classes": ["a", "b", "c"]}}
    card = ModelCard.from_dict(raw)
    assert card.output == ModelOutput(task="multiclass", classes=("a", "b", "c"))
    assert ModelCard.from_dict(card.to_dict()) == card
    assert card.to_dict()["output"] == {"task": "multiclass", "label_output": "label",
                                        "score_output": "probabilities", "classes": ["a", "b", "c"]}


def test_a_tensor_input_cannot_carry_categories_and_says_how_to_export() -> None:
    raw = {"name": "m", "input_tensor": "X", "output": {"task": "binary"},
           "features": [*FEATURES, {"name": "c", "type": "categorical", "categories": ["a"]}]}
    with pytest.raises(CardError, match="export one input per feature") as refused:
        ModelCard.from_dict(raw)
    assert refused.value.field == "input_tensor"


def test_a_constant_fallback_is_for_binary_models_only() -> None:
    with pytest.raises(CardError, match="binary models only"):
        ModelCard.from_dict({"name": "m", "features": FEATURES, "output": {"task": "regression"},
                             "fallback": {"score": 0.1}})


def test_a_single_tensor_graph_without_input_tensor_is_refused_with_the_fix(zoo: dict[str, ZooModel]) -> None:
    card = {k: v for k, v in zoo["logreg-binary"].card.items() if k != "input_tensor"}
    model = OnnxModel.load(zoo["logreg-binary"].artifact, ModelCard.from_dict(card), expected_sha256=None)
    with pytest.raises(CardError, match='add "input_tensor": "X" to the card and list its 3 columns'):
        model.check_inputs()


def test_a_tensor_wider_than_the_card_is_refused(zoo: dict[str, ZooModel]) -> None:
    model = load(zoo["logreg-binary"], features=FEATURES)
    with pytest.raises(CardError, match="the card lists 1 features"):
        model.check_inputs()


def test_a_classifier_with_more_classes_than_the_card_names_is_refused(zoo: dict[str, ZooModel]) -> None:
    zoo_model = zoo["logreg-multiclass"]
    model = load(zoo_model, output={**zoo_model.card["output"], "classes": ["a", "b"]})
    with pytest.raises(CardError, match="has 3 probability columns") as refused:
        model.check_outputs()
    assert refused.value.field == "output.classes"


def test_a_regressor_declared_as_a_classifier_is_refused(zoo: dict[str, ZooModel]) -> None:
    model = load(zoo["linear-regression"], output={"task": "binary"})
    with pytest.raises(CardError, match="declared output 'label' is not an output") as refused:
        model.check_outputs()
    assert refused.value.field == "output.label_output"


@pytest.mark.parametrize("name", ["logreg-binary", "forest-multiclass", "pipeline-multiclass",
                                  "tree-regression", "linear-regression"])
def test_each_kind_answers_with_its_fields(zoo: dict[str, ZooModel], name: str) -> None:
    zoo_model = zoo[name]
    model = load(zoo_model)
    model.check_inputs()
    model.check_outputs()
    prediction = model.predict(columns_from_rows(model.card, zoo_model.rows))
    answer = answer_template(model.card.output, prediction)
    answers = [orjson.loads(row) for row in json_rows(answer.wrapped(b"{", b"}"), answer.columns)]
    task = model.card.output.task
    if task == "regression":
        assert [a["value"] for a in answers] == pytest.approx(zoo_model.expected.tolist(), rel=1e-4, abs=1e-4)
        assert prediction.scores is prediction.values
        return
    classes = list(model.card.output.classes)
    assert all(list(a["scores"]) == classes for a in answers)
    assert np.allclose([list(a["scores"].values()) for a in answers], zoo_model.expected, atol=1e-4)
    assert [str(a["label"]) for a in answers] == [str(label) for label in prediction.labels.tolist()]
    if task == "binary":
        assert [a["score"] for a in answers] == [a["scores"][classes[1]] for a in answers]
    else:  # the predicted class's probability is what the monitors follow
        assert "score" not in answers[0]
        assert prediction.scores.tolist() == prediction.probabilities.max(axis=1).tolist()


def test_probabilities_one_float32_step_above_one_are_accepted(tiny_model: TinyModelFactory,
                                                               tiny_card: ModelCard) -> None:
    # A random forest's averaged votes can come out 1 ULP above 1.0: 1.0000001192092896.
    step = float(np.nextafter(np.float32(1.0), np.float32(2.0)))
    model = OnnxModel.load(tiny_model(scale=step), tiny_card, expected_sha256=None)
    prediction = model.predict(columns_from_rows(tiny_card, [{"x": 1.0, "c": "a"}, {"x": 0.0, "c": "b"}]))
    assert prediction.scores.tolist() == [1.0, 0.0]  # clipped: the negative class's -1.2e-7 too
    assert prediction.probabilities is not None and prediction.probabilities.min() == 0.0


def test_probabilities_clearly_above_one_are_a_scoring_error(tiny_model: TinyModelFactory,
                                                             tiny_card: ModelCard) -> None:
    model = OnnxModel.load(tiny_model(scale=1.01), tiny_card, expected_sha256=None)
    with pytest.raises(ScoringError, match=r"outside \[0, 1\]"):
        model.predict(columns_from_rows(tiny_card, [{"x": 1.0, "c": "a"}]))


def test_a_card_stored_before_tasks_reads_as_binary(demo_registry: Path, tmp_path: Path) -> None:
    import shutil

    registry_root = tmp_path / "registry"
    shutil.copytree(demo_registry, registry_root)
    (card_path,) = registry_root.glob("*/1/card.json")
    stored = json.loads(card_path.read_text())
    stored["output"] = {"label_output": "label", "score_output": "probabilities", "positive_index": 1,
                        "classes": []}  # how cards were written before they declared a task
    card_path.write_text(json.dumps(stored))
    card = Registry(registry_root).card(stored["name"], 1)
    assert card.output.task == "binary" and card.output.positive_index == 1
