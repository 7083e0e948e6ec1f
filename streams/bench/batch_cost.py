"""What one call of ``BatchScorer.score`` costs per batch size: the worker's CPU without Kafka.

``python -m driftline.streams.bench.batch_cost [--sizes 1,2,5,20,50,200,1000] [--monitors on|off]
[--shadows N]``

Why: at low event rates a worker scores many tiny batches, so the fixed cost of a batch (numpy
calls per feature column, one ONNX call, output building) decides its CPU, not the cost per
event. The demo model is trained and registered into a temporary registry, events come from the
bench's synthetic payloads, and each size is timed over enough calls for about 20,000 events.
``--shadows N`` adds N shadow versions (copies of the champion) beside it: what each shadow costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.streams.app import build_scorer
from driftline.streams.bench.payload import encode_event, feature_pool, now_ms
from driftline.streams.registration import register_demo_with_reference
from driftline.streams.scoring import BatchScorer, Rollout
from driftline.streams.serving import load_served_models
from driftline.streams.settings import Settings

EVENTS_PER_SIZE = 20_000
WARMUP_CALLS = 20


def batch_of(size: int, seed: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    """``size`` records as aiokafka's consumer hands them to the worker."""
    pool = feature_pool(seed, min(size, 4096))
    records = []
    for i in range(size):
        key, value = f"e{i}".encode(), encode_event(f"e{i}", pool[i % len(pool)], now_ms())
        records.append(ConsumerRecord("events", 0, i, int(now_ms()), 0, key, value, None, len(key),
                                      len(value), ()))
    return records


def microseconds_per_batch(scorer: BatchScorer, size: int) -> float:
    records = batch_of(size)
    for _ in range(WARMUP_CALLS):
        scorer.score(records)
    calls = max(WARMUP_CALLS, EVENTS_PER_SIZE // size)
    started = time.perf_counter()
    for _ in range(calls):
        scorer.score(records)
    cost = (time.perf_counter() - started) / calls * 1e6
    if scorer.drift is not None:
        scorer.drift.drain()  # the worker drains every drift_flush_ms, not per batch: not timed here
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.streams.bench.batch_cost")
    parser.add_argument("--sizes", default="1,2,5,20,50,200,1000")
    parser.add_argument("--monitors", choices=("on", "off"), default="on")
    parser.add_argument("--shadows", type=int, default=0, help="shadow versions beside the champion")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    with tempfile.TemporaryDirectory(prefix="driftline-batch-cost-") as tmp:
        registry = Path(tmp) / "registry"
        register_demo_with_reference(Registry(registry))
        settings = Settings(registry=registry, models=(DEMO_MODEL_NAME,), monitors=args.monitors == "on")
        scorer = build_scorer(settings, load_served_models(settings))
        champion = scorer.models[DEMO_MODEL_NAME]
        copies = range(champion.version + 1, champion.version + 1 + args.shadows)
        shadows = tuple(dataclasses.replace(champion, version=v) for v in copies)
        scorer.rollouts[DEMO_MODEL_NAME] = Rollout(shadows=shadows)
        print(f"{'batch':>6}{'µs/batch':>11}{'µs/event':>10}   "
              f"(monitors {args.monitors}, {args.shadows} shadows)")
        for size in sizes:
            cost = microseconds_per_batch(scorer, size)
            print(f"{size:>6}{cost:>11.0f}{cost / size:>10.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
