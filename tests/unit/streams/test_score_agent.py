"""The score agent's settling: outputs acknowledged before offsets are committed, commits coalesced.

The consumer is a stand-in that records commits; that the whole loop loses nothing on a real
broker is shown by ``tests/integration/test_scoring_pipeline.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, cast

import pytest
from aiokafka import TopicPartition

from driftline.streams.score_agent import ScoreAgent, _Unsettled
from driftline.streams.scoring import BatchScorer
from driftline.streams.settings import Settings

TP0, TP1 = TopicPartition("events", 0), TopicPartition("events", 1)


class RecordingConsumer:
    def __init__(self, highwaters: dict[TopicPartition, int] | None = None) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.highwaters = highwaters or {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


def agent_with(commit_interval_ms: int) -> tuple[ScoreAgent, RecordingConsumer]:
    settings = dataclasses.replace(Settings(), commit_interval_ms=commit_interval_ms)
    agent = ScoreAgent(settings, cast(BatchScorer, None))
    consumer = RecordingConsumer()
    agent._consumer = cast(Any, consumer)
    return agent, consumer


def acknowledged(offsets: dict[TopicPartition, int]) -> _Unsettled:
    delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    delivery.set_result(None)
    return _Unsettled([delivery], offsets)


async def test_inside_the_interval_offsets_wait_and_the_next_commit_carries_the_latest() -> None:
    agent, consumer = agent_with(commit_interval_ms=60_000)
    agent._committed_at = time.monotonic()
    for offsets in ({TP0: 10}, {TP0: 20, TP1: 5}):
        agent._unsettled = acknowledged(offsets)
        await agent.settle(commit_now=False)
    assert consumer.commits == []
    await agent.settle()  # idle, rebalance and stop commit at once
    assert consumer.commits == [{TP0: 20, TP1: 5}]


async def test_once_the_interval_has_passed_a_flowing_stream_commits() -> None:
    agent, consumer = agent_with(commit_interval_ms=100)
    agent._committed_at = time.monotonic() - 0.2
    agent._unsettled = acknowledged({TP0: 7})
    await agent.settle(commit_now=False)
    assert consumer.commits == [{TP0: 7}]


async def test_an_interval_of_zero_commits_every_batch() -> None:
    agent, consumer = agent_with(commit_interval_ms=0)
    for offset in (3, 4):
        agent._unsettled = acknowledged({TP0: offset})
        await agent.settle(commit_now=False)
    assert consumer.commits == [{TP0: 3}, {TP0: 4}]


async def test_nothing_is_committed_while_nothing_is_acknowledged() -> None:
    agent, consumer = agent_with(commit_interval_ms=0)
    await agent.settle()
    assert consumer.commits == []


async def test_a_failed_delivery_commits_nothing() -> None:
    agent, consumer = agent_with(commit_interval_ms=0)
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("broker said no"))
    agent._unsettled = _Unsettled([failed], {TP0: 9})
    with pytest.raises(RuntimeError, match="broker said no"):
        await agent.settle()
    assert consumer.commits == []


def test_lag_is_the_high_watermark_minus_the_position_where_one_is_known() -> None:
    agent, consumer = agent_with(commit_interval_ms=100)
    consumer.highwaters = {TP0: 120, TP1: 40}
    positions = {TP0: 100, TP1: 40, TopicPartition("events", 2): 7}  # no fetch response for 2 yet
    assert agent.lag(positions) == {("events", 0): 20, ("events", 1): 0}
