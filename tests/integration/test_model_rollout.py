"""Promoting a version reaches a running worker through the model-updates topic."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from driftline.streams.model_updates import publish_update
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
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

            promote = subprocess.run([*DRIFTLINE, "models", "promote",
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


async def test_a_broken_promotion_then_a_good_one(kafka_bootstrap: str, topic_prefix: str,
                                                 demo_registry: Path, tmp_path: Path) -> None:
    """A version the worker cannot load (its profile damaged after the CLI checked it, or published
    by a tool that does not check) raises an alert and leaves the worker serving; the next good
    promotion still reaches it."""
    root = tmp_path / "registry"
    shutil.copytree(demo_registry, root)
    registry = Registry(root)
    v1 = root / DEMO_MODEL_NAME / "1"
    for _ in range(2):  # v2 will be damaged, v3 is good
        registry.register(v1 / "model.onnx", registry.card(DEMO_MODEL_NAME, 1),
                          reference=registry.reference(DEMO_MODEL_NAME, 1), stage=None)
    settings = isolated_settings(kafka_bootstrap, topic_prefix, root, label_join=False)
    await ensure_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with TopicReader(settings.broker, (settings.topic_predictions, settings.topic_alerts)) as out:
            await send_all(settings.broker, settings.topic_events, events("before", 200, seed=1))
            await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= 200, timeout=120,
                                 alive=worker.assert_alive)

            registry.promote(DEMO_MODEL_NAME, 2)
            (root / DEMO_MODEL_NAME / "2" / "reference.json").write_text('{"format": 99}')
            await publish_update(settings, DEMO_MODEL_NAME, "promote", version=2)
            await wait_for_log(worker, f"keeping {DEMO_MODEL_NAME} v1", timeout=60)
            await out.read_until(lambda r: any(v["data"]["kind"] == "errors"  # type: ignore[index]
                                               for _, v in r.records[settings.topic_alerts]),
                                 timeout=60, alive=worker.assert_alive)

            promote = subprocess.run([*DRIFTLINE, "models", "promote",
                                      DEMO_MODEL_NAME, "3"], capture_output=True, text=True, timeout=120,
                                     env=worker_environment(settings), check=False)
            assert promote.returncode == 0, promote.stderr
            await wait_for_log(worker, f"now serving {DEMO_MODEL_NAME} v3", timeout=60)
            await send_all(settings.broker, settings.topic_events, events("after", 200, seed=2))
            await out.read_until(lambda r: len(r.records[settings.topic_predictions]) >= 400, timeout=120,
                                 alive=worker.assert_alive)
    finally:
        worker.stop()
    versions = {str(v["id"]).split("-")[0] + f"/v{v['version']}"
                for _, v in out.records[settings.topic_predictions]}
    assert versions == {"before/v1", "after/v3"}
    alerts: list[Any] = [v["data"] for _, v in out.records[settings.topic_alerts]]
    [alert] = [a for a in alerts if a["kind"] == "errors"]
    assert alert["model"] == DEMO_MODEL_NAME and alert["version"] == 2 and "v1" in alert["summary"]
