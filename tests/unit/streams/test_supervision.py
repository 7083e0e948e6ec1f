"""An agent that Kafka failed is replaced by a fresh one; any other failure still stops the worker.

The agents are stand-ins; that a real worker rides out a real broker outage this way is shown by
``tests/integration/test_broker_outage.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaTimeoutError, LeaderNotAvailableError, ProducerClosed

from driftline.streams import supervision
from driftline.streams.reachability import Reachability
from driftline.streams.supervision import BatchAgentsService


class Agent:
    """Runs ``failures`` (one per run) before a run that returns; records its lifecycle."""

    def __init__(self, log: list[str], number: int, failures: list[Exception],
                 start_failures: int = 0) -> None:
        self.log, self.number, self.failures, self.start_failures = log, number, failures, start_failures

    async def start(self) -> None:
        if self.start_failures:
            self.start_failures -= 1
            self.log.append(f"start {self.number} failed")
            raise KafkaTimeoutError()
        self.log.append(f"start {self.number}")

    async def run(self) -> None:
        self.log.append(f"run {self.number}")
        if self.failures:
            raise self.failures.pop(0)

    async def stop(self) -> None:
        self.log.append(f"stop {self.number}")

    async def abandon(self) -> None:
        self.log.append(f"abandon {self.number}")


class Probe:
    def __init__(self) -> None:
        self.state = Reachability("test:9092")
        self.interval_s = 0.0


def service(factory: Any) -> BatchAgentsService:
    return BatchAgentsService([factory], [], cast(Any, Probe()))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "RESTART_FIRST_S", 0.0)


async def test_an_agent_failed_by_kafka_is_abandoned_and_replaced_until_it_runs() -> None:
    log: list[str] = []
    failures: list[Exception] = [KafkaTimeoutError(), LeaderNotAvailableError()]
    built = iter(range(10))
    svc = service(lambda: Agent(log, next(built), failures))
    await svc._supervise(0)
    assert log == ["run 0", "abandon 0", "start 1", "run 1", "abandon 1", "start 2", "run 2"]
    assert cast(Agent, svc.agents[0]).number == 2


async def test_a_replacement_that_cannot_start_is_abandoned_and_retried() -> None:
    log: list[str] = []
    built = iter(range(10))
    failures: list[Exception] = [KafkaTimeoutError()]
    svc = service(lambda: Agent(log, n := next(built), failures, start_failures=1 if n == 1 else 0))
    await svc._supervise(0)
    assert log == ["run 0", "abandon 0", "start 1 failed", "abandon 1", "start 2", "run 2"]


async def test_a_bug_is_not_retried_it_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    svc = service(lambda: Agent(log, 0, [ValueError("a bug")]))
    crashed: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    monkeypatch.setattr(svc, "crash", crash)
    await svc._supervise(0)
    assert log == ["run 0"] and [str(e) for e in crashed] == ["a bug"]


async def test_replacement_waits_for_the_cluster_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    built = iter(range(10))
    failures: list[Exception] = [KafkaTimeoutError()]
    svc = service(lambda: Agent(log, next(built), failures))
    probe = cast(Probe, svc.probe)
    probe.state.failed("down")
    answered_after = iter([False, False, True])

    async def sleep(_: float) -> None:  # the wait polls the probe's verdict; answer on the third poll
        if next(answered_after, True):
            probe.state.answered()
        log.append("poll")

    monkeypatch.setattr(asyncio, "sleep", sleep)
    await svc._supervise(0)
    assert log[:5] == ["run 0", "poll", "poll", "poll", "abandon 0"], log


async def test_a_kafka_error_from_clients_closed_by_the_worker_s_stop_is_no_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    svc = service(lambda: Agent(log, 0, []))

    async def stopped_under_its_batch() -> None:
        svc._stopped.set()  # what mode's stop() sets before on_stop closes the agents' clients
        raise ProducerClosed()

    cast(Agent, svc.agents[0]).run = stopped_under_its_batch  # type: ignore[method-assign]
    with caplog.at_level("INFO", logger="driftline.streams.supervision"):
        await svc._supervise(0)
    assert log == []  # neither abandoned nor replaced
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("stopped with the worker" in r.getMessage() for r in caplog.records)
