"""Is the canary healthier than its champion? Rolls a sick canary back on evidence, not on luck.

Each scored batch reports, per (model, version, variant), how many events it took, how many of
them failed in the model (an ONNX Runtime error or the time limit), how many were dead-lettered
by the card's validation, and how long the model's call took. `CanaryHealth` sums that per model
since the canary started and, once the canary has ``min_events``, compares it with the champion:

* error share (failed / events) above the champion's by more than ``error_margin``;
* dead-letter share above the champion's by more than ``dead_letter_margin``;
* the p99 of its per-batch inference time above ``latency_ratio`` times the champion's (and above
  ``latency_floor_ms``, so a 0.2 ms against 0.05 ms difference never counts).

The first rule that holds is the verdict, with the numbers of both sides as evidence. Pure; the
agent acts on verdicts (``streams.rollout.auto``). Performance-gated rules (realised metrics from
the label join) would be one more rule here fed from the performance agent.

>>> health = CanaryHealth(min_events=100)
>>> health.observe({("m", 1, "champion"): VariantBatch(events=900),
...                 ("m", 2, "canary"): VariantBatch(events=100, failed=40)})
>>> [(v.model, v.version, v.rule) for v in health.verdicts()]
[('m', 2, 'error share')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Per-batch inference times kept per variant for the p99 (the latest ones).
LATENCY_SAMPLES = 512


@dataclass
class VariantBatch:
    """How one (model, version, variant) fared in one batch, or summed over many."""

    events: int = 0
    failed: int = 0
    dead_letters: int = 0
    inference_ms: list[float] = field(default_factory=list)

    def add(self, other: VariantBatch) -> None:
        self.events += other.events
        self.failed += other.failed
        self.dead_letters += other.dead_letters
        self.inference_ms = (self.inference_ms + other.inference_ms)[-LATENCY_SAMPLES:]

    def evidence(self) -> dict[str, Any]:
        return {"events": self.events, "error_share": _share(self.failed, self.events),
                "dead_letter_share": _share(self.dead_letters, self.events),
                "inference_p99_ms": self.p99_ms()}

    def p99_ms(self) -> float | None:
        return float(np.percentile(self.inference_ms, 99)) if self.inference_ms else None


@dataclass(frozen=True)
class Verdict:
    """Roll back ``model``'s canary ``version``: ``rule`` held, ``evidence`` says by how much."""

    model: str
    version: int
    rule: str
    evidence: dict[str, Any]


class CanaryHealth:
    """Sums variant health per model and judges each canary against its champion."""

    def __init__(self, *, min_events: int = 200, error_margin: float = 0.05, dead_letter_margin: float = 0.05,
                 latency_ratio: float = 3.0, latency_floor_ms: float = 5.0) -> None:
        self.min_events = min_events
        self.error_margin = error_margin
        self.dead_letter_margin = dead_letter_margin
        self.latency_ratio = latency_ratio
        self.latency_floor_ms = latency_floor_ms
        self._totals: dict[tuple[str, int, str], VariantBatch] = {}

    def observe(self, batch: Mapping[tuple[str, int, str], VariantBatch]) -> None:
        for key, fared in batch.items():
            if key[2] in ("champion", "canary"):
                self._totals.setdefault(key, VariantBatch()).add(fared)

    def forget(self, model: str) -> None:
        """Start over for ``model`` (its stages changed)."""
        self._totals = {k: v for k, v in self._totals.items() if k[0] != model}

    def verdicts(self) -> list[Verdict]:
        found = []
        for (model, version, variant), canary in sorted(self._totals.items()):
            if variant != "canary" or canary.events < self.min_events:
                continue
            champion = VariantBatch()
            for (m, _, v), fared in self._totals.items():
                if m == model and v == "champion":
                    champion.add(fared)
            rule = self._broken_rule(canary, champion)
            if rule is not None:
                limits = {"error_margin": self.error_margin, "dead_letter_margin": self.dead_letter_margin,
                          "latency_ratio": self.latency_ratio, "min_events": self.min_events}
                found.append(Verdict(model, version, rule, {
                    "canary": canary.evidence(), "champion": champion.evidence(), "limits": limits}))
        return found

    def _broken_rule(self, canary: VariantBatch, champion: VariantBatch) -> str | None:
        if _share(canary.failed, canary.events) > \
                _share(champion.failed, champion.events) + self.error_margin:
            return "error share"
        if _share(canary.dead_letters, canary.events) > \
                _share(champion.dead_letters, champion.events) + self.dead_letter_margin:
            return "dead-letter share"
        slow, fast = canary.p99_ms(), champion.p99_ms()
        if slow is not None and fast is not None and slow > self.latency_floor_ms and \
                slow > self.latency_ratio * fast:
            return "inference p99"
        return None


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
