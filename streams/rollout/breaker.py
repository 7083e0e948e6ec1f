"""A circuit breaker per served champion: stop calling a model that keeps failing, try it again later.

::

    closed ──(failures in a row ≥ threshold)──▶ open ──(cooldown passed)──▶ half-open
      ▲                                           ▲                             │
      └───────────(the probe batch succeeds)──────┼─────────────────────────────┤
                                                  └──(the probe batch fails)────┘

While open, the scorer sends the model's events to its fallback without calling it; half-open lets
one batch through as the probe. `failed` reports ``"opened"`` only when a closed breaker opens (one
alert per opening: a failed probe re-opens the same incident) and `succeeded` reports ``"closed"``
when an open incident ends. Pure and synchronous; the clock is injectable for tests.

>>> now = [0.0]
>>> breaker = CircuitBreaker(failures_to_open=2, cooldown_s=10, clock=lambda: now[0])
>>> breaker.failed(), breaker.failed(), breaker.allows()
(None, 'opened', False)
>>> now[0] = 11.0
>>> breaker.allows(), breaker.state, breaker.succeeded()
(True, 'half-open', 'closed')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Closed, open or half-open after ``failures_to_open`` failures in a row and a ``cooldown_s``."""

    def __init__(self, failures_to_open: int = 3, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0

    def allows(self) -> bool:
        """Whether the next batch may call the model (an open breaker turns half-open after the cooldown)."""
        if self.state == "open" and self._clock() - self._opened_at >= self.cooldown_s:
            self.state = "half-open"
        return self.state != "open"

    def failed(self) -> Literal["opened"] | None:
        self._failures += 1
        if self.state == "half-open":
            self.state, self._opened_at = "open", self._clock()
            return None
        if self.state == "closed" and self._failures >= self.failures_to_open:
            self.state, self._opened_at = "open", self._clock()
            return "opened"
        return None

    def succeeded(self) -> Literal["closed"] | None:
        self._failures = 0
        if self.state == "closed":
            return None
        self.state = "closed"
        return "closed"
