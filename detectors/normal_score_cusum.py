"""Location shifts of every numeric feature and the score: CUSUMs of normal scores of bin codes.

A histogram test judges a window: its delay is at least a sub-window and grows with the window.
Page's CUSUM accumulates evidence event by event and, for a known shift, has the shortest
worst-case delay for its false-alarm rate (Lorden 1971; Moustakides 1986): about
``ln(ARL) / KL`` events, with ``KL = δ²/2`` nats per event for a ``δ``-sigma shift.

Normal scores. Each event arrives as the bin code of every row (`detectors.binner`), in order.
A bin ``b`` of a numeric row holds the reference share ``p_b`` between the cumulative shares
``F_{b-1}`` and ``F_b``; its score is ``E[Z | Φ(Z) in bin b] = (φ(a_{b-1}) - φ(a_b)) / p_b``
with ``a_b = Φ⁻¹(F_b)``: the normal score of the bin, whatever the feature's distribution. A
heavy tail, a skew or an atom (a count feature's zeros) changes nothing: under no drift the
score's distribution is known exactly from the reference shares, with mean 0 and variance
``I = Σ p_b s_b²`` (the share of the Fisher information for a location shift that the bins
keep: about 0.93 for deciles). Scores are standardised by ``sqrt(I)``; a value outside the
reference range scores like the reference's extreme bin, so one wild value moves a CUSUM by a
bounded step (the out-of-range test of `detectors.quality` watches such values); a missing
value moves nothing (the missing-rate test watches those).

CUSUMs. For each shift ``δ`` in ``shifts`` and each side, a one-sided CUSUM adds
``±δ s - δ²/2`` per event: the log-likelihood ratio of a ``δ``-sigma shift of a normal score.
Two shifts cover small and large changes: tuned to 0.25 sigma the CUSUM finds a 0.25-sigma shift
near its optimum and a 0.5-sigma shift about 15 % later than a CUSUM tuned to 0.5.

Threshold. Under no drift the increments take known values ``x_b`` with probabilities ``q_b``
(the reference shares, missing included). With ``θ > 0`` the root of ``Σ q_b exp(θ x_b) = 1``
and ``μ = Σ q_b x_b < 0``, Siegmund's approximation of the run length to a false alarm is
``(exp(θ h) - 1 - θ h) / (θ |μ|)`` (exact for a Gaussian random walk up to the overshoot, whose
omission errs on the quiet side). ``h`` solves it for ``target_arl * (other_tests + K)`` events
with ``K`` one-sided CUSUMs: each is one test of the monitor's false-alarm budget, like each
histogram test.

After a crossing a CUSUM restarts at ``headstart * h`` (Lucas and Crosier's fast initial
response), so while the shift lasts it crosses again within about ``(1 - headstart) h / KL``
events and an alert built on it stays open.

Cost. The per-event loop is the ``ext.cusum_codes`` kernel: a table look-up and an add per
CUSUM, about 1.5 ns, so 68 CUSUMs (17 rows, 2 shifts, 2 sides) cost about 0.1 µs per event.

References
----------
Page, E. S. (1954). Continuous inspection schemes. *Biometrika* 41, 100-115.

Siegmund, D. (1985). *Sequential analysis: tests and confidence intervals*. Springer.

Lucas, J. M. and Crosier, R. B. (1982). Fast initial response for CUSUM quality-control schemes.
*Technometrics* 24, 199-205.

Examples
--------
>>> import numpy as np
>>> from driftline.models.card import FeatureSpec, ModelCard
>>> from driftline.detectors.binner import ProfileBinner
>>> card = ModelCard(name="toy", features=(FeatureSpec(name="x", type="numeric"),))
>>> rng = np.random.default_rng(11)
>>> profile = ReferenceProfile.build(card, {"x": rng.standard_t(3, size=20_000)})
>>> detector = NormalScoreCUSUM(profile, target_arl=1e6)
>>> binner = ProfileBinner(profile)
>>> x = np.concatenate([rng.standard_t(3, size=3000), rng.standard_t(3, size=1000) + 0.5])
>>> for start in range(0, 4000, 250):
...     detector.update_many(binner.bin_codes({"x": x[start : start + 250]}))
>>> detector.detections[:2]
((3198, 'x', '+0.5'), (3199, 'x', '+0.25'))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from driftline import ext
from driftline.detectors.reference import FeatureReference, ReferenceProfile

FloatArray = npt.NDArray[np.float64]
CodeArray = npt.NDArray[np.unsignedinteger]


@dataclass(frozen=True)
class Peaks:
    """Each watched row's strongest CUSUM since the last `NormalScoreCUSUM.take_peaks`.

    ``values[i]`` is the largest ``S`` (before a restart) of row ``rows[i]``'s strongest CUSUM,
    whose threshold is ``thresholds[i]`` and shift ``labels[i]`` (``"+0.5"``: up, 0.5 sigma).
    """

    rows: tuple[int, ...]
    values: FloatArray
    thresholds: FloatArray
    labels: tuple[str, ...]


class NormalScoreCUSUM:
    """Two-sided CUSUMs of standardised normal scores, per numeric row of a profile.

    Parameters
    ----------
    profile
        The reference profile: the rows' bins and reference shares.
    target_arl
        Events between false alarms of all tests together: these CUSUMs and ``other_tests``.
    other_tests
        Other tests sharing the budget (a monitor passes its histogram and quality tests).
    shifts
        Shifts, in standard deviations of the normal score, the CUSUMs are tuned to.
    headstart
        ``S`` restarts at ``headstart * h`` after a crossing.
    """

    def __init__(self, profile: ReferenceProfile, *, target_arl: float = 1e7, other_tests: int = 0,
                 shifts: tuple[float, ...] = (0.25, 0.5), headstart: float = 0.5) -> None:
        if target_arl <= 1 or not shifts or min(shifts) <= 0 or not 0 <= headstart < 1:
            raise ValueError("need target_arl > 1, positive shifts and 0 <= headstart < 1")
        self.profile = profile
        self.target_arl = target_arl
        self.shifts = shifts
        self.headstart = headstart
        self.rows = tuple(r for r, row in enumerate(profile.rows) if _scorable(row))
        self.other_tests = other_tests
        self._build()
        self._reset()

    @property
    def n_cusums(self) -> int:
        """One-sided CUSUMs run: up to two per shift per watched row (a side that no bin can move
        up, such as a fall of a feature that is 96 % zeros, is left out)."""
        return int(self._columns.size)

    def _build(self) -> None:
        width = self.profile.width
        columns, tables, shares, labels = [], [], [], []
        for r in self.rows:
            row = self.profile.rows[r]
            scores, row_shares = normal_scores(row)
            for delta in self.shifts:
                for sign in (1.0, -1.0):
                    table = np.zeros(width)
                    table[: row.n_bins] = sign * delta * scores - delta**2 / 2.0
                    table[row.missing_bin] = 0.0  # a missing value is no evidence either way
                    if table[: row.n_bins][row_shares > 0].max() <= 0.0:
                        continue
                    columns.append(r)
                    tables.append(table)
                    shares.append(row_shares)
                    labels.append(f"{'+' if sign > 0 else '-'}{delta:g}")
        arl = self.target_arl * (self.other_tests + len(columns))
        self.rows = tuple(sorted(set(columns)))
        self._columns = np.array(columns, dtype=np.int64)
        self._table = np.ascontiguousarray(tables, dtype=np.float64).reshape(len(columns), width)
        self._thresholds = np.array([cusum_threshold(t[: q.size], q, arl)
                                     for t, q in zip(tables, shares, strict=True)])
        self._labels = tuple(labels)
        # The CUSUMs of each watched row, padded with an index past the end (a peak of -1).
        per_row = [np.flatnonzero(self._columns == r) for r in self.rows]
        widest = max((k.size for k in per_row), default=0)
        self._grid = np.full((len(per_row), widest), len(columns), dtype=np.intp)
        for i, k in enumerate(per_row):
            self._grid[i, : k.size] = k

    def _reset(self) -> None:
        # S, the largest S since take_peaks, and "crossed at the last event", per CUSUM.
        self._state = np.zeros((3, self._columns.size))
        self._statistic, self._peak, self._just_crossed = self._state
        self._n_seen = 0
        self._crossed = False
        self._drift_detected = False
        self._detections: list[tuple[int, str, str]] = []

    @property
    def thresholds(self) -> FloatArray:
        """``h`` of every one-sided CUSUM (row-major: row, shift, side)."""
        return self._thresholds.copy()

    @property
    def n_seen(self) -> int:
        return self._n_seen

    @property
    def drift_detected(self) -> bool:
        """The last `update_many` crossed a threshold at least once."""
        return self._drift_detected

    @property
    def crossed(self) -> bool:
        """The last `advance` stopped at a crossing."""
        return self._crossed

    @property
    def detections(self) -> tuple[tuple[int, str, str], ...]:
        """``(event index, row name, shift label)`` of every crossing, in order."""
        return tuple(self._detections)

    def update_many(self, codes: CodeArray) -> None:
        """Feed a batch of events (``[N, rows]`` bin codes) in order."""
        self._drift_detected = False
        position = 0
        while position < codes.shape[0]:
            position += self.advance(codes[position:])
            self._drift_detected |= self._crossed

    def advance(self, codes: CodeArray) -> int:
        """Feed events up to and including the first at which a CUSUM crosses; returns how many.

        The monitor's hook: it acts on each crossing at its exact event, then feeds the rest.
        """
        used = ext.cusum_codes(codes, self._columns, self._table, self._thresholds, self._state,
                               headstart=self.headstart)
        self._n_seen += used
        self._crossed = bool(self._just_crossed.any())
        if self._crossed:
            for k in np.flatnonzero(self._just_crossed).tolist():
                self._detections.append((self._n_seen - 1, self.profile.row_names[int(self._columns[k])],
                                         self._labels[k]))
        return int(used)

    def advance_if_quiet(self, codes: CodeArray) -> bool:
        """Feed all of ``codes`` if no CUSUM crosses on them; otherwise change nothing.

        True: every event was fed, no crossing (peaks may have grown, never past a threshold).
        False: the state is as before the call, and the caller feeds the events with `advance`.
        The monitor's fast path: one kernel call for a whole batch instead of one per sub-window,
        in the common case where nothing crosses.
        """
        if not ext.cusum_quiet(codes, self._columns, self._table, self._thresholds, self._state):
            return False
        self._n_seen += codes.shape[0]
        self._crossed = False
        return True

    def snapshot(self) -> dict[str, object]:
        """JSON-safe state for the metrics topic: each watched row's largest ``S / h`` now."""
        ratio = self._statistic / self._thresholds
        rows = {self.profile.row_names[r]: round(float(ratio[self._columns == r].max()), 4)
                for r in self.rows}
        return {"events": self._n_seen, "shifts": list(self.shifts), "ratio": rows,
                "detections": len(self._detections)}

    def peaks_within_thresholds(self) -> bool:
        """No CUSUM has reached its threshold since the last `take_peaks` (or `clear_peaks`)."""
        return bool((self._peak <= self._thresholds).all())

    def clear_peaks(self) -> None:
        """Forget the peaks, as `take_peaks` does, without reading them."""
        self._peak[:] = 0.0

    def take_peaks(self) -> Peaks:
        """Each watched row's strongest CUSUM (largest ``S / h``) since the last call; resets them."""
        if not self.rows:
            return Peaks((), np.zeros(0), np.zeros(0), ())
        padded = np.append(self._peak / self._thresholds, -1.0)[self._grid]
        k = self._grid[np.arange(len(self.rows)), np.argmax(padded, axis=1)]
        labels = tuple(self._labels[i] for i in k.tolist())
        peaks = Peaks(self.rows, self._peak[k], self._thresholds[k], labels)
        self._peak[:] = 0.0
        return peaks


def _scorable(row: FeatureReference) -> bool:
    present = np.asarray(row.counts[:-1])
    return row.kind == "numeric" and int((present > 0).sum()) >= 2


def normal_scores(row: FeatureReference) -> tuple[FloatArray, FloatArray]:
    """Standardised normal score of every bin of a numeric row, and every bin's reference share.

    The missing bin scores 0; bins without reference events score as the quantile at their
    place, clipped to the scores of the bins that have reference events.

    >>> row = FeatureReference("x", "numeric", (0, 25, 25, 25, 25, 0, 0), edges=(0.0, 1.0, 2.0, 3.0, 4.0))
    >>> scores, shares = normal_scores(row)
    >>> [round(s, 3) for s in scores.tolist()]
    [-1.37, -1.37, -0.35, 0.35, 1.37, 1.37, 0.0]
    """
    counts = np.asarray(row.counts, dtype=np.float64)
    present = counts[:-1]
    m = float(present.sum())
    cumulative = np.cumsum(present) / m
    edge = special.ndtri(0.5 / (m + 1.0))  # the quantile half an event beyond the extremes
    upper = np.clip(special.ndtri(np.clip(cumulative, 0.0, 1.0)), edge, -edge)
    lower = np.concatenate([[edge], upper[:-1]])
    phi_lower, phi_upper = _phi(lower, cumulative, first=True), _phi(upper, cumulative, first=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(present > 0, (phi_lower - phi_upper) / np.where(present > 0, present / m, 1.0),
                          np.where(cumulative <= 0.0, edge, np.where(cumulative >= 1.0, -edge, upper)))
    shares = present / m
    # A value the reference never had (outside its range) counts like the nearest reference bin:
    # out-of-range values are the quality test's business, and one must not move a CUSUM far.
    scores = np.clip(scores, scores[present > 0].min(), scores[present > 0].max())
    mean = float(shares @ scores)
    scale = math.sqrt(float(shares @ (scores - mean) ** 2))
    standardised = np.append((scores - mean) / scale, 0.0)
    return standardised, counts / counts.sum()


def _phi(a: FloatArray, cumulative: FloatArray, *, first: bool) -> FloatArray:
    """The normal density at the bin bounds, exactly 0 at the ends of the reference's range."""
    density = np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    at_end = np.concatenate([[True], cumulative[:-1] <= 0.0]) if first else cumulative >= 1.0
    return np.asarray(np.where(at_end, 0.0, density), dtype=np.float64)


def cusum_threshold(increments: npt.ArrayLike, probabilities: npt.ArrayLike, arl: float) -> float:
    """``h`` giving ``arl`` events between false alarms for i.i.d. increments of a known law.

    Siegmund's approximation ``(exp(θ h) - 1 - θ h) / (θ |μ|)`` with ``θ`` the positive root of
    ``E exp(θ x) = 1``. For Gaussian log-likelihood ratios of a ``δ`` shift (``θ = 1``):

    >>> from scipy import stats
    >>> x = np.linspace(-6, 6, 2001)
    >>> w = stats.norm.pdf(x)
    >>> round(cusum_threshold(0.5 * x - 0.125, w / w.sum(), 1e6), 2)
    11.74
    """
    x = np.asarray(increments, dtype=np.float64)
    q = np.asarray(probabilities, dtype=np.float64)
    x, q = x[q > 0], q[q > 0]  # values that never occur under no change play no part
    mean = float(q @ x)
    if mean >= 0 or x.max() <= 0:
        raise ValueError("increments must drift down under no change and be able to rise")
    top = 1.0
    while float(q @ np.exp(top * x)) < 1.0:
        top *= 2.0
    theta = optimize.brentq(lambda t: float(q @ np.exp(t * x)) - 1.0, 1e-9 * top, top, xtol=1e-12)

    def log_gap(h: float) -> float:
        return math.log(math.expm1(theta * h) - theta * h) - math.log(theta * -mean) - math.log(arl)

    h_high = 1.0
    while log_gap(h_high) < 0:
        h_high *= 2.0
    return float(optimize.brentq(log_gap, 1e-9, h_high, xtol=1e-10))
