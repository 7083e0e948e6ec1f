"""The benchmark's result: one JSON object (``--json``) and the table people read.

The JSON is the contract (see docs/PERFORMANCE.md for the schema): headline keys at the top
(``raw_eps``, ``scoring_eps``, ``full_eps``, ``join_eps``, ``p99_ms_at_50pct``, ``peak_rss_mb``),
per-mode details under ``modes``, the peers (the same work built on Faust or Quix Streams) under
``peers``, the worker's CPU share at a low steady rate under ``low_rate``, and everything needed
to compare two runs (machine, Kafka version, settings, command, date). Every figure is the median
of its repeats, with ``spread`` ([min, max]) and the ``repeats`` beside it (``streams.bench.repeats``).
The table is rendered from that same dict, so the two never disagree. A mode that did not run is
``null``. ``join_eps`` counts labelled events joined (each a prediction and its label in, a
training example out) per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driftline.streams.bench.repeats import ratio, summarise

#: Every mode the report has a slot for, in table order.
MODE_NAMES = ("raw", "scoring", "full", "join", "pending")
#: The same work without driftline (``streams.bench.peers``), reported under ``peers``.
PEER_NAMES = ("faust", "quix")
#: What the table calls each peer.
PEER_TITLES = {"faust": "Faust agent", "quix": "Quix Streams"}
#: Modes every other one is compared with, round by round.
_BASES = ("raw", "scoring", "full")
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ModeResult:
    """What one repeat of one mode measured."""

    eps: float
    window_s: float
    events: int
    cpu_s_per_1k: float
    peak_rss_mb: float
    startup_s: float
    #: Turns it ran in (``streams.bench.slices``); its window is the sum of their lengths.
    slices: int = 1


@dataclass(frozen=True)
class TargetRun:
    """One repeat of the latency phase against one target (the full worker or the raw client)."""

    loads: list[dict[str, Any]]
    peak_rss_mb: float
    #: CPU share at the low steady rate (``None`` when that phase was skipped).
    low_rate: dict[str, Any] | None = None


@dataclass
class BenchReport:
    """A whole run: context plus the repeats of the modes and latency phases that ran."""

    events: int
    partitions: int
    seed: int
    command: str
    started_at: str
    kafka_version: str | None
    broker: dict[str, Any]
    machine: dict[str, Any]
    settings: dict[str, Any]
    latency_plan: dict[str, Any]
    repeat: int = 1
    #: Events each peer measured (a prefix of the same events: the peers are far slower).
    peer_events: int | None = None
    low_rate_plan: dict[str, Any] = field(default_factory=dict)
    #: Mode or peer name → its repeats, in round order.
    modes: dict[str, list[ModeResult]] = field(default_factory=dict)
    #: ``full``, ``scoring`` (low rate only) or ``raw`` → its latency repeats, in round order.
    latency: dict[str, list[TargetRun]] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        modes = {name: self._mode_json(name) for name in MODE_NAMES}
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            **{f"{name}_eps": (modes[name] or {}).get("eps") for name in MODE_NAMES},
            "p99_ms_at_50pct": _p99_at(modes["full"], 50),
            "raw_p99_ms_at_50pct": _p99_at(modes["raw"], 50),
            "peak_rss_mb": self._full_peak_rss(),
            "events": self.events, "partitions": self.partitions, "seed": self.seed,
            "repeat": self.repeat, "peer_events": self.peer_events,
            "modes": modes,
            "peers": {name: self._mode_json(name) for name in PEER_NAMES},
            "low_rate": self._low_rate_json(),
            "latency_plan": self.latency_plan,
            "kafka_version": self.kafka_version, "broker": self.broker, "machine": self.machine,
            "settings": self.settings, "command": self.command, "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
        }
        data["targets"] = targets(data, self._peak_rss("pending"), self.events)
        return data

    def _mode_json(self, name: str) -> dict[str, Any] | None:
        runs = self.modes.get(name)
        if not runs:
            return None
        summary = summarise([self._repeat_json(name, i) for i in range(len(runs))])
        if name in ("full", "raw"):
            summary["latency"] = self._latency_json(name)
        return summary

    def _repeat_json(self, name: str, round_: int) -> dict[str, Any]:
        result = self.modes[name][round_]
        record: dict[str, Any] = {
            "eps": result.eps, "cpu_s_per_1k": result.cpu_s_per_1k, "peak_rss_mb": result.peak_rss_mb,
            "window_s": result.window_s, "events_in_window": result.events, "startup_s": result.startup_s,
            "slices": result.slices}
        for base in _BASES:
            other = self._round(base, round_)
            record[f"ratio_to_{base}"] = ratio(result.eps, other.eps if other else None)
            record[f"cpu_ratio_to_{base}"] = ratio(result.cpu_s_per_1k, other.cpu_s_per_1k if other else None)
        return record

    def _round(self, name: str, round_: int) -> ModeResult | None:
        runs = self.modes.get(name, [])
        return runs[round_] if round_ < len(runs) else None

    def _latency_json(self, target: str) -> list[dict[str, Any]] | None:
        runs = [run for run in self.latency.get(target, []) if run.loads]
        if not runs:
            return None
        return [summarise([run.loads[i] for run in runs], keep=("load_pct",))
                for i in range(len(runs[0].loads))]

    def _low_rate_json(self) -> dict[str, Any] | None:
        if not self.low_rate_plan:
            return None
        result: dict[str, Any] = dict(self.low_rate_plan)
        for target in ("full", "scoring", "raw"):
            runs = [run.low_rate for run in self.latency.get(target, []) if run.low_rate is not None]
            result[target] = summarise(runs) if runs else None
        return result

    def _peak_rss(self, name: str) -> float | None:
        values = [r.peak_rss_mb for r in self.modes.get(name, [])]
        return max(values) if values else None

    def _full_peak_rss(self) -> float | None:
        """The full worker's highest peak over every repeat, throughput and latency phases alike."""
        values = [r.peak_rss_mb for r in self.modes.get("full", [])]
        values += [run.peak_rss_mb for run in self.latency.get("full", [])]
        return max(values) if values else None


def _p99_at(mode: dict[str, Any] | None, load_pct: int) -> float | None:
    for load in (mode or {}).get("latency") or []:
        if load["load_pct"] == load_pct:
            value: float | None = load["p99_ms"]
            return value
    return None


def targets(data: dict[str, Any], pending_rss: float | None = None, events: int = 0) -> list[dict[str, Any]]:
    """The project's targets (issues 4 and 13) judged on the medians (``met`` None: not measured)."""
    full, join = data["modes"]["full"] or {}, data["modes"]["join"] or {}
    full_at_low = (data["low_rate"] or {}).get("full") or {}
    checks: list[tuple[str, str, float, float | None]] = [
        ("full_vs_raw", ">=", 0.8, full.get("ratio_to_raw")),
        ("full_vs_scoring", ">=", 0.9, full.get("ratio_to_scoring")),
        ("full_vs_scoring_cpu", "<=", 1.10, full.get("cpu_ratio_to_scoring")),
        ("p99_ms_at_50pct", "<=", 25.0, data["p99_ms_at_50pct"]),
        ("p99_vs_raw_at_50pct", "<=", 1.5, ratio(data["p99_ms_at_50pct"], data["raw_p99_ms_at_50pct"])),
        ("peak_rss_mb", "<", 300.0, data["peak_rss_mb"]),
        ("join_vs_full", ">=", 0.5, join.get("ratio_to_full")),
        # Judged only when it held a million predictions or more.
        ("pending_peak_rss_mb", "<", 500.0, pending_rss if events >= 1_000_000 else None),
        ("low_rate_cpu_share", "<=", 0.20, full_at_low.get("cpu_share")),
    ]
    return [{"name": name, "op": op, "threshold": threshold, "value": value,
             "met": None if value is None else _holds(value, op, threshold)}
            for name, op, threshold, value in checks]


def _holds(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, "<=": value <= threshold, "<": value < threshold}[op]
