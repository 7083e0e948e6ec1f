"""The Grafana dashboard and the Prometheus alert rules, evaluated on a real Prometheus.

Grafana itself cannot run here, so the test does what Grafana would: every panel's PromQL (with
the dashboard's variables filled in) goes to a real Prometheus that scrapes a real worker serving
real traffic and real labels, and must come back without error and with data. The alert rules are
loaded by the same server, must evaluate cleanly, and the worker-down rule must go pending when the
worker stops.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.models.demo import DEMO_MODEL_NAME
from driftline.models.synthetic import SyntheticStream
from driftline.streams.broker import free_port
from driftline.streams.settings import Settings
from driftline.streams.topics import ensure_topics
from tests.integration.prometheus_support import INSTALL_HINT, PrometheusServer
from tests.integration.support import WorkerProcess, isolated_settings, send_all, wait_for_group

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "driftline.json"
RULES = ROOT / "grafana" / "alert-rules.yml"
#: promtool unit tests of the rules that must stay quiet in the live test below.
RULE_CASES = Path(__file__).with_name("alert_rules_cases.yml")
#: What Grafana would put for the dashboard's variables: every model, and a rate window of
#: several scrape intervals (the test scrapes every second).
VARIABLES = {"$__rate_interval": "10s", "$model": ".*"}
DATA_TIMEOUT_S = 120.0
ROUND_EVENTS = 400
#: Short, so that the unlabelled events of a round expire (and unknown ids count) within the test.
LABEL_TTL_MS = 3000
#: Every outcome a label and a prediction can have in the join that the traffic below produces.
LABEL_OUTCOMES = {"joined", "unknown", "malformed"}
PREDICTION_OUTCOMES = {"joined", "expired"}


def panel_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """``panel title / refId`` → PromQL with the variables filled in, rows' panels included."""
    queries: dict[str, str] = {}
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop(0)
        panels += panel.get("panels", [])
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            queries[f"{panel['title']} / {target['refId']}"] = expr
    return queries


Records = list[tuple[bytes | None, bytes]]


def traffic(round_no: int) -> tuple[Records, Records]:
    """Valid events, one with an unseen category, and two kinds of dead letter; then their true
    labels for nine events in ten (the tenth expires), a label for an id nobody scored and a
    malformed one."""
    rows, truth = SyntheticStream(seed=round_no).sample(ROUND_EVENTS)
    rows[0] = {**rows[0], "channel": "teleport"}  # scored as 'other' and counted as unseen
    ids = [f"r{round_no}-{i}" for i in range(ROUND_EVENTS)]
    # Regions for the segment panels (the card declares north and south; "west" publishes as other).
    regions = ("north", "south", "west")
    events: Records = [(i.encode(), orjson.dumps({"id": i, "features": row,
                                                  "attributes": {"region": regions[n % 3]}}))
                       for n, (i, row) in enumerate(zip(ids, rows, strict=True))]
    events.append((b"broken", b'{"id": "broken", "features": '))
    events.append((b"untyped", orjson.dumps({"id": "untyped", "features": "none"})))
    labels: Records = [(i.encode(), orjson.dumps({"id": i, "label": int(cls)}))
                       for n, (i, cls) in enumerate(zip(ids, truth, strict=True)) if n % 10]
    nobody = f"nobody-{round_no}"
    labels.append((nobody.encode(), orjson.dumps({"id": nobody, "label": 1})))
    labels.append((b"malformed", b"{"))
    return events, labels


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str, segmented_registry: Path) -> Settings:
    # Floors the demo model clears (accuracy, and a ceiling for brier), so both floor branches
    # export data and no rule has a reason to fire. The demo model here declares a sensitive
    # segment and has a score calibration, for the estimate and fairness panels; its fairness
    # windows are short so that a round or two fills them.
    return isolated_settings(kafka_bootstrap, topic_prefix, segmented_registry, metrics_port=free_port(),
                             metrics_snapshot_ms=1000, label_ttl_ms=LABEL_TTL_MS, perf_window_size=200,
                             perf_evaluate_every=50, perf_floors=("accuracy=0.5", "brier=0.5"),
                             fairness_window_size=300, fairness_evaluate_every=100, fairness_min_samples=20)


@pytest.fixture
def prometheus(settings: Settings, tmp_path: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{settings.metrics_port}"], [RULES])
    server.data_dir.mkdir()
    server.start()
    yield server
    server.stop()


def test_the_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, INSTALL_HINT
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], check=False, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout


def test_the_performance_and_label_rules_fire_on_what_they_describe() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, INSTALL_HINT
    checked = subprocess.run([promtool, "test", "rules", str(RULE_CASES)], check=False, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_every_panel_has_data_and_the_rules_evaluate(settings: Settings, worker: WorkerProcess,
                                                           prometheus: PrometheusServer) -> None:
    await ensure_topics(settings)
    worker.start()
    await wait_for_group(settings.broker, settings.group_id, 1, timeout=90, alive=worker.assert_alive)
    queries = panel_queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 32

    deadline, round_no = time.monotonic() + DATA_TIMEOUT_S, 0
    while True:
        events, labels = traffic(round_no)
        await send_all(settings.broker, settings.topic_events, events)
        await send_all(settings.broker, settings.topic_labels, labels)
        round_no += 1
        empty = [name for name, expr in queries.items() if not prometheus.query(expr)]
        empty += missing_outcomes(prometheus, queries)
        if not empty:
            break
        worker.assert_alive()
        assert time.monotonic() < deadline, (
            f"panels without data after {round_no} rounds: {empty}\nworker log:\n{worker.log_tail()}")
        await asyncio.sleep(1.0)  # pacing: rate() needs the counters to grow across scrapes

    dead_letters = {s["metric"]["code"] for s in prometheus.query(queries["Dead letters /s by reason / A"])}
    assert dead_letters == {"invalid_json", "wrong_type"}
    served = prometheus.query(queries["Model versions served / A"])
    assert [s["metric"]["model"] for s in served] == [DEMO_MODEL_NAME]
    lagging = {s["metric"]["partition"] for s in prometheus.query(queries["Consumer lag by partition / A"])}
    assert lagging == {str(p) for p in range(settings.topic_partitions)}  # the worker owns them all
    models = prometheus.api("label/model/values", **{"match[]": "driftline_predictions_total"})
    assert models == [DEMO_MODEL_NAME]  # what the dashboard's model variable offers
    floored = {(s["metric"]["model"], s["metric"]["metric"])
               for s in prometheus.query(queries["Performance vs floor / A"])}
    assert floored == {(DEMO_MODEL_NAME, "accuracy"), (DEMO_MODEL_NAME, "brier")}
    shares = prometheus.query(queries["Positive predictions share by segment group / A"])
    groups = {s["metric"]["group"] for s in shares}
    assert groups == {"north", "south", "other"}  # declared names only: "west" is other
    disparities = prometheus.query(queries["Fairness: worst group's disparity vs limit / A"])
    judged = {s["metric"]["metric"] for s in disparities}
    assert {"demographic_parity", "disparate_impact"} <= judged
    assert_rule_operands_match(prometheus)
    assert_rules_evaluate(prometheus)

    worker.stop()
    await wait_for_alert(prometheus, "DriftlineWorkerDown", "pending", timeout=30)


def assert_rules_evaluate(prometheus: PrometheusServer) -> None:
    deadline = time.monotonic() + 30
    while True:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        evaluated = [r for r in rules if not r["lastEvaluation"].startswith("0001-")]
        if len(rules) == 10 and len(evaluated) == 10:
            break
        assert time.monotonic() < deadline, f"rules not all evaluated: {rules}"
        time.sleep(0.2)  # polling a condition with a deadline
    assert {r["name"] for r in rules} == {"DriftlineWorkerDown", "DriftlineDeadLetterShareHigh",
                                          "DriftlineNoPredictions", "DriftlineFallingBehind",
                                          "DriftlineBatchSlow", "DriftlinePerformanceBelowFloor",
                                          "DriftlineEstimatedPerformanceBelowFloor",
                                          "DriftlineFairnessPastLimit", "DriftlineLabelsNotJoining",
                                          "DriftlineMixedFleet"}
    assert {r["health"] for r in rules} == {"ok"}, [(r["name"], r.get("lastError")) for r in rules]
    firing = {a["labels"]["alertname"] for r in rules for a in r.get("alerts", [])}
    # Two dead letters per 400 events, nine labels in ten joined, floors the model clears and a
    # healthy worker: none of the rules has a reason to fire (or even to be pending).
    assert firing == set()


def assert_rule_operands_match(prometheus: PrometheusServer) -> None:
    """The estimate and fairness rules judge real series: each side of their comparisons has a
    partner on the other (quiet because the values are fine, not because nothing matched)."""
    estimated = prometheus.query("driftline_estimated_performance and on (instance, model, version, variant, "
                                 "metric) driftline_performance_floor")
    assert {s["metric"]["metric"] for s in estimated} == {"accuracy"}  # the one estimated floor
    both = "and on (instance, model, version, variant, segment, metric)"
    verdicts = prometheus.query(f"driftline_fairness {both} driftline_fairness_limit "
                                f"{both} driftline_fairness_z {both} driftline_fairness_critical_z")
    assert {"demographic_parity", "disparate_impact"} <= {s["metric"]["metric"] for s in verdicts}


def missing_outcomes(prometheus: PrometheusServer, queries: dict[str, str]) -> list[str]:
    """The label and prediction outcomes the traffic causes that the outcome panels do not show yet
    (unknown ids and expired predictions take ``LABEL_TTL_MS``)."""
    labels = {s["metric"]["outcome"] for s in prometheus.query(queries["Labels /s by outcome / A"])}
    predictions = {s["metric"]["outcome"]
                   for s in prometheus.query(queries["Joined and expired predictions /s / A"])}
    return ([f"label outcome {o}" for o in sorted(LABEL_OUTCOMES - labels)]
            + [f"prediction outcome {o}" for o in sorted(PREDICTION_OUTCOMES - predictions)])


async def wait_for_alert(prometheus: PrometheusServer, name: str, state: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        alerts = prometheus.api("alerts")["alerts"]
        if any(a["labels"]["alertname"] == name and a["state"] == state for a in alerts):
            return
        assert time.monotonic() < deadline, f"{name} not {state} within {timeout}s: {alerts}"
        await asyncio.sleep(0.2)  # polling a condition with a deadline
