"""A worker checks its models before it touches Kafka (no broker is needed for these)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from models.demo import DEMO_MODEL_NAME
from models.registry import Registry


def run_worker(registry: Path) -> subprocess.CompletedProcess[str]:
    # The broker address points at a closed port: the worker must fail before it gets there.
    return subprocess.run([sys.executable, "-m", "streams.cli", "worker", "--registry", str(registry),
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
    result = subprocess.run([sys.executable, "-m", "streams.cli", "worker", "--registry", str(demo_registry),
                             "--broker", "127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                            check=False, env=env)
    assert result.returncode == 2
    assert "NoSuchDetector" in result.stderr and "known:" in result.stderr
