"""Concept drift: which detector watches a model's error stream, and why.

Input monitors cannot see a change of concept -- the same inputs now call for other answers --
so the performance monitor runs a detector on the per-event errors of the joined outcomes: 1 for
a wrong class and 0 for a right one (classifiers: binary or multi-class), or the absolute error
(regression). `build_concept_detector` builds it by name; every detector follows River's contract, fed in
batches (``update_many``, then ``detections``).

Measured with ``python -m driftline.detectors.bench_concept`` (December 2026) on 30 seeds of a stream whose
error rate goes from 0.12 to 0.20 at event 5,000 while the features and the class balance keep
their distribution (the true decision boundary rotates; `detectors.bench_concept.concept_stream`),
and on 30 stationary streams of 20,000 events. Delays count labelled events from the change to
the first detection; false alarms are per 10,000 unchanged events (detections before the change
included; a detector's repeated firing after a false alarm counts each time):

===============================  ==========  =========  ======  =========
detector                         mean delay  max delay  missed  false/10k
===============================  ==========  =========  ======  =========
ADWIN, delta 0.002 (River's)     581         1,016      0       0
ADWIN, delta 1e-3                619         1,048      0       0
ADWIN, delta 1e-4                828         1,976      0       0
ADWIN, delta 1e-5                1,037       2,360      0       0
DDM                              1,340       4,978      4       0.63
HDDMA                            810         2,263      0       0.03
HDDMW                            2,476       4,928      13      0.03
PageHinkley (River's defaults)   639         1,126      0       0.15
PageHinkley, mode "up"           619         1,007      0       0.04
BernoulliCUSUM, ARL 1e5          278         628        0       0.09
BernoulliCUSUM, ARL 1e6          385         789        0       0
BernoulliCUSUM, ARL 1e7          496         984        0       0
===============================  ==========  =========  ======  =========

A prototype CUSUM whose baseline stayed fixed after the 1,000-event warm-up had, at ARL 1e6, a
mean delay of 473, a worst of 1,783 and 0.10 false alarms per 10,000: the baseline's estimation
error (about one percentage point) is what `detectors.cusum` learns away. Each decade of ARL
costs the CUSUM about 110 events of delay here (theory: ``ln 10`` over the 0.025 nats per event
that the degraded stream adds to its statistic, 95 events). The budget holds only roughly: in
the performance monitor at ``target_arl=1e6``, 20 further stationary streams of 100,000 events
raised 3 concept-drift alerts, one of them 1,717 events in, while the learnt baseline was still
young -- about 7e5 events between false alarms. The acceptance test
(``tests/unit/detectors/test_acceptance_concept.py``) runs the 1e6 budget: mean delay 370.

The default, ``"cusum"``, is `detectors.cusum.BernoulliCUSUM` (odds ratio 1.8, a 1,000-event
warm-up, headstart 0.5, threshold from ``target_arl``) for classifiers and
`detectors.cusum.GaussianCUSUM` (tuned to a rise of half a standard deviation, values clipped at
three) on a regression's absolute errors. On |N(0, 1)| errors whose standard deviation grows to
1.5 the Gaussian one found the change in all 20 seeds, 80 events late on average, with one false
alarm in 1.3 million events of normal, Laplace and Student-t(3) errors at ARL 1e6
(``tests/unit/detectors/test_cusum.py``). River's detectors may be named instead (``"ADWIN"``,
``"PageHinkley"``, ``"DDM"``, ...); they relearn the degraded rate after a detection, so an alert
built on them resolves after ``resolve_after`` quiet evaluations even while the model stays
degraded, where the CUSUM keeps its baseline and keeps firing.

Examples
--------
>>> name, detector = build_concept_detector("cusum", "binary", target_arl=1e6)
>>> name, type(detector).__name__, round(detector.odds_ratio, 1)
('cusum.bernoulli', 'BernoulliCUSUM', 1.8)
>>> build_concept_detector("ADWIN", "regression", 1e6, {"delta": 1e-3})[0]
'river.ADWIN'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy.typing as npt

from driftline.detectors.cusum import BernoulliCUSUM, GaussianCUSUM
from driftline.detectors.outcomes import Task
from driftline.detectors.river_adapters import BINARY, RiverSpec

#: The default concept detector's name in `PerformanceSettings`.
DEFAULT = "cusum"


class ErrorDetector(Protocol):
    """What the performance monitor needs of a concept detector: River's contract, in batches."""

    @property
    def detections(self) -> tuple[int, ...]: ...

    def update_many(self, values: npt.ArrayLike) -> None: ...


def build_concept_detector(name: str, task: Task, target_arl: float,
                           params: Mapping[str, Any] | None = None) -> tuple[str, ErrorDetector]:
    """The detector called ``name`` for a ``task``'s error stream, and its name in alerts.

    ``"cusum"`` gets ``target_arl``; River's detectors keep their own parameters (``params``).
    """
    options = dict(params or {})
    if name == DEFAULT:
        if task != "regression":  # a classifier's errors are 0/1, whatever its number of classes
            return "cusum.bernoulli", BernoulliCUSUM(target_arl, **options)
        return "cusum.gaussian", GaussianCUSUM(target_arl, **options)
    if task == "regression" and name in BINARY:
        raise ValueError(f"{name} watches 0/1 errors; a regression's absolute errors need another")
    return f"river.{name}", RiverSpec(name, options).build()
