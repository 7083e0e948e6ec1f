"""Canary routing and shadows in the scoring core: who answers which event, and what a shadow may
never change. That workers apply stage changes on a real broker is
``tests/integration/test_model_rollout.py``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from driftline.models.card import Fallback
from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.errors import ScoringError, ScoringTimeout
from driftline.models.registry import Registry
from driftline.models.synthetic import SyntheticStream
from driftline.streams.rollout.guard import ServingGuard
from driftline.streams.rollout.router import canary_mask
from driftline.streams.scoring import BatchScorer, Rollout, ServedModel
from tests.unit.streams.test_scoring import Record


@pytest.fixture(scope="module")
def champion(demo_registry: Path) -> ServedModel:
    return ServedModel.of(Registry(demo_registry).load(DEMO_MODEL_NAME))


def scorer(champion: ServedModel, rollout: Rollout) -> BatchScorer:
    return BatchScorer({DEMO_MODEL_NAME: champion}, default_model=DEMO_MODEL_NAME,
                       predictions_topic="predictions", deadletter_topic="deadletter",
                       max_event_bytes=10_000, deadletter_payload_max_bytes=64,
                       shadow_topic="shadow-predictions", rollouts={DEMO_MODEL_NAME: rollout},
                       clock=lambda: 2.0)


def events(n: int) -> list[Record]:
    rows = SyntheticStream(seed=9).rows(n)
    return [Record(orjson.dumps({"id": f"r{i}", "features": row}), offset=i) for i, row in enumerate(rows)]


def test_the_canary_answers_its_share_by_event_id_and_the_same_ids_every_time(champion: ServedModel) -> None:
    canary = dataclasses.replace(champion, version=2)
    records = events(4000)
    outcome = scorer(champion, Rollout(canary=canary, canary_share=0.1)).score(records)
    answers = [orjson.loads(o.value) for o in outcome.outputs]
    assert [a["id"] for a in answers] == [f"r{i}" for i in range(4000)]  # one answer each, in order
    on_canary = [a["variant"] == "canary" for a in answers]
    assert on_canary == canary_mask([f"r{i}".encode() for i in range(4000)], 0.1).tolist()
    versions = [a["version"] for a in answers]
    assert versions == [2 if c else champion.version for c in on_canary]
    assert 0.085 < sum(on_canary) / 4000 < 0.115
    canaried = sum(on_canary)
    assert outcome.predictions_by_model == {(DEMO_MODEL_NAME, 2, "canary"): canaried,
                                            (DEMO_MODEL_NAME, champion.version, "champion"): 4000 - canaried}
    again = scorer(champion, Rollout(canary=canary, canary_share=0.1)).score(records[::-1])
    assert {orjson.loads(o.value)["id"]: orjson.loads(o.value)["variant"] for o in again.outputs} == {
        a["id"]: a["variant"] for a in answers}


def test_a_larger_share_keeps_every_canary_id_on_the_canary() -> None:
    ids = [f"id-{i}".encode() for i in range(10_000)]
    small, large = canary_mask(ids, 0.05), canary_mask(ids, 0.2)
    assert not (small & ~large).any() and large.sum() > small.sum()


def test_shadows_score_every_event_on_their_own_topic_only(champion: ServedModel) -> None:
    shadow = dataclasses.replace(champion, version=3)
    records = events(300)
    alone = scorer(champion, Rollout()).score(records)
    outcome = scorer(champion, Rollout(shadows=(shadow,))).score(records)
    assert outcome.outputs == alone.outputs  # a shadow changes no answer
    assert {o.topic for o in outcome.shadow_outputs} == {"shadow-predictions"}
    shadowed = [orjson.loads(o.value) for o in outcome.shadow_outputs]
    assert [s["id"] for s in shadowed] == [f"r{i}" for i in range(300)]
    assert {(s["variant"], s["version"]) for s in shadowed} == {("shadow", 3)}
    assert outcome.all_outputs == outcome.outputs + outcome.shadow_outputs
    assert outcome.shadow_predictions == {(DEMO_MODEL_NAME, 3): 300}


class FlakyModel:
    """Wraps a real model; raises (a failure or a timeout) while ``broken``."""

    def __init__(self, model: Any, *, timeout: bool = False) -> None:
        self._model, self.card, self.broken, self.calls, self.timeout = model, model.card, True, 0, timeout

    def predict(self, columns: Any, *, timeout_s: float | None = None) -> Any:
        self.calls += 1
        if self.broken:
            raise (ScoringTimeout if self.timeout else ScoringError)("injected fault")
        return self._model.predict(columns, timeout_s=timeout_s)


def guarded(champion: ServedModel, now: list[float]) -> BatchScorer:
    guard = ServingGuard(timeout_s=1.0, failures_to_open=2, cooldown_s=10.0, alerts_topic="alerts",
                         source="test", clock=lambda: now[0])
    return BatchScorer({DEMO_MODEL_NAME: champion}, default_model=DEMO_MODEL_NAME,
                       predictions_topic="predictions", deadletter_topic="deadletter",
                       max_event_bytes=10_000, deadletter_payload_max_bytes=64, guard=guard)


@pytest.mark.parametrize("timeout", [False, True])
def test_a_failing_champion_is_answered_by_its_fallback_behind_a_breaker(champion: ServedModel,
                                                                         timeout: bool) -> None:
    card = dataclasses.replace(champion.model.card, fallback=Fallback(0.03))
    flaky = FlakyModel(champion.model, timeout=timeout)
    flaky.card = card
    served = dataclasses.replace(champion, model=cast(Any, flaky))
    now = [0.0]
    scorer_ = guarded(served, now)
    alerts: list[str] = []
    for _ in range(4):
        outcome = scorer_.score(events(50))
        answers = [orjson.loads(o.value) for o in outcome.outputs]
        assert not outcome.dead_letters and {(a["variant"], a["score"], a["label"]) for a in answers} == {
            ("fallback", 0.03, 0)}
        alerts += [orjson.loads(o.value)["type"].rsplit(".", 1)[-1] for o in outcome.alert_outputs]
    assert alerts == ["raised"] and flaky.calls == 2  # open after two failures: no more calls

    flaky.broken = False
    now[0] = 11.0  # the cooldown passed: the next batch is the probe
    outcome = scorer_.score(events(50))
    assert {orjson.loads(o.value)["variant"] for o in outcome.outputs} == {"champion"}
    assert [orjson.loads(o.value)["data"]["status"] for o in outcome.alert_outputs] == ["resolved"]


def test_without_a_fallback_a_failing_batch_is_dead_lettered(champion: ServedModel) -> None:
    served = dataclasses.replace(champion, model=cast(Any, FlakyModel(champion.model)))
    outcome = guarded(served, [0.0]).score(events(10))
    assert outcome.dead_letters == {"scoring_failed": 10}


def test_a_failing_canary_is_answered_by_the_champion(champion: ServedModel) -> None:
    canary = dataclasses.replace(champion, version=2, model=cast(Any, FlakyModel(champion.model)))
    outcome = scorer(champion, Rollout(canary=canary, canary_share=0.5)).score(events(200))
    assert not outcome.dead_letters
    assert {orjson.loads(o.value)["variant"] for o in outcome.outputs} == {"champion"}
