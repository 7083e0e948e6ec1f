"""`driftline models import` as a user runs it: the card printed and written, mistakes in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import joblib
import orjson
import pytest

from tests.command import DRIFTLINE
from tests.import_data import CATEGORICAL, NUMERIC, column_pipeline, customers

FEATURES = [*NUMERIC, *CATEGORICAL]


def driftline(*args: str | Path, registry: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRIFTLINE, *map(str, args), "--registry", str(registry)],
                          capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with churn.joblib (a fitted pipeline) and training.csv (its rows and label)."""
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("dumped")
    frame = customers(500, seed=4)
    joblib.dump(column_pipeline(LogisticRegression()).fit(frame[FEATURES], frame["churned"]),
                folder / "churn.joblib")
    frame.to_csv(folder / "training.csv", index=False)
    return folder


def test_import_prints_the_card_writes_it_and_the_recipe_registers_it_again(dumped: Path,
                                                                            tmp_path: Path) -> None:
    registry, card = tmp_path / "registry", tmp_path / "card.json"
    done = driftline("models", "import", dumped / "churn.joblib", "--sample", dumped / "training.csv",
                     "--label", "churned", "--name", "churn", "--card-out", card, registry=registry)
    assert done.returncode == 0, done.stderr
    assert "champion: v1" in done.stdout and "numeric ranges are open" in done.stdout
    recipe = next(line for line in done.stdout.splitlines() if "driftline models register" in line)
    edited: dict[str, Any] = orjson.loads(card.read_bytes())
    edited["features"][0]["max"] = 1e7
    card.write_bytes(orjson.dumps(edited))
    again = driftline(*recipe.split()[1:], "--json", registry=registry)
    assert again.returncode == 0, again.stderr
    stored = orjson.loads(again.stdout)
    assert stored["version"] == 2 and stored["features"][0]["max"] == 1e7
    reference = orjson.loads((registry / "churn" / "2" / "reference.json").read_bytes())
    assert sum(reference["labels"].values()) == 500


@pytest.mark.parametrize(("change", "message"), [
    ({"model": "missing.joblib"}, "missing.joblib: no such file"),
    ({"model": "training.csv"}, "is not a joblib file of a scikit-learn model"),
    ({"label": "outcome"}, "the sample has no label column 'outcome'"),
    ({"task": "regression"}, "--task regression does not fit the model, a classifier of 2 classes"),
    ({"sample": "training.txt"}, "cannot tell the sample's format from its name"),
])
def test_a_mistake_is_one_line_and_exit_2(dumped: Path, tmp_path: Path, change: dict[str, str],
                                          message: str) -> None:
    (dumped / "training.txt").write_text("a,b\n1,2\n")
    given = {"model": "churn.joblib", "sample": "training.csv", "label": "churned", "task": "binary"} | change
    done = driftline("models", "import", dumped / given["model"], "--sample", dumped / given["sample"],
                     "--label", given["label"], "--task", given["task"], "--name", "churn",
                     registry=tmp_path / "registry")
    assert done.returncode == 2
    problems = [line for line in done.stderr.splitlines() if not line.endswith(" ...")]
    assert len(problems) == 1 and problems[0].startswith("driftline models import: "), done.stderr
    assert message in problems[0]
    assert not (tmp_path / "registry" / "churn").exists()
