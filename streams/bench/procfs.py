"""What a benchmark reads about processes and the machine from ``/proc``.

Why ``/proc`` and not psutil: it is two small text files per process, Linux is the only platform
the benchmark runs on, and a dependency for that is not worth it. CPU time covers every thread of
the process (ONNX Runtime's pool, the Prometheus server); peak RSS is the kernel's high-water mark
(``VmHWM``), so a short spike between samples is not missed.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

PROC = Path("/proc")
_UTIME_INDEX = 11  # fields after "pid (comm) ": state is 0, utime is field 14 of stat(5), i.e. 11 here
#: States of stat(5) in which a process runs no code: stopped by a signal, or exited.
_HALTED = frozenset("TtZX")
STOP_TIMEOUT_S = 2.0


def parse_cpu_ticks(stat_text: str) -> int:
    """utime + stime, in clock ticks, from the text of ``/proc/<pid>/stat``.

    The command name sits in parentheses and may itself hold spaces or ')', so fields are
    counted from the last ')'.
    """
    fields = stat_text[stat_text.rindex(")") + 1:].split()
    return int(fields[_UTIME_INDEX]) + int(fields[_UTIME_INDEX + 1])


def parse_state(stat_text: str) -> str:
    """The one-letter state (``R``, ``S``, ``T`` for stopped, ...) from ``/proc/<pid>/stat``."""
    return stat_text[stat_text.rindex(")") + 1:].split(maxsplit=1)[0]


def parse_status_kb(status_text: str, key: str) -> int:
    """A ``kB`` value such as ``VmHWM`` from the text of ``/proc/<pid>/status``."""
    for line in status_text.splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0])
    raise KeyError(f"{key} not in status")


def parse_cpu_model(cpuinfo_text: str) -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` (``unknown`` on CPUs that do not say)."""
    for line in cpuinfo_text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return "unknown"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far."""
    ticks = parse_cpu_ticks((PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace"))
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_stopped(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Return once the process is stopped (or gone); SIGSTOP is delivered asynchronously.

    Bounded: a process that has not stopped within ``timeout_s`` raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state = parse_state((PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            return
        if state in _HALTED:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not stop within {timeout_s} s (state {state})")
        time.sleep(0.0005)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (``VmHWM``), in MiB."""
    status = (PROC / str(pid) / "status").read_text(encoding="utf-8", errors="replace")
    return parse_status_kb(status, "VmHWM") / 1024.0


def machine() -> dict[str, Any]:
    """Cores, CPU model, load and Python: what a reader needs to compare two runs."""
    try:
        model = parse_cpu_model((PROC / "cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        model = platform.processor() or "unknown"
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
