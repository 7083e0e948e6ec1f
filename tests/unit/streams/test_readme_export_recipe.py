"""The README's "Add a model" recipes work as printed: the export blocks run, their graphs register."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.models.card import ModelCard
from driftline.models.registry import Registry
from driftline.models.runtime import columns_from_rows
from driftline.streams.cli import build_parser

README = Path(__file__).resolve().parents[3] / "README.md"


def section() -> str:
    return README.read_text(encoding="utf-8").split("## Add a model\n", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section(), flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The README's Python blocks, run in order in one namespace, in a folder of their own."""
    folder = tmp_path_factory.mktemp("recipe")
    namespace: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for code in blocks("python"):
            exec(compile(code, str(README), "exec"), namespace)
    return folder, namespace


def register(folder: Path, artifact: str, card: str) -> Any:
    raw = orjson.loads((folder / card).read_bytes())
    registry = Registry(folder / "registry")
    registered = registry.register(folder / artifact, ModelCard.from_dict(raw))
    return registry.load(registered.name, registered.version)


def test_the_readme_has_both_export_recipes() -> None:
    assert len(blocks("python")) == 2


def test_the_per_feature_export_registers_and_answers_like_scikit_learn(
        recipe: tuple[Path, dict[str, Any]]) -> None:
    folder, namespace = recipe
    served = register(folder, "model.onnx", "card.json")
    train = namespace["train"]
    rows = [{"amount": None if np.isnan(a) else float(a), "channel": c}
            for a, c in zip(train["amount"], train["channel"], strict=True)]
    got = served.predict(columns_from_rows(served.card, rows)).probabilities
    assert np.allclose(got, namespace["pipeline"].predict_proba(train), atol=1e-4)
    # An unseen category reaches the graph as __other__ and is ignored, not an error.
    other = served.predict(columns_from_rows(served.card, [{"amount": 10.0, "channel": "kiosk"}]))
    assert other.probabilities is not None and other.probabilities.shape == (1, 2)


def test_the_single_tensor_export_registers_and_answers_like_scikit_learn(
        recipe: tuple[Path, dict[str, Any]]) -> None:
    folder, namespace = recipe
    served = register(folder, "forest.onnx", "forest-card.json")
    matrix = namespace["X"]
    rows = [{"amount": float(a), "hour": float(h)} for a, h in matrix]
    got = served.predict(columns_from_rows(served.card, rows)).probabilities
    assert np.allclose(got, namespace["forest"].predict_proba(matrix), atol=1e-4)


def test_every_import_option_the_readme_shows_exists() -> None:
    shown = set(re.findall(r"(--[a-z-]+)", "\n".join(b for b in blocks("bash") if "models import" in b)))
    shown |= set(re.findall(r"`(--[a-z-]+)", section().split("### From a scikit-learn", 1)[1]
                            .split("### Export by hand", 1)[0]))
    parser = build_parser()
    models = next(a for a in parser._subparsers._group_actions[0].choices["models"]._actions
                  if a.choices and "import" in a.choices)
    known = set(models.choices["import"]._option_string_actions)
    assert shown and shown <= known, shown - known
