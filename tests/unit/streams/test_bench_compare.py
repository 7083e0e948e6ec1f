"""``driftline bench --compare``: several reports' headline ratios side by side, judged for agreement."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftline.streams.bench.compare import compare, format_comparison
from driftline.streams.bench.report import BenchReport, ModeResult, TargetRun
from driftline.streams.cli import main


def _report(full_speed: float, full_cpu: float, *, p99: float = 12.0) -> dict[str, object]:
    """A report built the way the runner builds one: raw at 40k/s and 0.020 CPU s per 1k, scoring at
    0.021; full at ``full_speed`` times raw and ``full_cpu`` times scoring in every round."""
    report = BenchReport(
        events=1000, partitions=6, seed=0, command="driftline bench --json",
        started_at="2026-12-03T06:00:00+00:00", kafka_version="4.4.0", broker={}, machine={}, settings={},
        latency_plan={}, repeat=3)
    for k in (1.0, 0.9, 1.1):  # rounds at different speeds: the ratios hold within each
        for mode, cpu in (("raw", 0.020), ("scoring", 0.021)):
            result = ModeResult(40_000.0 * k, 15.0, 600_000, cpu / k, 220.0, 4.0)
            report.modes.setdefault(mode, []).append(result)
        report.modes.setdefault("full", []).append(
            ModeResult(40_000.0 * k * full_speed, 15.0, 600_000, 0.021 * full_cpu / k, 222.0, 4.0))
    load = {"load_pct": 50, "p99_ms": p99, "received": 10}
    report.latency["full"] = [TargetRun([load], 222.0, None)] * 3
    report.latency["raw"] = [TargetRun([load | {"p99_ms": 20.0}], 60.0, None)] * 3
    return report.to_json()


def _write(tmp_path: Path, name: str, report: dict[str, object]) -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(report))
    return path


def test_runs_whose_ratios_are_within_the_tolerance_agree(tmp_path: Path) -> None:
    paths = [_write(tmp_path, f"run{i}.json", _report(speed, cpu))
             for i, (speed, cpu) in enumerate([(0.85, 1.04), (0.88, 1.02), (0.84, 1.06)], start=1)]
    comparison = compare(paths)
    assert comparison.values["full_vs_raw"] == pytest.approx([0.85, 0.88, 0.84])
    assert comparison.values["full_vs_scoring_cpu"] == pytest.approx([1.04, 1.02, 1.06])
    assert comparison.values["p99_vs_raw_at_50pct"] == pytest.approx([0.6] * 3)
    assert comparison.widest("full_vs_raw") == pytest.approx(0.04) and comparison.agree() is True
    text = format_comparison(comparison)
    assert "run3.json" in text and "runs agree within 0.05" in text


def test_one_ratio_too_far_apart_is_a_disagreement_named_in_the_table(tmp_path: Path) -> None:
    paths = [_write(tmp_path, "a.json", _report(0.85, 1.02)), _write(tmp_path, "b.json", _report(0.85, 1.09))]
    comparison = compare(paths)
    assert comparison.widest("full_vs_scoring_cpu") == pytest.approx(0.07) and comparison.agree() is False
    cpu_line = next(line for line in format_comparison(comparison).splitlines() if "CPU" in line)
    assert cpu_line.endswith("> tol")
    assert compare(paths, tolerance=0.08).agree() is True


def test_a_single_run_cannot_be_judged(tmp_path: Path) -> None:
    assert compare([_write(tmp_path, "a.json", _report(0.85, 1.02))]).agree() is None


def test_the_command_reads_reports_without_a_broker_and_refuses_other_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = [_write(tmp_path, f"r{i}.json", _report(0.85, 1.03)) for i in range(3)]
    assert main(["bench", "--compare", *map(str, good), "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["agree"] is True and out["ratios"]["full_vs_raw"]["widest"] == pytest.approx(0.0)
    stray = tmp_path / "stray.json"
    stray.write_text('{"hello": 1}')
    assert main(["bench", "--compare", str(good[0]), str(stray)]) == 2
    assert "stray.json: not a schema-2" in capsys.readouterr().err
