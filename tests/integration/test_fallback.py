"""A champion that raises or hangs is answered by its fallback behind a circuit breaker.

The model (``tests/faulty_model.py``) fails on demand: a batch holding ``x = -5000`` makes ONNX
Runtime raise, one holding ``x = 1e9`` runs for minutes (past the 300 ms time limit). Every event
must still be answered (``variant: fallback`` with the card's constant score while it fails, no
dead letter); three failing batches open the breaker with one ``errors`` alert, and once the fault
is gone a probe batch closes it with one ``resolved`` alert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.registry import Registry
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.faulty_model import HANG, RAISE, faulty_card, faulty_graph
from tests.integration.support import TopicReader, WorkerProcess, isolated_settings, send_all

BREAKER_KEY = "faulty:1:errors:circuit_breaker"


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    registry = tmp_path / "registry"
    Registry(registry).register(faulty_graph(tmp_path / "model.onnx"), faulty_card())
    return isolated_settings(kafka_bootstrap, topic_prefix, registry, label_join=False, monitors=False,
                             inference_timeout_ms=300, breaker_failures=3, breaker_cooldown_ms=3000)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(settings, tmp_path / "worker.log")
    yield process
    process.stop()


class Events:
    def __init__(self, settings: Settings) -> None:
        self.settings, self.sent = settings, 0

    async def send(self, x: float) -> str:
        event_id = f"f{self.sent}"
        self.sent += 1
        await send_all(self.settings.broker, self.settings.topic_events,
                       [(event_id.encode(), orjson.dumps({"id": event_id, "features": {"x": x}}))])
        return event_id


def answers(reader: TopicReader, settings: Settings) -> dict[str, dict[str, Any]]:
    return {str(v["id"]): v for _, v in reader.records[settings.topic_predictions]}


def breaker_alerts(reader: TopicReader, settings: Settings) -> list[str]:
    return [str(v["data"]["status"]) for _, v in reader.records[settings.topic_alerts]  # type: ignore[index]
            if v["data"]["dedup_key"] == BREAKER_KEY]  # type: ignore[index]


@pytest.mark.parametrize("fault", [RAISE, HANG], ids=["raises", "hangs"])
async def test_a_failing_champion_falls_back_opens_its_breaker_and_recovers(
        settings: Settings, worker: WorkerProcess, fault: float) -> None:
    await ensure_topics(settings)
    worker.start()
    events = Events(settings)
    topics = (settings.topic_predictions, settings.topic_alerts, settings.topic_deadletter)
    async with TopicReader(settings.broker, topics) as reader:
        async def answered(event_id: str) -> dict[str, Any]:
            await reader.read_until(lambda r: event_id in answers(r, settings), timeout=90,
                                    alive=worker.assert_alive)
            return answers(reader, settings)[event_id]

        assert (await answered(await events.send(1.0)))["variant"] == "champion"
        for _ in range(3):  # one event per batch: each send is answered before the next goes out
            answer = await answered(await events.send(fault))
            assert (answer["variant"], answer["score"]) == ("fallback", 0.03)
        await reader.read_until(lambda r: breaker_alerts(r, settings) == ["raised"], timeout=30,
                                alive=worker.assert_alive)

        # The fault is gone: ordinary events, one at a time, until a probe finds the model well.
        deadline = time.monotonic() + 60
        while (await answered(await events.send(2.0)))["variant"] != "champion":
            assert time.monotonic() < deadline, "the breaker did not close within 60 s"
            await asyncio.sleep(0.5)  # pacing the probes, not synchronisation: each is awaited above
        await reader.read_until(lambda r: breaker_alerts(r, settings) == ["raised", "resolved"], timeout=30,
                                alive=worker.assert_alive)
        assert not reader.records[settings.topic_deadletter]
        assert set(answers(reader, settings)) == {f"f{n}" for n in range(events.sent)}
