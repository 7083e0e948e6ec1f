"""``driftline``: the single command-line entry point.

Each subcommand's flags override the matching setting (see ``streams.settings``); anything not
given on the command line comes from ``DRIFTLINE_*`` variables, the config file, or defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from driftline.streams.security import TransportSettingsError
from driftline.streams.settings import Settings, SettingsError, load_settings

log = logging.getLogger("driftline")

Handler = Callable[[argparse.Namespace, Settings], int]

#: Exit codes. 2: a mistake in what the user gave (arguments, settings, a model card, a reference
#: sample, a topic name); 3: what the command found (a damaged registry or artifact, a broker that
#: does not answer or refuses us). 1: a command did part of its work (see its message).
USER_MISTAKE = 2
INFRASTRUCTURE = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config).with_overrides(**_overrides(args))
    except SettingsError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return USER_MISTAKE
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    if getattr(args, "connects", False):
        return _run_connected(handler, args, settings)
    return handler(args, settings)


def _run_connected(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    """A command that talks to Kafka: a cluster that does not answer, a refused handshake,
    security settings that do not fit and a missing ACL are a person's to fix, so they end it
    with one line and exit code 3. Reachability is checked first, before the command changes
    anything (``--no-notify`` commands need no broker and are not checked)."""
    from aiokafka.errors import KafkaConnectionError

    from driftline.streams.connection import (
        AUTHORIZATION_ERRORS,
        BrokerUnreachable,
        HandshakeRefused,
        check_handshake,
        check_reachable,
        not_authorized,
        unreachable,
    )

    try:
        asyncio.run(check_handshake(settings))
        if not getattr(args, "no_notify", False):
            asyncio.run(check_reachable(settings))
        return handler(args, settings)
    except (TransportSettingsError, HandshakeRefused, BrokerUnreachable) as exc:
        print(f"driftline: {exc}", file=sys.stderr)
    except KafkaConnectionError as exc:  # the cluster went away after the check
        print(f"driftline: {unreachable(settings, exc)}", file=sys.stderr)
    except AUTHORIZATION_ERRORS as exc:
        print(f"driftline: {not_authorized(settings, exc)}", file=sys.stderr)
    return INFRASTRUCTURE


def build_parser() -> argparse.ArgumentParser:
    from driftline.streams.commands import alerts, bench, kafka, models, worker

    parser = argparse.ArgumentParser(prog="driftline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML config file (default: $DRIFTLINE_CONFIG)")
    parser.add_argument("--log-level", dest="log_level", help="debug, info, warning, error or critical")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    kafka.register(sub)
    models.register(sub)
    worker.register(sub)
    bench.register(sub)
    alerts.register(sub)
    settings = sub.add_parser("settings", help="print the effective settings as JSON")
    settings.set_defaults(handler=_print_settings)
    return parser


def _print_settings(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(orjson.dumps(settings.public(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """Flags whose ``dest`` is a setting's name override that setting."""
    names = set(Settings.__dataclass_fields__)
    return {k: v for k, v in vars(args).items() if k in names}


if __name__ == "__main__":
    raise SystemExit(main())
