"""Taking turns (``streams.bench.slices``) on a simulated clock: who runs when, and what is counted."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from driftline.streams.bench.children import BenchError, ChildProcess
from driftline.streams.bench.modes import BENCH_SESSION_TIMEOUT_MS, MODES, mode_settings
from driftline.streams.bench.procfs import parse_state
from driftline.streams.bench.slices import Entrant, run_slice, start_paused, take_turns
from driftline.streams.settings import Settings


class SimulatedTime:
    """A clock that moves only when someone sleeps: the tests run instantly and exactly."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SimulatedProcess:
    """Produces ``rate`` outputs and burns one CPU second per second while it runs, nothing paused.

    ``in_flight`` outputs are acknowledged only after a pause (a produce request sent just before
    it), so they show up in the count a little after the process stopped."""

    name: str
    time: SimulatedTime
    rate: float
    backlog: int
    start_after_s: float = 0.0
    in_flight: int = 0
    log: list[str] = field(default_factory=list)
    dead: bool = False
    running_since: float | None = 0.0  # a child runs from its start until it is first paused
    ran_s: float = 0.0
    owed_acks: int = 0

    @property
    def pid(self) -> int:
        return 0

    def _run_time(self) -> float:
        extra = 0.0 if self.running_since is None else self.time.now - self.running_since
        return self.ran_s + extra

    def produced(self) -> int:
        working = max(0.0, self._run_time() - self.start_after_s)
        return min(self.backlog, int(working * self.rate))

    async def count(self) -> int:
        visible = self.produced() - self.owed_acks
        self.owed_acks = 0  # they land right after the first read
        return visible

    def pause(self) -> None:
        assert self.running_since is not None, f"{self.name} paused twice"
        self.ran_s += self.time.now - self.running_since
        self.running_since = None
        self.owed_acks = min(self.in_flight, self.produced())
        self.log.append(f"pause {self.name}")

    def resume(self) -> None:
        assert self.running_since is None, f"{self.name} resumed while running"
        self.running_since = self.time.now
        self.log.append(f"resume {self.name}")

    def ensure_alive(self) -> None:
        if self.dead:
            raise BenchError(f"{self.name} exited")

    def cpu_seconds(self) -> float:
        return self._run_time()

    def log_tail(self) -> str:
        return f"{self.name}'s log"


def entrants_of(time: SimulatedTime, *specs: tuple[str, float, int], work_s: float = 5.0,
                log: list[str] | None = None, in_flight: int = 0) -> list[Entrant]:
    shared = [] if log is None else log
    made = []
    for name, rate, backlog in specs:
        process = SimulatedProcess(name, time, rate, backlog, start_after_s=0.5, in_flight=in_flight,
                                   log=shared)
        made.append(Entrant(process, process.count, backlog, work_s))
    return made


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_each_runs_its_work_seconds_in_turns_and_never_two_at_once() -> None:
    time, log = SimulatedTime(), list[str]()
    entrants = entrants_of(time, ("raw", 40_000, 10**9), ("full", 30_000, 10**9), log=log)
    run(start_paused(entrants, time.clock, time.sleep))
    log.clear()
    results = run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))
    assert log[:6] == ["resume raw", "pause raw", "resume full", "pause full", "resume raw", "pause raw"]
    assert all(log[i].startswith("resume") and log[i + 1].startswith("pause") for i in range(0, len(log), 2))
    raw, full = results  # type: ignore[misc]
    assert len(raw.slice_rates) == len(full.slice_rates) == 5
    assert raw.rate.seconds == pytest.approx(5.0, abs=0.06)
    assert raw.rate.eps == pytest.approx(40_000, rel=0.02)
    assert full.rate.eps == pytest.approx(30_000, rel=0.02)
    # One CPU second per running second: the cost is 1/rate, and paused time is not counted.
    assert full.cpu_s_per_1k == pytest.approx(1000 / 30_000, rel=0.02)


def test_start_up_is_excluded_and_each_is_paused_at_its_first_output() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("slow-start", 10_000, 10**9), ("quick", 10_000, 10**9))
    entrants[0].process.start_after_s = 3.0  # type: ignore[attr-defined]
    run(start_paused(entrants, time.clock, time.sleep))
    slow, quick = entrants
    assert quick.startup_s == pytest.approx(0.5, abs=0.02) and slow.startup_s == pytest.approx(3.0, abs=0.02)
    # The quick one was paused at its first output, not left running while the other started.
    assert quick.start_count <= 10_000 * 0.02


def test_a_small_backlog_ends_at_its_last_output_and_leaves_the_turns() -> None:
    time, log = SimulatedTime(), list[str]()
    entrants = entrants_of(time, ("peer", 1_000, 2_000), ("full", 30_000, 10**9), log=log, work_s=6.0)
    run(start_paused(entrants, time.clock, time.sleep))
    log.clear()
    peer, full = run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))  # type: ignore[misc]
    # ~1.5 s of its backlog was left after its start: it ran 2 turns, the second cut at the crossing.
    assert len(peer.slice_rates) == 2 and log.count("resume peer") == 2
    assert peer.rate.eps == pytest.approx(1_000, rel=0.05)
    assert peer.rate.events == 2_000 - entrants[0].start_count
    assert len(full.slice_rates) == 6  # the other goes on alone until its work seconds are done


def test_a_whole_backlog_entrant_runs_until_it_is_done() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("join", 10_000, 100_000), ("raw", 40_000, 10**9), work_s=3.0)
    entrants[0].work_s = float("inf")
    run(start_paused(entrants, time.clock, time.sleep))
    join, raw = run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))  # type: ignore[misc]
    assert join.rate.seconds == pytest.approx(10.0, abs=0.1)
    assert raw.rate.seconds == pytest.approx(3.0, abs=0.06)


def test_acknowledgements_landing_after_a_pause_are_counted() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("raw", 20_000, 10**9), in_flight=4_000, work_s=4.0)
    run(start_paused(entrants, time.clock, time.sleep))
    (raw,) = run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))  # type: ignore[misc]
    assert raw.rate.eps == pytest.approx(20_000, rel=0.02)


def test_an_entrant_whose_last_outputs_landed_while_it_was_paused_is_done_without_a_turn() -> None:
    time, log = SimulatedTime(), list[str]()
    process = SimulatedProcess("join", time, 10_000, 10**9, log=log, running_since=None)

    async def past_the_target() -> int:
        return 1_005  # the backlog of 1,000 and the transaction markers of its last commit

    entrant = Entrant(process, past_the_target, target=1_000)
    run(run_slice(entrant, 1.0, time.clock, time.sleep))
    assert entrant.finished and entrant.slice_rates == [] and log == []  # not resumed, no slice


def test_a_backlog_done_while_starting_is_a_clear_error() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("raw", 1_000_000, 100))
    with pytest.raises(BenchError, match="whole backlog"):
        run(start_paused(entrants, time.clock, time.sleep))


def test_a_process_that_never_outputs_fails_after_the_startup_deadline() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("stuck", 1_000, 10**9))
    entrants[0].process.start_after_s = 10**6  # type: ignore[attr-defined]
    with pytest.raises(BenchError, match="stuck produced nothing within"):
        run(start_paused(entrants, time.clock, time.sleep))


def test_a_process_dying_in_its_turn_fails_with_its_log() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("raw", 1_000, 10**9))
    run(start_paused(entrants, time.clock, time.sleep))
    entrants[0].process.dead = True  # type: ignore[attr-defined]
    with pytest.raises(BenchError, match="raw exited"):
        run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))


def test_a_whole_backlog_entrant_that_stops_producing_fails_instead_of_taking_turns_for_ever() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("join", 1_000, 10**9))
    entrants[0].work_s = float("inf")
    run(start_paused(entrants, time.clock, time.sleep))
    entrants[0].process.rate = 0.0  # type: ignore[attr-defined]
    with pytest.raises(BenchError, match="join stalled at"):
        run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))
    assert time.now < 100  # it gave up after about a minute of running time


def test_slices_and_work_must_be_positive() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("raw", 1_000, 10**9))
    with pytest.raises(ValueError, match="positive"):
        run(take_turns(entrants, slice_s=0.0, clock=time.clock, sleep=time.sleep))


# --- a real child: paused by the kernel, and stopped cleanly even while paused -------------------


def state_of(pid: int) -> str:
    return parse_state(Path(f"/proc/{pid}/stat").read_text())


def test_a_real_child_is_stopped_by_the_kernel_when_paused_and_ends_while_paused(tmp_path: Path) -> None:
    spin = [sys.executable, "-c", "while True: pass"]
    child = ChildProcess("spin", spin, Settings(), tmp_path / "spin.log")
    child.start()
    try:
        child.pause()
        assert state_of(child.pid) == "T"  # pause() returns only once the kernel has stopped it
        child.resume()
        deadline = time.monotonic() + 10
        while state_of(child.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state_of(child.pid) != "T"
        child.pause()
        child.stop()  # SIGTERM stays pending on a stopped process unless it is continued
        assert child.exit_code() == -signal.SIGTERM
    finally:
        child.stop()


def test_the_state_is_read_after_the_command_name() -> None:
    assert parse_state("77 (a) b (c)) T 1 77 77") == "T"


def test_bench_children_outlive_any_pause_of_the_turns(tmp_path: Path) -> None:
    settings = mode_settings(Settings(), MODES["full"], bootstrap="127.0.0.1:1", registry=tmp_path,
                             run_id="r", partitions=6)
    # A paused child sends no heartbeat: a latency target waits ~30 s for the other's low rate.
    assert settings.session_timeout_ms >= BENCH_SESSION_TIMEOUT_MS >= 2 * 30_000


def test_the_faust_peer_creates_its_state_folder_when_it_starts_before_any_worker(tmp_path: Path) -> None:
    from driftline.streams.bench.peers.faust_agent import build_app

    settings = mode_settings(Settings(), MODES["faust"], bootstrap="127.0.0.1:1", registry=tmp_path / "r",
                             run_id="r", partitions=1)
    assert not settings.state_dir.exists()
    build_app(settings, scorer=None)  # type: ignore[arg-type]
    assert settings.state_dir.is_dir()  # Faust itself then makes only its own folder inside it


def test_a_slice_that_crosses_its_target_at_once_reports_the_rate_it_ran_at() -> None:
    time = SimulatedTime()
    entrants = entrants_of(time, ("peer", 1_000, 10**9), ("full", 30_000, 10**9))
    run(start_paused(entrants, time.clock, time.sleep))
    peer = entrants[0]
    peer.target = peer.start_count + 1  # one output left: the first poll overshoots it by ~50
    result, _ = run(take_turns(entrants, slice_s=1.0, clock=time.clock, sleep=time.sleep))  # type: ignore[misc]
    assert result.slice_rates == [pytest.approx(1_000, rel=0.05)]
