"""``driftline models import``: a fitted scikit-learn pipeline and a sample of its data, to a served model.

One step from ``joblib.dump(pipeline)`` and a CSV, Parquet or JSON-lines sample to a registered
version with a reference profile: the card is inferred from the sample, the graph exported and
checked against scikit-learn (``models.importing``), and what was inferred is printed, so the user
can review it, edit it and register again with ``driftline models register``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from driftline.models.card import ModelCard
from driftline.models.registry import Registry
from driftline.streams.commands.models import _guarded, _print_card, _print_json
from driftline.streams.registration import register_with_reference
from driftline.streams.settings import Settings

if TYPE_CHECKING:
    from driftline.models.importing import ImportedModel

#: Exit status of a user's mistake (a missing file, a pipeline or sample that cannot be imported),
#: as argparse uses for a bad command line.
USER_MISTAKE = 2


def register(actions: Any) -> argparse.ArgumentParser:
    """Add ``import`` to ``driftline models``' actions."""
    from driftline.models.importing import SAMPLE_ROWS, TOLERANCE

    imp: argparse.ArgumentParser = actions.add_parser(
        "import", help="export a fitted scikit-learn pipeline (joblib) with a card inferred from a data "
        "sample, check it, and register it with its reference")
    imp.add_argument("model", type=Path, help="joblib.dump of the fitted estimator or pipeline (it is "
                     "unpickled: import only files you trust)")
    imp.add_argument("--sample", type=Path, required=True, help="rows of the training data: .csv, .parquet "
                     "or .jsonl (feature objects, or events with 'features')")
    imp.add_argument("--name", required=True, help="model name (a new version is added if it exists)")
    imp.add_argument("--label", help="the sample's label column: left out of the features, its classes "
                     "become the reference label prior")
    imp.add_argument("--task", choices=["binary", "multiclass", "regression"],
                     help="what the model predicts (default: from the estimator)")
    imp.add_argument("--ranges", choices=["none", "sample"], default="none", help="numeric min/max: none "
                     "(default, no range check) or the sample's (events outside become dead letters)")
    imp.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS, help=f"rows read from the sample, from "
                     f"its start (default {SAMPLE_ROWS}); they are checked and profiled")
    imp.add_argument("--tolerance", type=float, default=TOLERANCE, help=f"largest accepted difference "
                     f"between ONNX and scikit-learn (default {TOLERANCE:g})")
    imp.add_argument("--card-out", type=Path, help="write the inferred card here, and the reference "
                     "sample as JSON lines beside it, ready to edit and register again")
    imp.add_argument("--registry", type=Path, help="registry folder (setting registry)")
    imp.add_argument("--json", action="store_true", help="print JSON instead of text")
    imp.set_defaults(handler=_import)
    return imp


def _import(args: argparse.Namespace, settings: Settings) -> int:
    def run() -> int:
        from driftline.models.importing import import_pipeline

        imported = import_pipeline(args.model, args.sample, name=args.name, label=args.label, task=args.task,
                                   ranges=args.ranges, sample_rows_limit=args.sample_rows,
                                   tolerance=args.tolerance, progress=_progress)
        _progress(f"registering {args.name} with a reference profile of {len(imported.rows)} rows")
        registry = Registry(settings.registry)
        card = _register(registry, imported)
        written = _write_card(args.card_out, card, imported) if args.card_out else None
        report = _Report(card, registry.load(card.name, card.version).path,
                         registry.stage_record(card.name).champion, imported, written)
        return report.print_json() if args.json else report.print_text(args)

    return _refusing(run)


def _register(registry: Registry, imported: ImportedModel) -> ModelCard:
    with tempfile.TemporaryDirectory(prefix="driftline-import-") as scratch:
        artifact = Path(scratch) / "model.onnx"
        artifact.write_bytes(imported.artifact)
        return register_with_reference(registry, artifact, imported.card, imported.rows,
                                       imported.labels).card


def _write_card(path: Path, card: ModelCard, imported: ImportedModel) -> tuple[Path, Path]:
    """The card as a user edits it (no version, digest or date: registration sets them), and its
    reference sample as ``driftline models register --reference`` reads it."""
    editable = {k: v for k, v in card.to_dict().items() if k not in ("version", "sha256", "created_at")}
    path.write_bytes(orjson.dumps(editable, option=orjson.OPT_INDENT_2) + b"\n")
    reference = path.with_name(f"{path.stem}.reference.jsonl")
    labels: list[str | None] = [None] * len(imported.rows) if imported.labels is None else [*imported.labels]
    reference.write_bytes(b"".join(orjson.dumps({"features": row} | ({"label": y} if y is not None else {}))
                                   + b"\n" for row, y in zip(imported.rows, labels, strict=True)))
    return path, reference


class _Report:
    """What the import did and inferred, and how to change it."""

    def __init__(self, card: ModelCard, artifact: Path, champion: int | None, imported: ImportedModel,
                 written: tuple[Path, Path] | None) -> None:
        self.card, self.artifact, self.champion = card, artifact, champion
        self.parity, self.rows, self.written = imported.parity, len(imported.rows), written

    def print_json(self) -> int:
        _print_json({"card": self.card.to_dict(), "version": self.card.version, "champion": self.champion,
                     "artifact": str(self.artifact), "reference_rows": self.rows,
                     "parity": {"rows": self.parity.rows, "max_abs_diff": self.parity.max_abs_diff,
                                "tied_labels": self.parity.tied_labels},
                     "card_out": [str(p) for p in self.written] if self.written else None})
        return 0

    def print_text(self, args: argparse.Namespace) -> int:
        _print_card(self.card, args)
        print(f"  output: {self.card.output.to_dict()}")
        name, version = self.card.name, self.card.version
        print(f"  champion: v{self.champion}" + ("" if self.champion == version else
              f" (this is v{version}: driftline models promote {name} {version})"))
        print(f"ONNX Runtime answers like scikit-learn on {self.parity.rows} sample rows (largest difference "
              f"{self.parity.max_abs_diff:.2g}); drift is judged against a profile of {self.rows} rows.")
        for line in _notes(self.card):
            print(f"note: {line}")
        self._print_next_steps()
        return 0

    def _print_next_steps(self) -> None:
        if self.written is None:
            print("to edit the card: import again with --card-out card.json, or start from "
                  f"driftline models show {self.card.name} --json")
            return
        card, reference = self.written
        print(f"wrote {card} and {reference}; to change the card, edit it and register again:\n"
              f"  driftline models register {self.artifact} --name {self.card.name} --card {card} "
              f"--reference {reference}")


def _notes(card: ModelCard) -> list[str]:
    """What the card's inferred values mean for the events the worker will see."""
    ranged = any(f.min is not None or f.max is not None for f in card.features)
    notes = [("numeric ranges are the sample's min and max: an event outside them becomes a dead letter "
              "(out_of_range); widen them in the card if the sample is small" if ranged else
              "numeric ranges are open (not checked); --ranges sample sets them to the sample's min and max, "
              "and events outside them then become dead letters (out_of_range)"),
             "a feature is nullable only if the sample has a null in it; a null elsewhere is a dead letter"]
    if any(f.type == "categorical" for f in card.features):
        notes.append('categories are those of the sample and of the model\'s encoders; any other is fed as '
                     '__other__ (unseen "other", the encoder ignores it); "unseen": "strict" dead-letters it')
    return notes


def _progress(message: str) -> None:
    print(f"{message} ...", file=sys.stderr, flush=True)


def _refusing(run: Callable[[], int]) -> int:
    """``_guarded`` (registry and card faults: exit 3), and a user's mistake: one line, exit 2."""
    from driftline.models.importing import ImportRefused

    def attempt() -> int:
        try:
            return run()
        except ImportRefused as exc:
            print(f"driftline models import: {exc}", file=sys.stderr)
        except ModuleNotFoundError as exc:  # the train extras are not installed where the worker runs
            print(f"driftline models import needs the train extras ({exc.name} is missing): "
                  f"pip install 'driftline[train]'", file=sys.stderr)
        return USER_MISTAKE

    return _guarded(attempt)
