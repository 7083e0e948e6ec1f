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
from driftline.models.segments import SegmentSpec, parse_segments

FeatureType = Literal["numeric", "categorical"]
UnseenPolicy = Literal["other", "strict"]
Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")

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
    """What the model predicts (``task``) and which ONNX outputs carry it.

    Classifiers (``binary``, ``multiclass``) name a label output and a ZipMap-free ``float[N, k]``
    probability output; ``classes`` names the k probability columns in order (default ``"0"`` ...
    ``"k-1"``), so a prediction reads ``"scores": {"setosa": 0.93, ...}`` and label sources may send
    ``"fraud"`` for class 1. A binary model also reports the ``positive_index`` column as ``score``.
    Regressors name a ``float[N, 1]`` value output (skl2onnx calls it ``variable``).
    """

    task: Task = "binary"
    label_output: str = "label"
    score_output: str = "probabilities"
    positive_index: int = 1
    classes: tuple[str, ...] = ()
    value_output: str = "variable"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise CardError(f"output.task must be one of {list(TASKS)}, not {self.task!r}",
                            field="output.task")
        if self.task == "binary" and self.positive_index not in (0, 1):
            raise CardError(f"output.positive_index of a binary model must be 0 or 1, "
                            f"not {self.positive_index!r}", field="output.positive_index")
        if self.task == "binary" and self.classes and len(self.classes) != 2:
            raise CardError(f"output.classes of a binary model names 2 classes, not {list(self.classes)}",
                            field="output.classes")
        if len(set(self.classes)) != len(self.classes):
            raise CardError(f"output.classes has duplicates: {list(self.classes)}", field="output.classes")

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def class_names(self, columns: int) -> tuple[str, ...]:
        """Names of ``columns`` probability columns: ``classes`` when declared, else their indices."""
        return self.classes or tuple(str(i) for i in range(columns))

    def to_dict(self) -> dict[str, Any]:
        if self.task == "regression":
            return {"task": self.task, "value_output": self.value_output}
        out: dict[str, Any] = {"task": self.task, "label_output": self.label_output,
                               "score_output": self.score_output, "classes": list(self.classes)}
        if self.task == "binary":
            out["positive_index"] = self.positive_index
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> ModelOutput:
        """Parse a card's ``output`` object; every mistake is a `CardError` naming the field."""
        if not isinstance(raw, dict):
            raise CardError(f"output must be an object like {_OUTPUT_EXAMPLE}, not {raw!r}", field="output")
        task = raw.get("task")
        if task not in TASKS:
            raise CardError(f"output.task must be one of {list(TASKS)}, not {task!r} "
                            f"(e.g. {_OUTPUT_EXAMPLE})", field="output.task")
        allowed = _OUTPUT_FIELDS[task]
        unknown = sorted(set(raw) - allowed - {"task"})
        if unknown:
            raise CardError(f"output.{unknown[0]} is not a field of a {task} model's output "
                            f"(allowed: {sorted(allowed | {'task'})})", field=f"output.{unknown[0]}")
        for name in sorted(allowed & set(raw) - {"positive_index", "classes"}):
            if not isinstance(raw[name], str) or not raw[name]:
                raise CardError(f"output.{name} must name a graph output, not {raw[name]!r}",
                                field=f"output.{name}")
        index = raw.get("positive_index", 1)
        if isinstance(index, bool) or not isinstance(index, int):
            raise CardError(f"output.positive_index must be 0 or 1, not {index!r}",
                            field="output.positive_index")
        classes = raw.get("classes", [])
        if not isinstance(classes, list) or not all(isinstance(c, str | int) for c in classes):
            raise CardError(f"output.classes must be a list of class names, not {classes!r}",
                            field="output.classes")
        return cls(**{**raw, "classes": tuple(str(c) for c in classes)})

_CLASSIFIER_FIELDS = {"label_output", "score_output", "classes"}
_OUTPUT_FIELDS: dict[str, set[str]] = {
    "binary": _CLASSIFIER_FIELDS | {"positive_index"},
    "multiclass": _CLASSIFIER_FIELDS,
    "regression": {"value_output"},
}
_OUTPUT_EXAMPLE = '{"task": "binary", "label_output": "label", "score_output": "probabilities"}'


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
    #: The graph's one ``float[N, k]`` input whose columns are the features in card order (the common
    #: skl2onnx export); ``None``: one input per feature, named as the feature.
    input_tensor: str | None = None
    #: Attributes the metrics are sliced by, some judged for fairness (`models.segments`).
    segments: tuple[SegmentSpec, ...] = ()

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if not names:
            raise CardError(f"model {self.name!r}: the card declares no features")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CardError(f"model {self.name!r}: duplicate features {duplicates}", field=duplicates[0])
        if self.input_tensor is not None:
            self._check_tensor_features()
        if self.fallback is not None and self.output.task != "binary":
            raise CardError(f"model {self.name!r}: a constant fallback (\"score\") answers for binary models "
                            f"only; remove fallback from this {self.output.task} card", field="fallback")
        self._check_segment_features()

    def _check_tensor_features(self) -> None:
        categorical = [f.name for f in self.features if f.type != "numeric"]
        if categorical:
            # A float tensor cannot carry a category's text, and encoding it outside the graph would
            # move preprocessing out of the model, where training and serving can drift apart.
            raise CardError(f"model {self.name!r}: input_tensor {self.input_tensor!r} carries numbers only, "
                            f"but {categorical} are categorical; export one input per feature instead "
                            f"(skl2onnx: initial_types with one [None, 1] input per column, string for "
                            f"categorical ones) and drop input_tensor", field="input_tensor")

    def _check_segment_features(self) -> None:
        types = {f.name: f.type for f in self.features}
        for i, spec in enumerate(self.segments):
            where = f"segments[{i}]"
            if spec.origin == "features" and spec.key not in types:
                raise CardError(f"model {self.name!r}: {where}.source names no feature of the card: "
                                f"{spec.source!r}", field=f"{where}.source")
            numeric = spec.origin == "features" and types[spec.key] == "numeric"
            if numeric and not spec.buckets:
                raise CardError(f"model {self.name!r}: {where}.buckets: numeric feature {spec.key!r} is "
                                f"cut into buckets, e.g. \"buckets\": [18, 30, 50]", field=f"{where}.buckets")
            if spec.buckets and spec.origin == "features" and not numeric:
                raise CardError(f"model {self.name!r}: {where}.buckets cut a numeric feature, and "
                                f"{spec.key!r} is categorical", field=f"{where}.buckets")

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
            output=ModelOutput.from_dict(_required_output(raw)),
            version=raw.get("version"),
            sha256=raw.get("sha256"),
            intended_use=raw.get("intended_use", ""),
            limitations=raw.get("limitations", ""),
            training_data=dict(raw.get("training_data", {})),
            metrics=dict(raw.get("metrics", {})),
            created_at=raw.get("created_at"),
            fallback=Fallback.from_dict(raw["fallback"]) if raw.get("fallback") is not None else None,
            input_tensor=_input_tensor(raw.get("input_tensor")),
            segments=parse_segments(raw.get("segments")),
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = [f.to_dict() for f in self.features]
        out["output"] = self.output.to_dict()
        if self.input_tensor is None:
            del out["input_tensor"]
        out["segments"] = [spec.to_dict() for spec in self.segments]
        if not self.segments:
            del out["segments"]
        return out


def _required_output(raw: dict[str, Any]) -> Any:
    if "output" not in raw:
        raise CardError(f"the card has no output: declare what the model predicts, e.g. \"output\": "
                        f"{_OUTPUT_EXAMPLE} (task binary, multiclass or regression)", field="output")
    return raw["output"]


def _input_tensor(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise CardError(f"input_tensor must name the graph's float input, not {value!r}", field="input_tensor")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
