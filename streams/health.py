"""The worker's HTTP endpoint: Prometheus ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process serves requests (a liveness probe: an outage of the
Kafka cluster is waited out, not a reason to restart). ``/readyz`` answers 200 once the worker
can do its job — its models are loaded, the scoring agent holds partitions of the events topic
and the Kafka cluster answers (``streams.reachability``) — and 503 with the missing conditions
otherwise, so a rolling deployment or a load balancer waits for a worker that has really joined.
Anything else is 404
(a probe pointed at the wrong path must not read "ready" from the metrics text). The alert
forwarder serves the same endpoints; it is ready while it holds alerts partitions and Kafka answers.

The server binds ``metrics_host`` (127.0.0.1 by default: metrics and probes are not for the
network unless a deployment says so, as the compose file does for Prometheus in another
container).
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)


class Readiness:
    """What the worker still lacks before it is ready; agents set and clear the conditions."""

    MODELS: ClassVar[str] = "models loaded"
    PARTITIONS: ClassVar[str] = "events partitions assigned"
    BROKER: ClassVar[str] = "Kafka reachable"
    ALERTS: ClassVar[str] = "alerts partitions assigned"

    def __init__(self, required: tuple[str, ...] = (MODELS, PARTITIONS, BROKER)) -> None:
        self.required = required
        self._met: set[str] = set()
        self._lock = threading.Lock()

    def require(self, *conditions: str) -> None:
        """What this process must meet to be ready (a worker's conditions unless told otherwise)."""
        with self._lock:
            self.required = conditions

    def set(self, condition: str, met: bool = True) -> None:
        with self._lock:
            (self._met.add if met else self._met.discard)(condition)

    def missing(self) -> list[str]:
        with self._lock:
            return [c for c in self.required if c not in self._met]


#: The process's readiness, fed by the app and the score agent.
READINESS = Readiness()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._reply(200, b"ok\n")
        elif path == "/readyz":
            missing = READINESS.missing()
            body = ("ready\n" if not missing else "not ready: " + ", ".join(missing) + "\n").encode()
            self._reply(503 if missing else 200, body)
        else:
            self._reply(404, b"not found: /metrics, /healthz or /readyz\n")

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds are not news."""


def serve_http(host: str, port: int) -> ThreadingHTTPServer | None:
    """Serve the endpoints on a daemon thread; port 0 turns them off."""
    if not port:
        return None
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="driftline-http", daemon=True).start()
    log.info("metrics and probes on http://%s:%d (/metrics, /healthz, /readyz)", host, port)
    return server
