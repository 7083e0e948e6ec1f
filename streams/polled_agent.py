"""What the small batch agents share: one consumer and one producer, a poll loop, and a stop that
never cuts a cycle in half.

The monitor, performance and alert-forward agents each follow one topic in their own group with
a plain aiokafka consumer polled on the event loop, and each poll is handled as one cycle (judge
or forward, send, commit). `stop()` waits for the cycle in hand before it closes the clients: a
commit cut off by its consumer's close retried the coordinator lookup for ever, and the worker
ignored SIGTERM. `abandon()` is the supervisor's (`streams.supervision`): close without
committing, the replacement re-reads from the last commit.

A commit that the group refuses because a rebalance came first is not a failure of the agent:
the records go to their new owner, which handles them again from the last commit (the outputs
are at least once). `commit()` logs it and carries on instead of making the supervisor replace
the agent.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError

from driftline.streams.connection import close_abandoned
from driftline.streams.settings import Settings

log = logging.getLogger(__name__)

#: Records of one poll, by partition (what `AIOKafkaConsumer.getmany` returns).
Poll = dict[TopicPartition, list[Any]]


class AgentClients:
    """An agent's consumer and producer, None until its ``start()`` builds them."""

    _consumer: AIOKafkaConsumer | None = None
    _producer: AIOKafkaProducer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "start() the agent first"
        return self._consumer

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "start() the agent first"
        return self._producer


class PolledAgent(AgentClients, ABC):
    """A consumer and a producer, polled until stopped; subclasses say what a cycle does."""

    #: Longest poll: a stop waits at most this long for the loop to notice it.
    poll_ms = 200

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stopping = asyncio.Event()
        #: Held for one cycle; `stop()` closes the clients only between cycles.
        self.cycle = asyncio.Lock()

    async def _open(self, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, topic: str,
                    listener: ConsumerRebalanceListener) -> None:
        """Start both clients and subscribe; `start()` of a subclass builds them and calls this."""
        self._producer, self._consumer = producer, consumer
        await producer.start()
        await consumer.start()
        consumer.subscribe([topic], listener=listener)

    async def stop(self) -> None:
        self._stopping.set()
        async with self.cycle:
            await self._before_close()
            for client in (self._consumer, self._producer):
                if client is not None:
                    await client.stop()

    async def _before_close(self) -> None:
        """Last words while the clients are still open (a final commit); nothing by default."""
        return None

    async def abandon(self) -> None:
        """Close the clients without committing (the replacing agent re-reads from the last commit)."""
        self._stopping.set()
        await close_abandoned(self._consumer, self._producer,
                              timeout_s=self.settings.kafka_request_timeout_ms / 1000)

    async def run(self) -> None:
        consumer = self.consumer
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=self.poll_ms)
            async with self.cycle:
                if self._stopping.is_set():  # stop() came while we polled: the clients are closed
                    return
                await self._cycle(batches)

    @abstractmethod
    async def _cycle(self, batches: Poll) -> None:
        """Handle one poll's records (possibly none)."""

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> bool:
        """Commit ``offsets`` (default: everything polled); False if a rebalance came first."""
        try:
            await (self.consumer.commit() if offsets is None else self.consumer.commit(offsets))
        except CommitFailedError as exc:
            log.info("%s: records handled here will be handled again by their new owner: %s",
                     type(self).__name__, exc)
            return False
        return True
