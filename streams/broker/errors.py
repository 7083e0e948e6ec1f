"""Errors raised while providing a local Kafka broker.

::

    BrokerError                 base of everything raised by ``streams.broker``; raised as
    │                           itself when a data dir is already in use or storage formatting
    │                           fails (both need a person, not a retry)
    ├── JavaMissing             no ``java`` on PATH (Kafka 4.x needs Java 17+)
    ├── MavenMissing            no ``mvn`` on PATH, so the broker's jars cannot be resolved
    ├── JarsUnresolvable        Maven ran but could not resolve the jars (``maven_output``)
    ├── PortInUse               a port the broker needs is taken (``port``)
    ├── OpenSSLMissing          no ``openssl`` on PATH for the SASL_SSL listener's certificates
    └── BrokerStartTimeout      the broker died or did not answer metadata in time (``log_tail``)

Context travels as attributes, not only in the message, so a fixture or CLI can print the
broker's own last words or retry on another port without parsing text.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error raised while resolving, starting or stopping the local broker."""

    #: Whether retrying the same call may succeed. A missing JDK will not install itself.
    retriable = False


class JavaMissing(BrokerError):  # noqa: N818 - names fixed by the public API
    """``java`` is not on PATH: the broker and its storage tool are JVM programs."""


class MavenMissing(BrokerError):  # noqa: N818 - names fixed by the public API
    """``mvn`` is not on PATH and the jar cache is not populated yet."""


class JarsUnresolvable(BrokerError):  # noqa: N818 - names fixed by the public API
    """Maven failed to resolve the broker's classpath (network, unknown version, bad POM)."""

    #: Registry hiccups are common; a second try often works.
    retriable = True

    def __init__(self, message: str, *, maven_output: str = "") -> None:
        super().__init__(message)
        self.maven_output = maven_output


class PortInUse(BrokerError):  # noqa: N818 - names fixed by the public API
    """A listener or controller port is already bound on 127.0.0.1."""

    #: The holder may go away (a previous broker still shutting down), or pick another port.
    retriable = True

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


class OpenSSLMissing(BrokerError):  # noqa: N818 - named like its siblings
    """``openssl`` is not on PATH, so no certificates can be made for the SASL_SSL listener."""


class BrokerStartTimeout(BrokerError):  # noqa: N818 - names fixed by the public API
    """The broker process exited or did not answer a metadata request before the deadline."""

    #: Slow machines sometimes just need a longer timeout.
    retriable = True

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- broker log tail ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail
