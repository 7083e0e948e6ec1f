"""Serving stages: every change a rollout makes, and every change that must be refused."""

from __future__ import annotations

import pytest

from driftline.models.stages import HISTORY_LIMIT, StageError, Stages


def test_a_record_round_trips_and_names_what_serves() -> None:
    document = {"champion": 3, "canary": {"version": 4, "share": 0.05}, "shadows": [5, 6], "history": [1, 2]}
    stages = Stages.parse(document)
    assert stages.to_dict() == document
    assert stages.serving == (3, 4, 5, 6)


@pytest.mark.parametrize(("document", "problem"), [
    ({"champion": "two"}, "champion"),
    ({"champion": 1, "canary": 2}, "canary"),
    ({"champion": 1, "canary": {"version": 2, "share": 1.5}}, "share"),
    ({"champion": 1, "canary": {"version": 2}}, "share"),
    ({"champion": 1, "shadows": 3}, "shadows"),
    ({"champion": 1, "history": [0]}, "history"),
])
def test_a_malformed_record_names_the_field(document: dict[str, object], problem: str) -> None:
    with pytest.raises(StageError, match=problem):
        Stages.parse(document)


def test_promoting_the_canary_ends_it_and_remembers_the_champion() -> None:
    stages = Stages(champion=1, shadows=(3,)).with_canary(2, 0.1).promoted(2)
    assert (stages.champion, stages.canary, stages.canary_share, stages.history) == (2, None, 0.0, (1,))
    assert stages.promoted(3).shadows == ()  # a promoted shadow stops shadowing


def test_rollback_ends_a_canary_first_then_restores_champions_in_order() -> None:
    stages = Stages(champion=1).promoted(2).promoted(3).with_canary(4, 0.2)
    stages, what = stages.rolled_back()
    assert (stages.canary, what) == (None, "canary v4 ended")
    stages, what = stages.rolled_back()
    assert (stages.champion, stages.history, what) == (2, (1,), "champion v3 rolled back to v2")
    stages, _ = stages.rolled_back()
    with pytest.raises(StageError, match="nothing to roll back"):
        stages.rolled_back()


@pytest.mark.parametrize(("change", "problem"), [
    (lambda s: s.with_canary(1, 0.1), "champion already"),
    (lambda s: s.with_canary(2, 0.0), "share"),
    (lambda s: s.without_canary(), "no canary"),
    (lambda s: s.with_shadow(1), "already answers"),
    (lambda s: s.with_shadow(5, on=False), "not a shadow"),
])
def test_changes_that_make_no_sense_are_refused(change: object, problem: str) -> None:
    with pytest.raises(StageError, match=problem):
        change(Stages(champion=1))  # type: ignore[operator]


def test_a_canary_needs_a_champion_and_history_is_bounded() -> None:
    with pytest.raises(StageError, match="no champion"):
        Stages().with_canary(1, 0.1)
    stages = Stages(champion=1)
    for version in range(2, HISTORY_LIMIT + 10):
        stages = stages.promoted(version)
    assert len(stages.history) == HISTORY_LIMIT and stages.history[-1] == HISTORY_LIMIT + 8
