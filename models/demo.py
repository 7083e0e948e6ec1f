"""Train, export and register the demo card-fraud model on synthetic events.

The model is a scikit-learn pipeline exported to ONNX with its preprocessing inside the graph:
numeric features are median-imputed and standardised, categorical ones one-hot encoded over the
card's categories (``MISSING_CATEGORY`` and ``OTHER_CATEGORY`` are not among them, so both encode
as all zeros), then a small gradient-boosted tree ensemble scores the result. Training rows go
through :func:`models.runtime.columns_from_rows`, the same feeding code the worker uses, so
training and serving cannot skew.

scikit-learn, skl2onnx and onnx are the optional ``train`` extras: they are imported inside the
functions, so the worker imports this package without them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from driftline.models.card import ModelCard
from driftline.models.runtime import OnnxModel, Row, columns_from_rows, sha256_file
from driftline.models.synthetic import DEMO_FEATURES, SyntheticStream

if TYPE_CHECKING:
    from driftline.models.registry import Registry

DEMO_MODEL_NAME = "card-fraud"
#: ONNX opsets of the export: old enough for any ONNX Runtime of the last few years.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
_HOLDOUT_ROWS = 10_000

_INTENDED_USE = (
    "Demonstrates and tests driftline end to end: scores synthetic card-payment authorisations "
    "(models.synthetic) with a probability of fraud. Not for decisions about real payments."
)
_LIMITATIONS = (
    "Trained only on synthetic, stationary events; says nothing about real fraud. Scores are not "
    "calibrated for any traffic but the synthetic baseline. A null category and a category the "
    "card does not list are indistinguishable to the model (both one-hot encode as all zeros). "
    "Drifted streams (models.synthetic.Drift) are expected to degrade it: that is its purpose."
)


def train_demo_model(out_dir: Path, *, seed: int = 7, n_train: int = 20_000) -> tuple[Path, ModelCard]:
    """Train the demo model on ``n_train`` synthetic events and write ``out_dir/model.onnx``.

    Metrics are measured on the ONNX artifact itself, on the next 10,000 events of the same
    seeded stream (a holdout disjoint from the training events).

    Returns
    -------
    tuple of Path and ModelCard
        The artifact and its card (``sha256`` of the artifact set; ``version`` and
        ``created_at`` are left to the registry). The same seed gives the same artifact bytes
        and the same metrics.
    """
    card = ModelCard(name=DEMO_MODEL_NAME, features=DEMO_FEATURES)
    stream = SyntheticStream(seed=seed)
    train_rows, train_labels = stream.sample(n_train)
    holdout_rows, holdout_labels = stream.sample(_HOLDOUT_ROWS)
    pipeline = _fit(card, _design_matrix(card, train_rows), train_labels, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / "model.onnx"
    artifact.write_bytes(_export(pipeline, card))
    metrics = _holdout_metrics(artifact, card, pipeline, holdout_rows, holdout_labels)
    training_data = {
        "generator": "driftline.models.synthetic.SyntheticStream",
        "seed": seed,
        "rows": n_train,
        "positive_rate": float(train_labels.mean()),
        "holdout": f"the next {_HOLDOUT_ROWS} events of the same stream",
        "holdout_rows": _HOLDOUT_ROWS,
        "holdout_positive_rate": float(holdout_labels.mean()),
    }
    return artifact, replace(card, sha256=sha256_file(artifact), intended_use=_INTENDED_USE,
                             limitations=_LIMITATIONS, training_data=training_data, metrics=metrics)


def register_demo(registry: Registry, *, seed: int = 7, n_train: int = 20_000) -> ModelCard:
    """Train the demo model and register it; returns the registered card (version, sha256 set).

    The first registration of the model makes it champion (``Registry.register``'s ``"auto"``).
    """
    with tempfile.TemporaryDirectory(prefix="driftline-demo-") as scratch:
        artifact, card = train_demo_model(Path(scratch), seed=seed, n_train=n_train)
        return registry.register(artifact, card)


def _design_matrix(card: ModelCard, rows: Sequence[Row]) -> npt.NDArray[Any]:
    """The rows as the graph will see them, one column per feature in card order."""
    columns = columns_from_rows(card, rows)
    return np.concatenate([columns[name].astype(object) for name in card.feature_names], axis=1)


def _fit(card: ModelCard, features: npt.NDArray[Any], labels: npt.NDArray[np.int64], seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [i for i, spec in enumerate(card.features) if spec.type == "numeric"]
    categorical = [i for i, spec in enumerate(card.features) if spec.type == "categorical"]
    # Fixed categories: MISSING_CATEGORY and OTHER_CATEGORY stay unknown and encode as zeros, as
    # the feeding convention promises. Nulls arrive as MISSING_CATEGORY already (a string tensor
    # cannot carry a null), so the categorical branch needs no imputer.
    encoder = OneHotEncoder(categories=[list(card.features[i].categories) for i in categorical],
                            handle_unknown="ignore", sparse_output=False)
    preprocess = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("categorical", encoder, categorical),
    ])
    # skl2onnx 1.20 cannot convert scikit-learn 1.9's HistGradientBoosting trees (boolean node
    # attributes), so classic gradient boosting stands in: 50 shallow trees, each on half the rows
    # and half the features per split, which quarters the fit time for ~0.005 of ROC AUC.
    classifier = GradientBoostingClassifier(n_estimators=50, max_depth=3, learning_rate=0.2, subsample=0.5,
                                            max_features=0.5, random_state=seed)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)]).fit(features, labels)


def _export(pipeline: Any, card: ModelCard) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [(spec.name, FloatTensorType([None, 1]) if spec.type == "numeric"
               else StringTensorType([None, 1])) for spec in card.features]
    classifier = pipeline.named_steps["classifier"]
    onnx_model = convert_sklearn(pipeline, name=card.name, initial_types=inputs,
                                 options={id(classifier): {"zipmap": False}}, target_opset=TARGET_OPSET)
    serialized: bytes = onnx_model.SerializeToString()
    return serialized


def _holdout_metrics(artifact: Path, card: ModelCard, pipeline: Any, rows: Sequence[Row],
                     labels: npt.NDArray[np.int64]) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    model = OnnxModel.load(artifact, card, expected_sha256=None)
    scores = model.predict(columns_from_rows(card, rows)).scores
    reference = pipeline.predict_proba(_design_matrix(card, rows))[:, card.output.positive_index]
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        # Float32 inputs and thresholds in the graph versus float64 in scikit-learn.
        "onnx_max_abs_diff": float(np.max(np.abs(scores - reference))),
    }
