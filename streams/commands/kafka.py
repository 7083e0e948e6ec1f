"""``driftline kafka start|stop``: a real single-node Kafka (KRaft) for development and tests."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from driftline.streams.settings import Settings

if TYPE_CHECKING:
    from driftline.streams.broker.security import SecuredListener


def register(sub: Any) -> None:
    kafka = sub.add_parser("kafka", help="run a local single-node Apache Kafka (KRaft) from Maven jars")
    actions = kafka.add_subparsers(title="actions", metavar="ACTION")
    start = actions.add_parser("start", help="resolve the jars, format storage if new, start and wait "
                               "until the broker answers")
    stop = actions.add_parser("stop", help="stop the broker recorded in the data folder")
    for parser in (start, stop):
        parser.add_argument("--data-dir", dest="kafka_data_dir", help="broker data folder "
                            "(setting kafka_data_dir, default .driftline/kafka)")
    start.add_argument("--port", dest="kafka_port", type=int, help="listener port (setting kafka_port, "
                       "default 9092)")
    start.add_argument("--sasl-ssl-port", type=int, metavar="PORT", help="also listen with SASL_SSL on PORT: "
                       "a private CA, required client certificates, SCRAM-SHA-512 users and ACL "
                       "authorisation (files in DATA_DIR/security; users are made on first start only)")
    start.add_argument("--scram-user", action="append", metavar="NAME", help="a SCRAM user to create "
                       "besides 'driftline' (repeatable); each password goes to "
                       "DATA_DIR/security/users/NAME.password")
    start.set_defaults(handler=_start)
    stop.set_defaults(handler=_stop)


def _start(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.broker import BrokerError, start
    from driftline.streams.broker.security import DEFAULT_USERS

    users = tuple(dict.fromkeys([*DEFAULT_USERS, *(args.scram_user or [])]))
    try:
        handle = start(port=settings.kafka_port, data_dir=settings.kafka_data_dir,
                       sasl_ssl_port=args.sasl_ssl_port, scram_users=users)
    except BrokerError as exc:
        print(f"driftline kafka start: {exc}", file=sys.stderr)
        return 1
    print(f"kafka is listening on {handle.bootstrap} (pid {handle.pid}, data {handle.data_dir}, "
          f"log {handle.log_path})")
    if handle.secured is not None:
        _print_secured(handle.secured)
    return 0


def _print_secured(secured: SecuredListener) -> None:
    """Where the listener is and the settings that reach it (the password stays in its file)."""
    print(f"SASL_SSL on {secured.bootstrap} (SCRAM-SHA-512 users: {', '.join(secured.users)}; ACLs enforced, "
          f"PLAINTEXT on loopback is the ANONYMOUS super user); a client of user driftline sets:")
    variables = {"BROKER": secured.bootstrap, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                 "KAFKA_SSL_CAFILE": secured.ca_file, "KAFKA_SSL_CERTFILE": secured.client_cert_file,
                 "KAFKA_SSL_KEYFILE": secured.client_key_file, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                 "KAFKA_SASL_USERNAME": "driftline",
                 "KAFKA_SASL_PASSWORD_FILE": secured.password_file("driftline")}
    for name, value in variables.items():
        print(f"  DRIFTLINE_{name}={value}")


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.streams.broker import stop

    was_running = stop(settings.kafka_data_dir)
    print("kafka stopped" if was_running else f"no kafka was running from {settings.kafka_data_dir}")
    return 0
