"""Fail soft, alert loud: the inference time limit, a breaker per champion, and the fallback answer.

A champion that raises or outlives ``timeout_s`` on a batch does not turn the batch into dead
letters when its card declares a fallback: the batch is answered by the fallback (``variant:
fallback``). After ``failures_to_open`` failing batches in a row the champion's breaker opens and
its events go straight to the fallback, without calling the model, until ``cooldown_s`` has passed
and a probe batch is let through; one ``errors`` alert (detector ``circuit_breaker``) is raised per
opening and resolved when a probe succeeds. Only without a declared fallback do failed batches
still end as ``scoring_failed`` dead letters. No I/O here: alerts come back as outputs for the
agent to publish with the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.models.runtime import Prediction
from driftline.streams.alerts import alert_cloudevent
from driftline.streams.outputs import Output
from driftline.streams.rollout.breaker import CircuitBreaker

if TYPE_CHECKING:  # scoring imports this module
    from driftline.streams.scoring import ServedModel

RUNBOOK = "docs/RUNBOOK.md#circuit-breaker"


class ServingGuard:
    """Breakers of the served champions, their time limit, and their fallback answers."""

    def __init__(self, *, timeout_s: float | None, failures_to_open: int, cooldown_s: float,
                 alerts_topic: str, source: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.alerts_topic = alerts_topic
        self.source = source
        self._clock = clock
        self._breakers: dict[tuple[str, int], CircuitBreaker] = {}

    def breaker(self, served: ServedModel) -> CircuitBreaker:
        key = (served.name, served.version)
        if key not in self._breakers:
            self._breakers[key] = CircuitBreaker(self.failures_to_open, self.cooldown_s, self._clock)
        return self._breakers[key]

    def allows(self, served: ServedModel) -> bool:
        return self.breaker(served).allows()

    def failed(self, served: ServedModel, problem: str) -> list[Output]:
        """A batch of ``served`` failed; the alert to publish if that opened its breaker."""
        if self.breaker(served).failed() != "opened":
            return []
        fallback = served.model.card.fallback
        answer = f"the fallback score {fallback.score}" if fallback else "nothing (no fallback: dead letters)"
        summary = (f"critical: {served.name} v{served.version} failed {self.failures_to_open} batches in a "
                   f"row ({problem}); its events are answered by {answer} until a probe succeeds "
                   f"(every {self.cooldown_s:.0f} s)")
        return [self._alert("raised", served, "critical", summary)]

    def succeeded(self, served: ServedModel) -> list[Output]:
        """A batch of ``served`` succeeded; the resolving alert if that closed its breaker."""
        if self.breaker(served).succeeded() != "closed":
            return []
        summary = f"resolved: {served.name} v{served.version} answers again (a probe batch succeeded)"
        return [self._alert("resolved", served, "info", summary)]

    @staticmethod
    def fallback_prediction(served: ServedModel, rows: int) -> Prediction | None:
        """The fallback's answer for ``rows`` events of ``served``, or None without a fallback."""
        fallback = served.model.card.fallback
        if fallback is None:
            return None
        output = served.model.card.output
        positive = fallback.score >= 0.5
        label: Any = output.classes[output.positive_index if positive else 1 - output.positive_index] \
            if len(output.classes) == 2 else int(positive)
        # A binary model's two columns, so the answer carries ``scores`` by class like the model's own.
        by_column = [1.0 - fallback.score, fallback.score][::1 if output.positive_index == 1 else -1]
        return Prediction(scores=np.full(rows, float(fallback.score)),
                          labels=np.array([label] * rows, dtype=object),
                          probabilities=np.tile(np.array(by_column, dtype=np.float64), (rows, 1)))

    def _alert(self, status: str, served: ServedModel, severity: str, summary: str) -> Output:
        data = {"severity": severity, "kind": "errors", "model": served.name, "version": served.version,
                "variant": "champion", "detector": "circuit_breaker", "feature": None, "statistic": None,
                "value": None, "threshold": None, "features": [], "window": None,
                "dedup_key": f"{served.name}:{served.version}:errors:circuit_breaker", "summary": summary,
                "runbook": RUNBOOK}
        key, value = alert_cloudevent(status, data, source=self.source)
        return Output(self.alerts_topic, key, value)
