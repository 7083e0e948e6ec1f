"""Concept-drift detectors compared on error streams: ``python -m driftline.detectors.bench_concept``.

Not a test. It feeds every candidate error-stream detector the same seeded streams and prints,
per detector, the mean and worst delay of the first detection after the change, the seeds it
missed, and false alarms per 10,000 events (on stationary streams of ``--stationary`` events, plus
detections before the change). The table in `detectors.concept` comes from it.

The stream (`concept_stream`) changes the concept and nothing else: features are two independent
standard normals throughout; a fixed model predicts ``x0 > 0``; the true class is the side of a
boundary through the origin, flipped with probability ``noise``. At ``change`` the true boundary
rotates by ``angle``: the model now disagrees with it on a share ``angle / pi`` of the plane, so
its error rate goes from ``noise`` to ``noise + (1 - 2 noise) angle / pi`` (0.12 to 0.20 at the
default `ANGLE`), while the features and the class balance (one half) keep their distribution.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftline.detectors.concept import ErrorDetector
from driftline.detectors.cusum import BernoulliCUSUM
from driftline.detectors.river_adapters import RiverSpec

#: The rotation that takes the error rate from 0.12 to 0.20 at a label noise of 0.12.
ANGLE = 0.08 / 0.76 * math.pi
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Outcomes:
    """A generated stream: features, true classes, the fixed model's classes and scores."""

    x: npt.NDArray[np.float64]
    y_true: IntArray
    y_pred: IntArray
    score: npt.NDArray[np.float64]

    @property
    def errors(self) -> IntArray:
        return np.asarray(self.y_true != self.y_pred, dtype=np.int64)


def concept_stream(seed: int, events: int, change: int | None = None, *, angle: float = ANGLE,
                   noise: float = 0.12) -> Outcomes:
    """``events`` outcomes whose true boundary rotates by ``angle`` from event ``change`` on."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((events, 2))
    rotated = np.arange(events) >= (events if change is None else change)
    theta = np.where(rotated, angle, 0.0)
    concept = (x[:, 0] * np.cos(theta) + x[:, 1] * np.sin(theta) > 0).astype(np.int64)
    y_true = concept ^ (rng.random(events) < noise)
    score = 1.0 / (1.0 + np.exp(-3.0 * x[:, 0]))
    return Outcomes(x=x, y_true=y_true, y_pred=(x[:, 0] > 0).astype(np.int64), score=score)


def candidates(target_arl: float) -> dict[str, Callable[[], ErrorDetector]]:
    """Every detector compared, by display name."""
    out: dict[str, Callable[[], ErrorDetector]] = {}
    for delta in (0.002, 1e-3, 1e-4, 1e-5):
        out[f"ADWIN, delta {delta:g}"] = RiverSpec("ADWIN", {"delta": delta}).build
    for name in ("DDM", "HDDMA", "HDDMW", "PageHinkley"):
        out[name] = RiverSpec(name).build
    out['PageHinkley, mode "up"'] = RiverSpec("PageHinkley", {"mode": "up"}).build
    for arl in sorted({target_arl / 10, target_arl, target_arl * 10}):
        out[f"BernoulliCUSUM, ARL {arl:.0e}"] = functools.partial(BernoulliCUSUM, arl)
    return out


def detect(make: Callable[[], ErrorDetector], errors: IntArray, batch: int = 500) -> tuple[int, ...]:
    detector = make()
    for start in range(0, errors.size, batch):
        detector.update_many(errors[start:start + batch])
    return detector.detections


def compare(make: Callable[[], ErrorDetector], seeds: range, before: int, after: int,
            stationary: int) -> tuple[list[int | None], int]:
    """First delay per seed (None: missed) and false alarms (before the change and stationary)."""
    delays: list[int | None] = []
    false_alarms = 0
    for seed in seeds:
        found = detect(make, concept_stream(seed, before + after, before).errors)
        false_alarms += sum(1 for i in found if i < before)
        late = [i - before + 1 for i in found if i >= before]
        delays.append(late[0] if late else None)
        false_alarms += len(detect(make, concept_stream(10_000 + seed, stationary).errors))
    return delays, false_alarms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--before", type=int, default=5000)
    parser.add_argument("--after", type=int, default=5000)
    parser.add_argument("--stationary", type=int, default=20_000)
    parser.add_argument("--target-arl", type=float, default=1e6)
    args = parser.parse_args()
    seeds = range(args.seeds)
    watched = args.seeds * (args.before + args.stationary)
    print(f"{'detector':32s} {'mean':>6s} {'max':>6s} {'missed':>6s} {'false/10k':>9s} {'s':>5s}")
    for name, make in candidates(args.target_arl).items():
        began = time.process_time()
        delays, false_alarms = compare(make, seeds, args.before, args.after, args.stationary)
        found = [d for d in delays if d is not None]
        mean = f"{np.mean(found):.0f}" if found else "-"
        print(f"{name:32s} {mean:>6s} {max(found, default=0):6d} {len(delays) - len(found):6d} "
              f"{false_alarms / watched * 1e4:9.3f} {time.process_time() - began:5.1f}", flush=True)


if __name__ == "__main__":
    main()
