"""Latency loads in slices (``streams.bench.latency_slices``) and the held pacer's schedule: who
runs when, and that a hold never turns into a burst. The real pacer against a real broker is in
``tests/integration/test_pacer_held.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from driftline.streams.bench import latency_slices
from driftline.streams.bench.children import BenchError
from driftline.streams.bench.latency_slices import slice_lengths, take_turns
from driftline.streams.bench.pacer import PacingClock


def test_a_load_is_cut_into_slices_and_the_last_takes_the_rest() -> None:
    assert slice_lengths(12.0, 2.0) == [2.0] * 6
    assert slice_lengths(5.0, 2.0) == [2.0, 2.0, 1.0]
    assert slice_lengths(1.0, 2.0) == [1.0]  # a slice longer than the load: the load at once
    assert sum(slice_lengths(12.0, 0.7)) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="positive"):
        slice_lengths(12.0, 0.0)


@dataclass
class Target:
    """Answers after ``late`` checks, and records what the harness did to it."""

    name: str
    log: list[str]
    late: int = 0
    checks: int = field(default=0, init=False)

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")

    def pause(self) -> None:
        self.log.append(f"pause {self.name}")

    async def answered_all(self) -> bool:
        self.checks += 1
        answered = self.checks > self.late
        if answered:
            self.checks = 0
            self.log.append(f"answered {self.name}")
        return answered


@dataclass
class Pacer:
    name: str
    log: list[str]

    async def run_slice(self, seconds: float) -> None:
        self.log.append(f"pace {self.name} {seconds:g}")


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency_slices, "RESUME_SETTLE_S", 0.0)
    monkeypatch.setattr(latency_slices, "POLL_S", 0.001)


async def test_the_targets_take_turns_slice_by_slice_and_each_is_paused_only_once_it_has_answered() -> None:
    log: list[str] = []
    full, raw = Target("full", log, late=2), Target("raw", log)
    await take_turns([(full, Pacer("full", log)), (raw, Pacer("raw", log))], [2.0, 2.0, 1.0])
    one_slice = ["resume full", "pace full {s}", "answered full", "pause full",
                 "resume raw", "pace raw {s}", "answered raw", "pause raw"]
    assert log == [step.format(s=s) for s in ("2", "2", "1") for step in one_slice]


async def test_a_target_that_never_answers_fails_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency_slices, "ANSWER_TIMEOUT_S", 0.02)
    log: list[str] = []
    stuck = Target("full", log, late=10**9)
    with pytest.raises(BenchError, match="full did not answer"):
        await take_turns([(stuck, Pacer("full", log))], [2.0])
    assert log == ["resume full", "pace full 2"]  # never paused with events in flight


def test_a_paced_schedule_restarts_at_each_go_so_a_hold_is_no_burst() -> None:
    clock = PacingClock(rate=1_000.0, limit=10_000)
    assert clock.due(5.0) == 0  # held from the start
    clock.go(10.0)
    assert clock.due(10.5) == 500
    clock.sent = 500
    clock.hold(10.5)
    assert clock.due(60.0) == 500  # nothing owed while held
    clock.go(60.0)
    assert clock.due(60.25) == 750  # a quarter second's worth, not the hold's 49.5 s
    clock.sent = 750
    clock.hold(60.25)
    assert clock.active_s == pytest.approx(0.75)


def test_a_paced_schedule_never_owes_more_than_its_limit() -> None:
    clock = PacingClock(rate=1_000.0, limit=600)
    clock.go(0.0)
    clock.sent = 500
    clock.hold(0.5)
    clock.go(100.0)
    assert clock.due(101.0) == 600


def test_a_second_go_without_a_hold_keeps_the_schedule() -> None:
    clock = PacingClock(rate=100.0, limit=10_000)
    clock.go(0.0)
    clock.go(1.0)  # the pacer calls go on every tick it is let go
    assert clock.due(2.0) == 200

