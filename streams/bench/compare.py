"""Several ``driftline bench --json`` reports side by side: do their medians agree?

A benchmark is an instrument only if a second run of the same tree reads the same. This puts the
headline ratios of each report in a row (full over raw events/s, full over scoring CPU per 1,000
events, full over raw p99 at 50% load) and, per ratio, the largest difference between any two
runs against ``tolerance`` (issue 13 asks 0.05 for the first two). Ratios, not rates, because a
neighbour's load moves a run's rates far more than it moves the ratio of two modes measured in the
same minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from driftline.streams.bench.report import targets

#: (key, what it is, whether the agreement of runs is judged against the tolerance).
HEADLINES: tuple[tuple[str, str, bool], ...] = (
    ("full_vs_raw", "full / raw events/s", True),
    ("full_vs_scoring_cpu", "full / scoring CPU per 1k", True),
    ("full_vs_scoring", "full / scoring events/s", False),
    ("p99_vs_raw_at_50pct", "full / raw p99 at 50% load", False),
)


@dataclass(frozen=True)
class Comparison:
    """Each run's headline ratios and, per ratio, the largest difference between two runs."""

    runs: tuple[str, ...]
    values: dict[str, list[float | None]]
    tolerance: float

    def widest(self, key: str) -> float | None:
        """Max minus min of a ratio over the runs that measured it (None: fewer than two did)."""
        seen = [v for v in self.values[key] if v is not None]
        return max(seen) - min(seen) if len(seen) >= 2 else None

    def agree(self) -> bool | None:
        """Every judged ratio within ``tolerance`` across the runs (None: not measured twice)."""
        widths = [self.widest(key) for key, _, judged in HEADLINES if judged]
        if any(w is None for w in widths):
            return None
        return all(w is not None and w <= self.tolerance for w in widths)

    def to_json(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "tolerance": self.tolerance, "agree": self.agree(),
                "ratios": {key: {"values": self.values[key], "widest": self.widest(key), "judged": judged}
                           for key, _, judged in HEADLINES}}


def headline_ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """The ratios of one report: the values of its targets of those names, judged afresh from its
    medians by `report.targets` (the one place that reads them)."""
    values = {target["name"]: target["value"] for target in targets(report)}
    return {key: values[key] for key, _, _ in HEADLINES}


def compare(paths: list[Path], tolerance: float = 0.05) -> Comparison:
    """Read each report (``ValueError`` naming the file if it is not a bench report)."""
    values: dict[str, list[float | None]] = {key: [] for key, _, _ in HEADLINES}
    for path in paths:
        for key, value in headline_ratios(_read(path)).items():
            values[key].append(value)
    return Comparison(tuple(str(p) for p in paths), values, tolerance)


def format_comparison(comparison: Comparison) -> str:
    width = max(len(Path(run).name) for run in comparison.runs) + 2
    lines = [f"{'':<28}" + "".join(f"{Path(run).name:>{width}}" for run in comparison.runs)
             + f"{'widest':>9}"]
    for key, title, judged in HEADLINES:
        cells = "".join(f"{_cell(v):>{width}}" for v in comparison.values[key])
        widest = comparison.widest(key)
        mark = "" if not judged or widest is None else (" ok" if widest <= comparison.tolerance else " > tol")
        lines.append(f"{title:<28}{cells}{_cell(widest):>9}{mark}")
    verdict = {True: "agree", False: "disagree", None: "cannot be judged (a ratio was measured once)"}
    lines.append(f"runs {verdict[comparison.agree()]} within {comparison.tolerance:g} on the judged ratios")
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _read(path: Path) -> dict[str, Any]:
    try:
        report = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a bench report ({exc})") from exc
    if not isinstance(report, dict) or report.get("schema") != 2 or not isinstance(report.get("modes"), dict):
        raise ValueError(f"{path}: not a schema-2 `driftline bench --json` report")
    return report
