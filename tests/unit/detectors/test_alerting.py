"""Alert state machine: one alert per incident, hysteresis, updates, cooldown, resolution."""

from __future__ import annotations

import numpy as np

from driftline.detectors.alerting import AlertPolicy, AlertState

ONES = np.ones(3)


Outcome = tuple[str, tuple[int, ...], str] | None


def feed(state: AlertState, rows: list[list[float]], start: int = 0, step: int = 100) -> list[Outcome]:
    out = []
    for i, values in enumerate(rows):
        t = state.step(np.array(values), ONES, samples=500, events=start + i * step)
        out.append(None if t is None else (t.type, t.active, t.severity))
    return out


def test_a_drifting_feature_raises_once_updates_and_resolves() -> None:
    state = AlertState(3, AlertPolicy(resolve_after=2, update_every=3, cooldown=0))
    drifting = [[0.1, 1.5, 0.2]] * 5 + [[0.1, 0.2, 0.1]] * 2
    events = [e for e in feed(state, drifting) if e is not None]
    assert events == [("raised", (1,), "warning"), ("updated", (1,), "warning"), ("resolved", (1,), "info")]


def test_hysteresis_keeps_a_hovering_feature_active() -> None:
    state = AlertState(3, AlertPolicy(raise_after=2, resolve_after=2, cooldown=0, update_every=99))
    hovering = [[1.2, 0, 0], [0.9, 0, 0], [1.2, 0, 0], [1.1, 0, 0], [0.6, 0, 0], [0.4, 0, 0], [0.8, 0, 0],
                [0.4, 0, 0], [0.3, 0, 0]]
    assert feed(state, hovering) == [None, None, None, ("raised", (0,), "warning"), None, None, None, None,
                                     ("resolved", (0,), "info")]


def test_ranking_changes_and_escalation_are_updates() -> None:
    state = AlertState(3, AlertPolicy(cooldown=0, update_every=99))
    rows = [[1.5, 0, 0], [1.5, 1.8, 0], [1.5, 1.8, 0], [2.5, 1.8, 0]]
    assert feed(state, rows) == [("raised", (0,), "warning"), ("updated", (1, 0), "warning"), None,
                                 ("updated", (0, 1), "critical")]


def test_cooldown_holds_a_re_raise_back() -> None:
    state = AlertState(3, AlertPolicy(resolve_after=1, cooldown=1000))
    rows = [[1.5, 0, 0], [0.1, 0, 0]] + [[1.5, 0, 0]] * 12
    events = [(i, e[0]) for i, e in enumerate(feed(state, rows)) if e is not None]
    assert events == [(0, "raised"), (1, "resolved"), (11, "raised")]  # 1000 events after the resolution


def test_nothing_is_judged_before_min_samples() -> None:
    state = AlertState(1, AlertPolicy(min_samples=1000))
    assert state.step(np.array([9.0]), np.array([1.0]), samples=999, events=0) is None
    assert state.step(np.array([9.0]), np.array([1.0]), samples=1000, events=0) is not None


def test_quiet_means_a_step_within_thresholds_changes_nothing() -> None:
    state = AlertState(2, AlertPolicy(raise_after=2, resolve_after=1, cooldown=0))
    thresholds = np.array([1.0, 1.0])
    assert state.quiet
    assert state.step(np.array([1.5, 0.2]), thresholds, samples=500, events=0) is None
    assert not state.quiet  # one evaluation above: a streak is being tracked
    state.step(np.array([0.2, 0.2]), thresholds, samples=500, events=100)
    assert state.quiet
    state.step(np.array([1.5, 0.2]), thresholds, samples=500, events=200)
    state.step(np.array([1.6, 0.2]), thresholds, samples=500, events=300)
    assert state.is_open and not state.quiet
