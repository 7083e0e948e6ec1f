"""docker-compose.yml and the Grafana provisioning cannot run here (no Docker engine, Grafana is in
no reachable registry); these checks catch what a `docker compose config` would, and `docker compose
config` runs too where the client has the compose plugin. Alertmanager's routing is checked with
Debian's amtool, the setup step's shell by running it with a recording ``driftline``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_services_depend_only_on_defined_services() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name


def test_compose_mounts_files_that_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_workers_use_driftline_settings_that_exist() -> None:
    from driftline.streams.settings import Settings

    names = {f"DRIFTLINE_{field.upper()}" for field in Settings.__dataclass_fields__}
    environment = compose()["x-driftline"]["environment"]
    assert set(environment) <= names


def test_prometheus_scrapes_the_port_the_workers_expose() -> None:
    scrape = yaml.safe_load((ROOT / "grafana" / "prometheus.yml").read_text())
    ports = {sd["port"] for job in scrape["scrape_configs"] for sd in job.get("dns_sd_configs", [])}
    assert ports == {int(compose()["x-driftline"]["environment"]["DRIFTLINE_METRICS_PORT"])}


def test_grafana_provisioning_is_valid_yaml_pointing_at_the_dashboards_folder() -> None:
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/driftline.yml").read_text())
    mounts = [v for v in compose()["services"]["grafana"]["volumes"] if v.startswith("./grafana/dashboards")]
    assert provider["providers"][0]["options"]["path"] == mounts[0].split(":")[1]


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads((ROOT / "grafana/dashboards/driftline.json").read_text())
    panels, found = list(dashboard["panels"]), []
    while panels:
        panel = panels.pop(0)
        panels += panel.get("panels", [])
        found.append(panel)
    return found


def test_dashboard_panels_use_the_provisioned_datasource_and_fit_the_grid() -> None:
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    panels = dashboard_panels()
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == uid and t["expr"] for t in panel["targets"]), panel["title"]


def test_prometheus_in_compose_loads_the_alert_rules() -> None:
    scrape = yaml.safe_load((ROOT / "grafana" / "prometheus.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose()["services"]["prometheus"]["volumes"])
    assert mounts["./grafana/alert-rules.yml"] in scrape["rule_files"]


def runbook_anchors() -> set[str]:
    """The anchors GitHub gives the runbook's headings (lower case, spaces to hyphens)."""
    headings = [line.lstrip("#").strip() for line in (ROOT / "docs/RUNBOOK.md").read_text().splitlines()
                if line.startswith("## ")]
    return {"".join(c for c in h.lower().replace(" ", "-") if c.isalnum() or c in "-_") for h in headings}


def test_every_alert_points_at_a_runbook_section() -> None:
    rules = yaml.safe_load((ROOT / "grafana" / "alert-rules.yml").read_text())
    links = {rule["alert"]: rule["annotations"]["runbook"]
             for group in rules["groups"] for rule in group["rules"]}
    # The alerts topic's kinds: the monitors link to docs/RUNBOOK.md#<kind with hyphens>.
    kinds = ["data_drift", "prediction_drift", "data_quality", "concept_drift", "label_drift", "performance"]
    links |= {kind: f"docs/RUNBOOK.md#{kind.replace('_', '-')}" for kind in kinds}
    anchors = runbook_anchors()
    for alert, link in links.items():
        document, _, anchor = link.partition("#")
        assert document == "docs/RUNBOOK.md" and anchor in anchors, f"{alert}: {link}"


# The on-call stack: Alertmanager, the forwarder, Prometheus's alerting, the setup step, health checks.

ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def _tool(*names: str) -> str:
    """A binary the Debian packages of scripts/setup-env.sh install; missing is a failure, not a skip."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"none of {names} on PATH: run scripts/setup-env.sh as root (Debian's prometheus and "
                "prometheus-alertmanager packages)")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done


def test_the_stack_has_the_on_call_services_and_compose_accepts_it() -> None:
    services = compose()["services"]
    assert {"kafka", "setup", "worker", "forwarder", "prometheus", "alertmanager", "grafana"} <= set(services)
    # Where a Docker client with the compose plugin exists, compose itself must accept the file too.
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if plugin and plugin.returncode == 0:
        _run(docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet")


def test_every_service_has_a_health_check() -> None:
    for name, service in compose()["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name


def test_prometheus_sends_its_rule_alerts_to_the_stacks_alertmanager() -> None:
    scrape = yaml.safe_load((ROOT / "grafana" / "prometheus.yml").read_text())
    targets = [t for am in scrape["alerting"]["alertmanagers"] for sc in am["static_configs"]
               for t in sc["targets"]]
    services = compose()["services"]
    assert targets == ["alertmanager:9093"]
    assert "9093:9093" in services["alertmanager"]["ports"]
    mounts = dict(v.split(":")[:2] for v in services["alertmanager"]["volumes"])
    assert mounts["./alertmanager/alertmanager.yml"] == "/etc/alertmanager/alertmanager.yml"
    assert services["prometheus"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"


def test_the_forwarder_delivers_the_alerts_topic_to_the_stacks_alertmanager() -> None:
    from driftline.streams.settings import Settings

    forwarder = compose()["services"]["forwarder"]
    environment = forwarder["environment"]
    assert forwarder["command"] == ["alerts", "forward"]
    assert environment["DRIFTLINE_ALERTMANAGER_URL"] == "http://alertmanager:9093"
    assert environment["DRIFTLINE_BROKER"] == compose()["x-driftline"]["environment"]["DRIFTLINE_BROKER"]
    assert set(environment) <= {f"DRIFTLINE_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert forwarder["depends_on"]["alertmanager"]["condition"] == "service_healthy"
    assert forwarder["depends_on"]["setup"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=critical", "alertname=DriftlineDataDrift"], "pager"),
    (["severity=page", "alertname=DriftlineWorkerDown"], "pager"),
    (["severity=warning", "alertname=DriftlineDataDrift"], "chat"),
    (["severity=ticket", "alertname=DriftlineDeadLetterShareHigh"], "chat"),
])
def test_alertmanager_pages_on_critical_and_sends_the_rest_to_chat(labels: list[str], receiver: str) -> None:
    amtool = _tool("amtool")
    _run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    routed = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels)
    assert routed.stdout.split() == [receiver]


def _setup_calls(tmp_path: Path, registry: Path) -> list[str]:
    """Run the setup service's entrypoint with a ``driftline`` that records its calls and answers
    ``models list --json`` from the real CLI on ``registry``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls"
    stub = bin_dir / "driftline"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                    f'if [ "$*" = "models list --json" ]; then '
                    f'exec {sys.executable} -m driftline.streams.cli '
                    f'--log-level error models list --json --registry {registry}; fi\n')
    stub.chmod(0o755)
    shell, flag, script = compose()["services"]["setup"]["entrypoint"]
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    subprocess.run([shell, flag, script.replace("$$", "$")], env=environment, check=True, timeout=120)
    return calls.read_text().splitlines()


def test_setup_registers_the_demo_only_into_an_empty_registry(tmp_path: Path, demo_registry: Path) -> None:
    assert _setup_calls(tmp_path / "empty", tmp_path / "no-registry") == [
        "topics", "models list --json", "models demo"]
    assert _setup_calls(tmp_path / "demo", demo_registry) == ["topics", "models list --json"]


def _version(output: str) -> str:
    match = re.search(r"version (\d+\.\d+)\.", output)
    assert match, output
    return match.group(1)


def test_the_stack_runs_the_prometheus_and_alertmanager_versions_the_tests_run() -> None:
    services = compose()["services"]
    for service, binaries in (("prometheus", ("prometheus",)),
                              ("alertmanager", ("prometheus-alertmanager", "alertmanager"))):
        tag = services[service]["image"].rsplit(":v", 1)[1]
        answer = _run(_tool(*binaries), "--version")
        tested = _version(answer.stdout + answer.stderr)
        assert tag.startswith(f"{tested}."), f"compose runs {service} {tag}, the tests run {tested}"
