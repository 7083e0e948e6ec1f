"""Model cards and the feature spec they declare.

A model card is the contract between training and serving: it names every input feature with its
type, its valid range or categories and its null policy, so the worker can validate events before
they reach ONNX Runtime, and so a registry can refuse an artifact whose graph disagrees with it.
Preprocessing itself (imputation, scaling, one-hot encoding) lives inside the ONNX graph; the card
only says what a valid raw input looks like.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from driftline.models.errors import CardError

FeatureType = Literal["numeric", "categorical"]
UnseenPolicy = Literal["other", "strict"]

#: The value a categorical feature is given when it is unseen (policy "other") or missing.
#: The demo graph one-hot encodes with ``handle_unknown="ignore"``, so both become all-zero rows.
OTHER_CATEGORY = "__other__"
MISSING_CATEGORY = "__missing__"


@dataclass(frozen=True)
class FeatureSpec:
    """One raw input feature as the model expects it.

    Numeric features are fed to ONNX as ``float32[N, 1]`` (null as NaN, imputed in the graph);
    categorical ones as ``string[N, 1]``.
    """

    name: str
    type: FeatureType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    unseen: UnseenPolicy = "other"

    def __post_init__(self) -> None:
        if self.type not in ("numeric", "categorical"):
            raise CardError(f"feature {self.name!r}: type must be numeric or categorical", field=self.name)
        if self.type == "categorical" and not self.categories:
            raise CardError(f"feature {self.name!r}: a categorical feature needs categories", field=self.name)
        if self.unseen not in ("other", "strict"):
            raise CardError(f"feature {self.name!r}: unseen must be 'other' or 'strict'", field=self.name)
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise CardError(f"feature {self.name!r}: range bounds must be finite", field=self.name)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise CardError(f"feature {self.name!r}: min is above max", field=self.name)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureSpec:
        try:
            return cls(
                name=str(raw["name"]),
                type=raw["type"],
                nullable=bool(raw.get("nullable", False)),
                min=_optional_float(raw.get("min")),
                max=_optional_float(raw.get("max")),
                categories=tuple(str(c) for c in raw.get("categories", ())),
                unseen=raw.get("unseen", "other"),
            )
        except KeyError as missing:
            raise CardError(f"feature spec is missing {missing}", field=str(missing)) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.type == "numeric":
            out["min"], out["max"] = self.min, self.max
        else:
            out["categories"], out["unseen"] = list(self.categories), self.unseen
        return out


@dataclass(frozen=True)
class ModelOutput:
    """Which ONNX outputs carry the predicted label and the score.

    ``score_output`` is either a ``float[N, k]`` tensor of class probabilities or a ZipMap-free
    probability tensor; ``positive_index`` picks the column reported as ``score``. ``classes``
    optionally names the classes in index order, so label sources may send ``"fraud"`` for 1.
    """

    label_output: str = "label"
    score_output: str = "probabilities"
    positive_index: int = 1
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fallback:
    """What answers while the model cannot (it raises, times out, or its breaker is open).

    ``score``: a constant probability of the positive class, typically the training prior; its
    label is the positive class at 0.5 or above. (Another registered model as fallback is not
    supported yet.)
    """

    score: float

    def __post_init__(self) -> None:
        score = self.score
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise CardError(f"fallback score must be a number in [0, 1], not {score!r}",
                            field="fallback.score")

    @classmethod
    def from_dict(cls, raw: Any) -> Fallback:
        if not isinstance(raw, dict) or set(raw) != {"score"}:
            raise CardError(f"fallback must be an object like {{\"score\": 0.03}}, not {raw!r}",
                            field="fallback")
        return cls(raw["score"])


@dataclass(frozen=True)
class ModelCard:
    """Everything a reader or the worker needs to know about one model version."""

    name: str
    features: tuple[FeatureSpec, ...]
    output: ModelOutput = ModelOutput()
    version: int | None = None
    sha256: str | None = None
    intended_use: str = ""
    limitations: str = ""
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    created_at: str | None = None
    fallback: Fallback | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if not names:
            raise CardError(f"model {self.name!r}: the card declares no features")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CardError(f"model {self.name!r}: duplicate features {duplicates}", field=duplicates[0])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelCard:
        if not isinstance(raw, dict) or "name" not in raw or "features" not in raw:
            raise CardError("a model card is an object with at least 'name' and 'features'")
        return cls(
            name=str(raw["name"]),
            features=tuple(FeatureSpec.from_dict(f) for f in raw["features"]),
            output=_model_output(raw.get("output", {})),
            version=raw.get("version"),
            sha256=raw.get("sha256"),
            intended_use=raw.get("intended_use", ""),
            limitations=raw.get("limitations", ""),
            training_data=dict(raw.get("training_data", {})),
            metrics=dict(raw.get("metrics", {})),
            created_at=raw.get("created_at"),
            fallback=Fallback.from_dict(raw["fallback"]) if raw.get("fallback") is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = [f.to_dict() for f in self.features]
        return out


def _model_output(raw: dict[str, Any]) -> ModelOutput:
    classes = tuple(str(c) for c in raw.get("classes", ()))
    return ModelOutput(**{**raw, "classes": classes})


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
