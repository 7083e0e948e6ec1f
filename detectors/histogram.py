"""Sliding-window histogram drift detector fed with batches of bin counts.

`HistogramDriftDetector` compares, for every row of a `detectors.reference.ReferenceProfile`
(each input feature and the score), the distribution of the last ``window_size`` events with the
reference distribution, by PSI (default) or Jensen-Shannon divergence.

It follows River's detector contract -- constructor arguments are public attributes, mutable
state is private and rebuilt by ``_reset()``, ``update`` returns nothing and ``drift_detected`` /
``warning_detected`` are true only for the update that raised them -- except that ``update``
takes a *batch*: a count delta ``int64[rows, width]`` (from `detectors.binner.ProfileBinner`) and
the number of events ``n`` behind it.

Window
------
The window is a ring of ``n_sub_windows`` sub-windows of ``window_size / n_sub_windows`` events.
Deltas add to the open sub-window; it closes once it holds at least its share of events, and the
statistic is evaluated whenever one closes and the ring is full. A count delta cannot be split
(counts cannot be apportioned to events), so a sub-window may overshoot by up to one delta less
one event, and a window may hold more than ``window_size`` events: thresholds are computed for
the events actually present, so the false-alarm rate holds. `detectors.monitor.DriftMonitor`
avoids that: it feeds blocks of ordered bin codes cut at `room`, so every window is exactly
``window_size`` events, judged every sub-window.

Merging: counts add, so feeding the sum of two deltas equals feeding them one after the other
whenever the first does not close a sub-window -- deltas from several workers or partitions may
be summed before feeding.

What is compared
----------------
The statistic compares the shape of the present values on coarser bins (see
`detectors.layout.shape_groups`): each compared bin expects at least ``min_expected`` events in a
window. Missing values and unseen categories are left to `detectors.quality`.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> from driftline.detectors.binner import ProfileBinner
>>> card = ModelCard(name="toy", features=(FeatureSpec(name="x", type="numeric"),))
>>> rng = np.random.default_rng(42)
>>> profile = ReferenceProfile.build(card, {"x": rng.normal(size=20_000)})
>>> binner = ProfileBinner(profile)
>>> detector = HistogramDriftDetector(profile, window_size=500, n_sub_windows=5, target_arl=1e6)
>>> detected = []
>>> for start in range(0, 4000, 50):
...     shift = 0.0 if start < 2000 else 1.0
...     detector.update(binner.bin_columns({"x": rng.normal(shift, size=50)}), 50)
...     if detector.drift_detected:
...         detected.append(detector.n_seen)
>>> detected[0]
2200
>>> detector.ranked()[0].name
'x'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from driftline.detectors.calibration import Calibration, Statistic, calibrate, per_test_alpha, statistic_rows
from driftline.detectors.layout import shape_groups
from driftline.detectors.reference import ReferenceProfile

CountArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FeatureStatistic:
    """One row's statistic at an evaluation, against its threshold."""

    name: str
    statistic: str
    value: float
    threshold: float

    @property
    def ratio(self) -> float:
        """``value / threshold``: above 1 is drift."""
        return self.value / self.threshold if self.threshold > 0 else math.inf


class HistogramDriftDetector:
    """Per-feature PSI or Jensen-Shannon drift over a sliding window of count deltas.

    Parameters
    ----------
    profile
        Reference profile: rows, bin layouts and reference counts.
    window_size
        Events in the sliding window.
    n_sub_windows
        Sub-windows in the ring; the statistic is evaluated once per sub-window.
    statistic
        ``"psi"`` (population stability index, nats) or ``"js"`` (Jensen-Shannon, bits).
    threshold
        ``"calibrated"`` (per-row thresholds for ``target_arl``, see `detectors.calibration`) or
        a fixed cutoff applied to every row (e.g. the folklore PSI 0.2; mind that fixed cutoffs
        false-alarm at small windows and miss at large ones).
    target_arl
        Events between false alarms of all ``n_tests`` tests together, when calibrated.
    n_tests
        Tests run per evaluation, for the multiple-testing correction; defaults to the rows.
        A monitor that also runs data-quality tests passes their total.
    min_expected
        Events each compared bin must expect in a full window; rarer bins are merged.
    warning_ratio
        ``warning_detected`` when some row is above this fraction of its threshold (but none above
        the threshold).
    seed
        Seeds the calibration.

    References
    ----------
    Yurdakul, B. (2018). *Statistical properties of population stability index*. PhD thesis,
    Western Michigan University.

    Lin, J. (1991). Divergence measures based on the Shannon entropy. *IEEE Transactions on
    Information Theory* 37(1), 145-151.
    """

    def __init__(self, profile: ReferenceProfile, *, window_size: int = 500, n_sub_windows: int = 5,
                 statistic: Statistic = "psi", threshold: float | Literal["calibrated"] = "calibrated",
                 target_arl: float = 1e7, n_tests: int | None = None, min_expected: float = 15.0,
                 warning_ratio: float = 0.5, seed: int = 0) -> None:
        if window_size < 1 or not 1 <= n_sub_windows <= window_size:
            raise ValueError("window_size must be positive and n_sub_windows in 1..window_size")
        self.profile = profile
        self.window_size = window_size
        self.n_sub_windows = n_sub_windows
        self.statistic = statistic
        self.threshold = threshold
        self.target_arl = target_arl
        self.n_tests = n_tests
        self.min_expected = min_expected
        self.warning_ratio = warning_ratio
        self.seed = seed
        self._layout()
        self._calibration = self._calibrate()
        self._quantiles = None if self._calibration is None else self._calibration.quantiles
        self._reset()

    # --- derived once: layout and calibration --------------------------------------------------

    def _layout(self) -> None:
        rows = self.profile.rows
        self._names = self.profile.row_names
        self._reference = self.profile.counts()
        self._sub_size = math.ceil(self.window_size / self.n_sub_windows)
        groups = [self._row_groups(r) for r in range(len(rows))]
        self._nbins = np.array([max(max(g) + 1, 1) for g in groups], dtype=np.int64)
        width = int(self._nbins.max())
        dump = len(rows) * width  # excluded bins land here and are dropped
        flat = np.full(self._reference.shape, dump, dtype=np.int64)
        for r, g in enumerate(groups):
            flat[r, : len(g)] = [dump if b < 0 else r * width + b for b in g]
        self._flat_groups = flat.ravel()
        self._shape_width = width
        self._shape_reference = self._to_shapes(self._reference[None])[0]
        empty = self._shape_reference.sum(axis=1) == 0
        self._shape_reference[empty, 0] = 1  # a row without reference values never drifts
        self._comparable = ~empty

    def _row_groups(self, r: int) -> tuple[int, ...]:
        row = self.profile.rows[r]
        present = _present_share(row.kind, row.counts)
        expected = max(self.window_size * present, 1.0)
        return shape_groups(row.kind, row.counts, min(self.min_expected / expected, 1.0))

    def _to_shapes(self, windows: npt.NDArray[np.int64]) -> FloatArray:
        """``[E, rows, width]`` counts in the compared bins, ``[E, rows, shape width]``, in one bincount."""
        n_windows, rows = windows.shape[0], windows.shape[1]
        size = rows * self._shape_width + 1  # the last slot collects the excluded bins
        flat = (self._flat_groups + size * np.arange(n_windows)[:, None]).ravel()
        summed = np.bincount(flat, weights=windows.reshape(-1), minlength=n_windows * size)
        shapes = summed.reshape(n_windows, size)[:, :-1].reshape(n_windows, rows, self._shape_width)
        return np.asarray(shapes, dtype=np.float64)

    def _calibrate(self) -> Calibration | None:
        if self.threshold != "calibrated":
            return None
        alpha = per_test_alpha(self.target_arl, self._sub_size, self.n_tests or len(self._names))
        shares = np.array([_present_share(row.kind, row.counts) for row in self.profile.rows])
        reference = np.where(self._comparable[:, None], self._shape_reference, 0.0)
        return calibrate(reference.astype(np.int64), window_size=np.maximum(self.window_size * shares, 1.0),
                         alpha=alpha, statistic=self.statistic, seed=self.seed)

    @property
    def silent(self) -> dict[str, str]:
        """Rows whose statistic can never exceed a threshold at this window, and why (empty: none).

        A statistic needs two compared bins, each expecting ``min_expected`` events in a window:
        at a 30-event window every row has one bin (PSI is 0 against an infinite threshold), at
        40-50 events the rarer categorical features do. The monitor logs these and puts them in
        its snapshot; a monitor whose every row is silent is refused at start.
        """
        out = {}
        for r, row in enumerate(self.profile.rows):
            present = self.window_size * _present_share(row.kind, row.counts)
            if not self._comparable[r]:
                out[row.name] = "no reference values to compare with"
            elif self._nbins[r] < 2:
                out[row.name] = (f"a window of {self.window_size} events holds about {present:.0f} of its "
                                 f"values: too few for two bins expecting {self.min_expected:g} each")
        return out

    @property
    def alpha(self) -> float | None:
        """Per-test false-alarm level of one evaluation (None for a fixed threshold)."""
        return None if self._calibration is None else self._calibration.alpha

    def thresholds_for(self, present: npt.ArrayLike) -> FloatArray:
        """Per-row thresholds for windows holding ``present`` compared values per row."""
        if self._calibration is None:
            return np.full(np.shape(present), float(self.threshold))
        out = self._calibration.thresholds(present, self._quantiles)
        return np.where(self._comparable, out, math.inf)

    # --- state ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        shape = self._reference.shape
        self._ring = np.zeros((self.n_sub_windows, *shape), dtype=np.int64)
        self._ring_events = np.zeros(self.n_sub_windows, dtype=np.int64)
        self._slot = 0
        self._closed = 0
        self._open = np.zeros(shape, dtype=np.int64)
        self._open_events = 0
        self._window = np.zeros(shape, dtype=np.int64)
        self._window_events = 0
        self._window_end = 0
        self._n_seen = 0
        self._n_evaluations = 0
        self._values = np.zeros(len(self._names))
        self._present = np.zeros(len(self._names))
        self._thresholds = self.thresholds_for(self._nominal_present())
        self._drift_detected = False
        self._warning_detected = False
        self._evaluated = False
        self._sub_closed = False

    def _nominal_present(self) -> FloatArray:
        shares = np.array([_present_share(row.kind, row.counts) for row in self.profile.rows])
        return np.asarray(self.window_size * shares, dtype=np.float64)

    def update(self, counts: npt.ArrayLike, n: int) -> None:
        """Add a count delta of ``n`` events; evaluates when it completes a sub-window."""
        delta = np.asarray(counts, dtype=np.int64)
        if delta.shape != self._open.shape or n < 0:
            raise ValueError(f"counts must have shape {self._open.shape} and n be non-negative")
        self._drift_detected = self._warning_detected = self._evaluated = self._sub_closed = False
        self._open += delta
        self._open_events += n
        self._n_seen += n
        if self._open_events >= self._sub_size:
            self._close()

    def _close(self) -> None:
        self._sub_closed = True
        slot = self._slot
        self._window -= self._ring[slot]
        self._window_events -= int(self._ring_events[slot])
        self._ring[slot] = self._open
        self._ring_events[slot] = self._open_events
        self._window += self._open
        self._window_events += self._open_events
        self._window_end = self._n_seen
        self._open[:] = 0
        self._open_events = 0
        self._slot = (slot + 1) % self.n_sub_windows
        self._closed += 1
        if self._closed >= self.n_sub_windows:
            self._evaluate()

    def _evaluate(self) -> None:
        values, thresholds, present = self._statistics(self._window[None])
        self._values, self._thresholds, self._present = values[0], thresholds[0], present[0]
        self._n_evaluations += 1
        self._evaluated = True
        above = self._values > self._thresholds
        self._drift_detected = bool(above.any())
        self._warning_detected = not self._drift_detected and bool(
            (self._values > self.warning_ratio * self._thresholds).any())

    def _statistics(self, windows: CountArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Each row's statistic, threshold and compared values in each of ``[E, rows, width]``
        windows: ``[E, rows]`` each, computed for all windows at once."""
        n_windows, rows = windows.shape[0], windows.shape[1]
        shape = self._to_shapes(windows)
        present = shape.sum(axis=2)
        usable = (present > 0) & self._comparable
        # A row with nothing to compare is compared with its reference: statistic 0.
        current = np.where(usable[..., None], shape, self._shape_reference)
        reference = np.broadcast_to(self._shape_reference, current.shape).reshape(-1, self._shape_width)
        values = statistic_rows(self.statistic, reference, current.reshape(-1, self._shape_width),
                                np.tile(self._nbins, n_windows)).reshape(n_windows, rows)
        return values, self.thresholds_for(present), present

    # --- many sub-windows at once --------------------------------------------------------------

    def block_sizes(self, n: int) -> npt.NDArray[np.int64]:
        """How ``n`` more events split at sub-window ends: the open sub-window's `room`, whole
        sub-windows, then what stays open (possibly 0). One size alone: nothing closes."""
        room = self.room
        if n < room:
            return np.array([n], dtype=np.int64)
        whole, rest = divmod(n - room, self._sub_size)
        return np.array([room, *[self._sub_size] * whole, rest], dtype=np.int64)

    def advance_if_quiet(self, blocks: CountArray, sizes: npt.NDArray[np.int64],
                         quiet: Callable[[CountArray], bool]) -> bool:
        """Feed many sub-windows at once if none of their evaluations finds anything; else change nothing.

        ``blocks`` (``[B, rows, width]``) are the counts of the `block_sizes` ``sizes``: each but the
        last closes a sub-window. True: every block was fed, each closing was evaluated (all at
        once, which is the point: a batch of 2,000 events closes 20 sub-windows, and one evaluation
        costs about as much alone as 20 do together), no row was above its threshold and ``quiet``
        accepted the stack of evaluated windows; the state is then exactly what `update` block by
        block would leave. False: nothing changed (also when the ring is still filling or nothing
        closes); feed the blocks with `update`.
        """
        closes = len(sizes) - 1
        n = self.n_sub_windows
        if closes < 1 or self._closed < n:
            return False
        oldest_first = (self._slot + np.arange(n)) % n
        closing = blocks[:closes].copy()
        closing[0] += self._open
        closing_events = sizes[:closes].copy()
        closing_events[0] += self._open_events
        # Window e (after closing e) sums the n sub-windows ending with it: differences of a cumsum.
        sequence = np.concatenate([self._ring[oldest_first], closing])
        event_sequence = np.concatenate([self._ring_events[oldest_first], closing_events])
        sums, event_sums = np.cumsum(sequence, axis=0), np.cumsum(event_sequence)
        windows = sums[n:] - sums[:closes]
        values, thresholds, present = self._statistics(windows)
        if not ((values <= thresholds).all() and quiet(windows)):
            return False
        self._slot = (self._slot + closes) % n
        oldest_first = (self._slot + np.arange(n)) % n
        self._ring[oldest_first], self._ring_events[oldest_first] = sequence[-n:], event_sequence[-n:]
        self._window, self._window_events = windows[-1], int(event_sums[-1] - event_sums[closes - 1])
        self._n_seen += int(sizes.sum())
        self._window_end = self._n_seen - int(sizes[-1])
        self._open, self._open_events = blocks[-1].copy(), int(sizes[-1])
        self._closed += closes
        self._n_evaluations += closes
        self._values, self._thresholds, self._present = values[-1], thresholds[-1], present[-1]
        # The flags are those of the last block's `update`: an open remainder evaluates nothing.
        self._evaluated = self._sub_closed = self._open_events == 0
        self._drift_detected = False
        self._warning_detected = self._evaluated and bool(
            (self._values > self.warning_ratio * self._thresholds).any())
        return True

    # --- results -------------------------------------------------------------------------------

    @property
    def drift_detected(self) -> bool:
        """Some row's statistic exceeded its threshold at this update's evaluation."""
        return self._drift_detected

    @property
    def warning_detected(self) -> bool:
        """No drift, but some row exceeded ``warning_ratio`` of its threshold."""
        return self._warning_detected

    @property
    def evaluated(self) -> bool:
        """This update closed a sub-window and the window statistics were recomputed."""
        return self._evaluated

    @property
    def sub_window_closed(self) -> bool:
        """This update closed a sub-window (evaluated too once the ring is full)."""
        return self._sub_closed

    @property
    def room(self) -> int:
        """Events that close the open sub-window: feed at most this many to keep windows exact."""
        return self._sub_size - self._open_events if self._open_events < self._sub_size else 1

    @property
    def n_seen(self) -> int:
        """Events fed so far."""
        return self._n_seen

    @property
    def n_evaluations(self) -> int:
        return self._n_evaluations

    @property
    def window_events(self) -> int:
        """Events in the window of the last evaluation."""
        return self._window_events

    @property
    def window_bounds(self) -> tuple[int, int]:
        """``(start, end)`` event indices of the window (end exclusive)."""
        return self._window_end - self._window_events, self._window_end

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def values(self) -> FloatArray:
        """Each row's statistic at the last evaluation (0 before the first)."""
        return self._values.copy()

    @property
    def thresholds(self) -> FloatArray:
        """Each row's threshold at the last evaluation (for a nominal window before the first)."""
        return self._thresholds.copy()

    @property
    def sample_counts(self) -> FloatArray:
        """Compared (present, known) values per row in the last evaluated window."""
        return self._present.copy()

    @property
    def window_counts(self) -> CountArray:
        """The last evaluated window's counts, in the profile's layout."""
        return self._window.copy()

    def ranked(self) -> list[FeatureStatistic]:
        """Rows above their threshold at the last evaluation, most drifted (value/threshold) first."""
        ratio = np.where(self._thresholds > 0, self._values / self._thresholds, 0.0)
        order = np.argsort(-ratio, kind="stable")
        return [self.feature(int(r)) for r in order if self._values[r] > self._thresholds[r]]

    def feature(self, row: int | str) -> FeatureStatistic:
        """One row's statistic and threshold at the last evaluation."""
        r = row if isinstance(row, int) else self._names.index(row)
        return FeatureStatistic(self._names[r], self.statistic, float(self._values[r]),
                                float(self._thresholds[r]))

    def shares(self, row: int | str) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
        """Bin labels, reference shares and window shares of one row, every bin included."""
        r = row if isinstance(row, int) else self._names.index(row)
        reference = self.profile.rows[r]
        return reference.bin_labels(), _shares(self._reference[r, : reference.n_bins]), \
            _shares(self._window[r, : reference.n_bins])


def _present_share(kind: str, counts: tuple[int, ...]) -> float:
    """Share of a row's reference events that the statistic compares (not missing, not other)."""
    total = sum(counts)
    if total == 0:
        return 0.0
    left_out = counts[-1] + (counts[-2] if kind == "categorical" else 0)
    return (total - left_out) / total


def _shares(counts: npt.NDArray[np.int64]) -> FloatArray:
    total = counts.sum()
    return np.asarray(counts / total if total > 0 else np.zeros(counts.size), dtype=np.float64)
