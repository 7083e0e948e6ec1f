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
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    if getattr(args, "connects", False):
        return _run_connected(handler, args, settings)
    return handler(args, settings)


def _run_connected(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    """A command that talks to Kafka: a refused handshake, security settings that do not fit and
    a missing ACL are a person's to fix, so they end it with one line and exit code 3."""
    from driftline.streams.connection import (
        AUTHORIZATION_ERRORS,
        HandshakeRefused,
        check_handshake,
        not_authorized,
    )

    try:
        asyncio.run(check_handshake(settings))
        return handler(args, settings)
    except (TransportSettingsError, HandshakeRefused) as exc:
        print(f"driftline: {exc}", file=sys.stderr)
    except AUTHORIZATION_ERRORS as exc:
        print(f"driftline: {not_authorized(settings, exc)}", file=sys.stderr)
    return 3


def build_parser() -> argparse.ArgumentParser:
    from driftline.streams.commands import alerts, bench, kafka, models, worker

    parser = argparse.ArgumentParser(prog="driftline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML config file (default: $DRIFTLINE_CONFIG)")
    parser.add_argument("--log-level", dest="log_level", help="debug, info, warning or error")
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
