"""``driftline models``: register, inspect and promote model versions in the file registry."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from driftline.models.card import ModelCard
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.streams.registration import register_with_reference
from driftline.streams.settings import Settings


def register(sub: Any) -> None:
    models = sub.add_parser("models", help="the model registry")
    actions = models.add_subparsers(title="actions", metavar="ACTION")
    demo = actions.add_parser("demo", help="train, export and register the seeded demo model")
    demo.add_argument("--seed", type=int, default=7, help="training data seed (default 7)")
    demo.set_defaults(handler=_demo)
    reg = actions.add_parser("register", help="verify an ONNX artifact against its card and register it")
    reg.add_argument("path", type=Path, help="model.onnx, or a folder holding model.onnx and card.json")
    reg.add_argument("--name", required=True, help="model name (a new version is added if it exists)")
    reg.add_argument("--card", type=Path, help="model card JSON (default: card.json beside the artifact)")
    reg.add_argument("--reference", type=Path, help="reference sample for drift: JSON lines of events "
                     "(with 'features', and 'label' for the label prior) or of feature objects; without "
                     "it, drift is not monitored")
    reg.set_defaults(handler=_register)
    listing = actions.add_parser("list", help="registered models, their versions and champions")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="a version's model card (the champion by default)")
    show.add_argument("name")
    show.add_argument("--version", type=int, dest="model_version", help="version (default: champion)")
    show.set_defaults(handler=_show)
    promote = actions.add_parser("promote", help="make a version the champion")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("--no-notify", action="store_true", help="only change the registry; do not "
                         "publish to the model-updates topic (running workers keep the old champion)")
    promote.add_argument("--broker", help="Kafka bootstrap host:port (setting broker)")
    promote.set_defaults(handler=_promote, connects=True)
    from driftline.streams.commands import importing, rollout

    staging = rollout.register(actions)
    importing.register(actions)
    for parser in (demo, reg, listing, show, promote, *staging):
        parser.add_argument("--registry", type=Path, help="registry folder (setting registry)")
    for parser in (reg, listing, show, promote, demo):
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.registration import register_demo_with_reference

    print(f"training the demo model (seed {args.seed}) ...", file=sys.stderr)
    registry = Registry(settings.registry)
    return _guarded(lambda: _print_card(register_demo_with_reference(registry, seed=args.seed), args))


def _register(args: argparse.Namespace, settings: Settings) -> int:
    artifact = args.path / "model.onnx" if args.path.is_dir() else args.path
    card_path = args.card or artifact.parent / "card.json"

    def run() -> int:
        if not card_path.exists():
            raise ModelError(f"no model card at {card_path}; pass --card", field="card")
        raw = orjson.loads(card_path.read_bytes())
        raw["name"] = args.name
        rows, labels = _reference_sample(args.reference) if args.reference else (None, None)
        card = register_with_reference(Registry(settings.registry), artifact, ModelCard.from_dict(raw),
                                       rows, labels)
        return _print_card(card, args)

    return _guarded(run)


def _reference_sample(path: Path) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """Rows of a JSON-lines reference sample, and its labels when every line carries one."""
    rows, labels = [], []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ModelError(f"{path}:{number}: not JSON: {exc}", field="reference") from None
        if not isinstance(obj, dict):
            raise ModelError(f"{path}:{number}: a reference line is a JSON object", field="reference")
        rows.append(obj.get("features", obj))
        labels.append(obj.get("label"))
    if not rows:
        raise ModelError(f"{path} holds no reference rows", field="reference")
    return rows, labels if all(label is not None for label in labels) else None


def _list(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        models = Registry(settings.registry).list_models()
        if args.json:
            _print_json(models)
            return 0
        if not models:
            print(f"no models in {settings.registry}")
        for m in models:
            print(f"{m['name']}: versions {m['versions']}, {_stages_line(m['stages'])}")
        return 0

    return _guarded(run)


def _stages_line(stages: dict[str, Any]) -> str:
    parts = [f"champion {stages.get('champion')}"]
    if stages.get("canary"):
        parts.append(f"canary {stages['canary']['version']} on {stages['canary']['share']:.1%}")
    if stages.get("shadows"):
        parts.append("shadows " + ", ".join(str(v) for v in stages["shadows"]))
    if stages.get("history"):
        parts.append("former champions " + ", ".join(str(v) for v in stages["history"]))
    return "; ".join(parts)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry(settings.registry)

    def run() -> int:
        card = registry.card(args.name, args.model_version)
        stages = registry.stage_record(args.name).to_dict()
        if args.json:
            _print_json({**card.to_dict(), "stages": stages})
            return 0
        _print_card(card, args)
        print(f"  stages: {_stages_line(stages)}")
        return 0

    return _guarded(run)


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        from driftline.streams.serving import load_served_model

        registry = Registry(settings.registry)
        # What every worker will do with it, done first: a tampered artifact or an unreadable
        # profile is refused here, not by each worker after the fleet was told to switch.
        load_served_model(registry, args.name, monitors=True, version=args.version)
        previous = registry.promote(args.name, args.version)
        _print_card(registry.card(args.name, args.version), args)
        if args.no_notify:
            return 0
        return _notify_workers(settings, args.name, args.version, previous)

    return _guarded(run)


def _notify_workers(settings: Settings, name: str, version: int, previous: int | None) -> int:
    from aiokafka.errors import KafkaError

    from driftline.streams.model_updates import publish_update

    try:
        asyncio.run(publish_update(settings, name, "promote", version=version, previous=previous))
    except KafkaError as exc:
        print(f"driftline models promote: v{version} is champion in the registry, but telling the workers "
              f"through {settings.topic_model_updates} failed ({exc}); they load it when they restart",
              file=sys.stderr)
        return 1
    print(f"workers told through {settings.topic_model_updates}: {name} v{version} (was v{previous})",
          file=sys.stderr)
    try:
        resolved = asyncio.run(_retire_alerts(settings, name, promoted=version, retired=previous))
    except KafkaError as exc:
        print(f"driftline models promote: the open alerts of v{previous} could not be resolved ({exc}); "
              f"resolve them in your incident tooling", file=sys.stderr)
        return 1
    if resolved:
        print(f"resolved {resolved} open alerts of {name} v{previous} on {settings.topic_alerts}",
              file=sys.stderr)
    return 0


async def _retire_alerts(settings: Settings, name: str, *, promoted: int, retired: int | None) -> int:
    """Resolve the open alerts of the version that stopped serving; the promoted one may alert again."""
    from driftline.streams.alert_ledger import AlertLedger

    async with AlertLedger(settings, source=f"driftline/{settings.app_id}/models-promote") as ledger:
        await ledger.reinstate_version(name, promoted)
        if retired is None or retired == promoted:
            return 0
        return await ledger.resolve_version(name, retired, f"v{retired} retired: v{promoted} promoted")


def _print_card(card: ModelCard, args: argparse.Namespace) -> int:
    if args.json:
        _print_json(card.to_dict())
        return 0
    print(f"{card.name} v{card.version}  sha256 {card.sha256}")
    for f in card.features:
        domain = f"[{f.min}, {f.max}]" if f.type == "numeric" else f"{list(f.categories)} unseen={f.unseen}"
        print(f"  {f.name:<28} {f.type:<12} {domain}{'  nullable' if f.nullable else ''}")
    if card.metrics:
        print("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in card.metrics.items()))
    return 0


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


#: Exit status of a registry, card or model fault (as for a worker that cannot serve).
MODEL_FAULT = 3


def _guarded(run: Any) -> int:
    """Run a command; a model-layer fault becomes one line naming the file or field, and exit 3."""
    try:
        result: int = run()
    except ModelError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        print(f"driftline models: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return MODEL_FAULT
    except OSError as exc:  # an unreadable registry file or folder
        print(f"driftline models: {exc}", file=sys.stderr)
        return MODEL_FAULT
    return result
