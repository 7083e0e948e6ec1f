"""Both twins of the row kernels agree byte for byte, and their JSON reads back as the values."""

from __future__ import annotations

import inspect
import math
import os
import random
from collections import OrderedDict
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pytest

import driftline.ext._rows as compiled
import driftline.ext.rows_py as twin
from driftline import ext

IMPLEMENTATIONS = [pytest.param(compiled, id="cython"), pytest.param(twin, id="python")]

#: Values a features object or a prediction may hold, including the awkward ones.
AWKWARD = [0, -1, 2**64 - 1, -(2**63), 0.0, -0.0, 1e-05, 1e22, 5e-324, 1.7976931348623157e308,
           0.1 + 0.2, float("nan"), float("inf"), -float("inf"), True, False, None, "", "plain",
           'quo"te', "back\\slash", "tab\there", "a,b", "]}", '\\"', "[{", "\x00nul", "déjà vu ✓",
           "\U0001f600", [1, "a", None], {"nested": {"x": [1.5, "],"]}}, {}, [], np.int64(7), np.float32(0.5)]


def random_rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    names = ["a", "b", "c", "d"]
    return [{name: rng.choice(AWKWARD) for name in names if rng.random() < 0.8} for _ in range(n)]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_numbers_are_read_and_everything_else_is_nan(impl: ModuleType) -> None:
    rows = [{"a": 1, "b": 2.5, "c": "x"}, {"a": None, "b": True}, OrderedDict(a=-3, b=1e300, c=7)]
    matrix = impl.numeric_matrix(rows, ("a", "b", "c"))
    assert matrix.dtype == np.float64 and matrix.shape == (3, 3)
    expected = [[1.0, 2.5, math.nan], [math.nan, math.nan, math.nan], [-3.0, 1e300, 7.0]]
    np.testing.assert_array_equal(matrix, expected)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_empty_batch_is_an_empty_matrix(impl: ModuleType) -> None:
    assert impl.numeric_matrix([], ("a", "b")).shape == (0, 2)
    assert impl.numeric_matrix([{"a": 1}], ()).shape == (1, 0)


def test_the_twins_read_the_same_matrix() -> None:
    rows = random_rows(2000)
    names = ("a", "b", "c", "d", "absent")
    np.testing.assert_array_equal(compiled.numeric_matrix(rows, names), twin.numeric_matrix(rows, names))


def test_the_twins_write_the_same_bytes_and_they_read_back_as_the_values() -> None:
    rng = random.Random(11)
    columns = [[rng.choice(AWKWARD) for _ in range(3000)] for _ in range(3)]
    pieces = [b'{"x":', b',"y":', b',"z":', b"}"]
    written = compiled.json_rows(pieces, columns)
    assert written == twin.json_rows(pieces, columns)
    for row, x, y, z in zip(written, *columns, strict=True):
        assert orjson.loads(row) == {"x": _as_json(x), "y": _as_json(y), "z": _as_json(z)}


def _as_json(value: Any) -> Any:
    """What a JSON reader gives back for ``value``: NaN and infinities have no JSON, so null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_floats_keep_every_bit(impl: ModuleType) -> None:
    values = np.random.default_rng(2).standard_normal(5000) * 10.0 ** np.arange(-200, 200, 0.08)
    rows = impl.json_rows([b"[", b"]"], [values.tolist()])
    assert [orjson.loads(row)[0] for row in rows] == values.tolist()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_template_must_fit_its_columns(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="needs 3 pieces"):
        impl.json_rows([b"[", b"]"], [[1], [2]])
    with pytest.raises(ValueError, match="unequal length"):
        impl.json_rows([b"[", b",", b"]"], [[1, 2], [3]])
    assert impl.json_rows([b"{}"], []) == []


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("refused", [object(), 2**64])
def test_a_value_orjson_refuses_fails_as_orjson_does(impl: ModuleType, refused: object) -> None:
    with pytest.raises(orjson.JSONEncodeError):
        impl.json_rows([b"[", b"]"], [[1.5, refused]])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_numpy_columns_are_written_like_lists(impl: ModuleType) -> None:
    column = np.array([0.1, 2.0, np.nan], dtype=np.float64)
    assert impl.json_rows([b"", b""], [column]) == impl.json_rows([b"", b""], [column.tolist()])
    assert impl.json_rows([b"", b""], [column]) == [b"0.1", b"2.0", b"null"]


def test_the_compiled_kernels_are_the_ones_loaded() -> None:
    if os.environ.get("DRIFTLINE_NO_EXTENSIONS", "") not in ("", "0"):
        assert ext.json_rows is twin.json_rows and ext.numeric_matrix is twin.numeric_matrix
    else:
        assert ext.json_rows is compiled.json_rows and ext.numeric_matrix is compiled.numeric_matrix


@pytest.mark.parametrize("name", ["numeric_matrix", "json_rows"])
def test_twins_have_the_same_signatures(name: str) -> None:
    def shape(f: Any) -> list[tuple[str, Any]]:
        return [(p.name, p.kind) for p in inspect.signature(f).parameters.values()]

    assert shape(getattr(compiled, name)) == shape(getattr(twin, name))
