"""``driftline models canary|shadow|rollback``: change how versions serve, on live traffic.

Each command checks the version loads as a worker would load it (sha256, reference profile),
changes the model's stages in the registry, then publishes the change on ``model-updates``; every
running worker reloads the model's stages between two batches. ``--no-notify`` changes only the
registry (workers pick it up when they restart).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from driftline.models.registry import Registry
from driftline.models.stages import StageError, Stages
from driftline.streams.commands.models import MODEL_FAULT, _guarded, _print_json
from driftline.streams.settings import Settings


def register(actions: Any) -> list[argparse.ArgumentParser]:
    canary = actions.add_parser("canary", help="let a version answer a share of the events")
    canary.add_argument("name")
    canary.add_argument("version", type=int)
    canary.add_argument("--share", type=float, required=True,
                        help="share of events the canary answers, e.g. 0.05 (chosen by event id)")
    canary.set_defaults(handler=_canary)
    shadow = actions.add_parser("shadow", help="score every event with a version too, for the shadow topic")
    shadow.add_argument("name")
    shadow.add_argument("version", type=int)
    shadow.add_argument("--off", action="store_true", help="stop shadowing this version")
    shadow.set_defaults(handler=_shadow)
    rollback = actions.add_parser("rollback", help="end the canary, or else restore the previous champion")
    rollback.add_argument("name")
    rollback.set_defaults(handler=_rollback)
    parsers = [canary, shadow, rollback]
    for parser in parsers:
        parser.add_argument("--no-notify", action="store_true",
                            help="only change the registry; do not tell running workers")
        parser.add_argument("--broker", help="Kafka bootstrap host:port (setting broker)")
        parser.set_defaults(connects=True)
    return parsers


def _canary(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        registry = _checked(settings, args.name, args.version)
        _, after = registry.change_stages(args.name, lambda s: s.with_canary(args.version, args.share))
        return _announce(settings, args, after, f"canary v{args.version} on {args.share:.1%} of events",
                         {"action": "canary", "version": args.version, "share": args.share})

    return _stage_guarded(run)


def _shadow(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        registry = Registry(settings.registry) if args.off else _checked(settings, args.name, args.version)
        _, after = registry.change_stages(args.name, lambda s: s.with_shadow(args.version, on=not args.off))
        what = f"shadow v{args.version} {'off' if args.off else 'on'}"
        return _announce(settings, args, after, what,
                         {"action": "shadow", "version": args.version, "on": not args.off})

    return _stage_guarded(run)


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        registry = Registry(settings.registry)
        before = registry.stage_record(args.name)
        _, what = before.rolled_back()  # refuses before anything is loaded or written
        if before.canary is None and before.history:
            _checked(settings, args.name, before.history[-1])
        _, after = registry.change_stages(args.name, lambda s: s.rolled_back()[0])
        retired = before.canary if before.canary is not None else before.champion
        return _announce(settings, args, after, what, {"action": "rollback", "what": what},
                         retired=retired)

    return _stage_guarded(run)


def _checked(settings: Settings, name: str, version: int) -> Registry:
    """Load ``version`` as every worker will before anyone is told to serve it."""
    from driftline.streams.serving import load_served_model

    registry = Registry(settings.registry)
    load_served_model(registry, name, monitors=True, version=version)
    return registry


def _stage_guarded(run: Any) -> int:
    try:
        return _guarded(run)
    except StageError as exc:
        print(f"driftline models: {exc}", file=sys.stderr)
        return MODEL_FAULT


def _announce(settings: Settings, args: argparse.Namespace, stages: Stages, what: str,
              update: dict[str, Any], *, retired: int | None = None) -> int:
    """Print the new stages and tell the workers (unless ``--no-notify``)."""
    print(f"{args.name}: {what}", file=sys.stderr)
    _print_json({"model": args.name, **stages.to_dict()})
    if args.no_notify:
        return 0
    from aiokafka.errors import KafkaError

    from driftline.streams.commands.models import _retire_alerts
    from driftline.streams.model_updates import publish_update

    try:
        asyncio.run(publish_update(settings, args.name, **update, stages=stages.to_dict()))
        if retired is not None and retired not in stages.serving and stages.champion is not None:
            asyncio.run(_retire_alerts(settings, args.name, promoted=stages.champion, retired=retired))
    except KafkaError as exc:
        print(f"driftline models: the registry changed, but telling the workers through "
              f"{settings.topic_model_updates} failed ({exc}); they apply it when they restart",
              file=sys.stderr)
        return 1
    print(f"workers told through {settings.topic_model_updates}", file=sys.stderr)
    return 0
