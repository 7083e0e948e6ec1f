"""Compiled kernels for drift monitoring, each with a pure-Python twin.

``ext`` turns batches of feature values into per-feature histograms (or the bin code of every
value, events kept in order, and those codes back into histograms block by block), compares
histograms with the drift statistics the monitor judges by (PSI and Jensen-Shannon), runs
table-driven CUSUMs over coded events, computes
Kafka's key partitions for a batch of keys, and moves the scoring path's rows between Python
objects and their array and JSON forms (feature objects to a matrix, predictions to records).
It imports nothing from the rest of driftline; ``models``, ``detectors`` and the score agent
build on it.

Two implementations share each interface:

* ``ext._histogram``, ``ext._cusum``, ``ext._kafka`` and ``ext._rows`` -- Cython, built by
  ``pip install`` (or ``python setup.py build_ext --inplace``);
* ``ext.histogram_py``, ``ext.cusum_py``, ``ext.kafka_py`` and ``ext.rows_py`` -- pure Python and
  numpy; the specification (bin layout, smoothing, references) and the fallback. Both give
  identical bins, partitions, matrices and JSON bytes, and divergences equal to 1e-12.

This package exports the functions of whichever was loaded and names it in `IMPLEMENTATION`.
The compiled module is used unless the environment variable ``DRIFTLINE_NO_EXTENSIONS`` is set
(to anything but ``""`` or ``"0"``); if it fails to import, a warning is logged and the twin is
used. The switch is read once, at import, because the choice must be made before any settings
object exists; it is the only environment variable ``ext`` reads.

Examples
--------
>>> import numpy as np
>>> counts = np.zeros((1, 4), dtype=np.int64)
>>> bin_numeric([[0.2], [0.7], [1.5], [np.nan]], [[0.5, 1.0]], counts)
>>> counts.tolist()
[[1, 1, 1, 1]]
>>> psi(counts[0], [1, 1, 1, 1])
0.0
"""

from __future__ import annotations

import logging
import os
from typing import Literal

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_EPS",
    "IMPLEMENTATION",
    "CodeWriter",
    "bin_categorical",
    "bin_numeric",
    "block_counts",
    "categorical_bins",
    "cusum_codes",
    "cusum_quiet",
    "encode_categories",
    "jensen_shannon",
    "js_rows",
    "json_rows",
    "key_partitions",
    "murmur2",
    "numeric_bins",
    "numeric_matrix",
    "psi",
    "psi_rows",
]


def _choose() -> Literal["cython", "python"]:
    if os.environ.get("DRIFTLINE_NO_EXTENSIONS", "") not in ("", "0"):
        return "python"
    try:
        # Imported for the check only: both kernels must be built to use either.
        import driftline.ext._cusum
        import driftline.ext._histogram
        import driftline.ext._kafka
        import driftline.ext._rows  # noqa: F401
    except ImportError as exc:
        log.warning("ext's kernels are not built (%s); using the pure-Python twins, which are slower", exc)
        return "python"
    return "cython"


IMPLEMENTATION: Literal["cython", "python"] = _choose()

# Two import lists, so that mypy checks that both twins have the same signatures.
if IMPLEMENTATION == "cython":
    from driftline.ext._cusum import cusum_codes, cusum_quiet
    from driftline.ext._histogram import (
        DEFAULT_EPS,
        CodeWriter,
        bin_categorical,
        bin_numeric,
        block_counts,
        categorical_bins,
        encode_categories,
        jensen_shannon,
        js_rows,
        numeric_bins,
        psi,
        psi_rows,
    )
    from driftline.ext._kafka import key_partitions, murmur2
    from driftline.ext._rows import json_rows, numeric_matrix
else:
    from driftline.ext.cusum_py import cusum_codes, cusum_quiet
    from driftline.ext.histogram_py import (
        DEFAULT_EPS,
        CodeWriter,
        bin_categorical,
        bin_numeric,
        block_counts,
        categorical_bins,
        encode_categories,
        jensen_shannon,
        js_rows,
        numeric_bins,
        psi,
        psi_rows,
    )
    from driftline.ext.kafka_py import key_partitions, murmur2
    from driftline.ext.rows_py import json_rows, numeric_matrix
