"""``driftline bench`` end to end at a tiny size on the session broker: the report, not the speed.

The numbers of a run this small say nothing about performance (and the machine is shared), so the
test checks that every key is there with a sane value and that the run leaves no process behind.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.command import DRIFTLINE

TIMEOUT_S = 240.0
#: Enough that every mode's measured window spans many 10 ms CPU-clock ticks (3,000 read 0.000
#: CPU s per 1k once: the raw passthrough finished within a few ticks), and that the raw
#: passthrough, the first to start, cannot do its whole backlog before the harness sees its first
#: output and pauses it (15,000 did, once, in a CI run on a fast VM with both xdist workers busy).
EVENTS = 60_000
#: The peers score event by event (a Faust agent ~1,000 events/s here): a few seconds' worth.
PEER_EVENTS = 2_000


def run_bench(args: list[str], log_path: Path) -> subprocess.CompletedProcess[bytes]:
    """Run the command; on timeout SIGTERM it (so it stops its children) before failing."""
    with log_path.open("wb") as progress:
        process = subprocess.Popen([*DRIFTLINE, "bench", *args],
                                   stdout=subprocess.PIPE, stderr=progress)
        try:
            out, _ = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
            pytest.fail(f"bench did not finish in {TIMEOUT_S:.0f} s:\n{log_path.read_text()[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, b"")


def leftover_children(bootstrap: str) -> list[int]:
    """Processes still configured for a benchmark on this broker (children carry it in their env)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"DRIFTLINE_BROKER={bootstrap}".encode() in environ and any(
                item.startswith(b"DRIFTLINE_APP_ID=bench-") for item in environ):
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def report(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    log_path = tmp_path_factory.mktemp("bench") / "progress.log"
    done = run_bench(["--broker", kafka_bootstrap, "--events", str(EVENTS), "--partitions", "3",
                      "--modes", "raw,scoring,full,join,faust,quix", "--peer-events", str(PEER_EVENTS),
                      "--repeat", "1", "--broker-warmup-events", "2000", "--latency-seconds", "1",
                      "--latency-slice-seconds", "0.5",
                      "--latency-max-events", "1000", "--warmup-seconds", "0.5", "--low-rate", "200",
                      "--low-rate-seconds", "1",
                      "--json"], log_path)
    assert done.returncode == 0, log_path.read_text()[-3000:]
    assert not leftover_children(kafka_bootstrap)
    assert not asyncio.run(leftover_topics(kafka_bootstrap))
    data: dict[str, Any] = orjson.loads(done.stdout)
    return data


async def leftover_topics(bootstrap: str, timeout: float = 10.0) -> list[str]:
    """A benchmark's events and predictions topics still on the broker after ``timeout`` (each phase
    deletes its own; the broker's metadata may take a moment to say so)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, metadata_max_age_ms=500)
    await consumer.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            topics = await consumer.topics()
            left = [t for t in topics if t.startswith("bench-") and t.endswith(("-events", "-predictions"))]
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)  # polling the metadata with a deadline
    finally:
        await consumer.stop()


def test_every_mode_has_a_positive_rate(report: dict[str, Any]) -> None:
    for mode in ("raw", "scoring", "full", "join"):
        assert report[f"{mode}_eps"] > 0
        details = report["modes"][mode]
        assert details["eps"] == report[f"{mode}_eps"]
        assert details["cpu_s_per_1k"] > 0 and details["peak_rss_mb"] > 10
        assert details["ratio_to_raw"] > 0 and details["window_s"] > 0
        assert details["slices"] >= 1  # the turns it ran in, its window their sum
    assert report["modes"]["raw"]["ratio_to_raw"] == pytest.approx(1.0)
    assert report["peak_rss_mb"] == report["modes"]["full"]["peak_rss_mb"]


def test_each_figure_keeps_its_repeat(report: dict[str, Any]) -> None:
    assert report["repeat"] == 1
    for mode in ("raw", "scoring", "full", "join"):
        details = report["modes"][mode]
        assert len(details["repeats"]) == 1 and details["repeats"][0]["eps"] == details["eps"]
        assert details["spread"]["eps"] == [details["eps"], details["eps"]]


def test_the_peers_score_the_same_events_with_the_same_model(report: dict[str, Any]) -> None:
    assert report["peer_events"] == PEER_EVENTS
    for name in ("faust", "quix"):
        peer = report["peers"][name]
        assert peer["eps"] > 0 and peer["cpu_s_per_1k"] > 0 and peer["peak_rss_mb"] > 10
        assert peer["ratio_to_full"] > 0 and len(peer["repeats"]) == 1


def test_the_cpu_share_at_a_low_rate_is_read_for_worker_and_client(report: dict[str, Any]) -> None:
    low = report["low_rate"]
    assert low["offered_eps"] == 200.0 and low["seconds"] == 1.0
    for target in ("full", "scoring", "raw"):
        assert 0 < low[target]["cpu_share"] < 2.0 and low[target]["wall_s"] > 0.5
    assert next(t for t in report["targets"] if t["name"] == "low_rate_cpu_share")["value"] is not None


def test_latency_is_measured_at_each_load_with_ordered_percentiles(report: dict[str, Any]) -> None:
    loads = report["modes"]["full"]["latency"]
    assert [load["load_pct"] for load in loads] == [25, 50, 75]
    for load in loads:
        assert 0 < load["sent"] <= 1000 and load["received"] >= load["sent"]
        assert load["offered_eps"] == pytest.approx(report["full_eps"] * load["load_pct"] / 100)
        assert 0 < load["p50_ms"] <= load["p99_ms"] <= load["p99_9_ms"] <= load["max_ms"]
        assert load["to_scoring_p50_ms"] is not None
    assert report["p99_ms_at_50pct"] == loads[1]["p99_ms"]


def test_the_raw_passthrough_gets_the_same_offered_rates(report: dict[str, Any]) -> None:
    full, raw = report["modes"]["full"]["latency"], report["modes"]["raw"]["latency"]
    assert [load["offered_eps"] for load in raw] == [load["offered_eps"] for load in full]
    for load in raw:
        assert 0 < load["sent"] <= 1000 and load["received"] >= load["sent"]
        assert 0 < load["p50_ms"] <= load["p99_ms"] <= load["max_ms"]
    assert report["raw_p99_ms_at_50pct"] == raw[1]["p99_ms"]
    assert report["latency_plan"]["against"] == ["full", "raw"]
    assert report["latency_plan"]["slice_seconds"] == 0.5


def test_the_report_says_where_and_how_it_was_measured(report: dict[str, Any]) -> None:
    assert report["events"] == EVENTS and report["partitions"] == 3
    assert report["broker"]["started_by_bench"] is False and report["kafka_version"] is None
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu_model"]
    assert report["command"].startswith("driftline bench --broker")
    assert report["settings"]["batch_max_records"] > 0 and report["started_at"]
    assert {t["name"] for t in report["targets"]} == {
        "full_vs_raw", "full_vs_scoring", "full_vs_scoring_cpu", "p99_ms_at_50pct", "p99_vs_raw_at_50pct",
        "peak_rss_mb", "join_vs_full", "pending_peak_rss_mb", "low_rate_cpu_share"}


def test_sigterm_while_the_modes_take_turns_stops_every_child_and_deletes_the_topics(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Some of the children are paused (SIGSTOP) when the bench is told to stop: they must still go."""
    log_path = tmp_path / "progress.log"
    with log_path.open("wb") as progress:
        process = subprocess.Popen(
            [*DRIFTLINE, "bench", "--broker", kafka_bootstrap, "--events", "200000", "--partitions", "3",
             "--modes", "raw,scoring", "--repeat", "1", "--broker-warmup-events", "0", "--loads", "",
             "--low-rate", "0", "--work-seconds", "60"],
            stdout=subprocess.DEVNULL, stderr=progress)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while b"taking turns" not in log_path.read_bytes():
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "the bench never reached its turns"
                time.sleep(0.2)  # polling its progress file, with a deadline
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 130, log_path.read_text()[-3000:]
    assert not leftover_children(kafka_bootstrap)
    # The progress log says whether the bench tried to delete them (a warning when the broker refused).
    assert not asyncio.run(leftover_topics(kafka_bootstrap)), log_path.read_text()[-3000:]
