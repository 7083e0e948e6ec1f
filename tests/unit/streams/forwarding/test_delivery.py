"""What a receiver's answer means: delivered, retry or refused, against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from driftline.streams.broker import free_port
from driftline.streams.forwarding.delivery import Answer, parse_alert, post


class _Answers(BaseHTTPRequestHandler):
    """Answers ``POST /<status>`` with that status; ``/slow`` never answers in time."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            threading.Event().wait(2)  # longer than the client's timeout
        status = int(self.path.strip("/")) if self.path != "/slow" else 200
        body = f"answer {status}".encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (/slow): that is the point

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "delivered"), (202, "delivered"), (204, "delivered"),
    (500, "retry"), (503, "retry"), (408, "retry"), (429, "retry"),
    (400, "refused"), (401, "refused"), (404, "refused"), (422, "refused"),
])
async def test_the_status_decides_the_outcome(server: str, status: int, outcome: str) -> None:
    answer = await post(f"{server}/{status}", b"{}", {}, timeout_s=5)
    assert (answer.outcome, answer.status) == (outcome, status)
    if status != 204:
        assert answer.detail == f"answer {status}"


async def test_no_answer_is_retried() -> None:
    refused = await post(f"http://127.0.0.1:{free_port()}/", b"{}", {}, timeout_s=5)
    assert (refused.outcome, refused.status) == ("retry", None) and refused.detail


async def test_an_answer_too_slow_is_retried(server: str) -> None:
    answer = await post(f"{server}/slow", b"{}", {}, timeout_s=0.3)
    assert (answer.outcome, answer.status) == ("retry", None)


def test_an_answer_describes_itself() -> None:
    assert Answer.of(None, "connection refused").describe() == "no answer: connection refused"
    assert Answer.of(422, "bad labels").describe() == "HTTP 422: bad labels"


@pytest.mark.parametrize("raw", [None, b"", b"not json", b"[]", b'{"data": 1}',
                                 b'{"data": {"dedup_key": "k", "kind": "data_drift", "status": "open"}}'])
def test_records_that_are_not_alerts_are_recognised(raw: bytes | None) -> None:
    assert parse_alert(raw) is None


def test_an_alert_record_is_parsed_with_its_time() -> None:
    raw = b'{"time": "2026-12-01T12:00:00.000Z", "data": {"dedup_key": "k", "kind": "data_drift", ' \
          b'"status": "raised"}}'
    alert = parse_alert(raw)
    assert alert is not None and alert.raw == raw and alert.dedup_key == "k"
    assert alert.time is not None and alert.time.isoformat() == "2026-12-01T12:00:00+00:00"
