"""`driftline models …` as a user runs it: a subprocess, JSON out, clear errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME, train_demo_model
from driftline.models.synthetic import SyntheticStream
from tests.command import DRIFTLINE


def driftline(*args: str, registry: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DRIFTLINE, *args, "--registry", str(registry)],
                          capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the demo model.onnx, its card.json and a reference sample."""
    folder = tmp_path_factory.mktemp("artifact")
    _, card = train_demo_model(folder, n_train=2000)
    (folder / "card.json").write_bytes(orjson.dumps(card.to_dict()))
    rows, labels = SyntheticStream(seed=3).sample(2000)
    (folder / "reference.jsonl").write_bytes(b"\n".join(
        orjson.dumps({"features": r, "label": int(y)}) for r, y in zip(rows, labels, strict=True)))
    return folder


def test_register_list_show_and_promote(artifact: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    first = driftline("models", "register", str(artifact), "--name", "fraud", "--json",
                      "--reference", str(artifact / "reference.jsonl"), registry=registry)
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout)["version"] == 1
    second = driftline("models", "register", str(artifact / "model.onnx"), "--name", "fraud",
                       registry=registry)
    assert second.returncode == 0, second.stderr

    listed = orjson.loads(driftline("models", "list", "--json", registry=registry).stdout)
    assert listed == [{"name": "fraud", "versions": [1, 2], "champion": 1, "stages": {"champion": 1}}]

    card = orjson.loads(driftline("models", "show", "fraud", "--json", registry=registry).stdout)
    assert card["version"] == 1 and len(card["sha256"]) == 64
    features = {f["name"]: f for f in card["features"]}
    assert len(features) == 20
    assert all({"min", "max"} <= set(f) for f in features.values() if f["type"] == "numeric")
    assert all(f["categories"] for f in features.values() if f["type"] == "categorical")

    promoted = driftline("models", "promote", "fraud", "2", "--no-notify", "--json", registry=registry)
    assert promoted.returncode == 0, promoted.stderr
    listed = orjson.loads(driftline("models", "list", "--json", registry=registry).stdout)
    assert listed[0]["champion"] == 2
    reference = orjson.loads((registry / "fraud" / "1" / "reference.json").read_bytes())
    assert sum(reference["labels"].values()) == 2000 and set(reference["labels"]) == {"0", "1"}


def test_a_tampered_artifact_is_refused_with_the_reason(artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes((artifact / "model.onnx").read_bytes()[:-100])
    (broken / "card.json").write_bytes((artifact / "card.json").read_bytes())
    result = driftline("models", "register", str(broken), "--name", "fraud", registry=tmp_path / "r")
    assert result.returncode == 3
    assert "driftline models:" in result.stderr and "sha256" in result.stderr
    assert not (tmp_path / "r" / "fraud" / "1").exists()


def test_show_of_an_unknown_model_says_so(tmp_path: Path) -> None:
    result = driftline("models", "show", "nope", registry=tmp_path / "empty")
    assert result.returncode == 3 and "ModelNotFound" in result.stderr and "nope" in result.stderr


def test_register_without_a_card_explains_what_is_missing(artifact: Path, tmp_path: Path) -> None:
    lone = tmp_path / "model.onnx"
    lone.write_bytes((artifact / "model.onnx").read_bytes())
    result = driftline("models", "register", str(lone), "--name", DEMO_MODEL_NAME, registry=tmp_path / "r")
    assert result.returncode == 2 and "no model card" in result.stderr and "--card" in result.stderr


def test_promoting_a_tampered_artifact_is_refused(artifact: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    for _ in range(2):
        registered = driftline("models", "register", str(artifact), "--name", "fraud",
                               "--reference", str(artifact / "reference.jsonl"), registry=registry)
        assert registered.returncode == 0, registered.stderr
    with (registry / "fraud" / "2" / "model.onnx").open("ab") as onnx:
        onnx.write(b"\0")  # one byte appended after registration

    refused = driftline("models", "promote", "fraud", "2", "--no-notify", registry=registry)
    assert refused.returncode == 3 and "sha256" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    listed = orjson.loads(driftline("models", "list", "--json", registry=registry).stdout)
    assert listed[0]["champion"] == 1  # the registry did not move either


REGISTRY_FAULTS = [("stages.json", b'{"champion": "two"}'), ("stages.json", b"{not json"),
                   ("stages.json", b"[2]"), ("1/card.json", b"[1]"), ("1/card.json", b'{"name": 3')]


@pytest.mark.parametrize(("file", "content"), REGISTRY_FAULTS)
@pytest.mark.parametrize("command", [("list",), ("show", DEMO_MODEL_NAME),
                                     ("promote", DEMO_MODEL_NAME, "1", "--no-notify")])
def test_a_damaged_registry_is_one_line_naming_the_file_and_exit_3(
        demo_registry: Path, tmp_path: Path, file: str, content: bytes, command: tuple[str, ...]) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(demo_registry, registry)
    path = registry / DEMO_MODEL_NAME / file
    path.chmod(0o644)
    path.write_bytes(content)
    result = driftline("models", *command, registry=registry)
    if command[0] == "list" and file.startswith("1/"):
        assert result.returncode == 0  # listing reads no card: nothing damaged was read
        return
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if " INFO " not in line]  # progress may precede
    assert len(problems) == 1 and str(path) in problems[0], result.stderr


@pytest.mark.parametrize("command", [("list",), ("show", DEMO_MODEL_NAME)])
def test_a_registry_path_that_is_a_file_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    registry = tmp_path / "registry"
    registry.write_text("not a folder")
    result = driftline("models", *command, registry=registry)
    assert result.returncode == 3 and result.stderr.strip() == (
        f"driftline models: IntegrityError: the registry {registry} is not a folder")
