"""How every driftline Kafka client connects: the address, the timeouts and (where configured)
the transport security, in one place.

Every aiokafka client the service opens (the scoring, join and performance agents, the
model-updates reader, the CLI's producers and readers, the topic admin) takes its connection
keywords from `client_options`, so a setting such as ``kafka_request_timeout_ms`` means the same
thing for all of them and a deployment configures its cluster once.
"""

from __future__ import annotations

from typing import Any

from streams.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by ``AIOKafkaConsumer``, ``AIOKafkaProducer`` and the admin client."""
    return {
        "bootstrap_servers": settings.broker,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "retry_backoff_ms": settings.kafka_retry_backoff_ms,
    }
