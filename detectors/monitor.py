"""The drift monitor of one model version: bin codes (or count deltas) in, alert events out.

`DriftMonitor` is pure and synchronous. The streams layer bins each micro-batch with
`detectors.binner.ProfileBinner` into bin codes (inputs and scores, events in order) and calls
`DriftMonitor.update_codes` with the codes of every worker and partition in arrival order and,
optionally, score values for River detectors; `DriftMonitor.update` takes an unordered count
delta instead (coarser: see `detectors.histogram`). Every call returns the alert events it caused:

========================  ===================================  =====================================
kind                      detector                             watches
========================  ===================================  =====================================
``data_drift``            ``histogram.psi`` (or ``.js``)       shape of every input feature
``prediction_drift``      ``histogram.psi`` (or ``.js``)       shape of each prediction row
``data_drift``            ``cusum.location``                   level of every numeric feature
``prediction_drift``      ``cusum.location``                   level of each prediction row
``prediction_drift``      ``river.<name>``                     River detectors on score values
``data_quality``          ``missing_rate``                     jumps in a feature's missing share
``data_quality``          ``out_of_range``                     values outside the reference range,
                                                               unlisted categories
========================  ===================================  =====================================

The prediction rows are those of the profile (`detectors.reference`): ``__score__`` for a binary
model (the positive class's probability) or a regressor (the value), ``__score__[<class>]`` per
class of a multi-class model. River detectors always watch ``Prediction.scores`` (chunk means of
the predicted class's probability for a multi-class model): one stream per model, where per-class
shifts are the histograms' and CUSUMs' job.

All histogram, quality and CUSUM tests share one false-alarm budget, ``target_arl`` events between
false alarms (see `detectors.calibration` and `detectors.normal_score_cusum`); River detectors
keep their own parameters.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> from driftline.detectors.binner import ProfileBinner
>>> card = ModelCard(name="toy", features=(FeatureSpec(name="x", type="numeric"),))
>>> rng = np.random.default_rng(3)
>>> profile = ReferenceProfile.build(card, {"x": rng.normal(size=20_000)})
>>> monitor = DriftMonitor(profile, MonitorSettings(cooldown=0))
>>> binner = ProfileBinner(profile)
>>> for start in range(0, 6000, 100):
...     x = rng.normal(size=100) + (1.0 if 2000 <= start < 4000 else 0.0)
...     for event in monitor.update(binner.bin_columns({"x": x}), 100):
...         print(event.type, event.severity, event.kind, event.findings[0].feature, event.window.end)
raised warning data_drift x 2200
updated critical data_drift x 2300
updated warning data_drift x 4400
resolved info data_drift x 4700
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

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
from driftline.detectors.binner import block_counts, counts_from_codes
from driftline.detectors.calibration import Statistic, per_test_alpha
from driftline.detectors.histogram import HistogramDriftDetector
from driftline.detectors.normal_score_cusum import NormalScoreCUSUM
from driftline.detectors.quality import DataQualityCheck, QualityResult
from driftline.detectors.reference import SCORE, ReferenceProfile
from driftline.detectors.river_adapters import BINARY, RiverAdapter, RiverSpec

FloatArray = npt.NDArray[np.float64]
#: A River detection is reported as value = detections in the batch against this threshold.
_RIVER_THRESHOLD = 0.6
#: Detector name of the location CUSUMs in alerts and dedup keys.
LOCATION = "cusum.location"


@dataclass(frozen=True)
class MonitorSettings:
    """Window, statistic, false-alarm budget, alert policy and River detectors of a monitor.

    See `detectors.histogram.HistogramDriftDetector` and `detectors.alerting.AlertPolicy` for
    the meaning of each; ``location_shifts`` are the shifts (in sigmas) the CUSUMs of
    `detectors.normal_score_cusum` are tuned to (empty: none) and ``location_share`` the share of
    the false-alarm budget they get (the histogram and quality tests share the rest);
    ``runbook`` is the document alerts point to (``#<kind>`` is appended).
    """

    window_size: int = 500
    n_sub_windows: int = 5
    statistic: Statistic = "psi"
    threshold: float | Literal["calibrated"] = "calibrated"
    target_arl: float = 1e7
    min_expected: float = 15.0
    min_samples: int = 0
    raise_after: int = 1
    resolve_after: int = 3
    resolve_ratio: float = 0.5
    cooldown: int = 5000
    update_every: int = 50
    critical_ratio: float = 2.0
    river: tuple[RiverSpec, ...] = ()
    location_shifts: tuple[float, ...] = (0.25, 0.5)
    location_share: float = 0.02
    runbook: str = "docs/RUNBOOK.md"
    seed: int = 0

    def policy(self) -> AlertPolicy:
        return AlertPolicy(min_samples=self.min_samples, raise_after=self.raise_after,
                           resolve_after=self.resolve_after, resolve_ratio=self.resolve_ratio,
                           cooldown=self.cooldown, update_every=self.update_every,
                           critical_ratio=self.critical_ratio)


@dataclass(frozen=True)
class _Stream:
    """One alert stream: which rows it watches and where its numbers come from."""

    kind: str
    detector: str
    statistic: str
    rows: tuple[int, ...]
    state: AlertState


class DriftMonitor:
    """Histogram, data-quality and River drift detection for one model version.

    Parameters
    ----------
    profile
        The version's reference profile.
    settings
        Window, statistic, budget and alert policy.
    """

    def __init__(self, profile: ReferenceProfile, settings: MonitorSettings | None = None) -> None:
        self.profile = profile
        self.settings = settings or MonitorSettings()
        s = self.settings
        binary = sorted(spec.name for spec in s.river if spec.name in BINARY)
        if binary:
            raise ValueError(f"River detectors {binary} watch 0/1 error streams and never fire on "
                             f"score means; use them on errors (perf settings), not on scores")
        if not 0.0 < s.location_share < 1.0:
            raise ValueError(f"location_share must be in (0, 1), got {s.location_share}")
        n_rows = len(profile.rows)
        n_histogram = 3 * n_rows  # shape, missing rate and out-of-range, per row
        # The budget is split by family: the CUSUMs get `location_share` of the false alarms, the
        # histogram and quality tests the rest (a weighted Bonferroni split of one rate).
        location = NormalScoreCUSUM(profile, target_arl=s.target_arl / s.location_share,
                                    shifts=s.location_shifts) if s.location_shifts else None
        self._location = location if location is not None and location.n_cusums else None
        share = s.location_share if self._location is not None else 0.0
        family_arl = s.target_arl / (1.0 - share)
        n_tests = n_histogram
        self._histogram = HistogramDriftDetector(
            profile, window_size=s.window_size, n_sub_windows=s.n_sub_windows, statistic=s.statistic,
            threshold=s.threshold, target_arl=family_arl, n_tests=n_tests, min_expected=s.min_expected,
            seed=s.seed)
        events_per_evaluation = s.window_size / s.n_sub_windows
        alpha = self._histogram.alpha or per_test_alpha(family_arl, events_per_evaluation, n_tests)
        self._quality = DataQualityCheck(profile, alpha=alpha)
        self._streams = self._build_streams()
        self._location_streams = self._build_location_streams()
        self._width = profile.width
        watched = self._location.rows if self._location is not None else ()
        # Where each location stream's rows sit among the CUSUMs' watched rows.
        self._location_at = [np.array([watched.index(r) for r in stream.rows], dtype=np.intp)
                             for stream in self._location_streams]
        self._river = [(spec.build(), AlertState(1, s.policy())) for spec in s.river]
        self._reset()

    def _reset(self) -> None:
        """Forget every window, streak and open alert; keep the (costly) calibration."""
        self._histogram._reset()
        if self._location is not None:
            self._location._reset()
        for stream in (*self._streams, *self._location_streams):
            stream.state._reset()
        self._location_step_at = 0
        for adapter, state in self._river:
            adapter._reset()
            state._reset()
        self._last_quality: QualityResult | None = None

    def reset(self) -> None:
        """Start over, as on a fresh monitor of the same profile and settings (without recalibrating)."""
        self._reset()

    def _build_streams(self) -> list[_Stream]:
        features = tuple(range(len(self.profile.features)))
        every = tuple(range(len(self.profile.rows)))
        name = f"histogram.{self.settings.statistic}"
        policy = self.settings.policy()
        statistic = self.settings.statistic
        streams = [_Stream("data_drift", name, statistic, features, AlertState(len(features), policy))]
        predictions = self.profile.prediction_rows
        if predictions:
            streams.append(_Stream("prediction_drift", name, self.settings.statistic, predictions,
                                   AlertState(len(predictions), policy)))
        for check in ("missing_rate", "out_of_range"):
            streams.append(_Stream("data_quality", check, check, every, AlertState(len(every), policy)))
        return streams

    def _build_location_streams(self) -> list[_Stream]:
        if self._location is None:
            return []
        policy = self.settings.policy()
        predictions = set(self.profile.prediction_rows)
        streams = []
        for kind, rows in (("data_drift", tuple(r for r in self._location.rows if r not in predictions)),
                           ("prediction_drift", tuple(r for r in self._location.rows if r in predictions))):
            if rows:
                streams.append(_Stream(kind, LOCATION, "cusum", rows, AlertState(len(rows), policy)))
        return streams

    @property
    def histogram(self) -> HistogramDriftDetector:
        return self._histogram

    @property
    def location(self) -> NormalScoreCUSUM | None:
        """The CUSUMs of location shifts (None when ``location_shifts`` is empty)."""
        return self._location

    @property
    def river(self) -> tuple[RiverAdapter, ...]:
        return tuple(adapter for adapter, _ in self._river)

    @property
    def n_seen(self) -> int:
        return self._histogram.n_seen

    def update(self, counts_delta: npt.ArrayLike, n_events: int,
               score_values: npt.ArrayLike | None = None) -> list[AlertEvent]:
        """Feed one merged count delta of ``n_events`` events; returns the alert events it caused."""
        self._histogram.update(counts_delta, n_events)
        events: list[AlertEvent] = []
        if self._histogram.evaluated:
            events.extend(self._evaluate_streams())
        if score_values is not None:
            events.extend(self._step_river(np.asarray(score_values, dtype=np.float64).reshape(-1)))
        return events

    def update_codes(self, codes: npt.NDArray[np.unsignedinteger],
                     score_values: npt.ArrayLike | None = None) -> list[AlertEvent]:
        """Feed the bin codes of events in order (``[N, rows]``, `ProfileBinner.bin_codes`).

        Unlike a count delta, codes keep the events' order, so the window is exactly
        ``window_size`` events judged every ``window_size / n_sub_windows`` events whatever the
        size of the batch, and the CUSUMs run event by event: a batch of 5,000 events gives the
        same alerts, at the same event indices, as fifty batches of 100.
        """
        events: list[AlertEvent] = []
        position = 0
        fed = self._location_quiet_through(codes)
        if (fed or self._location is None) and self._histogram_quiet_through(codes):
            position = codes.shape[0]
        while position < codes.shape[0]:
            block = codes[position : position + self._histogram.room]
            first = self._histogram.n_seen
            if not fed:
                events.extend(self._run_location(block, first))
            self._histogram.update(counts_from_codes(block, self._width), block.shape[0])
            if self._histogram.sub_window_closed:
                events.extend(self._step_location(self._histogram.n_seen))
            if self._histogram.evaluated:
                events.extend(self._evaluate_streams())
            position += block.shape[0]
        if score_values is not None:
            events.extend(self._step_river(np.asarray(score_values, dtype=np.float64).reshape(-1)))
        return events

    # --- location CUSUMs -----------------------------------------------------------------------

    def _location_quiet_through(self, codes: npt.NDArray[np.unsignedinteger]) -> bool:
        """Feed the whole batch to the CUSUMs at once when their streams are quiet and no CUSUM
        crosses in it: each sub-window's step is then the quiet one (peaks cleared, nothing
        raised) whichever way the events were fed. False: feed them block by block."""
        location = self._location
        if location is None or not codes.shape[0]:
            return False
        if not (location.peaks_within_thresholds() and all(s.state.quiet for s in self._location_streams)):
            return False
        return location.advance_if_quiet(codes)

    def _histogram_quiet_through(self, codes: npt.NDArray[np.unsignedinteger]) -> bool:
        """Feed the whole batch's sub-windows to the histograms at once when every evaluation in it
        is quiet (see `_quiet`); the CUSUMs, fed already, then take the quiet step each closing
        would have taken. False: nothing changed, feed it block by block."""
        if not all(stream.state.quiet for stream in self._streams):
            return False
        h = self._histogram
        sizes = h.block_sizes(codes.shape[0])
        if sizes.size < 2 or h.n_evaluations == 0:
            return False
        blocks = block_counts(codes, sizes, self._width)
        if not h.advance_if_quiet(blocks, sizes, quiet=lambda windows: not self._quality.may_exceed(windows)):
            return False
        self._last_quality = None
        if self._location is not None:
            self._location.clear_peaks()
            self._location_step_at = h.n_seen - int(sizes[-1])
        return True

    def _run_location(self, block: npt.NDArray[np.unsignedinteger], first: int) -> list[AlertEvent]:
        if self._location is None:
            return []
        events: list[AlertEvent] = []
        used = 0
        while used < block.shape[0]:
            used += self._location.advance(block[used:])
            if self._location.crossed:
                events.extend(self._step_location(first + used))
        return events

    def _step_location(self, end: int) -> list[AlertEvent]:
        """One evaluation of the CUSUM streams: at a crossing, and at every sub-window's end."""
        if self._location is None:
            return []
        start, self._location_step_at = self._location_step_at, end
        if self._location.peaks_within_thresholds() and all(s.state.quiet for s in self._location_streams):
            self._location.clear_peaks()  # nothing to raise, track or resolve: the common case, cheaply
            return []
        peaks = self._location.take_peaks()
        events: list[AlertEvent] = []
        for stream, at in zip(self._location_streams, self._location_at, strict=True):
            values, thresholds = peaks.values[at], peaks.thresholds[at]
            transition = stream.state.step(values, thresholds, samples=self._location.n_seen, events=end)
            if transition is None:
                continue
            findings = tuple(Finding(feature=self.profile.row_names[stream.rows[i]],
                                     statistic=f"cusum {peaks.labels[at[i]]} sigma", value=float(values[i]),
                                     threshold=float(thresholds[i])) for i in transition.active)
            window = AlertWindow(events=end - start, start=start, end=end)
            events.append(self._event(stream.kind, stream.detector, transition, findings, window))
        return events

    # --- histogram and quality streams ---------------------------------------------------------

    def _evaluate_streams(self) -> list[AlertEvent]:
        """Step the histogram and quality streams on the window just evaluated."""
        window = self._histogram.window_counts
        if self._quiet(window):
            self._last_quality = None  # the snapshot computes it when asked
            return []
        self._last_quality = self._quality.evaluate(window)
        events: list[AlertEvent] = []
        for stream in self._streams:
            events.extend(self._step(stream, self._last_quality))
        return events

    def _quiet(self, window: npt.NDArray[np.int64]) -> bool:
        """Nothing to raise, track or resolve, found cheaply (the common case, every sub-window):
        every stream closed with nothing above lately, no statistic above its threshold, and no
        quality count that could be. A `_step` would then change nothing and return nothing."""
        h = self._histogram
        return (all(stream.state.quiet for stream in self._streams)
                and bool((h.values <= h.thresholds).all()) and not self._quality.may_exceed(window))

    def _quality_now(self) -> QualityResult | None:
        """The last evaluated window's quality scores (the window changes only at evaluations)."""
        if self._last_quality is None and self._histogram.n_evaluations:
            self._last_quality = self._quality.evaluate(self._histogram.window_counts)
        return self._last_quality

    def _numbers(self, stream: _Stream, quality: QualityResult) -> tuple[FloatArray, FloatArray]:
        rows = list(stream.rows)
        if stream.detector == "missing_rate":
            return quality.missing[rows], np.full(len(rows), self._quality.threshold)
        if stream.detector == "out_of_range":
            return quality.out_of_range[rows], np.full(len(rows), self._quality.threshold)
        return self._histogram.values[rows], self._histogram.thresholds[rows]

    def _step(self, stream: _Stream, quality: QualityResult) -> list[AlertEvent]:
        values, thresholds = self._numbers(stream, quality)
        transition = stream.state.step(values, thresholds, samples=self._histogram.window_events,
                                       events=self.n_seen)
        if transition is None:
            return []
        findings = tuple(self._finding(stream, stream.rows[i], float(values[i]), float(thresholds[i]))
                         for i in transition.active)
        start, end = self._histogram.window_bounds
        window = AlertWindow(events=end - start, start=start, end=end)
        return [self._event(stream.kind, stream.detector, transition, findings, window)]

    def _finding(self, stream: _Stream, row: int, value: float, threshold: float) -> Finding:
        bins, reference, current = self._histogram.shares(row)
        return Finding(feature=self.profile.row_names[row], statistic=stream.statistic, value=value,
                       threshold=threshold, bins=bins, reference_shares=tuple(reference.round(6).tolist()),
                       current_shares=tuple(current.round(6).tolist()))

    # --- River streams -------------------------------------------------------------------------

    def _step_river(self, scores: FloatArray) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for adapter, state in self._river:
            before = len(adapter.detections)
            adapter.update_many(scores)
            found = float(len(adapter.detections) - before)
            transition = state.step(np.array([found]), np.array([_RIVER_THRESHOLD]),
                                    samples=adapter.n_seen, events=self.n_seen)
            if transition is None:
                continue
            finding = Finding(feature=SCORE, statistic="detections", value=found, threshold=_RIVER_THRESHOLD)
            window = AlertWindow(events=scores.size, start=adapter.n_seen - scores.size, end=adapter.n_seen)
            detector = f"river.{adapter.name}"
            events.append(self._event("prediction_drift", detector, transition, (finding,), window))
        return events

    # --- events and snapshots ------------------------------------------------------------------

    def _event(self, kind: str, detector: str, transition: Transition, findings: tuple[Finding, ...],
               window: AlertWindow) -> AlertEvent:
        model, version = self.profile.model, self.profile.version
        return AlertEvent(type=transition.type, kind=kind, severity=transition.severity, model=model,
                          version=version, detector=detector, findings=findings, window=window,
                          dedup_key=dedup_key(model, version, kind, detector),
                          summary=_summary(transition, _label(kind, detector, model, version), findings,
                                           window),
                          runbook=f"{self.settings.runbook}#{kind.replace('_', '-')}")

    def off(self) -> dict[str, dict[str, str]]:
        """Detectors that cannot fire on some rows, by detector name: ``{row: reason}``."""
        silent = self._histogram.silent
        return {f"histogram.{self.settings.statistic}": silent} if silent else {}

    def snapshot(self) -> dict[str, Any]:
        """Per-feature statistics for the metrics topic (JSON-safe: inf thresholds become None)."""
        h = self._histogram
        quality = self._quality_now()
        features: dict[str, Any] = {}
        for r, name in enumerate(h.names):
            features[name] = {
                "statistic": h.statistic, "value": float(h.values[r]), "threshold": _finite(h.thresholds[r]),
                "samples": int(h.sample_counts[r]),
                "missing_score": None if quality is None else float(quality.missing[r]),
                "missing_share": None if quality is None else float(quality.missing_share[r]),
                "out_of_range_score": None if quality is None else float(quality.out_of_range[r]),
                "out_of_range_share": None if quality is None else float(quality.out_of_range_share[r]),
            }
        start, end = h.window_bounds
        return {
            "model": self.profile.model, "version": self.profile.version, "events": h.n_seen,
            "evaluations": h.n_evaluations, "window": {"events": end - start, "start": start, "end": end},
            "quality_threshold": self._quality.threshold, "features": features,
            "river": {a.name: {"values": a.n_seen, "detections": len(a.detections)} for a, _ in self._river},
            "location": None if self._location is None else self._location.snapshot(),
            "off": self.off(),
            "open_alerts": self.open_alerts(),
        }

    def open_alerts(self) -> list[str]:
        """Dedup keys of the alert streams currently open."""
        model, version = self.profile.model, self.profile.version
        keys = [dedup_key(model, version, s.kind, s.detector)
                for s in (*self._streams, *self._location_streams) if s.state.is_open]
        keys += [dedup_key(model, version, "prediction_drift", f"river.{a.name}")
                 for a, state in self._river if state.is_open]
        return keys


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _label(kind: str, detector: str, model: str, version: int | None) -> str:
    return f"{kind.replace('_', ' ')} ({detector}) in {model} v{version}"


def _summary(transition: Transition, label: str, findings: tuple[Finding, ...], window: AlertWindow) -> str:
    names = ", ".join(f.feature for f in findings[:3])
    if len(findings) > 3:
        names += f" and {len(findings) - 3} more"
    if transition.type == "resolved":
        return f"resolved: {label}: {names} back within thresholds at event {window.end}"
    top = findings[0]
    return (f"{transition.severity}: {label}: {names}; top {top.feature} {top.statistic} "
            f"{top.value:.4g} > {top.threshold:.4g} over events {window.start}-{window.end}")
