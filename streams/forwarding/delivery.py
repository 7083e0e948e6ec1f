"""One HTTP POST to a receiver, and what its answer means for the alert.

The rule, in one place: a 2xx answer is an acknowledgement; no answer (refused connection,
timeout, reset), a 5xx, 408 (request timeout) or 429 (too many requests) is worth retrying; any
other answer (a 4xx: the receiver understood and said no) is a permanent refusal, and the alert
goes to the dead-letter topic with that answer rather than blocking every alert behind it.

Plain ``urllib`` in a thread: a few requests a minute need no HTTP client dependency.
"""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

import orjson

#: Statuses that say "not now" rather than "no".
RETRIABLE_STATUSES: Final = frozenset({408, 429})
#: How much of a receiver's answer is kept (for the log and the dead letter).
ANSWER_MAX_CHARS: Final = 1000

Outcome = Literal["delivered", "retry", "refused"]
STATUSES: Final = frozenset({"raised", "updated", "resolved"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver said: ``status`` is None when it said nothing (down, timed out)."""

    outcome: Outcome
    status: int | None
    detail: str

    @classmethod
    def of(cls, status: int | None, detail: str) -> Answer:
        if status is not None and 200 <= status < 300:
            return cls("delivered", status, detail)
        if status is None or status >= 500 or status in RETRIABLE_STATUSES:
            return cls("retry", status, detail)
        return cls("refused", status, detail)

    def describe(self) -> str:
        said = "no answer" if self.status is None else f"HTTP {self.status}"
        return f"{said}: {self.detail}" if self.detail else said


@dataclass(frozen=True, slots=True)
class ForwardedAlert:
    """An alert record as read from the alerts topic: the raw CloudEvent and its parsed form."""

    raw: bytes
    envelope: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.envelope["data"]
        return data

    @property
    def dedup_key(self) -> str:
        return str(self.data["dedup_key"])

    @property
    def time(self) -> datetime | None:
        """When the alert event happened (the CloudEvent's ``time``), if it says."""
        try:
            return datetime.fromisoformat(str(self.envelope.get("time")))
        except ValueError:
            return None


def parse_alert(raw: bytes | None) -> ForwardedAlert | None:
    """An alert record's CloudEvent, or None when it is not one (no JSON object with a dedup key)."""
    try:
        envelope = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return None
    data = envelope["data"]
    if not data.get("dedup_key") or not data.get("kind") or data.get("status") not in STATUSES:
        return None
    return ForwardedAlert(raw or b"", envelope)


class Receiver(Protocol):
    """Somewhere alerts go; ``deliver`` never raises for what the receiver or network did."""

    name: str

    async def deliver(self, alert: ForwardedAlert) -> Answer: ...


async def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float) -> Answer:
    """POST ``body`` to ``url`` (in a thread, so a slow receiver never blocks the loop)."""
    return await asyncio.to_thread(_post, url, body, headers, timeout_s)


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer.of(response.status, _text(response.read(ANSWER_MAX_CHARS)))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer.of(exc.code, _text(exc.read(ANSWER_MAX_CHARS)))
    except urllib.error.URLError as exc:
        return Answer.of(None, str(exc.reason))
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, garbled answers
        return Answer.of(None, str(exc) or type(exc).__name__)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()[:ANSWER_MAX_CHARS]
