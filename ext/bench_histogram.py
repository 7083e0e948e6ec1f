"""Benchmark of the histogram kernels: ``python -m driftline.ext.bench_histogram [--rows N] [--features F]``.

Not a test: it prints how many nanoseconds each implementation spends per value, so that the cost
of drift histograms can be set against River's per-value detectors. The target for the compiled
batch update is 50 ns per value. Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from driftline.ext import histogram_py

TARGET_NS_PER_VALUE = 50.0
BINS = 10
MISSING_RATE = 0.01
WINDOWS = 100  # a divergence call takes microseconds: time many for a stable figure

Floats: TypeAlias = npt.NDArray[np.float64]


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of ``repeats`` runs: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def make_data(rows: int, features: int, seed: int) -> tuple[Floats, list[Floats]]:
    """Normal features with some NaNs, and decile edges taken from a separate reference sample."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(10_000, features))
    edges = [np.quantile(reference[:, f], np.linspace(0, 1, BINS + 1)[1:-1]) for f in range(features)]
    values = rng.normal(loc=0.1, size=(rows, features))
    values[rng.random(values.shape) < MISSING_RATE] = np.nan
    return values, edges


def binning(module: object, values: Floats, edges: Sequence[Floats], batch: int) -> Callable[[], None]:
    """One pass over ``values`` in batches of ``batch`` rows into a fresh count matrix."""
    bin_numeric = getattr(module, "bin_numeric")  # noqa: B009  (either twin)
    width = int(histogram_py.numeric_bins(edges).max())

    def run() -> None:
        counts = np.zeros((len(edges), width), dtype=np.int64)
        for start in range(0, values.shape[0], batch):
            bin_numeric(values[start : start + batch], edges, counts)

    return run


def adwin(column: Floats) -> Callable[[], None]:
    """River's ADWIN fed one value at a time, as a per-value detector is."""
    from river.drift import ADWIN  # imported here so that collecting doctests stays cheap

    data = column[~np.isnan(column)].tolist()

    def run() -> None:
        detector = ADWIN()  # type: ignore[no-untyped-call]  # River's constructors are unannotated
        for value in data:
            detector.update(value)  # type: ignore[no-untyped-call]

    return run


def encoding(module: object, n_labels: int, seed: int) -> Callable[[], None]:
    """Labels of a 40-category feature, 2 % missing and 10 % unseen, mapped to codes."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, 40, size=n_labels)
    column = [None if r < 0.02 else f"category-{i}" for r, i in zip(rng.random(n_labels), picks, strict=True)]
    index = {f"category-{i}": i for i in range(36)}
    encode = getattr(module, "encode_categories")  # noqa: B009  (either twin)
    return lambda: encode(column, index)


def divergences(module: object, values: Floats, edges: list[Floats]) -> Callable[[], None]:
    """PSI and Jensen-Shannon of every feature, ``WINDOWS`` windows against a reference."""
    counts = np.zeros((len(edges), int(histogram_py.numeric_bins(edges).max())), dtype=np.int64)
    histogram_py.bin_numeric(values, edges, counts)
    reference, nbins = counts[:, ::-1].copy() + 1, histogram_py.numeric_bins(edges)
    psi_rows, js_rows = getattr(module, "psi_rows"), getattr(module, "js_rows")  # noqa: B009

    def run() -> None:
        for _ in range(WINDOWS):
            psi_rows(reference, counts, nbins)
            js_rows(reference, counts, nbins)

    return run


def rows_of_table(values: Floats, edges: list[Floats], repeats: int) -> list[tuple[str, int, float]]:
    from driftline.ext import _histogram  # here, so that a missing build fails the benchmark, not doctests

    n_values = values.size
    n_bins = int(histogram_py.numeric_bins(edges).sum()) * WINDOWS
    column = values[:, 0]
    cases: list[tuple[str, int, Callable[[], None]]] = [
        ("compiled bin_numeric, one batch", n_values, binning(_histogram, values, edges, values.shape[0])),
        ("compiled bin_numeric, 1,000-row batches", n_values, binning(_histogram, values, edges, 1_000)),
        ("compiled bin_numeric, 10-row batches", n_values // 100,
         binning(_histogram, values[: values.shape[0] // 100], edges, 10)),
        ("pure twin bin_numeric, one batch", n_values, binning(histogram_py, values, edges, values.shape[0])),
        ("River ADWIN.update, one feature", int(np.count_nonzero(~np.isnan(column))), adwin(column)),
        ("compiled encode_categories, per label", 100_000, encoding(_histogram, 100_000, 0)),
        ("pure twin encode_categories, per label", 100_000, encoding(histogram_py, 100_000, 0)),
        ("compiled psi_rows + js_rows, per bin", n_bins, divergences(_histogram, values[:1000], edges)),
        ("pure twin psi_rows + js_rows, per bin", n_bins, divergences(histogram_py, values[:1000], edges)),
    ]
    return [(name, count, best_seconds(run, repeats) / count * 1e9) for name, count, run in cases]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    values, edges = make_data(args.rows, args.features, args.seed)
    table = rows_of_table(values, edges, args.repeats)
    print(f"{args.rows:,} rows x {args.features} features, {BINS} bins + missing, best of {args.repeats}")
    print(f"{'what':<42} {'items':>12} {'ns/item':>9}")
    for name, count, ns in table:
        print(f"{name:<42} {count:>12,} {ns:>9.1f}")
    verdict = "met" if table[0][2] <= TARGET_NS_PER_VALUE else "MISSED"
    print(f"target <= {TARGET_NS_PER_VALUE:.0f} ns/value for the compiled batch update: {verdict}")


if __name__ == "__main__":
    main()
