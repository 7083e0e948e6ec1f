"""Benchmarks of the monitoring path.

``python -m driftline.detectors.bench_monitor {cost,detection,granularity}``.

Not tests. ``cost`` prints the CPU cost per event of everything monitoring adds to the hot path
-- binning the demo model's 20 features and score into bin codes (the worker's part: batches
decoded by orjson and validated as the worker's are, their categories read from validation's
codes; beside it the same codes from the labels, and the old count delta, for comparison), the
monitor's update (exact sub-windows, PSI, quality tests, location CUSUMs, alert states) and ADWIN
on score chunk means -- at batch sizes 100, 500 and 2000. The product target is 10 % of a ~26
µs/event hot path: 2.6 µs/event. Scores come from a fixed random stand-in: scoring is the model's
cost, not monitoring's.

``detection`` measures what the README claims about detection: the demo model (trained once)
and its 50,000-event reference profile, the acceptance configuration (window 500 in 5
sub-windows, PSI, calibrated to 1e7 events between false alarms, ADWIN on score means), drift
injected at event 5,000 of the 20-feature synthetic stream, ``--seeds`` seeds per scenario,
events fed in batches of ``--batch``. The delay is the first raised alert naming the drifted
feature, in events after the change; a raised alert about anything else is a false alarm.
``--stationary N`` also streams N undrifted events (several seeds) and counts every raised alert.

``granularity`` simulates what it would cost to run the CUSUMs on sums of ``g`` events (say
per-sub-window sums of normal scores shipped by the workers) instead of event by event: Gaussian
scores, one one-sided CUSUM tuned to the shift, 300 runs per point.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.binner import ProfileBinner, counts_from_codes
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.reference import ReferenceProfile, feeding_columns
from driftline.detectors.river_adapters import RiverSpec
from driftline.models.card import ModelCard
from driftline.models.synthetic import (
    BLOCK_SIZE,
    DEMO_FEATURES,
    CategoryShare,
    Drift,
    MeanShift,
    SyntheticStream,
    VarianceScale,
)
from driftline.models.validation import FeatureValidator

TARGET_US_PER_EVENT = 2.6
SETTINGS = MonitorSettings(river=(RiverSpec("ADWIN", {"delta": 1e-5}, chunk_size=20),))
#: The acceptance configuration (tests/unit/detectors/conftest.py uses the same).
ACCEPTANCE = MonitorSettings(
    window_size=500, n_sub_windows=5, statistic="psi", threshold="calibrated", target_arl=1e7,
    raise_after=1, resolve_after=3, resolve_ratio=0.5, cooldown=5000,
    river=(RiverSpec("ADWIN", {"delta": 1e-5}, chunk_size=20),),
)
START = 5000
Columns = dict[str, npt.NDArray[Any]]
Injector = Callable[[Columns, int, int], None]  # (columns, position of the first, stream seed)


# --- cost ----------------------------------------------------------------------------------------


@dataclass
class CostPerEvent:
    """Microseconds per event of each way to bin a batch, and of the monitor's update."""

    counting: float = 0.0  # the old count delta (`bin_columns`)
    from_labels: float = 0.0  # codes, every label looked up again
    coding: float = 0.0  # codes, categories read from validation's codes: the worker's part
    updating: float = 0.0  # the monitor agent's part


def worker_batches(card: ModelCard, batch: int, events: int) -> list[tuple[Columns, dict[str, Any]]]:
    """Batches as the scoring worker holds them: rows decoded by orjson (a new string per value,
    as from the events topic), validated, with validation's category codes."""
    stream, validator = SyntheticStream(seed=1), FeatureValidator(card)
    batches = []
    for _ in range(events // batch):
        checked = validator.validate_batch(orjson.loads(orjson.dumps(stream.rows(batch))))
        batches.append((checked.columns, checked.category_codes))
    return batches


def measure(monitor: DriftMonitor, binner: ProfileBinner, batches: list[tuple[Columns, dict[str, Any]]],
            ) -> CostPerEvent:
    """Microseconds per event of counting, of coding from labels and from codes (the worker) and of
    the monitor update, over ``batches`` (`worker_batches`)."""
    rng = np.random.default_rng(1)
    monitor.reset()
    cost = CostPerEvent()
    sizes = [len(next(iter(columns.values()))) for columns, _ in batches]
    for (columns, category_codes), size in zip(batches, sizes, strict=True):
        scores = rng.beta(1.2, 6.0, size)
        began = time.process_time()
        binner.bin_columns(columns, scores)
        counted = time.process_time()
        binner.bin_codes(columns, scores)
        labelled = time.process_time()
        codes = binner.bin_codes(columns, scores, category_codes)
        coded = time.process_time()
        monitor.update_codes(codes, scores)
        cost.counting += counted - began
        cost.from_labels += labelled - counted
        cost.coding += coded - labelled
        cost.updating += time.process_time() - coded
    scale = 1e6 / sum(sizes)
    return CostPerEvent(*(part * scale for part in (cost.counting, cost.from_labels, cost.coding,
                                                     cost.updating)))


def cost(events: int) -> None:
    card = ModelCard(name="bench", features=DEMO_FEATURES)
    reference = SyntheticStream(seed=99).columns(50_000)
    profile = ReferenceProfile.build(card, reference, np.random.default_rng(99).beta(1.2, 6.0, 50_000))
    binner = ProfileBinner(profile)
    monitor = DriftMonitor(profile, SETTINGS)
    print(f"target: {TARGET_US_PER_EVENT} µs/event for all monitoring")
    for batch in (100, 500, 2000):
        part = measure(monitor, binner, worker_batches(card, batch, events))
        total = part.coding + part.updating
        verdict = "ok" if total <= TARGET_US_PER_EVENT else "over"
        print(f"batch {batch:5d}: worker codes {part.coding:.2f} (from labels {part.from_labels:.2f}, counts "
              f"were {part.counting:.2f}) + monitor {part.updating:.2f} = {total:.2f} µs/event ({verdict})")


# --- detection -----------------------------------------------------------------------------------


@dataclass
class DemoHarness:
    """The demo model's monitor, fed bin codes the way the monitor agent feeds it."""

    card: ModelCard
    model: Any
    profile: ReferenceProfile
    binner: ProfileBinner
    monitor: DriftMonitor
    #: Feed count deltas (``DriftMonitor.update``) as the landed monitor did, not bin codes.
    legacy: bool = False

    def score(self, columns: Columns) -> npt.NDArray[np.float64]:
        return np.asarray(self.model.predict(feeding_columns(self.card, columns)).scores, dtype=np.float64)

    def run(self, seed: int, drift: Drift | None, *, events: int, batch: int, inject: Injector | None = None,
            stop: Callable[[AlertEvent], bool] | None = None, chunk: int = 2000) -> list[AlertEvent]:
        """Stream ``events`` events through a reset monitor in batches; returns every alert event.

        Columns are generated and scored ``chunk`` events at a time (the costly part), then fed
        in batches of ``batch``; ``inject(columns, position)`` may edit a chunk in place and
        ``stop(event)`` ends the run early.
        """
        self.monitor.reset()
        stream = SyntheticStream(seed=seed, drift=drift)
        alerts: list[AlertEvent] = []
        step = max(chunk, batch)
        for position in range(0, events, step):
            columns = stream.columns(min(step, events - position))
            if inject is not None:
                inject(columns, position, seed)
            scores = self.score(columns)
            codes = self.binner.bin_codes(columns, scores)
            for i in range(0, codes.shape[0], batch):
                if self.legacy:
                    delta = counts_from_codes(codes[i : i + batch], self.profile.width)
                    new = self.monitor.update(delta, delta[0].sum(), scores[i : i + batch])
                else:
                    new = self.monitor.update_codes(codes[i : i + batch], scores[i : i + batch])
                alerts.extend(new)
                if stop is not None and any(stop(event) for event in new):
                    return alerts
        return alerts


def demo_harness(settings: MonitorSettings = ACCEPTANCE, *, legacy: bool = False) -> DemoHarness:
    """Train the demo model (seed 7, 3,000 rows) and profile 50,000 reference events (seed 10,000)."""
    from driftline.models.demo import train_demo_model
    from driftline.models.runtime import OnnxModel

    folder = Path(tempfile.mkdtemp(prefix="driftline-bench-"))
    artifact, card = train_demo_model(folder, seed=7, n_train=3000)
    model = OnnxModel.load(artifact, card, expected_sha256=None)
    columns = SyntheticStream(seed=10_000).columns(50_000)
    scores = model.predict(feeding_columns(card, columns)).scores
    profile = ReferenceProfile.build(card, columns, scores)
    return DemoHarness(card, model, profile, ProfileBinner(profile), DriftMonitor(profile, settings), legacy)


def inject_missing(rate: float, feature: str, start: int) -> Injector:
    """Nulls a non-nullable feature with probability ``rate`` from ``start`` on.

    Event ``i``'s draw depends on the seed and ``i`` only (blocks of ``BLOCK_SIZE``, as the
    synthetic stream's own), so it does not change with the batching.
    """
    def inject(columns: Columns, position: int, seed: int) -> None:
        index = position + np.arange(columns[feature].size)
        if not index.size:
            return
        first = index[0] // BLOCK_SIZE
        blocks = range(first, index[-1] // BLOCK_SIZE + 1)
        draws = np.concatenate([np.random.default_rng([seed, b, 5]).random(BLOCK_SIZE) for b in blocks])
        u = draws[index - first * BLOCK_SIZE]
        null = (index >= start) & (u < rate)
        columns[feature] = np.where(null, np.nan, columns[feature])
    return inject


@dataclass(frozen=True)
class Scenario:
    name: str
    drift: Drift
    expected: frozenset[tuple[str, str]]
    inject: Injector | None = None
    #: Alerts after the change that name only these are right, but not what is measured.
    consequences: frozenset[tuple[str, str]] = frozenset()


def scenarios(start: int = START) -> list[Scenario]:
    age = frozenset({("data_drift", "customer_age_years"), ("data_quality", "customer_age_years")})
    score = frozenset({("prediction_drift", "__score__")})
    return [
        Scenario("mean +0.5 sd", Drift(start=start, mean_shift=MeanShift("customer_age_years", 0.5)), age),
        Scenario("mean +0.25 sd", Drift(start=start, mean_shift=MeanShift("customer_age_years", 0.25)), age),
        Scenario("variance 1 -> 1.5 sd",
                 Drift(start=start, variance_scale=VarianceScale("customer_age_years", 1.5)), age),
        Scenario("category 10% -> 30%",
                 Drift(start=start, category_share=CategoryShare("merchant_category", "fuel", 0.30)),
                 frozenset({("data_drift", "merchant_category")}) | score),
        Scenario("missing 0% -> 5%", Drift(), frozenset({("data_quality", "hour_of_day")}),
                 inject_missing(0.05, "hour_of_day", start)),
    ]


def first_detection(alerts: list[AlertEvent], scenario: Scenario, start: int) -> tuple[int | None, int]:
    """Event index of the first true detection, and the number of false alarms."""
    found: int | None = None
    false_alarms = 0
    for alert in (a for a in alerts if a.type == "raised"):
        names = {(alert.kind, f.feature) for f in alert.findings}
        after = alert.window.end >= start
        if after and names & scenario.expected:
            found = alert.window.end if found is None else found
        elif not (after and names <= scenario.consequences):
            false_alarms += 1
    return found, false_alarms


def run_scenario(harness: DemoHarness, scenario: Scenario, seeds: range, batch: int, *,
                 start: int = START, horizon: int = 5000) -> tuple[list[int | None], int]:
    """First detection per seed (None: missed within ``horizon`` events) and the false alarms."""
    delays: list[int | None] = []
    false_alarms = 0

    def stop(event: AlertEvent) -> bool:
        names = {(event.kind, f.feature) for f in event.findings}
        return event.type == "raised" and event.window.end >= start and bool(names & scenario.expected)

    for seed in seeds:
        alerts = harness.run(seed, scenario.drift, events=start + horizon, batch=batch,
                             inject=scenario.inject, stop=stop)
        found, wrong = first_detection(alerts, scenario, start)
        delays.append(None if found is None else found - start)
        false_alarms += wrong
    return delays, false_alarms


def stationary(harness: DemoHarness, events: int, batch: int, seeds: int = 10) -> list[str]:
    """Summaries of every alert raised on ``events`` undrifted events over ``seeds`` streams."""
    raised: list[str] = []
    per_seed = events // seeds
    for seed in range(seeds):
        alerts = harness.run(1_000_000 + seed, None, events=per_seed, batch=batch, chunk=5000)
        raised += [a.summary for a in alerts if a.type == "raised"]
    return raised


def detection(seeds: int, batches: list[int], stationary_events: int, legacy: bool) -> None:
    began = time.perf_counter()
    harness = demo_harness(replace(ACCEPTANCE, location_shifts=()) if legacy else ACCEPTANCE, legacy=legacy)
    what = "the landed monitor (count deltas, no CUSUMs)" if legacy else "bin codes, location CUSUMs"
    print(f"{what}: 20 features + score, window 500/5, target_arl 1e7, change at event {START}, "
          f"{seeds} seeds")
    for batch in batches:
        print(f"--- batches of {batch} events")
        for scenario in scenarios():
            delays, false_alarms = run_scenario(harness, scenario, range(seeds), batch)
            found = [d for d in delays if d is not None]
            mean = f"{np.mean(found):.0f}" if found else "-"
            missed = delays.count(None)
            print(f"{scenario.name:22s} mean delay {mean:>5s} events, missed {missed} of {seeds}, "
                  f"false alarms {false_alarms}   ({time.perf_counter() - began:.0f} s)", flush=True)
        if stationary_events:
            raised = stationary(harness, stationary_events, batch)
            print(f"stationary: {len(raised)} raised alerts in {stationary_events:,} events "
                  f"({len(raised) / stationary_events * 1e6:.3f} per 1M)   "
                  f"({time.perf_counter() - began:.0f} s)")
            for summary in raised:
                print(f"  {summary}")


# --- granularity -------------------------------------------------------------------------------


def block_cusum_delay(shift: float, h: float, block: int, rng: np.random.Generator, *, runs: int = 300,
                      before: int = 3000) -> float:
    """Mean delay of a CUSUM tuned to ``shift`` that sees only sums of ``block`` increments."""
    delays: list[int] = []
    while len(delays) < runs:
        z = np.concatenate([rng.normal(size=before), rng.normal(shift, size=4000)])
        sums = (shift * z - shift**2 / 2.0).reshape(-1, block).sum(axis=1)
        s = 0.0
        for i, x in enumerate(sums.tolist()):
            s = max(0.0, s + x)
            if s > h:
                if (i + 1) * block > before:
                    delays.append((i + 1) * block - before)
                    break
                s = 0.0
    return float(np.mean(delays))


def granularity() -> None:
    rng = np.random.default_rng(0)
    print("mean delay (events) of a one-sided CUSUM fed sums of g events, 300 runs, Gaussian scores")
    for shift, h in ((0.5, 19.4), (0.25, 18.2)):
        delays = [block_cusum_delay(shift, h, g, rng) for g in (1, 20, 100)]
        print(f"+{shift} sigma, h = {h}: g=1 {delays[0]:.0f}, g=20 {delays[1]:.0f}, g=100 {delays[2]:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("cost", "detection", "granularity"), default="cost")
    parser.add_argument("--events", type=int, default=200_000, help="cost: events per batch size")
    parser.add_argument("--seeds", type=int, default=30, help="detection: seeds per scenario")
    parser.add_argument("--batch", default="100", help="detection: comma-separated batch sizes")
    parser.add_argument("--stationary", type=int, default=0, help="detection: undrifted events to stream")
    parser.add_argument("--legacy", action="store_true",
                        help="detection: the landed monitor (count deltas, no CUSUMs), for a before/after")
    args = parser.parse_args()
    if args.mode == "cost":
        cost(args.events)
    elif args.mode == "granularity":
        granularity()
    else:
        detection(args.seeds, [int(b) for b in args.batch.split(",")], args.stationary, args.legacy)


if __name__ == "__main__":
    main()
