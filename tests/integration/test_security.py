"""Transport security on a real broker: TLS with a private CA and client certificates, SCRAM-SHA-512,
and Kafka's StandardAuthorizer with the ACLs the README's "Secure a cluster" section shows.

The broker is this module's own (the session broker stays plaintext): ``start(sasl_ssl_port=...)``
adds a SASL_SSL listener with the users ``driftline`` (the service) and ``producer`` (a client that
may write events and nothing else). Administration (ACLs, reading outputs) goes through the
loopback plaintext listener, whose ANONYMOUS principal is the super user.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import BrokerHandle, start_on_free_port, stop
from driftline.streams.broker.security import SecuredListener
from driftline.streams.connection import HandshakeRefused, check_handshake, client_options
from driftline.streams.settings import Secret, Settings
from driftline.streams.topics import ensure_topics, topic_layout
from tests.command import DRIFTLINE
from tests.integration.support import (
    TopicReader,
    WorkerProcess,
    isolated_settings,
    wait_for_group,
    worker_environment,
)

EVENTS = 2000
SERVICE, PRODUCER = "driftline", "producer"


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerHandle]:
    data_dir = tmp_path_factory.mktemp("kafka-secured")
    handle = start_on_free_port(data_dir, sasl_ssl=True, scram_users=(SERVICE, PRODUCER))
    try:
        yield handle
    finally:
        stop(data_dir)


def listener(broker: BrokerHandle) -> SecuredListener:
    assert broker.secured is not None
    return broker.secured


def password(broker: BrokerHandle, user: str) -> str:
    return listener(broker).password_file(user).read_text(encoding="utf-8").strip()


def secured_settings(broker: BrokerHandle, prefix: str, registry: Path, user: str,
                     **overrides: object) -> Settings:
    """A deployment on the SASL_SSL listener: CA, client certificate, SCRAM user (password in the
    environment unless ``overrides`` name a password file)."""
    tls = listener(broker)
    base = isolated_settings(tls.bootstrap, prefix, registry)
    return dataclasses.replace(base, **{
        "kafka_security_protocol": "SASL_SSL", "kafka_ssl_cafile": str(tls.ca_file),
        "kafka_ssl_certfile": str(tls.client_cert_file), "kafka_ssl_keyfile": str(tls.client_key_file),
        "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": user,
        "kafka_sasl_password": Secret(password(broker, user)), **overrides})


def grant(broker: BrokerHandle, prefix: str) -> None:
    """The README's ACLs, on this test's topic names: the service may do everything on its own
    topics, groups and transactions; the producer may write events. Nobody else may do anything."""
    def allow(principal: str, resource: ResourceType, name: str, pattern: ResourcePatternType,
              operation: AclOperation) -> AclBinding:
        return AclBinding(resource, name, pattern, f"User:{principal}", "*", operation,
                          AclPermissionType.ALLOW)

    prefixed = ResourcePatternType.PREFIXED
    bindings = [allow(SERVICE, kind, f"{prefix}-", prefixed, AclOperation.ALL)
                for kind in (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID)]
    literal = ResourcePatternType.LITERAL
    bindings += [allow(PRODUCER, ResourceType.TOPIC, f"{prefix}-events", literal, operation)
                 for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_acls(bindings).values():
        future.result(timeout=30)
    # The authorizer applies ACLs as the metadata log reaches it: wait until it answers with them.
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + 30
    while len(admin.describe_acls(everything).result(timeout=30)) < len(bindings):
        assert time.monotonic() < deadline, "the broker did not report the new ACLs within 30 s"
        time.sleep(0.1)  # polling a condition with a deadline


async def send_events(settings: Settings, ids: list[str]) -> None:
    """Publish events as ``settings``' principal over its secured connection."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        rows = SyntheticStream(seed=11).rows(len(ids))
        deliveries = [await producer.send(settings.topic_events, orjson.dumps({"id": i, "features": row}),
                                          key=i.encode()) for i, row in zip(ids, rows, strict=True)]
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def write_model_update(settings: Settings) -> None:
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_model_updates, b'{"action": "promote"}', key=b"demo")
    finally:
        await producer.stop()


def settings_output(settings: Settings) -> tuple[str, str]:
    """``driftline settings`` (stdout, stderr) in the environment a worker of ``settings`` gets."""
    done = subprocess.run([*DRIFTLINE, "settings"], capture_output=True, text=True,
                          env=worker_environment(settings), timeout=60, check=True)
    return done.stdout, done.stderr


async def every_record(bootstrap: str, settings: Settings, timeout: float = 60) -> bytes:
    """Keys and values of every record on every topic of ``settings``, whatever their encoding."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for topic, (count, _) in topic_layout(settings).items()
                      for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end, chunks, deadline = await consumer.end_offsets(partitions), [], time.monotonic() + timeout
        while [tp for tp, offset in end.items() if await consumer.position(tp) < offset]:
            assert time.monotonic() < deadline, "the output topics were not read to their end in time"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                chunks += [part for r in batch for part in (r.key or b"", r.value or b"")]
        return b"\n".join(chunks)
    finally:
        await consumer.stop()


def wait_for_exit(worker: WorkerProcess, timeout: float) -> int:
    assert worker.process is not None
    try:
        return worker.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not exit within {timeout}s:\n{worker.log_tail()}") from None


async def test_a_secured_deployment_scores_refuses_and_leaks_nothing(
        secured_broker: BrokerHandle, topic_prefix: str, demo_registry: Path, tmp_path: Path) -> None:
    """A worker with TLS and SCRAM credentials scores events on the local broker's SASL_SSL listener;
    wrong credentials get one clear error and exit; a principal without the ACL cannot write
    `model-updates`; a scan of the run's logs, outputs and `settings` output finds no secret."""
    grant(secured_broker, topic_prefix)
    service = secured_settings(secured_broker, topic_prefix, demo_registry, SERVICE)
    producer = secured_settings(secured_broker, topic_prefix, demo_registry, PRODUCER)
    await ensure_topics(service)

    # Scores: every event the producer principal sends becomes exactly one prediction.
    worker = WorkerProcess(service, tmp_path / "worker.log")
    worker.start()
    try:
        ids = [f"sec-{n}" for n in range(EVENTS)]
        await send_events(producer, ids)
        outputs = (service.topic_predictions, service.topic_deadletter)
        async with TopicReader(secured_broker.bootstrap, outputs) as out:
            await out.read_until(lambda r: len(r.records[service.topic_predictions]) >= EVENTS, timeout=180,
                                 alive=worker.assert_alive)
            predicted = [str(value["id"]) for _, value in out.records[service.topic_predictions]]
            assert sorted(predicted) == sorted(ids) and out.records[service.topic_deadletter] == []
        # Every consumer group joined over SASL_SSL. Waiting for all of them also keeps the stop below
        # out of a join in progress.
        for group in (service.group_id, f"{service.group_id}-monitor", f"{service.group_id}-join",
                      f"{service.group_id}-performance"):
            await wait_for_group(secured_broker.bootstrap, group, 1, timeout=60, alive=worker.assert_alive)
    finally:
        assert worker.stop() == 0, worker.log_tail()

    # Wrong credentials: one clear line naming the cause, exit code 3, no traceback, no retry storm.
    wrong_file = tmp_path / "wrong.password"
    wrong_file.write_text("not-the-password-0123456789\n", encoding="utf-8")
    wrong = dataclasses.replace(service, kafka_sasl_password=Secret(),
                                kafka_sasl_password_file=str(wrong_file), app_id=f"{topic_prefix}-wrong")
    refused = WorkerProcess(wrong, tmp_path / "wrong.log")
    refused.start()
    assert wait_for_exit(refused, timeout=90) == 3
    wrong_log = refused.log_path.read_text(encoding="utf-8")
    errors = [line for line in wrong_log.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert len(errors) == 1 and "refused SASL_SSL (SCRAM-SHA-512 as user 'driftline')" in errors[0] \
        and "invalid credentials" in errors[0], wrong_log
    assert "Traceback" not in wrong_log and len(wrong_log.splitlines()) < 10, wrong_log

    # Authorisation: the producer may write events, but not model-updates.
    with pytest.raises(TopicAuthorizationFailedError):
        await write_model_update(producer)

    # Scan: logs, every record of every topic and `driftline settings` hold no secret.
    shown, shown_errors = settings_output(service)
    assert orjson.loads(shown)["kafka_sasl_password"] == "***"
    key_lines = [line for line in listener(secured_broker).client_key_file.read_text().splitlines()
                 if line and not line.startswith("-----")]
    secrets = [password(secured_broker, SERVICE), password(secured_broker, PRODUCER),
               "not-the-password-0123456789", "PRIVATE KEY", *key_lines]
    records = (await every_record(secured_broker.bootstrap, service)).decode("utf-8", "replace")
    assert sum(1 for i in ids if f'"{i}"' in records) == EVENTS  # the scan did see the outputs
    scanned = {"worker log": worker.log_path.read_text(encoding="utf-8"), "wrong-password log": wrong_log,
               "settings output": shown + shown_errors, "topic records": records,
               "broker log": secured_broker.log_path.read_text(encoding="utf-8")}
    for name, text in scanned.items():
        leaked = [secret[:4] + "…" for secret in secrets if secret in text]
        assert not leaked, f"{name} holds secrets: {leaked}"


async def test_a_broker_certificate_from_an_untrusted_ca_is_refused_in_one_line(
        secured_broker: BrokerHandle, topic_prefix: str, demo_registry: Path) -> None:
    # No kafka_ssl_cafile: the system trust store, which never signed the local CA.
    untrusting = secured_settings(secured_broker, topic_prefix, demo_registry, SERVICE, kafka_ssl_cafile="")
    with pytest.raises(HandshakeRefused, match=r"TLS handshake .* failed: self-signed certificate"):
        await check_handshake(untrusting)


async def test_a_client_without_a_certificate_is_refused_by_the_listener(
        secured_broker: BrokerHandle, topic_prefix: str, demo_registry: Path) -> None:
    anonymous = secured_settings(secured_broker, topic_prefix, demo_registry, SERVICE, kafka_ssl_certfile="",
                                 kafka_ssl_keyfile="")
    with pytest.raises(HandshakeRefused, match="client certificate"):
        await check_handshake(anonymous)
