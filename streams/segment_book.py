"""Segment metrics and fairness per model, version and variant, for the performance agent.

For every segment a card declares, the realised metrics of each group over its last
``perf_window_size`` labelled events. For every *sensitive* segment, two `FairnessMonitor`s:

* on predictions (the score path's records): ``demographic_parity`` and ``disparate_impact``,
  which need no label -- detector ``segments.<name>``;
* on labelled events (the join's outcomes): ``equal_opportunity`` and ``predictive_parity`` --
  detector ``segments.<name>.labelled``.

Two monitors rather than one fed both streams: an event is seen once as a prediction and again,
days later, as an outcome, and one window holding both would count it twice. Groups arrive as
codes with their labels (`streams.segments`); only declared names, ``other`` and ``missing`` of a
sensitive segment ever reach a snapshot, an alert or a metric label.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.fairness import LABELLED, LIMITS, FairnessMonitor, FairnessSettings
from driftline.detectors.outcomes import OutcomeWindow, Task
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.models.segments import SegmentSpec
from driftline.streams.prediction_outbox import PredictionBatch
from driftline.streams.segments import GroupIndex, decode_wire
from driftline.streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)

Key = tuple[str, int, str]
Array = np.ndarray[Any, Any]


def fairness_settings(settings: Settings) -> FairnessSettings:
    """The fairness monitors' configuration; fails on a limit that names no fairness metric."""
    limits = dict(LIMITS)
    for item in settings.fairness_limits:
        name, _, value = (part.strip() for part in item.partition("="))
        if name not in LIMITS:
            raise SettingsError(f"fairness_limits: unknown metric {name!r}; known: {sorted(LIMITS)}",
                                setting="fairness_limits")
        try:
            limits[name] = float(value)
        except ValueError:
            raise SettingsError(f"fairness_limits: {item!r} is not metric=number",
                                setting="fairness_limits") from None
    return FairnessSettings(window_size=settings.fairness_window_size,
                            evaluate_every=settings.fairness_evaluate_every, limits=limits,
                            min_samples=settings.fairness_min_samples,
                            target_arl=settings.fairness_target_arl, raise_after=settings.drift_raise_after,
                            resolve_after=settings.drift_resolve_after,
                            cooldown=settings.fairness_window_size)


@dataclass
class _Segment:
    """One declared segment of one model version and variant."""

    index: GroupIndex
    windows: dict[int, OutcomeWindow] = field(default_factory=dict)
    on_predictions: FairnessMonitor | None = None
    on_outcomes: FairnessMonitor | None = None


class SegmentBook:
    """Per-group realised metrics and fairness monitors of the models this agent judges."""

    def __init__(self, window_size: int, fairness: FairnessSettings, registry: Registry) -> None:
        self.window_size = window_size
        self.fairness = fairness
        self.registry = registry
        self.segments: dict[Key, dict[str, _Segment]] = {}
        self._specs: dict[tuple[str, int], tuple[SegmentSpec, ...]] = {}

    def feed_predictions(self, batch: PredictionBatch) -> list[AlertEvent]:
        segments = self._of((batch.model, batch.version, batch.variant))
        events: list[AlertEvent] = []
        for name, (codes, labels) in batch.segments.items():
            segment = segments.get(name)
            if segment is not None and segment.on_predictions is not None:
                events += segment.on_predictions.update(segment.index.local(codes, labels), batch.y_pred)
        return events

    def feed_outcomes(self, outcomes: Mapping[str, Any]) -> list[AlertEvent]:
        """Per-group windows (every segment) and labelled fairness (sensitive ones) of one record."""
        if not outcomes.get("segments"):
            return []
        key = (str(outcomes["model"]), int(outcomes["version"]), str(outcomes["variant"]))
        y_true = np.asarray(outcomes["y_true"], dtype=np.float64)
        y_pred = np.asarray(outcomes["y_pred"], dtype=np.float64)
        raw_scores = outcomes.get("score")
        scores = None if not raw_scores else np.asarray([np.nan if s is None else s for s in raw_scores],
                                                         dtype=np.float64)
        segments = self._of(key)
        events: list[AlertEvent] = []
        for name, (codes, labels) in decode_wire(outcomes["segments"], y_true.size).items():
            segment = segments.get(name)
            if segment is None:
                continue
            local = segment.index.local(codes, labels)
            self._extend(segment, str(outcomes["task"]), local, y_true=y_true, y_pred=y_pred, scores=scores)
            if segment.on_outcomes is not None:
                events += segment.on_outcomes.update(local, y_pred, y_true)
        return events

    def alert_streams(self, model: str) -> list[FairnessMonitor]:
        """The fairness monitors of ``model`` (each of its versions, variants and sensitive segments)."""
        return [monitor for key, segments in self.segments.items() if key[0] == model
                for segment in segments.values()
                for monitor in (segment.on_predictions, segment.on_outcomes) if monitor is not None]

    def _extend(self, segment: _Segment, task: str, groups: Array, *, y_true: Array, y_pred: Array,
                scores: Array | None) -> None:
        for group in np.unique(groups).tolist():
            rows = groups == group
            window = segment.windows.get(group)
            if window is None:
                kind: Task = "regression" if task == "regression" else "binary"
                window = segment.windows[group] = OutcomeWindow(self.window_size, kind)
            window.extend(y_true[rows], y_pred[rows], None if scores is None else scores[rows])

    def _of(self, key: Key) -> dict[str, _Segment]:
        segments = self.segments.get(key)
        if segments is None:
            segments = self.segments[key] = {spec.name: self._build(key, spec)
                                             for spec in self._declared(key[0], key[1])}
        return segments

    def _declared(self, model: str, version: int) -> tuple[SegmentSpec, ...]:
        if (model, version) not in self._specs:
            try:
                card = self.registry.card(model, version)
            except ModelError as exc:
                log.warning("no segments for %s v%d: its card could not be read (%s)", model, version, exc)
                self._specs[model, version] = ()
            else:
                binary = card.output.task == "binary"
                self._specs[model, version] = card.segments if binary else ()
        return self._specs[model, version]

    def _build(self, key: Key, spec: SegmentSpec) -> _Segment:
        segment = _Segment(GroupIndex(spec))
        if spec.sensitive:
            labels = segment.index.labels
            on_predictions = {m: v for m, v in self.fairness.limits.items() if m not in LABELLED}
            on_outcomes = {m: v for m, v in self.fairness.limits.items() if m in LABELLED}
            if on_predictions:
                segment.on_predictions = FairnessMonitor(*key, spec.name, labels, settings=_with(
                    self.fairness, on_predictions))
            if on_outcomes:
                segment.on_outcomes = FairnessMonitor(*key, spec.name, labels, settings=_with(
                    self.fairness, on_outcomes), detector=f"segments.{spec.name}.labelled")
            log.info("judging the fairness of %s v%d (%s) across the groups of segment %s", *key, spec.name)
        return segment

    def snapshots(self) -> list[dict[str, Any]]:
        return [self._snapshot(key, segments) for key, segments in self.segments.items() if segments]

    def _snapshot(self, key: Key, segments: dict[str, _Segment]) -> dict[str, Any]:
        performance = {name: {segment.index.coder.label(group): window.metrics()
                              for group, window in sorted(segment.windows.items())}
                       for name, segment in segments.items()}
        fairness: dict[str, dict[str, Any]] = {}
        for name, segment in segments.items():
            for monitor in (segment.on_predictions, segment.on_outcomes):
                if monitor is not None:
                    fairness.setdefault(name, {}).update(monitor.judge())
        open_alerts = [m.dedup_key for s in segments.values() for m in (s.on_predictions, s.on_outcomes)
                       if m is not None and m.is_open]
        return {"model": key[0], "version": key[1], "variant": key[2], "performance": performance,
                "fairness": fairness, "open_alerts": open_alerts}

    def forget(self, models: set[str]) -> list[Key]:
        gone = [key for key in self.segments if key[0] in models]
        for key in gone:
            del self.segments[key]
        return gone


def _with(settings: FairnessSettings, limits: Mapping[str, float]) -> FairnessSettings:
    return replace(settings, limits=dict(limits))
