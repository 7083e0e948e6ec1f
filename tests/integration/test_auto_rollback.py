"""A canary that fails on live traffic is rolled back by the worker within one evaluation interval.

The canary (``tests/faulty_model.py`` built with ``raise_from=100``) passes the registry's smoke
test but fails every batch of ordinary events (``x = 150``). Its events are answered by the
champion meanwhile (no dead letter); the worker ends the canary in the registry, publishes a
``rollback`` record and a ``rollout`` alert carrying the evidence of both sides.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.registry import Registry
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
from tests.faulty_model import faulty_card, faulty_graph
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    send_all,
    wait_for_group,
    worker_environment,
)

EVALUATE_MS = 1000


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    registry = Registry(tmp_path / "registry")
    registry.register(faulty_graph(tmp_path / "good.onnx"), faulty_card())
    registry.register(faulty_graph(tmp_path / "bad.onnx", raise_from=100.0), faulty_card(), stage=None)
    return isolated_settings(kafka_bootstrap, topic_prefix, registry.root, label_join=False, monitors=False,
                             rollout_evaluate_ms=EVALUATE_MS, rollout_min_events=50)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


def logged_at(worker: WorkerProcess, text: str) -> datetime | None:
    for line in worker.log_path.read_text().splitlines():
        if text in line and line.startswith("["):
            return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    return None


async def test_a_failing_canary_is_rolled_back_with_the_evidence(settings: Settings,
                                                                 worker: WorkerProcess) -> None:
    await ensure_topics(settings)
    worker.start()
    # Serving first: a canary set before the worker read the registry would be loaded at start-up,
    # not applied from model-updates (which the worker reads from its end).
    await wait_for_group(settings.broker, settings.group_id, 1, timeout=90, alive=worker.assert_alive)
    command = [*DRIFTLINE, "models", "canary", "faulty", "2", "--share", "0.5"]
    canary = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                            env=worker_environment(settings))
    assert canary.returncode == 0, canary.stderr
    deadline = time.monotonic() + 90
    while logged_at(worker, "canary v2 on 50.0%") is None:
        worker.assert_alive()
        assert time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(0.2)  # polling the worker's log with a deadline

    topics = (settings.topic_predictions, settings.topic_alerts, settings.topic_model_updates,
              settings.topic_deadletter)
    sent = 0
    async with TopicReader(settings.broker, topics) as reader:
        def rolled_back(r: TopicReader) -> bool:
            return any(v["data"]["kind"] == "rollout" for _, v in r.records[settings.topic_alerts])  # type: ignore[index]

        deadline = time.monotonic() + 90
        while not rolled_back(reader):
            worker.assert_alive()
            assert time.monotonic() < deadline, "no rollout alert within 90 s"
            ids = [f"a{sent + i}" for i in range(100)]
            records = [(i.encode(), orjson.dumps({"id": i, "features": {"x": 150.0}})) for i in ids]
            sent += await send_all(settings.broker, settings.topic_events, records)
            await reader.poll(200)
        await reader.read_until(lambda r: len(r.records[settings.topic_predictions]) >= sent, timeout=60,
                                alive=worker.assert_alive)

    alert: dict[str, Any] = next(v["data"] for _, v in reader.records[settings.topic_alerts]  # type: ignore[misc]
                                 if v["data"]["kind"] == "rollout")  # type: ignore[index]
    assert (alert["detector"], alert["version"], alert["statistic"]) == ("auto_rollback", 2, "error share")
    evidence = alert["evidence"]
    assert evidence["canary"]["error_share"] == 1.0 and evidence["champion"]["error_share"] == 0.0
    assert alert["evidence"]["canary"]["events"] >= 50
    update = [v for _, v in reader.records[settings.topic_model_updates] if v.get("automatic")]
    assert len(update) == 1 and update[0]["action"] == "rollback" and "canary" not in update[0]["stages"]
    assert Registry(settings.registry).stage_record("faulty").canary is None
    assert not reader.records[settings.topic_deadletter]  # the champion answered the canary's events
    answered = {str(v["id"]) for _, v in reader.records[settings.topic_predictions]}
    assert answered == {f"a{n}" for n in range(sent)}
    first_failure = logged_at(worker, "model faulty v2 failed on a batch")
    decided = logged_at(worker, "rolled back automatically")
    assert first_failure is not None and decided is not None
    assert (decided - first_failure).total_seconds() <= EVALUATE_MS / 1000 + 1.0
