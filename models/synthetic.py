"""A seeded stream of synthetic card-payment events, with drift that can be injected on purpose.

The demo domain is card-payment fraud: each event is one authorisation with 16 numeric and 4
categorical features (``DEMO_FEATURES``) and a binary ``is_fraud`` target that depends on several
of them nonlinearly, plus unobserved noise. Tests and demos use :class:`Drift` to change the
stream from a given event index on (a mean shift, a variance change, a category's share, a missing
rate, or the target function itself), so drift detectors can be checked against a known truth.

Events are generated in fixed blocks of ``BLOCK_SIZE`` events, each from its own generator seeded
by ``(seed, block number)``: event *i* is the same whatever the batch sizes used to read it, and
a drifted stream differs from an undrifted one of the same seed only where the drift says so.

Examples
--------
>>> stream = SyntheticStream(seed=1)
>>> rows, labels = stream.sample(4)
>>> len(rows), labels.tolist() == SyntheticStream(seed=1).sample(4)[1].tolist()
(4, True)
>>> sorted(rows[0]) == sorted(f.name for f in DEMO_FEATURES)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftline.models.card import FeatureSpec

FloatArray = npt.NDArray[np.float64]
Codes = Mapping[str, npt.NDArray[np.intp]]  # category indices into each feature's spec categories
ConceptChange = Literal["flip", "alter"]

#: Events per generated block; part of the stream's definition (changing it changes the events).
BLOCK_SIZE = 8192


def _numeric(name: str, low: float, high: float, *, nullable: bool = False) -> FeatureSpec:
    return FeatureSpec(name=name, type="numeric", nullable=nullable, min=low, max=high)


def _categorical(name: str, categories: tuple[str, ...], *, nullable: bool = False,
                 strict: bool = False) -> FeatureSpec:
    return FeatureSpec(name=name, type="categorical", nullable=nullable, categories=categories,
                       unseen="strict" if strict else "other")


#: The demo model's raw inputs. Ranges are wide enough that baseline data never reaches them;
#: drifted values are clipped into them, so every generated event passes validation.
DEMO_FEATURES: tuple[FeatureSpec, ...] = (
    _numeric("amount", 0.0, 100_000.0),
    _numeric("amount_zscore_customer", -50.0, 50.0),
    _numeric("account_age_days", 0.0, 36_500.0),
    _numeric("card_age_days", 0.0, 36_500.0),
    _numeric("txn_count_1h", 0.0, 1_000.0),
    _numeric("txn_count_24h", 0.0, 10_000.0),
    _numeric("amount_sum_24h", 0.0, 10_000_000.0),
    _numeric("distance_from_home_km", 0.0, 20_040.0, nullable=True),
    _numeric("minutes_since_last_txn", 0.0, 5_256_000.0, nullable=True),
    _numeric("hour_of_day", 0.0, 24.0),
    _numeric("merchant_risk_score", 0.0, 1.0),
    _numeric("device_trust_score", 0.0, 1.0, nullable=True),
    _numeric("ip_risk_score", 0.0, 1.0, nullable=True),
    _numeric("failed_logins_7d", 0.0, 1_000.0),
    _numeric("chargebacks_365d", 0.0, 1_000.0),
    _numeric("customer_age_years", 18.0, 120.0),
    _categorical("channel", ("pos", "ecommerce", "contactless", "atm", "moto")),
    _categorical("merchant_category", ("grocery", "restaurants", "fuel", "apparel", "travel",
                                       "electronics", "digital_goods", "gambling"), nullable=True),
    _categorical("card_type", ("debit", "credit", "prepaid"), strict=True),
    _categorical("merchant_region", ("domestic", "eu", "north_america", "asia", "latam", "africa"),
                 nullable=True),
)

_SPECS = {spec.name: spec for spec in DEMO_FEATURES}
_NUMERIC = tuple(s.name for s in DEMO_FEATURES if s.type == "numeric")
_CATEGORICAL = tuple(s.name for s in DEMO_FEATURES if s.type == "categorical")

_CATEGORY_SHARES: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "channel": (0.38, 0.30, 0.22, 0.06, 0.04),
    "merchant_category": (0.24, 0.16, 0.10, 0.12, 0.08, 0.10, 0.14, 0.06),
    "card_type": (0.55, 0.38, 0.07),
    "merchant_region": (0.72, 0.12, 0.06, 0.05, 0.03, 0.02),
})

#: Baseline share of nulls for each nullable feature (geo lookups fail, first transactions, ...).
MISSING_RATES: Mapping[str, float] = MappingProxyType({
    "distance_from_home_km": 0.03,
    "minutes_since_last_txn": 0.02,
    "device_trust_score": 0.05,
    "ip_risk_score": 0.04,
    "merchant_category": 0.01,
    "merchant_region": 0.02,
})

#: Mean and standard deviation of each numeric feature before drift (measured on 1,000,000
#: events); a :class:`MeanShift` of ``k`` sigmas adds ``k`` times this standard deviation.
BASELINE_MOMENTS: Mapping[str, tuple[float, float]] = MappingProxyType({
    "amount": (66.82, 87.24),
    "amount_zscore_customer": (0.0008087, 1.002),
    "account_age_days": (901.6, 903.6),
    "card_age_days": (451.3, 534.7),
    "txn_count_1h": (0.3999, 0.6323),
    "txn_count_24h": (3.401, 1.844),
    "amount_sum_24h": (201.5, 152.0),
    "distance_from_home_km": (28.4, 59.97),
    "minutes_since_last_txn": (523.2, 866.3),
    "hour_of_day": (13.71, 4.507),
    "merchant_risk_score": (0.1818, 0.1114),
    "device_trust_score": (0.75, 0.1444),
    "ip_risk_score": (0.158, 0.1127),
    "failed_logins_7d": (0.2499, 0.4999),
    "chargebacks_365d": (0.04011, 0.2003),
    "customer_age_years": (43.22, 13.56),
})


@dataclass(frozen=True)
class MeanShift:
    """Add ``sigmas`` baseline standard deviations to a numeric feature."""

    feature: str
    sigmas: float


@dataclass(frozen=True)
class VarianceScale:
    """Stretch a numeric feature's spread around its baseline mean by ``factor`` (std times factor)."""

    feature: str
    factor: float


@dataclass(frozen=True)
class CategoryShare:
    """Give ``category`` of a categorical feature the share ``share``; the others keep their ratios."""

    feature: str
    category: str
    share: float


@dataclass(frozen=True)
class MissingRate:
    """Make a nullable feature null with probability ``rate``."""

    feature: str
    rate: float


@dataclass(frozen=True)
class Drift:
    """Changes applied to every event whose index in the stream is ``start`` or later.

    Each change is optional and they compose: a drift may shift one feature, widen another,
    move a category's share, raise a missing rate and change the target function at once.
    Covariate changes keep the target function, so labels follow the drifted features
    (``P(y | x)`` is unchanged); ``concept`` changes ``P(y | x)`` and leaves the features alone.

    Parameters
    ----------
    start
        Index of the first drifted event (0 drifts the whole stream).
    mean_shift, variance_scale
        Change of one numeric feature; values are clipped into the feature's spec range, so
        bounded features (scores in [0, 1]) saturate under large changes.
    category_share
        New share of one category of a categorical feature.
    missing_rate
        New null rate of one nullable feature (non-nullable ones are refused: the stream only
        produces events that pass validation).
    concept
        ``"flip"`` reverses the fraud pattern (what raised the risk now lowers it); ``"alter"``
        replaces it with a different one (small card-testing amounts, new cards, daytime,
        other merchants). Both keep the positive rate close to the baseline's.
    """

    start: int = 0
    mean_shift: MeanShift | None = None
    variance_scale: VarianceScale | None = None
    category_share: CategoryShare | None = None
    missing_rate: MissingRate | None = None
    concept: ConceptChange | None = None

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ValueError("drift start must be a non-negative event index")
        for change in (self.mean_shift, self.variance_scale):
            if change is not None:
                _require(change.feature, "numeric")
        if self.variance_scale is not None and not self.variance_scale.factor > 0:
            raise ValueError("variance_scale.factor must be positive")
        if self.category_share is not None:
            _check_category_share(self.category_share)
        if self.missing_rate is not None:
            _check_missing_rate(self.missing_rate)
        if self.concept not in (None, "flip", "alter"):
            raise ValueError(f"concept must be 'flip', 'alter' or None, not {self.concept!r}")


def _require(feature: str, kind: str) -> FeatureSpec:
    spec = _SPECS.get(feature)
    if spec is None or spec.type != kind:
        raise ValueError(f"{feature!r} is not a {kind} demo feature")
    return spec


def _check_category_share(change: CategoryShare) -> None:
    spec = _require(change.feature, "categorical")
    if change.category not in spec.categories:
        raise ValueError(f"{change.category!r} is not a category of {change.feature!r}")
    if not 0.0 <= change.share <= 1.0:
        raise ValueError("category_share.share must be in [0, 1]")


def _check_missing_rate(change: MissingRate) -> None:
    if change.feature not in MISSING_RATES:
        raise ValueError(f"{change.feature!r} is not a nullable demo feature")
    if not 0.0 <= change.rate <= 1.0:
        raise ValueError("missing_rate.rate must be in [0, 1]")


@dataclass(frozen=True)
class _Draws:
    """Every random number one block needs, drawn in a fixed order whatever the drift."""

    numeric: dict[str, FloatArray]
    category_u: dict[str, FloatArray]
    missing_u: dict[str, FloatArray]
    noise: FloatArray
    label_u: FloatArray


def _draw_numeric(rng: np.random.Generator, n: int) -> dict[str, FloatArray]:
    amount = rng.lognormal(3.7, 1.0, n)
    txn_1h = rng.poisson(0.4, n).astype(np.float64)
    txn_24h = txn_1h + rng.poisson(3.0, n)
    account_age = rng.exponential(900.0, n)
    # How unusual the amount is for this customer: related to, but not the same as, its size.
    zscore = 0.5 * (np.log(amount) - 3.7) + 0.866 * rng.standard_normal(n)
    return {
        "amount": amount,
        "amount_zscore_customer": zscore,
        "account_age_days": account_age,
        "card_age_days": account_age * rng.beta(2.0, 2.0, n),
        "txn_count_1h": txn_1h,
        "txn_count_24h": txn_24h,
        "amount_sum_24h": amount + txn_24h * rng.lognormal(3.5, 0.6, n),
        "distance_from_home_km": rng.lognormal(2.5, 1.3, n),
        "minutes_since_last_txn": rng.exponential(1440.0 / (txn_24h + 0.5)),
        "hour_of_day": np.mod(rng.normal(14.0, 4.5, n), 24.0),
        "merchant_risk_score": rng.beta(2.0, 9.0, n),
        "device_trust_score": rng.beta(6.0, 2.0, n),
        "ip_risk_score": rng.beta(1.5, 8.0, n),
        "failed_logins_7d": rng.poisson(0.25, n).astype(np.float64),
        "chargebacks_365d": rng.poisson(0.04, n).astype(np.float64),
        "customer_age_years": np.clip(rng.normal(43.0, 14.0, n), 18.0, 100.0),
    }


def _draw(rng: np.random.Generator, n: int) -> _Draws:
    return _Draws(
        numeric=_draw_numeric(rng, n),
        category_u={name: rng.random(n) for name in _CATEGORICAL},
        missing_u={name: rng.random(n) for name in MISSING_RATES},
        noise=rng.normal(0.0, 0.5, n),
        label_u=rng.random(n),
    )


# What each category adds to the fraud log-odds, in the order of the spec's categories.
_FRAUD_EFFECTS: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "channel": (0.0, 0.6, -0.4, 0.3, 0.9),
    "merchant_category": (-0.5, -0.3, 0.0, 0.1, 0.3, 0.6, 0.9, 0.8),
    "card_type": (0.0, 0.1, 0.7),
    "merchant_region": (-0.3, 0.0, 0.1, 0.3, 0.4, 0.5),
})
_CARD_TESTING_EFFECTS: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "channel": (0.2, -0.3, 0.9, -0.2, 0.0),
    "merchant_category": (0.6, 0.2, 0.7, -0.3, -0.4, -0.2, 0.1, 1.0),
    "card_type": (0.4, -0.2, 0.1),
    "merchant_region": (0.3, 0.2, -0.2, 0.0, -0.1, 0.0),
})
_CARD_PRESENT = (0, 2, 3)  # pos, contactless, atm
# How strongly the features speak against the unobserved noise: 1.8 puts the ROC AUC of the true
# log-odds near 0.88, a plausible ceiling for a fraud model.
_CONTRAST = 1.8
# Log-odds offsets that put each target function's positive rate near 15 %.
_INTERCEPTS: Mapping[str, float] = MappingProxyType({"baseline": -4.341, "flip": -1.197, "alter": -6.217})


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _hour_bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    """A bell over the hour of day that wraps around midnight."""
    gap = np.abs(hour - centre)
    gap = np.minimum(gap, 24.0 - gap)
    return np.asarray(np.exp(-0.5 * (gap / width) ** 2), dtype=np.float64)


def _category_signal(codes: Codes, effects: Mapping[str, tuple[float, ...]]) -> FloatArray:
    total = np.zeros(len(codes[_CATEGORICAL[0]]))
    for name in _CATEGORICAL:
        total += np.asarray(effects[name])[codes[name]]
    return total


def _fraud_signal(x: Mapping[str, FloatArray], codes: Codes) -> FloatArray:
    """The baseline fraud pattern: unusual amounts, velocity, risky devices and IPs, new accounts."""
    card_present = np.isin(codes["channel"], _CARD_PRESENT)
    far_from_home = _sigmoid(2.0 * (np.log1p(x["distance_from_home_km"]) - 5.5))
    signal = (1.1 * np.tanh(x["amount_zscore_customer"] - 1.0)
              + 0.8 * np.log1p(x["txn_count_1h"])
              + 2.2 * x["ip_risk_score"]
              + 2.5 * (1.0 - x["device_trust_score"]) ** 2
              + 1.0 * far_from_home * card_present
              + 0.9 * _hour_bump(x["hour_of_day"], 3.0, 2.5)
              + 1.0 * np.exp(-x["account_age_days"] / 45.0)
              + 0.45 * np.minimum(x["failed_logins_7d"], 4.0)
              + 0.7 * (x["chargebacks_365d"] > 0)
              + 0.4 * x["merchant_risk_score"] * np.log1p(x["amount"]))
    return np.asarray(signal + _category_signal(codes, _FRAUD_EFFECTS), dtype=np.float64)


def _card_testing_signal(x: Mapping[str, FloatArray], codes: Codes) -> FloatArray:
    """The altered concept: bursts of small payments on new cards in daytime."""
    signal = (1.4 * np.tanh(-x["amount_zscore_customer"] - 0.5)
              + 1.2 * np.log1p(x["txn_count_1h"])
              + 1.5 * np.exp(-x["card_age_days"] / 30.0)
              + 1.2 * _hour_bump(x["hour_of_day"], 14.0, 3.0)
              + 1.5 * x["merchant_risk_score"])
    return np.asarray(signal + _category_signal(codes, _CARD_TESTING_EFFECTS), dtype=np.float64)


def _labels(x: Mapping[str, FloatArray], codes: Codes, draws: _Draws,
            concept: ConceptChange | None, after: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    baseline = _CONTRAST * _fraud_signal(x, codes)
    logit = _INTERCEPTS["baseline"] + baseline
    if concept == "flip":
        logit = np.where(after, _INTERCEPTS["flip"] - baseline, logit)
    elif concept == "alter":
        logit = np.where(after, _INTERCEPTS["alter"] + _CONTRAST * _card_testing_signal(x, codes), logit)
    return (draws.label_u < _sigmoid(logit + draws.noise)).astype(np.int64)


def _drifted_numeric(values: Mapping[str, FloatArray], drift: Drift,
                     after: npt.NDArray[np.bool_]) -> dict[str, FloatArray]:
    out = dict(values)
    if drift.mean_shift is not None:
        name, (_, std) = drift.mean_shift.feature, BASELINE_MOMENTS[drift.mean_shift.feature]
        out[name] = np.where(after, out[name] + drift.mean_shift.sigmas * std, out[name])
    if drift.variance_scale is not None:
        name, (mean, _) = drift.variance_scale.feature, BASELINE_MOMENTS[drift.variance_scale.feature]
        out[name] = np.where(after, mean + drift.variance_scale.factor * (out[name] - mean), out[name])
    for name in _NUMERIC:
        spec = _SPECS[name]
        out[name] = np.clip(out[name], spec.min, spec.max)
    return out


def _codes(u: FloatArray, shares: tuple[float, ...]) -> npt.NDArray[np.intp]:
    """Inverse-CDF sampling, so the same uniforms give the same categories under any shares."""
    edges = np.cumsum(shares)
    edges[-1] = 1.0  # rounding must not leave a gap above the last category
    return np.minimum(np.searchsorted(edges, u, side="right"), len(shares) - 1)


def _with_share(shares: tuple[float, ...], index: int, share: float) -> tuple[float, ...]:
    scale = (1.0 - share) / (1.0 - shares[index])
    return tuple(share if i == index else s * scale for i, s in enumerate(shares))


def _drifted_codes(category_u: Mapping[str, FloatArray], drift: Drift,
                   after: npt.NDArray[np.bool_]) -> dict[str, npt.NDArray[np.intp]]:
    codes = {name: _codes(category_u[name], _CATEGORY_SHARES[name]) for name in _CATEGORICAL}
    change = drift.category_share
    if change is not None:
        index = _SPECS[change.feature].categories.index(change.category)
        shares = _with_share(_CATEGORY_SHARES[change.feature], index, change.share)
        drifted = _codes(category_u[change.feature], shares)
        codes[change.feature] = np.where(after, drifted, codes[change.feature])
    return codes


def _missing_masks(missing_u: Mapping[str, FloatArray], drift: Drift,
                   after: npt.NDArray[np.bool_]) -> dict[str, npt.NDArray[np.bool_]]:
    masks = {}
    for name, rate in MISSING_RATES.items():
        if drift.missing_rate is not None and drift.missing_rate.feature == name:
            masks[name] = missing_u[name] < np.where(after, drift.missing_rate.rate, rate)
        else:
            masks[name] = missing_u[name] < rate
    return masks


@dataclass(frozen=True)
class _Block:
    features: dict[str, npt.NDArray[Any]]
    labels: npt.NDArray[np.int64]


def _observed(numeric: Mapping[str, FloatArray], codes: Codes,
              missing: Mapping[str, npt.NDArray[np.bool_]]) -> dict[str, npt.NDArray[Any]]:
    """What a producer would publish: numbers with NaN for null, category strings with None."""
    features: dict[str, npt.NDArray[Any]] = {}
    for spec in DEMO_FEATURES:
        null = missing.get(spec.name, np.zeros(BLOCK_SIZE, dtype=np.bool_))
        if spec.type == "numeric":
            features[spec.name] = np.where(null, np.nan, numeric[spec.name])
        else:
            values = np.array(spec.categories, dtype=object)[codes[spec.name]]
            values[null] = None
            features[spec.name] = values
    return features


def _make_block(seed: int, number: int, drift: Drift) -> _Block:
    draws = _draw(np.random.default_rng([seed, number]), BLOCK_SIZE)
    after = number * BLOCK_SIZE + np.arange(BLOCK_SIZE) >= drift.start
    numeric = _drifted_numeric(draws.numeric, drift, after)
    codes = _drifted_codes(draws.category_u, drift, after)
    labels = _labels(numeric, codes, draws, drift.concept, after)
    return _Block(_observed(numeric, codes, _missing_masks(draws.missing_u, drift, after)), labels)


class SyntheticStream:
    """An endless, seeded stream of card-payment events; each call returns the next ``n`` events.

    Parameters
    ----------
    seed
        Selects the stream; the same seed (and drift) always yields the same events and labels.
    drift
        Changes applied from event ``drift.start`` on; ``None`` for a stationary stream.
    """

    def __init__(self, seed: int = 0, drift: Drift | None = None) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = seed
        self.drift = drift
        self._position = 0
        self._cached: tuple[int, _Block] | None = None

    @property
    def position(self) -> int:
        """Index of the next event (how many events the stream has produced so far)."""
        return self._position

    def columns(self, n: int) -> dict[str, npt.NDArray[Any]]:
        """The next ``n`` events column-wise: ``float64`` with NaN for null, ``object`` str/None."""
        return self.sample_columns(n)[0]

    def rows(self, n: int) -> list[dict[str, float | str | None]]:
        """The next ``n`` events as JSON-ready dicts (Python floats, str, None for null)."""
        return _to_rows(self.columns(n))

    def sample(self, n: int) -> tuple[list[dict[str, float | str | None]], npt.NDArray[np.int64]]:
        """The next ``n`` events as dicts and their 0/1 ``is_fraud`` labels."""
        features, labels = self.sample_columns(n)
        return _to_rows(features), labels

    def sample_columns(self, n: int) -> tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.int64]]:
        """The fast path: the next ``n`` events column-wise and their labels."""
        if n < 0:
            raise ValueError("n must be non-negative")
        parts: list[tuple[_Block, int, int]] = []
        end = self._position + n
        while self._position < end:
            number, offset = divmod(self._position, BLOCK_SIZE)
            stop = min(BLOCK_SIZE, offset + end - self._position)
            parts.append((self._block(number), offset, stop))
            self._position += stop - offset
        return _concatenate(parts)

    def _block(self, number: int) -> _Block:
        if self._cached is None or self._cached[0] != number:
            self._cached = (number, _make_block(self.seed, number, self.drift or _NO_DRIFT))
        return self._cached[1]


_NO_DRIFT = Drift()


def _concatenate(parts: list[tuple[_Block, int, int]]
                 ) -> tuple[dict[str, npt.NDArray[Any]], npt.NDArray[np.int64]]:
    """Join block slices; np.concatenate copies, so callers never hold views into the cache."""
    features = {}
    for spec in DEMO_FEATURES:
        empty = np.empty(0, dtype=np.float64 if spec.type == "numeric" else object)
        features[spec.name] = np.concatenate([empty, *(b.features[spec.name][i:j] for b, i, j in parts)])
    labels = np.concatenate([np.empty(0, np.int64), *(b.labels[i:j] for b, i, j in parts)])
    return features, labels


def _to_rows(columns: Mapping[str, npt.NDArray[Any]]) -> list[dict[str, float | str | None]]:
    names = list(columns)
    lists = []
    for name in names:
        values = columns[name]
        if values.dtype.kind == "f":
            boxed = values.astype(object)  # Python floats, so the rows serialise as plain JSON
            boxed[np.isnan(values)] = None
            values = boxed
        lists.append(values.tolist())
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]

