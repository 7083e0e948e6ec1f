"""Start and stop a real single-node Apache Kafka broker (KRaft, combined roles, loopback only).

Why a real broker: the worker's guarantees (nothing lost, nothing re-read after a commit) are
properties of Kafka's group coordinator and log, which no in-memory fake reproduces.

Everything lives in ``data_dir``::

    server.properties   rendered by ``render_server_properties``
    log4j2.properties   copy of the packaged config (WARN and above, to stderr)
    broker.log          the JVM's stdout and stderr, so log4j output and crashes in one place
    gc.log              the JVM's collector log: every pause and how long it took
    broker.pid          pid of the running broker, read by ``stop``
    kraft-logs/         ``log.dirs``: metadata log and topic data (formatted once, then reused)
    security/           with ``sasl_ssl_port``: CA, certificates, SCRAM passwords
                        (``streams.broker.security``)

A broker is started detached (its own session), so it outlives neither more nor less than
``stop`` says: callers own its lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from driftline.streams.broker.errors import BrokerError, BrokerStartTimeout, JavaMissing, PortInUse
from driftline.streams.broker.maven import KAFKA_VERSION, ensure_jars
from driftline.streams.broker.security import DEFAULT_USERS, SecuredListener, prepare

log = logging.getLogger(__name__)

T = TypeVar("T")

HOST = "127.0.0.1"
DEFAULT_PORT = 9092
#: Relative to the caller's working directory; ``.driftline/`` is git-ignored.
DEFAULT_DATA_DIR = Path(".driftline") / "kafka"

PROPERTIES_NAME = "server.properties"
LOG4J_NAME = "log4j2.properties"
GC_LOG_NAME = "gc.log"
#: The collector settings of Kafka's own start script: G1 aiming at 20 ms pauses (its default aim
#: is 200 ms, which shows up directly in the end-to-end latency of every client).
JVM_GC_FLAGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent")
LOG_NAME = "broker.log"
PID_NAME = "broker.pid"
LOG_DIRS_NAME = "kraft-logs"
SECURITY_DIR_NAME = "security"

_POLL_INTERVAL_S = 0.2
_PROBE_TIMEOUT_S = 3.0
_TOOL_TIMEOUT_S = 120.0
_LOG_TAIL_LINES = 40


class _BrokerProcess(subprocess.Popen[bytes]):
    """A broker child that may outlive this interpreter on purpose (``driftline kafka start``).

    Plain ``Popen`` warns (ResourceWarning) when collected while its child still runs, which is
    the normal case here, and an error under ``-W error``. Reaping is done by ``_wait_exit``.
    """

    def __del__(self) -> None:
        """Do not warn: the broker is detached by design and stopped through its pid file."""


#: Brokers this process launched, kept so they can be reaped (a dead child that is never waited
#: for stays a zombie, which would look alive to ``kill(pid, 0)``).
_CHILDREN: dict[int, _BrokerProcess] = {}


@dataclass(frozen=True)
class BrokerHandle:
    """A running broker: where to connect, which process it is, where its files are."""

    bootstrap: str
    pid: int
    data_dir: Path
    log_path: Path
    controller_port: int = 0
    #: The SASL_SSL listener, when the broker was started with one.
    secured: SecuredListener | None = None


def render_server_properties(port: int, controller_port: int, data_dir: Path,
                             secured: SecuredListener | None = None) -> str:
    """The broker's config: one node, both KRaft roles, loopback, tuned for fast tests.

    Replication factors and ISR are 1 because there is one node; rebalance delay 0 and a single
    offsets partition make the first consumer-group join take milliseconds instead of seconds;
    ``group.min.session.timeout.ms=1000`` lets Faust use short sessions. Topics are created
    explicitly (``auto.create.topics.enable=false``), so a typo fails instead of making a topic.
    ``secured`` adds a SASL_SSL listener and turns authorisation on.
    """
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(Path(data_dir) / LOG_DIRS_NAME),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        "auto.create.topics.enable": "false",
    }
    if secured is not None:
        settings = secured.apply(settings)
    header = "# Rendered by streams.broker.server.render_server_properties; rewritten on every start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in settings.items())


def start(
    port: int = DEFAULT_PORT,
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    controller_port: int | None = None,
    heap: str = "512m",
    timeout: float = 90.0,
    version: str = KAFKA_VERSION,
    cache_dir: Path | None = None,
    sasl_ssl_port: int | None = None,
    scram_users: tuple[str, ...] = DEFAULT_USERS,
) -> BrokerHandle:
    """Start a broker on ``127.0.0.1:port`` and return once it answers a metadata request.

    Storage is formatted only on first use of ``data_dir``, so a restart keeps topics, data and
    committed offsets. ``cache_dir`` is handed to ``ensure_jars``. With ``sasl_ssl_port``, a
    SASL_SSL listener on that port with ``scram_users`` and ACL authorisation comes too
    (``streams.broker.security``; ``handle.secured`` names its files). Raises ``JavaMissing``,
    ``PortInUse``, ``MavenMissing``/``JarsUnresolvable``, ``BrokerStartTimeout``, ``OpenSSLMissing``,
    or ``BrokerError`` when ``data_dir`` already has a live broker or cannot be formatted.
    """
    java, controller_port = _preflight(port, controller_port)
    if sasl_ssl_port is not None:
        ensure_port_free(sasl_ssl_port)
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _refuse_live_broker(data_dir)
    classpath = str(ensure_jars(version, cache_dir)[0].parent / "*")
    formatted = is_formatted(data_dir)
    secured = None if sasl_ssl_port is None else prepare(data_dir / SECURITY_DIR_NAME, sasl_ssl_port,
                                                         scram_users, formatted=formatted)
    properties = _write_config(port, controller_port, data_dir, secured)
    logging_props = [f"-Dlog4j2.configurationFile={data_dir / LOG4J_NAME}", f"-Dkafka.logs.dir={data_dir}"]
    if not formatted:
        _format_storage([java, *logging_props, "-cp", classpath], properties,
                        secured.scram_arguments() if secured else [])
    command = [java, f"-Xms{heap}", f"-Xmx{heap}", *JVM_GC_FLAGS, f"-Xlog:gc:file={data_dir / GC_LOG_NAME}",
               "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", *logging_props, "-cp", classpath,
               "kafka.Kafka", str(properties)]
    handle = _launch(command, port, controller_port, data_dir, secured)
    began = time.monotonic()
    _await_ready(handle, port, timeout)
    log.info("kafka %s ready at %s after %.1f s (pid %d)", version, handle.bootstrap,
             time.monotonic() - began, handle.pid)
    return handle


def _preflight(port: int, controller_port: int | None) -> tuple[str, int]:
    """Cheap checks before any download or JVM: java present, ports free. Returns both."""
    java = _find_java()
    if java is None:
        raise JavaMissing("java is not on PATH; Kafka 4.x needs a Java 17+ runtime")
    ensure_port_free(port)
    if controller_port is None:
        return java, free_port()
    ensure_port_free(controller_port)
    return java, controller_port


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker whose pid file is in ``data_dir``; return whether one was running.

    SIGTERM first (a clean shutdown flushes logs and the metadata snapshot), SIGKILL if it is
    still alive after ``timeout`` seconds. Idempotent: a second call returns False.
    """
    pid_path = Path(data_dir) / PID_NAME
    pid = _read_pid(pid_path)
    if pid is None:
        return False
    if not _is_kafka_process(pid):
        log.info("stale pid file %s (pid %d is not a running broker)", pid_path, pid)
        _reap(pid)
        pid_path.unlink(missing_ok=True)
        return False
    _signal(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout):
        log.warning("broker pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
        _signal(pid, signal.SIGKILL)
        _wait_exit(pid, 10.0)
    pid_path.unlink(missing_ok=True)
    log.info("kafka broker pid %d stopped", pid)
    return True


def is_formatted(data_dir: Path) -> bool:
    """Whether KRaft storage in ``data_dir`` was formatted (formatting twice would refuse/erase)."""
    return (Path(data_dir) / LOG_DIRS_NAME / "meta.properties").is_file()


def start_on_free_port(data_dir: Path, *, attempts: int = 3, sasl_ssl: bool = False,
                       scram_users: tuple[str, ...] = DEFAULT_USERS) -> BrokerHandle:
    """Start a broker on a port the OS says is free, trying again if another process takes the
    port between the check and the bind (tests and benchmarks run beside other work). With
    ``sasl_ssl``, a SASL_SSL listener on another free port comes too (see ``start``)."""
    for attempt in range(1, attempts + 1):
        try:
            return start(free_port(), data_dir, sasl_ssl_port=free_port() if sasl_ssl else None,
                         scram_users=scram_users)
        except PortInUse:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(port: int) -> None:
    """Raise ``PortInUse`` if binding ``127.0.0.1:port`` fails, as the broker's bind would.

    SO_REUSEADDR mirrors the JVM's server sockets, so a port held only by TIME_WAIT remnants of a
    previous broker counts as free, while any listener (or a plain bound socket) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen(1)
        except OSError as exc:
            raise PortInUse(port) from exc


def _find_java() -> str | None:
    """Locate ``java`` on PATH (a seam for tests)."""
    return shutil.which("java")


def _refuse_live_broker(data_dir: Path) -> None:
    """Two brokers on one log dir corrupt nothing (Kafka locks it) but fail late and obscurely."""
    pid = _read_pid(data_dir / PID_NAME)
    if pid is not None and _is_kafka_process(pid):
        raise BrokerError(f"a broker (pid {pid}) is already running on {data_dir}; stop() it first")


def _write_config(port: int, controller_port: int, data_dir: Path, secured: SecuredListener | None) -> Path:
    """Write server.properties (owner-only: it may hold the keystore password) and the packaged
    log4j2 config into ``data_dir``."""
    properties = data_dir / PROPERTIES_NAME
    properties.touch(mode=0o600)
    properties.chmod(0o600)
    text = render_server_properties(port, controller_port, data_dir, secured)
    properties.write_text(text, encoding="utf-8")
    log4j = resources.files("driftline.streams.broker").joinpath(LOG4J_NAME).read_text(encoding="utf-8")
    (data_dir / LOG4J_NAME).write_text(log4j, encoding="utf-8")
    return properties


def _format_storage(java_cp: list[str], properties: Path, scram: list[str]) -> None:
    """Format KRaft storage with a fresh cluster id (``StorageTool random-uuid`` then ``format``),
    creating the SCRAM users of ``scram`` (placed before the last four arguments, the only ones an
    error message quotes, since they hold passwords)."""
    cluster_id = _run_tool([*java_cp, "kafka.tools.StorageTool", "random-uuid"]).strip().splitlines()[-1]
    _run_tool([*java_cp, "kafka.tools.StorageTool", "format", *scram, "-t", cluster_id,
               "-c", str(properties)])
    log.info("formatted kafka storage for %s (cluster id %s)", properties.parent, cluster_id)


def _run_tool(command: list[str]) -> str:
    """Run a short-lived Kafka tool; a failure is a ``BrokerError`` carrying its output."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=_TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"{' '.join(command[-4:])} did not finish in {_TOOL_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        raise BrokerError(f"{' '.join(command[-4:])} exited with {done.returncode}:\n{done.stdout}")
    return done.stdout


def _launch(command: list[str], port: int, controller_port: int, data_dir: Path,
            secured: SecuredListener | None) -> BrokerHandle:
    """Spawn the broker in its own session with output to broker.log, and write the pid file."""
    log_path = data_dir / LOG_NAME
    with log_path.open("ab") as log_file:
        proc = _BrokerProcess(command, cwd=data_dir, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    (data_dir / PID_NAME).write_text(f"{proc.pid}\n", encoding="utf-8")
    log.debug("launched kafka pid %d: %s", proc.pid, " ".join(command))
    return BrokerHandle(bootstrap=f"{HOST}:{port}", pid=proc.pid, data_dir=data_dir,
                        log_path=log_path, controller_port=controller_port, secured=secured)


def _await_ready(handle: BrokerHandle, port: int, timeout: float) -> None:
    """Block until the broker serves metadata; on death or deadline kill it and raise."""
    failure = _run_blocking(lambda: _poll_ready(handle, port, timeout))
    if failure is None:
        return
    if _is_kafka_process(handle.pid):
        _signal(handle.pid, signal.SIGKILL)
    _wait_exit(handle.pid, 10.0)
    (handle.data_dir / PID_NAME).unlink(missing_ok=True)
    raise BrokerStartTimeout(failure, log_tail=log_tail(handle.log_path))


async def _poll_ready(handle: BrokerHandle, port: int, timeout: float) -> str | None:
    """Poll until a metadata request succeeds; return None, or why the broker is not ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = _CHILDREN.get(handle.pid)
        if proc is not None and proc.poll() is not None:
            return f"kafka broker exited with code {proc.returncode} during start"
        # Connect first: probing a closed port with aiokafka logs an error line per attempt.
        if _accepts_connections(port) and await _answers_metadata(handle.bootstrap):
            return None
        await asyncio.sleep(_POLL_INTERVAL_S)
    return f"kafka broker did not answer metadata at {handle.bootstrap} within {timeout:.0f} s"


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


async def _answers_metadata(bootstrap: str) -> bool:
    """One bounded metadata round trip with a throwaway client."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(_PROBE_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), _PROBE_TIMEOUT_S)
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await client.close()


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-start") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of the broker log, for error messages (empty if it does not exist)."""
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _read_pid(pid_path: Path) -> int | None:
    try:
        return int(pid_path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _is_kafka_process(pid: int) -> bool:
    """Alive, not a zombie, and running ``kafka.Kafka`` (guards against recycled pids)."""
    proc_dir = Path("/proc") / str(pid)
    try:
        stat = (proc_dir / "stat").read_text(encoding="utf-8", errors="replace")
        cmdline = (proc_dir / "cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"kafka.Kafka" in cmdline


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``pid`` to exit (reaping it if it is our child)."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        del _CHILDREN[pid]
        return True
    deadline = time.monotonic() + timeout
    while _is_kafka_process(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL_S)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status of a broker child that died on its own."""
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        proc.wait()
