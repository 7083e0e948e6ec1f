"""The model layer: model cards, ONNX Runtime scoring, the file-based registry and the demo model.

Plain synchronous classes, usable from a worker, a batch job or a notebook alike; nothing here
imports faust, asyncio or a Kafka client. Training the demo model needs the optional ``train``
extras (scikit-learn, skl2onnx, onnx); importing this package does not.
"""

from __future__ import annotations

from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, FeatureSpec, ModelCard, ModelOutput
from driftline.models.demo import DEMO_MODEL_NAME, register_demo, train_demo_model
from driftline.models.errors import (
    CardError,
    CardMismatch,
    IntegrityError,
    ModelError,
    ModelLoadError,
    ModelNotFound,
    ReferenceSampleError,
    RegistrationError,
    ScoringError,
)
from driftline.models.registry import Registry
from driftline.models.runtime import OnnxModel, Prediction, columns_from_rows, sha256_file
from driftline.models.synthetic import (
    DEMO_FEATURES,
    CategoryShare,
    Drift,
    MeanShift,
    MissingRate,
    SyntheticStream,
    VarianceScale,
)

__all__ = [
    "DEMO_FEATURES",
    "DEMO_MODEL_NAME",
    "MISSING_CATEGORY",
    "OTHER_CATEGORY",
    "CardError",
    "CardMismatch",
    "CategoryShare",
    "Drift",
    "FeatureSpec",
    "IntegrityError",
    "MeanShift",
    "MissingRate",
    "ModelCard",
    "ModelError",
    "ModelLoadError",
    "ModelNotFound",
    "ModelOutput",
    "OnnxModel",
    "Prediction",
    "ReferenceSampleError",
    "RegistrationError",
    "Registry",
    "ScoringError",
    "SyntheticStream",
    "VarianceScale",
    "columns_from_rows",
    "register_demo",
    "sha256_file",
    "train_demo_model",
]
