"""Promoting a version reaches a running worker through the model-updates topic."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

from models.demo import DEMO_MODEL_NAME
from models.registry import Registry
from models.synthetic import SyntheticStream
from streams.topics import ensure_topics
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    send_all,
    worker_environment,
)


def events(prefix: str, n: int, seed: int) -> list[tuple[bytes, bytes]]:
    return [(f"{prefix}-{i}".encode(), orjson.dumps({"id": f"{prefix}-{i}", "features": row}))
            for i, row in enumerate(SyntheticStream(seed=seed).rows(n))]


async def wait_for_log(worker: WorkerProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log_path.read_text(errors="replace"):
        worker.assert_alive()
        assert time.monotonic() < deadline, f"{text!r} not in the worker log:\n{worker.log_tail()}"
        await asyncio.sleep(0.1)  # polling a log file for a condition, with a deadline


async def test_a_promoted_version_is_served_without_a_restart(kafka_bootstrap: str, topic_prefix: str,
                                                              demo_registry: Path, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    shutil.copytree(demo_registry, root)
    registry = Registry(root)
    v1 = root / DEMO_MODEL_NAME / "1"
    registry.register(v1 / "model.onnx", registry.card(DEMO_MODEL_NAME, 1),
                      reference=registry.reference(DEMO_MODEL_NAME, 1), stage=None)
    settings = isolated_settings(kafka_bootstrap, topic_prefix, root)
    await ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with TopicReader(settings.broker, (settings.topic_predictions,)) as out:
            await send_all(settings.broker, settings.topic_events, events("before", 500, seed=1))
            await out.read_until(lambda r: r.count() >= 500, timeout=120, alive=worker.assert_alive)

            promote = subprocess.run([sys.executable, "-m", "streams.cli", "models", "promote",
                                      DEMO_MODEL_NAME, "2"], capture_output=True, text=True, timeout=120,
                                     env=worker_environment(settings), check=False)
            assert promote.returncode == 0, promote.stderr
            await wait_for_log(worker, f"now serving {DEMO_MODEL_NAME} v2", timeout=60)

            await send_all(settings.broker, settings.topic_events, events("after", 500, seed=2))
            await out.read_until(lambda r: r.count() >= 1000, timeout=120, alive=worker.assert_alive)
            versions = {str(v["id"]).split("-")[0] + f"/v{v['version']}"
                        for _, v in out.records[settings.topic_predictions]}
    finally:
        worker.stop()
    assert versions == {"before/v1", "after/v2"}
