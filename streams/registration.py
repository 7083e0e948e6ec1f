"""Registering a model version together with its reference profile.

The registry (``models``) stores whatever profile it is given; building one needs the drift
detectors' binning layout (``detectors``), and ``models`` must not depend on ``detectors``. So
the two meet here, where the CLI and the tests call them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from driftline.detectors.reference import build_reference_for
from driftline.models.card import ModelCard
from driftline.models.demo import train_demo_model
from driftline.models.registry import Registry
from driftline.models.runtime import OnnxModel
from driftline.models.synthetic import SyntheticStream

#: Training rows of the demo model; its reference profile is built from the same rows.
DEMO_TRAINING_ROWS = 20_000


def register_with_reference(registry: Registry, artifact: Path, card: ModelCard,
                            reference_rows: Sequence[Mapping[str, Any]] | None,
                            labels: Sequence[Any] | None = None) -> ModelCard:
    """Register ``artifact``; with reference rows, also store the profile drift is judged against.

    ``labels``, one per row when given, become the profile's label prior.
    """
    if not reference_rows:
        return registry.register(artifact, card)
    model = OnnxModel.load(artifact, card, expected_sha256=card.sha256)
    profile = build_reference_for(card, reference_rows, model, labels=labels)
    return registry.register(artifact, card, reference=profile.to_dict())


def register_demo_with_reference(registry: Registry, *, seed: int = 7) -> ModelCard:
    """Train the demo model and register it with the profile of its own training rows."""
    with tempfile.TemporaryDirectory(prefix="driftline-demo-") as scratch:
        artifact, card = train_demo_model(Path(scratch), seed=seed, n_train=DEMO_TRAINING_ROWS)
        rows, labels = SyntheticStream(seed=seed).sample(DEMO_TRAINING_ROWS)
        return register_with_reference(registry, artifact, card, rows, labels.tolist())
