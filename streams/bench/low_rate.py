"""What a process costs at a low steady rate: CPU seconds over wall seconds while a pacer feeds it.

Most deployments run far below a worker's maximum, where what matters is the fixed cost of each
small batch and of idling (fetches, commits, timers), not the cost per event. The process is fed
by the same paced producer as the latency loads; its CPU time (``/proc``, all threads) is sampled
while the pacer runs, and the first ``LEAD_S`` seconds are left out of the window: they hold the
pacer's own start-up, during which the process under test would be idle and look cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.streams.bench.children import Children
from driftline.streams.bench.latency import LoadPlan, PredictionReader, run_load
from driftline.streams.bench.procfs import cpu_seconds
from driftline.streams.settings import Settings

#: Seconds of each low-rate load left out of the CPU window (pacer start-up, first fetches).
LEAD_S = 5.0


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds a process used over a span of wall-clock seconds."""

    cpu_s: float
    wall_s: float

    @property
    def share(self) -> float:
        """Share of one core (1.0 = a core busy the whole time)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class CpuProbe:
    """Samples a process's CPU time on every call, once ``skip_s`` have passed since it was made."""

    def __init__(self, read_cpu: Callable[[], float], skip_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read_cpu, self._clock = read_cpu, clock
        self._from = clock() + skip_s
        self._first: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None

    def __call__(self) -> None:
        now = self._clock()
        if now < self._from:
            return
        sample = (now, self._read_cpu())
        self._first = self._first or sample
        self._last = sample

    def window(self) -> CpuWindow | None:
        """From the first sample to the last; None before two samples."""
        if self._first is None or self._last is None or self._last[0] <= self._first[0]:
            return None
        return CpuWindow(cpu_s=self._last[1] - self._first[1], wall_s=self._last[0] - self._first[0])


async def measure_low_rate(reader: PredictionReader, children: Children, settings: Settings, pid: int, *,
                           rate: float, seconds: float, work_dir: Path, seed: int,
                           label: str) -> dict[str, Any]:
    """Feed ``rate`` events/s for ``LEAD_S + seconds``; CPU share over the last ``seconds``."""
    probe = CpuProbe(lambda: cpu_seconds(pid), LEAD_S)
    load = await run_load(reader, children, settings, LoadPlan(0, rate, LEAD_S + seconds, None),
                          work_dir=work_dir, seed=seed, label=label, probe=probe)
    window = probe.window()
    return {"cpu_share": window.share if window else None, "cpu_s": window.cpu_s if window else None,
            "wall_s": window.wall_s if window else None, "offered_eps": rate,
            "achieved_eps": load["achieved_eps"], "received": load["received"],
            "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"]}
