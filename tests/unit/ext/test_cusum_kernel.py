"""The compiled CUSUM kernel against its pure-Python twin, and both against a plain recursion."""

from __future__ import annotations

import inspect
import os
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from driftline import ext
from driftline.ext import cusum_py

try:
    from driftline.ext import _cusum as compiled
except ImportError:  # reported by test_the_compiled_kernel_is_loaded, not as a collection error
    compiled = None  # type: ignore[assignment]

NO_EXTENSIONS = os.environ.get("DRIFTLINE_NO_EXTENSIONS", "") not in ("", "0")


@pytest.fixture(params=["cython", "python"])
def kernels(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "python":
        return cusum_py
    if compiled is None:
        if NO_EXTENSIONS:
            pytest.skip("DRIFTLINE_NO_EXTENSIONS is set and ext._cusum is not built")
        pytest.fail("ext._cusum is not built: run `python setup.py build_ext --inplace`")
    return compiled


def test_the_compiled_kernel_is_loaded() -> None:
    if NO_EXTENSIONS:
        assert ext.cusum_codes is cusum_py.cusum_codes
    else:
        assert compiled is not None and ext.cusum_codes is compiled.cusum_codes
        def shape(f: Any) -> list[tuple[str, Any, Any]]:
            return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

        assert shape(compiled.cusum_codes) == shape(cusum_py.cusum_codes)


def reference(codes: np.ndarray, columns: np.ndarray, table: np.ndarray, h: np.ndarray,
              headstart: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Page's recursion written out: every (event, CUSUM) crossing and the final S."""
    s = np.zeros(columns.size)
    crossings = []
    for i, row in enumerate(codes):
        for k, column in enumerate(columns):
            s[k] = max(0.0, s[k] + table[k, row[column]])
            if s[k] > h[k]:
                crossings.append((i, k))
                s[k] = headstart * h[k]
    return crossings, s


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_until_each_crossing_and_matches_the_recursion(kernels: ModuleType, dtype: Any,
                                                            seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 12, (3000, 21)).astype(dtype)
    columns = rng.integers(0, 21, 30)
    table = rng.normal(-0.05, 0.4, (30, 12))
    h = rng.uniform(2.0, 6.0, 30)
    state = np.zeros((3, 30))
    crossings, position = [], 0
    while position < codes.shape[0]:
        used = kernels.cusum_codes(codes[position:], columns, table, h, state, headstart=0.5)
        position += used
        crossings += [(position - 1, int(k)) for k in np.flatnonzero(state[2])]
        assert state[2].any() or position == codes.shape[0]
    expected, s = reference(codes, columns, table, h, 0.5)
    assert crossings == expected and len(expected) > 10
    np.testing.assert_array_equal(state[0], s)  # the same operations in the same order: bit for bit
    assert (state[1] > h).any()


def test_peak_is_the_largest_statistic_before_a_restart(kernels: ModuleType) -> None:
    codes = np.array([[1], [1], [1], [0]], dtype=np.uint8)
    state = np.zeros((3, 1))
    used = kernels.cusum_codes(codes, [0], np.array([[-0.5, 1.0]]), np.array([2.5]), state, headstart=0.0)
    assert used == 3 and state.tolist() == [[0.0], [3.0], [1.0]]
    assert kernels.cusum_codes(codes[used:], [0], np.array([[-0.5, 1.0]]), np.array([2.5]), state,
                               headstart=0.0) == 1
    assert state.tolist() == [[0.0], [3.0], [0.0]]


BAD: list[tuple[str, dict[str, Any]]] = [
    ("codes must be", {"codes": np.zeros((2, 2), dtype=np.int64)}),
    ("columns must be indices", {"columns": [2]}),
    ("increments must be", {"increments": np.zeros((2, 3))}),
    ("thresholds must be", {"thresholds": np.array([0.0])}),
    ("state must be", {"state": np.zeros((2, 1))}),
    ("headstart must be", {"headstart": 1.0}),
    ("outside the increments", {"codes": np.array([[5, 0]], dtype=np.uint8)}),
]


@pytest.mark.parametrize(("message", "change"), BAD)
def test_bad_input_is_refused_alike_and_changes_nothing(kernels: ModuleType, message: str,
                                                        change: dict[str, Any]) -> None:
    args: dict[str, Any] = {"codes": np.zeros((2, 2), dtype=np.uint8), "columns": [0],
                            "increments": np.zeros((1, 3)), "thresholds": np.array([1.0]),
                            "state": np.full((3, 1), 0.25), "headstart": 0.5} | change
    before = args["state"].copy()
    with pytest.raises((TypeError, ValueError), match=message):
        kernels.cusum_codes(args["codes"], args["columns"], args["increments"], args["thresholds"],
                            args["state"], headstart=args["headstart"])
    assert (args["state"] == before).all() if args["state"].shape == before.shape else True


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("seed", range(6))
def test_the_quiet_run_is_the_plain_run_when_nothing_crosses_and_nothing_when_something_does(
        kernels: ModuleType, dtype: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 23))  # blocks of four and a remainder
    codes = rng.integers(0, 12, (int(rng.integers(0, 800)), 9)).astype(dtype)
    columns, table = rng.integers(0, 9, k), rng.normal(-0.3, 0.5, (k, 12))
    h = rng.uniform(2.0, 40.0, k)
    start = np.zeros((3, k))
    start[0], start[1], start[2] = rng.uniform(0.0, 0.5, k) * h, rng.uniform(0.0, 1.0, k) * h, 1.0
    plain, quiet = start.copy(), start.copy()
    used = kernels.cusum_codes(codes, columns, table, h, plain, headstart=0.0)
    crossed = used < codes.shape[0] or bool(plain[2].any())
    assert kernels.cusum_quiet(codes, columns, table, h, quiet) is (not crossed)
    np.testing.assert_array_equal(quiet, start if crossed else plain)
    if not crossed:
        assert not quiet[2].any()


def test_the_quiet_run_sees_a_crossing_in_any_block_of_four(kernels: ModuleType) -> None:
    codes = np.zeros((50, 1), dtype=np.uint8)
    codes[30] = 1
    for k in range(1, 10):
        for j in range(k):
            table = np.zeros((k, 2))
            table[j, 1] = 3.0  # only CUSUM j crosses, at event 30
            state = np.zeros((3, k))
            columns = np.zeros(k, dtype=np.int64)
            assert kernels.cusum_quiet(codes, columns, table, np.full(k, 2.0), state) is False
            assert not state.any()
