"""The benchmark's result: one JSON object (``--json``) and the table people read.

The JSON is the contract (see docs/PERFORMANCE.md for the schema): headline keys at the top
(``raw_eps``, ``scoring_eps``, ``full_eps``, ``join_eps``, ``p99_ms_at_50pct``, ``peak_rss_mb``),
per-mode details under ``modes``, and everything needed to compare two runs (machine, Kafka
version, settings, command, date). The table is rendered from that same dict, so the two never
disagree. A mode that did not run is ``null``. ``join_eps`` counts labelled events joined (each a
prediction and its label in, a training example out) per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Every mode the report has a slot for, in table order.
MODE_NAMES = ("raw", "scoring", "full", "join", "pending")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModeResult:
    """What one mode measured."""

    eps: float
    window_s: float
    events: int
    cpu_s_per_1k: float
    peak_rss_mb: float
    startup_s: float
    latency: list[dict[str, Any]] | None = None


@dataclass
class BenchReport:
    """A whole run: context plus the results of the modes that ran."""

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
    modes: dict[str, ModeResult] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        modes = {name: _mode_json(name, self.modes) for name in MODE_NAMES}
        full = self.modes.get("full")
        return {
            "schema": SCHEMA_VERSION,
            **{f"{name}_eps": _eps(self.modes.get(name)) for name in MODE_NAMES},
            "p99_ms_at_50pct": _p99_at(full, 50),
            "raw_p99_ms_at_50pct": _p99_at(self.modes.get("raw"), 50),
            "peak_rss_mb": full.peak_rss_mb if full else None,
            "events": self.events, "partitions": self.partitions, "seed": self.seed,
            "modes": modes,
            "latency_plan": self.latency_plan,
            "targets": targets(self.modes, self.events),
            "kafka_version": self.kafka_version, "broker": self.broker, "machine": self.machine,
            "settings": self.settings, "command": self.command, "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
        }


def _eps(result: ModeResult | None) -> float | None:
    return None if result is None else result.eps


def _ratio(numerator: ModeResult | None, denominator: ModeResult | None) -> float | None:
    if numerator is None or denominator is None or denominator.eps <= 0:
        return None
    return numerator.eps / denominator.eps


def _mode_json(name: str, modes: dict[str, ModeResult]) -> dict[str, Any] | None:
    result = modes.get(name)
    if result is None:
        return None
    return {
        "eps": result.eps, "ratio_to_raw": _ratio(result, modes.get("raw")),
        "ratio_to_scoring": _ratio(result, modes.get("scoring")),
        "cpu_s_per_1k": result.cpu_s_per_1k, "peak_rss_mb": result.peak_rss_mb,
        "window_s": result.window_s, "events_in_window": result.events, "startup_s": result.startup_s,
        "latency": result.latency,
    }


def _p99_at(result: ModeResult | None, load_pct: int) -> float | None:
    for load in (result.latency or []) if result else []:
        if load["load_pct"] == load_pct:
            value: float | None = load["p99_ms"]
            return value
    return None


def targets(modes: dict[str, ModeResult], events: int = 0) -> list[dict[str, Any]]:
    """The project's targets (issue 4) and whether this run met them (None: not measured)."""
    full = modes.get("full")
    checks: list[tuple[str, str, float, float | None]] = [
        ("full_vs_raw", ">=", 0.5, _ratio(full, modes.get("raw"))),
        ("full_vs_scoring", ">=", 0.9, _ratio(full, modes.get("scoring"))),
        ("p99_ms_at_50pct", "<=", 25.0, _p99_at(full, 50)),
        ("peak_rss_mb", "<", 300.0, full.peak_rss_mb if full else None),
        ("join_vs_full", ">=", 0.5, _ratio(modes.get("join"), full)),
        ("pending_peak_rss_mb", "<", 500.0, _pending_rss_at_a_million(modes.get("pending"), events)),
    ]
    return [{"name": name, "op": op, "threshold": threshold, "value": value,
             "met": None if value is None else _holds(value, op, threshold)}
            for name, op, threshold, value in checks]


def _pending_rss_at_a_million(pending: ModeResult | None, events: int) -> float | None:
    """Peak RSS of the worker holding predictions, judged only when it held a million or more."""
    return pending.peak_rss_mb if pending is not None and events >= 1_000_000 else None


def _holds(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, "<=": value <= threshold, "<": value < threshold}[op]


def format_table(report: dict[str, Any]) -> str:
    """The report as text: context line, one row per mode, the latency table, the targets."""
    lines = [_heading(report), "",
             f"{'mode':<9}{'events/s':>11}{'x raw':>8}{'x scoring':>11}{'CPU s/1k':>10}{'peak RSS MB':>13}"]
    for name in MODE_NAMES:
        lines.append(_mode_row(name, report["modes"][name]))
    for name, title in (("full", "the full worker"), ("raw", "the raw passthrough, same offered rates")):
        mode = report["modes"][name]
        if mode and mode["latency"]:
            lines += ["", f"latency, event ts → prediction available (broker append time), {title}:",
                      f"{'load':>5}{'offered/s':>11}{'achieved/s':>12}{'events':>9}{'p50 ms':>9}{'p99 ms':>9}"
                      f"{'p99.9 ms':>10}{'max ms':>9}{'scored p50/p99 ms':>19}"]
            lines += [_load_row(load) for load in mode["latency"]]
    if any(report["modes"][name] and report["modes"][name]["latency"] for name in ("full", "raw")):
        lines.append("(scored: from the event's ts until the prediction was built, to the millisecond)")
    lines += ["", "targets: " + "; ".join(_target_text(t) for t in report["targets"])]
    return "\n".join(lines) + "\n"


def _heading(report: dict[str, Any]) -> str:
    machine = report["machine"]
    kafka = report["kafka_version"] or "external broker"
    return (f"driftline bench, {report['started_at']}: {report['events']:,} events, "
            f"{report['partitions']} partitions, Kafka {kafka}, {machine['cores']} cores "
            f"({machine['cpu_model']}), load {machine['loadavg_at_start'][0]} at start")


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _mode_row(name: str, mode: dict[str, Any] | None) -> str:
    if mode is None:
        return f"{name:<9}{'—':>11}{'—':>8}{'—':>11}{'—':>10}{'—':>13}"
    return (f"{name:<9}{_number(mode['eps'], ',.0f'):>11}{_number(mode['ratio_to_raw'], '.2f'):>8}"
            f"{_number(mode['ratio_to_scoring'], '.2f'):>11}{_number(mode['cpu_s_per_1k'], '.3f'):>10}"
            f"{_number(mode['peak_rss_mb'], '.1f'):>13}")


def _load_row(load: dict[str, Any]) -> str:
    scored = f"{_number(load['to_scoring_p50_ms'], '.1f')} / {_number(load['to_scoring_p99_ms'], '.1f')}"
    return (f"{load['load_pct']:>4}%{_number(load['offered_eps'], ',.0f'):>11}"
            f"{_number(load['achieved_eps'], ',.0f'):>12}{load['received']:>9,}"
            f"{_number(load['p50_ms'], '.1f'):>9}{_number(load['p99_ms'], '.1f'):>9}"
            f"{_number(load['p99_9_ms'], '.1f'):>10}{_number(load['max_ms'], '.1f'):>9}"
            f"{scored:>19}")


def _target_text(target: dict[str, Any]) -> str:
    verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
    value = _number(target["value"], ".2f")
    return f"{target['name']} {value} {target['op']} {target['threshold']:g} {verdict}"
