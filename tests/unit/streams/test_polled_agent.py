"""The lifecycle the small batch agents share: stop between cycles, refused commits, abandon."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError

from driftline.streams.polled_agent import Poll, PolledAgent
from driftline.streams.settings import Settings

PARTITION = TopicPartition("t", 0)


class _Client:
    """A consumer and producer in one: polls return one record, commits count (the first
    ``refuse`` fail as after a rebalance), and it knows whether it was stopped."""

    def __init__(self, refuse: int = 0) -> None:
        self.commits: list[dict[TopicPartition, int] | None] = []
        self.refuse = refuse
        self.stopped = False

    async def getmany(self, timeout_ms: int) -> Poll:
        await asyncio.sleep(0)
        return {PARTITION: [object()]}

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        assert not self.stopped, "a commit on a closed consumer retries the coordinator for ever"
        self.commits.append(offsets)
        if len(self.commits) <= self.refuse:
            raise CommitFailedError("the group has already rebalanced")

    async def stop(self) -> None:
        self.stopped = True


class _Agent(PolledAgent):
    """Each cycle waits until the test lets it finish, then commits."""

    def __init__(self, client: _Client) -> None:
        super().__init__(Settings())
        self._consumer = cast(AIOKafkaConsumer, client)
        self._producer = cast(AIOKafkaProducer, _Client())
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cycles = 0
        self.last_words = 0

    async def _cycle(self, batches: Poll) -> None:
        self.entered.set()
        await self.release.wait()
        self.cycles += 1
        await self.commit()

    async def _before_close(self) -> None:
        self.last_words += 1


async def test_stop_waits_for_the_cycle_in_hand_then_closes_both_clients() -> None:
    client = _Client()
    agent = _Agent(client)
    running = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.entered.wait(), timeout=5)
    stopping = asyncio.create_task(agent.stop())
    await asyncio.sleep(0)  # one turn of the loop: stop() now waits for the cycle
    assert not stopping.done() and not client.stopped
    agent.release.set()
    await asyncio.wait_for(stopping, timeout=5)
    await asyncio.wait_for(running, timeout=5)
    assert agent.cycles == 1 and client.commits == [None]
    assert client.stopped and cast(_Client, agent._producer).stopped
    assert agent.last_words == 1


async def test_a_commit_refused_after_a_rebalance_is_logged_and_answered_false(
        caplog: pytest.LogCaptureFixture) -> None:
    client = _Client(refuse=1)
    agent = _Agent(client)
    with caplog.at_level(logging.INFO, logger="driftline.streams.polled_agent"):
        assert await agent.commit({PARTITION: 3}) is False
    assert "handled again by their new owner" in caplog.text
    assert await agent.commit({PARTITION: 3}) is True
    assert client.commits == [{PARTITION: 3}, {PARTITION: 3}]


async def test_abandon_closes_without_a_commit_or_last_words() -> None:
    client = _Client()
    agent = _Agent(client)
    await agent.abandon()
    assert client.stopped and client.commits == [] and agent.last_words == 0
    await agent.run()  # an abandoned agent's loop ends at once


def test_an_agent_that_was_not_started_says_so() -> None:
    class Bare(PolledAgent):
        async def _cycle(self, batches: Poll) -> Any:
            return None

    with pytest.raises(AssertionError, match="start"):
        _ = Bare(Settings()).consumer
