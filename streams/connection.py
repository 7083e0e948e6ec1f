"""How every driftline Kafka client connects: the address, the timeouts and (where configured)
the transport security, in one place.

Every aiokafka client the service opens (the scoring, join and performance agents, the
model-updates reader, the CLI's producers and readers, the topic admin) takes its connection
keywords from `client_options`, and the Faust app its credentials from `faust_credentials`, so a
setting such as ``kafka_request_timeout_ms`` or ``kafka_security_protocol`` means the same thing
for all of them and a deployment configures its cluster once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
)

from driftline.streams.security import SSL_PROTOCOLS, TransportSecurity, transport_security
from driftline.streams.settings import Settings

if TYPE_CHECKING:
    import faust

log = logging.getLogger(__name__)

_Client = TypeVar("_Client", AIOKafkaConsumer, AIOKafkaProducer)


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


#: The broker knows who we are but an ACL does not allow the operation: also for a person to fix.
AUTHORIZATION_ERRORS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError,
                        ClusterAuthorizationFailedError, TransactionalIdAuthorizationFailed)


def not_authorized(settings: Settings, exc: Exception) -> str:
    """One line for an ``AUTHORIZATION_ERRORS`` error: who we were and what was refused."""
    return (f"the broker refused an operation to {transport_security(settings).describe()}: "
            f"{str(exc).rstrip('.')}; the "
            "principal needs the ACLs in README.md, 'Secure a cluster'")


class HandshakeRefused(Exception):  # noqa: N818 - says what happened, like the broker errors
    """The broker refused our TLS or SASL handshake: a configuration fault, not an outage."""


async def check_handshake(settings: Settings) -> None:
    """Connect once to the first bootstrap broker with the configured security.

    Why: a refused password or an untrusted certificate is something only a person can fix, but
    aiokafka reports it as "Unable to bootstrap" (the reason only in a log line) and its clients
    retry it. A refusal raises ``HandshakeRefused`` with the broker's reason and the setting to
    check; a broker that cannot be reached at all is left to the clients' own errors and retries.
    """
    security = transport_security(settings)
    if security.protocol == "PLAINTEXT":
        return
    host, _, port = settings.broker.split(",")[0].strip().rpartition(":")
    try:
        connection = await create_conn(host, int(port), request_timeout_ms=settings.kafka_request_timeout_ms,
                                       **security.client_options())
    except (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError) as exc:
        raise HandshakeRefused(f"the broker at {host}:{port} refused {security.describe()}: {_reason(exc)}; "
                               "check kafka_sasl_username and the password") from None
    except ssl.SSLError as exc:
        raise HandshakeRefused(f"TLS handshake with {host}:{port} failed: {_reason(exc)}; check "
                               "kafka_ssl_cafile and that the broker's certificate names that host") from None
    except KafkaConnectionError as exc:
        if security.protocol in SSL_PROTOCOLS:
            raise HandshakeRefused(_closed_during_handshake(host, port, security, exc)) from None
        return
    except (OSError, KafkaError, TimeoutError):
        return
    connection.close()


def _closed_during_handshake(host: str, port: str, security: TransportSecurity, exc: Exception) -> str:
    # A broker that requires client certificates closes the connection after TLS, at the first request.
    return (f"the broker at {host}:{port} closed the connection during the {security.describe()} handshake "
            f"({_reason(exc)}): does it require a client certificate (kafka_ssl_certfile) signed by a CA it "
            "trusts, or is the port not a TLS listener?")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return str(reason).strip()


class BrokerUnreachable(Exception):  # noqa: N818 - says what happened, like the broker errors
    """No broker of the bootstrap list answered: an outage or a wrong address, for a person to fix."""


def unreachable(settings: Settings, exc: BaseException | None = None) -> BrokerUnreachable:
    """The one line a command says when the cluster does not answer."""
    reason = "no broker of the bootstrap list answered"
    if exc is not None:
        reason = str(exc).strip() or type(exc).__name__
    return BrokerUnreachable(f"cannot reach Kafka at {settings.broker} ({reason}); check the setting broker "
                             "(--broker, $DRIFTLINE_BROKER) and that the broker runs (driftline kafka start)")


async def check_reachable(settings: Settings) -> None:
    """Ask the cluster for metadata once, so a command that needs Kafka says it cannot reach it
    before it changes anything (a registry promotion the workers never hear of, for instance)."""
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(**client_options(settings), client_id=f"{settings.app_id}-cli")
    # aiokafka logs each failed attempt as an ERROR; the line raised here says it once, and better.
    with _quiet("aiokafka"):
        try:
            await client.bootstrap()
        except (KafkaError, OSError):
            raise unreachable(settings) from None
        finally:
            await client.close()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.asynccontextmanager
async def running(client: _Client) -> AsyncIterator[_Client]:
    """Start an aiokafka client and stop it on every path, a failed start included: aiokafka leaves
    a client whose bootstrap failed open, and at exit it complains of it as unclosed."""
    try:
        await client.start()
        yield client
    finally:
        await client.stop()
