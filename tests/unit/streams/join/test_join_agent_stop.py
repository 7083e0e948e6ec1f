"""Stopping the join agent while its loop waits in a poll (what SIGTERM does to a busy worker).

stop() runs the last cycle, stops the clients and closes the store; a poll that returns after it
must not start another cycle (it expired entries on the closed store, DbClosedError, and the
worker's stop then hung: seen on a real broker in tests/integration/test_security.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from driftline.streams.join.agent import JoinAgent
from driftline.streams.join.slots import claim_slot
from driftline.streams.settings import Settings


class PollingConsumer:
    """A consumer whose poll returns only when told to, as one in flight when stop() arrives."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def getmany(self, **_: Any) -> dict[Any, list[Any]]:
        await self.release.wait()
        return {}

    def assignment(self) -> set[Any]:
        return set()

    async def stop(self) -> None:
        self.release.set()


async def test_a_poll_that_returns_after_stop_starts_no_cycle_on_the_closed_store(tmp_path: Path) -> None:
    slot = claim_slot(tmp_path / "state", "app")
    agent = JoinAgent(Settings(registry=tmp_path / "registry"), slot)
    agent._consumer = PollingConsumer()  # type: ignore[assignment]
    running = asyncio.create_task(agent.run())
    await asyncio.sleep(0)  # let the loop reach its poll
    await agent.stop()  # closes the store, then the poll returns
    try:
        await asyncio.wait_for(running, timeout=5)  # returns cleanly: no DbClosedError
    finally:
        slot.release()
