"""One-sided CUSUMs over coded events in pure Python: the specification and fallback for ``ext._cusum``.

Page's CUSUM ``S_t = max(0, S_{t-1} + x_t)`` alarms when ``S_t > h``. Here each event arrives as
a row of bin codes (``ext.CodeWriter``, ``uint8`` or ``uint16``) and each CUSUM ``k`` reads one
code column ``columns[k]`` and adds the increment its table gives that code,
``increments[k, code]``: a drift detector precomputes, per bin, the log-likelihood ratio (or any
score) it wants summed, so the per-event work is a table look-up and an add, with no float
values shipped or stored. The twins run the same operations in the same order and agree bit for
bit.

After a crossing the CUSUM restarts at ``headstart * h`` (the fast initial response of Lucas and
Crosier) and the run stops after that event, so the caller can act at the exact event; calling
again with the rest of the batch continues where it left off.

References
----------
Page, E. S. (1954). Continuous inspection schemes. *Biometrika* 41, 100-115.

Lucas, J. M. and Crosier, R. B. (1982). Fast initial response for CUSUM quality-control schemes.
*Technometrics* 24, 199-205.
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
CodeArray: TypeAlias = npt.NDArray[np.unsignedinteger]

__all__ = ["cusum_codes", "cusum_quiet"]


def cusum_codes(codes: CodeArray, columns: npt.ArrayLike, increments: FloatArray, thresholds: FloatArray,
                state: FloatArray, *, headstart: float) -> int:
    """Run ``K`` CUSUMs over the events of ``codes`` in order, until one crosses its threshold.

    Parameters
    ----------
    codes
        ``uint8[N, C]`` or ``uint16[N, C]`` bin codes, one row per event, C-contiguous.
    columns
        ``int64[K]``: the code column CUSUM ``k`` reads.
    increments
        ``float64[K, B]``: what CUSUM ``k`` adds for an event of code ``c`` (every code read
        must be below ``B``).
    thresholds
        ``float64[K]``, positive and finite: the ``h`` of each CUSUM.
    state
        ``float64[3, K]``, C-contiguous and writable, updated in place: row 0 holds each ``S``;
        row 1 is raised to the largest ``S`` seen (before a restart; the caller resets it);
        row 2 is set to 1 for the CUSUMs that crossed at the last event consumed, 0 for the others.
    headstart
        ``S`` restarts at ``headstart * h`` after a crossing, ``0 <= headstart < 1``.

    Returns
    -------
    int
        Events consumed: one past the first event at which some CUSUM crossed (every CUSUM has
        seen that event), or ``N``.

    Examples
    --------
    >>> codes = np.array([[0], [1], [1], [1], [0]], dtype=np.uint8)
    >>> state = np.zeros((3, 1))
    >>> cusum_codes(codes, [0], np.array([[-1.0, 1.0]]), np.array([1.5]), state, headstart=0.5)
    3
    >>> state.tolist()
    [[0.75], [2.0], [1.0]]
    """
    matrix, where, table, h = _checked(codes, columns, increments, thresholds, state, headstart=headstart)
    statistic, peak, crossed = state[0], state[1], state[2]
    k = np.arange(where.size)
    crossed[:] = 0.0
    for i in range(matrix.shape[0]):
        v = statistic + table[k, matrix[i, where]]
        v = np.where(v < 0.0, 0.0, v)
        np.maximum(peak, v, out=peak)
        over = v > h
        statistic[:] = np.where(over, headstart * h, v)
        if over.any():
            crossed[:] = over
            return i + 1
    return int(matrix.shape[0])


def cusum_quiet(codes: CodeArray, columns: npt.ArrayLike, increments: FloatArray, thresholds: FloatArray,
                state: FloatArray) -> bool:
    """Run every event of ``codes`` through the CUSUMs, if none crosses: the monitor's fast path.

    True: no CUSUM crossed; ``state`` holds what `cusum_codes` would leave after the whole batch
    (row 2 zeroed). False: some CUSUM crossed, and ``state`` is left as it was. Without a crossing
    the order in which CUSUMs and events are visited cannot change the result, so the compiled twin
    runs each CUSUM over every event in turn, its ``S`` and peak in registers, instead of every
    CUSUM per event; arguments are checked as in `cusum_codes`.

    >>> codes = np.array([[0], [1], [1], [0]], dtype=np.uint8)
    >>> state = np.zeros((3, 1))
    >>> cusum_quiet(codes, [0], np.array([[-1.0, 1.0]]), np.array([2.5]), state), state.tolist()
    (True, [[1.0], [2.0], [0.0]])
    >>> cusum_quiet(codes, [0], np.array([[-1.0, 1.0]]), np.array([1.5]), state), state.tolist()
    (False, [[1.0], [2.0], [0.0]])
    """
    _checked(codes, columns, increments, thresholds, state, headstart=0.0)
    trial = state.copy()
    used = cusum_codes(codes, columns, increments, thresholds, trial, headstart=0.0)
    if used < codes.shape[0] or trial[2].any():
        return False
    state[:] = trial
    return True


def _checked(codes: object, columns: npt.ArrayLike, increments: object, thresholds: npt.ArrayLike,
             state: object, *,
             headstart: float) -> tuple[CodeArray, npt.NDArray[np.intp], FloatArray, FloatArray]:
    """Every argument check of both twins, so they raise the same errors; bad input changes nothing."""
    if not (isinstance(codes, np.ndarray) and codes.dtype in (np.uint8, np.uint16) and codes.ndim == 2
            and codes.flags.c_contiguous):
        raise TypeError("codes must be a C-contiguous 2-D uint8 or uint16 numpy array")
    where = np.asarray(columns)
    if where.dtype.kind not in "iu" or where.ndim != 1:
        raise TypeError("columns must be a 1-D integer array")
    if where.size and (where.min() < 0 or where.max() >= codes.shape[1]):
        raise ValueError(f"columns must be indices in 0..{codes.shape[1] - 1}")
    n = where.size
    if not (isinstance(increments, np.ndarray) and increments.dtype == np.float64 and increments.ndim == 2
            and increments.shape[0] == n and increments.flags.c_contiguous):
        raise TypeError(f"increments must be a C-contiguous float64 array of shape ({n}, B)")
    h = np.ascontiguousarray(thresholds, dtype=np.float64)
    if h.shape != (n,) or not (np.all(h > 0.0) and np.all(h < math.inf)):
        raise ValueError(f"thresholds must be {n} positive finite numbers")
    if not (isinstance(state, np.ndarray) and state.dtype == np.float64 and state.shape == (3, n)
            and state.flags.c_contiguous and state.flags.writeable):
        raise TypeError(f"state must be a writable C-contiguous float64 array of shape (3, {n})")
    if not 0.0 <= headstart < 1.0:
        raise ValueError(f"headstart must be in [0, 1), got {headstart}")
    if codes.shape[0] and n and int(codes.max(axis=0)[where].max()) >= increments.shape[1]:
        raise ValueError(f"a code is outside the increments table's {increments.shape[1]} columns")
    return codes, where.astype(np.intp), increments, h
