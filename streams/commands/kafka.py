"""``driftline kafka start|stop``: a real single-node Kafka (KRaft) for development and tests."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.settings import Settings


def register(sub: Any) -> None:
    kafka = sub.add_parser("kafka", help="run a local single-node Apache Kafka (KRaft) from Maven jars")
    actions = kafka.add_subparsers(title="actions", metavar="ACTION")
    start = actions.add_parser("start", help="resolve the jars, format storage if new, start and wait "
                               "until the broker answers")
    stop = actions.add_parser("stop", help="stop the broker recorded in the data folder")
    for parser in (start, stop):
        parser.add_argument("--data-dir", dest="kafka_data_dir", help="broker data folder "
                            "(setting kafka_data_dir, default .driftline/kafka)")
    start.add_argument("--port", dest="kafka_port", type=int, help="listener port (setting kafka_port, "
                       "default 9092)")
    start.set_defaults(handler=_start)
    stop.set_defaults(handler=_stop)


def _start(args: argparse.Namespace, settings: Settings) -> int:
    from streams.broker import BrokerError, start

    try:
        handle = start(port=settings.kafka_port, data_dir=settings.kafka_data_dir)
    except BrokerError as exc:
        print(f"driftline kafka start: {exc}", file=sys.stderr)
        return 1
    print(f"kafka is listening on {handle.bootstrap} (pid {handle.pid}, data {handle.data_dir}, "
          f"log {handle.log_path})")
    return 0


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    from streams.broker import stop

    was_running = stop(settings.kafka_data_dir)
    print("kafka stopped" if was_running else f"no kafka was running from {settings.kafka_data_dir}")
    return 0
