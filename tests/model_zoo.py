"""Ordinary scikit-learn models, exported the ways users export them, for the bring-your-own-model tests.

Each `ZooModel` is an ONNX artifact, the card a user would write for it, and seeded rows of the
data it was trained on (the reference sample, and the events the tests send). Plain estimators
are exported the most common skl2onnx way, one float tensor ``X: [N, k]`` (``input_tensor``);
pipelines that select columns (a ``ColumnTransformer``) get one input per feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

TARGET_OPSET = 17
NUMERIC = ("income", "age", "tenure")
#: Every feature of the pipeline models: ``balance`` may be null, ``channel`` is categorical.
ALL_FEATURES = (*NUMERIC, "balance", "channel")
CHANNELS = ("web", "app", "store")
MULTICLASS = ("bronze", "silver", "gold")

Row = dict[str, float | str | None]


@dataclass(frozen=True)
class ZooModel:
    name: str
    artifact: Path
    card: dict[str, Any]
    rows: list[Row]
    labels: list[Any]
    #: scikit-learn's own answers on ``rows``: probabilities ``[N, k]`` or values ``[N]``.
    expected: npt.NDArray[np.float64]


def sample(n: int, seed: int) -> tuple[list[Row], dict[str, npt.NDArray[Any]]]:
    """Rows as events carry them, and the targets of each task on them."""
    rng = np.random.default_rng(seed)
    income, age, tenure = rng.lognormal(10, 0.4, n), rng.normal(40, 12, n), rng.uniform(0, 20, n)
    balance = rng.normal(1_000, 300, n)
    channel = rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2])
    signal = (np.log(income) - 10) * 2 + (age - 40) / 12 - (tenure - 10) / 6 + (channel == "store") * 0.8
    noisy = signal + rng.normal(0, 0.7, n)
    balance_seen = np.where(rng.random(n) < 0.05, np.nan, balance)
    rows: list[Row] = [
        {"income": float(i), "age": float(a), "tenure": float(t),
         "balance": None if np.isnan(b) else float(b), "channel": str(c)}
        for i, a, t, b, c in zip(income, age, tenure, balance_seen, channel, strict=True)
    ]
    targets = {
        "binary": (noisy > 0).astype(np.int64),
        "multiclass": np.array(MULTICLASS, dtype=object)[np.digitize(noisy, [-0.8, 0.8])],
        "regression": signal * 10 + balance / 100 + rng.normal(0, 1, n),
    }
    return rows, targets


def _tensor(rows: list[Row]) -> npt.NDArray[np.float32]:
    return np.array([[row[name] for name in NUMERIC] for row in rows], dtype=np.float32)


def _objects(rows: list[Row]) -> npt.NDArray[Any]:
    """The pipeline models' design matrix: as driftline feeds it (null balance NaN, strings as-is)."""
    return np.array([[*(np.nan if row[n] is None else row[n] for n in ALL_FEATURES[:-1]), row["channel"]]
                     for row in rows], dtype=object)


def _feature_specs(names: tuple[str, ...]) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    for name in names:
        if name == "channel":
            specs.append({"name": name, "type": "categorical", "categories": list(CHANNELS)})
        else:
            specs.append({"name": name, "type": "numeric", "nullable": name == "balance"})
    return specs


def _pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    preprocess = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [0, 1, 2, 3]),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [4]),
    ])
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _estimators() -> dict[str, tuple[str, bool, Callable[[], Any]]]:
    """name → (task, as a pipeline with one input per feature, factory)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.tree import DecisionTreeRegressor

    def gb() -> Any:
        return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)

    def rf() -> Any:
        return RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)

    def lr() -> Any:
        return LogisticRegression(max_iter=500)

    return {
        **{f"{kind}-{task}": (task, False, factory) for task in ("binary", "multiclass")
           for kind, factory in (("logreg", lr), ("forest", rf), ("boosting", gb))},
        "pipeline-binary": ("binary", True, lr),
        "pipeline-multiclass": ("multiclass", True, rf),
        "linear-regression": ("regression", False, LinearRegression),
        "tree-regression": ("regression", True, lambda: DecisionTreeRegressor(max_depth=6, random_state=0)),
    }


def build_zoo(folder: Path, *, rows: int = 2_000, seed: int = 3) -> list[ZooModel]:
    """Fit, export and describe every model of the matrix into ``folder`` (one sub-folder each)."""
    data, targets = sample(rows, seed)
    return [_build(folder / name, name, task=task, piped=piped, estimator=factory(), rows=data,
                   target=targets[task]) for name, (task, piped, factory) in _estimators().items()]


def _build(folder: Path, name: str, *, task: str, piped: bool, estimator: Any, rows: list[Row],
           target: npt.NDArray[Any]) -> ZooModel:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    model = _pipeline(estimator) if piped else estimator
    design = _objects(rows) if piped else _tensor(rows)
    model.fit(design, target)
    if piped:
        inputs = [(n, StringTensorType([None, 1]) if n == "channel" else FloatTensorType([None, 1]))
                  for n in ALL_FEATURES]
    else:
        inputs = [("X", FloatTensorType([None, len(NUMERIC)]))]
    options = {id(estimator): {"zipmap": False}} if task != "regression" else None
    onnx_model = convert_sklearn(model, name=name, initial_types=inputs, options=options,
                                 target_opset=TARGET_OPSET)
    folder.mkdir(parents=True, exist_ok=True)
    artifact = folder / "model.onnx"
    artifact.write_bytes(onnx_model.SerializeToString())
    card: dict[str, Any] = {"name": name,
                            "features": _feature_specs(ALL_FEATURES if piped else NUMERIC)}
    if task == "regression":
        card["output"] = {"task": "regression", "value_output": "variable"}
        expected = np.asarray(model.predict(design), dtype=np.float64)
    else:
        card["output"] = {"task": task, "label_output": "label", "score_output": "probabilities",
                          "classes": [str(c) for c in model.classes_]}
        expected = np.asarray(model.predict_proba(design), dtype=np.float64)
    if not piped:
        card["input_tensor"] = "X"
    labels = [x.item() if isinstance(x, np.generic) else x for x in target]
    return ZooModel(name, artifact, card, rows, labels, expected)
