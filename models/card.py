"""Model cards and the feature spec they declare.

A model card is the contract between training and serving: it names every input feature with its
type, its valid range or categories and its null policy, so the worker can validate events before
they reach ONNX Runtime, and so a registry can refuse an artifact whose graph disagrees with it.
Preprocessing itself (imputation, scaling, one-hot encoding) lives inside the ONNX graph; the card
only says what a valid raw input looks like.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
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
    def from_dict(cls, raw: Any) -> FeatureSpec:
        """Parse one entry of a card's ``features``; every mistake is a `CardError` whose ``field``
        is ``<feature>.<key>`` and whose message names the value and what is allowed."""
        if not isinstance(raw, dict):
            raise CardError(f"a feature must be an object like {_FEATURE_EXAMPLE}, not {_shown(raw)}",
                            field="features")
        name = _feature_name(raw)
        kind = _choice(raw, name, "type", ("numeric", "categorical"), default=None)
        _refuse_unknown_keys(raw, name, _FEATURE_KEYS[kind])
        low, high = _bound(raw, name, "min"), _bound(raw, name, "max")
        if low is not None and high is not None and low > high:
            raise CardError(f"feature {name!r}: min ({low:g}) must not be above max ({high:g})",
                            field=f"{name}.min")
        return cls(
            name=name,
            type=kind,
            nullable=_boolean(raw, name, "nullable"),
            min=low,
            max=high,
            categories=_categories(raw, name) if kind == "categorical" else (),
            unseen=_choice(raw, name, "unseen", ("other", "strict"), default="other"),
        )

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
    def from_dict(cls, raw: Any) -> ModelCard:
        """Parse a card document; every mistake is a `CardError` naming the field, the value and what
        is allowed (a card is written by hand, so a traceback from ``float()`` helps nobody)."""
        if not isinstance(raw, dict):
            raise CardError(f"a model card must be a JSON object with 'name' and 'features', not "
                            f"{type(raw).__name__} {_shown(raw)}", field="card")
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            raise CardError(f"the card's name must be a non-empty string, not {_shown(raw.get('name'))}",
                            field="name")
        return cls(
            name=raw["name"],
            features=_features(raw.get("features")),
            output=ModelOutput.from_dict(_required_output(raw)),
            version=_optional(raw, "version", int, "a whole number"),
            sha256=_optional(raw, "sha256", str, "a hex string"),
            intended_use=_optional(raw, "intended_use", str, "a string") or "",
            limitations=_optional(raw, "limitations", str, "a string") or "",
            training_data=dict(_optional(raw, "training_data", dict, "an object") or {}),
            metrics=_metrics(raw.get("metrics")),
            created_at=_optional(raw, "created_at", str, "a string"),
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


#: The keys a feature may have, by type.
_COMMON_KEYS = frozenset({"name", "type", "nullable"})
_FEATURE_KEYS: dict[str, frozenset[str]] = {
    "numeric": _COMMON_KEYS | {"min", "max"},
    "categorical": _COMMON_KEYS | {"categories", "unseen"},
}
_FEATURE_EXAMPLE = '{"name": "amount", "type": "numeric", "min": 0, "max": 100, "nullable": false}'


def read_card_file(path: Path, *, name: str | None = None) -> ModelCard:
    """The card in the JSON file ``path`` (its ``name`` replaced by ``name`` when given)."""
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CardError(f"no model card at {path}; write one (README, \"Add a model\") or pass --card",
                        field="card") from None
    except OSError as exc:
        raise CardError(f"cannot read the model card {path}: {exc.strerror}", field="card") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise CardError(f"the model card {path} is not valid JSON: {exc}", field="card") from None
    if name is not None and isinstance(raw, dict):
        raw = {**raw, "name": name}
    try:
        return ModelCard.from_dict(raw)
    except CardError as exc:
        raise CardError(f"{path}: {exc}", field=exc.field) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a section parsed without checks
        raise CardError(f"{path}: not a valid model card: {exc}", field="card") from None


def _shown(value: Any) -> str:
    """A value as the card's author wrote it, cut short: messages must stay one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    # JSON true/false arrive as bool, an int subclass; a bound of "true" is a mistake, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _features(raw: Any) -> tuple[FeatureSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise CardError(f"features must be a non-empty list of feature objects like {_FEATURE_EXAMPLE}, "
                        f"not {_shown(raw)}", field="features")
    return tuple(FeatureSpec.from_dict(f) for f in raw)


def _feature_name(raw: dict[str, Any]) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CardError(f"every feature needs a \"name\" that is a non-empty string; {_shown(raw)} has "
                        f"{_shown(name)}", field="features")
    return name


def _refuse_unknown_keys(raw: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
    # A misspelt key ("nulable") would otherwise be dropped and its default silently used.
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CardError(f"feature {name!r}: unknown key {unknown[0]!r} for a {raw['type']} feature "
                        f"(allowed: {', '.join(sorted(allowed))})", field=f"{name}.{unknown[0]}")


def _choice(raw: dict[str, Any], name: str, key: str, allowed: tuple[str, ...], default: str | None) -> Any:
    value = raw.get(key, default)
    if value not in allowed:
        words = " or ".join(f'"{a}"' for a in allowed)
        found = "missing" if key not in raw else f"not {_shown(value)}"
        raise CardError(f"feature {name!r}: {key} must be {words}, {found}", field=f"{name}.{key}")
    return value


def _boolean(raw: dict[str, Any], name: str, key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):  # bool("false") is True: a quoted boolean must not pass
        raise CardError(f"feature {name!r}: {key} must be true or false (a JSON boolean), "
                        f"not {_shown(value)}", field=f"{name}.{key}")
    return value


def _bound(raw: dict[str, Any], name: str, key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value):
        raise CardError(f"feature {name!r}: {key} must be a finite number or null, not {_shown(value)}",
                        field=f"{name}.{key}")
    return float(value)


def _categories(raw: dict[str, Any], name: str) -> tuple[str, ...]:
    value = raw.get("categories")
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise CardError(f"feature {name!r}: categories must be a non-empty list of strings "
                        f"(events send categories as strings), not {_shown(value)}",
                        field=f"{name}.categories")
    return tuple(value)


def _optional(raw: dict[str, Any], key: str, kind: type, described: str) -> Any:
    value = raw.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise CardError(f"the card's {key} must be {described} or absent, not {_shown(value)}", field=key)
    return value


def _metrics(raw: Any) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(_is_number(v) for v in raw.values()):
        raise CardError(f"the card's metrics must be an object of numbers like {{\"auc\": 0.91}}, not "
                        f"{_shown(raw)}", field="metrics")
    return dict(raw)
