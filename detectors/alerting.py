"""Alert state machine: from per-evaluation statistics to raised, updated and resolved alerts.

One `AlertState` follows one alert stream -- a (model, version, kind, detector) such as the
data-drift histogram detector of ``card-fraud`` version 3 -- over the features it watches:

* hysteresis per feature: a feature becomes *active* after ``raise_after`` consecutive
  evaluations above its threshold, and clears after ``resolve_after`` consecutive evaluations
  below ``resolve_ratio`` times it, so a statistic hovering at the threshold does not flap;
* the alert is *raised* when a feature becomes active (and at least ``min_samples`` events are in
  the window, and ``cooldown`` events have passed since it was last resolved), *updated* while
  open when the set of active features, the top feature or the severity changes, or every
  ``update_every`` evaluations, and *resolved* once no feature is active.

Severity is ``critical`` when the most drifted feature is at least ``critical_ratio`` times its
threshold, else ``warning``; resolutions are ``info``. The machine works on indices and numbers;
`AlertEvent` and `Finding` are the pure-data alerts a monitor builds from its transitions, which
the streams layer turns into CloudEvents.

Examples
--------
>>> import numpy as np
>>> state = AlertState(2, AlertPolicy(raise_after=2, resolve_after=2, cooldown=0))
>>> thresholds = np.array([1.0, 1.0])
>>> for values in ([1.5, 0.1], [1.6, 0.2], [2.5, 1.2], [0.3, 0.2], [0.2, 0.1]):
...     transition = state.step(np.array(values), thresholds, samples=500, events=0)
...     print(None if transition is None else (transition.type, transition.active, transition.severity))
None
('raised', (0,), 'warning')
('updated', (0,), 'critical')
('updated', (0,), 'warning')
('resolved', (0,), 'info')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

EventType = Literal["raised", "updated", "resolved"]
Severity = Literal["info", "warning", "critical"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AlertPolicy:
    """When a statistic becomes an alert, and how often an open alert speaks.

    ``min_samples`` and ``cooldown`` count events; ``raise_after``, ``resolve_after`` and
    ``update_every`` count evaluations.
    """

    min_samples: int = 0
    raise_after: int = 1
    resolve_after: int = 3
    resolve_ratio: float = 0.5
    cooldown: int = 5000
    update_every: int = 50
    critical_ratio: float = 2.0


def confirming_evaluations(window_size: int, evaluate_every: int, policy: AlertPolicy) -> int:
    """Evaluations after which a fresh monitor has judged a full window of its own.

    Its first evaluation of a full window, then a window more of them, and never fewer than its
    ``raise_after``: by then an alert of its stream that is still true is open again, so one that
    a previous owner left open and this monitor has not opened is no longer true (what a new owner
    resolves, `streams.alert_handover`). The same rule as the drift monitor's reconciliation.

    >>> confirming_evaluations(1000, 200, AlertPolicy(raise_after=1))
    6
    """
    return max(1 + math.ceil(window_size / evaluate_every), policy.raise_after)


@dataclass(frozen=True)
class Transition:
    """What one evaluation did to an alert: its type, the active features ranked, the severity."""

    type: EventType
    active: tuple[int, ...]
    severity: Severity


class AlertState:
    """Hysteresis and lifecycle of one alert stream over ``n_features`` features.

    Parameters
    ----------
    n_features
        Features (rows) the stream watches.
    policy
        Hysteresis, cooldown and update settings.
    """

    def __init__(self, n_features: int, policy: AlertPolicy) -> None:
        self.n_features = n_features
        self.policy = policy
        self._reset()

    def _reset(self) -> None:
        self._above = np.zeros(self.n_features, dtype=np.int64)
        self._below = np.zeros(self.n_features, dtype=np.int64)
        self._active = np.zeros(self.n_features, dtype=np.bool_)
        #: Some feature above its threshold lately or active: kept as a flag because `quiet` is
        #: asked of every stream at every sub-window, and two array scans each added up.
        self._tracking = False
        self._open = False
        self._resolved_at: int | None = None
        self._since_update = 0
        self._last: Transition | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def quiet(self) -> bool:
        """Closed, nothing above its threshold lately, nothing active: a `step` whose values are
        all at most their thresholds changes nothing and returns None (callers may skip it)."""
        return not self._open and not self._tracking

    @property
    def active(self) -> npt.NDArray[np.bool_]:
        """Features currently past their hysteresis (a copy)."""
        return self._active.copy()

    def step(self, values: FloatArray, thresholds: FloatArray, *, samples: int,
             events: int) -> Transition | None:
        """Feed one evaluation; returns the transition it causes, if any.

        ``samples`` is the window's event count (judged against ``min_samples``), ``events`` the
        stream position (for the cooldown).
        """
        if samples < self.policy.min_samples:
            return None
        ratio = np.divide(values, thresholds, out=np.zeros(self.n_features), where=thresholds > 0)
        quiet = ratio.max(initial=0.0) <= 1.0 and not self._tracking
        if quiet and not self._open:
            return None  # the common case: nothing above, nothing active, nothing to track
        self._track(ratio)
        ranked = tuple(int(i) for i in np.flatnonzero(self._active)[np.argsort(-ratio[self._active],
                                                                                 kind="stable")])
        if not self._open:
            return self._maybe_raise(ranked, ratio, events)
        if not ranked:
            return self._resolve(events)
        return self._maybe_update(ranked, ratio)

    def _track(self, ratio: FloatArray) -> None:
        self._above = np.where(ratio > 1.0, self._above + 1, 0)
        self._below = np.where(ratio < self.policy.resolve_ratio, self._below + 1, 0)
        self._active |= self._above >= self.policy.raise_after
        self._active &= self._below < self.policy.resolve_after
        self._tracking = bool(self._above.any() or self._active.any())

    def _severity(self, ranked: tuple[int, ...], ratio: FloatArray) -> Severity:
        return "critical" if ratio[list(ranked)].max() >= self.policy.critical_ratio else "warning"

    def _maybe_raise(self, ranked: tuple[int, ...], ratio: FloatArray, events: int) -> Transition | None:
        cooling = self._resolved_at is not None and events - self._resolved_at < self.policy.cooldown
        if not ranked or cooling:
            return None
        self._open = True
        return self._emit(Transition("raised", ranked, self._severity(ranked, ratio)))

    def _resolve(self, events: int) -> Transition:
        self._open = False
        self._resolved_at = events
        last = self._last.active if self._last is not None else ()
        return self._emit(Transition("resolved", last, "info"))

    def _maybe_update(self, ranked: tuple[int, ...], ratio: FloatArray) -> Transition | None:
        self._since_update += 1
        severity = self._severity(ranked, ratio)
        last = self._last
        changed = last is None or set(ranked) != set(last.active) or ranked[0] != last.active[0] \
            or severity != last.severity
        if changed or self._since_update >= self.policy.update_every:
            return self._emit(Transition("updated", ranked, severity))
        return None

    def _emit(self, transition: Transition) -> Transition:
        self._since_update = 0
        self._last = transition
        return transition


@dataclass(frozen=True)
class Finding:
    """One drifting feature in an alert, with the evidence an on-call engineer needs.

    ``samples`` are the event counts behind ``current_shares`` where they differ per share (a
    fairness finding's segment and best-off segment).
    """

    feature: str
    statistic: str
    value: float
    threshold: float
    bins: tuple[str, ...] = ()
    reference_shares: tuple[float, ...] = ()
    current_shares: tuple[float, ...] = ()
    samples: tuple[int, ...] = ()


@dataclass(frozen=True)
class AlertWindow:
    """The events an evaluation judged: ``events`` of them, stream indices ``[start, end)``."""

    events: int
    start: int
    end: int


@dataclass(frozen=True)
class AlertEvent:
    """One alert event (raised, updated or resolved) for the alerts topic.

    ``findings`` are ranked, most drifted first; ``dedup_key`` is the same for every event of the
    alert stream, so incident tooling groups them. ``variant`` names the served arm (champion,
    canary, ...) for monitors that watch one; input-drift alerts cover a version and leave it None.
    """

    type: EventType
    kind: str
    severity: Severity
    model: str
    version: int | None
    detector: str
    findings: tuple[Finding, ...]
    window: AlertWindow
    dedup_key: str
    summary: str
    runbook: str
    variant: str | None = None


def dedup_key(model: str, version: int | None, kind: str, detector: str, *,
              variant: str | None = None) -> str:
    """The stable key of an alert stream: ``model:version:kind:detector``, or
    ``model:version:variant:kind:detector`` for an alert about one served variant.

    >>> dedup_key("card-fraud", 3, "data_drift", "histogram.psi")
    'card-fraud:3:data_drift:histogram.psi'
    >>> dedup_key("card-fraud", 3, "concept_drift", "cusum.bernoulli", variant="canary")
    'card-fraud:3:canary:concept_drift:cusum.bernoulli'
    """
    arm = "" if variant is None else f"{variant}:"
    return f"{model}:{'unregistered' if version is None else version}:{arm}{kind}:{detector}"
