"""Bin live batches into a reference profile's layout, with one kernel call per kind of feature.

`ProfileBinner` is the hot-path half of a `detectors.reference.ReferenceProfile`: each batch's
numeric features and prediction rows (the score, or every class's probability: `monitored`) go
through one ``ext.bin_numeric`` call on a ``float64[N, F]`` matrix,
its categorical features through ``ext.encode_categories`` per column and one
``ext.bin_categorical`` call. The result is an ``int64[rows, width]`` count delta laid out like
``ReferenceProfile.counts()``; deltas from several workers merge by addition. `bin_codes` keeps
every event's bins instead, in order, through one ``ext.CodeWriter`` built with the binner.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> card = ModelCard(name="toy", features=(
...     FeatureSpec(name="x", type="numeric"),
...     FeatureSpec(name="c", type="categorical", categories=("a", "b"))))
>>> columns = {"x": np.arange(10.0), "c": np.array(["a", "b"] * 5, dtype=object)}
>>> profile = ReferenceProfile.build(card, columns, scores=np.linspace(0, 1, 10), bins=2)
>>> binner = ProfileBinner(profile)
>>> delta = binner.bin_columns({"x": np.array([-1.0, 3.0, np.nan]), "c": np.array(["b", None, "z"],
...                             dtype=object)}, scores=np.array([0.1, 0.9, 2.0]))
>>> delta.tolist()
[[1, 1, 0, 0, 1], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from driftline import ext
from driftline.detectors.reference import (
    Columns,
    ReferenceProfile,
    ScoredBatch,
    as_labels,
    category_index,
    monitored_values,
)
from driftline.ext import block_counts  # the blocks' histograms of a batch of codes, one pass

FloatArray = npt.NDArray[np.float64]

__all__ = ["ProfileBinner", "ReferenceProfile", "block_counts", "code_dtype", "counts_from_codes"]


def code_dtype(profile: ReferenceProfile) -> np.dtype[np.unsignedinteger]:
    """``uint8`` when every row's bins fit in a byte (any profile without a 254-category feature)."""
    return np.dtype(np.uint8) if profile.width <= 256 else np.dtype(np.uint16)


def counts_from_codes(codes: npt.NDArray[np.unsignedinteger], width: int) -> npt.NDArray[np.int64]:
    """The count delta ``int64[rows, width]`` of a block of bin codes ``[N, rows]``.

    >>> counts_from_codes(np.array([[0, 2], [1, 2]], dtype=np.uint8), 3).tolist()
    [[1, 1, 0], [0, 0, 2]]
    """
    counts: npt.NDArray[np.int64] = block_counts(codes, np.array([codes.shape[0]], dtype=np.int64), width)[0]
    return counts


class ProfileBinner:
    """Turns batches of columns (and predictions) into count deltas or codes in a profile's layout.

    Parameters
    ----------
    profile
        The reference profile whose layout the deltas follow.
    """

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        rows = profile.features
        self._numeric = [r for r, row in enumerate(rows) if row.kind == "numeric"]
        self._categorical = [r for r, row in enumerate(rows) if row.kind == "categorical"]
        self._edges = [np.asarray(rows[r].edges, dtype=np.float64) for r in self._numeric]
        self._prediction_rows = list(profile.prediction_rows)
        self._per_class = profile.per_class  # read per batch: not a property scan each time
        self._prediction_edges = [np.asarray(row.edges, dtype=np.float64) for row in profile.predictions]
        self._indexes = [category_index(rows[r].categories) for r in self._categorical]
        self._n_categories = np.array([len(rows[r].categories) for r in self._categorical], dtype=np.int64)
        self._names = [row.name for row in rows]
        self._width = profile.width
        self._n_rows = len(profile.rows)
        self._code_dtype = code_dtype(profile)
        # Checked once: bin_codes runs per batch on the scoring path.
        self._writer = ext.CodeWriter(self._edges + self._prediction_edges,
                                      self._numeric + self._prediction_rows, self._indexes, self._categorical)

    def monitored(self, prediction: ScoredBatch) -> npt.NDArray[np.float64]:
        """The numbers of ``prediction`` (a ``models.runtime.Prediction``) this profile's prediction
        rows watch (``[N]`` for one row, ``[N, k]`` per class): what `bin_codes` takes as ``scores``."""
        return monitored_values(prediction, self._per_class)

    def bin_columns(self, columns: Columns, scores: npt.ArrayLike | None = None) -> npt.NDArray[np.int64]:
        """Count delta of one batch: ``int64[rows, width]``.

        Parameters
        ----------
        columns
            One array per card feature, ``[N]`` or ``[N, 1]`` (raw or feeding form).
        scores
            The batch's monitored predictions: ``[N]`` or ``[N, 1]`` for a ``"__score__"`` row,
            ``[N, k]`` for per-class rows (`monitored`); without them the prediction rows stay zero.
        """
        out = np.zeros((self._n_rows, self._width), dtype=np.int64)
        self._bin_numeric(columns, scores, out)
        self._bin_categorical(columns, out)
        return out

    @property
    def categories(self) -> dict[str, tuple[str, ...]]:
        """The categories of each categorical feature, in the order `bin_codes`' ``category_codes``
        number them."""
        return {self._names[r]: self.profile.features[r].categories for r in self._categorical}

    def bin_codes(self, columns: Columns, scores: npt.ArrayLike | None = None,
                  category_codes: Mapping[str, npt.NDArray[np.int64]] | None = None,
                  ) -> npt.NDArray[np.unsignedinteger]:
        """Bin code of every event and row, ``[N, rows]`` in `code_dtype`: the events keep their order.

        `counts_from_codes` of the result equals `bin_columns`; the order lets a monitor close
        windows at exact event counts and run CUSUMs event by event. ``scores`` (as in
        `bin_columns`) are required when the profile has prediction rows. ``category_codes``, by
        feature name, are the categorical columns already encoded with `categories` (-1 unseen,
        -2 null: ``models.validation.BatchValidation.category_codes`` when its card lists the
        same categories); they replace reading each label of ``columns`` again, which was half
        the cost of binning a batch.
        """
        if self._prediction_rows and scores is None:
            raise ValueError("this profile has prediction rows: bin_codes needs the scores")
        size = np.asarray(columns[self._names[0]]).reshape(-1).size if self._names else 0
        _, _, matrix = self._numeric_matrix(columns, scores, size)
        labels = [as_labels(columns[self._names[r]]) if category_codes is None
                  else category_codes[self._names[r]] for r in self._categorical]
        out = np.zeros((size, self._n_rows), dtype=self._code_dtype)
        self._writer.write(matrix, labels, out)
        return out

    def _numeric_matrix(self, columns: Columns, scores: npt.ArrayLike | None,
                        size: int) -> tuple[list[int], list[FloatArray], FloatArray]:
        """The rows one ``ext`` numeric call bins, their edges, and their values as ``float64[N, rows]``
        (numeric features, then the prediction's rows when ``scores`` are given)."""
        rows, edges = list(self._numeric), list(self._edges)
        predicted = None
        if scores is not None and self._prediction_rows:
            predicted = np.asarray(scores, dtype=np.float64)
            width = predicted.shape[1] if predicted.ndim == 2 else 1
            if width != len(self._prediction_rows):
                raise ValueError(f"{width} prediction columns for the profile's "
                                 f"{len(self._prediction_rows)} prediction rows")
            rows += self._prediction_rows
            edges += self._prediction_edges
        # Column-major: each column is copied in contiguously, and the compiled CodeWriter bins
        # from contiguous columns.
        matrix = np.empty((size, len(rows)), dtype=np.float64, order="F")
        for j, r in enumerate(self._numeric):
            matrix[:, j] = np.asarray(columns[self._names[r]]).reshape(-1)
        if predicted is not None:
            matrix[:, len(self._numeric):] = predicted.reshape(size, -1)
        return rows, edges, matrix

    def _bin_numeric(self, columns: Columns, scores: npt.ArrayLike | None,
                     out: npt.NDArray[np.int64]) -> None:
        size = np.asarray(columns[self._names[0]]).reshape(-1).size if self._names else 0
        rows, edges, matrix = self._numeric_matrix(columns, scores, size)
        if not rows:
            return
        counts = np.zeros((len(rows), self._width), dtype=np.int64)
        ext.bin_numeric(matrix, edges, counts)
        out[rows] += counts

    def _bin_categorical(self, columns: Columns, out: npt.NDArray[np.int64]) -> None:
        if not self._categorical:
            return
        first = np.asarray(columns[self._names[self._categorical[0]]]).reshape(-1)
        codes = np.empty((first.size, len(self._categorical)), dtype=np.int64)
        for j, (r, index) in enumerate(zip(self._categorical, self._indexes, strict=True)):
            codes[:, j] = ext.encode_categories(as_labels(columns[self._names[r]]), index)
        counts = np.zeros((len(self._categorical), self._width), dtype=np.int64)
        ext.bin_categorical(codes, self._n_categories, counts)
        out[self._categorical] += counts
