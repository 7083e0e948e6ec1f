"""Reference profiles: what a model's inputs and predictions looked like when it was approved.

A `ReferenceProfile` holds, for every input feature of a model card and for the prediction, a bin
layout and the reference sample's counts in it, plus the class counts of the reference labels. The
prediction is watched as pseudo-features, by the card's task (`prediction_row_names`):

* binary: one row ``"__score__"``, the positive class's probability;
* regression: one row ``"__score__"``, the predicted value (edges from its reference quantiles);
* multiclass: one row per class, ``"__score__[setosa]"``, that class's probability: a shift of
  probability between two classes can leave the predicted class's probability unchanged.

It is plain data: `ReferenceProfile.to_dict` gives the JSON object the model registry stores beside
a version (``reference.json``), and `ReferenceProfile.from_dict` reads it back. Format 1 (one
``"score"`` row) is still written whenever the prediction is one row, so workers that predate
per-class rows keep reading binary and regression profiles; per-class rows need format 2
(``"predictions"``). `detectors.binner.ProfileBinner` bins live batches into the same layout, so
live counts and reference counts compare bin for bin.

The label prior (``label_counts``) counts the reference labels per class index, ``"0"`` ..
``"k-1"``, every class of the model included, read with `driftline.models.labels.class_index` (the
label join's rule). A regressor has none: its labels are values, not classes.

Columns may come in the raw form of ``models.synthetic.SyntheticStream.columns`` (``float64[N]``
with NaN for null, ``object[N]`` of ``str``/``None``) or in the ONNX feeding form of
``models.runtime.columns_from_rows`` (``float32[N, 1]``, ``object[N, 1]`` with
``MISSING_CATEGORY`` and ``OTHER_CATEGORY``); both bin alike.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> card = ModelCard(name="toy", features=(
...     FeatureSpec(name="x", type="numeric"),
...     FeatureSpec(name="c", type="categorical", categories=("a", "b"))))
>>> rng = np.random.default_rng(0)
>>> columns = {"x": rng.normal(size=1000), "c": np.array(["a", "b", None, "a"] * 250, dtype=object)}
>>> profile = ReferenceProfile.build(card, columns, scores=rng.random(1000), bins=4)
>>> profile.row_names
('x', 'c', '__score__')
>>> profile.features[1].counts
(500, 250, 0, 250)
>>> ReferenceProfile.from_dict(profile.to_dict()) == profile
True
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt

from driftline import ext
from driftline.detectors.cbpe import ScoreCalibration
from driftline.detectors.layout import quantile_edges
from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, FeatureSpec, ModelCard, ModelOutput
from driftline.models.labels import class_index

#: Version of the JSON layout `ReferenceProfile.to_dict` writes for per-class prediction rows.
FORMAT = 2
#: The layout with one ``"score"`` row, written when the prediction is one row (and still read).
SCORE_FORMAT = 1
#: Name of the prediction-score pseudo-feature (per class: ``__score__[<class>]``).
SCORE = "__score__"

RowKind = Literal["numeric", "categorical"]
Columns = Mapping[str, npt.NDArray[Any]]
RawRow = Mapping[str, float | str | None]


@dataclass(frozen=True)
class FeatureReference:
    """The bin layout of one feature (or the score) and its reference counts.

    ``edges`` (numeric) or ``categories`` (categorical) define the bins as in ``ext``: a numeric
    feature with ``k`` edges has ``k + 2`` bins (underflow, interior, overflow, missing), a
    categorical one with ``n`` categories has ``n + 2`` (categories, other, missing).
    """

    name: str
    kind: RowKind
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        expected = len(self.edges) + 2 if self.kind == "numeric" else len(self.categories) + 2
        if len(self.counts) != expected:
            raise ValueError(f"{self.name!r}: {len(self.counts)} counts for a layout of {expected} bins")

    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def missing_bin(self) -> int:
        return self.n_bins - 1

    @property
    def out_of_range_bins(self) -> tuple[int, ...]:
        """Numeric: under- and overflow (outside the reference range); categorical: "other"."""
        if self.kind == "categorical":
            return (self.n_bins - 2,)
        return (0, self.n_bins - 2) if self.edges else ()

    def bin_labels(self) -> tuple[str, ...]:
        """Human-readable bin names, for alerts and dashboards."""
        if self.kind == "categorical":
            return (*self.categories, "other", "missing")
        if not self.edges:
            return ("present", "missing")
        e = [f"{x:.4g}" for x in self.edges]
        interior = tuple(f"[{a}, {b})" for a, b in itertools.pairwise(e))
        return (f"< {e[0]}", *interior, f">= {e[-1]}", "missing")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "counts": list(self.counts)}
        if self.kind == "numeric":
            out["edges"] = list(self.edges)
        else:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureReference:
        return cls(name=str(raw["name"]), kind=raw["type"], counts=tuple(int(c) for c in raw["counts"]),
                   edges=tuple(float(e) for e in raw.get("edges", ())),
                   categories=tuple(str(c) for c in raw.get("categories", ())))


@dataclass(frozen=True)
class ReferenceProfile:
    """Reference counts of a model version's features, its prediction and its label prior.

    Build it with `build` (or `build_reference_for`); store it with `to_dict`.

    Attributes
    ----------
    model, version
        The model version the profile belongs to (``version`` may be None before registration).
    features
        One `FeatureReference` per card feature, in card order.
    predictions
        The prediction's pseudo-features (see the module docstring), if predictions were given.
    label_counts
        Reference class counts (the label prior), keyed by the class index as a string.
    events
        Number of reference events.
    bins
        The target number of interior bins used for numeric layouts.
    calibration
        Scores to probabilities, fitted on the sample's scores and binary labels, for estimating
        performance before labels (`detectors.cbpe`); None when either was missing (and in
        profiles stored before it existed).
    """

    model: str
    version: int | None
    features: tuple[FeatureReference, ...]
    predictions: tuple[FeatureReference, ...]
    label_counts: Mapping[str, int]
    events: int
    bins: int
    calibration: ScoreCalibration | None = None

    @property
    def rows(self) -> tuple[FeatureReference, ...]:
        """The monitored rows: every feature, then the prediction's rows."""
        return (*self.features, *self.predictions)

    @property
    def prediction_rows(self) -> tuple[int, ...]:
        """Indices of the prediction's rows among `rows`."""
        return tuple(range(len(self.features), len(self.features) + len(self.predictions)))

    @property
    def per_class(self) -> bool:
        """The prediction is watched class by class (a multi-class profile)."""
        return any(row.name != SCORE for row in self.predictions)

    @property
    def row_names(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows)

    @property
    def nbins(self) -> npt.NDArray[np.int64]:
        return np.array([row.n_bins for row in self.rows], dtype=np.int64)

    @property
    def width(self) -> int:
        """Columns of a count matrix: the widest row's bins."""
        return int(self.nbins.max())

    def counts(self) -> npt.NDArray[np.int64]:
        """Reference counts as ``int64[rows, width]``, padded with zeros."""
        out = np.zeros((len(self.rows), self.width), dtype=np.int64)
        for r, row in enumerate(self.rows):
            out[r, : row.n_bins] = row.counts
        return out

    def row_index(self, name: str) -> int:
        return self.row_names.index(name)

    @classmethod
    def build(cls, card: ModelCard, columns: Columns, scores: npt.ArrayLike | None = None,
              labels: Sequence[Any] | npt.ArrayLike | None = None, *, bins: int = 10,
              min_share: float = 0.01) -> ReferenceProfile:
        """Profile a reference sample: edges from its quantiles, and its counts in them.

        Parameters
        ----------
        card
            The model card; its features (names, types, categories) define the rows.
        columns
            The reference sample column-wise, one array per card feature (see module docstring).
        scores
            The model's monitored predictions on the sample (`monitored_values`): ``[N]`` or
            ``[N, 1]`` adds the ``"__score__"`` row, a multi-class model's ``[N, k]`` one row per
            class.
        labels
            Observed labels of the sample, ``[N]``: a classifier's label prior (class names or
            indices); ignored for a regressor.
        bins
            Interior bins per numeric feature (quantiles); fewer when values tie.
        min_share
            Smallest reference share of an interior numeric bin.
        """
        events = _sample_size(card, columns)
        features = tuple(_profile_feature(spec, columns[spec.name], bins, min_share)
                         for spec in card.features)
        predictions: tuple[FeatureReference, ...] = ()
        if scores is not None:
            values = _as_matrix(scores)
            names = prediction_row_names(card.output, values.shape[1])
            if len(names) != values.shape[1]:
                raise ValueError(f"{values.shape[1]} prediction columns for the rows {list(names)}")
            predictions = tuple(_profile_numeric(name, values[:, j], bins, min_share)
                                for j, name in enumerate(names))
        return cls(model=card.name, version=card.version, features=features, predictions=predictions,
                   label_counts=label_prior(card.output, labels, _classes_in(card.output, scores)),
                   events=events, bins=bins, calibration=_calibration(card.output, scores, labels))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe object; ``"format"`` names the layout version (1 unless rows are per class)."""
        out: dict[str, Any] = {
            "format": FORMAT if self.per_class else SCORE_FORMAT, "model": self.model,
            "version": self.version, "events": self.events, "bins": self.bins,
            "features": [f.to_dict() for f in self.features], "labels": dict(self.label_counts),
            **({} if self.calibration is None else {"calibration": self.calibration.to_dict()}),
        }
        if self.per_class:
            out["predictions"] = [row.to_dict() for row in self.predictions]
        else:
            out["score"] = self.predictions[0].to_dict() if self.predictions else None
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReferenceProfile:
        """Read a profile written by `to_dict` (format 1 or 2); refuses formats it does not know."""
        if raw.get("format") not in (SCORE_FORMAT, FORMAT):
            raise ValueError(f"reference profile format {raw.get('format')!r} is neither {SCORE_FORMAT} "
                             f"nor {FORMAT}")
        score = raw.get("score")
        rows = raw.get("predictions") or ([] if score is None else [score])
        return cls(model=str(raw["model"]), version=raw.get("version"),
                   features=tuple(FeatureReference.from_dict(f) for f in raw["features"]),
                   predictions=tuple(FeatureReference.from_dict(row) for row in rows),
                   label_counts={str(k): int(v) for k, v in raw.get("labels", {}).items()},
                   events=int(raw["events"]), bins=int(raw["bins"]),
                   calibration=_stored_calibration(raw.get("calibration")))


def _sample_size(card: ModelCard, columns: Columns) -> int:
    sizes = {np.asarray(columns[spec.name]).reshape(-1).size for spec in card.features}
    if len(sizes) != 1:
        raise ValueError(f"reference columns have different lengths: {sorted(sizes)}")
    return sizes.pop()


def _profile_feature(spec: FeatureSpec, column: npt.NDArray[Any], bins: int,
                     min_share: float) -> FeatureReference:
    if spec.type == "numeric":
        return _profile_numeric(spec.name, np.asarray(column, dtype=np.float64).reshape(-1), bins, min_share)
    codes = ext.encode_categories(as_labels(column), category_index(spec.categories))
    counts = np.zeros((1, len(spec.categories) + 2), dtype=np.int64)
    ext.bin_categorical(codes.reshape(-1, 1), [len(spec.categories)], counts)
    return FeatureReference(name=spec.name, kind="categorical", counts=tuple(counts[0].tolist()),
                            categories=spec.categories)


def _profile_numeric(name: str, values: npt.NDArray[np.float64], bins: int,
                     min_share: float) -> FeatureReference:
    edges = quantile_edges(values, bins=bins, min_share=min_share)
    counts = np.zeros((1, len(edges) + 2), dtype=np.int64)
    ext.bin_numeric(values.reshape(-1, 1), [np.asarray(edges, dtype=np.float64)], counts)
    return FeatureReference(name=name, kind="numeric", counts=tuple(counts[0].tolist()), edges=edges)


def category_index(categories: Sequence[str]) -> dict[str, int]:
    """Codes for ``ext.encode_categories``: known categories, and the feeding form's placeholders.

    ``models.runtime.columns_from_rows`` writes ``MISSING_CATEGORY`` for null and
    ``OTHER_CATEGORY`` for an unlisted category; they map to the missing (-2) and other (-1) bins.
    """
    index = {category: code for code, category in enumerate(categories)}
    index.setdefault(MISSING_CATEGORY, -2)
    index.setdefault(OTHER_CATEGORY, -1)
    return index


def as_labels(column: npt.ArrayLike) -> Sequence[str | None]:
    """A categorical column, ``[N]`` or ``[N, 1]``, as the flat label sequence ``ext`` encodes."""
    return cast(Sequence[str | None], np.asarray(column, dtype=object).reshape(-1))


def _stored_calibration(raw: Mapping[str, Any] | None) -> ScoreCalibration | None:
    return None if raw is None else ScoreCalibration.from_dict(raw)


def _calibration(output: ModelOutput, scores: npt.ArrayLike | None,
                 labels: Sequence[Any] | npt.ArrayLike | None) -> ScoreCalibration | None:
    """The score calibration of a binary model's sample (each label a class name or index, as the
    label prior reads it); None for other tasks or without labels."""
    if output.task != "binary" or scores is None or labels is None:
        return None
    names = output.class_names(2)
    indices = [class_index(v.item() if isinstance(v, np.generic) else v, names)
               for v in np.asarray(labels, dtype=object).reshape(-1).tolist()]
    if any(index is None for index in indices):
        return None  # label_prior refuses such a sample with the reason
    positive = np.array([index == output.positive_index for index in indices], dtype=np.float64)
    return ScoreCalibration.fit(np.asarray(scores, dtype=np.float64).reshape(-1), positive)


def prediction_row_names(output: ModelOutput, columns: int) -> tuple[str, ...]:
    """Names of the prediction's rows: ``__score__[<class>]`` per class (multiclass), else ``__score__``."""
    if output.task == "multiclass":
        return tuple(f"{SCORE}[{name}]" for name in output.class_names(columns))
    return (SCORE,)


class ScoredBatch(Protocol):
    """What `monitored_values` reads of a ``models.runtime.Prediction``."""

    @property
    def scores(self) -> npt.NDArray[np.float64]: ...

    @property
    def probabilities(self) -> npt.NDArray[np.float64] | None: ...


def monitored_values(prediction: ScoredBatch, per_class: bool) -> npt.NDArray[np.float64]:
    """The prediction's numbers that drift monitoring bins: every class's probability
    (``[N, k]``) when ``per_class``, else the score (the positive class's probability, or the
    value) as ``[N]``, as it is (the hot path of every binary model)."""
    if not per_class:
        return prediction.scores
    if prediction.probabilities is None:
        raise ValueError("a per-class profile needs the prediction's probabilities")
    return np.asarray(prediction.probabilities, dtype=np.float64)


def _as_matrix(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    values = np.asarray(scores, dtype=np.float64)
    return values.reshape(-1, 1) if values.ndim == 1 else values


def _classes_in(output: ModelOutput, scores: npt.ArrayLike | None) -> int:
    """How many classes the model has: its declared classes, else the per-class columns (binary: 2)."""
    if output.task == "binary":
        return 2
    if output.classes or scores is None:
        return len(output.classes)
    return int(_as_matrix(scores).shape[1])


def label_prior(output: ModelOutput, labels: Sequence[Any] | npt.ArrayLike | None,
                n_classes: int) -> dict[str, int]:
    """Reference labels counted per class index (``"0"`` .. ``"k-1"``, zeros included).

    Raises ValueError on a label that names no class: a prior that mislabels classes would make
    every label-drift alert wrong, so it is refused at registration, not at the first labels.
    """
    if labels is None or output.task == "regression" or n_classes < 2:
        return {}
    names = output.class_names(n_classes)
    counts = [0] * n_classes
    for value in np.asarray(labels, dtype=object).reshape(-1).tolist():
        index = class_index(value.item() if isinstance(value, np.generic) else value, names)
        if index is None:
            raise ValueError(f"reference label {value!r} names no class of {output.task} model "
                             f"(classes {list(names)}): use a class name or its index")
        counts[index] += 1
    return {str(i): n for i, n in enumerate(counts)}


class Scorer(Protocol):
    """Anything that scores feeding columns, such as ``models.runtime.OnnxModel``."""

    @property
    def card(self) -> ModelCard: ...

    def predict(self, columns: Columns) -> Any: ...


def build_reference_for(card: ModelCard, rows_or_columns: Sequence[RawRow] | Columns, model: Scorer, *,
                        labels: Sequence[Any] | npt.ArrayLike | None = None,
                        bins: int = 10) -> ReferenceProfile:
    """Score a reference sample with ``model`` and profile it, ready for ``Registry.register``.

    ``rows_or_columns`` is a list of raw event rows (``name -> number | str | None``) or columns
    in either form of the module docstring. Use it at registration::

        profile = build_reference_for(card, reference_rows, OnnxModel.load(artifact, card, ...))
        registry.register(artifact, card, reference=profile.to_dict())
    """
    columns = rows_or_columns if isinstance(rows_or_columns, Mapping) else columns_of(card, rows_or_columns)
    prediction = model.predict(feeding_columns(card, columns))
    scores = monitored_values(prediction, per_class=card.output.task == "multiclass")
    return ReferenceProfile.build(card, columns, scores, labels, bins=bins)


def columns_of(card: ModelCard, rows: Sequence[RawRow]) -> dict[str, npt.NDArray[Any]]:
    """Raw rows as raw columns: ``float64`` with NaN for null, ``object`` of ``str``/``None``."""
    out: dict[str, npt.NDArray[Any]] = {}
    for spec in card.features:
        values = [row.get(spec.name) for row in rows]
        out[spec.name] = np.array(values, dtype=np.float64 if spec.type == "numeric" else object)
    return out


def feeding_columns(card: ModelCard, columns: Columns) -> dict[str, npt.NDArray[Any]]:
    """Raw columns in the ONNX feeding form (``MISSING_CATEGORY``/``OTHER_CATEGORY`` placeholders).

    The same convention as ``models.runtime.columns_from_rows``, applied to columns.
    """
    out: dict[str, npt.NDArray[Any]] = {}
    for spec in card.features:
        column = np.asarray(columns[spec.name]).reshape(-1, 1)
        if spec.type == "categorical":
            known = {*spec.categories, MISSING_CATEGORY, OTHER_CATEGORY}
            mapped = [MISSING_CATEGORY if v is None else (v if v in known else OTHER_CATEGORY)
                      for v in column[:, 0].tolist()]
            column = np.array(mapped, dtype=object).reshape(-1, 1)
        out[spec.name] = column
    return out
