"""``driftline bench``: throughput, CPU, memory and latency of the scoring path on a real broker.

One run measures, on the same preloaded events and in rounds whose modes take turns in short
slices, a bare aiokafka passthrough (the ceiling), the worker scoring only, and the worker with
drift monitoring (and, when asked, the same work built on Faust or Quix Streams), then end-to-end
latency at fixed shares of the monitored worker's maximum and CPU at a low steady rate. Modules:
``runner`` (the run), ``phase`` (options, topics, preloads), ``rounds`` (throughput), ``slices``
(taking turns), ``latency_rounds``, ``modes`` (what each mode runs), ``repeats`` (medians and
spreads), ``watch`` (rates from end offsets), ``latency`` (paced loads and a reader), ``low_rate``
(CPU share while paced),
``passthrough``, ``pacer`` and ``peers`` (child processes), ``payload`` (events), ``procfs`` (CPU
and RSS), ``stats`` (the arithmetic), ``report`` (JSON), ``table`` (text) and ``compare`` (several
runs' reports side by side). See docs/PERFORMANCE.md for numbers.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BenchError", "BenchOptions", "BenchReport", "format_table", "run_bench"]

_HOMES = {"BenchError": "children", "BenchOptions": "phase", "BenchReport": "report",
          "format_table": "table", "run_bench": "runner"}


def __getattr__(name: str) -> Any:
    """Re-export lazily: the child processes import this package too, and the passthrough's RSS
    must not include ONNX Runtime and scikit-learn that only the runner needs."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
