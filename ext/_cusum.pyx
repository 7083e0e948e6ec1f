# cython: language_level=3
"""Compiled CUSUMs over coded events: the per-event loop of ``ext.cusum_py``, in C.

``ext.cusum_py`` is the specification; this module has the same function, signature, results
(bit for bit: the same operations in the same order) and errors (its checks are the twin's).
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t

cimport numpy as cnp

import numpy as np

cnp.import_array()

from driftline.ext.cusum_py import _checked

__all__ = ["cusum_codes"]

ctypedef fused code_t:
    uint8_t
    uint16_t


cdef Py_ssize_t _run(const code_t* codes, Py_ssize_t n, Py_ssize_t width, const Py_ssize_t* columns,
                     Py_ssize_t k, const double* table, Py_ssize_t bins, const double* h,
                     double* s, double* peak, double* crossed, double headstart) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const code_t* row
    cdef double v
    cdef bint any_crossed
    for j in range(k):
        crossed[j] = 0.0
    for i in range(n):
        row = codes + i * width
        any_crossed = False
        for j in range(k):
            v = s[j] + table[j * bins + row[columns[j]]]
            if v < 0.0:
                v = 0.0
            if v > peak[j]:
                peak[j] = v
            if v > h[j]:
                any_crossed = True
                crossed[j] = 1.0
                v = headstart * h[j]
            s[j] = v
        if any_crossed:
            return i + 1
    return n


def cusum_codes(codes, columns, increments, thresholds, state, *, headstart):
    """Run CUSUMs over coded events until one crosses (see ``ext.cusum_py.cusum_codes``)."""
    matrix, where, table, h = _checked(codes, columns, increments, thresholds, state, headstart=headstart)
    cdef cnp.ndarray m = matrix, w = where, t = table, hh = h, st = state
    cdef Py_ssize_t n = cnp.PyArray_DIM(m, 0), width = cnp.PyArray_DIM(m, 1)
    cdef Py_ssize_t k = cnp.PyArray_DIM(w, 0), bins = cnp.PyArray_DIM(t, 1)
    cdef const Py_ssize_t* cols = <const Py_ssize_t*> cnp.PyArray_DATA(w)
    cdef const double* tv = <const double*> cnp.PyArray_DATA(t)
    cdef const double* hv = <const double*> cnp.PyArray_DATA(hh)
    cdef double* sv = <double*> cnp.PyArray_DATA(st)
    cdef double* pv = sv + k
    cdef double* cv = sv + 2 * k
    cdef double start = headstart
    cdef Py_ssize_t used
    if m.dtype == np.uint8:
        with nogil:
            used = _run(<const uint8_t*> cnp.PyArray_DATA(m), n, width, cols, k, tv, bins, hv, sv, pv, cv, start)
    else:
        with nogil:
            used = _run(<const uint16_t*> cnp.PyArray_DATA(m), n, width, cols, k, tv, bins, hv, sv, pv, cv, start)
    return used
