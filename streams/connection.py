"""How every driftline Kafka client connects: the address, the timeouts and (where configured)
the transport security, in one place.

Every aiokafka client the service opens (the scoring, join and performance agents, the
model-updates reader, the CLI's producers and readers, the topic admin) takes its connection
keywords from `client_options`, so a setting such as ``kafka_request_timeout_ms`` means the same
thing for all of them and a deployment configures its cluster once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.settings import Settings

log = logging.getLogger(__name__)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by ``AIOKafkaConsumer``, ``AIOKafkaProducer`` and the admin client."""
    return {
        "bootstrap_servers": settings.broker,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "retry_backoff_ms": settings.kafka_retry_backoff_ms,
    }


async def close_abandoned(*clients: AIOKafkaConsumer | AIOKafkaProducer | None, timeout_s: float) -> None:
    """Close the clients of an agent that failed, each within ``timeout_s``, whatever they raise.

    Consumers first, so they leave their group before anything else; a producer's ``stop`` flushes
    what it still holds, which the caller has given up on (those records are produced again by the
    agent that replaces this one).
    """
    present = [c for c in clients if c is not None]
    for client in sorted(present, key=lambda c: isinstance(c, AIOKafkaProducer)):
        try:
            await asyncio.wait_for(client.stop(), timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.info("closing an abandoned %s: %r", type(client).__name__, exc)
