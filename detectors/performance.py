"""The performance monitor of one served model variant: joined outcomes in, alert events out.

`PerformanceMonitor` is pure and synchronous. The streams layer joins each prediction with its
late label and calls `PerformanceMonitor.update` with batches of outcomes in label-arrival order;
every call returns the alert events it caused:

=================  ======================  ==================================================
kind               detector                watches
=================  ======================  ==================================================
``concept_drift``  ``cusum.bernoulli``     the 0/1 error stream (classifiers) against its baseline
                   ``cusum.gaussian``      the absolute errors (regression)
``label_drift``    ``labels.g_test``       the window's class shares against the label prior
                                           (classifiers)
``performance``    ``floors``              each configured floor (or ceiling) of a metric
=================  ======================  ==================================================

Counting is in labelled events, so the monitor behaves the same at 50 and at 40,000 outcomes a
second, in bursts or pauses: every ``evaluate_every`` events (stream positions 200, 400, ...)
the window's label shares and the floored metrics are judged, and a batch that spans several such
positions is cut there and judged at each. The concept detector sees every event; an evaluation
period steps its alert state once, at its first detection (so an alert is not held back to the
period's end) or else at the period's end with none.

The concept detector and the measurement behind the default are in `detectors.concept`; the
label-drift test is in `detectors.label_shift`, its level derived from ``target_arl`` for one test
every ``evaluate_every`` events.

Cost: ``python -m driftline.detectors.bench_performance`` (window 1,000, evaluations every 200 events, the
default detector, a label prior, two floors, 400,000 outcomes): 0.99 µs an outcome at batches of
100, 0.86 µs at 500 and 0.80 µs at 2,000; a snapshot (all seven metrics) takes about 80 µs.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> monitor = PerformanceMonitor("toy", 1, "champion", "binary",
...                              PerformanceSettings(target_arl=1e6, floors={"accuracy": 0.83}),
...                              label_prior={"0": 5000, "1": 5000})
>>> for start in range(0, 8000, 500):
...     y_pred = rng.integers(0, 2, 500)
...     wrong = rng.random(500) < (0.12 if start < 5000 else 0.20)
...     for event in monitor.update(np.where(wrong, 1 - y_pred, y_pred), y_pred):
...         if event.type == "raised":
...             print(event.kind, event.window.end, event.dedup_key)
concept_drift 5433 toy:1:champion:concept_drift:cusum.bernoulli
performance 5800 toy:1:champion:performance:floors
>>> snapshot = monitor.snapshot()
>>> snapshot["labelled"], snapshot["window"], snapshot["metrics"]["accuracy"], snapshot["labels"]["checked"]
(8000, 1000, 0.799, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.detectors.alerting import (
    AlertEvent,
    AlertPolicy,
    AlertState,
    AlertWindow,
    Finding,
    Transition,
    dedup_key,
)
from driftline.detectors.calibration import per_test_alpha
from driftline.detectors.concept import DEFAULT, ErrorDetector, build_concept_detector
from driftline.detectors.label_shift import LabelShiftTest
from driftline.detectors.outcomes import ERROR_METRICS, METRICS, OutcomeWindow, Task

FloatArray = npt.NDArray[np.float64]
#: A period with a detection steps the concept alert with value 1 against this threshold.
_DETECTION_THRESHOLD = 0.6


@dataclass(frozen=True)
class PerformanceSettings:
    """Window, evaluation period, detectors, floors, budget and alert policy of a monitor.

    ``floors`` maps metric names to limits: a floor for scores (a window's ``accuracy`` below
    0.8 raises), a ceiling for error metrics (``log_loss``, ``brier``, ``mae``, ``rmse``); a
    monitor applies those of its task's metrics, so one settings object serves every model.
    ``concept_params`` go to the concept detector's constructor. A floored metric counts as
    ``critical`` once it is ``floor_critical_ratio`` times worse than its limit; it resolves after
    ``resolve_after`` evaluations back within it. ``raise_after``, ``resolve_after``, ``cooldown``
    and ``update_every`` are as in `detectors.monitor.MonitorSettings`.
    """

    window_size: int = 1000
    evaluate_every: int = 200
    concept_detector: str = DEFAULT
    concept_params: Mapping[str, Any] = field(default_factory=dict)
    floors: Mapping[str, float] = field(default_factory=dict)
    target_arl: float = 1e6
    raise_after: int = 1
    resolve_after: int = 3
    resolve_ratio: float = 0.5
    cooldown: int = 5000
    update_every: int = 50
    critical_ratio: float = 2.0
    floor_critical_ratio: float = 1.1
    runbook: str = "docs/RUNBOOK.md"

    def policy(self) -> AlertPolicy:
        return AlertPolicy(raise_after=self.raise_after, resolve_after=self.resolve_after,
                           resolve_ratio=self.resolve_ratio, cooldown=self.cooldown,
                           update_every=self.update_every, critical_ratio=self.critical_ratio)

    def floor_policy(self) -> AlertPolicy:
        """Floors resolve once back within the limit (hysteresis comes from ``resolve_after``)."""
        return AlertPolicy(raise_after=self.raise_after, resolve_after=self.resolve_after, resolve_ratio=1.0,
                           cooldown=self.cooldown, update_every=self.update_every,
                           critical_ratio=self.floor_critical_ratio)


class PerformanceMonitor:
    """Realised metrics, concept drift, label drift and floors of one model version and variant.

    Parameters
    ----------
    model, version, variant
        What the outcomes belong to (``variant`` is the served arm, such as ``"champion"``).
    task
        ``"binary"`` (classes 0/1, scores P(class 1)), ``"multiclass"`` (class indices) or
        ``"regression"``.
    settings
        Window, period, detectors, floors, budget and alert policy.
    label_prior
        Training class counts (``ReferenceProfile.label_counts``) for the label-drift test; none
        means no label-drift test (regression never has one). A prior that is not counts per class
        index (a profile from before priors were counted so) raises ValueError.
    """

    def __init__(self, model: str, version: int | None, variant: str, task: Task,
                 settings: PerformanceSettings | None = None, *,
                 label_prior: Mapping[str, int] | None = None) -> None:
        self.model = model
        self.version = version
        self.variant = variant
        self.task = task
        self.settings = settings or PerformanceSettings()
        self.label_prior = dict(label_prior) if label_prior else None
        s = self.settings
        known = {name for table in METRICS.values() for name in table}
        if not set(s.floors) <= known or s.evaluate_every < 1:
            raise ValueError(f"no metric {sorted(set(s.floors) - known)}; known: {sorted(known)}")
        self.concept_name = self._build_concept()[0]  # fails here, not at the first outcome
        alpha = per_test_alpha(s.target_arl, s.evaluate_every, 1)
        prior = self.label_prior if task != "regression" else None
        self._labels = LabelShiftTest(prior, alpha) if prior else None
        # One settings object serves every task: floors of the other task's metrics do not apply.
        self._floor_names = tuple(name for name in s.floors if name in METRICS[task])
        self._reset()

    def _build_concept(self) -> tuple[str, ErrorDetector]:
        s = self.settings
        return build_concept_detector(s.concept_detector, self.task, s.target_arl, s.concept_params)

    def _reset(self) -> None:
        s = self.settings
        self._concept = self._build_concept()[1]
        self._window = OutcomeWindow(s.window_size, self.task)
        self._concept_state = AlertState(1, s.policy())
        self._label_state = AlertState(1, s.policy())
        self._floor_state = AlertState(len(self._floor_names), s.floor_policy())
        self._stepped = False  # the concept state has had this period's step
        self._evaluations = 0
        self._label_value = math.nan

    def reset(self) -> None:
        """Start over, as a fresh monitor with the same settings."""
        self._reset()

    @property
    def n_labelled(self) -> int:
        """Labelled outcomes received so far."""
        return self._window.n_seen

    def update(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
               score: npt.ArrayLike | None = None) -> list[AlertEvent]:
        """Feed a batch of joined outcomes in label-arrival order; returns the alert events it caused."""
        truth, predicted, scores = self._coerce(y_true, y_pred, score)
        errors = np.abs(truth - predicted) if self.task == "regression" else truth != predicted
        every = self.settings.evaluate_every
        events: list[AlertEvent] = []
        start = 0
        while start < truth.size:
            # Cut at every multiple of `evaluate_every`, so each evaluation sees its own window.
            stop = min(truth.size, start + every - self.n_labelled % every)
            part = slice(start, stop)
            self._window.extend(truth[part], predicted[part], None if scores is None else scores[part])
            events.extend(self._feed_concept(errors[part]))
            if self.n_labelled % every == 0:
                events.extend(self._evaluate())
            start = stop
        return events

    def _coerce(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                score: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        truth = np.asarray(y_true, dtype=np.float64).reshape(-1)
        predicted = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        scores = None if score is None else np.asarray(score, dtype=np.float64).reshape(-1)
        if predicted.size != truth.size or (scores is not None and scores.size != truth.size):
            raise ValueError("y_true, y_pred and score must have one value per outcome")
        if self.task == "binary" and not np.isin(np.concatenate([truth, predicted]), (0.0, 1.0)).all():
            raise ValueError("binary outcomes take the classes 0 and 1")
        if self.task == "multiclass" and not _are_indices(np.concatenate([truth, predicted])):
            raise ValueError("multi-class outcomes are class indices 0, 1, ...")
        return truth, predicted, scores

    # --- the three alert streams ---------------------------------------------------------------

    def _feed_concept(self, errors: npt.NDArray[Any]) -> list[AlertEvent]:
        before = len(self._concept.detections)
        self._concept.update_many(errors)
        found = self._concept.detections[before:]
        if not found or self._stepped:
            return []
        self._stepped = True
        return self._step_concept(found[0] + 1, detected=True)

    def _step_concept(self, end: int, *, detected: bool) -> list[AlertEvent]:
        # Detections after the period's first do not count: how many share a period depends on
        # where batches cut it, and the alert must not.
        value = 1.0 if detected else 0.0
        transition = self._concept_state.step(np.array([value]), np.array([_DETECTION_THRESHOLD]),
                                              samples=end, events=end)
        if transition is None:
            return []
        finding = Finding(feature="abs_error" if self.task == "regression" else "error_rate",
                          statistic="detections", value=value, threshold=_DETECTION_THRESHOLD)
        return [self._event("concept_drift", self.concept_name, transition, (finding,), end=end,
                            evidence=self._concept_evidence())]

    def _evaluate(self) -> list[AlertEvent]:
        self._evaluations += 1
        events = [] if self._stepped else self._step_concept(self.n_labelled, detected=False)
        self._stepped = False
        if self._window.events < self.settings.window_size:
            return events  # labels and floors are judged on full windows only
        if self._labels is not None:
            events.extend(self._step_labels(self._labels))
        if self._floor_names:
            events.extend(self._step_floors())
        return events

    def _step_labels(self, test: LabelShiftTest) -> list[AlertEvent]:
        counts, n = self._window.class_counts(test.n_classes), self._window.events
        self._label_value = test.statistic(counts)
        transition = self._label_state.step(np.array([self._label_value]), np.array([test.threshold]),
                                            samples=n, events=self.n_labelled)
        if transition is None:
            return []
        prior = tuple(round(float(x), 6) for x in test.shares)
        current = tuple(round(float(x), 6) for x in counts / max(1, n))
        # The class furthest from its prior share is the one a reader looks at first.
        moved = int(np.argmax(np.abs(np.subtract(current, prior))))
        finding = Finding(feature="label", statistic="g_test", value=self._label_value,
                          threshold=test.threshold, bins=tuple(str(i) for i in range(test.n_classes)),
                          reference_shares=prior, current_shares=current)
        return [self._event("label_drift", "labels.g_test", transition, (finding,), end=self.n_labelled,
                            evidence=f"class {moved} share {current[moved]:.4g} vs prior {prior[moved]:.4g}")]

    def _step_floors(self) -> list[AlertEvent]:
        names, limits = self._floor_names, self.settings.floors
        metrics = self._window.metrics(names)
        ratios = np.array([_shortfall(name, metrics[name], limits[name]) for name in names])
        transition = self._floor_state.step(ratios, np.ones(ratios.size), samples=self._window.events,
                                            events=self.n_labelled)
        if transition is None:
            return []
        findings = tuple(Finding(feature=names[i], statistic=names[i], value=_number(metrics[names[i]]),
                                 threshold=float(limits[names[i]])) for i in transition.active)
        evidence = "; ".join(f"{f.feature} {f.value:.4g} {'>' if f.feature in ERROR_METRICS else '<'} "
                             f"{f.threshold:.4g}" for f in findings)
        return [self._event("performance", "floors", transition, findings, end=self.n_labelled,
                            evidence=evidence)]

    # --- events and snapshots ------------------------------------------------------------------

    def _concept_evidence(self) -> str:
        if self.task != "regression":
            text = f"error rate {1.0 - _number(self._window.metrics(['accuracy'])['accuracy']):.4g}"
        else:
            text = f"mean absolute error {_number(self._window.metrics(['mae'])['mae']):.4g}"
        text += f" over the last {self._window.events} labelled events"
        baseline = getattr(self._concept, "baseline", None)  # River's detectors have none
        return text if baseline is None else f"{text} vs baseline {baseline:.4g}"

    def _event(self, kind: str, detector: str, transition: Transition, findings: tuple[Finding, ...], *,
               end: int, evidence: str) -> AlertEvent:
        events = min(end, self.settings.window_size)
        window = AlertWindow(events=events, start=end - events, end=end)
        label = f"{kind.replace('_', ' ')} ({detector}) in {self.model} v{self.version} {self.variant}"
        if transition.type == "resolved":
            summary = f"resolved: {label}: back within limits at labelled event {end}"
        else:
            summary = f"{transition.severity}: {label}: {evidence}; events {window.start}-{end}"
        return AlertEvent(type=transition.type, kind=kind, severity=transition.severity, model=self.model,
                          version=self.version, detector=detector, findings=findings, window=window,
                          dedup_key=self._key(kind, detector), summary=summary,
                          runbook=f"{self.settings.runbook}#{kind.replace('_', '-')}", variant=self.variant)

    def _key(self, kind: str, detector: str) -> str:
        return dedup_key(self.model, self.version, kind, detector, variant=self.variant)

    def open_alerts(self) -> list[str]:
        """Dedup keys of the alert streams currently open."""
        streams = [("concept_drift", self.concept_name, self._concept_state),
                   ("label_drift", "labels.g_test", self._label_state),
                   ("performance", "floors", self._floor_state)]
        return [self._key(kind, detector) for kind, detector, state in streams if state.is_open]

    def snapshot(self) -> dict[str, Any]:
        """Metrics, detector state, label shares and open alerts (JSON-safe: no NaN or inf)."""
        floors = {name: {"limit": float(self.settings.floors[name]),
                         "kind": "ceiling" if name in ERROR_METRICS else "floor"}
                  for name in self._floor_names}
        return {
            "model": self.model, "version": self.version, "variant": self.variant, "task": self.task,
            "labelled": self.n_labelled, "window": self._window.events, "evaluations": self._evaluations,
            "metrics": self._window.metrics(), "concept": self._concept_snapshot(),
            "labels": self._label_snapshot(), "floors": floors, "open_alerts": self.open_alerts(),
        }

    def _concept_snapshot(self) -> dict[str, Any]:
        detections = self._concept.detections
        out: dict[str, Any] = {"detector": self.concept_name, "detections": len(detections),
                               "last_detection": detections[-1] if detections else None}
        for name in ("baseline", "statistic", "threshold"):  # the CUSUM's; River's detectors lack them
            value = getattr(self._concept, name, None)
            out[name] = None if value is None else _finite(value)
        return out

    def _label_snapshot(self) -> dict[str, Any]:
        test = self._labels
        if test is None:
            reason = "regression has no label prior" if self.task == "regression" else "no label prior"
            return {"checked": False, "reason": reason}
        n = self._window.events
        counts = self._window.class_counts(test.n_classes)
        return {"checked": True, "prior": {str(i): float(x) for i, x in enumerate(test.shares)},
                "window": {str(i): float(c) / n for i, c in enumerate(counts)} if n else None,
                "statistic": _finite(self._label_value), "threshold": test.threshold}


def _shortfall(name: str, value: float | None, limit: float) -> float:
    """How far past its limit a metric is, as a ratio (> 1 past it; 0 when undefined)."""
    if value is None or limit <= 0:
        return 0.0
    if name in ERROR_METRICS:
        return value / limit
    return limit / value if value > 0 else math.inf


def _are_indices(values: FloatArray) -> bool:
    return bool(np.all((values >= 0) & (values == np.floor(values))))


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
