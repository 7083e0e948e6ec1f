"""A SASL_SSL listener for the local broker: a private CA, TLS certificates, SCRAM users, ACLs on.

What ``start(..., sasl_ssl_port=P)`` adds beside the plaintext listener, so the service's TLS,
SCRAM and authorisation paths run against a genuine broker rather than a mock:

* a CA and certificates made with the ``openssl`` CLI: the broker's (for 127.0.0.1 and
  localhost, so clients verify the hostname) and a client certificate the listener requires;
* SCRAM-SHA-512 users, created when the storage is formatted (KRaft keeps them in its metadata
  log), each with a random password in a file only its owner can read;
* Kafka's ``StandardAuthorizer``: no ACL, no access. ``User:ANONYMOUS`` (the loopback plaintext
  and controller listeners, where the broker talks to itself and tests administer) is a super user.

Everything lives in ``<data_dir>/security``::

    ca.pem, ca.key              the CA (clients' ``kafka_ssl_cafile``)
    broker.pem, broker.key      the broker's certificate and key, and broker.p12 (its keystore)
    client.pem, client.key      a client certificate (``kafka_ssl_certfile``/``kafka_ssl_keyfile``)
    keystore.password           the keystore's password
    users/<name>.password       a SCRAM user's password (``kafka_sasl_password_file``)

Files are made once and reused, like the storage: a restarted broker keeps its users and CA.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from driftline.streams.broker.errors import BrokerError, OpenSSLMissing

HOST = "127.0.0.1"
MECHANISM = "SCRAM-SHA-512"
LISTENER = "SASL_SSL"
#: Principals allowed everything: the plaintext loopback and controller listeners authenticate
#: nobody, so the broker's own requests (and an operator on the machine) arrive as ANONYMOUS.
SUPER_USERS = "User:ANONYMOUS"
DEFAULT_USERS = ("driftline",)
_OPENSSL_TIMEOUT_S = 60.0
_CERT_DAYS = 825


@dataclass(frozen=True)
class SecuredListener:
    """The SASL_SSL listener's port and the files it was given."""

    port: int
    directory: Path
    users: tuple[str, ...]

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client.key"

    def password_file(self, user: str) -> Path:
        return self.directory / "users" / f"{user}.password"

    def apply(self, properties: dict[str, str]) -> dict[str, str]:
        """``properties`` (a plaintext single-node config) with this listener and authorisation."""
        keystore_password = (self.directory / "keystore.password").read_text(encoding="utf-8").strip()
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        # Listener-prefixed: a broker-wide ssl.client.auth applies to SSL listeners only.
        tls = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.directory / "broker.p12"),
            "ssl.keystore.password": keystore_password,
            "ssl.key.password": keystore_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.client.auth": "required",
            f"{MECHANISM.lower()}.sasl.jaas.config": jaas,
        }
        return {
            **properties,
            "listeners": f"{properties['listeners']},{LISTENER}://{self.bootstrap}",
            "advertised.listeners": f"{properties['advertised.listeners']},{LISTENER}://{self.bootstrap}",
            "listener.security.protocol.map": f"{properties['listener.security.protocol.map']},"
                                              f"{LISTENER}:{LISTENER}",
            "sasl.enabled.mechanisms": MECHANISM,
            **{f"listener.name.{LISTENER.lower()}.{key}": value for key, value in tls.items()},
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": SUPER_USERS,
        }

    def scram_arguments(self) -> list[str]:
        """``StorageTool format`` arguments creating every user (they hold passwords: never log them)."""
        arguments = []
        for user in self.users:
            password = self.password_file(user).read_text(encoding="utf-8").strip()
            arguments += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
        return arguments


def prepare(directory: Path, port: int, users: tuple[str, ...], *, formatted: bool) -> SecuredListener:
    """Make (or reuse) the CA, certificates and passwords of a SASL_SSL listener on ``port``.

    Users exist only if they were there when the storage was formatted: asking a formatted
    broker for a user it never had is refused rather than silently ignored.
    """
    listener = SecuredListener(port, directory, users)
    (directory / "users").mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    for user in users:
        if not listener.password_file(user).is_file():
            if formatted:
                raise BrokerError(f"SCRAM user {user!r} is not on the broker in {directory.parent}: users "
                                  "are created when the storage is first formatted; use a new data folder")
            _write_private(listener.password_file(user), secrets.token_urlsafe(24))
    if not (directory / "broker.p12").is_file():
        _make_certificates(directory)
    return listener


def _make_certificates(directory: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise OpenSSLMissing("openssl is not on PATH; it makes the SASL_SSL listener's certificates "
                             "(Debian package 'openssl')")
    _write_private(directory / "keystore.password", secrets.token_urlsafe(24))
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG, encoding="utf-8")
    run = _openssl_runner(openssl, directory)
    run("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", str(_CERT_DAYS), "-config", config.name, "-extensions", "ca",
        "-subj", "/CN=driftline local CA")
    for name, extensions in (("broker", "broker"), ("client", "client")):
        run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-config", config.name, "-subj", f"/CN={'localhost' if name == 'broker' else 'driftline'}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
            str(secrets.randbits(63)), "-days", str(_CERT_DAYS), "-out", f"{name}.pem",
            "-extfile", config.name, "-extensions", extensions)
        (directory / f"{name}.csr").unlink()
    run("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem", "-name",
        "broker", "-out", "broker.p12", "-passout", "file:keystore.password")
    for key in ("ca.key", "broker.key", "client.key", "broker.p12"):
        (directory / key).chmod(0o600)


def _openssl_runner(openssl: str, directory: Path) -> Callable[..., None]:
    def run(*arguments: str) -> None:
        try:
            done = subprocess.run([openssl, *arguments], cwd=directory, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=_OPENSSL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"openssl {arguments[0]} did not finish in {_OPENSSL_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0:
            raise BrokerError(f"openssl {arguments[0]} exited with {done.returncode}:\n{done.stderr}")
    return run


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, from the first byte on."""
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(text + "\n", encoding="utf-8")


#: Our own config, so no system openssl.cnf default (a CA flag on a leaf, say) creeps in.
_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = driftline
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[broker]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
