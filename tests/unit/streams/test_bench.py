"""The pure parts of ``driftline bench``: arithmetic, /proc parsing, settings per mode, the report."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from aiokafka import TopicPartition

from driftline.streams.bench.children import BenchError, child_environment
from driftline.streams.bench.latency import Arrivals
from driftline.streams.bench.latency_rounds import latency_targets
from driftline.streams.bench.low_rate import CpuProbe
from driftline.streams.bench.memory_disk import DataPlace, broker_data_place, claim, remove, sweep_abandoned
from driftline.streams.bench.modes import MODES, TOPIC_FIELDS, mode_settings, parse_modes
from driftline.streams.bench.passthrough import forward_value
from driftline.streams.bench.payload import encode_event
from driftline.streams.bench.peers.per_event import EventScorer, InvalidEventError, _features
from driftline.streams.bench.procfs import (
    cpu_seconds,
    machine,
    parse_cpu_model,
    parse_cpu_ticks,
    parse_status_kb,
    peak_rss_mb,
)
from driftline.streams.bench.repeats import ratio, spread, summarise
from driftline.streams.bench.report import BenchReport, ModeResult, TargetRun
from driftline.streams.bench.stats import (
    NoMeasurableWindowError,
    Sample,
    crossing_time,
    due_events,
    latency_summary,
    offered_loads,
    pacing_limit,
    per_thousand,
    percentile,
    window_rate,
)
from driftline.streams.bench.table import format_table
from driftline.streams.bench.watch import Throughput, measure, measure_if_timed
from driftline.streams.cli import build_parser
from driftline.streams.offsets import next_offsets
from driftline.streams.settings import Settings, load_settings

# --- percentiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0])
def test_percentiles_agree_with_numpy(q: float) -> None:
    values = sorted(random.Random(4).uniform(0.0, 80.0) for _ in range(1001))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.5], 99.9) == 7.5


def test_percentile_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50.0)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101.0)


def test_latency_summary_is_ordered_and_empty_means_none() -> None:
    summary = latency_summary([float(x) for x in range(1, 2001)])
    assert summary["p50_ms"] == pytest.approx(1000.5)
    p50, p99, p999, top = (summary[k] for k in ("p50_ms", "p99_ms", "p99_9_ms", "max_ms"))
    assert p50 is not None and p99 is not None and p999 is not None and top == 2000.0
    assert p50 <= p99 <= p999 <= top
    assert set(latency_summary([]).values()) == {None}


# --- rates between samples ---------------------------------------------------------------------


def test_the_crossing_is_interpolated_between_samples() -> None:
    assert crossing_time(Sample(10.0, 900), Sample(10.1, 1100), 1000) == pytest.approx(10.05)
    assert crossing_time(Sample(10.0, 900), Sample(10.1, 1100), 1100) == pytest.approx(10.1)


def test_rate_runs_from_the_first_output_seen_to_the_target() -> None:
    rate = window_rate(Sample(1.0, 500), Sample(2.9, 9_500), Sample(3.0, 10_500), 10_000)
    assert rate.seconds == pytest.approx(1.95) and rate.events == 9_500
    assert rate.eps == pytest.approx(9_500 / 1.95)


def test_a_run_done_within_one_poll_is_measured_from_the_last_empty_sample() -> None:
    empty = Sample(5.0, 0)
    rate = window_rate(empty, empty, Sample(5.05, 3_000), 3_000)
    assert rate.eps == pytest.approx(60_000.0) and rate.events == 3_000


def test_no_window_is_an_error_not_a_division_by_zero() -> None:
    with pytest.raises(ValueError, match="no measurable window"):
        window_rate(Sample(1.0, 100), Sample(1.0, 100), Sample(1.0, 100), 100)


def test_cpu_cost_is_per_thousand_events() -> None:
    assert per_thousand(2.5, 50_000) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        per_thousand(1.0, 0)


# --- pacing ------------------------------------------------------------------------------------


def test_a_paced_producer_owes_rate_times_elapsed_events() -> None:
    assert due_events(10_000.0, 0.0025, 1_000_000) == 25
    assert due_events(10_000.0, 0.0, 100) == 0
    assert due_events(10_000.0, 5.0, 1_000) == 1_000  # never beyond the run's limit
    assert due_events(333.0, 1.0, 10_000) == 333


def test_a_paced_run_is_bounded_by_duration_or_count() -> None:
    assert pacing_limit(7_500.0, 12.0, None) == 90_000
    assert pacing_limit(7_500.0, 12.0, 1_000) == 1_000


def test_loads_are_shares_of_the_measured_maximum() -> None:
    assert offered_loads(30_000.0, [25, 50, 75]) == [7_500.0, 15_000.0, 22_500.0]


# --- /proc -------------------------------------------------------------------------------------


def test_cpu_ticks_are_counted_from_the_last_parenthesis() -> None:
    fields = " ".join(["S"] + ["0"] * 10 + ["150", "50"] + ["0"] * 30)
    assert parse_cpu_ticks(f"4242 (python (x) y) {fields}") == 200


def test_status_values_and_cpu_model_are_found_by_name() -> None:
    status = "Name:\tpython\nVmPeak:\t  400000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
    assert parse_status_kb(status, "VmHWM") == 123456
    with pytest.raises(KeyError):
        parse_status_kb(status, "VmSwap")
    cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t: fpu\n"
    assert parse_cpu_model(cpuinfo) == "Intel(R) Xeon(R)"
    assert parse_cpu_model("processor\t: 0\n") == "unknown"


def test_this_process_has_used_cpu_and_memory() -> None:
    sum(i * i for i in range(200_000))
    assert cpu_seconds(os.getpid()) > 0.0
    assert 1.0 < peak_rss_mb(os.getpid()) < 100_000.0


def test_machine_description_names_cores_and_cpu() -> None:
    described = machine()
    assert described["cores"] >= 1 and described["usable_cores"] >= 1
    assert described["cpu_model"] and len(described["loadavg_at_start"]) == 3


# --- measuring a child from outside ------------------------------------------------------------


class ScriptedWatcher:
    """End-offset sums that grow as scripted, one per call."""

    def __init__(self, counts: list[int]) -> None:
        self._counts: Iterator[int] = iter(counts)

    async def count(self) -> int:
        return next(self._counts)


@dataclass
class ThisProcess:
    """Stands in for a child: alive, with a real /proc entry."""

    name: str = "fake"
    pid: int = os.getpid()

    def ensure_alive(self) -> None:
        return None

    def log_tail(self) -> str:
        return ""


def run_measure(counts: list[int], target: int, clock: list[float]) -> Throughput:
    ticks = iter(clock)
    watcher: Any = ScriptedWatcher(counts)
    child: Any = ThisProcess()
    return asyncio.run(measure(watcher, child, target, clock=lambda: next(ticks)))


def test_measurement_starts_at_the_first_output_and_ends_at_the_target() -> None:
    measured = run_measure([0, 0, 0, 1_000, 5_000, 11_000], 10_000, [0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    assert measured.startup_s == pytest.approx(2.0)
    assert measured.rate.events == 9_000
    assert measured.rate.seconds == pytest.approx(1.0 + 5_000 / 6_000)
    assert measured.cpu_s_per_1k >= 0.0


def test_a_target_reached_in_the_first_output_poll_still_gives_a_rate() -> None:
    measured = run_measure([0, 0, 3_000], 3_000, [0.0, 0.5, 0.6])
    assert measured.rate.eps == pytest.approx(30_000.0)


def test_a_run_done_before_its_first_count_cannot_be_timed_and_the_warm_up_says_so() -> None:
    """Fresh-clone CI, session 16: a 2,000-event warm-up was done before the watcher's first count
    returned, and the bench failed on a figure it does not even record."""
    watcher: Any = ScriptedWatcher([2_000, 2_000])
    child: Any = ThisProcess()
    with pytest.raises(NoMeasurableWindowError):
        asyncio.run(measure(watcher, child, 2_000, clock=iter([0.0, 0.2]).__next__))
    watcher = ScriptedWatcher([2_000, 2_000])
    assert asyncio.run(measure_if_timed(watcher, child, 2_000, clock=iter([0.0, 0.2]).__next__)) is None
    watcher = ScriptedWatcher([0, 0, 3_000])
    timed = asyncio.run(measure_if_timed(watcher, child, 3_000, clock=iter([0.0, 0.5, 0.6]).__next__))
    assert timed is not None and timed.rate.eps == pytest.approx(30_000.0)


def test_a_child_that_dies_fails_the_measurement() -> None:
    class Dead(ThisProcess):
        def ensure_alive(self) -> None:
            raise BenchError("worker exited with 3")

    child: Any = Dead()
    watcher: Any = ScriptedWatcher([0, 0])
    with pytest.raises(BenchError, match="exited"):
        asyncio.run(measure(watcher, child, 10))


# --- modes and their settings ------------------------------------------------------------------


def test_modes_are_parsed_in_table_order() -> None:
    assert parse_modes("join, full, raw") == ("raw", "full", "join")
    assert parse_modes("quix,faust,full") == ("full", "faust", "quix")
    assert MODES["faust"].peer and MODES["quix"].peer and not MODES["full"].peer
    with pytest.raises(ValueError, match="unknown"):
        parse_modes("raw,turbo")


def test_each_mode_gets_its_own_topics_ids_and_switches(tmp_path: Path) -> None:
    def of(name: str) -> Settings:
        return mode_settings(Settings(), MODES[name], bootstrap="127.0.0.1:1", registry=tmp_path,
                             run_id="bench-x", partitions=4)

    scoring, full, join = of("scoring"), of("full"), of("join")
    assert not scoring.monitors and full.monitors
    assert join.label_join and not full.label_join and not scoring.label_join
    assert scoring.metrics_port == 0 and full.metrics_port > 0
    assert full.broker == "127.0.0.1:1" and full.registry == tmp_path and full.topic_partitions == 4
    names = [getattr(s, f) for s in (scoring, full, join) for f in TOPIC_FIELDS]
    assert len(set(names)) == len(names) and full.topic_events == "bench-x-full-events"
    assert scoring.group_id != full.group_id


def test_a_child_loads_exactly_the_settings_it_was_given(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_BATCH_MAX_RECORDS", "7")
    settings = mode_settings(Settings(), MODES["scoring"], bootstrap="127.0.0.1:1", registry=tmp_path,
                             run_id="r", partitions=6)
    env = child_environment(settings)
    assert env["DRIFTLINE_MONITORS"] == "off" and env["DRIFTLINE_BATCH_MAX_RECORDS"] == "2000"
    assert load_settings(environ=env) == settings


# --- the passthrough and the payload -----------------------------------------------------------


def test_the_passthrough_echoes_id_and_event_time_in_a_prediction_shaped_record() -> None:
    out = orjson.loads(forward_value(encode_event("e-1", {"amount": 1.0}, 1_764_172_800_123.456)))
    assert out["id"] == "e-1" and out["event_ts"] == 1_764_172_800_123.456
    assert {"score", "label", "model", "version", "variant", "latency_ms"} <= set(out)


def test_event_encoding_with_pre_encoded_features_matches_a_plain_dump() -> None:
    features = {"amount": 3.5, "channel": "pos"}
    fragment = orjson.Fragment(orjson.dumps(features))
    assert encode_event("a", fragment, 12.5) == encode_event("a", features, 12.5)
    assert orjson.loads(encode_event("a", fragment, 12.5))["ts"] == 12.5


def test_passthrough_commits_the_next_offset_of_each_partition() -> None:
    @dataclass
    class Rec:
        topic: str
        partition: int
        offset: int

    batches = {TopicPartition("t", 0): [Rec("t", 0, 5), Rec("t", 0, 9)],
               TopicPartition("t", 1): [Rec("t", 1, 2)], TopicPartition("t", 2): []}
    offsets = next_offsets(batches)
    assert {(tp.partition, o) for tp, o in offsets.items()} == {(0, 10), (1, 3)}


# --- repeats ----------------------------------------------------------------------------------


def test_the_latency_rounds_run_full_then_scoring_for_its_low_rate_then_raw() -> None:
    assert latency_targets(("raw", "scoring", "full", "join"), low_rate=True) == [
        ("full", True), ("scoring", False), ("raw", True)]
    assert latency_targets(("raw", "scoring", "full"), low_rate=False) == [("full", True), ("raw", True)]
    assert latency_targets(("full", "join"), low_rate=True) == [("full", True)]


# --- where a started broker keeps its data ----------------------------------------------------


def test_a_started_broker_keeps_its_data_in_memory_when_there_is_room(tmp_path: Path) -> None:
    memory = tmp_path / "shm"
    memory.mkdir()
    place = broker_data_place(tmp_path / "work", memory_root=memory, needed_bytes=1)
    assert place.in_memory and place.path.parent == memory and place.path.is_dir()
    remove(place)
    assert not place.path.exists()


def test_without_room_or_access_in_memory_the_broker_uses_the_work_dir(tmp_path: Path) -> None:
    memory = tmp_path / "shm"
    memory.mkdir()
    full = broker_data_place(tmp_path / "work", memory_root=memory, needed_bytes=2**62)
    assert not full.in_memory and full.path == tmp_path / "work" / "kafka" and "GiB free" in full.reason
    missing = broker_data_place(tmp_path / "work", memory_root=tmp_path / "absent")
    assert not missing.in_memory and "not writable" in missing.reason
    remove(full)  # a work-dir folder is left to the work dir's own clean-up


def test_a_figure_is_its_median_with_min_and_max() -> None:
    assert spread([3.0, 1.0, 2.0]) == (2.0, [1.0, 3.0])
    assert spread([4.0, 1.0]) == (2.5, [1.0, 4.0])
    assert spread([None, 5.0]) == (5.0, [5.0, 5.0])  # a repeat that could not measure it is left out
    assert spread([None]) == (None, None)
    assert ratio(3.0, 4.0) == 0.75 and ratio(None, 1.0) is None and ratio(1.0, 0.0) is None


def test_summarise_keeps_the_repeats_and_the_fields_that_do_not_vary() -> None:
    repeats: list[dict[str, Any]] = [{"load_pct": 50, "p99_ms": 12.0, "sent": 10, "note": "a"},
               {"load_pct": 50, "p99_ms": 30.0, "sent": 12, "note": "b"},
               {"load_pct": 50, "p99_ms": 20.0, "sent": None, "note": "c"}]
    summary = summarise(repeats, keep=("load_pct",))
    assert summary["load_pct"] == 50 and summary["p99_ms"] == 20.0 and summary["sent"] == 11
    assert summary["spread"] == {"p99_ms": [12.0, 30.0], "sent": [10, 12]}
    assert summary["repeats"] == repeats and "note" not in summary


def test_the_cpu_probe_skips_the_lead_and_spans_first_to_last_sample() -> None:
    clock, cpu = iter([0.0, 1.0, 5.5, 10.0, 15.5]), iter([2.0, 3.5, 5.0])
    probe = CpuProbe(lambda: next(cpu), skip_s=5.0, clock=lambda: next(clock))
    probe()  # at 1.0: inside the lead, not sampled
    assert probe.window() is None
    probe()
    probe()
    probe()
    window = probe.window()
    assert window is not None and window.wall_s == pytest.approx(10.0) and window.cpu_s == pytest.approx(3.0)
    assert window.share == pytest.approx(0.3)


# --- peers -------------------------------------------------------------------------------------


def test_a_peer_checks_events_minimally() -> None:
    assert _features({"id": "e-1", "features": {"amount": 1.0}}) == {"amount": 1.0}
    bad: Any
    for bad in ({"features": {}}, {"id": "e-1"}, {"id": "e-1", "features": [1]}, [1]):
        with pytest.raises(InvalidEventError):
            _features(bad)
    assert EventScorer._tensor(None, False, "amount").dtype == np.float32
    assert EventScorer._tensor(None, True, "channel")[0, 0] == "__missing__"
    with pytest.raises(InvalidEventError, match="amount must be a number"):
        EventScorer._tensor("12", False, "amount")
    with pytest.raises(InvalidEventError, match="channel must be a string"):
        EventScorer._tensor(3, True, "channel")


# --- the report --------------------------------------------------------------------------------


def _load(pct: int, p99: float) -> dict[str, Any]:
    return {"load_pct": pct, "offered_eps": 100.0 * pct, "achieved_eps": 99.0 * pct, "sent": 10,
            "received": 10, "p50_ms": p99 / 2, "p99_ms": p99, "p99_9_ms": p99 + 1, "max_ms": p99 + 2,
            "to_scoring_p50_ms": 1.0, "to_scoring_p99_ms": 2.0}


def _low(share: float) -> dict[str, Any]:
    return {"cpu_share": share, "cpu_s": share * 20, "wall_s": 20.0, "offered_eps": 1000.0,
            "achieved_eps": 999.0, "received": 25_000, "p50_ms": 5.0, "p99_ms": 20.0}


def sample_report() -> BenchReport:
    """Three rounds; round 2 had a slow minute for every mode alike."""
    report = BenchReport(
        events=1000, partitions=6, seed=0, command="driftline bench --events 1000",
        started_at="2026-11-26T17:00:00+00:00", kafka_version="4.4.0",
        broker={"bootstrap": "127.0.0.1:9", "started_by_bench": True},
        machine={"cores": 2, "usable_cores": 2, "cpu_model": "Xeon", "loadavg_at_start": [0.5, 0.4, 0.3]},
        settings={"batch_max_records": 2000}, latency_plan={"loads_pct": [25, 50, 75]}, repeat=3,
        peer_events=500, low_rate_plan={"offered_eps": 1000.0, "seconds": 20.0})
    report.modes["raw"] = [ModeResult(40_000.0 * k, 5.0, 200_000, 0.03 / k, 90.0, 2.0, slices=5)
                           for k in (1.0, 0.5, 1.1)]
    report.modes["scoring"] = [ModeResult(36_000.0 * k, 5.5, 200_000, 0.05 / k, 150.0, 6.0)
                               for k in (1.0, 0.5, 1.1)]
    report.modes["full"] = [ModeResult(30_000.0 * k, 6.7, 200_000, 0.06 / k, 210.0 + k, 6.0)
                            for k in (1.0, 0.5, 1.1)]
    report.modes["faust"] = [ModeResult(3_000.0 * k, 10.0, 500, 0.5 / k, 110.0, 4.0) for k in (1.0, 0.5, 1.1)]
    report.latency["full"] = [TargetRun([_load(25, 8.0 + k), _load(50, 12.0 + k), _load(75, 30.0)], 220.0 + k,
                                        _low(0.12 + k / 100)) for k in (0, 1, 2)]
    report.latency["scoring"] = [TargetRun([], 150.0, _low(0.09 + k / 100)) for k in (0, 1, 2)]
    report.latency["raw"] = [TargetRun([_load(25, 9.0), _load(50, 41.0 + k), _load(75, 60.0)], 50.0,
                                       _low(0.05)) for k in (0, 1, 2)]
    return report


def test_report_json_has_the_headline_keys_as_medians_and_a_null_join() -> None:
    data = sample_report().to_json()
    assert data["raw_eps"] == 40_000.0 and data["scoring_eps"] == 36_000.0 and data["full_eps"] == 30_000.0
    assert data["join_eps"] is None and data["modes"]["join"] is None and data["repeat"] == 3
    assert data["p99_ms_at_50pct"] == 13.0 and data["raw_p99_ms_at_50pct"] == 42.0
    assert data["peak_rss_mb"] == 222.0  # the highest of every repeat, latency phases included
    full = data["modes"]["full"]
    assert full["ratio_to_raw"] == pytest.approx(0.75) and full["spread"]["ratio_to_raw"] == [
        pytest.approx(0.75), pytest.approx(0.75)]  # ratios are taken within a round
    assert full["ratio_to_scoring"] == pytest.approx(30 / 36)
    assert full["cpu_ratio_to_scoring"] == pytest.approx(1.2)
    assert data["modes"]["scoring"]["cpu_s_per_1k"] == pytest.approx(0.05)
    assert data["modes"]["scoring"]["spread"]["eps"] == [18_000.0, pytest.approx(39_600.0)]
    assert {"kafka_version", "machine", "command", "started_at", "settings"} <= set(data)
    orjson.dumps(data)  # JSON-ready as it is


def test_each_repeat_is_kept_beside_the_median() -> None:
    data = sample_report().to_json()
    repeats = data["modes"]["raw"]["repeats"]
    assert [r["eps"] for r in repeats] == [40_000.0, 20_000.0, pytest.approx(44_000.0)]
    assert {"eps", "cpu_s_per_1k", "peak_rss_mb", "window_s", "events_in_window", "startup_s",
            "ratio_to_raw", "ratio_to_scoring", "ratio_to_full", "cpu_ratio_to_scoring"} <= set(repeats[0])
    assert repeats[0]["slices"] == 5 and data["modes"]["raw"]["slices"] == 5  # turns it ran in
    load = data["modes"]["full"]["latency"][1]
    assert load["load_pct"] == 50 and load["p99_ms"] == 13.0 and load["spread"]["p99_ms"] == [12.0, 14.0]
    assert [r["p99_ms"] for r in load["repeats"]] == [12.0, 13.0, 14.0]


def test_peers_and_the_low_rate_are_reported_beside_driftline() -> None:
    data = sample_report().to_json()
    faust = data["peers"]["faust"]
    assert data["peers"]["quix"] is None and data["peer_events"] == 500
    assert faust["eps"] == 3_000.0 and faust["ratio_to_full"] == pytest.approx(0.1)
    assert faust["cpu_s_per_1k"] == pytest.approx(0.5) and len(faust["repeats"]) == 3
    assert "latency" not in faust
    low = data["low_rate"]
    assert low["offered_eps"] == 1000.0 and low["seconds"] == 20.0
    assert low["full"]["cpu_share"] == pytest.approx(0.13) and low["raw"]["cpu_share"] == pytest.approx(0.05)
    assert low["scoring"]["cpu_share"] == pytest.approx(0.10)
    assert data["modes"]["scoring"].get("latency") is None  # the scoring worker is offered the low rate only
    assert low["full"]["spread"]["cpu_share"] == [pytest.approx(0.12), pytest.approx(0.14)]


def test_targets_say_met_missed_or_not_measured() -> None:
    verdicts = {t["name"]: t["met"] for t in sample_report().to_json()["targets"]}
    assert verdicts == {"full_vs_raw": False, "full_vs_scoring": False, "full_vs_scoring_cpu": False,
                        "p99_ms_at_50pct": True, "p99_vs_raw_at_50pct": True, "peak_rss_mb": True,
                        "join_vs_full": None, "pending_peak_rss_mb": None, "low_rate_cpu_share": True}
    partial = sample_report()
    del partial.modes["full"]
    del partial.latency["full"]
    assert {t["met"] for t in partial.to_json()["targets"]} == {None}


def test_the_table_shows_every_mode_peer_load_and_the_low_rate() -> None:
    table = format_table(sample_report().to_json())
    assert "40,000" in table and "30,000" in table and " 0.75" in table and "20,000-44,000" in table
    join_row = next(line for line in table.splitlines() if line.startswith("join"))
    assert "—" in join_row
    assert "Faust agent" in table and "3,000" in table and "first 500 of the same events" in table
    assert " 50%" in table and "MISSED" in table and "4.4.0" in table
    assert "3 rounds (in each, the modes take turns)" in table
    assert "the full worker:" in table and "the raw passthrough, same offered rates:" in table
    assert "42.0" in table  # the raw passthrough's median p99 at 50%
    assert "steady 1,000 events/s" in table and "full worker 13.0% of a core (12.0%-14.0%)" in table
    assert "scoring only 10.0% of a core" in table


def test_a_run_without_the_raw_client_renders_its_ratios_to_raw_as_dashes() -> None:
    report = sample_report()
    del report.modes["raw"]
    del report.latency["raw"]
    full_row = next(line for line in format_table(report.to_json()).splitlines() if line.startswith("full"))
    assert "—" in full_row and "30,000" in full_row


def test_latency_runs_from_the_event_ts_to_the_broker_append_and_splits_at_the_build() -> None:
    arrivals = Arrivals()
    arrivals.add({"event_ts": 1_000.25, "ts": 1_004}, available_ms=1_009.0)
    arrivals.add({"event_ts": 2_000.0}, available_ms=2_001.5)  # no build time: only the total
    assert arrivals.total == [pytest.approx(8.75), pytest.approx(1.5)]
    assert arrivals.to_scoring == [pytest.approx(3.75)]


# --- the command line --------------------------------------------------------------------------


def test_the_bench_command_parses_its_flags() -> None:
    args = build_parser().parse_args(["bench", "--events", "3000", "--modes", "raw,full", "--broker",
                                      "127.0.0.1:9", "--partitions", "3", "--latency-seconds", "2", "--json",
                                      "--repeat", "5", "--peer-events", "700", "--low-rate", "500",
                                      "--low-rate-seconds", "7", "--work-seconds", "9",
                                      "--slice-seconds", "0.5", "--latency-slice-seconds", "3"])
    assert args.events == 3000 and args.modes == "raw,full" and args.bench_broker == "127.0.0.1:9"
    assert args.topic_partitions == 3 and args.latency_seconds == 2.0 and args.json
    assert args.repeat == 5 and args.peer_events == 700
    assert args.low_rate == 500.0 and args.low_rate_seconds == 7
    assert args.work_seconds == 9.0 and args.slice_seconds == 0.5 and args.latency_slice_seconds == 3.0
    defaults = build_parser().parse_args(["bench"])
    assert defaults.repeat == 3 and defaults.events == 800_000 and defaults.low_rate == 1000.0
    assert defaults.work_seconds == 15.0 and defaults.slice_seconds == 1.0
    assert defaults.latency_slice_seconds == 2.0
    assert defaults.broker_warmup_events == 1_500_000


def test_turns_must_have_a_positive_length() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--slice-seconds", "0"])


def test_a_negative_warm_up_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["bench", "--warmup-seconds", "-1"])
    assert args.handler(args, load_settings(environ={})) == 2
    assert "--warmup-seconds must not be negative" in capsys.readouterr().err


def test_a_bench_without_positive_events_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--events", "0"])
    assert "must be positive" in capsys.readouterr().err


def a_gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def test_the_places_of_killed_benches_are_swept_and_the_live_ones_kept(tmp_path: Path) -> None:
    memory, temp = tmp_path / "shm", tmp_path / "tmp"
    memory.mkdir()
    live = broker_data_place(tmp_path / "work", memory_root=memory, needed_bytes=1)
    claim(live)
    killed_in_memory = broker_data_place(tmp_path / "work", memory_root=memory, needed_bytes=1)
    killed_on_disk = DataPlace(temp / "driftline-bench-x1" / "kafka", False, "on disk")
    unowned = broker_data_place(tmp_path / "work", memory_root=memory, needed_bytes=1)
    for place in (killed_in_memory, killed_on_disk):
        claim(place)
        (place.path / "bench.pid").write_text(f"{a_gone_pid()}\n")
    stopped: list[Path] = []

    def stop(path: Path) -> bool:
        stopped.append(path)
        return True

    swept = sweep_abandoned(stop, memory_root=memory, temp_root=temp)
    assert sorted(swept) == sorted(stopped) == sorted([killed_in_memory.path, killed_on_disk.path])
    assert not killed_in_memory.path.exists() and not (temp / "driftline-bench-x1").exists()
    assert live.path.is_dir() and unowned.path.is_dir()  # a running bench's, and one that names no owner
