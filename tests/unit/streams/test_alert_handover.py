"""Estimate and fairness alerts outlive the performance agent that raised them.

Two agents share one ledger, as two workers share the alert-state topic: the first (the owner that
is SIGKILLed) raises an estimated-floor and a fairness alert; the second, with fresh monitors,
judges what comes next. Still true: one ``raised`` in all, the new owner's word is ``updated``.
No longer true: ``resolved`` with the reason, and not before the new owner has judged a full
window. The agents run their real loop over a stand-in consumer; the real topics are exercised by
``tests/integration/test_open_alerts.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson
from aiokafka import TopicPartition

from driftline.detectors.cbpe import ScoreCalibration
from driftline.models.card import FeatureSpec, ModelCard, ModelOutput
from driftline.models.registry import Registry
from driftline.models.runtime import Prediction
from driftline.models.segments import SegmentSpec
from driftline.streams.alert_ledger import MonitorLedger
from driftline.streams.performance_agent import PerformanceAgent, _ForgetRevoked
from driftline.streams.prediction_outbox import PredictionOutbox
from driftline.streams.settings import Settings

REGION = SegmentSpec(name="region", source="attributes.region", sensitive=True, values=("north", "south"))
CARD = ModelCard(name="loans", version=1, features=(FeatureSpec(name="x", type="numeric"),),
                 output=ModelOutput(task="binary"), segments=(REGION,))
# A score of 0.55 is right 60 % of the time, one of 0.75 95 %: unsure traffic breaches accuracy=0.8.
CALIBRATION = ScoreCalibration(edges=(0.3, 0.5, 0.7), probabilities=(0.05, 0.4, 0.6, 0.95),
                               counts=(1, 1, 1, 1))
CBPE = "loans:1:champion:performance:cbpe"
FAIRNESS = "loans:1:champion:fairness:segments.region"
CHUNK = 500


class StubRegistry:
    def card(self, name: str, version: int | None = None) -> ModelCard:
        return CARD


class Recorder:
    """Both producers: what the agent and the ledger write, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent.append((topic, value, key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes) -> None:
        self.sent.append((topic, value, key))

    def alerts(self, key: str, since: int = 0) -> list[dict[str, Any]]:
        """The alerts of ``key`` (from the ``since``-th record written on)."""
        out = []
        for topic, value, _ in self.sent[since:]:
            event = orjson.loads(value or b"null")
            if topic == "alerts" and event["data"]["dedup_key"] == key:
                out.append(event["data"] | {"type": event["type"].rsplit(".", 1)[-1]})
        return out


class Record:
    def __init__(self, value: bytes) -> None:
        self.key, self.value, self.partition = CARD.name.encode(), value, 0


class Consumer:
    """Hands the agent one chunk of records per poll, then stops it."""

    def __init__(self, agent: PerformanceAgent, chunks: list[list[bytes]]) -> None:
        self.agent, self.chunks = agent, chunks

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if not self.chunks:
            self.agent._stopping.set()
            return {}
        return {TopicPartition("outcomes", 0): [Record(v) for v in self.chunks.pop(0)]}

    async def commit(self) -> None:
        """Nothing to commit."""


class Ledger(MonitorLedger):
    """The ledger with its records in memory (as a worker reads them from the alert-state topic)."""

    def __init__(self, producer: Recorder) -> None:
        super().__init__(Settings(), source="test")
        self._producer = cast(Any, producer)
        self.catch_ups = 0
        self.started.set()

    async def catch_up(self, rounds: int = 5) -> None:
        self.catch_ups += 1


def traffic(events: int, *, seed: int, fair: bool, sure: bool) -> list[list[bytes]]:
    """Prediction records, one chunk per poll: south's positive rate a third of the others' unless
    ``fair``; confident scores (estimated accuracy 0.95) if ``sure``, else 0.6."""
    rng = np.random.default_rng(seed)
    outbox, chunks = PredictionOutbox(0.0), []
    for _ in range(events // CHUNK):
        regions = rng.choice(["north", "south", "east"], CHUNK)
        positive = rng.random(CHUNK) < np.where((regions == "south") & (not fair), 0.1, 0.3)
        scores = np.where(positive, 0.75, 0.25) if sure else np.where(positive, 0.55, 0.45)
        prediction = Prediction(scores=scores, labels=positive.astype(np.int64),
                                probabilities=np.column_stack([1 - scores, scores]))
        outbox.add(CARD, 1, "champion", attributes=[{"region": str(r)} for r in regions],
                   features=[None] * CHUNK, prediction=prediction)
        chunks.append([value for _, value in outbox.drain()])
    return chunks


def agent(ledger: Ledger, producer: Recorder, tmp_path: Path) -> PerformanceAgent:
    settings = Settings(registry=tmp_path, perf_window_size=1000, perf_evaluate_every=500,
                        perf_floors=("accuracy=0.8",), fairness_window_size=2000,
                        fairness_evaluate_every=500, fairness_min_samples=200, metrics_snapshot_ms=3_600_000)
    worker = PerformanceAgent(settings, ledger)
    worker.segments.registry = cast(Registry, StubRegistry())
    worker.estimates._calibrations["loans", 1] = CALIBRATION
    worker._producer = cast(Any, producer)
    return worker


async def run(worker: PerformanceAgent, chunks: list[list[bytes]]) -> None:
    worker._consumer = cast(Any, Consumer(worker, chunks))
    worker._stopping.clear()
    await worker.run()


async def raised_by_the_first_owner(tmp_path: Path) -> tuple[Ledger, Recorder]:
    """The first owner's ledger and records, both alerts open (the owner is gone from here on)."""
    producer = Recorder()
    ledger = Ledger(producer)
    await run(agent(ledger, producer, tmp_path), traffic(4000, seed=1, fair=False, sure=False))
    for key in (CBPE, FAIRNESS):
        assert [a["type"] for a in producer.alerts(key)][:1] == ["raised"] and ledger.is_open(key)
    return ledger, producer


def types(producer: Recorder, key: str, since: int = 0) -> list[str]:
    return [a["type"] for a in producer.alerts(key, since)]


async def test_a_new_owner_continues_what_is_still_true(tmp_path: Path) -> None:
    ledger, producer = await raised_by_the_first_owner(tmp_path)
    successor, handover = agent(ledger, producer, tmp_path), len(producer.sent)
    await run(successor, traffic(8000, seed=2, fair=False, sure=False))
    for key in (CBPE, FAIRNESS):
        history = types(producer, key, handover)
        assert history and set(history) == {"updated"}, history  # no second raise, nothing resolved
        assert types(producer, key).count("raised") == 1 and ledger.is_open(key)
    assert ledger.catch_ups == 2  # each owner read the ledger before its first record


async def test_a_new_owner_resolves_what_is_no_longer_true_once_it_judged_a_full_window(
        tmp_path: Path) -> None:
    ledger, producer = await raised_by_the_first_owner(tmp_path)
    successor, handover = agent(ledger, producer, tmp_path), len(producer.sent)
    fair = traffic(8000, seed=3, fair=True, sure=True)
    await run(successor, fair[:3])  # 1,500 predictions: no full window judged yet
    assert types(producer, CBPE, handover) == types(producer, FAIRNESS, handover) == []
    # 3,500: the estimate has judged its full window (1,000 + 1,000), fairness not (2,000 + 2,000).
    await run(successor, fair[3:7])
    assert types(producer, CBPE, handover) == ["resolved"] and not ledger.is_open(CBPE)
    assert types(producer, FAIRNESS, handover) == [] and ledger.is_open(FAIRNESS)
    await run(successor, fair[7:])
    for key, judged in ((CBPE, 2000), (FAIRNESS, 4000)):
        history = producer.alerts(key, handover)
        assert [a["type"] for a in history] == ["resolved"], key
        assert history[0]["reason"] == f"not confirmed by its new owner after {judged} events"
        assert history[0]["severity"] == "info" and not ledger.is_open(key)


async def test_a_model_that_moves_away_and_back_is_taken_over_again(tmp_path: Path) -> None:
    ledger, producer = await raised_by_the_first_owner(tmp_path)
    worker, handover = agent(ledger, producer, tmp_path), len(producer.sent)
    await run(worker, traffic(1000, seed=4, fair=True, sure=True))  # less than a full window
    await _ForgetRevoked(worker).on_partitions_revoked([TopicPartition("outcomes", 0)])
    await run(worker, traffic(8000, seed=5, fair=True, sure=True))
    assert ledger.catch_ups == 3
    # The monitors that came back with the model judged afresh and settled what was open.
    assert types(producer, CBPE, handover) == types(producer, FAIRNESS, handover) == ["resolved"]
