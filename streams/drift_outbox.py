"""Bin codes on their way from a scoring worker to the monitor agent.

Each worker bins its batches into the reference profile's layout (cheap: one kernel call per
batch) and keeps the *bin code* of every event and row, in order; every ``drift_flush_ms`` the
codes go to the drift-counts topic, keyed by model, so one monitor agent sees the events of every
worker and partition for a model, in arrival order. Codes rather than counts: a count delta loses
the order of its events, so a delta larger than a sub-window stretched the monitor's window and
delayed its evaluations (at 10,000 events/s a 500-event window became 5,000 events); codes let
the monitor close every sub-window at an exact event count and run its CUSUMs event by event,
whatever the rate, the flush interval or the number of workers.

Message format 3, a frame: ``FRAME_MAGIC`` (4 bytes), the header's length (4 bytes, big-endian),
the header (JSON), then the C-order ``[N, R]`` codes as raw bytes::

    {"format": 3, "model": str, "version": int, "worker": str, "seq": int, "events": N,
     "rows": R, "code_dtype": "uint8" | "uint16", "score_chunk": k, "score_means": [...]}

Format 2 was the same header as one JSON object with the codes in base64 under ``"codes"``; the
monitor still reads it. Raw bytes spare base64 and a JSON string of the codes on both sides: about
0.1 µs per event of the full worker's CPU at 4,000 events a record. A drain larger than
``max_record_bytes`` of codes is cut into several records (Kafka refuses records above
``max.message.bytes``, 1 MB by default). Format 1 carried summed ``counts``; the monitor still
reads it (coarsely, see `streams.monitor_book`).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

#: Version of the drift message layout.
DELTA_FORMAT = 3
#: The formats whose records carry every event's codes (1 carried counts).
CODE_FORMATS = (2, 3)
#: Opens a format-3 record; a JSON record (formats 1 and 2) never starts with a NUL byte.
FRAME_MAGIC = b"\x00DL3"
_LENGTH_BYTES = 4


@dataclass
class _Pending:
    codes: list[npt.NDArray[np.unsignedinteger]] = field(default_factory=list)
    events: int = 0
    scores: list[npt.NDArray[np.float64]] = field(default_factory=list)


@dataclass
class _ScoreChunks:
    """Scores left over from the last drain, short of a whole chunk; they open the next one."""

    carry: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    def means(self, scores: list[npt.NDArray[np.float64]], size: int) -> npt.NDArray[np.float64]:
        pending = np.concatenate([self.carry, *scores])
        whole = len(pending) - len(pending) % size
        self.carry = pending[whole:]
        means: npt.NDArray[np.float64] = pending[:whole].reshape(-1, size).mean(axis=1)
        return means


class DriftOutbox:
    """Accumulates per-model bin codes and drains them as drift records."""

    def __init__(self, worker: str, flush_interval_s: float, *, score_chunk: int = 20,
                 max_events: int = 50_000, max_record_bytes: int = 480_000) -> None:
        self.worker = worker
        self.flush_interval_s = flush_interval_s
        #: River detectors on the score see means of this many scores: 1/score_chunk of the data
        #: to ship, and means of several workers' chunks still form one meaningful stream.
        self.score_chunk = score_chunk
        #: Bounds the memory held between flushes at very high rates.
        self.max_events = max_events
        #: Bytes of codes per record: well under Kafka's 1 MB default.
        self.max_record_bytes = max_record_bytes
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._chunks: dict[tuple[str, int], _ScoreChunks] = {}
        self._last_flush = time.monotonic()
        self._sequence = 0

    def add(self, model: str, version: int, codes: npt.NDArray[np.unsignedinteger],
            scores: npt.NDArray[np.float64]) -> None:
        """Keep one batch's codes (``[N, rows]``, `ProfileBinner.bin_codes`) and scores."""
        pending = self._pending.setdefault((model, version), _Pending())
        pending.codes.append(codes)
        pending.events += codes.shape[0]
        pending.scores.append(scores)

    def due(self) -> bool:
        return flush_due([p.events for p in self._pending.values()], max_events=self.max_events,
                         last_flush=self._last_flush, interval_s=self.flush_interval_s)

    def drain(self) -> list[tuple[bytes, bytes]]:
        """(key, value) records of everything accumulated since the last drain, in event order."""
        records = [(model.encode(), value)
                   for (model, version), pending in self._pending.items() if pending.events
                   for value in self._messages(model, version, pending)]
        self._pending.clear()
        self._last_flush = time.monotonic()
        return records

    def _messages(self, model: str, version: int, pending: _Pending) -> list[bytes]:
        codes = np.concatenate(pending.codes)
        chunks = self._chunks.setdefault((model, version), _ScoreChunks())
        means = chunks.means(pending.scores, self.score_chunk)
        per_record = max(1, self.max_record_bytes // max(1, codes.shape[1] * codes.itemsize))
        messages = []
        for start in range(0, codes.shape[0], per_record):
            part = np.ascontiguousarray(codes[start : start + per_record])
            self._sequence += 1
            header = orjson.dumps({
                "format": DELTA_FORMAT, "model": model, "version": version, "worker": self.worker,
                "seq": self._sequence, "events": part.shape[0], "rows": part.shape[1],
                "code_dtype": part.dtype.name, "score_chunk": self.score_chunk,
                # River sees the means once, with the drain's first record.
                "score_means": means if start == 0 else [],
            }, option=orjson.OPT_SERIALIZE_NUMPY)
            messages.append(b"".join((FRAME_MAGIC, len(header).to_bytes(_LENGTH_BYTES, "big"), header,
                                      part.data)))
        return messages


def flush_due(pending_events: list[int], *, max_events: int, last_flush: float, interval_s: float) -> bool:
    """Whether an outbox should drain: something is kept, and either one model's share reached
    ``max_events`` or ``interval_s`` passed since the last drain (``time.monotonic`` seconds)."""
    if not pending_events:
        return False
    if max(pending_events) >= max_events:
        return True
    return time.monotonic() - last_flush >= interval_s


def decode_record(value: bytes | None) -> dict[str, Any] | None:
    """A drift record as one dict (a frame's codes as bytes under ``"codes"``), or None when it is
    neither a frame nor a JSON object; what the fields hold is checked later."""
    value = value or b""
    if not value.startswith(FRAME_MAGIC):
        try:
            message = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return message if isinstance(message, dict) else None
    start = len(FRAME_MAGIC) + _LENGTH_BYTES
    end = start + int.from_bytes(value[len(FRAME_MAGIC):start], "big")
    try:
        header = orjson.loads(value[start:end]) if end <= len(value) else None
    except orjson.JSONDecodeError:
        return None
    return {**header, "codes": memoryview(value)[end:]} if isinstance(header, dict) else None


def decode_codes(message: dict[str, Any]) -> npt.NDArray[np.unsignedinteger]:
    """The ``[events, rows]`` codes of a format-2 or 3 message; ValueError if they do not add up."""
    dtype = {"uint8": np.uint8, "uint16": np.uint16}.get(str(message.get("code_dtype")))
    if dtype is None:
        raise ValueError(f"unknown code_dtype {message.get('code_dtype')!r}")
    codes = message["codes"]
    raw = codes if isinstance(codes, bytes | memoryview) else base64.b64decode(str(codes), validate=True)
    events, rows = int(message["events"]), int(message["rows"])
    if len(raw) % np.dtype(dtype).itemsize:
        raise ValueError(f"{len(raw)} bytes of {np.dtype(dtype).name} codes")
    codes = np.frombuffer(raw, dtype=dtype)
    if events < 0 or rows < 1 or codes.size != events * rows:
        raise ValueError(f"{codes.size} codes for {events} events of {rows} rows")
    return codes.reshape(events, rows)
