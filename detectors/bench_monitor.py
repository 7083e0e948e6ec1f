"""Benchmark of the monitoring path: ``python -m detectors.bench_monitor [--events N]``.

Not a test. It prints the CPU cost per event of everything monitoring adds to the hot path --
binning the demo model's 20 features and score into a count delta, the monitor's update
(sliding window, PSI, quality tests, alert states) and ADWIN on score chunk means -- at batch
sizes 100, 500 and 2000. The product target is 10 % of a ~26 µs/event hot path: 2.6 µs/event.
Scores come from a fixed random stand-in: scoring is the model's cost, not monitoring's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from detectors.binner import ProfileBinner
from detectors.monitor import DriftMonitor, MonitorSettings
from detectors.reference import ReferenceProfile
from detectors.river_adapters import RiverSpec
from models.card import ModelCard
from models.synthetic import DEMO_FEATURES, SyntheticStream

TARGET_US_PER_EVENT = 2.6
SETTINGS = MonitorSettings(river=(RiverSpec("ADWIN", {"delta": 1e-5}, chunk_size=20),))


def measure(monitor: DriftMonitor, binner: ProfileBinner, batch: int, events: int) -> tuple[float, float]:
    """Microseconds per event of binning and of the monitor update, over ``events`` events."""
    stream = SyntheticStream(seed=1)
    rng = np.random.default_rng(1)
    monitor.reset()
    binning = updating = 0.0
    for _ in range(events // batch):
        columns = stream.columns(batch)
        scores = rng.beta(1.2, 6.0, batch)
        began = time.process_time()
        delta = binner.bin_columns(columns, scores)
        binned = time.process_time()
        monitor.update(delta, batch, scores)
        binning += binned - began
        updating += time.process_time() - binned
    scale = 1e6 / (events // batch * batch)
    return binning * scale, updating * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    card = ModelCard(name="bench", features=DEMO_FEATURES)
    reference = SyntheticStream(seed=99).columns(50_000)
    profile = ReferenceProfile.build(card, reference, np.random.default_rng(99).beta(1.2, 6.0, 50_000))
    binner = ProfileBinner(profile)
    monitor = DriftMonitor(profile, SETTINGS)
    print(f"target: {TARGET_US_PER_EVENT} µs/event for all monitoring")
    for batch in (100, 500, 2000):
        binning, updating = measure(monitor, binner, batch, args.events)
        total = binning + updating
        verdict = "ok" if total <= TARGET_US_PER_EVENT else "over"
        print(f"batch {batch:5d}: binning {binning:.2f} + monitor {updating:.2f} = {total:.2f} µs/event "
              f"({verdict})")


if __name__ == "__main__":
    main()
