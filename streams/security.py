"""Transport security of driftline's Kafka clients: TLS and SASL from settings, checked up front.

``transport_security`` turns the ``kafka_*`` security settings into what a client needs (an
``ssl.SSLContext``, a SASL mechanism, a username and a password) once per settings object, after
checking that they fit together: a SASL mechanism needs a SASL protocol, a username and a
password; TLS files must exist and load; a secret comes from the environment or a file, not both.
A mistake raises ``TransportSettingsError`` naming the setting, before any client connects, so a
worker says what is wrong in one line instead of retrying a handshake that can never succeed.

Secrets stay ``Secret`` values until the moment a client is built; nothing here logs them.
"""

from __future__ import annotations

import functools
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.streams.settings import NO_SECRET, Secret, Settings, SettingsError

log = logging.getLogger(__name__)

SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class TransportSettingsError(SettingsError):
    """The security settings do not fit together, or a file they name cannot be used."""


@dataclass(frozen=True)
class TransportSecurity:
    """Checked security settings of one deployment, ready to hand to aiokafka or Faust."""

    protocol: str
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: Secret = NO_SECRET

    def client_options(self) -> dict[str, Any]:
        """aiokafka's security keywords (the password revealed: for a client, never for a log)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        if self.sasl_mechanism:
            options |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.sasl_username,
                        "sasl_plain_password": self.sasl_password.reveal()}
        return options

    def describe(self) -> str:
        """How we connect, for messages: protocol, mechanism and user, never a secret."""
        if not self.sasl_mechanism:
            return self.protocol
        return f"{self.protocol} ({self.sasl_mechanism} as user {self.sasl_username!r})"


@functools.cache
def transport_security(settings: Settings) -> TransportSecurity:
    """The checked security of ``settings`` (cached: files are read and the context built once)."""
    protocol = settings.kafka_security_protocol
    _refuse_ignored_settings(settings)
    context = _ssl_context(settings) if protocol in SSL_PROTOCOLS else None
    if protocol not in SASL_PROTOCOLS:
        return TransportSecurity(protocol, context)
    mechanism, username = settings.kafka_sasl_mechanism, settings.kafka_sasl_username
    if not mechanism:
        raise _error("kafka_sasl_mechanism", f"is needed with kafka_security_protocol {protocol} "
                     "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
    if not username:
        raise _error("kafka_sasl_username", f"is needed with kafka_sasl_mechanism {mechanism}")
    password = _secret(settings, "kafka_sasl_password", required=True)
    return TransportSecurity(protocol, context, mechanism, username, password)


def _refuse_ignored_settings(settings: Settings) -> None:
    """A setting the protocol would silently ignore is a misunderstanding worth stopping for:
    whoever set a password or a CA believes the connection is authenticated or encrypted."""
    protocol = settings.kafka_security_protocol
    ignored: list[str] = []
    if protocol not in SASL_PROTOCOLS:
        ignored += ["kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password",
                    "kafka_sasl_password_file"]
    if protocol not in SSL_PROTOCOLS:
        ignored += ["kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password",
                    "kafka_ssl_key_password_file"]
    for name in ignored:
        if getattr(settings, name):
            raise _error(name, f"is set but kafka_security_protocol is {protocol}, which does not use it")


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verify the broker (CA, hostname) and present a client certificate if one is configured."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.kafka_ssl_cafile:
        path = _readable(settings, "kafka_ssl_cafile")
        try:
            context.load_verify_locations(cafile=str(path))
        except ssl.SSLError as exc:
            raise _error("kafka_ssl_cafile", f"{path} holds no usable PEM certificate ({exc.reason})") \
                from None
    context.check_hostname = settings.kafka_ssl_check_hostname
    if not context.check_hostname:
        log.warning("kafka_ssl_check_hostname is off: a certificate the CA signed is accepted for any broker")
    if settings.kafka_ssl_certfile or settings.kafka_ssl_keyfile:
        _load_client_certificate(context, settings)
    return context


def _load_client_certificate(context: ssl.SSLContext, settings: Settings) -> None:
    if not settings.kafka_ssl_certfile:
        raise _error("kafka_ssl_certfile", "is needed with kafka_ssl_keyfile (the certificate of that key)")
    certfile = _readable(settings, "kafka_ssl_certfile")
    keyfile = _readable(settings, "kafka_ssl_keyfile") if settings.kafka_ssl_keyfile else None
    password = _secret(settings, "kafka_ssl_key_password", required=False)
    try:
        # A callable, so an encrypted key without a password fails here instead of prompting.
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None,
                                password=lambda: password.reveal().encode())
    except ssl.SSLError as exc:
        name = ("kafka_ssl_key_password" if password else
                "kafka_ssl_keyfile" if keyfile else "kafka_ssl_certfile")
        raise _error(name, "the client certificate and key do not load: not PEM, a key that does not match "
                     f"the certificate, or a wrong or missing key password ({exc.reason})") from None


def _secret(settings: Settings, name: str, *, required: bool) -> Secret:
    """A secret from its setting (the environment) or from the file its ``*_file`` setting names."""
    direct: Secret = getattr(settings, name)
    file_setting = f"{name}_file"
    if direct and getattr(settings, file_setting):
        raise _error(name, f"and {file_setting} are both set; give the secret one way")
    if getattr(settings, file_setting):
        text = _readable(settings, file_setting).read_text(encoding="utf-8").rstrip("\r\n")
        if not text:
            raise _error(file_setting, f"{getattr(settings, file_setting)} is empty")
        return Secret(text)
    if required and not direct:
        raise _error(name, f"is needed: set ${'DRIFTLINE_' + name.upper()} or name a file in {file_setting}")
    return direct


def _readable(settings: Settings, name: str) -> Path:
    path = Path(getattr(settings, name))
    try:
        with path.open("rb"):
            return path
    except OSError as exc:
        raise _error(name, f"{path} cannot be read ({exc.strerror})") from None


def _error(setting: str, message: str) -> TransportSettingsError:
    return TransportSettingsError(f"setting {setting}: {message}", setting=setting)
