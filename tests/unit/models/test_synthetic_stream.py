from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftline.models.synthetic import (
    BASELINE_MOMENTS,
    DEMO_FEATURES,
    MISSING_RATES,
    CategoryShare,
    Drift,
    MeanShift,
    MissingRate,
    SyntheticStream,
    VarianceScale,
)

N = 40_000
START = 10_000
SPECS = {spec.name: spec for spec in DEMO_FEATURES}


def is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def same_column(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(a.tolist() == b.tolist())


def baseline_and(drift: Drift, n: int = N) -> tuple[dict[str, npt.NDArray[Any]], dict[str, npt.NDArray[Any]]]:
    return SyntheticStream(seed=3).columns(n), SyntheticStream(seed=3, drift=drift).columns(n)


def test_demo_features_have_the_promised_shape() -> None:
    numeric = [s for s in DEMO_FEATURES if s.type == "numeric"]
    categorical = [s for s in DEMO_FEATURES if s.type == "categorical"]
    assert (len(DEMO_FEATURES), len(numeric), len(categorical)) == (20, 16, 4)
    assert all(3 <= len(s.categories) <= 8 for s in categorical)
    assert [s.name for s in categorical if s.unseen == "strict"] == ["card_type"]
    assert {s.name for s in DEMO_FEATURES if s.nullable} == set(MISSING_RATES)
    assert all(s.min is not None and s.max is not None for s in numeric)


def test_same_seed_same_events_and_labels() -> None:
    rows_a, labels_a = SyntheticStream(seed=11).sample(3000)
    rows_b, labels_b = SyntheticStream(seed=11).sample(3000)
    assert json.dumps(rows_a) == json.dumps(rows_b)
    assert labels_a.tolist() == labels_b.tolist()
    assert json.dumps(SyntheticStream(seed=12).rows(50)) != json.dumps(rows_a[:50])


def test_events_do_not_depend_on_batch_sizes() -> None:
    whole, labels = SyntheticStream(seed=5).sample_columns(20_000)
    stream = SyntheticStream(seed=5)
    parts = [stream.sample_columns(size) for size in (1, 8190, 0, 5, 3000, 8804)]
    assert stream.position == 20_000
    for name, column in whole.items():
        assert same_column(np.concatenate([features[name] for features, _ in parts]), column), name
    assert np.concatenate([part_labels for _, part_labels in parts]).tolist() == labels.tolist()


def test_rows_are_json_ready_and_match_columns() -> None:
    rows = SyntheticStream(seed=2).rows(2000)
    columns = SyntheticStream(seed=2).columns(2000)
    assert json.loads(json.dumps(rows)) == rows
    assert {type(value) for row in rows for value in row.values()} == {float, str, type(None)}
    for name, column in columns.items():
        expected = [None if is_null(v) else v for v in column.tolist()]
        assert [row[name] for row in rows] == expected


def test_labels_are_binary_with_a_plausible_positive_rate() -> None:
    _, labels = SyntheticStream(seed=0).sample_columns(N)
    assert set(np.unique(labels).tolist()) == {0, 1}
    assert 0.10 <= labels.mean() <= 0.30


def test_every_event_passes_the_spec_even_under_strong_drift() -> None:
    drift = Drift(mean_shift=MeanShift("ip_risk_score", 8.0), variance_scale=VarianceScale("amount", 50.0),
                  category_share=CategoryShare("channel", "moto", 1.0))
    for stream in (SyntheticStream(seed=1), SyntheticStream(seed=1, drift=drift)):
        columns = stream.columns(N)
        for spec in DEMO_FEATURES:
            column = columns[spec.name]
            if spec.type == "numeric":
                present = column[~np.isnan(column)]
                assert spec.min is not None and spec.max is not None
                assert present.min() >= spec.min and present.max() <= spec.max, spec.name
            else:
                assert set(column.tolist()) <= {*spec.categories, None}, spec.name
            assert spec.nullable or not any(map(is_null, column.tolist())), spec.name


def test_baseline_missing_rates_and_moments_hold() -> None:
    columns = SyntheticStream(seed=4).columns(N)
    for name, rate in MISSING_RATES.items():
        observed = np.mean([is_null(v) for v in columns[name].tolist()])
        assert observed == pytest.approx(rate, abs=0.005), name
    for name in ("amount_zscore_customer", "hour_of_day", "customer_age_years"):
        mean, std = BASELINE_MOMENTS[name]
        assert np.mean(columns[name]) == pytest.approx(mean, abs=0.05 * std), name
        assert np.std(columns[name]) == pytest.approx(std, rel=0.05), name


@pytest.mark.parametrize("sigmas", [-1.5, 2.0])
def test_mean_shift_moves_the_mean_by_k_sigma_from_start(sigmas: float) -> None:
    name = "amount_zscore_customer"
    base, drifted = baseline_and(Drift(start=START, mean_shift=MeanShift(name, sigmas)))
    assert same_column(base[name][:START], drifted[name][:START])
    shift = np.mean(drifted[name][START:]) - np.mean(base[name][START:])
    assert shift == pytest.approx(sigmas * BASELINE_MOMENTS[name][1], rel=0.01)
    assert same_column(base["amount"], drifted["amount"])  # no other feature moves


def test_variance_scale_widens_the_spread_around_the_mean() -> None:
    name = "customer_age_years"
    base, drifted = baseline_and(Drift(start=START, variance_scale=VarianceScale(name, 0.5)))
    assert np.std(drifted[name][START:]) / np.std(base[name][START:]) == pytest.approx(0.5, rel=0.02)
    assert np.mean(drifted[name][START:]) == pytest.approx(np.mean(base[name][START:]), abs=0.5)


def test_category_share_sets_the_share_and_keeps_the_others_ratios() -> None:
    base, drifted = baseline_and(Drift(start=START, category_share=CategoryShare("channel", "atm", 0.4)))
    after = drifted["channel"][START:]
    assert np.mean(after == "atm") == pytest.approx(0.4, abs=0.01)
    before = base["channel"][START:]
    ratio_before = np.mean(before == "pos") / np.mean(before == "ecommerce")
    assert np.mean(after == "pos") / np.mean(after == "ecommerce") == pytest.approx(ratio_before, rel=0.05)
    assert base["channel"][:START].tolist() == drifted["channel"][:START].tolist()


def test_missing_rate_changes_only_the_named_feature() -> None:
    base, drifted = baseline_and(Drift(start=START, missing_rate=MissingRate("device_trust_score", 0.3)))
    assert np.isnan(drifted["device_trust_score"][START:]).mean() == pytest.approx(0.3, abs=0.01)
    assert np.isnan(drifted["device_trust_score"][:START]).mean() == pytest.approx(0.05, abs=0.01)
    assert same_column(base["ip_risk_score"], drifted["ip_risk_score"])


@pytest.mark.parametrize("concept", ["flip", "alter"])
def test_concept_change_keeps_the_features_and_changes_the_labels(concept: str) -> None:
    drift = Drift(start=START, concept=concept)  # type: ignore[arg-type]
    base_columns, base_labels = SyntheticStream(seed=6).sample_columns(N)
    columns, labels = SyntheticStream(seed=6, drift=drift).sample_columns(N)
    assert all(same_column(base_columns[name], columns[name]) for name in columns)
    assert base_labels[:START].tolist() == labels[:START].tolist()
    assert 0.10 <= labels[START:].mean() <= 0.30
    assert np.mean(base_labels[START:] != labels[START:]) > 0.15


def test_flip_reverses_what_raises_the_risk() -> None:
    columns, base = SyntheticStream(seed=8).sample_columns(N)
    _, flipped = SyntheticStream(seed=8, drift=Drift(concept="flip")).sample_columns(N)
    risky = np.nan_to_num(columns["ip_risk_score"]) > 0.3
    assert base[risky].mean() > 1.4 * base[~risky].mean()
    assert flipped[risky].mean() < flipped[~risky].mean()


def test_drifts_compose() -> None:
    drift = Drift(start=0, mean_shift=MeanShift("hour_of_day", -1.0),
                  category_share=CategoryShare("merchant_region", "asia", 0.5),
                  missing_rate=MissingRate("ip_risk_score", 0.5), concept="alter")
    base, drifted = baseline_and(drift)
    assert np.mean(drifted["hour_of_day"]) < np.mean(base["hour_of_day"]) - 3.0
    assert np.mean(drifted["merchant_region"] == "asia") == pytest.approx(0.5 * 0.98, abs=0.01)
    assert np.isnan(drifted["ip_risk_score"]).mean() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("make", [
    lambda: Drift(start=-1),
    lambda: Drift(mean_shift=MeanShift("channel", 1.0)),
    lambda: Drift(mean_shift=MeanShift("no_such_feature", 1.0)),
    lambda: Drift(variance_scale=VarianceScale("amount", 0.0)),
    lambda: Drift(category_share=CategoryShare("channel", "carrier_pigeon", 0.2)),
    lambda: Drift(category_share=CategoryShare("channel", "atm", 1.5)),
    lambda: Drift(missing_rate=MissingRate("amount", 0.1)),
    lambda: Drift(concept="sideways"),  # type: ignore[arg-type]
])
def test_invalid_drifts_are_refused(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_million_events_take_seconds() -> None:
    started = time.perf_counter()
    columns, labels = SyntheticStream(seed=9).sample_columns(1_000_000)
    elapsed = time.perf_counter() - started
    assert len(labels) == 1_000_000 and len(columns["amount"]) == 1_000_000
    assert elapsed < 30.0  # about 1.5 s on one core; a per-event loop would take minutes
