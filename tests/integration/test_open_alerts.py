"""Open alerts outlive the worker that raised them, and a promote resolves the retired version's.

Incident tooling reads the alerts topic: for one alert stream (dedup key) it must see one
``raised``, then ``updated`` records (also from the worker that took the monitor over), then one
``resolved``, whatever happens to the workers in between.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.registry import Registry
from driftline.models.synthetic import Drift, MeanShift, SyntheticStream
from driftline.streams.registration import register_demo_with_reference
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.command import DRIFTLINE
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    send_all,
    wait_for_group,
    worker_environment,
)

DRIFTING = "customer_age_years"
CHUNK = 200


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, demo_registry: Path, tmp_path: Path) -> Settings:
    registry = tmp_path / "registry"  # promote moves the champion: a registry of this test's own
    shutil.copytree(demo_registry, registry)
    return isolated_settings(kafka_bootstrap, topic_prefix, registry, label_join=False,
                             drift_flush_ms=100, metrics_snapshot_ms=1000)


class Traffic:
    """Events in chunks, drifted or not, with ids that never repeat."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent = 0
        self.drifted = SyntheticStream(seed=51, drift=Drift(start=0, mean_shift=MeanShift(DRIFTING, 3.0)))
        self.normal = SyntheticStream(seed=52)

    async def send(self, *, drifted: bool) -> None:
        rows = (self.drifted if drifted else self.normal).rows(CHUNK)
        records = [(f"a{self.sent + i}".encode(), orjson.dumps({"id": f"a{self.sent + i}", "features": row}))
                   for i, row in enumerate(rows)]
        self.sent += len(records)
        await send_all(self.settings.broker, self.settings.topic_events, records)


def drift_alerts(reader: TopicReader, settings: Settings) -> list[dict[str, Any]]:
    return [value["data"] | {"type": str(value["type"]).rsplit(".", 1)[-1]}  # type: ignore[operator,index]
            for _, value in reader.records[settings.topic_alerts]
            if value["data"]["kind"] == "data_drift"]  # type: ignore[index]


async def drive_until(traffic: Traffic, reader: TopicReader, done: Callable[[TopicReader], bool], *,
                      drifted: bool, alive: Callable[[], None], timeout: float = 240) -> None:
    """Send a chunk, read what came out, until ``done`` (each chunk is a step of traffic, not a wait)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(reader):
        alive()
        assert asyncio.get_running_loop().time() < deadline, (
            f"not within {timeout}s: {drift_alerts(reader, traffic.settings)}")
        await traffic.send(drifted=drifted)
        await reader.poll(300)


def statuses(alerts: list[dict[str, Any]], key: str) -> list[str]:
    return [a["type"] for a in alerts if a["dedup_key"] == key]


async def the_worker_that_logged(text: str, workers: list[WorkerProcess],
                                 timeout: float = 30) -> WorkerProcess:
    """The worker whose log has ``text`` (a line may follow its record on the topic by a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for worker in workers:
            if text in worker.log_path.read_text():
                return worker
        await asyncio.sleep(0.1)  # polling a condition with a deadline
    raise AssertionError(f"no worker logged {text!r} within {timeout}s")


def raised_keys(reader: TopicReader, settings: Settings) -> set[str]:
    """Dedup keys of every kind with a ``raised`` record."""
    return {str(value["data"]["dedup_key"]) for _, value in reader.records[settings.topic_alerts]  # type: ignore[index]
            if str(value["type"]).endswith(".raised")}


def open_keys(reader: TopicReader, settings: Settings) -> set[str]:
    """Dedup keys whose last record is not ``resolved``."""
    last: dict[str, str] = {}
    for _, value in reader.records[settings.topic_alerts]:
        last[str(value["data"]["dedup_key"])] = str(value["type"])  # type: ignore[index]
    return {key for key, kind in last.items() if not kind.endswith(".resolved")}


def raised(reader: TopicReader, settings: Settings) -> bool:
    return any(a["type"] == "raised" for a in drift_alerts(reader, settings))


def last_status(reader: TopicReader, settings: Settings, key: str) -> str:
    return statuses(drift_alerts(reader, settings), key)[-1]


async def test_a_new_owner_continues_an_open_alert_and_resolves_it(settings: Settings,
                                                                   workers: list[WorkerProcess]) -> None:
    await ensure_topics(settings)
    for worker in workers:
        worker.start()

    def alive() -> None:
        for worker in workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.assert_alive()

    await wait_for_group(settings.broker, f"{settings.group_id}-monitor", 2, timeout=90, alive=alive)
    traffic = Traffic(settings)
    async with TopicReader(settings.broker, (settings.topic_alerts,)) as reader:
        await drive_until(traffic, reader, lambda r: raised(r, settings), drifted=True, alive=alive)
        key = next(a["dedup_key"] for a in drift_alerts(reader, settings) if a["type"] == "raised")
        owner = await the_worker_that_logged("alert raised", workers)
        survivor = next(w for w in workers if w is not owner)
        owner.kill()
        seen_before_kill = len(statuses(drift_alerts(reader, settings), key))

        def continued(r: TopicReader) -> bool:
            return "updated" in statuses(drift_alerts(r, settings), key)[seen_before_kill:] and \
                "alert updated" in survivor.log_path.read_text()

        await drive_until(traffic, reader, continued, drifted=True, alive=survivor.assert_alive)
        await drive_until(traffic, reader, lambda r: last_status(r, settings, key) == "resolved",
                          drifted=False, alive=survivor.assert_alive)

    history = statuses(drift_alerts(reader, settings), key)
    assert history.count("raised") == 1 and history[0] == "raised", history
    assert history.count("resolved") == 1 and history[-1] == "resolved", history
    # The survivor continued that alert stream; it did not raise it again.
    stream = f"data drift ({key.rsplit(':', 1)[1]})"
    assert not [line for line in survivor.log_path.read_text().splitlines()
                if "alert raised" in line and stream in line]


async def test_a_promote_resolves_the_open_alerts_of_the_version_it_retires(
        settings: Settings, workers: list[WorkerProcess]) -> None:
    worker = workers[0]
    retired = Registry(settings.registry).champion(DEMO_MODEL_NAME)
    promoted = register_demo_with_reference(Registry(settings.registry), seed=8).version
    await ensure_topics(settings)
    worker.start()
    await wait_for_group(settings.broker, f"{settings.group_id}-monitor", 1, timeout=90,
                         alive=worker.assert_alive)
    traffic = Traffic(settings)
    async with TopicReader(settings.broker, (settings.topic_alerts,)) as reader:
        await drive_until(traffic, reader, lambda r: raised(r, settings), drifted=True,
                          alive=worker.assert_alive)
        key = next(a["dedup_key"] for a in drift_alerts(reader, settings) if a["type"] == "raised")
        assert key.startswith(f"{DEMO_MODEL_NAME}:{retired}:")
        # The shifted feature also leaves its reference range (and its location CUSUM fires): those
        # alerts open with the drift. Every one open when the promote runs must be resolved by it.
        await drive_until(traffic, reader, lambda r: len(raised_keys(r, settings)) >= 2, drifted=True,
                          alive=worker.assert_alive)
        open_before = open_keys(reader, settings)

        promote = subprocess.run([*DRIFTLINE, "models", "promote", DEMO_MODEL_NAME,
                                  str(promoted)], capture_output=True, text=True, timeout=120, check=False,
                                 env=worker_environment(settings))
        assert promote.returncode == 0, promote.stderr
        count = int(promote.stderr.split("resolved ", 1)[1].split(" open alerts", 1)[0])
        assert count >= len(open_before), promote.stderr

        def retired_keys(r: TopicReader) -> set[str]:
            return {str(v["data"]["dedup_key"]) for _, v in r.records[settings.topic_alerts]  # type: ignore[index]
                    if "retired" in str(v["data"].get("reason"))}  # type: ignore[union-attr]

        await reader.read_until(lambda r: open_before <= retired_keys(r), timeout=60,
                                alive=worker.assert_alive)

        def resolved(r: TopicReader) -> bool:
            return "resolved" in statuses(drift_alerts(r, settings), key)

        await reader.read_until(resolved, timeout=60, alive=worker.assert_alive)
        final = [a for a in drift_alerts(reader, settings) if a["dedup_key"] == key][-1]
        assert final["type"] == "resolved" and "retired" in final["reason"], final
        # Drifted traffic goes on; the worker serves the promoted version and its late deltas of
        # the retired one are dropped: nothing more for the retired key.
        served_promoted = f"serving {DEMO_MODEL_NAME} v{promoted}"
        await drive_until(traffic, reader, lambda r: served_promoted in worker.log_path.read_text(),
                          drifted=True, alive=worker.assert_alive)
        for _ in range(5):
            await traffic.send(drifted=True)
            await reader.poll(300)
    assert statuses(drift_alerts(reader, settings), key)[-1] == "resolved"
