"""The compiled histogram kernels against their pure-Python twin, and both against known values."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftline import ext
from driftline.ext import histogram_py

try:
    from driftline.ext import _histogram as compiled
except ImportError:  # reported by test_compiled_kernels_are_loaded, not as a collection error
    compiled = None  # type: ignore[assignment]

NO_EXTENSIONS = os.environ.get("DRIFTLINE_NO_EXTENSIONS", "") not in ("", "0")
PUBLIC = [name for name in ext.__all__ if name != "IMPLEMENTATION" and hasattr(histogram_py, name)]


def _compiled() -> ModuleType:
    if compiled is None:
        if NO_EXTENSIONS:
            pytest.skip("DRIFTLINE_NO_EXTENSIONS is set and ext._histogram is not built")
        pytest.fail("ext._histogram is not built: run `python setup.py build_ext --inplace`")
    return compiled


@pytest.fixture
def fast() -> ModuleType:
    """The compiled twin, for tests that compare it with the pure one."""
    return _compiled()


@pytest.fixture(params=["cython", "python"])
def kernels(request: pytest.FixtureRequest) -> ModuleType:
    """Each twin in turn, for tests that check one implementation against known answers."""
    return _compiled() if request.param == "cython" else histogram_py


def both(fast: ModuleType, name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Call one function in both twins, each on its own copy of any array argument."""
    copies = [[a.copy() if isinstance(a, np.ndarray) else a for a in args] for _ in range(2)]
    return (getattr(fast, name)(*copies[0], **kwargs), getattr(histogram_py, name)(*copies[1], **kwargs))


def same_error(fast: ModuleType, name: str, *args: Any) -> str:
    """Assert both twins raise the same exception with the same message; return the message."""
    errors = []
    for module in (fast, histogram_py):
        with pytest.raises((ValueError, TypeError)) as caught:
            getattr(module, name)(*args)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    return errors[0][1]


def assert_close(a: Any, b: Any) -> None:
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def random_edges(rng: np.random.Generator, n_features: int) -> list[npt.NDArray[np.float64]]:
    # Up to 59 edges: the compiled CodeWriter compares a column with every edge up to 32 edges and
    # searches beyond; the twins must agree in both regimes.
    sizes = rng.integers(0, 60, size=n_features)
    return [np.unique(rng.normal(size=k).round(2)) for k in sizes]


def random_values(rng: np.random.Generator, n: int,
                  edges: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    values = rng.normal(scale=1.5, size=(n, len(edges))).round(2)  # rounding lands many on edges
    values[rng.random(values.shape) < 0.05] = np.nan
    values[rng.random(values.shape) < 0.01] = np.inf
    values[rng.random(values.shape) < 0.01] = -np.inf
    for f, e in enumerate(edges):
        if e.size and n:
            values[: min(n, e.size), f] = e[: min(n, e.size)]  # exactly on every edge
    return values


def histograms(rng: np.random.Generator, n_bins: int, floats: bool) -> Iterator[npt.NDArray[Any]]:
    for _ in range(2):
        counts = rng.integers(0, 50, size=n_bins)
        counts[rng.random(n_bins) < 0.3] = 0  # empty bins
        counts[rng.integers(n_bins)] += 1  # never all empty
        yield counts * rng.random(n_bins) if floats else counts


# --- the switch -------------------------------------------------------------------------------


def test_compiled_kernels_are_loaded() -> None:
    if NO_EXTENSIONS:
        assert ext.IMPLEMENTATION == "python"
        assert ext.bin_numeric is histogram_py.bin_numeric
    else:
        assert compiled is not None, "ext._histogram is not built: run `python setup.py build_ext --inplace`"
        assert ext.IMPLEMENTATION == "cython"
        assert ext.bin_numeric is compiled.bin_numeric


def _import_ext(prelude: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nimport logging; logging.basicConfig()\nimport ext; print(ext.IMPLEMENTATION)"
    environment = {k: v for k, v in os.environ.items() if k != "DRIFTLINE_NO_EXTENSIONS"} | env
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=environment, cwd=os.path.dirname(os.path.dirname(ext.__file__)))


def test_environment_variable_forces_the_twin() -> None:
    assert _import_ext("", DRIFTLINE_NO_EXTENSIONS="1").stdout.strip() == "python"


def test_missing_extension_falls_back_with_a_warning() -> None:
    result = _import_ext("import sys; sys.modules['driftline.ext._histogram'] = None")
    assert result.stdout.strip() == "python"
    assert "WARNING:driftline.ext:ext's kernels are not built" in result.stderr
    assert "driftline.ext._histogram" in result.stderr


@pytest.mark.parametrize("name", PUBLIC)
def test_twins_have_the_same_signatures(fast: ModuleType, name: str) -> None:
    def shape(f: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    if isinstance(getattr(histogram_py, name), type):  # a compiled class has no constructor signature
        assert shape(getattr(fast, name).write) == shape(getattr(histogram_py, name).write)
    elif callable(getattr(histogram_py, name)):
        assert shape(getattr(fast, name)) == shape(getattr(histogram_py, name))
    else:
        assert getattr(fast, name) == getattr(histogram_py, name)


# --- binning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_features", [1, 20])
@pytest.mark.parametrize("n_rows", [0, 1, 997])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bin_numeric_twins_agree(fast: ModuleType, n_features: int, n_rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = random_edges(rng, n_features)
    values = random_values(rng, n_rows, edges)
    counts = np.full((n_features, int(histogram_py.numeric_bins(edges).max()) + 3), 7, dtype=np.int64)
    results = both(fast, "bin_numeric", values, edges, counts)
    assert results == (None, None)
    outputs = []
    for module in (fast, histogram_py):
        out = counts.copy()
        module.bin_numeric(values, edges, out)
        module.bin_numeric(values[: n_rows // 2], edges, out)  # accumulates
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0].sum(axis=1) - 7 * counts.shape[1] == n_rows + n_rows // 2).all()


def test_bin_numeric_convention(kernels: ModuleType) -> None:
    counts = np.full((2, 6), -1, dtype=np.int64)
    values = [[-np.inf, 5.0], [-0.0, 5.0], [0.0, np.nan], [0.5, -1.0], [1.0, 9.0], [2.0, 7.0],
              [np.inf, 6.9], [np.nan, 7.0]]
    kernels.bin_numeric(values, [[0.0, 1.0, 2.0], [7.0]], counts)
    # Feature 0: (-inf, 0) | [0, 1) | [1, 2) | [2, inf) | NaN; feature 1: (-inf, 7) | [7, inf) | NaN.
    assert counts.tolist() == [[0, 2, 0, 1, 0, -1], [3, 2, 0, -1, -1, -1]]


def test_bin_numeric_without_edges_has_one_bin_and_missing(kernels: ModuleType) -> None:
    counts = np.zeros((1, 2), dtype=np.int64)
    kernels.bin_numeric([[1.0], [np.nan], [-3.0]], [[]], counts)
    assert counts.tolist() == [[2, 1]]


def test_bin_numeric_accepts_other_layouts(fast: ModuleType) -> None:
    rng = np.random.default_rng(3)
    edges = random_edges(rng, 4)
    values = np.asfortranarray(random_values(rng, 50, edges).astype(np.float32))
    results = []
    for module in (fast, histogram_py):
        counts = np.zeros((4, int(histogram_py.numeric_bins(edges).max())), dtype=np.int64)
        module.bin_numeric(values, [e.tolist() for e in edges], counts)
        results.append(counts)
    np.testing.assert_array_equal(results[0], results[1])


BAD_NUMERIC: list[tuple[Any, Any, Any]] = [
    (np.zeros(3), [[0.0]], np.zeros((1, 3), np.int64)),
    (np.zeros((3, 2)), [[0.0]], np.zeros((1, 3), np.int64)),
    (np.zeros((3, 1)), [[1.0, 0.0]], np.zeros((1, 4), np.int64)),
    (np.zeros((3, 1)), [[0.0, 0.0]], np.zeros((1, 4), np.int64)),
    (np.zeros((3, 1)), [[0.0, np.nan]], np.zeros((1, 4), np.int64)),
    (np.zeros((3, 1)), [[0.0, np.inf]], np.zeros((1, 4), np.int64)),
    (np.zeros((3, 1)), [[[0.0]]], np.zeros((1, 3), np.int64)),
    (np.zeros((3, 1)), [[0.0, 1.0]], np.zeros((1, 3), np.int64)),
    (np.zeros((3, 1)), [[0.0]], np.zeros((2, 3), np.int64)),
    (np.zeros((3, 1)), [[0.0]], np.zeros((1, 3), np.int32)),
    (np.zeros((3, 1)), [[0.0]], np.zeros((1, 6), np.int64)[:, ::2]),
    (np.zeros((3, 1)), [[0.0]], [[0, 0, 0]]),
]


@pytest.mark.parametrize(("values", "edges", "counts"), BAD_NUMERIC)
def test_bin_numeric_rejects_bad_input_alike(fast: ModuleType, values: Any, edges: Any, counts: Any) -> None:
    same_error(fast, "bin_numeric", values, edges, counts)


def test_bin_numeric_rejects_read_only_counts(kernels: ModuleType) -> None:
    counts = np.zeros((1, 3), dtype=np.int64)
    counts.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        kernels.bin_numeric([[1.0]], [[0.0]], counts)


@pytest.mark.parametrize("n_features", [1, 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_bin_categorical_twins_agree(fast: ModuleType, n_features: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 12, size=n_features)
    codes = (rng.random((500, n_features)) * (sizes + 2)).astype(np.int64) - 2
    counts = np.zeros((n_features, int(sizes.max()) + 4), dtype=np.int64)
    outputs = []
    for module in (fast, histogram_py):
        out = counts.copy()
        module.bin_categorical(codes, sizes, out)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0].sum(axis=1) == 500).all()


def test_bin_categorical_convention(kernels: ModuleType) -> None:
    counts = np.zeros((2, 5), dtype=np.int64)
    kernels.bin_categorical([[0, -1], [2, -2], [-1, 0], [-2, 0], [2, -2]], [3, 1], counts)
    assert counts.tolist() == [[1, 0, 2, 1, 1], [2, 1, 2, 0, 0]]


@pytest.mark.parametrize("bad_code", [3, -3, np.iinfo(np.int64).max, np.iinfo(np.int64).min])
def test_bin_categorical_bad_code_leaves_counts_untouched(kernels: ModuleType, bad_code: int) -> None:
    codes = np.array([[0, 1], [1, 0], [2, bad_code], [0, 0]], dtype=np.int64)
    counts = np.zeros((2, 5), dtype=np.int64)
    with pytest.raises(ValueError, match=rf"codes\[2, 1\] = {bad_code} is outside -2..2"):
        kernels.bin_categorical(codes, [3, 3], counts)
    assert not counts.any()


BAD_CATEGORICAL: list[tuple[Any, Any, Any]] = [
    (np.zeros((2, 1)), [1], np.zeros((1, 3), np.int64)),
    (np.zeros((2, 1), np.int64), [1.0], np.zeros((1, 3), np.int64)),
    (np.zeros((2, 2), np.int64), [1], np.zeros((1, 3), np.int64)),
    (np.zeros((2, 1), np.int64), [-1], np.zeros((1, 3), np.int64)),
    (np.zeros((2, 1), np.int64), [2], np.zeros((1, 3), np.int64)),
    (np.zeros(2, np.int64), [2], np.zeros((1, 4), np.int64)),
]


@pytest.mark.parametrize(("codes", "sizes", "counts"), BAD_CATEGORICAL)
def test_bin_categorical_rejects_bad_input_alike(fast: ModuleType, codes: Any, sizes: Any,
                                                 counts: Any) -> None:
    same_error(fast, "bin_categorical", codes, sizes, counts)


@pytest.mark.parametrize(("dtype", "width"), [(np.uint8, 23), (np.uint8, 256), (np.uint16, 300)])
@pytest.mark.parametrize("seed", [0, 1])
def test_block_counts_twins_agree(fast: ModuleType, dtype: Any, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, width, size=(2_000, 21)).astype(dtype)
    sizes = np.array([0, 1, 499, 0, 1_500, 0])  # empty blocks anywhere, one event, the rest
    outputs = both(fast, "block_counts", codes, sizes, width)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert outputs[0].dtype == np.int64 and outputs[0].shape == (6, 21, width)
    assert outputs[0].sum(axis=2).tolist() == [[int(n)] * 21 for n in sizes]


def test_block_counts_of_no_events_and_of_strided_codes(kernels: ModuleType) -> None:
    assert kernels.block_counts(np.zeros((0, 3), np.uint8), [0, 0], 4).tolist() == [[[0] * 4] * 3] * 2
    codes = np.array([[0, 9, 1], [1, 9, 1], [1, 9, 0]], dtype=np.uint8)[:, ::2]  # not C-contiguous
    assert kernels.block_counts(codes, [2, 1], 2).tolist() == [[[1, 1], [0, 2]], [[0, 1], [1, 0]]]


BAD_BLOCKS: list[tuple[Any, Any, int]] = [
    (np.array([[0], [2]], np.uint8), [2], 2),  # a code beyond the row's bins
    (np.array([[0], [1]], np.uint16), [2], 1),
    (np.array([[0], [1]], np.uint8), [1], 2),  # sizes short of the events
    (np.array([[0], [1]], np.uint8), [3, -1], 2),  # a negative size
    (np.array([[0], [1]], np.uint8), [[2]], 2),
    (np.array([[0], [1]], np.uint8), [2.0], 2),
    (np.array([[0], [1]], np.int64), [2], 2),  # not codes
    (np.array([0, 1], np.uint8), [2], 2),
    (np.array([[0], [1]], np.uint8), [2], 0),
]


@pytest.mark.parametrize(("codes", "sizes", "width"), BAD_BLOCKS)
def test_block_counts_rejects_bad_input_alike(fast: ModuleType, codes: Any, sizes: Any, width: int) -> None:
    same_error(fast, "block_counts", codes, sizes, width)


@pytest.mark.parametrize("container", [list, tuple])
@pytest.mark.parametrize("mapping", [dict, MappingProxyType])
def test_encode_categories_twins_agree(fast: ModuleType, container: Any, mapping: Any) -> None:
    rng = np.random.default_rng(4)
    labels = [f"c{i}" for i in range(12)]
    index = mapping({label: i for i, label in enumerate(labels[:8])})
    picks = rng.integers(-1, 12, size=300)  # -1 stands for a missing label
    column = container([None if i < 0 else labels[i] for i in picks])
    fast_codes, twin_codes = both(fast, "encode_categories", column, index)
    assert fast_codes.dtype == twin_codes.dtype == np.int64
    np.testing.assert_array_equal(fast_codes, twin_codes)
    assert set(fast_codes.tolist()) == {-2, -1, *range(8)}


def test_encoded_categories_bin_like_their_labels(kernels: ModuleType) -> None:
    index = {"a": 0, "b": 1}
    codes = kernels.encode_categories(["b", "zzz", None, "b"], index)[:, None]
    counts = np.zeros((1, 4), dtype=np.int64)
    kernels.bin_categorical(codes, [len(index)], counts)
    assert counts.tolist() == [[0, 2, 1, 1]]
    assert kernels.encode_categories([], index).tolist() == []


# --- divergences ------------------------------------------------------------------------------

DIVERGENCES = ["psi", "jensen_shannon"]


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("n_bins", [1, 2, 22])
@pytest.mark.parametrize("floats", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_divergence_twins_agree(fast: ModuleType, name: str, n_bins: int, floats: bool, seed: int) -> None:
    p, q = histograms(np.random.default_rng(seed), n_bins, floats)
    fast_result, twin_result = both(fast, name, p, q)
    assert type(fast_result) is type(twin_result)
    assert_close(fast_result, twin_result)


@pytest.mark.parametrize("name", ["psi_rows", "js_rows"])
@pytest.mark.parametrize("n_features", [1, 20])
def test_row_twins_agree_with_each_other_and_with_1d(fast: ModuleType, name: str, n_features: int) -> None:
    rng = np.random.default_rng(n_features)
    nbins = rng.integers(1, 23, size=n_features)
    p = np.zeros((n_features, 25), dtype=np.int64)
    q = np.zeros_like(p)
    for f, n in enumerate(nbins):
        p[f, :n], q[f, :n] = histograms(rng, int(n), floats=False)
    p[:, 23:] = -5  # padding past nbins is never read
    fast_rows, twin_rows = both(fast, name, p, q, nbins)
    assert_close(fast_rows, twin_rows)
    single = {"psi_rows": fast.psi, "js_rows": fast.jensen_shannon}[name]
    assert_close(fast_rows, [single(p[f, :n], q[f, :n]) for f, n in enumerate(nbins)])


def test_known_values(kernels: ModuleType) -> None:
    m = kernels
    counts = np.array([10, 0, 5, 85])
    assert m.psi(counts, counts) == 0.0
    assert m.psi(counts, 3 * counts) == 0.0
    assert m.jensen_shannon(counts, counts) == 0.0
    assert m.jensen_shannon([3, 1, 0, 0], [0, 0, 2, 6]) == 1.0
    assert m.jensen_shannon([7, 0, 0], [0, 3, 11]) == pytest.approx(1.0, abs=1e-15)
    assert m.psi_rows(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.int64)).shape == (0,)


def test_divergences_match_scipy(kernels: ModuleType) -> None:
    stats = pytest.importorskip("scipy.stats")
    distance = pytest.importorskip("scipy.spatial.distance")
    p, q = histograms(np.random.default_rng(5), 22, floats=False)
    eps = 1e-3

    def smooth(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        proportions: npt.NDArray[np.float64] = (x / x.sum() + eps) / (1 + x.size * eps)
        return proportions

    # PSI is the symmetrised Kullback-Leibler divergence of the smoothed proportions.
    symmetric_kl = stats.entropy(smooth(p), smooth(q)) + stats.entropy(smooth(q), smooth(p))
    assert kernels.psi(p, q, eps) == pytest.approx(symmetric_kl, rel=1e-12)
    assert kernels.jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q, base=2) ** 2, rel=1e-12)


BAD_PAIRS: list[tuple[Any, Any]] = [
    ([1, 2], [1, 2, 3]),
    ([], []),
    ([[1, 2]], [[1, 2]]),
    ([1, -1], [1, 1]),
    ([1, 1], [np.nan, 1]),
    ([1, np.inf], [1, 1]),
    ([0, 0], [1, 1]),
    ([1, 1], [0.0, 0.0]),
    ([1e308, 1e308], [1, 1]),
]


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize(("p", "q"), BAD_PAIRS)
def test_divergences_reject_bad_input_alike(fast: ModuleType, name: str, p: Any, q: Any) -> None:
    same_error(fast, name, np.array(p), np.array(q))


@pytest.mark.parametrize("eps", [0.0, -1e-4, np.inf, np.nan])
def test_eps_must_be_positive_and_finite(fast: ModuleType, eps: float) -> None:
    assert "eps must be positive" in same_error(fast, "psi", np.ones(3), np.ones(3), eps)


@pytest.mark.parametrize("name", ["psi_rows", "js_rows"])
@pytest.mark.parametrize(("p", "q", "nbins"), [
    ([[1, 1], [1, 1]], [[1, 1], [1, 1]], [2]),
    ([[1, 1], [1, 1]], [[1, 1]], [2, 2]),
    ([[1, 1], [1, 1]], [[1, 1], [1, 1]], [2, 3]),
    ([[1, 1], [1, 1]], [[1, 1], [1, 1]], [0, 2]),
    ([[1, 1], [1, 1]], [[1, 1], [1, 1]], [2.0, 2.0]),
    ([[1, 1], [1, 1]], [[1, 1], [0, 0]], [2, 2]),
    ([[1, 1], [1, -1]], [[1, 1], [0, 0]], [2, 2]),
    ([[1, 1], [0, 3]], [[1, 1], [1, 1]], [2, 1]),
])
def test_rows_reject_bad_input_alike(fast: ModuleType, name: str, p: Any, q: Any, nbins: Any) -> None:
    same_error(fast, name, np.array(p), np.array(q), np.array(nbins))


# --- bin codes ----------------------------------------------------------------------------------


INDEX = {"a": 0, "b": 1, "c": 2, "__missing__": -2, "__other__": -1}


def random_labels(rng: np.random.Generator, n_rows: int) -> npt.NDArray[np.object_]:
    pool = np.array(["a", "b", "c", None, "zzz", "__missing__", "__other__"], dtype=object)
    return np.array(rng.choice(pool, n_rows), dtype=object)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("n_rows", [0, 1, 997])
@pytest.mark.parametrize("seed", [0, 1])
def test_code_writer_twins_agree_and_count_like_the_histogram_kernels(fast: ModuleType, dtype: Any,
                                                                      n_rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = random_edges(rng, 20)
    values = random_values(rng, n_rows, edges)
    labels = [random_labels(rng, n_rows), list(random_labels(rng, n_rows))]  # an array and a list
    columns = rng.permutation(25)
    numeric, categorical = columns[:20], columns[20:22]
    outputs = []
    for module in (fast, histogram_py):
        codes = np.full((n_rows, 25), 99, dtype=dtype)
        writer = module.CodeWriter(edges, numeric, [INDEX, MappingProxyType(INDEX)], categorical)
        writer.write(values, labels, codes)
        outputs.append(codes)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0][:, columns[22:]] == 99).all()  # columns of neither kind are left alone
    counts = np.zeros((20, int(histogram_py.numeric_bins(edges).max())), dtype=np.int64)
    histogram_py.bin_numeric(values, edges, counts)
    for f, column in enumerate(numeric.tolist()):
        assert np.bincount(outputs[0][:, column], minlength=counts.shape[1]).tolist() == counts[f].tolist()
    for g, column in enumerate(categorical.tolist()):
        expected = np.zeros((1, 5), dtype=np.int64)
        histogram_py.bin_categorical(histogram_py.encode_categories(labels[g], INDEX)[:, None], [3], expected)
        assert np.bincount(outputs[0][:, column], minlength=5).tolist() == expected[0].tolist()


def test_placeholder_labels_land_in_the_other_and_missing_bins(kernels: ModuleType) -> None:
    codes = np.zeros((5, 1), dtype=np.uint8)
    labels = [["c", "__other__", "zzz", "__missing__", None]]
    kernels.CodeWriter([], [], [INDEX], [0]).write(np.zeros((5, 0)), labels, codes)
    assert codes[:, 0].tolist() == [2, 3, 3, 4, 4]


BAD_CODES: list[Any] = [
    np.zeros((2, 2), dtype=np.int64),  # not unsigned
    np.zeros((3, 2), dtype=np.uint8),  # wrong number of events
    np.zeros((2, 1), dtype=np.uint8),  # too few columns for the layout
    np.zeros((2, 4), dtype=np.uint8)[:, :2],  # not contiguous
]


@pytest.mark.parametrize("codes", BAD_CODES)
def test_code_writer_rejects_bad_codes_alike(fast: ModuleType, codes: Any) -> None:
    messages = []
    for module in (fast, histogram_py):
        writer = module.CodeWriter([[0.0, 1.0]], [0], [INDEX], [1])
        with pytest.raises((ValueError, TypeError)) as caught:
            writer.write(np.zeros((2, 1)), [["a", "b"]], codes)
        messages.append((type(caught.value), str(caught.value)))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(("edges", "numeric", "indexes", "categorical"), [
    ([[0.0, 1.0]], [0, 1], [], []),  # a column per numeric feature
    ([[0.0, 1.0]], [0], [INDEX], []),  # a column per categorical feature
    ([[0.0, 1.0]], [0], [INDEX], [0]),  # distinct columns
    ([[0.0, 1.0]], [-1], [], []),  # non-negative columns
    ([[1.0, 0.0]], [0], [], []),  # increasing edges
    ([], [], [{"a": 0, "b": 2}], [0]),  # categories coded 0..n-1
    ([], [], [{"a": 0, "b": -3}], [0]),  # only -1 and -2 as placeholders
    ([[0.0, 1.0]], [0.5], [], []),  # integer columns
])
def test_code_writer_rejects_bad_layouts_alike(fast: ModuleType, edges: Any, numeric: Any, indexes: Any,
                                              categorical: Any) -> None:
    same_error(fast, "CodeWriter", edges, numeric, indexes, categorical)


@pytest.mark.parametrize("labels", [[], [["a"]], [["a", "b"], ["a", "b"]]])
def test_code_writer_rejects_labels_that_do_not_fit_the_batch_alike(fast: ModuleType, labels: Any) -> None:
    messages = []
    for module in (fast, histogram_py):
        writer = module.CodeWriter([], [], [INDEX], [0])
        with pytest.raises(ValueError) as caught:
            writer.write(np.zeros((2, 0)), labels, np.zeros((2, 1), dtype=np.uint8))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_code_writer_refuses_bins_that_do_not_fit_a_byte(kernels: ModuleType) -> None:
    writer = kernels.CodeWriter([np.arange(300.0)], [0], [], [])
    assert writer.bins == 302 and writer.width == 1
    with pytest.raises(ValueError, match="do not fit"):
        writer.write(np.zeros((1, 1)), [], np.zeros((1, 1), dtype=np.uint8))
    writer.write(np.zeros((1, 1)), [], np.zeros((1, 1), dtype=np.uint16))


def test_code_writer_keeps_its_own_copy_of_the_indexes(kernels: ModuleType) -> None:
    index = {"a": 0, "b": 1}
    writer = kernels.CodeWriter([], [], [index], [0])
    index["c"] = 1  # the caller's mapping changes afterwards
    codes = np.zeros((1, 1), dtype=np.uint8)
    writer.write(np.zeros((1, 0)), [["c"]], codes)
    assert codes[0, 0] == 2  # still unseen: the other bin


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_code_writer_given_category_codes_writes_what_it_writes_for_their_labels(fast: ModuleType,
                                                                                 dtype: Any) -> None:
    rng = np.random.default_rng(3)
    labels = random_labels(rng, 500)
    encoded = histogram_py.encode_categories(labels, INDEX)
    assert {-1, -2} <= set(encoded.tolist())
    values = rng.normal(size=(500, 1))
    for module in (fast, histogram_py):
        writer = module.CodeWriter([[0.0]], [1], [INDEX], [0])
        by_labels, by_codes = np.zeros((500, 2), dtype=dtype), np.zeros((500, 2), dtype=dtype)
        writer.write(values, [labels], by_labels)
        writer.write(values, [encoded], by_codes)
        np.testing.assert_array_equal(by_codes, by_labels)
        strided = np.zeros((500, 2), dtype=dtype)
        writer.write(values, [np.repeat(encoded, 2)[::2]], strided)  # not contiguous: read right
        np.testing.assert_array_equal(strided, by_labels)


@pytest.mark.parametrize("bad", [3, -3])
def test_code_writer_refuses_category_codes_outside_the_index_alike(fast: ModuleType, bad: int) -> None:
    messages = []
    for module in (fast, histogram_py):
        codes = np.zeros((2, 1), dtype=np.uint8)
        with pytest.raises(ValueError) as caught:
            module.CodeWriter([], [], [INDEX], [0]).write(np.zeros((2, 0)), [np.array([0, bad])], codes)
        messages.append(str(caught.value))
        assert not codes.any()  # nothing written
    assert messages[0] == messages[1] and "outside -2..2" in messages[0]
