"""Fixtures for the detector tests: the demo model, its reference profile, and a monitor harness.

The acceptance configuration lives here, in `ACCEPTANCE`, so every acceptance test runs the one
configuration the README documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.binner import ProfileBinner
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.reference import ReferenceProfile, feeding_columns
from driftline.detectors.river_adapters import RiverSpec
from driftline.models.card import ModelCard
from driftline.models.demo import train_demo_model
from driftline.models.runtime import OnnxModel
from driftline.models.synthetic import Drift, SyntheticStream

#: The one configuration every acceptance test uses (see the package docstring for why).
ACCEPTANCE = MonitorSettings(
    window_size=500, n_sub_windows=5, statistic="psi", threshold="calibrated", target_arl=1e7,
    raise_after=1, resolve_after=3, resolve_ratio=0.5, cooldown=5000,
    river=(RiverSpec("ADWIN", {"delta": 1e-5}, chunk_size=20),),
)
REFERENCE_SEED = 10_000
REFERENCE_EVENTS = 50_000

Columns = dict[str, npt.NDArray[Any]]
Injector = Callable[[Columns, int], None]


@dataclass
class Harness:
    """The demo model's monitor, fed bin codes the way the monitor agent feeds it."""

    card: ModelCard
    model: OnnxModel
    profile: ReferenceProfile
    binner: ProfileBinner
    monitor: DriftMonitor

    def score(self, columns: Columns) -> npt.NDArray[np.float64]:
        return self.model.predict(feeding_columns(self.card, columns)).scores

    def run(self, seed: int, drift: Drift | None, *, events: int, batch: int, inject: Injector | None = None,
            stop: Callable[[AlertEvent], bool] | None = None) -> list[AlertEvent]:
        """Stream ``events`` events in batches through a reset monitor; returns every alert event.

        ``inject(columns, position)`` may edit a batch in place; ``stop(event)`` ends the run early.
        """
        self.monitor.reset()
        stream = SyntheticStream(seed=seed, drift=drift)
        alerts: list[AlertEvent] = []
        for position in range(0, events, batch):
            columns = stream.columns(min(batch, events - position))
            if inject is not None:
                inject(columns, position)
            scores = self.score(columns)
            new = self.monitor.update_codes(self.binner.bin_codes(columns, scores), scores)
            alerts.extend(new)
            if stop is not None and any(stop(event) for event in new):
                break
        return alerts


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """The demo model, trained once on a few thousand rows."""
    artifact, card = train_demo_model(Path(tmp_path_factory.mktemp("detector-demo")), seed=7, n_train=3000)
    return OnnxModel.load(artifact, card, expected_sha256=None)


@pytest.fixture(scope="session")
def demo_profile(demo_model: OnnxModel) -> ReferenceProfile:
    """Reference profile of a separate seeded sample of 50,000 events, with the model's scores."""
    columns = SyntheticStream(seed=REFERENCE_SEED).columns(REFERENCE_EVENTS)
    scores = demo_model.predict(feeding_columns(demo_model.card, columns)).scores
    return ReferenceProfile.build(demo_model.card, columns, scores)


@pytest.fixture(scope="session")
def harness(demo_model: OnnxModel, demo_profile: ReferenceProfile) -> Harness:
    """The acceptance monitor (calibrated once per session; `Harness.run` resets it)."""
    return Harness(demo_model.card, demo_model, demo_profile, ProfileBinner(demo_profile),
                   DriftMonitor(demo_profile, ACCEPTANCE))
