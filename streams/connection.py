"""How every driftline Kafka client connects: the address, the timeouts and (where configured)
the transport security, in one place.

Every aiokafka client the service opens (the scoring, join and performance agents, the
model-updates reader, the CLI's producers and readers, the topic admin) takes its connection
keywords from `client_options`, and the Faust app its credentials from `faust_credentials`, so a
setting such as ``kafka_request_timeout_ms`` or ``kafka_security_protocol`` means the same thing
for all of them and a deployment configures its cluster once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.security import transport_security
from streams.settings import Settings

if TYPE_CHECKING:
    import faust


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by ``AIOKafkaConsumer``, ``AIOKafkaProducer`` and the admin client.

    Raises ``TransportSettingsError`` when the security settings do not fit together.
    """
    return {
        "bootstrap_servers": settings.broker,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "retry_backoff_ms": settings.kafka_retry_backoff_ms,
        **transport_security(settings).client_options(),
    }


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The same security as Faust's ``broker_credentials`` (None: plaintext)."""
    import faust  # only workers need it; the CLI's other commands start faster without it

    security = transport_security(settings)
    if security.sasl_mechanism:
        return faust.SASLCredentials(username=security.sasl_username,
                                     password=security.sasl_password.reveal(),
                                     ssl_context=security.ssl_context, mechanism=security.sasl_mechanism)
    if security.ssl_context is not None:
        return faust.SSLCredentials(security.ssl_context)
    return None
