"""``driftline worker``, ``driftline produce``, ``driftline topics`` and ``driftline tail``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.streams.settings import Settings

if TYPE_CHECKING:
    from driftline.models.synthetic import Drift


def register(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run a scoring worker (a Faust app) until interrupted")
    worker.add_argument("--registry", type=Path, help="registry folder (setting registry)")
    worker.set_defaults(handler=_worker)
    produce = sub.add_parser("produce", help="publish synthetic demo events to the events topic")
    produce.add_argument("--count", type=int, required=True, help="number of events")
    produce.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")
    produce.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    produce.add_argument("--model", help="model name to put in each event (default: none)")
    produce.add_argument("--id-prefix", default="evt", help="event ids are PREFIX-N (default evt)")
    produce.add_argument("--shift", metavar="FEATURE=SIGMAS", help="inject drift: shift a numeric "
                         "feature's mean by SIGMAS standard deviations from the first event on")
    produce.set_defaults(handler=_produce)
    topics = sub.add_parser("topics", help="create driftline's topics (missing ones only)")
    topics.set_defaults(handler=_topics)
    tail = sub.add_parser("tail", help="print records of a topic from the beginning")
    tail.add_argument("topic", help="topic name, e.g. predictions or deadletter")
    tail.add_argument("--count", type=int, default=10, help="stop after this many records (default 10)")
    tail.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")
    tail.set_defaults(handler=_tail)
    for parser in (worker, produce, topics, tail):
        parser.add_argument("--broker", help="Kafka bootstrap host:port (setting broker)")
    for parser in (produce, topics, tail):  # the worker checks its connection itself, after its models
        parser.set_defaults(connects=True)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.worker import run_worker

    return run_worker(settings)


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.produce import produce_events

    def progress(sent: int, total: int) -> None:
        if sent == total or sent % 10_000 == 0:
            print(f"sent {sent}/{total}", file=sys.stderr)

    try:
        drift = _parse_shift(args.shift) if args.shift else None
    except ValueError as exc:
        print(f"driftline produce: {exc}", file=sys.stderr)
        return 2
    sent = asyncio.run(produce_events(settings, args.count, rate=args.rate, seed=args.seed, model=args.model,
                                      id_prefix=args.id_prefix, drift=drift, progress=progress))
    print(f"produced {sent} events to {settings.topic_events}")
    return 0


def _parse_shift(text: str) -> Drift:
    from driftline.models.synthetic import DEMO_FEATURES, Drift, MeanShift

    feature, _, sigmas = text.partition("=")
    numeric = [f.name for f in DEMO_FEATURES if f.type == "numeric"]
    if feature not in numeric:
        raise ValueError(f"--shift: {feature!r} is not a numeric demo feature ({', '.join(numeric)})")
    try:
        return Drift(start=0, mean_shift=MeanShift(feature, float(sigmas)))
    except ValueError:
        raise ValueError(f"--shift: {sigmas!r} is not a number of standard deviations") from None


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.topics import ensure_topics, topic_layout

    asyncio.run(ensure_topics(settings))
    print("topics ready: " + ", ".join(sorted(topic_layout(settings))))
    return 0


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.topics import UnknownTopic, tail

    try:
        seen = asyncio.run(tail(settings, args.topic, count=args.count, timeout=args.timeout,
                                out=lambda line: print(line, flush=True)))
    except UnknownTopic as exc:  # a mistyped name: the user's to fix, like a bad argument
        print(f"driftline tail: {exc}", file=sys.stderr)
        return 2
    return 0 if seen else 1
