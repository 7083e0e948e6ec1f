"""Alert CloudEvents as Alertmanager alerts: labels, annotations, and one alert per dedup key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from driftline.streams.forwarding.alertmanager import (
    AlertmanagerReceiver,
    OpenAlerts,
    alert_labels,
    alertname,
)
from driftline.streams.forwarding.delivery import Answer, ForwardedAlert

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VALID = timedelta(minutes=4)


def data(status: str, **changes: Any) -> dict[str, Any]:
    return {"status": status, "kind": "data_drift", "severity": "warning", "model": "card-fraud",
            "version": 1, "variant": "champion", "detector": "histogram.psi", "feature": "amount",
            "dedup_key": "card-fraud:1:data_drift:histogram.psi", "summary": "warning: drift",
            "runbook": "docs/RUNBOOK.md#data-drift"} | changes


def book() -> OpenAlerts:
    return OpenAlerts(runbook_base_url="https://git.example/driftline/blob/main/", valid_for=VALID)


def test_the_kind_names_the_alert_like_the_prometheus_rules() -> None:
    assert alertname("data_drift") == "DriftlineDataDrift"
    assert alertname("performance") == "DriftlinePerformance"


def test_labels_carry_the_alert_identity_the_feature_and_the_severity() -> None:
    assert alert_labels(data("raised", variant=None)) == {
        "alertname": "DriftlineDataDrift", "model": "card-fraud", "version": "1",
        "detector": "histogram.psi", "feature": "amount", "severity": "warning"}


def test_a_raised_alert_is_active_until_four_resend_periods_ahead() -> None:
    open_alerts = book()
    posts, current = open_alerts.plan(data("raised"), at=T0, now=T0)
    assert posts == [{"labels": alert_labels(data("raised")),
                      "annotations": {"summary": "warning: drift", "dedup_key": data("raised")["dedup_key"],
                                      "runbook_url": "https://git.example/driftline/blob/main/"
                                                     "docs/RUNBOOK.md#data-drift"},
                      "startsAt": "2026-12-01T12:00:00.000Z", "endsAt": "2026-12-01T12:04:00.000Z"}]
    assert current is not None and not open_alerts.by_key  # nothing held until acknowledged


def test_an_escalation_ends_the_alert_under_its_old_labels_in_the_same_request() -> None:
    open_alerts = book()
    _, current = open_alerts.plan(data("raised"), at=T0, now=T0)
    open_alerts.settle(data("raised")["dedup_key"], current)
    later = T0 + timedelta(seconds=30)
    posts, escalated = open_alerts.plan(data("updated", severity="critical"), at=later, now=later)
    assert [(p["labels"]["severity"], p["endsAt"]) for p in posts] == [
        ("warning", "2026-12-01T12:00:30.000Z"), ("critical", "2026-12-01T12:04:30.000Z")]
    assert {p["startsAt"] for p in posts} == {"2026-12-01T12:00:00.000Z"}
    assert escalated is not None and escalated.labels["severity"] == "critical"


def test_an_update_with_the_same_labels_is_one_alert() -> None:
    open_alerts = book()
    _, current = open_alerts.plan(data("raised"), at=T0, now=T0)
    open_alerts.settle(data("raised")["dedup_key"], current)
    posts, _ = open_alerts.plan(data("updated", summary="still"), at=T0, now=T0 + timedelta(minutes=1))
    assert len(posts) == 1 and posts[0]["annotations"]["summary"] == "still"


def test_a_resolve_ends_the_alert_under_the_labels_it_is_open_with() -> None:
    open_alerts = book()
    _, current = open_alerts.plan(data("raised", severity="critical"), at=T0, now=T0)
    open_alerts.settle(data("raised")["dedup_key"], current)
    resolved_at = T0 + timedelta(minutes=3)
    posts, after = open_alerts.plan(data("resolved", severity="info"), at=resolved_at,
                                    now=T0 + timedelta(hours=1))
    assert [(p["labels"]["severity"], p["endsAt"]) for p in posts] == [
        ("critical", "2026-12-01T12:03:00.000Z")]
    assert after is None
    open_alerts.settle(data("raised")["dedup_key"], after)
    assert open_alerts.refresh(T0) == []


def test_a_resolve_of_an_alert_it_never_opened_posts_nothing() -> None:
    assert book().plan(data("resolved"), at=T0, now=T0) == ([], None)


def test_refresh_extends_every_open_alert() -> None:
    open_alerts = book()
    open_alerts.seed(data("raised"), T0)
    open_alerts.seed(data("raised", kind="prediction_drift", dedup_key="k2", feature="score"), T0)
    refreshed = open_alerts.refresh(T0 + timedelta(minutes=1))
    assert sorted(p["labels"]["alertname"] for p in refreshed) == ["DriftlineDataDrift",
                                                                   "DriftlinePredictionDrift"]
    assert {p["endsAt"] for p in refreshed} == {"2026-12-01T12:05:00.000Z"}


class FakeAlertmanager:
    """Stands in for ``post``: records each request's alerts and answers with the next outcome."""

    def __init__(self) -> None:
        self.posted: list[list[dict[str, Any]]] = []
        self.answers: list[str] = []

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float) -> Answer:
        self.posted.append(orjson.loads(body))
        outcome = self.answers.pop(0) if self.answers else "delivered"
        return Answer.of(200 if outcome == "delivered" else None, outcome)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAlertmanager:
    stand_in = FakeAlertmanager()
    monkeypatch.setattr("driftline.streams.forwarding.alertmanager.post", stand_in)
    return stand_in


def receiver() -> AlertmanagerReceiver:
    return AlertmanagerReceiver("http://am:9093/", timeout_s=1, resend=timedelta(minutes=1),
                                runbook_base_url="")


def alert(status: str, **changes: Any) -> ForwardedAlert:
    envelope = {"time": "2026-12-01T12:00:00.000Z", "data": data(status, **changes)}
    return ForwardedAlert(orjson.dumps(envelope), envelope)


async def test_open_alerts_are_held_only_once_alertmanager_acknowledged(fake: FakeAlertmanager) -> None:
    manager = receiver()
    fake.answers = ["retry"]
    assert (await manager.deliver(alert("raised"))).outcome == "retry"
    assert not manager.open.by_key
    assert (await manager.deliver(alert("raised"))).outcome == "delivered"
    assert list(manager.open.by_key) == [data("raised")["dedup_key"]]
    assert manager.url == "http://am:9093/api/v2/alerts"


async def test_open_alerts_are_re_sent_once_a_period_and_at_once_after_alertmanager_came_back(
        fake: FakeAlertmanager) -> None:
    manager = receiver()
    await manager.deliver(alert("raised"))
    await manager.refresh_if_due()  # never re-sent yet: now
    await manager.refresh_if_due()  # within the period: nothing
    assert len(fake.posted) == 2
    fake.answers = ["retry", "delivered"]
    await manager.deliver(alert("updated", summary="while it was down"))
    await manager.deliver(alert("updated", summary="it answers again"))
    await manager.refresh_if_due()  # it may have restarted empty: everything again, now
    assert len(fake.posted) == 5 and fake.posted[-1][0]["annotations"]["summary"] == "it answers again"


async def test_a_resolve_of_an_unknown_alert_needs_no_request(fake: FakeAlertmanager) -> None:
    answer = await receiver().deliver(alert("resolved"))
    assert answer.outcome == "delivered" and fake.posted == []
