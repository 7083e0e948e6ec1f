# cython: language_level=3
"""Rows of Python objects in and out of their array and JSON forms, compiled; ``ext.rows_py`` is the
specification and the twin."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from libc.math cimport NAN
from libc.string cimport memcpy

import numpy as np
import orjson

cimport numpy as cnp

cnp.import_array()

cdef object _dumps = orjson.dumps
cdef object _NUMPY = orjson.OPT_SERIALIZE_NUMPY


def numeric_matrix(rows, names):
    """The ``names`` of each row as a rows-by-names float64 matrix, NaN where not an int or float."""
    cdef Py_ssize_t i, j, n = len(rows), k = len(names)
    cdef cnp.ndarray[cnp.float64_t, ndim=2] matrix = np.empty((n, k), dtype=np.float64)
    cdef tuple keys = tuple(names)
    cdef object row
    cdef PyObject* found
    for i in range(n):
        row = rows[i]
        if type(row) is not dict:  # any other mapping takes the general path
            for j in range(k):
                matrix[i, j] = _number(row.get(keys[j]))
            continue
        for j in range(k):
            found = PyDict_GetItem(row, keys[j])
            matrix[i, j] = NAN if found is NULL else _number(<object>found)
    return matrix


cdef inline double _number(object value) except? -1.0:
    if type(value) is float:
        return <double>value
    if type(value) is int:
        return float(value)
    return NAN


def json_rows(pieces, columns):
    """Each row of ``columns`` written into the template ``pieces`` (one more piece than columns)."""
    cdef list parts = [bytes(piece) for piece in pieces]
    cdef Py_ssize_t j, k = len(columns), n = len(columns[0]) if k else 0
    if len(parts) != k + 1:
        raise ValueError(f"a template of {k} columns needs {k + 1} pieces, got {len(parts)}")
    if any(len(column) != n for column in columns):
        raise ValueError(f"columns of unequal length: {[len(column) for column in columns]}")
    # One orjson call per column (its float writer is several times faster than repr's), then
    # the array is cut into its elements.
    cdef list encoded = [_dumps(column if isinstance(column, list) else list(column), option=_NUMPY)
                         for column in columns]
    cdef Py_ssize_t* bounds = <Py_ssize_t*>PyMem_Malloc(sizeof(Py_ssize_t) * 2 * max(n * k, 1))
    if bounds is NULL:
        raise MemoryError()
    try:
        for j in range(k):
            _elements(<bytes>encoded[j], n, bounds + 2 * n * j)
        return _assemble(parts, encoded, bounds, n, k)
    finally:
        PyMem_Free(bounds)


cdef int _elements(bytes array, Py_ssize_t n, Py_ssize_t* bounds) except -1:
    """The (start, end) offsets of the ``n`` top-level elements of a compact JSON array."""
    cdef const char* text = PyBytes_AS_STRING(array)
    cdef Py_ssize_t i = 1, end = PyBytes_GET_SIZE(array) - 1, start = 1, found = 0, depth = 0
    cdef char c
    cdef bint quoted = False
    while i < end and n:
        c = text[i]
        if quoted:
            if c == 0x5C:  # a backslash escapes the next byte, which may be a quote
                i += 1
            elif c == 0x22:
                quoted = False
        elif c == 0x22:
            quoted = True
        elif c == 0x5B or c == 0x7B:
            depth += 1
        elif c == 0x5D or c == 0x7D:
            depth -= 1
        elif c == 0x2C and depth == 0:
            if found == n:
                raise ValueError("a column holds more values than rows")
            bounds[2 * found], bounds[2 * found + 1] = start, i
            found += 1
            start = i + 1
        i += 1
    if n:
        bounds[2 * found], bounds[2 * found + 1] = start, end
        found += 1
    if found != n:
        raise ValueError(f"a column of {n} rows wrote {found} JSON values")
    return 0


cdef list _assemble(list parts, list encoded, Py_ssize_t* bounds, Py_ssize_t n, Py_ssize_t k):
    cdef list rows = []
    cdef Py_ssize_t i, j, size, fixed = sum(len(part) for part in parts), at
    cdef bytes row
    cdef char* out
    for i in range(n):
        size = fixed
        for j in range(k):
            size += bounds[2 * (n * j + i) + 1] - bounds[2 * (n * j + i)]
        row = PyBytes_FromStringAndSize(NULL, size)
        out = PyBytes_AS_STRING(row)
        at = _copy(out, 0, <bytes>parts[0], 0, len(parts[0]))
        for j in range(k):
            at = _copy(out, at, <bytes>encoded[j], bounds[2 * (n * j + i)], bounds[2 * (n * j + i) + 1])
            at = _copy(out, at, <bytes>parts[j + 1], 0, len(parts[j + 1]))
        rows.append(row)
    return rows


cdef inline Py_ssize_t _copy(char* out, Py_ssize_t at, bytes source, Py_ssize_t start, Py_ssize_t end):
    memcpy(out + at, PyBytes_AS_STRING(source) + start, end - start)
    return at + end - start
