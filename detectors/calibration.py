"""Thresholds that mean something: per-feature cutoffs for a target number of events between false alarms.

A monitor evaluates ``n_tests`` statistics (every feature, the score, the data-quality tests)
once per sub-window of ``events_per_evaluation`` events. Asking for one false alarm per
``target_arl`` events (the average run length, Alibi Detect's "expected run time") gives each
evaluation a budget of ``events_per_evaluation / target_arl``, split over the tests with Šidák's
correction (`per_test_alpha`). Consecutive windows overlap, so their exceedances are positively
correlated and the realised run length is longer than the target: the calibration errs on the
quiet side.

Per-test levels are then around 1e-7, far beyond what a bootstrap can estimate directly, and the
textbook tail model fails there: for a window of ``n`` present values against a reference of
``m`` (``n_eff = n m / (n + m)``), ``T = n_eff * PSI`` is asymptotically χ² with ``B - 1`` degrees
of freedom, but its finite-sample tail is heavier -- a bin falling short of its share raises PSI
more than it lowers the probability (PSI is ``2 KL`` plus a cubic term that grows as ``q -> 0``).
Against a two-million-replicate bootstrap, a χ² or a scaled χ² fitted at the 99.5 % quantile
already under-states the 1e-5 tail twofold, and an exponential tail fitted to the exceedances is
too noisy to extrapolate.

The tail model here (`fit_tail`) is a directional large-deviation approximation. In the Gaussian
limit the window's proportions are ``p + rho * g / sqrt(n_eff)`` with ``g`` a uniformly random
direction (unit Mahalanobis length) and ``rho**2 ~ χ²(B - 1)``. Along each of about five hundred
sampled directions we follow the ray, evaluate the real statistic (the ``ext`` kernel, smoothing
included) and the likelihood-ratio statistic ``2 n_eff KL(q || p)`` -- whose tail *is* χ² to
leading order (Wilks, and Sanov for large deviations) -- and take ``P(T > t)`` as the average over
directions of ``P(χ²(B - 1) > 2 n_eff KL)`` at the point where the ray's statistic reaches ``t``.
This keeps the exact non-linearity of PSI (or JS) in every direction and the multinomial large-
deviation rate; it agrees with the bootstrap to within Monte-Carlo error from 1e-2 to 1e-6 (tests
check 1e-3 to 1e-5). A moderate bootstrap (2000 replicates) then checks the model at its 99 % and
99.5 % quantiles and may only scale the threshold up (``TailModel.scale``).

Why a multinomial bootstrap from the reference proportions, and not a resample of the stored
reference sample: the profile keeps counts, not rows, so it is all a monitor has at start-up; the
statistic depends on the data only through the bin counts, and under the null (window and
reference drawn from one distribution) both are multinomial samples. Each replicate redraws the
reference too (``Multinomial(m, p)``) as well as the window (``Multinomial(n, p)``), so the
reference's own sampling noise is part of the null, as ``n_eff`` is in the model. The bins
compared must each expect enough events in a window (`detectors.layout.shape_groups`).

A window larger than the calibrated one (a batch overshooting a sub-window) keeps the calibrated
``T`` threshold, scaled by its own ``n_eff``: the finite-sample excess shrinks as ``n`` grows, so
this errs on the quiet side.

References
----------
Yurdakul, B. (2018). *Statistical properties of population stability index*. PhD thesis,
Western Michigan University. (PSI's asymptotic χ² distribution, ``n_eff`` scaling.)

Van Looveren, A. et al. (2019-). *Alibi Detect: algorithms for outlier, adversarial and drift
detection*. Seldon. (Online detectors configured by expected run time ``ert``.)

Examples
--------
>>> alpha = per_test_alpha(target_arl=1e7, events_per_evaluation=100, n_tests=21)
>>> f"{alpha:.3g}"
'4.76e-07'
>>> calibration = calibrate(np.array([[100, 200, 300, 400]]), window_size=500, alpha=alpha, seed=1)
>>> model = calibration.models[0]
>>> model.dof, model.scale >= 1.0
(3, True)
>>> round(float(calibration.thresholds(np.array([500]))[0]), 3)
0.103
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from driftline import ext

Statistic = Literal["psi", "js"]
FloatArray = npt.NDArray[np.float64]

#: Bootstrap quantile levels the tail model is checked against.
CHECK_LEVELS = (0.99, 0.995)
#: Rays stop this many Mahalanobis units out: far past any quantile a monitor asks for.
_MAX_RADIUS = 16.0
_RAY_STEPS = 40
_GRID_POINTS = 192
_LOOKUP_POINTS = 4096


def statistic_rows(statistic: Statistic, reference: npt.ArrayLike, current: npt.ArrayLike,
                   nbins: npt.ArrayLike) -> FloatArray:
    """PSI (nats) or Jensen-Shannon (bits) of every row, with the ``ext`` kernels."""
    if statistic == "psi":
        return ext.psi_rows(reference, current, nbins)
    if statistic == "js":
        return ext.js_rows(reference, current, nbins)
    raise ValueError(f"statistic must be 'psi' or 'js', not {statistic!r}")


def chi2_factor(statistic: Statistic) -> float:
    """``kappa``: ``kappa * n_eff * statistic`` is asymptotically χ² (JS in bits is an eighth of it)."""
    return 1.0 if statistic == "psi" else 8.0 * math.log(2.0)


def effective_size(n: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray:
    """``n m / (n + m)``: the sample size of a two-sample comparison (0 when either is empty)."""
    a = np.asarray(n, dtype=np.float64)
    b = np.asarray(m, dtype=np.float64)
    total = np.where(a + b > 0, a + b, 1.0)
    return np.asarray(np.where((a > 0) & (b > 0), a * b / total, 0.0), dtype=np.float64)


def per_test_alpha(target_arl: float, events_per_evaluation: float, n_tests: int) -> float:
    """False-alarm level of one test in one evaluation, for ``target_arl`` events between alarms.

    Šidák's correction of the per-evaluation budget ``events_per_evaluation / target_arl``.
    """
    if target_arl <= 0 or events_per_evaluation <= 0 or n_tests < 1:
        raise ValueError("target_arl, events_per_evaluation and n_tests must be positive")
    per_evaluation = min(events_per_evaluation / target_arl, 0.5)
    return -math.expm1(math.log1p(-per_evaluation) / n_tests)


@dataclass(frozen=True)
class TailModel:
    """The null survival function of ``T = n_eff * statistic`` for one row.

    ``grid`` holds values of ``T`` and ``log_survival`` the model's ``log P(T > t)`` there;
    ``scale`` (at least 1) is the bootstrap's correction. ``dof == 0`` marks a row with a single
    bin, whose statistic is always 0 and which never drifts.
    """

    dof: int
    grid: tuple[float, ...] = ()
    log_survival: tuple[float, ...] = ()
    scale: float = 1.0

    def quantile(self, alpha: float) -> float:
        """The ``T`` exceeded with probability ``alpha`` under no drift (inf for ``dof == 0``)."""
        if self.dof == 0:
            return math.inf
        # log_survival decreases along the grid; np.interp wants increasing x.
        t = np.interp(math.log(alpha), self.log_survival[::-1], self.grid[::-1])
        return self.scale * float(t)

    def survival(self, t: float) -> float:
        """``P(T > t)`` under no drift, by the model (before ``scale``)."""
        if self.dof == 0:
            return 0.0
        return float(np.exp(np.interp(t / self.scale, self.grid, self.log_survival)))


def bootstrap(reference: npt.ArrayLike, n: int, *, statistic: Statistic = "psi", replicates: int = 4000,
              rng: np.random.Generator) -> FloatArray:
    """``n_eff * statistic`` of ``replicates`` null pairs (redrawn reference, window of ``n``)."""
    counts = np.asarray(reference, dtype=np.float64)
    m = int(counts.sum())
    p = counts / m
    resampled = rng.multinomial(m, p, size=replicates)
    windows = rng.multinomial(n, p, size=replicates)
    nbins = np.full(replicates, counts.size, dtype=np.int64)
    return statistic_rows(statistic, resampled, windows, nbins) * float(effective_size(n, m))


def _directions(p: FloatArray, count: int, rng: np.random.Generator) -> FloatArray:
    """Antithetic Gaussian directions of the multinomial's covariance, of unit Mahalanobis length."""
    root = np.sqrt(p)
    z = rng.standard_normal((count // 2, p.size))
    z = np.concatenate([z, -z])
    g = root * z - p * (z @ root)[:, None]
    return np.asarray(g / np.sqrt((g * g / p).sum(axis=1))[:, None], dtype=np.float64)


def _rays(p: FloatArray, n_eff: float, statistic: Statistic, g: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``T`` and ``2 n_eff KL(q || p)`` at ``_RAY_STEPS`` points along each direction."""
    with np.errstate(divide="ignore"):
        reach = np.where(g < 0, -p / np.where(g < 0, g, -1.0), np.inf).min(axis=1) * math.sqrt(n_eff)
    radii = np.minimum(reach, _MAX_RADIUS)[:, None] * np.linspace(0.0, 1.0, _RAY_STEPS + 1)[1:]
    q = np.maximum(p + radii[..., None] * g[:, None, :] / math.sqrt(n_eff), 0.0).reshape(-1, p.size)
    reference = np.broadcast_to(p, q.shape)
    t = statistic_rows(statistic, reference, q, np.full(q.shape[0], p.size)) * n_eff
    logs = np.log(np.where(q > 0, q, 1.0) / p)
    lr = 2.0 * n_eff * (q * logs).sum(axis=1)
    shape = (g.shape[0], _RAY_STEPS)
    return t.reshape(shape), lr.reshape(shape)


def _chi2_log_survival(dof: int, top: float) -> tuple[FloatArray, FloatArray]:
    """A lookup table of ``log P(χ²(dof) > x)`` for ``0 <= x <= top``: one scipy call, not millions."""
    x = np.linspace(0.0, top, _LOOKUP_POINTS)
    return x, np.log(np.maximum(special.chdtrc(dof, x), 1e-300))


def _survival(t: FloatArray, lr: FloatArray, grid: FloatArray, dof: int) -> FloatArray:
    """Average over rays of ``P(χ²(dof) > LR)`` where each ray's ``T`` reaches each grid value."""
    rays, points = t.shape[0], t.shape[1] + 1
    zeros = np.zeros((rays, 1))
    t, lr = np.hstack([zeros, t]).ravel(), np.hstack([zeros, lr]).ravel()
    # Every ray's T increases from 0; offsetting ray i by 2 i and squashing T into [0, 1) sorts
    # all rays in one array, so one searchsorted finds every ray's crossing of every grid value.
    offsets = 2.0 * np.arange(rays)[:, None]
    keys = (offsets + (t / (1.0 + t)).reshape(rays, points)).ravel()
    upper = np.searchsorted(keys, (offsets + grid / (1.0 + grid)).ravel()).reshape(rays, grid.size)
    beyond = upper >= (np.arange(rays)[:, None] + 1) * points
    upper = np.where(beyond, upper - 1, upper)
    lower = upper - 1
    width = np.maximum(t[upper] - t[lower], 1e-300)
    at = lr[lower] + (grid - t[lower]) * (lr[upper] - lr[lower]) / width
    table_x, table_log = _chi2_log_survival(dof, float(lr.max()) + 1.0)
    tail = np.where(beyond, 0.0, np.exp(np.interp(at, table_x, table_log)))
    return np.asarray(tail.mean(axis=0), dtype=np.float64)


def _model(p: FloatArray, n_eff: float, statistic: Statistic, directions: int,
           rng: np.random.Generator) -> TailModel:
    dof = p.size - 1
    t, lr = _rays(p, n_eff, statistic, _directions(p, directions, rng))
    kappa = chi2_factor(statistic)
    grid = np.geomspace(stats.chi2.ppf(0.5, dof), 3.0 * stats.chi2.isf(1e-15, dof), _GRID_POINTS) / kappa
    survival = np.maximum(_survival(t, lr, grid, dof), 1e-300)
    # Monte-Carlo noise must not make the survival function rise.
    log_survival = np.minimum.accumulate(np.log(survival))
    return TailModel(dof=dof, grid=tuple(grid.tolist()), log_survival=tuple(log_survival.tolist()))


def fit_tail(reference: npt.ArrayLike, n: int, *, statistic: Statistic = "psi", directions: int = 512,
             replicates: int = 2000, rng: np.random.Generator) -> TailModel:
    """Tail model of one row (its reference counts in the compared bins), windows of ``n`` values.

    Bins without reference counts are dropped (the statistic's smoothing makes them a
    data-quality matter, not a shape one).
    """
    counts = np.asarray(reference, dtype=np.float64)
    counts = counts[counts > 0]
    if counts.size < 2 or n < 1:
        return TailModel(dof=0)
    m = float(counts.sum())
    model = _model(counts / m, float(effective_size(n, m)), statistic, directions, rng)
    if replicates:
        observed = np.quantile(bootstrap(counts, n, statistic=statistic, replicates=replicates, rng=rng),
                               CHECK_LEVELS)
        predicted = np.array([model.quantile(1.0 - level) for level in CHECK_LEVELS])
        scale = max(1.0, float(np.max(observed / predicted)))
        model = TailModel(model.dof, model.grid, model.log_survival, scale)
    return model


@dataclass(frozen=True)
class Calibration:
    """Tail models of every row and the level they are cut at."""

    alpha: float
    statistic: Statistic
    models: tuple[TailModel, ...]
    reference_sizes: tuple[int, ...]

    @property
    def quantiles(self) -> FloatArray:
        """Per-row threshold of ``T = n_eff * statistic`` at ``alpha``."""
        return np.array([model.quantile(self.alpha) for model in self.models])

    def thresholds(self, n: npt.ArrayLike, quantiles: FloatArray | None = None) -> FloatArray:
        """Per-row statistic cutoffs for windows of ``n`` present values (inf where undefined).

        ``quantiles`` may pass `quantiles` computed once, for a hot loop.
        """
        if quantiles is None:
            quantiles = self.quantiles
        scale = effective_size(n, self.reference_sizes)
        out = np.full(scale.shape, math.inf)
        np.divide(quantiles, scale, out=out, where=scale > 0)
        return out


def calibrate(reference: npt.ArrayLike, *, window_size: int | npt.ArrayLike, alpha: float,
              statistic: Statistic = "psi", directions: int = 512, replicates: int = 2000,
              seed: int = 0) -> Calibration:
    """Fit a tail model per row of ``reference`` (``[rows, bins]`` counts in the compared bins).

    Parameters
    ----------
    reference
        Reference counts per row in the bins the statistic compares (zero-padded).
    window_size
        Present values per row in a nominal window: one number, or one per row.
    alpha
        Per-test false-alarm level (`per_test_alpha`).
    statistic
        ``"psi"`` or ``"js"``.
    directions, replicates
        Rays of the tail model and bootstrap replicates of its check, per row; the defaults fit
        21 rows in about half a second.
    seed
        Seeds both: the same inputs give the same thresholds.
    """
    counts = np.asarray(reference, dtype=np.int64)
    sizes = np.broadcast_to(np.asarray(window_size, dtype=np.int64), (counts.shape[0],))
    rng = np.random.default_rng(seed)
    models = tuple(fit_tail(row, int(n), statistic=statistic, directions=directions, replicates=replicates,
                            rng=rng) for row, n in zip(counts, sizes.tolist(), strict=True))
    return Calibration(alpha=alpha, statistic=statistic, models=models,
                       reference_sizes=tuple(int(t) for t in counts.sum(axis=1)))
