"""Rate-limits the Kafka clients' repeated warnings, so an outage costs lines, not megabytes.

aiokafka logs an ERROR for every failed connection attempt and metadata refresh of every
client: a worker with a backlog wrote 6,000 lines a second during a broker outage (130,000 lines
in 20 s measured on this tree), burying the one line that says what is wrong
(`streams.reachability` writes it). The filter lets the first record of each message template of
the client libraries through, drops the repeats for ``window_s`` seconds, and notes on the next
one let through how many it dropped. driftline's own records are never limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Loggers whose warnings repeat per retry.
NOISY_LOGGERS = ("aiokafka", "kafka", "faust", "mode")
WINDOW_S = 60.0
#: Templates remembered at most; a flood of distinct messages is let through rather than tracked.
MAX_TEMPLATES = 1000


@dataclass
class _Seen:
    since: float
    dropped: int = 0


class RepeatLimiter(logging.Filter):
    """Passes one record per (logger, template) of the client libraries every ``window_s``."""

    def __init__(self, window_s: float = WINDOW_S, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._now = now
        self._seen: dict[tuple[str, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(NOISY_LOGGERS):
            return True
        key, now = (record.name, str(record.msg)), self._now()
        seen = self._seen.get(key)
        if seen is not None and now - seen.since < self.window_s:
            seen.dropped += 1
            return False
        if seen is not None and seen.dropped:
            record.msg = f"{record.msg} [{seen.dropped} more like this in the last {now - seen.since:.0f} s]"
        if seen is not None or len(self._seen) < MAX_TEMPLATES:
            self._seen[key] = _Seen(now)
        return True


def limit_client_noise(logger: logging.Logger | None = None, window_s: float = WINDOW_S, *,
                       debug: bool = False) -> RepeatLimiter:
    """Install one `RepeatLimiter` on every handler of ``logger`` (the root logger by default), and
    keep aiokafka's INFO lines out unless ``debug``.

    On the handlers, not the loggers: a logger's filter sees only the records logged on that very
    logger, and aiokafka logs on a dozen children (``aiokafka.conn``, ``aiokafka.cluster``, ...).
    aiokafka's INFO lines (coordinators discovered, generations joined, multi-line tables of
    subscriptions) repeat what driftline's own assignment lines say; after an outage they were
    most of the log.
    """
    if not debug:
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
    limiter = RepeatLimiter(window_s)
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RepeatLimiter) for f in handler.filters):
            handler.addFilter(limiter)
    return limiter
