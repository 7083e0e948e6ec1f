"""A genuine single-node Apache Kafka (KRaft) for tests and local runs, from Maven Central jars.

Why not Docker or a tarball: neither is reachable everywhere this project runs, while Maven
Central is. ``ensure_jars`` resolves the broker once per version into a cache, ``start`` formats
storage (first time only), launches the JVM on 127.0.0.1 and waits until it serves metadata,
``stop`` shuts it down, and ``create_topics`` makes topics (auto-creation is off). With
``sasl_ssl_port`` it also serves a SASL_SSL listener with SCRAM users and ACLs (``SecuredListener``).
"""

from __future__ import annotations

from driftline.streams.broker.admin import create_topics
from driftline.streams.broker.errors import (
    BrokerError,
    BrokerStartTimeout,
    JarsUnresolvable,
    JavaMissing,
    MavenMissing,
    OpenSSLMissing,
    PortInUse,
)
from driftline.streams.broker.maven import KAFKA_VERSION, ensure_jars
from driftline.streams.broker.security import SecuredListener
from driftline.streams.broker.server import (
    BrokerHandle,
    free_port,
    is_formatted,
    render_server_properties,
    start,
    start_on_free_port,
    stop,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerHandle",
    "BrokerStartTimeout",
    "JarsUnresolvable",
    "JavaMissing",
    "MavenMissing",
    "OpenSSLMissing",
    "PortInUse",
    "SecuredListener",
    "create_topics",
    "ensure_jars",
    "free_port",
    "is_formatted",
    "render_server_properties",
    "start",
    "start_on_free_port",
    "stop",
]
