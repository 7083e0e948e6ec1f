"""Preloads keep a few chunks of sends in flight and count acknowledgements oldest first."""

from __future__ import annotations

import asyncio

import pytest

from driftline.streams.produce import Acknowledgements


async def test_the_oldest_chunk_is_awaited_once_more_than_depth_are_in_flight() -> None:
    loop = asyncio.get_running_loop()
    progress: list[tuple[int, int]] = []
    acks = Acknowledgements(1000, lambda done, total: progress.append((done, total)), depth=2)
    chunks = [[loop.create_future() for _ in range(3)] for _ in range(4)]
    for chunk in chunks[:2]:
        await acks.add(100, chunk)  # two in flight: nothing awaited yet
    assert progress == []
    for delivery in chunks[0]:
        delivery.set_result(None)
    await acks.add(100, chunks[2])  # a third: the oldest (acknowledged) is settled
    assert progress == [(100, 1000)]
    for chunk in chunks[1:3]:
        for delivery in chunk:
            delivery.set_result(None)
    await acks.add(50, chunks[3])
    assert progress == [(100, 1000), (200, 1000)]
    for delivery in chunks[3]:
        delivery.set_result(None)
    assert await acks.drain() == 350 and progress == [(100, 1000), (200, 1000), (300, 1000), (350, 1000)]


async def test_a_failed_delivery_is_raised_where_its_chunk_is_awaited() -> None:
    loop = asyncio.get_running_loop()
    acks = Acknowledgements(10, depth=0)
    failed = loop.create_future()
    failed.set_exception(OSError("broker gone"))
    with pytest.raises(OSError, match="broker gone"):
        await acks.add(10, [failed])
    assert acks.acknowledged == 0
