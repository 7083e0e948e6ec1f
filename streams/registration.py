"""Registering a model version together with its reference profile.

The registry (``models``) stores whatever profile it is given; building one needs the drift
detectors' binning layout (``detectors``), and ``models`` must not depend on ``detectors``. So
the two meet here, where the CLI and the tests call them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.detectors.reference import build_reference_for
from driftline.models.card import ModelCard
from driftline.models.demo import train_demo_model
from driftline.models.reference_sample import RejectPolicy, ScreenedSample, screen_reference
from driftline.models.registry import Registry, validate_artifact
from driftline.models.synthetic import SyntheticStream

#: Training rows of the demo model; its reference profile is built from the same rows.
DEMO_TRAINING_ROWS = 20_000


@dataclass(frozen=True)
class Registered:
    """A registered version's card and, when a reference sample came with it, what was kept of it."""

    card: ModelCard
    reference: ScreenedSample | None


def register_with_reference(registry: Registry, artifact: Path, card: ModelCard,
                            reference_rows: Sequence[Mapping[str, Any]] | None,
                            labels: Sequence[Any] | None = None, *, rejects: RejectPolicy = "refuse",
                            lines: Sequence[int] | None = None) -> Registered:
    """Register ``artifact``; with reference rows, also store the profile drift is judged against.

    The order matters: the artifact is checked against its card (the registry's own validation)
    before the reference is scored, so a card that names an input the graph lacks is reported as
    such rather than as an ONNX Runtime failure on the sample; then the sample is validated like
    live events (`screen_reference`; ``rejects`` and ``lines`` are passed on). ``labels``, one per
    row when given, become the profile's label prior.
    """
    model = validate_artifact(artifact, card)
    if not reference_rows:
        return Registered(registry.register(artifact, card), None)
    sample = screen_reference(card, reference_rows, labels, rejects=rejects, lines=lines)
    profile = build_reference_for(card, sample.rows, model, labels=sample.labels)
    return Registered(registry.register(artifact, card, reference=profile.to_dict()), sample)


def register_demo_with_reference(registry: Registry, *, seed: int = 7) -> ModelCard:
    """Train the demo model and register it with the profile of its own training rows."""
    with tempfile.TemporaryDirectory(prefix="driftline-demo-") as scratch:
        artifact, card = train_demo_model(Path(scratch), seed=seed, n_train=DEMO_TRAINING_ROWS)
        rows, labels = SyntheticStream(seed=seed).sample(DEMO_TRAINING_ROWS)
        return register_with_reference(registry, artifact, card, rows, labels.tolist()).card
