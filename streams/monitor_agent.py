"""The monitor agent: merges count deltas from every worker and judges drift on the sum.

A Faust agent on the drift-counts topic, keyed by model: the consumer group gives each model's
deltas to exactly one worker's agent, so two workers sharing a stream raise one alert, not two.
Deltas are summed in arrival order; the detectors window by event count, so the interleaving of
workers does not matter. State lives in memory: after a restart the windows refill from live
traffic (one window of events) and an alert still active is raised again under the same dedup
key, which incident tooling folds into the open incident.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from typing import Any, Literal, cast

import faust
import numpy as np
import orjson

from detectors.alerting import AlertEvent
from detectors.calibration import Statistic
from detectors.monitor import DriftMonitor, MonitorSettings
from detectors.reference import ReferenceProfile
from detectors.river_adapters import FACTORIES as RIVER_FACTORIES
from detectors.river_adapters import RiverSpec
from models.errors import ModelError
from models.registry import Registry
from streams.alert_ledger import MonitorLedger
from streams.alerts import alert_data
from streams.metrics import record_drift
from streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)


#: River's defaults suit per-value streams; on chunk means ADWIN needs a stricter delta to keep the
#: false-alarm budget (measured by the detectors' acceptance tests).
_RIVER_PARAMS: dict[str, dict[str, Any]] = {"ADWIN": {"delta": 1e-5}}


def monitor_settings(settings: Settings) -> MonitorSettings:
    """The detectors' configuration; fails on an unknown statistic, cutoff or River detector."""
    try:
        threshold: float | Literal["calibrated"] = (
            "calibrated" if settings.drift_threshold == "calibrated" else float(settings.drift_threshold))
    except ValueError:
        raise SettingsError(f"drift_threshold must be 'calibrated' or a number, got "
                            f"{settings.drift_threshold!r}", setting="drift_threshold") from None
    if settings.drift_statistic not in ("psi", "js"):
        raise SettingsError(f"drift_statistic must be psi or js, got {settings.drift_statistic!r}",
                            setting="drift_statistic")
    unknown = sorted(set(settings.drift_river) - set(RIVER_FACTORIES))
    if unknown:
        raise SettingsError(f"unknown River detectors {unknown}; known: {sorted(RIVER_FACTORIES)}",
                            setting="drift_river")
    return MonitorSettings(
        window_size=settings.drift_window_size, n_sub_windows=settings.drift_sub_windows,
        statistic=cast(Statistic, settings.drift_statistic), threshold=threshold,
        target_arl=settings.drift_target_arl, raise_after=settings.drift_raise_after,
        resolve_after=settings.drift_resolve_after, cooldown=settings.drift_cooldown_events,
        river=tuple(RiverSpec(name, _RIVER_PARAMS.get(name, {})) for name in settings.drift_river))


class MonitorBook:
    """One ``DriftMonitor`` per model version, built on first sight from the registry's profile."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.monitor_settings = monitor_settings(settings)
        self._monitors: dict[tuple[str, int], DriftMonitor | None] = {}

    def feed(self, delta: dict[str, Any]) -> list[AlertEvent]:
        """Feed one count-delta message; returns the alert events it raised, updated or resolved."""
        monitor = self.monitor(str(delta["model"]), int(delta["version"]))
        if monitor is None:
            return []
        counts = np.asarray(delta["counts"], dtype=np.int64)
        means = np.asarray(delta.get("score_means") or [], dtype=np.float64)
        return monitor.update(counts, int(delta["events"]), means if len(means) else None)

    def monitor(self, model: str, version: int) -> DriftMonitor | None:
        if (model, version) not in self._monitors:
            self._monitors[model, version] = self._build(model, version)
        return self._monitors[model, version]

    def snapshots(self) -> list[dict[str, Any]]:
        return [monitor.snapshot() for monitor in self._monitors.values() if monitor is not None]

    def _build(self, model: str, version: int) -> DriftMonitor | None:
        try:
            reference = self.registry.reference(model, version)
        except ModelError as exc:
            log.error("cannot monitor %s v%d: %s", model, version, exc)
            return None
        if reference is None:
            log.warning("%s v%d has no reference profile: not monitored", model, version)
            return None
        # Profiles are built before registration gives the version a number; alerts need it.
        profile = dataclasses.replace(ReferenceProfile.from_dict(reference), model=model, version=version)
        log.info("monitoring %s v%d: %d rows, window %d events", model, version, len(profile.rows),
                 self.settings.drift_window_size)
        return DriftMonitor(profile, self.monitor_settings)


def decode_delta(value: bytes | None) -> dict[str, Any] | None:
    try:
        delta = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    required = ("model", "version", "events", "counts")
    return delta if isinstance(delta, dict) and all(k in delta for k in required) else None


def register_monitor_agent(app: faust.App, settings: Settings, served: Iterable[tuple[str, int]],
                           ledger: MonitorLedger) -> None:
    """Add the monitor agent to ``app``; monitors of the served versions are calibrated now.

    Calibration takes about half a second per model version; doing it at start-up keeps that
    stall out of the first deltas' path (where it showed as a 667 ms latency spike).
    """
    counts = app.topic(settings.topic_drift_counts, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    metrics = app.topic(settings.topic_metrics, key_serializer="raw", value_serializer="raw")
    book = MonitorBook(settings, Registry(settings.registry))
    for model, version in served:
        book.monitor(model, version)
    snapshot_every = settings.metrics_snapshot_ms / 1000

    async def monitor(stream: Any) -> None:
        last_snapshot = time.monotonic()
        await ledger.started.wait()
        async for value in stream:
            delta = decode_delta(value)
            if delta is None:
                log.warning("skipping a malformed count delta")
                continue
            await ledger.take_over(str(delta["model"]))
            for event in book.feed(delta):
                status = await ledger.publish(event.type, alert_data(event))
                if status is not None:
                    log.warning("alert %s: %s", status, event.summary)
            await ledger.reconcile(book.monitor(str(delta["model"]), int(delta["version"])),
                                   settings.drift_sub_windows)
            if time.monotonic() - last_snapshot >= snapshot_every:
                last_snapshot = time.monotonic()
                for snapshot in book.snapshots():
                    record_drift(snapshot)
                    await metrics.send(key=snapshot["model"].encode(),
                                       value=orjson.dumps(snapshot, option=orjson.OPT_SERIALIZE_NUMPY))

    app.agent(counts, name=f"{settings.app_id}.monitor")(monitor)
