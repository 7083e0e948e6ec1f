"""``driftline models``: register, inspect and promote model versions in the file registry."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from driftline.models.card import ModelCard, read_card_file
from driftline.models.errors import CardError, ModelError, ReferenceSampleError
from driftline.models.reference_sample import REJECT_POLICIES
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
    reg.add_argument("--reference-rejects", choices=REJECT_POLICIES, default="refuse",
                     help="what to do with reference rows that live validation would reject: refuse the "
                     "sample (default) or skip them and build the profile from the valid rows; either way "
                     "the rejections are counted per error code")
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
        card = read_card_file(card_path, name=args.name)
        sample = _reference_sample(args.reference) if args.reference else None
        rows, labels, lines = sample or (None, None, None)
        registry = Registry(settings.registry)
        registered = register_with_reference(registry, artifact, card, rows, labels,
                                             rejects=args.reference_rejects, lines=lines)
        if registered.reference is not None and registered.reference.rejected:
            print(f"driftline models register: skipped {registered.reference.summary()}", file=sys.stderr)
        _print_card(registered.card, args)
        print(_stages_after_registration(registry, registered.card, args), file=sys.stderr)
        return 0

    # What the user handed in (the card, the reference sample) is theirs to fix: exit 2.
    return _guarded(run, user_input=(CardError, ReferenceSampleError))


def _stages_after_registration(registry: Registry, card: ModelCard, args: argparse.Namespace) -> str:
    """Which version serves now, and the command that tells running workers about the new one."""
    name, version = card.name, card.version
    where = f" --registry {args.registry}" if args.registry else ""
    promote = f"driftline models promote {name} {version}{where}"
    champion = registry.stage_record(name).champion
    if champion == version:
        return (f"{name} v{version} is the champion (the model had none); workers started from now on serve "
                f"it, running ones once told: {promote}")
    return f"{name} v{version} registered; the champion is still v{champion}; to serve v{version}: {promote}"


def _reference_sample(path: Path) -> tuple[list[dict[str, Any]], list[Any] | None, list[int]]:
    """Rows of a JSON-lines reference sample, its labels when every line carries one, and each
    row's line number (for messages about a row)."""
    rows, labels, lines = [], [], []
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ReferenceSampleError(f"cannot read the reference sample {path}: {exc.strerror}",
                                   field="reference") from None
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        features, label = _reference_row(path, number, line)
        rows.append(features)
        labels.append(label)
        lines.append(number)
    if not rows:
        raise ReferenceSampleError(f"{path} holds no reference rows", field="reference")
    return rows, labels if all(label is not None for label in labels) else None, lines


def _reference_row(path: Path, number: int, line: bytes) -> tuple[dict[str, Any], Any]:
    """One line's feature object (the event's ``features``, or the line itself) and its label."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ReferenceSampleError(f"{path}:{number}: not JSON: {exc}", field="reference") from None
    features = obj.get("features", obj) if isinstance(obj, dict) else obj
    if not isinstance(features, dict):
        shown = line[:60].decode("utf-8", "replace")
        raise ReferenceSampleError(f"{path}:{number}: a reference line must be a JSON object of features, "
                                   f"or an event whose 'features' is one, not {shown}", field="reference")
    return features, obj.get("label")


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


#: Exit status of a mistake in what the user handed in (a card, a reference sample).
USER_MISTAKE = 2
#: Exit status of a registry or artifact fault (as for a worker that cannot serve).
MODEL_FAULT = 3


def _guarded(run: Any, user_input: tuple[type[ModelError], ...] = ()) -> int:
    """Run a command; a model-layer fault becomes one line naming the file or field, and exit 3,
    or 2 for the ``user_input`` kinds (mistakes in what the command was given)."""
    try:
        result: int = run()
    except ModelError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        print(f"driftline models: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return USER_MISTAKE if isinstance(exc, user_input) else MODEL_FAULT
    except OSError as exc:  # an unreadable registry file or folder
        print(f"driftline models: {exc}", file=sys.stderr)
        return MODEL_FAULT
    return result
