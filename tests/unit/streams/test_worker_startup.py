"""A worker checks its models before it touches Kafka (no broker is needed for these)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from tests.command import DRIFTLINE


def run_worker(registry: Path) -> subprocess.CompletedProcess[str]:
    # The broker address points at a closed port: the worker must fail before it gets there.
    return subprocess.run([*DRIFTLINE, "worker", "--registry", str(registry),
                           "--broker", "127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                          check=False)


def test_worker_refuses_an_artifact_whose_sha256_changed(demo_registry: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(demo_registry, registry)
    version = Registry(registry).champion(DEMO_MODEL_NAME)
    artifact = registry / DEMO_MODEL_NAME / str(version) / "model.onnx"
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    result = run_worker(registry)
    assert result.returncode == 3
    assert "refusing to start" in result.stderr and "sha256" in result.stderr


def test_worker_with_an_empty_registry_says_what_to_do(tmp_path: Path) -> None:
    result = run_worker(tmp_path / "empty")
    assert result.returncode == 3
    assert "driftline models demo" in result.stderr


def test_a_bad_drift_setting_stops_the_worker_before_kafka(demo_registry: Path) -> None:
    env = {**os.environ, "DRIFTLINE_DRIFT_RIVER": "ADWIN,NoSuchDetector"}
    result = subprocess.run([*DRIFTLINE, "worker", "--registry", str(demo_registry),
                             "--broker", "127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                            check=False, env=env)
    assert result.returncode == 2
    assert "NoSuchDetector" in result.stderr and "known:" in result.stderr


CARD_FAULTS = {
    "features not a list": lambda card: {**card, "features": "amount"},
    "a feature that is not an object": lambda card: {**card, "features": [7]},
    "an unknown output field": lambda card: {**card, "output": {"label_outptu": "label"}},
    "a bound that is not a number": lambda card: {**card, "features": [
        {**card["features"][0], "min": "zero"}, *card["features"][1:]]},
    "output not an object": lambda card: {**card, "output": ["label"]},
}


@pytest.mark.parametrize("fault", sorted(CARD_FAULTS))
def test_a_damaged_card_stops_the_worker_with_one_line(demo_registry: Path, tmp_path: Path,
                                                       fault: str) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(demo_registry, registry)
    card_path = registry / DEMO_MODEL_NAME / str(Registry(registry).champion(DEMO_MODEL_NAME)) / "card.json"
    card_path.chmod(0o644)
    card_path.write_bytes(orjson.dumps(CARD_FAULTS[fault](orjson.loads(card_path.read_bytes()))))
    assert_one_line_exit_3(run_worker(registry), str(card_path))


@pytest.mark.parametrize(("file", "content"), [("stages.json", b'{"champion": "two"}'),
                                               ("stages.json", b"{not json"),
                                               ("1/reference.json", b'{"format": 99, "features": 3}'),
                                               ("1/reference.json", b'{"format": 1, "features": 3}')])
def test_a_damaged_registry_file_stops_the_worker_with_one_line(demo_registry: Path, tmp_path: Path,
                                                                 file: str, content: bytes) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(demo_registry, registry)
    path = registry / DEMO_MODEL_NAME / file
    path.chmod(0o644)
    path.write_bytes(content)
    assert_one_line_exit_3(run_worker(registry), str(path))


def test_a_registry_that_is_a_file_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.write_text("not a folder")
    assert_one_line_exit_3(run_worker(registry), str(registry))


def assert_one_line_exit_3(result: subprocess.CompletedProcess[str], names: str) -> None:
    """Exit 3, no traceback, and one error line that names the file (progress lines may precede it)."""
    assert result.returncode == 3, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert len(errors) == 1 and names in errors[0], result.stderr


SILENCING = [("DRIFTLINE_DRIFT_WINDOW_SIZE", "30", "drift_window_size"),
             ("DRIFTLINE_DRIFT_RIVER", "ADWIN,HDDMA", "drift_river")]


@pytest.mark.parametrize(("variable", "value", "setting"), SILENCING)
def test_a_drift_setting_that_silences_a_detector_stops_the_worker_with_one_line(
        demo_registry: Path, variable: str, value: str, setting: str) -> None:
    env = {**os.environ, variable: value}
    result = subprocess.run([*DRIFTLINE, "worker", "--registry", str(demo_registry),
                             "--broker", "127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                            check=False, env=env)
    assert_one_line_exit_3(result, setting)


def test_a_worker_does_not_load_scikit_learn_even_where_it_is_installed() -> None:
    # river.drift would import it through its dataset helpers: 150 MB of RSS per worker.
    probe = ("import sys, driftline.streams.worker, sklearn.utils; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn') != [])")
    loaded_first = subprocess.run([sys.executable, "-c", probe.replace(", sklearn.utils", "")],
                                  capture_output=True, text=True, timeout=120, check=True)
    assert loaded_first.stdout.strip() == "False"
    loaded_after = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                                  check=True)
    assert loaded_after.stdout.strip() == "True"  # a later import of it is not refused
