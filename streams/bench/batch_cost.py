"""What one call of ``BatchScorer.score`` costs per batch size: the worker's CPU without Kafka.

``python -m driftline.streams.bench.batch_cost [--sizes 1,2,5,20,50,200,1000] [--monitors on|off]
[--label-join on|off] [--shadows N] [--events N]``

Why: at low event rates a worker scores many tiny batches, so the fixed cost of a batch (numpy
calls per feature column, one ONNX call, output building) decides its CPU, not the cost per
event. The demo model is trained and registered into a temporary registry, events come from the
bench's synthetic payloads, and each size is timed over enough calls for about 20,000 events.
``--shadows N`` adds N shadow versions (copies of the champion) beside it: what each shadow costs.
``--label-join off`` stops echoing the features into predictions, as in the bench's full mode.

Each size reports wall time per batch and per event, and the calling thread's CPU per event:
ONNX Runtime's run happens on another thread, so that column is the Python a change to the
scoring path moves, and it is far less sensitive to a busy neighbour than wall time. To compare
two trees, run them alternately a few times (``PYTHONPATH=<checkout>`` picks the tree) and compare
medians; this VM's speed drifts between minutes.
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


@dataclasses.dataclass(frozen=True)
class BatchCost:
    """What one call of ``score`` on a batch of ``size`` records cost, on average."""

    size: int
    wall_us: float
    #: The calling thread's CPU (ONNX Runtime's own threads are not in it).
    thread_cpu_us: float


def cost_per_batch(scorer: BatchScorer, size: int, events: int) -> BatchCost:
    records = batch_of(size)
    for _ in range(WARMUP_CALLS):
        scorer.score(records)
    calls = max(WARMUP_CALLS, events // size)
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        scorer.score(records)
    cost = BatchCost(size, (time.perf_counter() - started) / calls * 1e6,
                     (time.thread_time() - cpu_started) / calls * 1e6)
    if scorer.drift is not None:
        scorer.drift.drain()  # the worker drains every drift_flush_ms, not per batch: not timed here
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.streams.bench.batch_cost")
    parser.add_argument("--sizes", default="1,2,5,20,50,200,1000")
    parser.add_argument("--monitors", choices=("on", "off"), default="on")
    parser.add_argument("--label-join", choices=("on", "off"), default="on",
                        help="off: predictions do not echo the features (the bench's full mode)")
    parser.add_argument("--events", type=int, default=20_000, help="events timed per size (default 20,000)")
    parser.add_argument("--shadows", type=int, default=0, help="shadow versions beside the champion")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    with tempfile.TemporaryDirectory(prefix="driftline-batch-cost-") as tmp:
        registry = Path(tmp) / "registry"
        register_demo_with_reference(Registry(registry))
        settings = Settings(registry=registry, models=(DEMO_MODEL_NAME,), monitors=args.monitors == "on",
                            label_join=args.label_join == "on")
        scorer = build_scorer(settings, load_served_models(settings))
        champion = scorer.models[DEMO_MODEL_NAME]
        copies = range(champion.version + 1, champion.version + 1 + args.shadows)
        shadows = tuple(dataclasses.replace(champion, version=v) for v in copies)
        scorer.rollouts[DEMO_MODEL_NAME] = Rollout(shadows=shadows)
        print(f"{'batch':>6}{'µs/batch':>11}{'µs/event':>10}{'CPU µs/event':>14}   (monitors "
              f"{args.monitors}, label join {args.label_join}, {args.shadows} shadows)")
        for size in sizes:
            cost = cost_per_batch(scorer, size, args.events)
            print(f"{size:>6}{cost.wall_us:>11.0f}{cost.wall_us / size:>10.1f}"
                  f"{cost.thread_cpu_us / size:>14.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
