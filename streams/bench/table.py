"""The benchmark's report as text: medians with their min-max, rendered from the JSON dict.

Rendering from the JSON (not from the measurements) keeps the table and ``--json`` in step.
"""

from __future__ import annotations

from typing import Any

from driftline.streams.bench.report import MODE_NAMES, PEER_NAMES, PEER_TITLES

#: CPU per 1,000 events first: it is the cost figure a neighbour's load moves least.
_HEADER = (f"{'':<14}{'CPU s/1k':>10}{'min-max':>14}{'CPU x raw':>10}{'CPU x scoring':>14}"
           f"{'events/s':>10}{'min-max':>17}{'x raw':>7}{'x scoring':>10}{'x full':>8}{'peak RSS MB':>13}")


def format_table(report: dict[str, Any]) -> str:
    """Context line, one row per mode and peer, latency per target, low-rate CPU, targets."""
    rounds = f"medians of {report['repeat']} rounds (in each, the modes take turns)"
    lines = [_heading(report), "", rounds, _HEADER]
    lines += [_mode_row(name, report["modes"][name]) for name in MODE_NAMES]
    if any(report["peers"].values()):
        lines += ["", f"peers: the same model event by event, on the first {report['peer_events']:,} "
                      "of the same events"]
        lines += [_mode_row(PEER_TITLES[name], report["peers"][name]) for name in PEER_NAMES]
    for name, title in (("full", "the full worker"), ("raw", "the raw passthrough, same offered rates")):
        mode = report["modes"][name]
        if mode and mode["latency"]:
            lines += ["", f"latency, event ts → prediction available (broker append time), {title}:",
                      f"{'load':>5}{'offered/s':>11}{'achieved/s':>12}{'events':>9}{'p50 ms':>9}{'p99 ms':>9}"
                      f"{'p99 min-max':>15}{'p99.9 ms':>10}{'max ms':>9}{'scored p50/p99 ms':>19}"]
            lines += [_load_row(load) for load in mode["latency"]]
    if any(report["modes"][name] and report["modes"][name]["latency"] for name in ("full", "raw")):
        lines.append("(scored: from the event's ts until the prediction was built, to the millisecond)")
    if report["low_rate"]:
        lines += ["", _low_rate_line(report["low_rate"])]
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


def _range(values: list[float] | None, spec: str) -> str:
    return "—" if not values else f"{format(values[0], spec)}-{format(values[1], spec)}"


def _mode_row(name: str, mode: dict[str, Any] | None) -> str:
    if mode is None:
        return (f"{name:<14}{'—':>10}{'':>14}{'—':>10}{'—':>14}{'—':>10}{'':>17}"
                f"{'—':>7}{'—':>10}{'—':>8}{'—':>13}")
    # A figure that no round had (a ratio to a mode left out by --modes) is absent, not None.
    spread, figure = mode["spread"], mode.get
    return (f"{name:<14}{_number(figure('cpu_s_per_1k'), '.4f'):>10}"
            f"{_range(spread.get('cpu_s_per_1k'), '.4f'):>14}{_number(figure('cpu_ratio_to_raw'), '.2f'):>10}"
            f"{_number(figure('cpu_ratio_to_scoring'), '.2f'):>14}"
            f"{_number(figure('eps'), ',.0f'):>10}{_range(spread.get('eps'), ',.0f'):>17}"
            f"{_number(figure('ratio_to_raw'), '.2f'):>7}{_number(figure('ratio_to_scoring'), '.2f'):>10}"
            f"{_number(figure('ratio_to_full'), '.2f'):>8}{_number(figure('peak_rss_mb'), '.1f'):>13}")


def _load_row(load: dict[str, Any]) -> str:
    scored = f"{_number(load['to_scoring_p50_ms'], '.1f')} / {_number(load['to_scoring_p99_ms'], '.1f')}"
    return (f"{load['load_pct']:>4}%{_number(load['offered_eps'], ',.0f'):>11}"
            f"{_number(load['achieved_eps'], ',.0f'):>12}{_number(load['received'], ',.0f'):>9}"
            f"{_number(load['p50_ms'], '.1f'):>9}{_number(load['p99_ms'], '.1f'):>9}"
            f"{_range(load['spread'].get('p99_ms'), '.1f'):>15}"
            f"{_number(load['p99_9_ms'], '.1f'):>10}{_number(load['max_ms'], '.1f'):>9}{scored:>19}")


def _low_rate_line(low_rate: dict[str, Any]) -> str:
    parts = []
    for target, title in (("full", "full worker"), ("scoring", "scoring only"), ("raw", "raw passthrough")):
        share = low_rate.get(target)
        if share and share["cpu_share"] is not None:
            low, high = share["spread"]["cpu_share"]
            parts.append(f"{title} {share['cpu_share']:.1%} of a core ({low:.1%}-{high:.1%})")
    return (f"CPU at a steady {low_rate['offered_eps']:,.0f} events/s ({low_rate['seconds']:g} s measured): "
            + ("; ".join(parts) or "not measured"))


def _target_text(target: dict[str, Any]) -> str:
    verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
    value = _number(target["value"], ".2f")
    return f"{target['name']} {value} {target['op']} {target['threshold']:g} {verdict}"
