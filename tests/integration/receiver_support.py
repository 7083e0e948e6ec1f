"""A local HTTP receiver for tests (127.0.0.1, a free port): records every POST and answers it with
the status a test chooses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    #: The status the receiver answered.
    status: int

    def json(self) -> Any:
        return orjson.loads(self.body)


#: Chooses the status of a request from the requests answered before it and the request itself.
Policy = Callable[[list[Request], str, bytes], int]


class Receiver:
    """``with Receiver(policy) as receiver:`` serves until the block ends."""

    def __init__(self, policy: Policy = lambda seen, path, body: 200) -> None:
        self.policy = policy
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:  # one at a time: the order of answers is the order recorded
                    status = receiver.policy(list(receiver.requests), self.path, body)
                    receiver.requests.append(Request(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                answer = f"test receiver answers {status}".encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, name="test-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, done: Callable[[Receiver], bool], *, timeout: float,
                 alive: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: condition not met within {timeout}s; "
                                     f"{len(self.requests)} requests so far")
            time.sleep(0.1)  # polling a condition with a deadline
