"""Benchmark of the performance monitor: ``python -m driftline.detectors.bench_performance [--events N]``.

Not a test. It prints the CPU cost per labelled outcome of `PerformanceMonitor.update` -- ring
buffers, the concept detector on every error, and an evaluation (label G-test, floored metrics)
every 200 outcomes -- at batch sizes 100, 500 and 2000, for a binary monitor with a window of
1,000, a label prior and accuracy and ROC AUC floors; and the cost of one `snapshot` (all seven
metrics over the window), which the streams layer takes on a timer, not per outcome. Outcomes
arrive at up to 40,000 a second into one monitor, so the budget is 1-3 µs an outcome.
"""

from __future__ import annotations

import argparse
import time

from driftline.detectors.bench_concept import concept_stream
from driftline.detectors.performance import PerformanceMonitor, PerformanceSettings

SETTINGS = PerformanceSettings(window_size=1000, evaluate_every=200, floors={"accuracy": 0.8, "roc_auc": 0.7})
PRIOR = {"0": 5000, "1": 5000}


def measure(batch: int, events: int) -> tuple[float, float]:
    """Microseconds per outcome of `update`, and per `snapshot` call afterwards."""
    outcomes = concept_stream(seed=1, events=events)
    monitor = PerformanceMonitor("bench", 1, "champion", "binary", SETTINGS, label_prior=PRIOR)
    began = time.process_time()
    for start in range(0, events - batch + 1, batch):
        part = slice(start, start + batch)
        monitor.update(outcomes.y_true[part], outcomes.y_pred[part], outcomes.score[part])
    updating = (time.process_time() - began) * 1e6 / (events // batch * batch)
    began = time.process_time()
    for _ in range(200):
        monitor.snapshot()
    return updating, (time.process_time() - began) * 1e6 / 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000)
    args = parser.parse_args()
    for batch in (100, 500, 2000):
        updating, snapshot = measure(batch, args.events)
        print(f"batch {batch:5d}: update {updating:.2f} µs/outcome; snapshot {snapshot:.0f} µs/call")


if __name__ == "__main__":
    main()
