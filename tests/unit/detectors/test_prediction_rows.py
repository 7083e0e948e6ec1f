"""The prediction's rows by task: per-class rows of a multi-class model, the value of a regressor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.binner import ProfileBinner, counts_from_codes
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.reference import SCORE, ReferenceProfile
from driftline.models.card import FeatureSpec, ModelCard, ModelOutput

FEATURES = (FeatureSpec(name="x", type="numeric"),)
IRIS = ModelCard(name="iris", version=1, features=FEATURES,
                 output=ModelOutput(task="multiclass", classes=("setosa", "versicolor", "virginica")))
PRICE = ModelCard(name="price", version=1, features=FEATURES, output=ModelOutput(task="regression"))
#: Reference class probabilities; the shifted ones move mass from versicolor to virginica while
#: setosa's marginal, Beta(6, 4), stays exactly as it was.
REFERENCE_ALPHA, SHIFTED_ALPHA = (6.0, 2.0, 2.0), (6.0, 1.0, 3.0)
SETTINGS = MonitorSettings(cooldown=0)
BATCH = 250


@dataclass(frozen=True)
class Scored:
    """A plain stand-in for ``models.runtime.Prediction``: what the binner reads of one."""

    scores: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64] | None = None


def classified(rng: np.random.Generator, alpha: tuple[float, ...], n: int) -> Scored:
    probabilities = rng.dirichlet(alpha, size=n)
    return Scored(probabilities.max(axis=1), probabilities)


def iris_profile(rng: np.random.Generator, n: int = 20_000) -> ReferenceProfile:
    return ReferenceProfile.build(IRIS, {"x": rng.normal(size=n)}, rng.dirichlet(REFERENCE_ALPHA, size=n))


def feed(monitor: DriftMonitor, binner: ProfileBinner, x: npt.NDArray[np.float64],
         scored: Scored) -> list[AlertEvent]:
    """One batch as the scorer and the monitor agent handle it."""
    return monitor.update_codes(binner.bin_codes({"x": x}, binner.monitored(scored)), scored.scores)


def raised(events: list[AlertEvent]) -> dict[tuple[str, str], AlertEvent]:
    return {(e.kind, e.detector): e for e in events if e.type == "raised"}


def test_per_class_codes_follow_each_class_column() -> None:
    rng = np.random.default_rng(0)
    profile = iris_profile(rng)
    binner = ProfileBinner(profile)
    scored = classified(rng, REFERENCE_ALPHA, 500)
    assert scored.probabilities is not None
    codes = binner.bin_codes({"x": rng.normal(size=500)}, binner.monitored(scored))
    assert codes.shape == (500, 4)
    for j, row in enumerate(profile.predictions):
        # Bin 0 is below the reference minimum, so a value's bin is the number of edges at or below it.
        expected = np.searchsorted(np.asarray(row.edges), scored.probabilities[:, j], side="right")
        assert np.array_equal(codes[:, 1 + j], expected)
    counts = binner.bin_columns({"x": np.zeros(500)}, binner.monitored(scored))
    assert np.array_equal(counts_from_codes(codes, profile.width)[1:], counts[1:])
    with pytest.raises(ValueError, match="2 prediction columns for the profile's 3"):
        binner.bin_codes({"x": np.zeros(3)}, scored.probabilities[:3, :2])
    with pytest.raises(ValueError, match="probabilities"):
        binner.monitored(Scored(scored.scores))


def test_a_binary_or_regression_profile_bins_the_score() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(50.0, 10.0, size=5000)
    binner = ProfileBinner(ReferenceProfile.build(PRICE, {"x": rng.normal(size=5000)}, values))
    scored = Scored(values[:100])
    assert binner.monitored(scored).shape == (100,)
    assert np.array_equal(binner.bin_codes({"x": np.zeros(100)}, binner.monitored(scored)),
                          binner.bin_codes({"x": np.zeros(100)}, values[:100]))


def test_one_shifted_class_raises_prediction_drift_on_its_rows() -> None:
    rng = np.random.default_rng(2)
    profile = iris_profile(rng)
    monitor, binner = DriftMonitor(profile, SETTINGS), ProfileBinner(profile)
    events = []
    for i in range(40):
        alpha = SHIFTED_ALPHA if i >= 8 else REFERENCE_ALPHA
        events += feed(monitor, binner, rng.normal(size=BATCH), classified(rng, alpha, BATCH))
    alerts = raised(events)
    assert {("prediction_drift", "histogram.psi"), ("prediction_drift", "cusum.location")} <= set(alerts)
    # The input did not move; versicolor's lower probabilities also fall below its reference range
    # (an out-of-range data-quality finding on that row).
    assert {kind for kind, _ in alerts} <= {"prediction_drift", "data_quality"}
    for key, alert in alerts.items():
        findings = {f.feature for f in alert.findings}
        assert findings <= {"__score__[versicolor]", "__score__[virginica]"}, (key, findings)
        assert alert.window.end > 8 * BATCH


def test_a_stationary_multiclass_stream_raises_nothing() -> None:
    rng = np.random.default_rng(3)
    profile = iris_profile(rng)
    monitor, binner = DriftMonitor(profile, SETTINGS), ProfileBinner(profile)
    events = []
    for _ in range(120):  # 30,000 events
        events += feed(monitor, binner, rng.normal(size=BATCH), classified(rng, REFERENCE_ALPHA, BATCH))
    assert events == []


@pytest.mark.parametrize("leaves", [None, 12], ids=["continuous", "tree-like"])
def test_a_regressors_value_is_watched_like_a_score(leaves: int | None) -> None:
    """Edges come from the value's reference quantiles (atoms of a tree's leaves included), and the
    normal-score CUSUM needs nothing of the row but its reference shares: quiet while the values
    keep their distribution, prediction drift when they rise."""
    rng = np.random.default_rng(4)
    levels = np.sort(rng.lognormal(3.0, 0.6, size=leaves)) if leaves else None

    def values(n: int, shift: float) -> npt.NDArray[np.float64]:
        raw = rng.lognormal(3.0 + shift, 0.6, size=n)
        if levels is None:
            return raw
        return levels[np.clip(np.searchsorted(levels, raw), 0, len(levels) - 1)]  # the leaf it falls in

    profile = ReferenceProfile.build(PRICE, {"x": rng.normal(size=20_000)}, values(20_000, 0.0))
    assert profile.row_names == ("x", SCORE)
    monitor, binner = DriftMonitor(profile, SETTINGS), ProfileBinner(profile)
    quiet = []
    for _ in range(80):  # 20,000 events of the reference distribution
        v = values(BATCH, 0.0)
        quiet += feed(monitor, binner, rng.normal(size=BATCH), Scored(v))
    assert quiet == []
    events = []
    for _ in range(8):
        v = values(BATCH, 0.25)
        events += feed(monitor, binner, rng.normal(size=BATCH), Scored(v))
    alerts = raised(events)
    assert {("prediction_drift", "histogram.psi"), ("prediction_drift", "cusum.location")} <= set(alerts)
    assert {f.feature for e in alerts.values() for f in e.findings} == {SCORE}
