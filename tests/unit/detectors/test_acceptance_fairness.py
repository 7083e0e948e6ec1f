"""Acceptance: a planted disparity raises one fairness alert naming its segment; a fair stream, none in 1e6.

The stream: six groups of a sensitive segment ``region`` (four declared values, ``other`` and
``missing``) with shares 40, 30, 15, 10, 3 and 2 %; true classes positive at 30 %; the model's
class is the true one with 15 % flipped, so every group is predicted positive at 0.36 with recall
0.85 and precision 0.71. The planted disparity halves ``south``'s positive predictions from event
`CHANGE` on (each positive kept with probability 1/2): its positive rate and its recall halve,
its precision stays. Every event is labelled, so all four metrics are judged, with the default
`FairnessSettings` (window 20,000, an evaluation every 1,000, 500 samples minimum, one false
alarm per 1e6 events).

Measured (seeds 11 and 12): the planted disparity raises one alert, 7,000 events after the
change, naming ``region=south`` and equal opportunity (recall 0.70 of 1,854 labelled positives
vs north's 0.86 of 2,390); disparate impact and demographic parity join it in updates as the
window fills with halved events, predictive parity never; it does not resolve. 1,000,000 events
without it raise nothing: the largest z of any finding at an evaluation stays at -0.17 times
the critical z (5.5 at ``target_arl=1e6``: 6 groups, 4 metrics, 120 ordered comparisons). The
limits alone (no test) would flag a fair model's small groups in most windows
(`test_the_limits_alone_are_not_enough`). The file runs in about 2.5 s.
"""

from __future__ import annotations

import numpy as np

from driftline.detectors.fairness import FairnessMonitor, FairnessSettings

LABELS = ("north", "south", "east", "west", "other", "missing")
SHARES = np.array([0.40, 0.30, 0.15, 0.10, 0.03, 0.02])
SOUTH = 1
BATCH = 1000
CHANGE = 100_000


def batch(rng: np.random.Generator, n: int, *, halve_south: bool) -> tuple[np.ndarray, ...]:
    groups = rng.choice(len(LABELS), size=n, p=SHARES)
    y_true = (rng.random(n) < 0.3).astype(np.int64)
    y_pred = np.where(rng.random(n) < 0.15, 1 - y_true, y_true)
    if halve_south:
        y_pred = np.where((groups == SOUTH) & (rng.random(n) < 0.5), 0, y_pred)
    return groups, y_pred, y_true


def run(events: int, *, change: int | None, seed: int) -> tuple[list, float]:
    rng = np.random.default_rng(seed)
    monitor = FairnessMonitor("loans", 4, "champion", "region", LABELS, settings=FairnessSettings())
    alerts, worst = [], -np.inf
    for start in range(0, events, BATCH):
        halve = change is not None and start >= change
        alerts += monitor.update(*batch(rng, BATCH, halve_south=halve))
        if start % 10_000 == 0 and monitor.n_seen >= monitor.settings.window_size:
            judged = [v["z"] / monitor.critical_z for v in monitor.judge().values() if v["judged"]]
            worst = max([worst, *judged])
    return alerts, worst


def test_a_planted_disparity_raises_one_alert_naming_the_segment_and_metric() -> None:
    alerts, _ = run(200_000, change=CHANGE, seed=11)
    raised = [event for event in alerts if event.type == "raised"]
    assert len(raised) == 1
    alert = raised[0]
    assert alert.kind == "fairness" and alert.dedup_key == "loans:4:champion:fairness:segments.region"
    assert CHANGE < alert.window.end <= CHANGE + 10_000, alert.window
    assert {f.feature for f in alert.findings} == {"region=south"}
    assert {f.statistic for f in alert.findings} <= {"disparate_impact", "demographic_parity",
                                                   "equal_opportunity"}
    top = alert.findings[0]
    assert top.bins[0] == "south" and top.samples[0] > 500 and top.samples[1] > 500
    assert "south" in alert.summary and "predictive_parity" not in alert.summary
    assert all(event.type != "resolved" for event in alerts)


def test_a_fair_stream_raises_nothing_in_a_million_events() -> None:
    alerts, worst = run(1_000_000, change=None, seed=12)
    assert alerts == []
    assert worst < 0.5, worst


def test_the_limits_alone_are_not_enough() -> None:
    """Without the test, the point estimates of a fair model's small groups cross 0.8 often."""
    rng = np.random.default_rng(13)
    monitor = FairnessMonitor("loans", 4, "champion", "region", LABELS,
                              settings=FairnessSettings(limits={"disparate_impact": 0.8}, min_samples=100))
    crossings = 0
    for _ in range(100):
        groups = rng.choice(len(LABELS), size=20_000, p=SHARES)
        y_pred = (rng.random(20_000) < 0.05).astype(np.int64)  # a rare positive class
        monitor.update(groups, y_pred)
        crossings += monitor.judge()["disparate_impact"]["value"] < 0.8
    assert crossings > 30 and not monitor.is_open
