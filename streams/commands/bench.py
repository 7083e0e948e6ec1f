"""``driftline bench``: measure the scoring path's throughput, CPU, memory and latency."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from driftline.streams.bench.modes import DEFAULT_MODES, MODES, PEER_MODES
from driftline.streams.settings import Settings

_INTERRUPTED = 130


def register(sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="benchmark raw passthrough, scoring and monitored workers on a real broker",
        description="Start a local broker (or use --broker), preload events, measure events/s, CPU per "
                    "1,000 events and peak RSS of each mode in --repeat rounds (in each, the modes take "
                    "turns of --slice-seconds, the others paused), then "
                    "latency at 25/50/75% of the monitored worker's median maximum and CPU at a low "
                    "steady rate, for the worker and the raw client. Reports medians and min-max. "
                    "Progress goes to stderr, the report to stdout.")
    bench.add_argument("--events", type=_positive_int, default=800_000, metavar="N",
                       help="events preloaded per round, read by every mode (default 800000: more "
                            "than --work-seconds of work; the join gets half as many labelled events)")
    bench.add_argument("--modes", default=",".join(DEFAULT_MODES),
                       help=f"comma-separated modes among {', '.join(MODES)} (default: "
                            f"{','.join(DEFAULT_MODES)}; pending holds --events predictions whose "
                            f"labels never come; {' and '.join(PEER_MODES)} are peers: the same model "
                            "scored event by event by a Faust agent and a Quix Streams app)")
    bench.add_argument("--repeat", type=_positive_int, default=3, metavar="K",
                       help="rounds of every mode and latency phase (default 3)")
    bench.add_argument("--work-seconds", type=_positive_float, default=15.0, metavar="S",
                       help="running time of each mode in a round, or until its backlog is done "
                            "(default 15)")
    bench.add_argument("--slice-seconds", type=_positive_float, default=1.0, metavar="S",
                       help="the modes of a round take turns, each running this long while the others "
                            "are paused (default 1)")
    bench.add_argument("--broker-warmup-events", type=int, default=1_500_000, metavar="N",
                       help="events of an unrecorded raw passthrough run before the rounds, while a "
                            "fresh broker's JIT warms up (default 1500000, ~40 s; 0: none)")
    bench.add_argument("--peer-events", type=_positive_int, default=50_000, metavar="N",
                       help="events each peer scores, the first N of the same events (default 50000)")
    bench.add_argument("--low-rate", type=float, default=1_000.0, metavar="EPS",
                       help="steady rate at which the worker's and the raw client's CPU share is read "
                            "(default 1000; 0: skip)")
    bench.add_argument("--low-rate-seconds", type=float, default=20.0,
                       help="how long that CPU share is measured (default 20)")
    bench.add_argument("--partitions", dest="topic_partitions", type=_positive_int, metavar="N",
                       help="partitions of the benchmark's topics (setting topic_partitions, default 6)")
    bench.add_argument("--broker", dest="bench_broker", metavar="HOST:PORT",
                       help="use this broker instead of starting one")
    bench.add_argument("--loads", default="25,50,75",
                       help="latency loads in percent of the full mode's maximum (default 25,50,75; "
                            "empty: no latency phase)")
    bench.add_argument("--latency-seconds", type=_positive_float, default=12.0,
                       help="duration of each latency load (default 12)")
    bench.add_argument("--latency-slice-seconds", type=_positive_float, default=2.0, metavar="S",
                       help="each load is offered to the worker and the raw client in alternating "
                            "slices this long (default 2)")
    bench.add_argument("--latency-max-events", type=_positive_int,
                       help="cap on events per latency load (default: rate * duration)")
    bench.add_argument("--warmup-seconds", type=float, default=10.0,
                       help="unrecorded load before each target's latency loads (default 10; 0: none)")
    bench.add_argument("--seed", type=int, default=0, help="synthetic event seed (default 0)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    bench.add_argument("--compare", nargs="+", type=Path, metavar="REPORT",
                       help="measure nothing: set the headline ratios of these `bench --json` reports "
                            "side by side and say whether they agree within --tolerance")
    bench.add_argument("--tolerance", type=float, default=0.05,
                       help="largest difference of a ratio between runs that still agrees (default 0.05)")
    bench.set_defaults(handler=_bench)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _loads(text: str) -> tuple[int, ...]:
    loads = tuple(int(part) for part in text.split(",") if part.strip())
    if any(not 0 < pct <= 100 for pct in loads):
        raise ValueError(f"loads must be percentages in (0, 100], got {text!r}")
    return loads


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.compare:
        return _compare(args)
    from driftline.streams.bench import BenchError, BenchOptions, format_table, run_bench
    from driftline.streams.bench.modes import parse_modes
    from driftline.streams.broker import BrokerError

    try:
        if args.warmup_seconds < 0:
            raise ValueError(f"--warmup-seconds must not be negative, got {args.warmup_seconds:g}")
        if args.low_rate < 0 or args.low_rate_seconds <= 0:
            raise ValueError("--low-rate must not be negative and --low-rate-seconds must be positive")
        options = BenchOptions(
            events=args.events, modes=parse_modes(args.modes), partitions=settings.topic_partitions,
            broker=args.bench_broker, seed=args.seed, loads=_loads(args.loads),
            latency_seconds=args.latency_seconds, latency_slice_seconds=args.latency_slice_seconds,
            latency_max_events=args.latency_max_events,
            warmup_seconds=args.warmup_seconds, repeat=args.repeat, peer_events=args.peer_events,
            work_seconds=args.work_seconds, slice_seconds=args.slice_seconds,
            broker_warmup_events=max(args.broker_warmup_events, 0),
            low_rate_eps=args.low_rate, low_rate_seconds=args.low_rate_seconds,
            command=shlex.join(["driftline", *sys.argv[1:]]))
    except ValueError as exc:
        print(f"driftline bench: {exc}", file=sys.stderr)
        return 2
    # The harness's own clients (preloading, watching) retry transient broker errors, such as
    # NotLeaderForPartition on a topic created a moment ago; their warnings would bury the progress.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run_bench(options, settings, _progress).to_json()
    except KeyboardInterrupt:
        print("driftline bench: interrupted; everything it started was stopped", file=sys.stderr)
        return _INTERRUPTED
    except (BenchError, BrokerError) as exc:
        print(f"driftline bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n" if args.json
                     else format_table(report))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from driftline.streams.bench.compare import compare, format_comparison

    try:
        comparison = compare(args.compare, args.tolerance)
    except ValueError as exc:
        print(f"driftline bench: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(orjson.dumps(comparison.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
                     if args.json else format_comparison(comparison))
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` stops what the run started."""
    raise KeyboardInterrupt


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
