from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from sklearn.metrics import roc_auc_score

from driftline import models
from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, ModelCard
from driftline.models.demo import DEMO_MODEL_NAME, TARGET_OPSET, register_demo, train_demo_model
from driftline.models.registry import Registry
from driftline.models.runtime import OnnxModel, columns_from_rows, sha256_file
from driftline.models.synthetic import DEMO_FEATURES, Drift, SyntheticStream

# The shapes of the conftest fixtures (test modules do not import conftest: its name is not unique).
DemoArtifact = tuple[Path, ModelCard]


def test_the_card_describes_the_artifact(demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    assert card.name == DEMO_MODEL_NAME and card.features == DEMO_FEATURES
    assert card.sha256 == sha256_file(artifact) and card.version is None and card.created_at is None
    assert card.intended_use and card.limitations
    assert card.training_data["seed"] == 7 and card.training_data["rows"] == 3000
    assert 0.10 <= card.training_data["positive_rate"] <= 0.30
    assert set(card.metrics) == {"roc_auc", "log_loss", "brier", "average_precision", "onnx_max_abs_diff"}


def test_holdout_metrics_are_plausible(demo_artifact: DemoArtifact) -> None:
    metrics = demo_artifact[1].metrics
    assert 0.75 < metrics["roc_auc"] < 0.95
    assert 0.2 < metrics["log_loss"] < 0.45
    assert metrics["onnx_max_abs_diff"] < 1e-5  # the graph scores like the scikit-learn pipeline


def test_same_seed_same_bytes_and_metrics(demo_artifact: DemoArtifact, tmp_path: Path) -> None:
    artifact, card = demo_artifact
    again, again_card = train_demo_model(tmp_path / "again", seed=7, n_train=3000)
    assert again.read_bytes() == artifact.read_bytes()
    assert again_card == card
    other, other_card = train_demo_model(tmp_path / "other", seed=8, n_train=3000)
    assert other.read_bytes() != artifact.read_bytes() and other_card.metrics != card.metrics


def test_the_graph_follows_the_feeding_convention(demo_artifact: DemoArtifact) -> None:
    graph_model = onnx.load(str(demo_artifact[0]))
    element_types = {"numeric": onnx.TensorProto.FLOAT, "categorical": onnx.TensorProto.STRING}
    inputs = {i.name: i.type.tensor_type for i in graph_model.graph.input}
    assert list(inputs) == [spec.name for spec in DEMO_FEATURES]
    for spec in DEMO_FEATURES:
        assert inputs[spec.name].elem_type == element_types[spec.type]
        assert [d.dim_value for d in inputs[spec.name].shape.dim][1:] == [1]
    assert [o.name for o in graph_model.graph.output] == ["label", "probabilities"]
    assert "ZipMap" not in {node.op_type for node in graph_model.graph.node}
    assert all(o.version <= TARGET_OPSET[o.domain] for o in graph_model.opset_import)


def test_null_and_unseen_categories_score_alike(demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    model = OnnxModel.load(artifact, card, expected_sha256=None)
    row = SyntheticStream(seed=41).rows(1)[0]
    variants = [{**row, "merchant_category": value} for value in (None, "lottery", OTHER_CATEGORY,
                                                                  MISSING_CATEGORY, "gambling")]
    scores = model.predict(columns_from_rows(card, variants)).scores
    assert scores[0] == scores[1] == scores[2] == scores[3]
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)


def test_a_flipped_concept_turns_the_model_upside_down(demo_artifact: DemoArtifact) -> None:
    artifact, card = demo_artifact
    model = OnnxModel.load(artifact, card, expected_sha256=None)
    rows, labels = SyntheticStream(seed=42, drift=Drift(concept="flip")).sample(5000)
    assert roc_auc_score(labels, model.predict(columns_from_rows(card, rows)).scores) < 0.4


def test_register_demo_makes_the_first_version_champion(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    card = register_demo(registry, seed=3, n_train=2000)
    assert card.version == 1 and registry.champion(DEMO_MODEL_NAME) == 1
    scores = registry.load(DEMO_MODEL_NAME).predict(
        columns_from_rows(card, SyntheticStream(seed=43).rows(100))).scores
    assert np.all((scores >= 0.0) & (scores <= 1.0))


_WITHOUT_TRAIN_EXTRAS = """
import sys
from pathlib import Path

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"sklearn", "skl2onnx", "onnx", "faust", "aiokafka", "kafka"}:
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Blocked())
from driftline import models
assert "asyncio" not in sys.modules, "asyncio was imported"
try:
    models.train_demo_model(Path(sys.argv[1]), n_train=10)
except ImportError as exc:
    print("training needs the train extras:", exc)
else:
    raise SystemExit("training worked without scikit-learn")
"""


def test_models_import_without_the_train_extras(tmp_path: Path) -> None:
    root = Path(models.__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _WITHOUT_TRAIN_EXTRAS, str(tmp_path)], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "training needs the train extras" in done.stdout
