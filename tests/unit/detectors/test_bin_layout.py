"""Bin layouts: quantile edges, merging of small bins, statistic groups."""

from __future__ import annotations

import numpy as np

from driftline.detectors.layout import merge_adjacent, pool_rare, quantile_edges, shape_groups


def test_continuous_feature_gets_equal_share_bins_between_its_min_and_max() -> None:
    values = np.random.default_rng(0).normal(size=10_000)
    edges = quantile_edges(values, bins=10)
    assert len(edges) == 11 and edges[0] == values.min() and edges[-1] > values.max()
    shares = np.diff(np.searchsorted(np.sort(values), edges)) / values.size
    assert np.allclose(shares, 0.1, atol=0.002)


def test_count_feature_gets_an_edge_per_frequent_value() -> None:
    values = np.random.default_rng(0).poisson(0.4, 20_000).astype(float)
    assert quantile_edges(values, bins=10)[:-1] == (0.0, 1.0, 2.0)  # 3+ holds < 1 %: merged into 2


def test_constant_missing_and_empty_features_fall_back_gracefully() -> None:
    assert quantile_edges(np.array([5.0, 5.0, np.nan])) == (5.0, np.nextafter(5.0, np.inf))
    assert quantile_edges(np.array([np.nan, np.nan])) == ()


def test_merge_and_pool_give_every_group_its_minimum() -> None:
    counts = [40, 3, 2, 30, 1, 24]
    groups = merge_adjacent(counts, 10)
    sums = np.bincount(groups, weights=counts)
    assert (sums >= 10).all() and list(groups) == sorted(groups)
    assert pool_rare([60, 30, 5, 3, 2], 0.06) == (0, 1, 2, 2, 2)


def test_shape_groups_leave_missing_and_other_out() -> None:
    assert shape_groups("numeric", [0, 50, 50, 0, 9], 0.05) == (0, 0, 1, 1, -1)
    assert shape_groups("categorical", [50, 50, 7, 9], 0.05) == (0, 1, -1, -1)
    assert shape_groups("numeric", [0, 3], 0.05) == (0, -1)
