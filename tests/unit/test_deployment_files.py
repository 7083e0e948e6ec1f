"""docker-compose.yml and the Grafana provisioning cannot run here (no Docker engine, Grafana is in
no reachable registry); these checks catch what a `docker compose config` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    from streams.settings import Settings

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
