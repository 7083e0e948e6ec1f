# cython: language_level=3
"""Compiled CUSUMs over coded events: the per-event loop of ``ext.cusum_py``, in C.

``ext.cusum_py`` is the specification; this module has the same function, signature, results
(bit for bit: the same operations in the same order) and errors (its checks are the twin's).
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t

cimport numpy as cnp

import numpy as np

cnp.import_array()

cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* One maxsd: gcc turns `s > 0.0 ? s : 0.0` into a compare and a branch, which an S near 0
       mispredicts about half the time. */
    static inline double driftline_positive_part(double s) {
        return _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(s), _mm_setzero_pd()));
    }
    #else
    static inline double driftline_positive_part(double s) { return s > 0.0 ? s : 0.0; }
    #endif
    """
    double driftline_positive_part(double s) noexcept nogil

from driftline.ext.cusum_py import _checked

__all__ = ["cusum_codes", "cusum_quiet"]

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


cdef bint _quiet(const code_t* codes, Py_ssize_t n, Py_ssize_t width, const Py_ssize_t* columns,
                 Py_ssize_t k, const double* table, Py_ssize_t bins, const double* h,
                 const double* s, double* out) noexcept nogil:
    """Each CUSUM over every event in turn, four at a time (one ``S`` is a chain of dependent adds
    and maxima, about 8 cycles an event: four independent chains fill the pipeline). ``out[j]`` gets
    CUSUM ``j``'s last ``S``, ``out[k + j]`` its largest ``S`` in this run; stops at a crossing.
    The positive part is one ``maxsd`` (``driftline_positive_part``), not a branch. It gives
    ``0.0`` for ``-0.0`` where the twin keeps ``-0.0``: a sum of a non-negative ``S`` and a table
    value is never ``-0.0``, so the results are the same bits."""
    cdef Py_ssize_t i, j, c0, c1, c2, c3
    cdef double s0, s1, s2, s3, p0, p1, p2, p3
    cdef const double* t0
    cdef const double* t1
    cdef const double* t2
    cdef const double* t3
    for j in range(0, k - k % 4, 4):
        s0, s1, s2, s3 = s[j], s[j + 1], s[j + 2], s[j + 3]
        p0 = p1 = p2 = p3 = 0.0
        t0, t1, t2, t3 = table + j * bins, table + (j + 1) * bins, table + (j + 2) * bins, table + (j + 3) * bins
        c0, c1, c2, c3 = columns[j], columns[j + 1], columns[j + 2], columns[j + 3]
        for i in range(n):
            s0 = s0 + t0[codes[i * width + c0]]
            s1 = s1 + t1[codes[i * width + c1]]
            s2 = s2 + t2[codes[i * width + c2]]
            s3 = s3 + t3[codes[i * width + c3]]
            s0 = driftline_positive_part(s0)
            s1 = driftline_positive_part(s1)
            s2 = driftline_positive_part(s2)
            s3 = driftline_positive_part(s3)
            p0 = s0 if s0 > p0 else p0
            p1 = s1 if s1 > p1 else p1
            p2 = s2 if s2 > p2 else p2
            p3 = s3 if s3 > p3 else p3
        if p0 > h[j] or p1 > h[j + 1] or p2 > h[j + 2] or p3 > h[j + 3]:
            return False
        out[j], out[j + 1], out[j + 2], out[j + 3] = s0, s1, s2, s3
        out[k + j], out[k + j + 1], out[k + j + 2], out[k + j + 3] = p0, p1, p2, p3
    for j in range(k - k % 4, k):
        s0, p0, t0, c0 = s[j], 0.0, table + j * bins, columns[j]
        for i in range(n):
            s0 = s0 + t0[codes[i * width + c0]]
            s0 = driftline_positive_part(s0)
            p0 = s0 if s0 > p0 else p0
        if p0 > h[j]:
            return False
        out[j], out[k + j] = s0, p0
    return True


def cusum_quiet(codes, columns, increments, thresholds, state):
    """Run every event through the CUSUMs if none crosses (see ``ext.cusum_py.cusum_quiet``)."""
    matrix, where, table, h = _checked(codes, columns, increments, thresholds, state, headstart=0.0)
    cdef cnp.ndarray m = matrix, w = where, t = table, hh = h, st = state
    cdef Py_ssize_t n = cnp.PyArray_DIM(m, 0), width = cnp.PyArray_DIM(m, 1)
    cdef Py_ssize_t k = cnp.PyArray_DIM(w, 0), bins = cnp.PyArray_DIM(t, 1)
    cdef cnp.ndarray scratch = np.empty(2 * k, dtype=np.float64)
    cdef double* sv = <double*> cnp.PyArray_DATA(st)
    cdef double* out = <double*> cnp.PyArray_DATA(scratch)
    cdef const Py_ssize_t* cols = <const Py_ssize_t*> cnp.PyArray_DATA(w)
    cdef const double* tv = <const double*> cnp.PyArray_DATA(t)
    cdef const double* hv = <const double*> cnp.PyArray_DATA(hh)
    cdef bint quiet
    cdef Py_ssize_t j
    if m.dtype == np.uint8:
        with nogil:
            quiet = _quiet(<const uint8_t*> cnp.PyArray_DATA(m), n, width, cols, k, tv, bins, hv, sv, out)
    else:
        with nogil:
            quiet = _quiet(<const uint16_t*> cnp.PyArray_DATA(m), n, width, cols, k, tv, bins, hv, sv, out)
    if not quiet:
        return False
    for j in range(k):
        sv[j] = out[j]
        if out[k + j] > sv[k + j]:
            sv[k + j] = out[k + j]
        sv[2 * k + j] = 0.0
    return True


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
