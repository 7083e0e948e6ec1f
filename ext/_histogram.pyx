# cython: language_level=3
"""Compiled drift-histogram kernels: the hot loops of ``ext.histogram_py``, in C.

``ext.histogram_py`` is the specification (bin layout, smoothing, conventions, references); this
module has the same functions with the same signatures, results and errors. Argument checks that
cost O(1) are imported from the twin so both raise the very same messages; checks that touch
every element, and all the loops, run here without the GIL.
"""

from cpython.dict cimport PyDict_GetItemWithError
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.math cimport INFINITY, fabs, log, log2
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy

cimport numpy as cnp

import numpy as np

cnp.import_array()

from driftline.ext.histogram_py import (
    DEFAULT_EPS,
    _as_columns,
    _as_int64,
    _as_matrix,
    _check_categorical_shapes,
    _check_code_batch,
    _check_counts,
    _check_feature_count,
    _checked_blocks,
    _checked_eps,
    _code_beyond,
    _pair,
    _rows,
    categorical_bins,
    code_layout,
    is_category_codes,
    numeric_bins,
)

__all__ = [
    "DEFAULT_EPS", "CodeWriter", "bin_categorical", "bin_numeric", "block_counts", "categorical_bins",
    "encode_categories", "jensen_shannon", "js_rows", "numeric_bins", "psi", "psi_rows",
]

# Status codes of the C-level checks, turned into the twin's exceptions at Python level.
cdef enum Check:
    OK = 0
    BAD_VALUE = 1
    ZERO_TOTAL = 2


# --- binning ----------------------------------------------------------------------------------


cdef inline Py_ssize_t _count_le(const double* edges, Py_ssize_t k, double v) noexcept nogil:
    # Branch-free upper bound: the ternary compiles to a conditional move, so a search costs
    # ceil(log2 k) dependent loads and no mispredictions whatever the data.
    cdef Py_ssize_t base = 0
    cdef Py_ssize_t half
    if k == 0:
        return 0
    while k > 1:
        half = k >> 1
        base = base + half if edges[base + half] <= v else base
        k -= half
    return base + (edges[base] <= v)


cdef void _bin_numeric(const double* values, Py_ssize_t n_rows, Py_ssize_t n_features,
                       const double* edges, const Py_ssize_t* offsets,
                       int64_t* counts, Py_ssize_t width) noexcept nogil:
    cdef Py_ssize_t i, f, k
    cdef const double* row
    cdef double v
    # Row-major order reads the batch once, front to back; the edges of all features stay in L1.
    for i in range(n_rows):
        row = values + i * n_features
        for f in range(n_features):
            v = row[f]
            k = offsets[f + 1] - offsets[f]
            counts[f * width + (k + 1 if v != v else _count_le(edges + offsets[f], k, v))] += 1


cdef bint _increasing_and_finite(const double* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not (fabs(x[i]) < INFINITY and (i == 0 or x[i - 1] < x[i])):
            return False
    return True


cdef cnp.ndarray _checked_edges(object edges, object feature):
    """Same contract and messages as ``histogram_py._checked_edges``; the scan runs in C."""
    cdef cnp.ndarray bounds = np.ascontiguousarray(edges, dtype=np.float64)
    if cnp.PyArray_NDIM(bounds) != 1:
        raise ValueError(f"edges[{feature}] must be 1-D, got shape {(<object> bounds).shape}")
    if not _increasing_and_finite(<const double*> cnp.PyArray_DATA(bounds), cnp.PyArray_SIZE(bounds)):
        raise ValueError(f"edges[{feature}] must be finite and strictly increasing")
    return bounds


cdef void _pack_edges(list checked, double* packed, Py_ssize_t* offsets) noexcept:
    # One contiguous copy of all edges keeps the searches of a row within a few cache lines.
    cdef cnp.ndarray bounds
    cdef Py_ssize_t f, at = 0
    for f in range(len(checked)):
        bounds = <cnp.ndarray> checked[f]
        offsets[f] = at
        memcpy(packed + at, cnp.PyArray_DATA(bounds), cnp.PyArray_SIZE(bounds) * sizeof(double))
        at += cnp.PyArray_SIZE(bounds)
    offsets[len(checked)] = at


def bin_numeric(values, edges, counts):
    """Add a batch of numeric rows to per-feature histograms, in place (see ``histogram_py``)."""
    cdef cnp.ndarray matrix = _as_matrix(values)
    cdef list checked = [_checked_edges(e, f) for f, e in enumerate(edges)]
    cdef Py_ssize_t f, n_features = len(checked), n_edges = 0, most = -2
    for f in range(n_features):
        n_edges += cnp.PyArray_SIZE(<cnp.ndarray> checked[f])
        most = max(most, cnp.PyArray_SIZE(<cnp.ndarray> checked[f]))
    _check_feature_count(n_features, matrix.shape[1])
    _check_counts(counts, n_features, most + 2)
    cdef double* packed = <double*> PyMem_Malloc((n_edges + 1) * sizeof(double))
    cdef Py_ssize_t* offsets = <Py_ssize_t*> PyMem_Malloc((n_features + 1) * sizeof(Py_ssize_t))
    cdef const double* rows = <const double*> cnp.PyArray_DATA(matrix)
    cdef Py_ssize_t n_rows = cnp.PyArray_DIM(matrix, 0)
    cdef int64_t* out = <int64_t*> cnp.PyArray_DATA(<cnp.ndarray> counts)
    cdef Py_ssize_t width = cnp.PyArray_DIM(<cnp.ndarray> counts, 1)
    try:
        if packed == NULL or offsets == NULL:
            raise MemoryError()
        _pack_edges(checked, packed, offsets)
        with nogil:
            _bin_numeric(rows, n_rows, n_features, packed, offsets, out, width)
    finally:
        PyMem_Free(packed)
        PyMem_Free(offsets)


ctypedef fused code_t:
    uint8_t
    uint16_t


# Up to LINEAR_EDGES edges, a column is binned by comparing every value with every edge (loops the
# compiler turns into SIMD compares, no branch); beyond it, by a binary search per value.
cdef enum:
    LINEAR_EDGES = 32


cdef void _bin_column_codes(const double* column, Py_ssize_t n_rows, const double* edges, Py_ssize_t k,
                            double* below, code_t* codes, Py_ssize_t width) noexcept nogil:
    # One numeric feature's column (contiguous) into its code column (stride ``width``). A search
    # per value costs log2(k) dependent loads, and its loop exits mispredict on live data (~6 ns a
    # value measured on 17 features of ~11 edges); k compares of a whole column cost under 1 ns.
    cdef Py_ssize_t i, j
    cdef double edge
    if k > LINEAR_EDGES:
        for i in range(n_rows):
            codes[i * width] = <code_t> (k + 1 if column[i] != column[i] else _count_le(edges, k, column[i]))
        return
    for i in range(n_rows):
        below[i] = 0.0
    for j in range(k):
        edge = edges[j]
        for i in range(n_rows):
            # A double count: gcc vectorises this loop for SSE2 with it, not with an int64 one.
            below[i] += 1.0 if column[i] >= edge else 0.0  # not for NaN: it goes to bin k + 1

    for i in range(n_rows):
        codes[i * width] = <code_t> (k + 1 if column[i] != column[i] else below[i])


cdef void _bin_codes(const double* values, Py_ssize_t n_rows, Py_ssize_t n_features,
                     const double* edges, const Py_ssize_t* offsets, const int64_t* columns,
                     double* below, code_t* codes, Py_ssize_t width) noexcept nogil:
    # ``values`` is column-major (``[N, F]`` in Fortran order): each feature's column is contiguous.
    cdef Py_ssize_t f
    for f in range(n_features):
        _bin_column_codes(values + f * n_rows, n_rows, edges + offsets[f], offsets[f + 1] - offsets[f],
                          below, codes + columns[f], width)


cdef int _count_blocks(const code_t* codes, Py_ssize_t rows, const int64_t* sizes, Py_ssize_t n_blocks,
                       Py_ssize_t width, int64_t* out) noexcept nogil:
    cdef Py_ssize_t b, i, r, at = 0
    cdef int64_t* histogram
    cdef const code_t* event
    for b in range(n_blocks):
        histogram = out + b * rows * width
        for i in range(at, at + sizes[b]):
            event = codes + i * rows
            for r in range(rows):
                if event[r] >= width:
                    return BAD_VALUE
                histogram[r * width + event[r]] += 1
        at += sizes[b]
    return OK


def block_counts(codes, sizes, Py_ssize_t width):
    # One pass over the codes; numpy's twin builds an [N, rows] index array and bincounts it.
    matrix, blocks = _checked_blocks(codes, sizes, width)
    cdef cnp.ndarray events = <cnp.ndarray> matrix
    cdef cnp.ndarray block_sizes = <cnp.ndarray> blocks
    cdef Py_ssize_t rows = cnp.PyArray_DIM(events, 1), n_blocks = cnp.PyArray_DIM(block_sizes, 0)
    cdef cnp.ndarray counts = np.zeros((n_blocks, rows, width), dtype=np.int64)
    cdef const int64_t* per_block = <const int64_t*> cnp.PyArray_DATA(block_sizes)
    cdef int64_t* out = <int64_t*> cnp.PyArray_DATA(counts)
    cdef int status
    if events.dtype == np.uint8:
        with nogil:
            status = _count_blocks(<const uint8_t*> cnp.PyArray_DATA(events), rows, per_block, n_blocks,
                                   width, out)
    else:
        with nogil:
            status = _count_blocks(<const uint16_t*> cnp.PyArray_DATA(events), rows, per_block, n_blocks,
                                   width, out)
    if status != OK:
        raise _code_beyond(width)
    return counts


cdef int _write_categories(list labels, Py_ssize_t n_rows, dict index, int64_t n, Py_ssize_t column,
                           code_t* codes, Py_ssize_t width) except -1:
    # One pass per column from label to bin: known code, n for unseen, n + 1 for None (a code of
    # -1 or -2 in the index, a placeholder label, lands in the same two bins).
    cdef Py_ssize_t i
    cdef int64_t code
    for i in range(n_rows):
        code = _category_code(index, labels[i])
        codes[i * width + column] = <code_t> (code if code >= 0 else n - 1 - code)
    return 0


cdef void _write_category_codes(const int64_t* encoded, Py_ssize_t n_rows, int64_t n, code_t* codes,
                                Py_ssize_t width) noexcept nogil:
    # Codes encoded upstream: -1 (unseen) and -2 (None) go to bins n and n + 1, as for labels.
    cdef Py_ssize_t i
    for i in range(n_rows):
        codes[i * width] = <code_t> (encoded[i] if encoded[i] >= 0 else n - 1 - encoded[i])


cdef class CodeWriter:
    """Writes the bin code of every value of a batch into a code matrix (see ``histogram_py``)."""

    cdef double* _edges
    cdef Py_ssize_t* _offsets
    cdef int64_t* _numeric_columns
    cdef Py_ssize_t _n_numeric
    cdef object _layout
    cdef readonly Py_ssize_t bins
    cdef readonly Py_ssize_t width

    def __cinit__(self, edges, numeric_columns, indexes, categorical_columns):
        layout = self._layout = code_layout(edges, numeric_columns, indexes, categorical_columns)
        cdef Py_ssize_t f, n_edges = sum(cnp.PyArray_SIZE(<cnp.ndarray> e) for e in layout.edges)
        self._n_numeric = len(layout.edges)
        self._edges = <double*> PyMem_Malloc((n_edges + 1) * sizeof(double))
        self._offsets = <Py_ssize_t*> PyMem_Malloc((self._n_numeric + 1) * sizeof(Py_ssize_t))
        self._numeric_columns = <int64_t*> PyMem_Malloc((self._n_numeric + 1) * sizeof(int64_t))
        if self._edges == NULL or self._offsets == NULL or self._numeric_columns == NULL:
            raise MemoryError()
        _pack_edges(layout.edges, self._edges, self._offsets)
        for f in range(self._n_numeric):
            self._numeric_columns[f] = layout.numeric_columns[f]
        self.bins, self.width = layout.bins, layout.width

    def __dealloc__(self):
        PyMem_Free(self._edges)
        PyMem_Free(self._offsets)
        PyMem_Free(self._numeric_columns)

    def write(self, values, labels, codes):
        """Write one batch's codes (see ``histogram_py.CodeWriter.write``)."""
        # Column-major, so each feature is binned from a contiguous column (no copy when the
        # caller built it so, as ``detectors.binner`` does).
        cdef cnp.ndarray matrix = _as_columns(values)
        _check_code_batch(matrix, labels, codes, self._layout)
        cdef const double* columns = <const double*> cnp.PyArray_DATA(matrix)
        cdef Py_ssize_t g, n_rows = cnp.PyArray_DIM(matrix, 0)
        cdef Py_ssize_t width = cnp.PyArray_DIM(<cnp.ndarray> codes, 1)
        cdef void* out = cnp.PyArray_DATA(<cnp.ndarray> codes)
        cdef bint narrow = codes.dtype == np.uint8
        cdef double* below = <double*> PyMem_Malloc((n_rows + 1) * sizeof(double))
        if below == NULL:
            raise MemoryError()
        try:
            with nogil:
                if narrow:
                    _bin_codes(columns, n_rows, self._n_numeric, self._edges, self._offsets,
                               self._numeric_columns, below, <uint8_t*> out, width)
                else:
                    _bin_codes(columns, n_rows, self._n_numeric, self._edges, self._offsets,
                               self._numeric_columns, below, <uint16_t*> out, width)
        finally:
            PyMem_Free(below)
        cdef int64_t n
        cdef Py_ssize_t column
        cdef const int64_t* encoded
        layout = self._layout
        for g in range(len(layout.indexes)):
            n, column, index = layout.n_categories[g], layout.categorical_columns[g], layout.indexes[g]
            if is_category_codes(labels[g]):  # checked in range by _check_code_batch
                held = np.ascontiguousarray(labels[g])  # a name keeps a copy alive while it is read
                encoded = <const int64_t*> cnp.PyArray_DATA(<cnp.ndarray> held)
                with nogil:
                    if narrow:
                        _write_category_codes(encoded, n_rows, n, <uint8_t*> out + column, width)
                    else:
                        _write_category_codes(encoded, n_rows, n, <uint16_t*> out + column, width)
                continue
            listed = _label_list(labels[g])
            if narrow:
                _write_categories[uint8_t](listed, n_rows, index, n, column, <uint8_t*> out, width)
            else:
                _write_categories[uint16_t](listed, n_rows, index, n, column, <uint16_t*> out, width)


cdef Py_ssize_t _first_bad_code(const int64_t[:, ::1] codes, const int64_t[::1] sizes) noexcept nogil:
    # Unsigned arithmetic folds "c < -2 or c >= n" into one comparison without signed overflow.
    cdef Py_ssize_t i, f
    for i in range(codes.shape[0]):
        for f in range(codes.shape[1]):
            if <uint64_t> codes[i, f] + 2 >= <uint64_t> sizes[f] + 2:
                return i * codes.shape[1] + f
    return -1


cdef void _bin_categorical(const int64_t[:, ::1] codes, const int64_t[::1] sizes,
                           int64_t[:, ::1] counts) noexcept nogil:
    cdef Py_ssize_t i, f
    cdef int64_t c
    for i in range(codes.shape[0]):
        for f in range(codes.shape[1]):
            c = codes[i, f]
            counts[f, c if c >= 0 else sizes[f] - 1 - c] += 1


def bin_categorical(codes, n_categories, counts):
    """Add a batch of category codes to per-feature histograms, in place (see ``histogram_py``)."""
    matrix = _as_int64(codes, "codes")
    sizes = _as_int64(n_categories, "n_categories")
    _check_categorical_shapes(matrix, sizes)
    _check_counts(counts, sizes.size, int(sizes.max(initial=-2)) + 2)
    cdef const int64_t[:, ::1] code_view = matrix
    cdef const int64_t[::1] size_view = sizes
    cdef int64_t[:, ::1] out = counts
    cdef Py_ssize_t bad
    # Validate everything first so that a bad code leaves the counts untouched.
    with nogil:
        bad = _first_bad_code(code_view, size_view)
    if bad >= 0:
        row, f = divmod(bad, matrix.shape[1])
        raise ValueError(f"codes[{row}, {f}] = {matrix[row, f]} is outside -2..{sizes[f] - 1}")
    with nogil:
        _bin_categorical(code_view, size_view, out)


def encode_categories(column, index):
    """Map category labels to codes: ``index[label]``, ``-1`` if unseen, ``-2`` for ``None``."""
    cdef Py_ssize_t n = len(column)
    codes = np.empty(n, dtype=np.int64)
    if type(index) is dict:
        _encode_with_dict(_label_list(column), index, codes)
    else:
        _encode_with_mapping(column, index, codes)
    return codes


cdef int _encode_with_dict(list column, dict index, int64_t[::1] out) except -1:
    # A borrowed dict lookup skips the method call of ``get``: 3-4x the twin's speed, not 2x.
    cdef Py_ssize_t i
    for i in range(out.shape[0]):
        out[i] = _category_code(index, column[i])
    return 0


cdef inline int64_t _category_code(dict index, object label) except? -3:
    """``index[label]``, -1 if unseen, -2 for None: the one place the compiled kernels read a label."""
    cdef PyObject* code
    if label is None:
        return -2
    code = PyDict_GetItemWithError(index, label)
    return -1 if code == NULL else <object> code


cdef list _label_list(column):
    # A list is indexed in C; an object array's items each go through numpy's __getitem__,
    # which was two thirds of the time (55 ns a label, 20 from a list).
    return column.tolist() if isinstance(column, np.ndarray) and column.ndim == 1 else list(column)


cdef int _encode_with_mapping(column, index, int64_t[::1] out) except -1:
    cdef Py_ssize_t i
    get = index.get
    for i in range(out.shape[0]):
        label = column[i]
        out[i] = -2 if label is None else get(label, -1)
    return 0


# --- divergences ------------------------------------------------------------------------------


cdef double _total(const double* x, Py_ssize_t n) noexcept nogil:
    """Sequential sum of valid counts; -1 if any count is negative or not finite."""
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        if not (0.0 <= x[i] < INFINITY):
            return -1.0
        total += x[i]
    return total if total < INFINITY else -1.0


cdef Check _check_total(const double* x, Py_ssize_t n, double* total) noexcept nogil:
    total[0] = _total(x, n)
    if total[0] < 0.0:
        return BAD_VALUE
    return ZERO_TOTAL if total[0] == 0.0 else OK


cdef _raise_for(Check status, str name):
    if status == BAD_VALUE:
        raise ValueError(f"{name} must hold non-negative finite counts")
    raise ValueError(f"{name} is empty: its counts sum to zero")


cdef double _checked_total(const double[::1] x, str name) except -1.0:
    cdef double total
    cdef Check status = _check_total(&x[0], x.shape[0], &total)
    if status != OK:
        _raise_for(status, name)
    return total


cdef double _psi(const double* p, const double* q, Py_ssize_t n, double tp, double tq,
                 double eps) noexcept nogil:
    cdef double norm = 1.0 + n * eps
    cdef double a, b, total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        a = (p[i] / tp + eps) / norm
        b = (q[i] / tq + eps) / norm
        total += (b - a) * log(b / a)
    return total


cdef double _js(const double* p, const double* q, Py_ssize_t n, double tp, double tq) noexcept nogil:
    cdef double a, b, m, total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        a = p[i] / tp
        b = q[i] / tq
        m = (a + b) * 0.5
        if a > 0.0:
            total += a * log2(a / m)
        if b > 0.0:
            total += b * log2(b / m)
    # Rounding can leave the sum a hair outside [0, 2]; the divergence itself never is.
    return min(max(total * 0.5, 0.0), 1.0)


def psi(p, q, eps=DEFAULT_EPS):
    """Population stability index of current counts ``q`` against reference ``p`` (nats)."""
    cdef const double[::1] a, b
    a, b = _pair(p, q)
    cdef double smoothing = _checked_eps(eps)
    cdef double tp = _checked_total(a, "p"), tq = _checked_total(b, "q")
    return _psi(&a[0], &b[0], a.shape[0], tp, tq, smoothing)


def jensen_shannon(p, q):
    """Jensen-Shannon divergence in bits, in ``[0, 1]``."""
    cdef const double[::1] a, b
    a, b = _pair(p, q)
    cdef double tp = _checked_total(a, "p"), tq = _checked_total(b, "q")
    return _js(&a[0], &b[0], a.shape[0], tp, tq)


# --- all features at once ---------------------------------------------------------------------


cdef Py_ssize_t _check_rows(const double[:, ::1] p, const double[:, ::1] q, const int64_t[::1] sizes,
                            double* tp, double* tq, Check* status) noexcept nogil:
    """Totals of every row; on the first invalid row, its index (p before q) and its status."""
    cdef Py_ssize_t f
    for f in range(sizes.shape[0]):
        status[0] = _check_total(&p[f, 0], sizes[f], &tp[f])
        if status[0] != OK:
            return 2 * f
        status[0] = _check_total(&q[f, 0], sizes[f], &tq[f])
        if status[0] != OK:
            return 2 * f + 1
    return -1


cdef _raise_for_row(Py_ssize_t bad, Check status):
    _raise_for(status, f"{'pq'[bad % 2]}[{bad // 2}]")


def psi_rows(p, q, nbins, eps=DEFAULT_EPS):
    """`psi` of every feature at once: row ``f`` of ``[F, M]`` count matrices, first ``nbins[f]``."""
    a, b, sizes = _rows(p, q, nbins)
    cdef double smoothing = _checked_eps(eps)
    cdef const double[:, ::1] pv = a, qv = b
    cdef const int64_t[::1] nv = sizes
    tp, tq, result = (np.empty(sizes.size, dtype=np.float64) for _ in range(3))
    cdef double[::1] tpv = tp, tqv = tq, out = result
    cdef Check status = OK
    cdef Py_ssize_t f, bad
    with nogil:
        bad = _check_rows(pv, qv, nv, &tpv[0] if nv.shape[0] else NULL,
                          &tqv[0] if nv.shape[0] else NULL, &status)
        if bad < 0:
            for f in range(nv.shape[0]):
                out[f] = _psi(&pv[f, 0], &qv[f, 0], nv[f], tpv[f], tqv[f], smoothing)
    if bad >= 0:
        _raise_for_row(bad, status)
    return result


def js_rows(p, q, nbins):
    """`jensen_shannon` of every feature at once, laid out as for `psi_rows`."""
    a, b, sizes = _rows(p, q, nbins)
    cdef const double[:, ::1] pv = a, qv = b
    cdef const int64_t[::1] nv = sizes
    tp, tq, result = (np.empty(sizes.size, dtype=np.float64) for _ in range(3))
    cdef double[::1] tpv = tp, tqv = tq, out = result
    cdef Check status = OK
    cdef Py_ssize_t f, bad
    with nogil:
        bad = _check_rows(pv, qv, nv, &tpv[0] if nv.shape[0] else NULL,
                          &tqv[0] if nv.shape[0] else NULL, &status)
        if bad < 0:
            for f in range(nv.shape[0]):
                out[f] = _js(&pv[f, 0], &qv[f, 0], nv[f], tpv[f], tqv[f])
    if bad >= 0:
        _raise_for_row(bad, status)
    return result
