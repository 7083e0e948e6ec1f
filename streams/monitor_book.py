"""The drift monitors of the served model versions, and the settings they are built from.

`MonitorBook` holds one `DriftMonitor` per model version and feeds it the drift records of every
worker (`streams.monitor_agent` reads them from Kafka). Records are fed in arrival order, each
record's events in the order its worker scored them; the monitor cuts windows at exact event
counts, so neither the workers' rates nor their flush interval change the window or when it is
judged. State lives in memory: after a restart the windows refill from live traffic (one window of
events) and an alert still active is raised again under the same dedup key, which the open-alert
ledger turns into an update.

Reading older workers: a record of format 1 (summed counts, no order) is still fed, as a count
delta -- its window follows its size and the location CUSUMs do not see it -- and the first one
from each worker is logged; a record of an unknown format is skipped, logged once per worker.

Off the event loop: building a monitor calibrates its thresholds (about half a second per model
version), so a version first seen in traffic (a promotion) is built in a worker thread while the
loop keeps scoring; the monitors of the versions served at start are built before the loop runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable
from typing import Any, Literal, cast

import numpy as np

from driftline.detectors.alerting import AlertEvent
from driftline.detectors.calibration import Statistic
from driftline.detectors.histogram import HistogramDriftDetector
from driftline.detectors.monitor import DriftMonitor, MonitorSettings
from driftline.detectors.reference import ReferenceProfile
from driftline.detectors.river_adapters import BINARY, RiverSpec
from driftline.detectors.river_adapters import FACTORIES as RIVER_FACTORIES
from driftline.models.errors import ModelError
from driftline.models.registry import Registry
from driftline.streams.drift_outbox import CODE_FORMATS, decode_codes
from driftline.streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class SilentDetectorError(SettingsError):
    """A drift setting leaves a detector unable to ever fire: the worker refuses to start (exit 3)."""


def check_window(settings: Settings, profiles: Iterable[ReferenceProfile]) -> None:
    """Refuse a drift window at which no histogram test of some served version could ever fire.

    Rows silent only at this window (rare categories at 40-50 events) are logged by the monitor.
    """
    for profile in profiles:
        window = settings.drift_window_size
        detector = HistogramDriftDetector(profile, window_size=window, threshold=1.0,
                                          n_sub_windows=min(settings.drift_sub_windows, window))
        if len(detector.silent) == len(profile.rows):
            reason = next(iter(detector.silent.values()))
            raise SilentDetectorError(f"drift_window_size {window}: no drift statistic of {profile.model} "
                                      f"can ever fire ({reason})", setting="drift_window_size")


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
    binary = sorted(set(settings.drift_river) & BINARY)
    if binary:
        raise SilentDetectorError(f"drift_river: {binary} watch 0/1 error streams and never fire on the "
                                 f"score means drift_river feeds them; use ADWIN, PageHinkley or KSWIN",
                                 setting="drift_river")
    return MonitorSettings(
        window_size=settings.drift_window_size, n_sub_windows=settings.drift_sub_windows,
        statistic=cast(Statistic, settings.drift_statistic), threshold=threshold,
        target_arl=settings.drift_target_arl, raise_after=settings.drift_raise_after,
        resolve_after=settings.drift_resolve_after, cooldown=settings.drift_cooldown_events,
        river=tuple(RiverSpec(name, _RIVER_PARAMS.get(name, {})) for name in settings.drift_river))


class MonitorBook:
    """One ``DriftMonitor`` per model version, built from the registry's profile."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.monitor_settings = monitor_settings(settings)
        self._monitors: dict[tuple[str, int], DriftMonitor | None] = {}
        self._warned: set[tuple[str, object]] = set()
        self.last_fed = time.monotonic()

    def feed(self, delta: dict[str, Any]) -> list[AlertEvent]:
        """Feed one drift record of a built monitor; returns the alert events it caused."""
        monitor = self._monitors.get((str(delta["model"]), int(delta["version"])))
        if monitor is None:
            return []
        self.last_fed = time.monotonic()
        kind = delta.get("format", 1)
        worker = str(delta.get("worker"))
        if kind not in (1, *CODE_FORMATS):
            self._warn_once(worker, repr(kind), "skipping drift records of unknown format %r from worker %s",
                            kind, worker)
            return []
        try:
            means = np.asarray(delta.get("score_means") or [], dtype=np.float64).reshape(-1)
            scores = means if len(means) else None
            if kind in CODE_FORMATS:
                codes = decode_codes(delta)
                if codes.shape[1] != len(monitor.profile.rows):
                    raise ValueError(f"{codes.shape[1]} rows, the profile has {len(monitor.profile.rows)}")
                return monitor.update_codes(codes, scores)
            counts = np.asarray(delta["counts"], dtype=np.int64)
            events = monitor.update(counts, int(delta["events"]), scores)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipping a drift record of %s v%s: %s", delta["model"], delta["version"], exc)
            return []
        self._warn_once(worker, 1, "worker %s sends count deltas of format 1: its events are judged "
                        "in windows that follow its delta size and the location CUSUMs skip them; "
                        "upgrade it", worker)
        return events

    def _warn_once(self, worker: str, kind: object, message: str, *args: object) -> None:
        if (worker, kind) not in self._warned:
            self._warned.add((worker, kind))
            log.warning(message, *args)

    def monitor(self, model: str, version: int) -> DriftMonitor | None:
        """The monitor of a version, built here (calibration included) on first sight."""
        if (model, version) not in self._monitors:
            self._monitors[model, version] = self.build(model, version)
        return self._monitors[model, version]

    async def ensure(self, model: str, version: int) -> None:
        """Build a version's monitor in a worker thread, so calibration never blocks the loop."""
        if (model, version) not in self._monitors:
            built = await asyncio.get_running_loop().run_in_executor(None, self.build, model, version)
            self._monitors.setdefault((model, version), built)

    def snapshots(self) -> list[dict[str, Any]]:
        idle = time.monotonic() - self.last_fed
        return [{**monitor.snapshot(), "idle_s": round(idle, 3)}
                for monitor in self._monitors.values() if monitor is not None]

    def build(self, model: str, version: int) -> DriftMonitor | None:
        """A new monitor of a version (None when it has no readable profile); thread-safe."""
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
        monitor = DriftMonitor(profile, self.monitor_settings)
        for detector, rows in monitor.off().items():
            for row, reason in rows.items():
                log.warning("%s v%d: %s is off for %s: %s", model, version, detector, row, reason)
        return monitor
