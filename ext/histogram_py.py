"""Drift histograms in pure Python: the specification and fallback for ``ext._histogram``.

Every function here has a compiled twin of the same name and signature in ``ext._histogram``;
``ext`` picks one of the two at import time. Binning results are identical between the twins,
and the divergences use the same operations in the same order (plain sequential sums, the C
library's ``log``/``log2``), so they agree bit for bit where the C compiler fuses no
multiply-adds (x86-64 without ``-mfma``) and to 1e-12 everywhere. The O(1) argument checks live
only here and are shared, so both raise the same errors.

Bin layout
----------
A numeric feature with ``k`` sorted interior edges ``e[0] < ... < e[k-1]`` has ``k + 2`` bins::

    bin 0        (-inf, e[0])          underflow
    bin j        [e[j-1], e[j])        for 1 <= j <= k-1
    bin k        [e[k-1], +inf)        overflow
    bin k + 1    NaN                   missing

so the bin of a value is the number of edges ``<=`` it (a binary search), and NaN goes last.
A categorical feature with ``n`` known categories has ``n + 2`` bins: codes ``0..n-1`` are the
known categories, code ``-1`` (unseen, "other") counts in bin ``n`` and code ``-2`` (missing)
in bin ``n + 1``. Counts for ``F`` features live in one ``int64[F, max_bins]`` matrix, each row
padded with zeros past its feature's own bin count (see `numeric_bins`, `categorical_bins`).

Divergences
-----------
Histograms ``p`` (reference) and ``q`` (current) are counts; they are normalised inside. These
are the two statistics the drift monitor judges by (``detectors.histogram``). PSI smooths empty
bins additively: ``p~ = (p / sum(p) + eps) / (1 + B * eps)`` for ``B`` bins, with
``eps = 1e-4`` by default, so the smoothed proportions still sum to one and the logarithms stay
finite. Jensen-Shannon needs no smoothing. Both treat every bin, the missing bin included, as a
category of its own (a change in the missing rate is drift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard, cast

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
CountArray: TypeAlias = npt.NDArray[np.int64]
Labels: TypeAlias = Sequence[str | None]

#: Default additive smoothing of proportions for PSI.
DEFAULT_EPS = 1e-4



# --- layout -----------------------------------------------------------------------------------


def numeric_bins(edges: Sequence[npt.ArrayLike]) -> CountArray:
    """Number of bins of each numeric feature: one more than its edges, plus the missing bin.

    >>> numeric_bins([[0.0, 1.0], [5.0]]).tolist()
    [4, 3]
    """
    return np.array([np.asarray(e, dtype=np.float64).size + 2 for e in edges], dtype=np.int64)


def categorical_bins(n_categories: npt.ArrayLike) -> CountArray:
    """Number of bins of each categorical feature: its known categories, "other" and missing.

    >>> categorical_bins([3, 1]).tolist()
    [5, 3]
    """
    return _as_int64(n_categories, "n_categories") + 2


# --- binning ----------------------------------------------------------------------------------


def bin_numeric(values: npt.ArrayLike, edges: Sequence[npt.ArrayLike], counts: CountArray) -> None:
    """Add a batch of numeric rows to per-feature histograms, in place.

    Parameters
    ----------
    values
        ``float64[N, F]``; converted (copied) only if it is not already C-contiguous float64.
    edges
        ``F`` one-dimensional arrays of finite, strictly increasing interior edges; feature ``f``
        with ``k_f`` edges has ``k_f + 2`` bins (underflow, interior, overflow, missing).
    counts
        ``int64[F, M]`` with ``M >= max(k_f) + 2``, C-contiguous and writable; bin ``b`` of
        feature ``f`` is ``counts[f, b]``. Columns past a feature's own bins are left untouched.

    Examples
    --------
    >>> counts = np.zeros((1, 4), dtype=np.int64)
    >>> bin_numeric([[0.5], [1.0], [-3.0], [float("nan")], [2.5]], [[1.0, 2.0]], counts)
    >>> counts.tolist()
    [[2, 1, 1, 1]]
    """
    matrix = _as_matrix(values)
    checked = [_checked_edges(e, f) for f, e in enumerate(edges)]
    _check_feature_count(len(checked), matrix.shape[1])
    _check_counts(counts, len(checked), max((e.size + 2 for e in checked), default=0))
    for f, feature_edges in enumerate(checked):
        column = matrix[:, f]
        bins = np.searchsorted(feature_edges, column, side="right")
        bins[np.isnan(column)] = feature_edges.size + 1
        counts[f, : feature_edges.size + 2] += np.bincount(bins, minlength=feature_edges.size + 2)


class CodeWriter:
    """Writes the bin code of every value of a batch into a code matrix, in place.

    Counts lose the order of events; codes keep it, so a reader can cut a batch anywhere (a
    monitor closes its sub-windows at exact event counts, a CUSUM runs event by event). The
    layout (edges, category indexes, target columns) is checked once, here: a monitor writes the
    same layout for every batch, and checking it per batch cost ~25 µs, more than binning 150
    events.

    Parameters
    ----------
    edges
        ``F`` arrays of interior edges, one per numeric feature, as for `bin_numeric`.
    numeric_columns
        ``F`` column indices: numeric feature ``f``'s bins go to column ``numeric_columns[f]``.
    indexes
        ``G`` mappings label → code, one per categorical feature, as for `encode_categories`
        (a code of ``-1`` or ``-2`` sends a placeholder label to the other or missing bin).
    categorical_columns
        ``G`` column indices for the categorical features' bins: ``0..n-1`` for the known
        categories, ``n`` for unseen labels and ``n + 1`` for ``None``, where ``n`` counts the
        mapping's codes ``>= 0`` (the layout of `bin_categorical`).

    All ``F + G`` columns must be distinct and non-negative; other columns of a code matrix are
    left untouched.

    Examples
    --------
    >>> writer = CodeWriter([[1.0, 2.0]], [1], [{"a": 0, "b": 1}], [0])
    >>> codes = np.zeros((3, 2), dtype=np.uint8)
    >>> writer.write([[0.5], [1.0], [float("nan")]], [["b", None, "z"]], codes)
    >>> codes.tolist()
    [[1, 0], [3, 1], [2, 3]]
    """

    def __init__(self, edges: Sequence[npt.ArrayLike], numeric_columns: npt.ArrayLike,
                 indexes: Sequence[Mapping[str, int]], categorical_columns: npt.ArrayLike) -> None:
        self._layout = code_layout(edges, numeric_columns, indexes, categorical_columns)
        #: The most bins of any column, and the fewest columns a code matrix must have.
        self.bins, self.width = self._layout.bins, self._layout.width

    def write(self, values: npt.ArrayLike, labels: Sequence[Labels | CountArray],
              codes: npt.NDArray[np.unsignedinteger]) -> None:
        """Write one batch's codes.

        Parameters
        ----------
        values
            ``float64[N, F]``: the numeric features, in the order of ``edges``; NaN is missing.
            ``[N, 0]`` when there are none: it still says how many events the batch has.
        labels
            ``G`` columns in the order of ``indexes``: ``N`` labels (str or None) each, or ``N``
            codes already encoded with that index (an ``int64`` array, as `encode_categories`
            gives; ``models.validation`` encodes them while it checks the labels, which spares
            reading every label twice).
        codes
            ``uint8[N, C]`` or ``uint16[N, C]``, C-contiguous and writable, ``C >= width``; every
            bin must fit its dtype.
        """
        layout, matrix = self._layout, _as_columns(values)
        _check_code_batch(matrix, labels, codes, layout)
        for f, (feature_edges, at) in enumerate(zip(layout.edges, layout.numeric_columns, strict=True)):
            bins = np.searchsorted(feature_edges, matrix[:, f], side="right")
            bins[np.isnan(matrix[:, f])] = feature_edges.size + 1
            codes[:, at] = bins
        categorical = zip(layout.indexes, layout.n_categories, layout.categorical_columns, strict=True)
        for column, (index, n, at) in zip(labels, categorical, strict=True):
            encoded = column if is_category_codes(column) else encode_categories(cast(Labels, column), index)
            codes[:, at] = np.where(encoded >= 0, encoded, n - 1 - encoded)


def bin_categorical(codes: npt.ArrayLike, n_categories: npt.ArrayLike, counts: CountArray) -> None:
    """Add a batch of category codes to per-feature histograms, in place.

    Parameters
    ----------
    codes
        Integer ``[N, F]``: ``0..n_f - 1`` for a known category of feature ``f``, ``-1`` for an
        unseen one (bin ``n_f``), ``-2`` for a missing value (bin ``n_f + 1``).
    n_categories
        Integer ``[F]``: the number of known categories of each feature.
    counts
        ``int64[F, M]`` with ``M >= max(n_f) + 2``, C-contiguous and writable.

    Raises
    ------
    ValueError
        If a code is outside ``-2..n_f - 1``; ``counts`` is then left unchanged.

    Examples
    --------
    >>> counts = np.zeros((1, 4), dtype=np.int64)
    >>> bin_categorical([[0], [1], [1], [-1], [-2]], [2], counts)
    >>> counts.tolist()
    [[1, 2, 1, 1]]
    """
    matrix = _as_int64(codes, "codes")
    sizes = _as_int64(n_categories, "n_categories")
    _check_categorical_shapes(matrix, sizes)
    _check_counts(counts, sizes.size, int(sizes.max(initial=-2)) + 2)
    bad = np.flatnonzero((matrix < -2) | (matrix >= sizes))
    if bad.size:
        row, f = divmod(int(bad[0]), matrix.shape[1])
        raise ValueError(f"codes[{row}, {f}] = {matrix[row, f]} is outside -2..{sizes[f] - 1}")
    for f in range(sizes.size):
        column = matrix[:, f]
        bins = np.where(column >= 0, column, sizes[f] - 1 - column)
        counts[f, : sizes[f] + 2] += np.bincount(bins, minlength=int(sizes[f]) + 2)


def block_counts(codes: npt.ArrayLike, sizes: npt.ArrayLike, width: int) -> CountArray:
    """Histograms of consecutive blocks of coded events, ``int64[blocks, rows, width]``.

    Parameters
    ----------
    codes
        ``uint8`` or ``uint16`` ``[N, rows]``: the bin of each event in each row (a `CodeWriter`'s
        output), events in order.
    sizes
        Integer ``[blocks]``, non-negative, summing to ``N``: block ``b`` holds the ``sizes[b]``
        events after those of the blocks before it.
    width
        Bins per row; every code must be below it.

    Raises
    ------
    ValueError
        If the sizes do not add up to ``N`` or a code is ``>= width``.

    Examples
    --------
    >>> block_counts(np.array([[0], [1], [1]], dtype=np.uint8), [1, 2, 0], 2).tolist()
    [[[1, 0]], [[0, 2]], [[0, 0]]]
    """
    matrix, blocks = _checked_blocks(codes, sizes, width)
    if matrix.size and int(matrix.max()) >= width:
        raise _code_beyond(width)
    rows = matrix.shape[1]
    block = np.repeat(np.arange(blocks.size, dtype=np.intp), blocks)
    flat = matrix.astype(np.intp) + (np.arange(rows, dtype=np.intp) * width + (block * rows * width)[:, None])
    counts = np.bincount(flat.ravel(), minlength=blocks.size * rows * width)
    return counts.reshape(blocks.size, rows, width).astype(np.int64)


def encode_categories(column: Sequence[str | None], index: Mapping[str, int]) -> CountArray:
    """Map category labels to codes: ``index[label]``, ``-1`` if unseen, ``-2`` for ``None``.

    >>> encode_categories(["red", None, "blue", "mauve"], {"red": 0, "blue": 1}).tolist()
    [0, -2, 1, -1]
    """
    codes = (-2 if label is None else index.get(label, -1) for label in column)
    return np.fromiter(codes, dtype=np.int64, count=len(column))


# --- divergences ------------------------------------------------------------------------------


def psi(p: npt.ArrayLike, q: npt.ArrayLike, eps: float = DEFAULT_EPS) -> float:
    """Population stability index of current counts ``q`` against reference counts ``p``.

    ``PSI = sum((q~ - p~) * ln(q~ / p~))`` over smoothed proportions (module docstring), i.e.
    the symmetrised Kullback-Leibler divergence in nats.

    References
    ----------
    Yurdakul, B. (2018). *Statistical properties of population stability index*. PhD thesis,
    Western Michigan University.

    Examples
    --------
    >>> round(psi([50, 30, 20], [20, 30, 50]), 6)
    0.54943
    >>> psi([1, 2, 3], [2, 4, 6])
    0.0
    """
    a, b = _pair(p, q)
    return _psi(a, b, _checked_total(a, "p"), _checked_total(b, "q"), _checked_eps(eps))


def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence in bits, in ``[0, 1]``: 0 for equal, 1 for disjoint histograms.

    ``JS = (D(P || M) + D(Q || M)) / 2`` with ``M = (P + Q) / 2``, base-2 logarithms and
    ``0 * log 0 = 0``. This is the divergence, not the distance: ``scipy``'s ``jensenshannon``
    and Evidently's 0.1 threshold use the distance ``sqrt(JS)`` (natural log in scipy).

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. *IEEE Transactions on
    Information Theory* 37(1), 145-151.

    Examples
    --------
    >>> jensen_shannon([1, 1, 0, 0], [0, 0, 3, 1])
    1.0
    >>> round(jensen_shannon([50, 30, 20], [20, 30, 50]), 6)
    0.095816
    """
    a, b = _pair(p, q)
    return _js(a, b, _checked_total(a, "p"), _checked_total(b, "q"))


def psi_rows(p: npt.ArrayLike, q: npt.ArrayLike, nbins: npt.ArrayLike,
             eps: float = DEFAULT_EPS) -> FloatArray:
    """`psi` of every feature at once: row ``f`` of ``[F, M]`` count matrices, first ``nbins[f]``.

    >>> psi_rows([[5, 5, 0], [1, 3, 0]], [[5, 5, 9], [3, 1, 0]], [2, 2]).round(6).tolist()
    [0.0, 1.098126]
    """
    a, b, sizes = _rows(p, q, nbins)
    smoothing = _checked_eps(eps)
    out = np.empty(sizes.size, dtype=np.float64)
    for f, (pf, qf) in enumerate(_row_pairs(a, b, sizes)):
        out[f] = _psi(pf, qf, _checked_total(pf, f"p[{f}]"), _checked_total(qf, f"q[{f}]"), smoothing)
    return out


def js_rows(p: npt.ArrayLike, q: npt.ArrayLike, nbins: npt.ArrayLike) -> FloatArray:
    """`jensen_shannon` of every feature at once, laid out as for `psi_rows`.

    >>> js_rows([[1, 0], [1, 1]], [[0, 1], [1, 1]], [2, 2]).tolist()
    [1.0, 0.0]
    """
    a, b, sizes = _rows(p, q, nbins)
    out = np.empty(sizes.size, dtype=np.float64)
    for f, (pf, qf) in enumerate(_row_pairs(a, b, sizes)):
        out[f] = _js(pf, qf, _checked_total(pf, f"p[{f}]"), _checked_total(qf, f"q[{f}]"))
    return out


# --- kernels: the twin of the C loops, term by term --------------------------------------------


def _psi(p: FloatArray, q: FloatArray, tp: float, tq: float, eps: float) -> float:
    norm = 1.0 + p.size * eps
    total = 0.0
    for pi, qi in zip(p.tolist(), q.tolist(), strict=True):
        a = (pi / tp + eps) / norm
        b = (qi / tq + eps) / norm
        total += (b - a) * math.log(b / a)
    return total


def _js(p: FloatArray, q: FloatArray, tp: float, tq: float) -> float:
    total = 0.0
    for pi, qi in zip(p.tolist(), q.tolist(), strict=True):
        a = pi / tp
        b = qi / tq
        m = (a + b) * 0.5
        if a > 0.0:
            total += a * math.log2(a / m)
        if b > 0.0:
            total += b * math.log2(b / m)
    # Rounding can leave the sum a hair outside [0, 2]; the divergence itself never is.
    return min(max(total * 0.5, 0.0), 1.0)


# --- validation: the compiled twin raises the same errors with the same messages --------------


def _as_matrix(values: npt.ArrayLike) -> FloatArray:
    matrix = np.ascontiguousarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"values must be a 2-D array [N, F], got shape {matrix.shape}")
    return matrix


def _as_columns(values: npt.ArrayLike) -> FloatArray:
    """``values`` as `_as_matrix` checks them, column-major: the compiled `CodeWriter` bins each
    feature from a contiguous column."""
    matrix = np.asfortranarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"values must be a 2-D array [N, F], got shape {matrix.shape}")
    return matrix


def _as_int64(x: npt.ArrayLike, name: str) -> CountArray:
    array = np.asarray(x)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


def _checked_edges(edges: npt.ArrayLike, feature: int) -> FloatArray:
    name = f"edges[{feature}]"
    bounds = np.ascontiguousarray(edges, dtype=np.float64)
    if bounds.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {bounds.shape}")
    if not (np.isfinite(bounds).all() and (np.diff(bounds) > 0.0).all()):
        raise ValueError(f"{name} must be finite and strictly increasing")
    return bounds


def _check_feature_count(n_edges: int, n_columns: int) -> None:
    if n_edges != n_columns:
        raise ValueError(f"edges has {n_edges} features but values has {n_columns} columns")


def _check_categorical_shapes(codes: CountArray, sizes: CountArray) -> None:
    if codes.ndim != 2 or sizes.ndim != 1 or codes.shape[1] != sizes.size:
        raise ValueError(f"codes must be [N, F] and n_categories [F], got {codes.shape} and {sizes.shape}")
    if (sizes < 0).any():
        raise ValueError("n_categories must be non-negative")


def _checked_blocks(codes: npt.ArrayLike, sizes: npt.ArrayLike,
                    width: int) -> tuple[npt.NDArray[np.unsignedinteger], CountArray]:
    matrix = np.asarray(codes)
    if matrix.ndim != 2 or matrix.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"codes must be a 2-D uint8 or uint16 array [N, rows], got {matrix.dtype} "
                         f"of shape {matrix.shape}")
    blocks = _as_int64(sizes, "sizes")
    if blocks.ndim != 1 or (blocks < 0).any() or int(blocks.sum()) != matrix.shape[0]:
        raise ValueError(f"sizes must be non-negative and add up to the {matrix.shape[0]} events")
    if width < 1:
        raise ValueError(f"width must be positive, got {width}")
    return np.ascontiguousarray(matrix), blocks


def _code_beyond(width: int) -> ValueError:
    return ValueError(f"a code is outside the {width} bins of a row")


def _check_counts(counts: object, n_features: int, needed: int) -> None:
    if not (isinstance(counts, np.ndarray) and counts.dtype == np.int64
            and counts.flags.c_contiguous and counts.flags.writeable):
        raise TypeError("counts must be a writable C-contiguous int64 numpy array")
    if counts.ndim != 2 or counts.shape[0] != n_features or counts.shape[1] < needed:
        raise ValueError(f"counts must have shape ({n_features}, >= {needed}), got {counts.shape}")


@dataclass(frozen=True)
class CodeLayout:
    """A `CodeWriter`'s checked layout (shared by both twins, so both refuse alike)."""

    edges: list[FloatArray]
    numeric_columns: list[int]
    indexes: list[dict[str, int]]
    categorical_columns: list[int]
    n_categories: list[int]
    bins: int
    width: int


def code_layout(edges: Sequence[npt.ArrayLike], numeric_columns: npt.ArrayLike,
                indexes: Sequence[Mapping[str, int]], categorical_columns: npt.ArrayLike) -> CodeLayout:
    checked = [_checked_edges(e, f) for f, e in enumerate(edges)]
    numeric, categorical = _indices(numeric_columns, "numeric_columns"), _indices(categorical_columns,
                                                                                  "categorical_columns")
    if len(numeric) != len(checked):
        raise ValueError(f"{len(checked)} numeric features but {len(numeric)} numeric_columns")
    if len(categorical) != len(indexes):
        raise ValueError(f"{len(indexes)} categorical features but {len(categorical)} categorical_columns")
    every = numeric + categorical
    if len(set(every)) != len(every) or any(c < 0 for c in every):
        raise ValueError("the numeric and categorical columns must be distinct non-negative indices")
    n_categories = [_category_count(index, g) for g, index in enumerate(indexes)]
    bins = max([e.size + 2 for e in checked] + [n + 2 for n in n_categories], default=0)
    width = max(every, default=-1) + 1
    # Copies: a mapping changed after construction changes neither twin (and a dict is looked up in C).
    copies = [dict(index) for index in indexes]
    return CodeLayout(checked, numeric, copies, categorical, n_categories, bins, width)


def _indices(x: npt.ArrayLike, name: str) -> list[int]:
    array = np.asarray(x)
    return [] if array.size == 0 else _as_int64(array, name).reshape(-1).tolist()


def _category_count(index: Mapping[str, int], feature: int) -> int:
    """How many known categories ``index`` codes: its codes must be 0..n-1, plus -1 and -2."""
    codes = set(index.values())
    n = sum(1 for code in codes if code >= 0)
    if not codes <= set(range(n)) | {-1, -2}:
        raise ValueError(f"indexes[{feature}] must code its categories 0..n-1 (and placeholders -1 or -2)")
    return n


def _check_code_batch(matrix: FloatArray, labels: Sequence[Labels | CountArray], codes: object,
                      layout: CodeLayout) -> None:
    if not (isinstance(codes, np.ndarray) and codes.dtype in (np.uint8, np.uint16)
            and codes.flags.c_contiguous and codes.flags.writeable):
        raise TypeError("codes must be a writable C-contiguous uint8 or uint16 numpy array")
    n_rows = matrix.shape[0]
    if codes.ndim != 2 or codes.shape[0] != n_rows or codes.shape[1] < layout.width:
        raise ValueError(f"codes must have shape ({n_rows}, C) with C >= {layout.width}, got {codes.shape}")
    if layout.bins > np.iinfo(codes.dtype).max + 1:
        raise ValueError(f"{layout.bins} bins do not fit codes of dtype {codes.dtype}")
    _check_feature_count(len(layout.edges), matrix.shape[1])
    n_categorical = len(layout.indexes)
    if len(labels) != n_categorical or any(len(column) != n_rows for column in labels):
        raise ValueError(f"labels must be {n_categorical} columns of {n_rows} labels")
    for g, (column, n) in enumerate(zip(labels, layout.n_categories, strict=True)):
        if is_category_codes(column) and column.size and not -2 <= column.min() <= column.max() < n:
            raise ValueError(f"labels[{g}] holds codes outside -2..{n - 1}")


def is_category_codes(column: object) -> TypeGuard[CountArray]:
    """Whether a `CodeWriter` column holds codes (a 1-D ``int64`` array) rather than labels."""
    return isinstance(column, np.ndarray) and column.dtype == np.int64 and column.ndim == 1


def _checked_eps(eps: float) -> float:
    if not 0.0 < eps < math.inf:
        raise ValueError(f"eps must be positive and finite, got {eps}")
    return float(eps)


def _pair(p: npt.ArrayLike, q: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    a = np.ascontiguousarray(p, dtype=np.float64)
    b = np.ascontiguousarray(q, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"p and q must be non-empty 1-D arrays of one length, got {a.shape} and {b.shape}")
    return a, b


def _rows(p: npt.ArrayLike, q: npt.ArrayLike,
          nbins: npt.ArrayLike) -> tuple[FloatArray, FloatArray, CountArray]:
    a = np.ascontiguousarray(p, dtype=np.float64)
    b = np.ascontiguousarray(q, dtype=np.float64)
    sizes = _as_int64(nbins, "nbins")
    if a.ndim != 2 or a.shape != b.shape or sizes.shape != (a.shape[0],):
        raise ValueError(f"p and q must be [F, M] and nbins [F], got {a.shape}, {b.shape} and {sizes.shape}")
    if ((sizes < 1) | (sizes > a.shape[1])).any():
        raise ValueError(f"nbins must lie in 1..{a.shape[1]}")
    return a, b, sizes


def _row_pairs(p: FloatArray, q: FloatArray, sizes: CountArray) -> list[tuple[FloatArray, FloatArray]]:
    return [(p[f, :n], q[f, :n]) for f, n in enumerate(sizes.tolist())]


def _checked_total(x: FloatArray, name: str) -> float:
    total = 0.0
    for v in x.tolist():
        if not 0.0 <= v < math.inf:
            raise ValueError(f"{name} must hold non-negative finite counts")
        total += v
    if not total < math.inf:
        raise ValueError(f"{name} must hold non-negative finite counts")
    if total == 0.0:
        raise ValueError(f"{name} is empty: its counts sum to zero")
    return total
