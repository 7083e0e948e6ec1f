"""Reference profiles: what a model's inputs and scores looked like when it was approved.

A `ReferenceProfile` holds, for every input feature of a model card and for the prediction score
(the pseudo-feature ``"__score__"``), a bin layout and the reference sample's counts in it, plus
the class counts of the reference labels. It is plain data: `ReferenceProfile.to_dict` gives the
JSON object the model registry stores beside a version (``reference.json``, format 1), and
`ReferenceProfile.from_dict` reads it back. `detectors.binner.ProfileBinner` bins live batches
into the same layout, so live counts and reference counts compare bin for bin.

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
from driftline.models.card import MISSING_CATEGORY, OTHER_CATEGORY, FeatureSpec, ModelCard

#: Version of the JSON layout written by `ReferenceProfile.to_dict`.
FORMAT = 1
#: Name of the prediction-score pseudo-feature.
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
    """Reference counts of a model version's features, its score and its label prior.

    Build it with `build` (or `build_reference_for`); store it with `to_dict`.

    Attributes
    ----------
    model, version
        The model version the profile belongs to (``version`` may be None before registration).
    features
        One `FeatureReference` per card feature, in card order.
    score
        The score pseudo-feature ``"__score__"``, if scores were given.
    label_counts
        Reference class counts (the label prior), keyed by the class as a string.
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
    score: FeatureReference | None
    label_counts: Mapping[str, int]
    events: int
    bins: int
    calibration: ScoreCalibration | None = None

    @property
    def rows(self) -> tuple[FeatureReference, ...]:
        """The monitored rows: every feature, then the score when present."""
        return self.features if self.score is None else (*self.features, self.score)

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
              labels: npt.ArrayLike | None = None, *, bins: int = 10,
              min_share: float = 0.01) -> ReferenceProfile:
        """Profile a reference sample: edges from its quantiles, and its counts in them.

        Parameters
        ----------
        card
            The model card; its features (names, types, categories) define the rows.
        columns
            The reference sample column-wise, one array per card feature (see module docstring).
        scores
            The model's scores on the sample, ``[N]``; adds the ``"__score__"`` row.
        labels
            Observed class labels of the sample (the label prior), ``[N]``.
        bins
            Interior bins per numeric feature (quantiles); fewer when values tie.
        min_share
            Smallest reference share of an interior numeric bin.
        """
        events = _sample_size(card, columns)
        features = tuple(_profile_feature(spec, columns[spec.name], bins, min_share)
                         for spec in card.features)
        score = None
        if scores is not None:
            values = np.asarray(scores, dtype=np.float64).reshape(-1)
            score = _profile_numeric(SCORE, values, bins, min_share)
        return cls(model=card.name, version=card.version, features=features, score=score,
                   label_counts=_label_counts(labels), events=events, bins=bins,
                   calibration=_calibration(scores, labels))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe object; ``"format"`` names the layout version."""
        return {
            "format": FORMAT, "model": self.model, "version": self.version, "events": self.events,
            "bins": self.bins, "features": [f.to_dict() for f in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "labels": dict(self.label_counts),
            **({} if self.calibration is None else {"calibration": self.calibration.to_dict()}),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReferenceProfile:
        """Read a profile written by `to_dict`; refuses formats it does not know."""
        if raw.get("format") != FORMAT:
            raise ValueError(f"reference profile format {raw.get('format')!r} is not {FORMAT}")
        score = raw.get("score")
        return cls(model=str(raw["model"]), version=raw.get("version"),
                   features=tuple(FeatureReference.from_dict(f) for f in raw["features"]),
                   score=None if score is None else FeatureReference.from_dict(score),
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


def _calibration(scores: npt.ArrayLike | None, labels: npt.ArrayLike | None) -> ScoreCalibration | None:
    """The score calibration of a binary sample (labels 0/1, or booleans); None otherwise."""
    if scores is None or labels is None:
        return None
    y = np.asarray(labels).reshape(-1)
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        return None
    return ScoreCalibration.fit(scores, y.astype(np.float64))


def _label_counts(labels: npt.ArrayLike | None) -> dict[str, int]:
    if labels is None:
        return {}
    classes, counts = np.unique(np.asarray(labels).reshape(-1), return_counts=True)
    return {str(c): int(n) for c, n in zip(classes.tolist(), counts.tolist(), strict=True)}


class Scorer(Protocol):
    """Anything that scores feeding columns, such as ``models.runtime.OnnxModel``."""

    @property
    def card(self) -> ModelCard: ...

    def predict(self, columns: Columns) -> Any: ...


def build_reference_for(card: ModelCard, rows_or_columns: Sequence[RawRow] | Columns, model: Scorer, *,
                        labels: npt.ArrayLike | None = None, bins: int = 10) -> ReferenceProfile:
    """Score a reference sample with ``model`` and profile it, ready for ``Registry.register``.

    ``rows_or_columns`` is a list of raw event rows (``name -> number | str | None``) or columns
    in either form of the module docstring. Use it at registration::

        profile = build_reference_for(card, reference_rows, OnnxModel.load(artifact, card, ...))
        registry.register(artifact, card, reference=profile.to_dict())
    """
    columns = rows_or_columns if isinstance(rows_or_columns, Mapping) else columns_of(card, rows_or_columns)
    scores = np.asarray(model.predict(feeding_columns(card, columns)).scores, dtype=np.float64)
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
