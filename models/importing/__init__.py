"""From a fitted scikit-learn pipeline and a sample of its training rows to a model driftline can serve.

``import_pipeline`` reads both, infers the model card (`inference`), exports the graph with the
options driftline's feeding rules need (`export`), and checks the graph against scikit-learn on
the sample through the worker's own scoring path (`parity`). Registering the result with its
reference profile is the caller's (``driftline models import`` in ``streams``), since building a
profile needs the detectors. pandas, pyarrow, joblib, scikit-learn and skl2onnx are the optional
``train`` extras, imported only when an import runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from driftline.models.card import ModelCard, Task
from driftline.models.errors import CardError
from driftline.models.importing.errors import ImportRefused
from driftline.models.importing.export import export_onnx
from driftline.models.importing.inference import MAX_CATEGORIES, Ranges, infer_card
from driftline.models.importing.parity import TOLERANCE, Parity, check_parity, sample_rows
from driftline.models.importing.sample import load_estimator, read_sample
from driftline.models.runtime import OnnxModel, Row

__all__ = ["MAX_CATEGORIES", "TOLERANCE", "ImportRefused", "ImportedModel", "Parity", "import_pipeline"]

#: Rows of the sample read by default: enough for a reference profile's bins, cheap to score twice.
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class ImportedModel:
    """An exported, checked model, ready to register: its graph, card, and reference rows and labels."""

    artifact: bytes
    card: ModelCard
    rows: list[Row]
    #: One per row for a classifier's sample with a complete label column; else None (no label prior).
    labels: list[str] | None
    parity: Parity


def import_pipeline(model_path: Path, sample_path: Path, *, name: str, label: str | None = None,
                    task: Task | None = None, ranges: Ranges = "none", sample_rows_limit: int = SAMPLE_ROWS,
                    tolerance: float = TOLERANCE,
                    progress: Callable[[str], None] = lambda _: None) -> ImportedModel:
    """Read, infer, export and check; every user mistake raises `ImportRefused` saying what to do."""
    estimator = load_estimator(model_path)
    progress(f"reading up to {sample_rows_limit} rows of {sample_path}")
    frame = read_sample(sample_path, limit=sample_rows_limit)
    card = infer_card(estimator, frame, name=name, label=label, task=task, ranges=ranges,
                      source=sample_path.name)
    progress(f"exporting {type(estimator).__name__} with skl2onnx")
    artifact = export_onnx(estimator, card)
    progress(f"checking ONNX Runtime against scikit-learn on {len(frame)} rows")
    rows = sample_rows(frame, card)
    parity = check_parity(estimator, _loaded(artifact, card), frame, rows, tolerance=tolerance)
    card = replace(card, metrics={"onnx_max_abs_diff": parity.max_abs_diff})
    return ImportedModel(artifact, card, rows, _labels(frame, label, card), parity)


def _loaded(artifact: bytes, card: ModelCard) -> OnnxModel:
    """The graph in ONNX Runtime, its inputs and outputs checked against the card as registration will."""
    with tempfile.TemporaryDirectory(prefix="driftline-import-") as scratch:
        path = Path(scratch) / "model.onnx"
        path.write_bytes(artifact)
        model = OnnxModel.load(path, card, expected_sha256=None)
    try:
        model.check_inputs()
        model.check_outputs()
    except CardError as exc:  # the export and the inferred card must fit; if not, the user learns why
        raise ImportRefused(f"the exported graph does not fit the inferred card: {exc}",
                            field="model") from None
    return model


def _labels(frame: Any, label: str | None, card: ModelCard) -> list[str] | None:
    """The label prior's labels: a classifier's, as class names, when no row lacks one."""
    if label is None or not card.output.is_classifier or frame[label].isna().any():
        return None
    return [str(v) for v in frame[label].tolist()]
