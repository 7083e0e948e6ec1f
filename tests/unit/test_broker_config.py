"""Unit tests of the broker helpers that need no JVM, no Maven and no network."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.streams.broker import (
    KAFKA_VERSION,
    BrokerError,
    BrokerStartTimeout,
    JarsUnresolvable,
    JavaMissing,
    MavenMissing,
    PortInUse,
    ensure_jars,
    maven,
    render_server_properties,
    server,
    start,
    stop,
)
from driftline.streams.broker.security import SecuredListener, prepare


def _parse(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def no_jars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if a test that should stop early reaches jar resolution."""

    def refuse(*_args: Any, **_kwargs: Any) -> list[Path]:
        raise AssertionError("ensure_jars must not be reached")

    monkeypatch.setattr(server, "ensure_jars", refuse)


# --- render_server_properties ------------------------------------------------------------------

def test_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    props = _parse(render_server_properties(19092, 19093, tmp_path))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert Path(props["log.dirs"]).parent == tmp_path


def test_properties_tuned_for_one_node_and_fast_groups(tmp_path: Path) -> None:
    props = _parse(render_server_properties(1, 2, tmp_path))
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "min.insync.replicas", "default.replication.factor",
                "offsets.topic.num.partitions", "num.partitions"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["group.min.session.timeout.ms"] == "1000"
    assert props["auto.create.topics.enable"] == "false"
    assert "message.max.bytes" not in props


def test_properties_are_plain_key_value_lines(tmp_path: Path) -> None:
    text = render_server_properties(9092, 9093, tmp_path)
    assert text.endswith("\n")
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(line.count("=") >= 1 and line == line.strip() for line in body)
    assert len(body) == len(_parse(text)), "no key twice"


def test_a_secured_listener_adds_sasl_ssl_and_authorisation(tmp_path: Path) -> None:
    (tmp_path / "keystore.password").write_text("ks-password\n")
    secured = SecuredListener(19094, tmp_path, ("driftline",))
    props = _parse(render_server_properties(19092, 19093, tmp_path, secured))
    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:19094")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094"
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "required"
    assert props["listener.name.sasl_ssl.ssl.keystore.password"] == "ks-password"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["super.users"] == "User:ANONYMOUS" and props["allow.everyone.if.no.acl.found"] == "false"
    # The plaintext path is exactly what it was.
    plain = _parse(render_server_properties(19092, 19093, tmp_path))
    assert {k: v for k, v in props.items() if k in plain and k not in (
        "listeners", "advertised.listeners", "listener.security.protocol.map")} == {
        k: v for k, v in plain.items() if k not in ("listeners", "advertised.listeners",
                                                     "listener.security.protocol.map")}


def test_a_formatted_broker_is_not_given_users_it_never_had(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="new data folder"):
        prepare(tmp_path / "security", 19094, ("driftline",), formatted=True)


# --- ports and java -------------------------------------------------------------------------------

def test_port_in_use_detected_on_bound_socket(listening_port: int) -> None:
    with pytest.raises(PortInUse) as caught:
        server.ensure_port_free(listening_port)
    assert caught.value.port == listening_port
    assert str(listening_port) in str(caught.value)
    assert caught.value.retriable


def test_free_port_is_free() -> None:
    server.ensure_port_free(server.free_port())


def test_start_refuses_busy_port_before_resolving_jars(
    listening_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_jars: None
) -> None:
    monkeypatch.setattr(server, "_find_java", lambda: "/usr/bin/java")
    with pytest.raises(PortInUse) as caught:
        start(listening_port, tmp_path)
    assert caught.value.port == listening_port


def test_start_refuses_busy_controller_port(
    listening_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_jars: None
) -> None:
    monkeypatch.setattr(server, "_find_java", lambda: "/usr/bin/java")
    with pytest.raises(PortInUse) as caught:
        start(server.free_port(), tmp_path, controller_port=listening_port)
    assert caught.value.port == listening_port


def test_java_missing_when_path_has_no_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_jars: None
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaMissing):
        start(server.free_port(), tmp_path / "data")
    assert not (tmp_path / "data").exists(), "nothing written before the checks pass"


# --- stop -----------------------------------------------------------------------------------------

def test_stop_without_pid_file_reports_nothing_running(tmp_path: Path) -> None:
    assert stop(tmp_path) is False


def test_stop_ignores_stale_pid_of_other_process(tmp_path: Path) -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / server.PID_NAME).write_text(f"{child.pid}\n")
        assert stop(tmp_path) is False, "a live non-Kafka process is never signalled"
        assert child.poll() is None
        assert not (tmp_path / server.PID_NAME).exists()
    finally:
        child.kill()
        child.wait()


# --- ensure_jars ----------------------------------------------------------------------------------

class FakeMaven:
    """Stands in for ``subprocess.run``: records calls, optionally drops jars or fails."""

    def __init__(self, *, returncode: int = 0, output: str = "", jars: tuple[str, ...] = ()) -> None:
        self.calls: list[list[str]] = []
        self.returncode, self.output, self.jars = returncode, output, jars

    def __call__(self, command: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        out_dir = next(arg.split("=", 1)[1] for arg in command if arg.startswith("-DoutputDirectory="))
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for name in self.jars:
            (Path(out_dir) / name).write_bytes(b"PK")
        return subprocess.CompletedProcess(command, self.returncode, stdout=self.output)


@pytest.fixture
def fake_mvn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maven, "_find_mvn", lambda: "/usr/bin/mvn")


def _kafka_jars(version: str = KAFKA_VERSION) -> tuple[str, ...]:
    return (f"kafka_2.13-{version}.jar", f"kafka-clients-{version}.jar", "log4j-core-2.25.5.jar")


def test_ensure_jars_skips_maven_when_marker_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = maven.lib_dir(KAFKA_VERSION, tmp_path)
    lib.mkdir(parents=True)
    for name in _kafka_jars():
        (lib / name).write_bytes(b"PK")
    (lib / maven.MARKER_NAME).write_text("".join(f"{n}\n" for n in sorted(_kafka_jars())))
    never = FakeMaven()
    monkeypatch.setattr(maven.subprocess, "run", never)
    monkeypatch.setattr(maven, "_find_mvn", lambda: None)  # not even needed

    jars = ensure_jars(cache_dir=tmp_path)

    assert never.calls == []
    assert sorted(j.name for j in jars) == sorted(_kafka_jars())


def test_ensure_jars_resolves_once_then_uses_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mvn: None
) -> None:
    fake = FakeMaven(jars=_kafka_jars())
    monkeypatch.setattr(maven.subprocess, "run", fake)

    first = ensure_jars(cache_dir=tmp_path)
    second = ensure_jars(cache_dir=tmp_path)

    assert len(fake.calls) == 1
    assert first == second
    command = fake.calls[0]
    assert command[0] == "/usr/bin/mvn"
    assert {"-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime"} <= set(command)
    pom = maven.lib_dir(KAFKA_VERSION, tmp_path).parent / "pom.xml"
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom.read_text()
    assert maven.VERSION_PLACEHOLDER not in pom.read_text()


def test_ensure_jars_redoes_a_resolution_missing_a_jar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mvn: None
) -> None:
    fake = FakeMaven(jars=_kafka_jars())
    monkeypatch.setattr(maven.subprocess, "run", fake)
    jars = ensure_jars(cache_dir=tmp_path)
    jars[0].unlink()

    ensure_jars(cache_dir=tmp_path)

    assert len(fake.calls) == 2


def test_ensure_jars_failure_carries_maven_tail_and_writes_no_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mvn: None
) -> None:
    output = "\n".join(f"line {i}" for i in range(100)) + "\n[ERROR] Could not resolve kafka_2.13:9.9.9"
    monkeypatch.setattr(maven.subprocess, "run", FakeMaven(returncode=1, output=output))

    with pytest.raises(JarsUnresolvable) as caught:
        ensure_jars("9.9.9", cache_dir=tmp_path)

    assert "Could not resolve kafka_2.13:9.9.9" in caught.value.maven_output
    assert "line 0\n" not in caught.value.maven_output, "only the tail is kept"
    assert not (maven.lib_dir("9.9.9", tmp_path) / maven.MARKER_NAME).exists()


def test_ensure_jars_success_without_kafka_jar_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_mvn: None
) -> None:
    monkeypatch.setattr(maven.subprocess, "run", FakeMaven(jars=("scala-library-2.13.18.jar",)))
    with pytest.raises(JarsUnresolvable):
        ensure_jars(cache_dir=tmp_path)


def test_maven_missing_when_mvn_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MavenMissing):
        ensure_jars(cache_dir=tmp_path)


# --- errors ---------------------------------------------------------------------------------------

def test_error_hierarchy_and_attributes() -> None:
    for cls in (JavaMissing, MavenMissing, JarsUnresolvable, PortInUse, BrokerStartTimeout):
        assert issubclass(cls, BrokerError)
    assert BrokerError.retriable is False and JavaMissing.retriable is False
    timeout = BrokerStartTimeout("no answer", log_tail="ERROR boom")
    assert timeout.log_tail == "ERROR boom"
    assert "ERROR boom" in str(timeout)
