"""Benchmark events: the demo model's synthetic features in the events-topic envelope.

``ts`` is the moment the event is handed to the producer, as epoch milliseconds with sub-ms
precision (a float): predictions echo it as ``event_ts``, and a latency of a few milliseconds
cannot be measured from a timestamp truncated to whole milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import orjson

from driftline.models.synthetic import SyntheticStream

log = logging.getLogger(__name__)

#: Preloading (``streams.produce.produce_events``) is not measured, so it batches harder than the
#: worker does.
PRELOAD_LINGER_MS = 20
PRELOAD_BATCH_BYTES = 256 * 1024


def encode_event(event_id: str, features: orjson.Fragment | Mapping[str, object], ts_ms: float) -> bytes:
    """One event as the worker expects it; ``features`` may be pre-encoded (a Fragment)."""
    return orjson.dumps({"id": event_id, "ts": ts_ms, "features": features})


def now_ms() -> float:
    """Epoch milliseconds with sub-millisecond precision."""
    return time.time() * 1000.0


def feature_pool(seed: int, size: int) -> list[orjson.Fragment]:
    """``size`` pre-encoded feature objects: a paced producer then spends ~1 µs per event."""
    return [orjson.Fragment(orjson.dumps(row)) for row in SyntheticStream(seed=seed).rows(size)]
