"""The service that runs the batch agents, and restarts one that the broker failed.

Bad records never stop an agent (they become dead letters). What can is Kafka refusing a batch as a
whole: a produce that outlived the request timeout, a commit or transaction that the broker lost
while it was down. Stopping the worker then (what this service did before) turned a broker outage
into a crash loop. Instead the failed agent is thrown away without committing anything and
replaced by a fresh one, built by its factory, once the cluster answers again: the new agent
rejoins its group and reads from the last committed offsets, exactly what a restarted worker would
do (outputs of the uncommitted batches may be produced a second time, never lost). Restarts back
off from 1 s to 30 s while they keep failing.

Anything that is not a Kafka error is a bug: it still stops the worker, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import mode
from aiokafka.errors import KafkaError

from driftline.streams.log_noise import limit_client_noise
from driftline.streams.reachability import ReachabilityProbe

log = logging.getLogger(__name__)

RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
#: An agent that ran this long before failing starts the backoff afresh.
RESTART_RESET_S = 60.0


class BatchAgent(Protocol):
    """An agent that reads in batches with its own clients: the score, join and performance agents."""

    async def start(self) -> None: ...
    async def run(self) -> None: ...
    async def stop(self) -> None: ...
    async def abandon(self) -> None:
        """Close the clients without committing or flushing anything (the agent failed)."""


AgentFactory = Callable[[], BatchAgent]


class Companion(Protocol):
    """A client the agents rely on (the model-updates reader, the alert ledger): started before
    them, stopped after them."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class BatchAgentsService(mode.Service):
    """Starts the batch agents with the app, keeps them running, stops them before the app's producer."""

    def __init__(self, factories: list[AgentFactory], companions: list[Companion], probe: ReachabilityProbe,
                 *, debug_clients: bool = False, **kwargs: Any) -> None:
        self.factories = factories
        self.agents = [factory() for factory in factories]
        #: Indices of agents abandoned and not yet replaced (nothing left to stop).
        self._abandoned: set[int] = set()
        self.companions = companions
        self.probe = probe
        self.debug_clients = debug_clients
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        # Faust has set up logging by now: limit the Kafka clients' per-retry lines on its handlers.
        limit_client_noise(debug=self.debug_clients)
        await self.probe.start()
        for companion in self.companions:
            await companion.start()
        for agent in self.agents:
            await agent.start()
        # Faust and the clients built their long-lived objects after the worker's first freeze;
        # freeze again so full collections during traffic only scan what traffic allocates.
        gc.collect()
        gc.freeze()
        for index in range(len(self.agents)):
            self.add_future(self._supervise(index))

    async def on_stop(self) -> None:
        for index, agent in reversed(list(enumerate(self.agents))):
            if index not in self._abandoned:
                await agent.stop()
        for companion in reversed(self.companions):
            await companion.stop()
        await self.probe.stop()

    async def _supervise(self, index: int) -> None:
        backoff = RESTART_FIRST_S
        while not self.should_stop:
            agent, began = self.agents[index], time.monotonic()
            try:
                await agent.run()
                return
            except KafkaError as exc:
                name = type(agent).__name__
                if self.should_stop:  # the worker's stop closed the agent's clients under its batch
                    log.info("%s stopped with the worker (%r)", name, exc)
                    return
                log.warning("%s stopped on a Kafka error (%r); replacing it once Kafka answers: it "
                            "resumes from the last committed offsets", name, exc)
            except Exception as exc:
                log.critical("the %s failed; stopping the worker: %r", type(agent).__name__, exc)
                await self.crash(exc)
                return
            if time.monotonic() - began >= RESTART_RESET_S:
                backoff = RESTART_FIRST_S
            backoff = await self._replace(index, backoff)

    async def _replace(self, index: int, backoff: float) -> float:
        """Swap agent ``index`` for a fresh one; returns the backoff for the next failure."""
        await self._until_reachable()
        self._abandoned.add(index)
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await asyncio.wait_for(self.agents[index].abandon(), timeout=RESTART_MAX_S)
        while not self.should_stop:
            await asyncio.sleep(backoff)  # backoff between attempts, not synchronisation
            backoff = min(backoff * 2, RESTART_MAX_S)
            agent = self.factories[index]()
            try:
                await agent.start()
            except KafkaError as exc:
                log.warning("restarting %s failed (%r); next try in %.0f s", type(agent).__name__, exc,
                            backoff)
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    await asyncio.wait_for(agent.abandon(), timeout=RESTART_MAX_S)
                continue
            self.agents[index] = agent
            self._abandoned.discard(index)
            log.warning("%s restarted", type(agent).__name__)
            break
        return backoff

    async def _until_reachable(self) -> None:
        while not self.probe.state.reachable and not self.should_stop:
            await asyncio.sleep(self.probe.interval_s)  # polling the probe's verdict
