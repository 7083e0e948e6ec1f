"""Rows of Python objects in and out of their array and JSON forms, in pure Python: the twin of
``ext._rows``.

The scoring path turns every event's ``features`` object into a row of the model's numeric input
and every prediction into a JSON record. Written as comprehensions over dicts, that per-event
Python was about a fifth of a worker's main thread at half its capacity (py-spy, session 9); the
compiled twin does the same walks in C. This module is the specification of both functions.

``numeric_matrix`` reads named values out of mappings into a float64 matrix. A value that is not
exactly an ``int`` or a ``float`` (absent, null, a string, a bool) becomes NaN: the caller tells
those cases apart by looking at the rows again, which only a bad event needs.

``json_rows`` fills a template: row ``i`` is ``pieces[0] + json(columns[0][i]) + pieces[1] + ...
+ pieces[-1]``, each value written as ``orjson.dumps`` writes it (numpy scalars and arrays
included, NaN and infinities as ``null``, as JSON has none). The pieces are trusted to make the
rows valid JSON. A value orjson refuses (an int past 64 bits, an object) raises its error.

Examples
--------
>>> numeric_matrix([{"a": 1, "b": 2.5}, {"a": None, "b": True}], ("a", "b")).tolist()
[[1.0, 2.5], [nan, nan]]
>>> json_rows([b'{"id":', b',"score":', b'}'], [["e1", "e2"], [0.25, float("nan")]])
[b'{"id":"e1","score":0.25}', b'{"id":"e2","score":null}']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

_NAN = float("nan")


def numeric_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> npt.NDArray[np.float64]:
    """The ``names`` of each row as a rows-by-names float64 matrix, NaN where not an int or float."""
    matrix = np.empty((len(rows), len(names)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            value = row.get(name)
            matrix[i, j] = float(value) if type(value) is float or type(value) is int else _NAN
    return matrix


def json_rows(pieces: Sequence[bytes], columns: Sequence[Sequence[Any]]) -> list[bytes]:
    """Each row of ``columns`` written into the template ``pieces`` (one more piece than columns)."""
    if len(pieces) != len(columns) + 1:
        raise ValueError(f"a template of {len(columns)} columns needs {len(columns) + 1} pieces, "
                         f"got {len(pieces)}")
    n = len(columns[0]) if columns else 0
    if any(len(column) != n for column in columns):
        raise ValueError(f"columns of unequal length: {[len(column) for column in columns]}")
    head, tail = pieces[0], pieces[1:]
    return [head + b"".join(_json(column[i]) + piece for column, piece in zip(columns, tail, strict=True))
            for i in range(n)]


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
